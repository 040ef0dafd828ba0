"""Constant-density two-layer periodic KH benchmark of Lecoanet et al. (2016, MNRAS 455, 4274).

Domain [0, 1] x [0, 2], periodic in both directions, lengths in units of the
box width and velocities in units of half the velocity jump (u = -1 outside,
+1 between the interfaces; Re = 1/nu):

    u = tanh((z - z1)/a) - tanh((z - z2)/a) - 1,   z1 = 0.5, z2 = 1.5
    w = A sin(2 pi x) [exp(-(z - z1)^2/sigma^2) + exp(-(z - z2)^2/sigma^2)]
    c = [tanh((z - z1)/a) - tanh((z - z2)/a)] / 2

(w is projected onto div u = 0). The initial dye entropy is a pi^2 / 6.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from pydantic import Field

from ..config import DoublyPeriodicParams

if TYPE_CHECKING:
    from ..core.model import Model

INTERFACES = (0.5, 1.5)


class Params(DoublyPeriodicParams):
    nz: int = Field(256, ge=8, description="cells in z")
    Lx: float = Field(1.0, gt=0, allow_inf_nan=False, description="domain length")
    Lz: float = Field(2.0, gt=0, allow_inf_nan=False, description="domain height")
    Re: float = Field(5.0e4, gt=0, description="Reynolds number 1/nu")
    t_end: float = Field(4.0, gt=0, allow_inf_nan=False, description="end time")
    save_every: float = Field(
        0.1, gt=0, allow_inf_nan=False, description="simulated time between snapshots"
    )
    a: float = Field(0.05, gt=0, allow_inf_nan=False, description="interface half-thickness")
    sigma: float = Field(0.2, gt=0, allow_inf_nan=False, description="width of the perturbation")
    hold_base: bool = Field(
        False,
        description="cancel the viscous decay of the base velocity (to compare with linear theory)",
    )


def build(params: Params) -> Model:
    from ..core.forcing import hold_base_state
    from .common import make_grid, make_model

    grid = make_grid(params, z_bottom=0.0)
    model = make_model(params, grid, tracers=("c",))
    z1, z2 = (z * params.Lz / 2 for z in INTERFACES)
    a = params.a
    z = grid.z_centre[:, None] * np.ones((1, grid.nx))
    x_w, z_w = np.meshgrid(grid.x_centre, grid.z_face)
    bumps = np.exp(-((z_w - z1) ** 2) / params.sigma**2) + np.exp(
        -((z_w - z2) ** 2) / params.sigma**2
    )
    U = np.tanh((z - z1) / a) - np.tanh((z - z2) / a) - 1.0
    model.set(
        u=U,
        w=params.amplitude * np.sin(2 * np.pi * x_w / params.Lx) * bumps,
        c=0.5 * (np.tanh((z - z1) / a) - np.tanh((z - z2) / a)),
    )
    if params.hold_base:
        model.forcings.append(hold_base_state(model, {"u": U}))
    return model
