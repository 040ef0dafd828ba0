"""The classic stratified tanh shear layer (Hazel 1972).

    U(z) = tanh z,   B(z) = (Ri / R) tanh(R z)

so that N^2 / S^2 at z = 0 equals Ri exactly; R = d/h is the ratio of the
shear to the density layer thickness. A passive dye c = (1 - tanh z)/2 marks
the lower layer (unless ``dye = false``). By default Lx holds ``wavelengths``
wavelengths of the fastest-growing mode of linear theory (same Re, Ri, Pr, R, Lz
and walls), and the flow is seeded with that eigenmode, scaled so that
max|w| = amplitude.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, model_validator

from ..config import StratifiedParams

if TYPE_CHECKING:
    from ..core.model import Model


class Params(StratifiedParams):
    Lx: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="domain length (default: `wavelengths` fastest-growing wavelengths)",
    )
    wavelengths: int = Field(1, ge=1, description="fastest-growing wavelengths in the default Lx")
    R: float = Field(
        1.0, gt=0, allow_inf_nan=False, description="shear / density thickness ratio d/h"
    )
    perturbation: Literal["eigenmode", "sinusoid", "noise"] = Field(
        "eigenmode",
        description="eigenmode (linear theory at k = 2 pi/Lx) | sinusoid | noise (only `noise`)",
    )
    hold_base: bool = Field(
        False,
        description="cancel the viscous/diffusive decay of U, B (to compare with linear theory)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        if self.bc_z == "periodic":
            raise ValueError(
                "shear_layer needs walls (bc_z = free-slip or no-slip): "
                "tanh profiles are not periodic"
            )
        if self.perturbation == "noise" and self.noise == 0:
            raise ValueError("perturbation = 'noise' needs noise > 0")
        return self


def base_profiles(params: Params):
    """U(z) and B(z) as vectorised callables."""
    return np.tanh, lambda z: params.Ri / params.R * np.tanh(params.R * z)


def resolve(params: Params) -> Params:
    """Fill in the default Lx from the fastest-growing mode of linear theory."""
    from .common import fastest_growing_wavenumber

    if params.Lx is not None:
        return params
    k = fastest_growing_wavenumber(params, *base_profiles(params))
    return params.model_copy(update={"Lx": params.wavelengths * 2 * np.pi / k})


def build(params: Params, spanwise_velocity: bool = False) -> Model:
    from ..core.forcing import hold_base_state
    from .common import make_grid, make_model, seed_perturbation

    grid = make_grid(params)
    tracers = ("c",) if params.dye else ()
    model = make_model(params, grid, tracers=tracers, spanwise_velocity=spanwise_velocity)
    U, B = base_profiles(params)
    z = grid.z_centre[:, None] * np.ones((1, grid.nx))
    base = {"u": U(z), "b": B(z)}
    perturbation = seed_perturbation(grid, params, U, B, lambda z: np.exp(-(z**2)))
    dye = {"c": 0.5 * (1.0 - np.tanh(z))} if params.dye else {}
    model.set(
        u=base["u"] + perturbation["u"], w=perturbation["w"], b=base["b"] + perturbation["b"], **dye
    )
    if params.hold_base:
        model.forcings.append(hold_base_state(model, base))
    return model
