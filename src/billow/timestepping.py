"""Time stepping: strong-stability-preserving RK3 and the adaptive dt controller.

Each stage is a forward-Euler update followed by the projection, combined as
(Shu & Osher 1988)

    q1 = P[q0 + dt L(q0)]
    q2 = P[3/4 q0 + 1/4 (q1 + dt L(q1))]
    q3 = P[1/3 q0 + 2/3 (q2 + dt L(q2))]

Because every stage is divergence-free, this is third-order RK applied to
the projected equations dq/dt = P L(q).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# (weight of q0, weight of the Euler update, time offset of the stage as a fraction of dt)
SSPRK3_STAGES = ((0.0, 1.0, 0.0), (0.75, 0.25, 1.0), (1.0 / 3.0, 2.0 / 3.0, 0.5))

# Largest stable Courant numbers are about 1.4 (upwind5 + RK3, 1-D) and 2.5 dt*|lambda|
# on the negative real axis (diffusion); the controller stays well inside both.
DIFFUSIVE_SAFETY = 0.5
SSPRK3_REAL_AXIS_LIMIT = 2.5


@njit(parallel=True, cache=True)
def rk_stage_update(q, q0, tendency, a0, a1, dt, k_lo, k_hi, nx, g):
    """q <- a0 q0 + a1 (q + dt tendency) on rows k_lo..k_hi-1 (interior columns)."""
    for k in prange(k_lo, k_hi):
        K = k + g
        for i in range(nx):
            I = i + g
            q[K, I] = a0 * q0[K, I] + a1 * (q[K, I] + dt * tendency[k, i])


def advective_rate(u: np.ndarray, w: np.ndarray, dx: float, dz: float) -> float:
    """max|u|/dx + max|w|/dz: the Courant number is dt times this."""
    return float(np.max(np.abs(u)) / dx + np.max(np.abs(w)) / dz)


def diffusive_dt(diffusivity: float, dx: float, dz: float) -> float:
    """dt with 4 kappa (1/dx^2 + 1/dz^2) dt = safety * 2.5 (SSP-RK3 real-axis limit)."""
    if diffusivity == 0.0:
        return np.inf
    rate = 4.0 * diffusivity * (1.0 / dx**2 + 1.0 / dz**2)
    return DIFFUSIVE_SAFETY * SSPRK3_REAL_AXIS_LIMIT / rate
