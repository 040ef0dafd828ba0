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
    dense_output_weights,
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


def dense_output_error(steps: int, theta: float) -> float:
    """|q(t) - exp(sin t)| at t = (steps - 1 + theta) dt of dq/dt = cos(t) q, by dense
    output inside the last of ``steps`` steps of dt = 2 / steps."""
    system, stepper = ScalarODE(lambda q, t: np.cos(t) * q, 1.0), TimeStepper()
    dt = 2.0 / steps
    for _ in range(steps):
        start = system.q
        stepper.step(system, dt, keep_first_stage=True)
    weights = dense_output_weights(theta)
    interpolated = weights[0] * start + weights[1] * system.first_stage + weights[2] * system.q
    return abs(interpolated - np.exp(np.sin(2.0 - dt + theta * dt)))


@pytest.mark.parametrize("theta", [0.3, 0.5, 0.9])
def test_dense_output_inside_a_step_converges_at_third_order(theta):
    # the quadratic Hermite interpolant (q_n, its slope, q_n+1) has a local error O(dt^3),
    # the order of SSP-RK3's global error: halving dt divides the error by about 8
    # (measured 7.94-7.98; a linear interpolant between q_n and q_n+1 would give 4)
    errors = [dense_output_error(steps, theta) for steps in (40, 80, 160)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 2.7), orders
    assert dense_output_weights(0.0) == (1.0, 0.0, 0.0)
    assert dense_output_weights(1.0) == (0.0, 0.0, 1.0)


def test_a_scheme_needs_a_forward_euler_first_stage_for_dense_output():
    with pytest.raises(ValueError, match="first stage must be forward Euler"):
        RungeKuttaScheme("bad", ((0.5, 0.5, 0.0),), 1, 2.0)
