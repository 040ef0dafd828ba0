"""Kolmogorov flow: the body force F0 sin(n kz z) x_hat in a doubly periodic box.

kz = 2 pi / Lz. The laminar solution is u = F0 Re / (n kz)^2 sin(n kz z),
w = b = 0 (unstable above a critical Re when Lx admits long modes). An
optional uniform background stratification N0^2 = ``N2`` makes it the
stratified variant. Seeded noise breaks the symmetry; the canonical forced
2-D flow of neural-PDE benchmarks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from ..config import DoublyPeriodicParams

if TYPE_CHECKING:
    from ..core.model import Model


class Params(DoublyPeriodicParams):
    nz: int = Field(128, ge=8, description="cells in z")
    Lx: float = Field(2 * np.pi, gt=0, allow_inf_nan=False, description="domain length")
    Lz: float = Field(2 * np.pi, gt=0, allow_inf_nan=False, description="domain height")
    Re: float = Field(40.0, gt=0, description="Reynolds number 1/nu")
    t_end: float = Field(50.0, gt=0, allow_inf_nan=False, description="end time")
    save_every: float = Field(
        1.0, gt=0, allow_inf_nan=False, description="simulated time between snapshots"
    )
    noise: float = Field(
        1e-3, ge=0, allow_inf_nan=False, description="seeded noise amplitude (max|w|)"
    )
    F0: float = Field(1.0, allow_inf_nan=False, description="forcing amplitude")
    n: int = Field(4, ge=1, description="forcing wavenumber in units of 2 pi / Lz")
    N2: float = Field(0.0, ge=0, allow_inf_nan=False, description="background stratification N0^2")
    Pr: float = Field(1.0, gt=0, allow_inf_nan=False, description="Prandtl number")


def build(params: Params) -> Model:
    from ..core.forcing import kolmogorov_force
    from .common import make_grid, make_model, noise_velocity

    grid = make_grid(params, z_bottom=0.0)
    model = make_model(params, grid, background_N2=params.N2)
    model.forcings.append(kolmogorov_force(model, params.F0, params.n))
    if params.noise > 0:
        u, w = noise_velocity(grid, params, lambda z: np.ones_like(z))
        model.set(u=u, w=w)
    return model
