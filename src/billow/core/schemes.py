"""The advection schemes as data: face-reconstruction coefficients and default Courant
numbers (the kernels that use them are in :mod:`billow.core.advection`).

Kept apart from the kernels so that validating a run's parameters (:mod:`billow.config`)
loads neither numba nor the solver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Largest Courant number C = dt max_cells(|u|/dx + |w|/dz) a user may ask for: the 2-D runs
# of benchmarks/bench_cfl.py with upwind5 + SSP-RK3 stay stable and time-accurate to
# C = 1.5 (docs/performance.md). Each scheme has its default (Scheme.cfl).
MAX_CFL = 1.5


@dataclass(frozen=True)
class Scheme:
    """Face reconstruction coefficients (centred a_j and upwind d_j, j = 1, 2, 3) and the
    default Courant number of the dt controller with SSP-RK3 (docs/performance.md)."""

    name: str
    central: tuple[float, float, float]
    upwind: tuple[float, float, float]
    order: int
    cfl: float

    @property
    def coefficients(self) -> np.ndarray:
        return np.array(self.central + self.upwind)


SCHEMES = {
    scheme.name: scheme
    for scheme in (
        # cfl 1: each SSP-RK3 stage is then a convex combination (maximum principle)
        Scheme("upwind1", (0.5, 0.0, 0.0), (0.5, 0.0, 0.0), 1, 1.0),
        # linearly stable to sqrt(3) with SSP-RK3; no dissipation, so the same margin
        Scheme("centered2", (0.5, 0.0, 0.0), (0.0, 0.0, 0.0), 2, 1.3),
        # linearly stable to 1.43; measured stable to 1.5 in 2-D (benchmarks/bench_cfl.py)
        Scheme("upwind5", (37 / 60, -8 / 60, 1 / 60), (10 / 60, -5 / 60, 1 / 60), 5, 1.3),
    )
}
