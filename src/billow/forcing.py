"""Body forces and sources added to the tendencies every stage.

A forcing is a callable ``forcing(model, t, tendencies)`` that adds to the
tendency arrays in place (see :class:`billow.model.Model`).
"""

from __future__ import annotations

import numpy as np

from .advection import advection_diffusion
from .model import Forcing, Model
from .operators import fill_ghosts


def diffusion_tendency(model: Model, name: str, values: np.ndarray) -> np.ndarray:
    """The model's own discrete diffusion term kappa lap(q) for the field ``name`` set to ``values``."""
    grid = model.grid
    field = model.field(name)
    padded = grid.zeros(field.location)
    grid.interior(padded, field.location)[...] = values
    fill_ghosts(padded, grid, field.location, field.parity)
    at_rest_u, at_rest_w = grid.zeros("u"), grid.zeros("w")
    out = np.zeros_like(model.tendencies[name])
    flux_z = np.zeros((grid.nz + 1, grid.nx))
    advection_diffusion(
        padded, at_rest_u, at_rest_w, field.kind, model.scheme, field.diffusivity,
        field.rows[0], field.rows[1], grid.nx, grid.ghost, grid.dx, grid.dz, flux_z, out,
    )
    return out


def hold_base_state(model: Model, base: dict[str, np.ndarray]) -> Forcing:
    """Forcing that cancels the viscous and diffusive decay of a parallel base state:

        F_u = -(1/Re) lap U(z),   S_b = -(1/(Re Pr)) lap B(z)

    with the model's discrete Laplacian, so that the base state (U(z), 0, B(z))
    is an exact steady solution of the discrete equations.
    """
    sources = {name: -diffusion_tendency(model, name, values) for name, values in base.items()}

    def hold(model: Model, t: float, tendencies: dict[str, np.ndarray]) -> None:
        for name, source in sources.items():
            tendencies[name] += source

    return hold


def kolmogorov_force(model: Model, amplitude: float, n: int) -> Forcing:
    """F = F0 sin(n k_z z) x_hat at the u points, k_z = 2 pi / Lz (Kolmogorov flow)."""
    grid = model.grid
    kz = 2 * np.pi * n / grid.Lz
    force = amplitude * np.sin(kz * (grid.z_centre - grid.z_bottom))[:, None] * np.ones((1, grid.nx))

    def push(model: Model, t: float, tendencies: dict[str, np.ndarray]) -> None:
        tendencies["u"] += force

    return push
