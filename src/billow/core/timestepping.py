"""Time stepping: Runge-Kutta schemes as stage tables, the stepper, and the dt controller.

A scheme in Shu-Osher form is a table of stages (a0, a1, beta, c): each stage is a
forward-Euler update of beta dt followed by a projection P onto div u = 0,

    q_s = P[a0 q_0 + a1 (q_(s-1) + beta dt L(q_(s-1), t + c dt))],

and q_n+1 is the last stage. SSP-RK3 (Shu & Osher 1988) is

    q1 = P[q0 + dt L(q0)]
    q2 = P[3/4 q0 + 1/4 (q1 + dt L(q1))]
    q3 = P[1/3 q0 + 2/3 (q2 + dt L(q2))].

Because every stage is divergence-free, this is the Runge-Kutta method
applied to the projected equations dq/dt = P L(q).

RK53, billow's default with fifth-order upwind advection, has five stages of this form
and third order; its stability polynomial

    R(z) = 1 + z + z^2/2 + z^3/6 + alpha4 z^4 + alpha5 z^5

has the two free coefficients chosen to maximise the Courant number at which it keeps
every mode of upwind5 advection stable, in 1-D and in 2-D (for a uniform velocity the
2-D symbols fill the convex hull of the 1-D curve): 2.66 against SSP-RK3's 1.43, 0.53
against 0.48 a stage. Of the stage tables with that polynomial, third order and
non-negative coefficients, the one with the largest SSP coefficient found (1.08) was taken
(docs/performance.md, "The time integrator"). At the default Courant numbers (2.4
against 1.3, the same margin) a unit of simulated time takes 10 % fewer stages
(tendencies and projections) and 46 % fewer steps (force draws, diagnostics, dt
control) than with SSP-RK3, where diffusion does not shorten the steps
(:data:`COMBINED_LIMITS`).

Dense output: the first stage of every scheme here is a forward-Euler step,
q1 = q0 + beta1 dt P L(q0), so the state inside a step, t = t_n + theta dt, is given by
the quadratic Hermite interpolant through q_n, its slope P L(q_n) and q_n+1,

    q(theta) = [(1 - theta) - theta (1 - theta)(1/beta1 - 1)] q_n
               + theta (1 - theta)/beta1 q1 + theta^2 q_n+1

((1 - theta) q_n + theta (1 - theta) q1 + theta^2 q_n+1 for beta1 = 1), a continuous
extension of order 2 (local error O(dt^3), the order of the global error of the
schemes), divergence-free as a combination of divergence-free fields. Snapshots are
taken with it, so that output times do not shorten the steps.

The :class:`CFLController` chooses dt from the advective and diffusive limits
of the scheme and stops a run whose Courant number exceeds a hard limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numba import njit, prange

from ..errors import BillowError


@dataclass(frozen=True)
class RungeKuttaScheme:
    """A Shu-Osher stage table and the scheme's stability limits.

    ``real_axis_limit`` is the largest dt |lambda| on the negative real axis (diffusion)
    that the scheme keeps stable; ``upwind5_limit`` the largest Courant number
    dt max(|u|/dx + |w|/dz) at which it keeps upwind5 advection of a uniform velocity
    stable (the modes' symbols inside its stability region), and ``hard_limit`` the
    Courant number, measured with the velocity a step produced, beyond which a run is
    declared blown up (:class:`CFLController`): about 1.4 times that limit, reached only
    if the velocity grew by a large factor in one step.
    """

    name: str
    stages: tuple[tuple[float, float, float, float], ...]  # (a0, a1, beta, c) per stage
    order: int
    real_axis_limit: float
    upwind5_limit: float
    hard_limit: float

    def __post_init__(self):
        a0, a1, _, c = self.stages[0]
        if (a0, a1, c) != (0.0, 1.0, 0.0):
            raise ValueError(f"{self.name}: the first stage must be forward Euler (dense output)")

    def dense_output_weights(self, theta: float) -> tuple[float, float, float]:
        """Weights of (q_n, q1, q_n+1) in the state at t_n + theta dt, with
        q1 = q_n + beta1 dt P L(q_n) the first stage: the quadratic through q_n with
        slope P L(q_n) and q_n+1,
        q = [(1 - theta) - theta (1 - theta)(1/beta1 - 1)] q_n
            + theta (1 - theta)/beta1 q1 + theta^2 q_n+1
        ((1 - theta, theta (1 - theta), theta^2) for beta1 = 1, as in SSP-RK3)."""
        inverse_beta1 = 1.0 / self.stages[0][2]
        bend = theta * (1.0 - theta)
        return (1.0 - theta) - bend * (inverse_beta1 - 1.0), bend * inverse_beta1, theta * theta


SSPRK3 = RungeKuttaScheme(
    "ssprk3",
    ((0.0, 1.0, 1.0, 0.0), (0.75, 0.25, 1.0, 1.0), (1.0 / 3.0, 2.0 / 3.0, 1.0, 0.5)),
    order=3,
    real_axis_limit=2.5,
    upwind5_limit=1.434,
    hard_limit=2.0,
)


def _shu_osher_stages(
    a0: tuple[float, ...], beta: tuple[float, ...]
) -> tuple[tuple[float, float, float, float], ...]:
    """Stages (a0, 1 - a0, beta, c) of q_s = a0 q0 + (1 - a0)(q_(s-1) + beta dt L), with the
    stage times c: c_1 = 0, c_(s+1) = (1 - a0_s)(c_s + beta_s), the time of q_s."""
    stages, c = [], 0.0
    for a, b in zip(a0, beta):
        stages.append((a, 1.0 - a, b, c))
        c = (1.0 - a) * (c + b)
    return tuple(stages)


# Five stages, third order, stability polynomial 1 + z + z^2/2 + z^3/6 + alpha4 z^4 +
# alpha5 z^5 with alpha4 = 0.03032357, alpha5 = 0.00464433 (module docstring).
RK53 = RungeKuttaScheme(
    "rk53",
    _shu_osher_stages(
        (0.0, 0.9426418947372137, 0.11458864962679663, 0.7036817687599479, 0.0),
        (
            0.9262010340226001,
            0.9262010340226001,
            0.9262010340226002,
            0.7799669263915004,
            0.4980040154240431,
        ),
    ),
    order=3,
    real_axis_limit=3.25,
    upwind5_limit=2.657,
    hard_limit=3.7,
)
RK_SCHEMES = {scheme.name: scheme for scheme in (SSPRK3, RK53)}


class SteppedSystem(Protocol):
    """What a :class:`TimeStepper` needs: the model implements it (so do the tests' ODEs)."""

    time: float
    iteration: int

    def begin_step(self, dt: float) -> None: ...  # keep q0 (now, or in the first stage)

    def compute_tendencies(self, t: float) -> object: ...  # L(q, t)

    def stage_update(self, a0: float, a1: float, dt: float) -> None: ...  # Euler + blend

    def project(self) -> None: ...

    def end_step(self) -> None: ...

    def keep_first_stage(self) -> None: ...  # remember q1 (dense output; only if asked)


class TimeStepper:
    """Advances any :class:`SteppedSystem` by one step of a Runge-Kutta scheme."""

    def __init__(self, scheme: str | RungeKuttaScheme = "ssprk3"):
        self.scheme = RK_SCHEMES[scheme] if isinstance(scheme, str) else scheme

    def step(self, system: SteppedSystem, dt: float, keep_first_stage: bool = False) -> None:
        """One step; with ``keep_first_stage`` the system keeps q1 for dense output
        (:meth:`RungeKuttaScheme.dense_output_weights`)."""
        system.begin_step(dt)
        for stage, (a0, a1, beta, offset) in enumerate(self.scheme.stages):
            system.compute_tendencies(system.time + offset * dt)
            system.stage_update(a0, a1, beta * dt)
            system.project()
            if stage == 0 and keep_first_stage:
                system.keep_first_stage()
        system.end_step()
        system.time += dt
        system.iteration += 1


@njit(parallel=True, cache=True)
def rk_stage_update(
    fields, count, starts, tendencies, a0, a1, dt, rows, constants, save_start, kept, keep
):
    """q <- a0 q0 + a1 (q + dt tendency) for the first ``count`` fields of a tuple (padded
    as :func:`billow.core.advection.kernel_tuple` makes them), on the interior of
    rows[0]..rows[1]-1. With ``save_start`` (a step's first stage) q0 <- q first, in the
    same pass, so that q0 = q there: the start of the step is copied in the pass that
    reads it anyway. With ``keep``, q is copied into ``kept`` (a tuple like ``fields``)
    in the same way before it is updated: the second stage keeps the first, q1, for
    dense output."""
    nx, nz, g, dx, dz = constants
    for k in prange(rows[0], rows[1]):
        for n in range(count):
            q, q0, tendency = (
                fields[n][k + g, g : g + nx],
                starts[n][k + g, g : g + nx],
                tendencies[n][k],
            )
            if save_start:
                for i in range(nx):
                    start = q[i]
                    q0[i] = start
                    q[i] = a0 * start + a1 * (start + dt * tendency[i])
            elif keep:
                q1 = kept[n][k + g, g : g + nx]
                for i in range(nx):
                    value = q[i]
                    q1[i] = value
                    q[i] = a0 * q0[i] + a1 * (value + dt * tendency[i])
            else:
                for i in range(nx):
                    q[i] = a0 * q0[i] + a1 * (q[i] + dt * tendency[i])


@njit(cache=True)
def dense_output_row(out, sources, weights, K, ghost):
    """out = w0 q_n + w1 q1 + w2 q_n+1 (:meth:`RungeKuttaScheme.dense_output_weights`) over
    the interior columns of padded row K of ``sources`` = (q_n, q1, q_n+1) (``ghost`` cells
    wide), or q_n+1's row as it is for the weights (0, 0, 1): the state at the end of the
    step."""
    start, first_stage, end = sources
    columns = out.size
    q_n, q1 = start[K, ghost : ghost + columns], first_stage[K, ghost : ghost + columns]
    q_end = end[K, ghost : ghost + columns]
    w0, w1, w2 = weights
    if w0 == 0.0 and w1 == 0.0 and w2 == 1.0:
        for i in range(columns):
            out[i] = q_end[i]
    else:
        for i in range(columns):
            out[i] = w0 * q_n[i] + w1 * q1[i] + w2 * q_end[i]


@njit(parallel=True, cache=True)
def interpolate_in_step(out, start, first_stage, end, weights, ghost):
    """:func:`dense_output_row` on every interior row of padded arrays (``out`` has the
    interior's shape)."""
    for k in prange(out.shape[0]):
        dense_output_row(out[k], (start, first_stage, end), weights, k + ghost, ghost)


class BlowUpError(BillowError):
    """The solution became non-finite or its Courant number ran away."""


# fraction of the scheme's real-axis limit that the diffusive dt uses
DIFFUSIVE_SAFETY = 0.5
# Advection and diffusion together: with C = dt max(|u|/dx + |w|/dz) and
# D = 4 kappa dt (1/dx^2 + 1/dz^2), the symbols C s(theta) - D sin^2(theta/2) of both (and
# their 2-D convex hull) stay in the stability region where C/C0 + D/D0 <= 1, a line under
# the computed boundary C_max(D) of each pair (advection scheme, time stepper); the
# controller keeps C/C0 + D/D0 <= COMBINED_MARGIN. Each limit alone is not enough: at
# upwind5's shortest wave s = -16/15, real, so C and D add on the negative real axis (with
# RK53 at C = 1.6, D = 1.625, both within their own limits, |R| = 1.04). The lines also
# bound C alone (upwind1's shortest wave, s = -2, limits it to 1.256 with SSP-RK3); the
# symbols of centered2 are imaginary, and diffusion only widens its range.
COMBINED_LIMITS = {
    ("upwind5", "rk53"): (2.796, 3.256),
    ("upwind5", "ssprk3"): (1.593, 2.513),  # C0 = 1.434 / COMBINED_MARGIN
    ("upwind1", "rk53"): (1.628, 3.256),
    ("upwind1", "ssprk3"): (1.256, 2.513),
    ("centered2", "rk53"): (np.inf, 3.256),
    ("centered2", "ssprk3"): (np.inf, 2.513),
}
COMBINED_MARGIN = 0.9


def largest_magnitude(a: np.ndarray) -> float:
    """max |a|, without a temporary (numpy's vectorised max and min; NaN propagates)."""
    return float(max(a.max(), -a.min()))


def diffusive_rate(diffusivity: float, dx: float, dz: float) -> float:
    """4 kappa (1/dx^2 + 1/dz^2): dt times it is the diffusive Courant number D."""
    return 4.0 * diffusivity * (1.0 / dx**2 + 1.0 / dz**2)


def diffusive_dt(
    diffusivity: float, dx: float, dz: float, scheme: RungeKuttaScheme = SSPRK3
) -> float:
    """dt with 4 kappa (1/dx^2 + 1/dz^2) dt = safety * (the scheme's real-axis limit)."""
    if diffusivity == 0.0:
        return np.inf
    return DIFFUSIVE_SAFETY * scheme.real_axis_limit / diffusive_rate(diffusivity, dx, dz)


class CFLController:
    """dt = min(cfl / max(rate, 1 / min(dx, dz)), diffusive limit, combined limit), where
    the advective rate is max over cells of |u|/dx + |w|/dz (:meth:`Model.advective_rate`)
    and the combined limit keeps C/C0 + D/D0 <= COMBINED_MARGIN for the Courant numbers C
    of advection and D of diffusion (:data:`COMBINED_LIMITS`).

    The rate is that of each cell, not max|u|/dx + max|w|/dz: the linear stability limit
    of a scheme for a uniform velocity bounds |u| dt/dx + |w| dt/dz, and where |u| is
    largest |w| is seldom (docs/performance.md). The rate is taken at least that of a
    flow at the velocity scale U0 = 1, so that a flow at rest or slow (forced from rest,
    Kolmogorov spin-up) does not take steps so long that the velocity they produce
    crosses many cells. :meth:`check` stops a run whose step, measured with the velocity
    it produced, had a Courant number above the scheme's ``hard_limit``.
    """

    def __init__(
        self,
        grid,
        largest_diffusivity: float,
        cfl: float,
        scheme: RungeKuttaScheme = SSPRK3,
        advection: str = "upwind5",
    ):
        self.grid = grid
        self.cfl = cfl
        self.hard_limit = scheme.hard_limit
        self.minimum_rate = 1.0 / min(grid.dx, grid.dz)
        self.max_diffusive_dt = diffusive_dt(largest_diffusivity, grid.dx, grid.dz, scheme)
        self.combined_limits = COMBINED_LIMITS[(advection, scheme.name)]  # (C0, D0)
        self.diffusive_rate = diffusive_rate(largest_diffusivity, grid.dx, grid.dz)
        self.rate = 0.0  # advective rate of the state at the last call of stable_dt

    def stable_dt(self, rate: float) -> float:
        """The stable dt for a velocity of advective rate ``rate`` (the Courant number is
        dt times the rate); remembers the rate for :meth:`check`."""
        self.rate = rate
        rate = max(rate, self.minimum_rate)
        advective_limit, diffusive_limit = self.combined_limits
        combined_rate = rate / advective_limit + self.diffusive_rate / diffusive_limit
        combined_dt = COMBINED_MARGIN / combined_rate if combined_rate > 0 else np.inf
        return min(self.cfl / rate, self.max_diffusive_dt, combined_dt)

    def check(self, dt: float, u: np.ndarray, w: np.ndarray, iteration: int, time: float) -> None:
        """Raise :class:`BlowUpError` if ``dt`` times the rate of the velocity the step
        produced (given to the last :meth:`stable_dt`) exceeds the hard limit; the message
        names whichever of u (interior) and w has the larger max|q|/dx or max|q|/dz."""
        courant = self.rate * dt
        if courant > self.hard_limit:
            u_rate = largest_magnitude(u) / self.grid.dx
            w_rate = largest_magnitude(w) / self.grid.dz
            raise BlowUpError(
                f"blow-up at step {iteration}, t = {time:.6g}: field "
                f"'{'u' if u_rate >= w_rate else 'w'}' reached a Courant number of "
                f"{courant:.3g} in one step (hard limit {self.hard_limit:g}; "
                "try a smaller cfl or a finer grid)"
            )
