"""Online scalar diagnostics, kept in a registry (name, long name, units, function).

Discrete definitions on the C-grid (dA = dx dz; sums over interior points):

- ke = 1/2 sum((u^2 [+ v^2]) dA over u-faces) + 1/2 sum(w^2 dA over w-faces)
- pe = -sum(b_total z dA), b_total = b + N0^2 z   (potential energy, rho g z / rho0)
- epsilon = (1/Re) sum(|grad u|^2 dA): du/dx, dw/dz at centres, du/dz, dw/dx at corners
  (wall corners weighted 1/2, so that epsilon = -sum(u . lap u) dA / Re exactly)
- max_divergence = max|div u| / max|grad u|
- <name>_integral = sum(q dA) for b and every tracer
- mode_amplitude = max_z |w_hat(k = 2 pi / Lx, z)|, for growth-rate fits
- dye_entropy = sum(-c ln c dA) (Lecoanet et al. 2016); phi_i = kappa int db/dz dV (walls),
  the reversible diffusive term of the mixing rate M = dBPE/dt - phi_i
  (see :mod:`billow.core.energetics` and :mod:`billow.analysis.energetics`)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import energetics, operators
from .grid import Grid
from .model import Model


@dataclass(frozen=True)
class Diagnostic:
    """A scalar of the state; ``every_step``: recorded after every step (diagnostics.nc),
    or else only every ``diagnostics_every`` steps (tracer_diagnostics.nc: the tracers'
    integrals and entropies, which need passes of their own over the tracers)."""

    name: str
    long_name: str
    units: str
    function: Callable[[Model], float]
    every_step: bool = True


class shared_reductions:
    """Within the block (``with shared_reductions(model):``), reductions that several
    diagnostics use (the pass over u, w and b) are computed once; the state must not
    change inside it."""

    def __init__(self, model: Model):
        self.model = model

    def __enter__(self) -> None:
        self.model._reductions = {}

    def __exit__(self, *exception: object) -> None:
        self.model._reductions = None


def state_statistics(model: Model) -> dict[str, float]:
    """The scalars of :func:`operators.state_statistics` by name (sums and maxima over u, w
    and b in one pass), as Python floats; once within :class:`shared_reductions`."""
    cache = getattr(model, "_reductions", None)
    statistics = None if cache is None else cache.get("state")
    if statistics is None:
        g, state = model.grid, model.state
        cosine, sine = _fundamental(g.nx)
        values = operators.state_statistics(
            state["u"], state["w"], state["b"], g.z_centre, cosine, sine, g.constants,
            g.periodic_z,
        )  # fmt: skip
        statistics = dict(zip(operators.STATE_STATISTICS, values.tolist(), strict=True))
        if cache is not None:
            cache["state"] = statistics
    return statistics


def kinetic_energy(model: Model) -> float:
    statistics = state_statistics(model)
    total = statistics["u_squares"] + statistics["w_squares"]
    if "v" in model.state:
        v = model.interior("v")
        total += float(np.einsum("ij,ij->", v, v))
    return 0.5 * total * model.grid.cell_area


def potential_energy(model: Model) -> float:
    """PE = -sum(b_total z dA), b_total = b + N0^2 z (as
    :func:`energetics.potential_energy` of b_total's field)."""
    grid = model.grid
    moment = state_statistics(model)["b_moment"]
    if model.background_N2:
        moment += model.background_N2 * grid.nx * _height_square_sum(grid)
    return -moment * grid.cell_area


@functools.lru_cache(maxsize=8)
def _height_square_sum(grid: Grid) -> float:
    """sum z^2 over the cell-centre heights (the background's part of pe, made once)."""
    return float(np.dot(grid.z_centre, grid.z_centre))


def entropy(name: str) -> Callable[[Model], float]:
    work: list[np.ndarray] = []  # the entropy's two work arrays, made at the first call

    def tracer_entropy(model: Model) -> float:
        c = model.interior(name)
        if not work or work[0].shape != c.shape:
            work[:] = (np.empty(c.shape), np.empty(c.shape))
        return energetics.dye_entropy(c, model.grid.cell_area, tuple(work))

    return tracer_entropy


def diffusive_conversion(model: Model) -> float:
    """Phi_i = kappa dx sum_i (b_top,i - b_bottom,i) of b_total = b + N0^2 z (as
    :func:`energetics.diffusive_conversion` of b_total's field): the reversible diffusive
    conversion needed for the mixing rate, from the sums of b over the bottom and the top
    row."""
    grid, statistics = model.grid, state_statistics(model)
    background = model.background_N2 * grid.nx  # b_total's row sums: b's + N0^2 nx z
    top = statistics["b_top"] + background * grid.z_centre[-1]
    bottom = statistics["b_bottom"] + background * grid.z_centre[0]
    return model.field("b").diffusivity * grid.dx * (top - bottom)


def dissipation(model: Model) -> float:
    return state_statistics(model)["gradient_squares"] * model.grid.cell_area / model.Re


def relative_max_divergence(model: Model) -> float:
    statistics = state_statistics(model)
    largest_gradient = statistics["largest_gradient"]
    if largest_gradient == 0:
        return statistics["largest_divergence"]
    return statistics["largest_divergence"] / largest_gradient


@functools.lru_cache(maxsize=8)
def _fundamental(nx: int) -> tuple[np.ndarray, np.ndarray]:
    """cos(2 pi i / nx) and sin(2 pi i / nx), i = 0 .. nx - 1 (read-only)."""
    phase = 2 * np.pi * np.arange(nx) / nx
    cosine, sine = np.cos(phase), np.sin(phase)
    cosine.flags.writeable = sine.flags.writeable = False
    return cosine, sine


def mode_amplitude(model: Model) -> float:
    """max over z of |w_hat(z)| at the fundamental wavenumber 2 pi / Lx (cosine amplitude),
    w_hat = sum_n w_n exp(-2 pi i n / nx): (2 / nx) max_z hypot(w . cos, w . sin)."""
    return state_statistics(model)["largest_w_hat"] * 2.0 / model.grid.nx


def buoyancy_integral(model: Model) -> float:
    return state_statistics(model)["b_sum"] * model.grid.cell_area


def integral(name: str) -> Callable[[Model], float]:
    def volume_integral(model: Model) -> float:
        return float(np.sum(model.interior(name).sum(axis=1))) * model.grid.cell_area

    return volume_integral


def diagnostics_for(model: Model) -> list[Diagnostic]:
    """The registry of diagnostics for a model (one integral per tracer)."""
    registry = [
        Diagnostic("ke", "kinetic energy", "1", kinetic_energy),
        Diagnostic("pe", "potential energy", "1", potential_energy),
        Diagnostic("epsilon", "viscous dissipation rate", "1", dissipation),
        Diagnostic("max_divergence", "max |div u| / max |grad u|", "1", relative_max_divergence),
        Diagnostic("b_integral", "volume integral of buoyancy", "1", buoyancy_integral),
        Diagnostic(
            "mode_amplitude",
            "max over z of |w_hat| at the fundamental wavenumber 2 pi/Lx",
            "1",
            mode_amplitude,
        ),
    ]
    for name in model.tracer_names:
        registry.append(
            Diagnostic(
                f"{name}_integral",
                f"volume integral of tracer {name}",
                "1",
                integral(name),
                every_step=False,
            )
        )
        registry.append(
            Diagnostic(
                "dye_entropy" if name == "c" else f"{name}_entropy",
                f"entropy of tracer {name}, sum(-{name} ln {name} dA)",
                "1",
                entropy(name),
                every_step=False,
            )
        )
    if not model.grid.periodic_z:
        registry.append(
            Diagnostic(
                "phi_i",
                "reversible diffusive conversion kappa int db/dz dV",
                "1",
                diffusive_conversion,
            )
        )
    for forcing in model.forcings:  # forcings may contribute their own diagnostics
        registry += getattr(forcing, "diagnostics", list)()
    return registry
