"""The time stepper on its own (ODEs with exact solutions) and the dt controller."""

from __future__ import annotations

import numpy as np
import pytest

from billow.core.grid import Grid
from billow.core.schemes import SCHEMES
from billow.core.timestepping import (
    COMBINED_LIMITS,
    COMBINED_MARGIN,
    RK53,
    RK_SCHEMES,
    BlowUpError,
    CFLController,
    RungeKuttaScheme,
    TimeStepper,
    diffusive_dt,
)


class ScalarODE:
    """dq/dt = f(q, t) for one number, with the identity as 'projection'."""

    def __init__(self, rhs, q0: float):
        self.rhs, self.q, self.time, self.iteration = rhs, q0, 0.0, 0
        self.tendency = 0.0

    def begin_step(self, dt: float) -> None:
        self.start = self.q

    def compute_tendencies(self, t: float) -> float:
        self.tendency = self.rhs(self.q, t)
        return self.tendency

    def stage_update(self, a0: float, a1: float, dt: float) -> None:
        self.q = a0 * self.start + a1 * (self.q + dt * self.tendency)

    def project(self) -> None:
        pass

    def end_step(self) -> None:
        pass

    def keep_first_stage(self) -> None:
        self.first_stage = self.q


def integrate(rhs, q0: float, t_end: float, steps: int, scheme: str = "ssprk3") -> float:
    system, stepper = ScalarODE(rhs, q0), TimeStepper(scheme)
    for _ in range(steps):
        stepper.step(system, t_end / steps)
    assert system.iteration == steps and system.time == pytest.approx(t_end)
    return system.q


def test_ssprk3_is_exact_for_polynomials_of_degree_three():
    # dq/dt = 3 t^2 + 2 t + 1: a third-order method integrates it exactly, whatever dt, if
    # the stage times c = (0, 1, 1/2) are right.
    q = integrate(lambda q, t: 3 * t**2 + 2 * t + 1, 0.0, 2.0, 3)
    assert q == pytest.approx(8 + 4 + 2, rel=1e-14)


@pytest.mark.parametrize("name", list(RK_SCHEMES))
def test_scheme_converges_at_its_order_on_a_nonautonomous_ode(name):
    # dq/dt = cos(t) q, q(0) = 1: q = exp(sin t). Halving dt divides the error by 2^order;
    # measured 7.98-8.00 for SSP-RK3, and a wrong weight or stage time gives 4 or 2.
    order = RK_SCHEMES[name].order
    exact = np.exp(np.sin(3.0))
    errors = [
        abs(integrate(lambda q, t: np.cos(t) * q, 1.0, 3.0, steps, name) - exact)
        for steps in (20, 40, 80)
    ]
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    np.testing.assert_allclose(np.log2(ratios), order, atol=0.15)


def test_controller_takes_the_smallest_of_the_advective_and_diffusive_limits():
    grid = Grid(nx=32, nz=16, Lx=4.0, Lz=4.0)  # dx = 0.125, dz = 0.25
    controller = CFLController(grid, largest_diffusivity=1e-3, cfl=1.3)
    rate = 2.0 / 0.125 + 1.0 / 0.25  # |u| = 2, |w| = 1 in one cell
    assert controller.stable_dt(rate) == pytest.approx(1.3 / rate)
    assert controller.rate == rate
    # at rest the rate is floored at U0 / min(dx, dz): dt = cfl min(dx, dz)
    assert controller.stable_dt(0.0) == pytest.approx(1.3 * 0.125)
    # strongly diffusive: 4 kappa (1/dx^2 + 1/dz^2) dt = 0.5 x 2.5
    viscous = CFLController(grid, largest_diffusivity=1.0, cfl=1.3)
    assert viscous.stable_dt(rate) == pytest.approx(diffusive_dt(1.0, 0.125, 0.25))
    assert diffusive_dt(1.0, 0.125, 0.25) == pytest.approx(1.25 / (4 * (64 + 16)))


def test_controller_stops_a_step_whose_courant_number_ran_away():
    grid = Grid(nx=32, nz=16, Lx=4.0, Lz=4.0)
    u, w = np.full((16, 32), 2.0), np.zeros((17, 32))
    controller = CFLController(grid, largest_diffusivity=0.0, cfl=1.3)
    dt = controller.stable_dt(2.0 / grid.dx)
    controller.check(dt, u, w, 1, 0.1)  # the step at its own Courant number passes
    controller.stable_dt(20.0 / grid.dx)  # the velocity that step produced is 10x larger
    with pytest.raises(BlowUpError, match=r"step 7, t = 0.5: field 'u' reached a Courant"):
        controller.check(dt, 10 * u, w, 7, 0.5)


