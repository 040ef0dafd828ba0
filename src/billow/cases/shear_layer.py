"""The classic stratified tanh shear layer (Hazel 1972; design.md section 2).

    U(z) = tanh z,   B(z) = (Ri / R) tanh(R z)

so that N^2 / S^2 at z = 0 equals Ri exactly; R = d/h is the ratio of the
shear to the density layer thickness. A passive dye c = (1 - tanh z)/2 marks
the lower layer.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from ..config import StratifiedParams
from ..model import Model
from .common import FASTEST_GROWING_WAVELENGTH, make_grid, perturbation_velocity


class Params(StratifiedParams):
    nx: int = Field(128, ge=8, description="cells in x")
    nz: int = Field(128, ge=8, description="cells in z")
    Lx: float = Field(
        FASTEST_GROWING_WAVELENGTH, gt=0, allow_inf_nan=False,
        description="domain length (default: fastest-growing wavelength 2 pi / 0.4449)",
    )
    R: float = Field(1.0, gt=0, allow_inf_nan=False, description="shear / density thickness ratio d/h")

    @model_validator(mode="after")
    def _walls_only(self) -> Params:
        if self.bc_z == "periodic":
            raise ValueError("shear_layer needs walls (bc_z = free-slip or no-slip): tanh profiles are not periodic")
        return self


def build(params: Params) -> Model:
    grid = make_grid(params)
    model = Model(
        grid, Re=params.Re, Pr=params.Pr, Sc=params.Sc, advection=params.advection,
        bc_z=params.bc_z, tracers=("c",),
    )
    z = grid.z_centre[:, None] * np.ones((1, grid.nx))
    u, w = perturbation_velocity(grid, params, lambda z: np.exp(-(z**2)))
    model.set(
        u=np.tanh(z) + u,
        w=w,
        b=params.Ri / params.R * np.tanh(params.R * z),
        c=0.5 * (1.0 - np.tanh(z)),
    )
    return model
