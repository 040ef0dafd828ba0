"""Stratified shear layer on an f-plane, 2.5-D (spanwise velocity v prognostic).

The shear_layer base state and perturbation, plus rotation f = 1/Ro about
the vertical: the base flow U(z) = tanh z is held in geostrophic and
thermal-wind balance by an imposed spanwise pressure gradient -f U(z) and
spanwise buoyancy gradient M^2 = -f U'(z) (see :func:`billow.core.forcing.coriolis`).
Ro = inf gives exactly the shear_layer case (v stays zero).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from . import shear_layer

if TYPE_CHECKING:
    from ..core.model import Model


class Params(shear_layer.Params):
    Ro: float = Field(5.0, gt=0, description="Rossby number U0 / (f d); inf: no rotation")


resolve = shear_layer.resolve


def build(params: Params) -> Model:
    from ..core.forcing import coriolis

    model = shear_layer.build(params, spanwise_velocity=True)
    if math.isfinite(params.Ro):
        z = model.grid.z_centre
        model.forcings.append(coriolis(model, 1.0 / params.Ro, np.tanh(z), 1.0 / np.cosh(z) ** 2))
    return model
