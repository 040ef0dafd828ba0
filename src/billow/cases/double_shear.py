"""Two stratified shear layers forming a jet, statically stable at both interfaces.

    U(z) = tanh(z + s/2) - tanh(z - s/2) - 1
    B(z) = (Ri / R) [tanh(R (z + s/2)) + tanh(R (z - s/2))]

B increases with z at both interfaces (unlike kh2d-solver's double-shear
density, which is statically unstable at one of them), and N^2/S^2 at each
interface equals Ri up to O(sech^2 s) corrections. A dye c marks the jet (unless
``dye = false``).
With ``bc_z = "periodic"``, B is split into a uniform background N0^2 z
(with N0^2 = [B(Lz/2) - B(-Lz/2)] / Lz) and a periodic departure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, model_validator

from ..config import StratifiedParams

if TYPE_CHECKING:
    from ..core.model import Model

FASTEST_GROWING_WAVELENGTH = 2 * np.pi / 0.4449  # inviscid tanh layer (Michalke 1964)


class Params(StratifiedParams):
    nz: int = Field(192, ge=8, description="cells in z")
    Lx: float = Field(
        FASTEST_GROWING_WAVELENGTH, gt=0, allow_inf_nan=False, description="domain length"
    )
    Lz: float = Field(20.0, gt=0, allow_inf_nan=False, description="domain height")
    R: float = Field(
        1.0, gt=0, allow_inf_nan=False, description="shear / density thickness ratio d/h"
    )
    separation: float = Field(
        6.0, gt=0, allow_inf_nan=False, description="distance s between the two layers"
    )
    perturbation: Literal["sinusoid", "eigenmode", "noise"] = Field(
        "sinusoid",
        description="sinusoid | eigenmode (linear theory at k = 2 pi/Lx; walls only) | noise",
    )

    @model_validator(mode="after")
    def _layers_inside(self) -> Params:
        if self.separation + 4.0 > self.Lz:
            raise ValueError(
                f"separation = {self.separation} leaves the layers too close to the "
                "boundaries; need Lz >= separation + 4"
            )
        if self.perturbation == "eigenmode" and self.bc_z == "periodic":
            raise ValueError(
                "perturbation = 'eigenmode' needs walls "
                "(the linear solver takes B(z), which is not periodic)"
            )
        if self.perturbation == "noise" and self.noise == 0:
            raise ValueError("perturbation = 'noise' needs noise > 0")
        return self


def base_profiles(z: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """U(z) and B(z) of the jet."""
    half = params.separation / 2
    U = np.tanh(z + half) - np.tanh(z - half) - 1.0
    R = params.R
    B = params.Ri / R * (np.tanh(R * (z + half)) + np.tanh(R * (z - half)))
    return U, B


def build(params: Params) -> Model:
    from .common import make_grid, make_model, seed_perturbation

    grid = make_grid(params)
    z = grid.z_centre[:, None] * np.ones((1, grid.nx))
    U, B = base_profiles(z, params)
    background_N2 = 0.0
    if grid.periodic_z:
        B_top = base_profiles(np.array(params.Lz / 2), params)[1]
        B_bottom = base_profiles(np.array(-params.Lz / 2), params)[1]
        background_N2 = float(B_top - B_bottom) / params.Lz
        B = B - background_N2 * z
    tracers = ("c",) if params.dye else ()
    model = make_model(params, grid, tracers=tracers, background_N2=background_N2)
    half = params.separation / 2
    perturbation = seed_perturbation(
        grid,
        params,
        lambda z: base_profiles(z, params)[0],
        lambda z: base_profiles(z, params)[1],
        lambda z: np.exp(-((z + half) ** 2)) + np.exp(-((z - half) ** 2)),
    )
    dye = {"c": 0.5 * (np.tanh(z + half) - np.tanh(z - half))} if params.dye else {}
    model.set(u=U + perturbation["u"], w=perturbation["w"], b=B + perturbation["b"], **dye)
    return model