def dense_output_error(steps: int, theta: float, scheme: str) -> float:
    """|q(t) - exp(sin t)| at t = (steps - 1 + theta) dt of dq/dt = cos(t) q, by dense
    output inside the last of ``steps`` steps of dt = 2 / steps."""
    system, stepper = ScalarODE(lambda q, t: np.cos(t) * q, 1.0), TimeStepper(scheme)
    dt = 2.0 / steps
    for _ in range(steps):
        start = system.q
        stepper.step(system, dt, keep_first_stage=True)
    weights = stepper.scheme.dense_output_weights(theta)
    interpolated = weights[0] * start + weights[1] * system.first_stage + weights[2] * system.q
    return abs(interpolated - np.exp(np.sin(2.0 - dt + theta * dt)))


@pytest.mark.parametrize("scheme", list(RK_SCHEMES))
@pytest.mark.parametrize("theta", [0.3, 0.5, 0.9])
def test_dense_output_inside_a_step_converges_at_third_order(theta, scheme):
    # the quadratic Hermite interpolant (q_n, its slope, q_n+1) has a local error O(dt^3),
    # the order of the schemes' global error: halving dt divides the error by about 8
    # (measured 7.94-7.98 with SSP-RK3; a linear interpolant between q_n and q_n+1, or a
    # slope taken with the wrong beta1, would give 4)
    errors = [dense_output_error(steps, theta, scheme) for steps in (40, 80, 160)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 2.7), orders
    weights = RK_SCHEMES[scheme].dense_output_weights
    assert weights(0.0) == (1.0, 0.0, 0.0)
    assert weights(1.0) == (0.0, 0.0, 1.0)


def test_a_scheme_needs_a_forward_euler_first_stage_for_dense_output():
    with pytest.raises(ValueError, match="first stage must be forward Euler"):
        RungeKuttaScheme("bad", ((0.5, 0.5, 1.0, 0.0),), 1, 2.0, 1.0, 1.4)


def butcher_tableau(scheme) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) of a Shu-Osher table: stage s reads q_(s-1) = q0 + dt sum_j A[s, j] k_j, with
    k_j = L(q_(j-1)); b gives q_n+1 likewise."""
    count = len(scheme.stages)
    weights = np.zeros((count + 1, count))  # row s: q_s = q0 + dt sum_j weights[s, j] k_j
    for s, (a0, a1, beta, _) in enumerate(scheme.stages, start=1):
        weights[s] = a1 * weights[s - 1]
        weights[s, s - 1] += a1 * beta
        assert a0 + a1 == pytest.approx(1.0, abs=1e-15)  # consistency
    return weights[:count], weights[count]


@pytest.mark.parametrize("name", list(RK_SCHEMES))
def test_tables_satisfy_the_third_order_conditions_and_stage_times(name):
    # b.1 = 1, b.c = 1/2, b.c^2 = 1/3, b.A c = 1/6 to round-off, and each stage's time c is
    # A's row sum (a wrong coefficient in the 17th digit passes; one in the 10th fails)
    scheme = RK_SCHEMES[name]
    A, b = butcher_tableau(scheme)
    c = A.sum(axis=1)
    conditions = [b.sum(), b @ c, b @ c**2, b @ A @ c]
    np.testing.assert_allclose(conditions, [1, 1 / 2, 1 / 3, 1 / 6], rtol=0, atol=1e-14)
    np.testing.assert_allclose([stage[3] for stage in scheme.stages], c, rtol=0, atol=1e-15)


def symbols(advection: str, courant: float, diffusion: float = 0.0) -> np.ndarray:
    """The symbols of advection at Courant number C = ``courant`` (u > 0) and diffusion at
    D = 4 kappa dt / dx^2 = ``diffusion`` in 1-D, C s(theta) - D sin^2(theta / 2) at phases
    -pi..pi, and the chords of their convex hull (the 2-D modes of a uniform velocity).
    s: L q_i = -(F_i+1/2 - F_i-1/2) with F_i+1/2 = sum_j (a_j + d_j) q_(i+1-j) + (a_j - d_j)
    q_(i+j), the scheme's central a_j and upwind d_j (upwind5: (2, -13, 47, 27, -3)/60)."""
    from scipy.spatial import ConvexHull, QhullError

    scheme = SCHEMES[advection]
    theta = np.linspace(-np.pi, np.pi, 721)
    face = sum(
        (a + d) * np.exp(1j * (1 - j) * theta) + (a - d) * np.exp(1j * j * theta)
        for j, (a, d) in enumerate(zip(scheme.central, scheme.upwind), start=1)
    )
    curve = -courant * face * (1 - np.exp(-1j * theta)) - diffusion * np.sin(theta / 2) ** 2
    try:
        hull = ConvexHull(np.column_stack((curve.real, curve.imag))).vertices
    except QhullError:  # a segment (centred advection alone): the curve covers its hull
        return curve
    fractions = np.linspace(0, 1, 9)[:, None]
    chords = [curve[i] + fractions * (curve[j] - curve[i]) for i, j in zip(hull, np.roll(hull, -1))]
    return np.concatenate([curve, np.concatenate(chords).ravel()])


