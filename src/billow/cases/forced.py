"""Stratified shear layer (or stratified fluid at rest) under continuous stochastic forcing.

The base state is shear_layer's (``base = "shear_layer"``) or the same
buoyancy interface B = (Ri/R) tanh(R z) with no flow (``base = "rest"``).
Every step a new band-limited, divergence-free random force with mean
energy-injection rate ``forcing_rate`` (per unit area) acts on the flow
(:class:`billow.core.forcing.StochasticForcing`); its power is recorded as
``injected_power`` in diagnostics.nc. Seeded: the same seed gives the same run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field, model_validator

from . import shear_layer

if TYPE_CHECKING:
    from ..core.model import Model


class Params(shear_layer.Params):
    base: Literal["shear_layer", "rest"] = Field(
        "shear_layer", description="base state: shear_layer | rest"
    )
    forcing_rate: float = Field(
        1e-3, gt=0, allow_inf_nan=False, description="mean energy injection rate per unit area"
    )
    forcing_k_min: float = Field(
        1.0, gt=0, allow_inf_nan=False, description="lowest forced wavenumber |k| (1/d)"
    )
    forcing_k_max: float = Field(
        2.0, gt=0, allow_inf_nan=False, description="highest forced wavenumber |k| (1/d)"
    )

    @model_validator(mode="after")
    def _band(self) -> Params:
        if self.forcing_k_max < self.forcing_k_min:
            raise ValueError("forcing_k_max must be >= forcing_k_min")
        return self


def resolve(params: Params) -> Params:
    if params.base == "rest" and params.Lx is None:
        return params.model_copy(update={"Lx": 4 * np.pi})
    return shear_layer.resolve(params)


def build(params: Params) -> Model:
    from ..core.forcing import StochasticForcing

    model = shear_layer.build(params)
    if params.base == "rest":  # only the buoyancy interface, no flow and no perturbation
        _, B = shear_layer.base_profiles(params)
        model.set(
            u=np.zeros_like(model.interior("u")),
            w=np.zeros_like(model.interior("w")),
            b=B(model.grid.z_centre)[:, None] * np.ones((1, model.grid.nx)),
        )
    forcing = StochasticForcing(
        model, params.forcing_rate, params.forcing_k_min, params.forcing_k_max, params.seed
    )
    model.forcings.append(forcing)
    return model
