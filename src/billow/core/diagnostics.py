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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from . import energetics, operators
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


@contextmanager
def shared_reductions(model: Model) -> Iterator[None]:
    """Within the block, reductions that several diagnostics use (the pass over u, w and b,
    a tracer's row sums) are computed once; the state must not change inside it."""
    model._reductions = {}
    try:
        yield
    finally:
        model._reductions = None


def _reduction(model: Model, name: str, compute: Callable[[], object]):
    cache = getattr(model, "_reductions", None)
    if cache is None:
        return compute()
    if name not in cache:
        cache[name] = compute()
    return cache[name]


def state_statistics(model: Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(velocity statistics, b's row sums, |w_hat| at the fundamental wavenumber on each
    row of w) in one pass; see :func:`operators.state_statistics`."""
    g = model.grid

    def compute():
        cosine, sine = _fundamental(g.nx)
        state = model.state
        return operators.state_statistics(
            state["u"], state["w"], state["b"], cosine, sine, g.constants, g.periodic_z
        )

    return _reduction(model, "state", compute)


def velocity_statistics(model: Model) -> np.ndarray:
    """(sum u^2, sum w^2, sum |grad u|^2, max |grad u|, max |div u|) over the interior."""
    return state_statistics(model)[0]


def row_sums(model: Model, name: str) -> np.ndarray:
    """sum over x of field ``name`` at cell centres, one value per row (b's from
    :func:`state_statistics`)."""
    if name == "b":
        return state_statistics(model)[1]
    return _reduction(model, f"rows {name}", lambda: model.interior(name).sum(axis=1))


def kinetic_energy(model: Model) -> float:
    statistics = velocity_statistics(model)
    total = statistics[0] + statistics[1]
    if "v" in model.state:
        v = model.interior("v")
        total += float(np.einsum("ij,ij->", v, v))
    return 0.5 * total * model.grid.cell_area


def total_buoyancy_rows(model: Model) -> np.ndarray:
    """sum over x of b_total = b + N0^2 z, one value per row (for pe and phi_i)."""
    grid = model.grid
    return _reduction(
        model,
        "rows b_total",
        lambda: row_sums(model, "b") + model.background_N2 * grid.nx * grid.z_centre,
    )


def potential_energy(model: Model) -> float:
    """-sum(b_total z dA), b_total = b + N0^2 z, from the row sums of b_total."""
    grid = model.grid
    return energetics.potential_energy(total_buoyancy_rows(model), grid.z_centre, grid.cell_area)


def entropy(name: str) -> Callable[[Model], float]:
    def tracer_entropy(model: Model) -> float:
        return energetics.dye_entropy(model.interior(name), model.grid.cell_area)

    return tracer_entropy


def diffusive_conversion(model: Model) -> float:
    """Phi_i: the reversible diffusive conversion needed for the mixing rate; it needs only
    the sums of b_total = b + N0^2 z over the bottom and the top row (the row sums that the
    potential energy uses)."""
    rows = total_buoyancy_rows(model)
    return energetics.diffusive_conversion(rows, model.grid.dx, model.field("b").diffusivity)


def dissipation(model: Model) -> float:
    return velocity_statistics(model)[2] * model.grid.cell_area / model.Re


def relative_max_divergence(model: Model) -> float:
    largest_gradient, largest_divergence = velocity_statistics(model)[3:5].tolist()
    if largest_gradient == 0:
        return largest_divergence
    return largest_divergence / largest_gradient


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
    return float(np.max(state_statistics(model)[2])) * 2.0 / model.grid.nx


def integral(name: str) -> Callable[[Model], float]:
    def volume_integral(model: Model) -> float:
        return float(np.sum(row_sums(model, name))) * model.grid.cell_area

    return volume_integral


def diagnostics_for(model: Model) -> list[Diagnostic]:
    """The registry of diagnostics for a model (one integral per tracer)."""
    registry = [
        Diagnostic("ke", "kinetic energy", "1", kinetic_energy),
        Diagnostic("pe", "potential energy", "1", potential_energy),
        Diagnostic("epsilon", "viscous dissipation rate", "1", dissipation),
        Diagnostic("max_divergence", "max |div u| / max |grad u|", "1", relative_max_divergence),
        Diagnostic("b_integral", "volume integral of buoyancy", "1", integral("b")),
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