def largest_amplification(scheme: RungeKuttaScheme, values: np.ndarray) -> float:
    """max |R(z)| over ``values`` z, R the scheme's amplification factor: one step of
    dq/dt = z q of dt = 1 from q = 1."""
    system = ScalarODE(lambda q, t: values * q, np.ones_like(values))
    TimeStepper(scheme).step(system, 1.0)
    return float(np.max(np.abs(system.q)))


@pytest.mark.parametrize("name", list(RK_SCHEMES))
def test_upwind5_limit_is_the_stability_boundary(name):
    # |R(C lambda)| <= 1 for every upwind5 symbol lambda (1-D modes and their convex hull,
    # the 2-D modes) at the scheme's upwind5_limit, and > 1 for some at 1 % more: R is the
    # scheme's amplification factor, applied to the linear ODE dq/dt = lambda q
    scheme = RK_SCHEMES[name]
    limit = scheme.upwind5_limit
    assert largest_amplification(scheme, symbols("upwind5", limit)) <= 1 + 1e-9
    assert largest_amplification(scheme, symbols("upwind5", 1.01 * limit)) > 1 + 1e-6


@pytest.mark.parametrize("advection, stepper", list(COMBINED_LIMITS))
def test_combined_limits_keep_advection_and_diffusion_stable_together(advection, stepper):
    # on the controller's line C/C0 + D/D0 = COMBINED_MARGIN (C at most the scheme's largest
    # cfl) every symbol of advection and diffusion together is stable, and 1.5 times beyond
    # the line itself (no margin) they are not: the lines lie under the boundary, 8 % below
    # it for upwind5 with RK53 and 24 % with SSP-RK3 (whose line starts at its C = 1.434)
    scheme, (C0, D0) = RK_SCHEMES[stepper], COMBINED_LIMITS[(advection, stepper)]
    largest_cfl = SCHEMES[advection].max_cfl
    for D in np.linspace(0.0, COMBINED_MARGIN * D0, 12):
        C = min(largest_cfl, C0 * (COMBINED_MARGIN - D / D0))
        assert largest_amplification(scheme, symbols(advection, C, D)) <= 1 + 1e-9, (C, D)
    if np.isfinite(C0):
        D = 0.5 * D0
        assert largest_amplification(scheme, symbols(advection, 1.5 * C0 * 0.5, D)) > 1


def test_each_limit_alone_is_not_enough():
    # upwind5 with RK53 at C = 1.6 and D = 1.625 (a diffusion-limited step, each within its
    # own limit): unstable, as a 256 x 128 run at Re = 50 showed (grid-scale vorticity)
    assert largest_amplification(RK53, symbols("upwind5", 1.6, 1.625)) > 1.01


def test_controller_keeps_the_combined_limit():
    grid = Grid(nx=32, nz=16, Lx=4.0, Lz=4.0)  # dx = 0.125, dz = 0.25
    controller = CFLController(grid, 0.03, cfl=2.4, scheme=RK53, advection="upwind5")
    rate = 2.0 / 0.125  # advective and diffusive dt near each other
    dt = controller.stable_dt(rate)
    C0, D0 = COMBINED_LIMITS[("upwind5", "rk53")]
    D = 4 * 0.03 * (64 + 16) * dt
    assert dt * rate / C0 + D / D0 == pytest.approx(COMBINED_MARGIN)
    assert dt < min(2.4 / rate, diffusive_dt(0.03, 0.125, 0.25, RK53))


@pytest.mark.parametrize("name", list(RK_SCHEMES))
def test_real_axis_limit_is_inside_the_stability_region(name):
    # |R(-x)| <= 1 for 0 <= x <= real_axis_limit (diffusion), and > 1 at 2 % beyond it
    scheme = RK_SCHEMES[name]
    x = np.linspace(0.0, scheme.real_axis_limit, 2001)
    system = ScalarODE(lambda q, t: -x * q, np.ones_like(x))
    TimeStepper(scheme).step(system, 1.0)
    assert np.max(np.abs(system.q)) <= 1 + 1e-12
    beyond = ScalarODE(lambda q, t: -1.02 * scheme.real_axis_limit * q, 1.0)
    TimeStepper(scheme).step(beyond, 1.0)
    assert abs(beyond.q) > 1
