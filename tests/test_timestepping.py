"""The time stepper on its own (ODEs with exact solutions) and the dt controller."""

from __future__ import annotations

import numpy as np
import pytest

from billow.core.grid import Grid
from billow.core.timestepping import (
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


def upwind5_symbols(points: int = 721) -> np.ndarray:
    """The symbols of upwind5 advection at unit Courant number, u > 0: L q = -(F_i+1/2 -
    F_i-1/2)/dx, F = u (2 q_i-2 - 13 q_i-1 + 47 q_i + 27 q_i+1 - 3 q_i+2)/60, at phases
    -pi..pi, and the chords of their convex hull (2-D modes of a uniform velocity)."""
    from scipy.spatial import ConvexHull

    theta = np.linspace(-np.pi, np.pi, points)
    face = sum(
        weight * np.exp(1j * shift * theta)
        for shift, weight in zip(range(-2, 3), np.array([2, -13, 47, 27, -3]) / 60)
    )
    curve = -face * (1 - np.exp(-1j * theta))
    hull = ConvexHull(np.column_stack((curve.real, curve.imag))).vertices
    fractions = np.linspace(0, 1, 9)[:, None]
    chords = [curve[i] + fractions * (curve[j] - curve[i]) for i, j in zip(hull, np.roll(hull, -1))]
    return np.concatenate([curve, np.concatenate(chords).ravel()])


@pytest.mark.parametrize("name", list(RK_SCHEMES))
def test_upwind5_limit_is_the_stability_boundary(name):
    # |R(C lambda)| <= 1 for every upwind5 symbol lambda (1-D modes and their convex hull,
    # the 2-D modes) at the scheme's upwind5_limit, and > 1 for some at 1 % more: R is the
    # scheme's amplification factor, applied to the linear ODE dq/dt = lambda q
    scheme = RK_SCHEMES[name]
    symbols = upwind5_symbols()

    def largest_amplification(courant: float) -> float:
        system = ScalarODE(lambda q, t: courant * symbols * q, np.ones_like(symbols))
        TimeStepper(scheme).step(system, 1.0)
        return float(np.max(np.abs(system.q)))

    assert largest_amplification(scheme.upwind5_limit) <= 1 + 1e-9
    assert largest_amplification(1.01 * scheme.upwind5_limit) > 1 + 1e-6
