"""The advection schemes as data: face-reconstruction coefficients and default Courant
numbers (the kernels that use them are in :mod:`billow.core.advection`).

Kept apart from the kernels so that validating a run's parameters (:mod:`billow.config`)
loads neither numba nor the solver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scheme:
    """Face reconstruction coefficients (centred a_j and upwind d_j, j = 1, 2, 3), the time
    stepper used with them (:data:`billow.core.timestepping.RK_SCHEMES`), and the default
    and largest Courant numbers C = dt max_cells(|u|/dx + |w|/dz) of the dt controller
    (docs/performance.md)."""

    name: str
    central: tuple[float, float, float]
    upwind: tuple[float, float, float]
    order: int
    time_stepper: str
    cfl: float
    max_cfl: float

    @property
    def coefficients(self) -> np.ndarray:
        return np.array(self.central + self.upwind)


SCHEMES = {
    scheme.name: scheme
    for scheme in (
        # cfl 1: each SSP-RK3 stage is then a convex combination (maximum principle); its
        # 2-D limit with SSP-RK3 is 1.26, and the controller's combined line (0.9 of it)
        # caps it at 1.13
        Scheme("upwind1", (0.5, 0.0, 0.0), (0.5, 0.0, 0.0), 1, "ssprk3", 1.0, 1.1),
        # linearly stable to sqrt(3) with SSP-RK3; no dissipation, so a 25 % margin
        Scheme("centered2", (0.5, 0.0, 0.0), (0.0, 0.0, 0.0), 2, "ssprk3", 1.3, 1.5),
        # with RK53 linearly stable to 2.66 in 1-D and 2-D; 2-D runs measured stable and
        # time-accurate to 2.6, unstable at 2.8 (benchmarks/bench_cfl.py); 2.4 keeps the
        # 10 % margin that 1.3 kept below SSP-RK3's 1.43
        Scheme(
            "upwind5",
            (37 / 60, -8 / 60, 1 / 60),
            (10 / 60, -5 / 60, 1 / 60),
            5,
            "rk53",
            2.4,
            2.6,
        ),
    )
}
