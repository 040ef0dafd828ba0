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
  (see :mod:`billow.analysis.energetics`)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import operators
from .analysis import energetics
from .model import Model


@dataclass(frozen=True)
class Diagnostic:
    name: str
    long_name: str
    units: str
    function: Callable[[Model], float]


def gradient_statistics(model: Model) -> tuple[float, float, float]:
    """(sum |grad u|^2, max |grad u|, max |div u|); see :func:`operators.gradient_statistics`.

    Computed once per model state (several diagnostics use it).
    """
    key = (model.iteration, model.time)
    cached = getattr(model, "_gradient_statistics", None)
    if cached is None or cached[0] != key:
        g = model.grid
        values = operators.gradient_statistics(
            model.state["u"], model.state["w"], g.nx, g.nz, g.ghost, g.dx, g.dz, g.periodic_z
        )
        cached = (key, values)
        model._gradient_statistics = cached
    return cached[1]


def _sum_of_squares(a: np.ndarray) -> float:
    return float(np.einsum("ij,ij->", a, a))


def kinetic_energy(model: Model) -> float:
    w = model.interior("w")
    if model.grid.periodic_z:
        w = w[:-1]
    total = _sum_of_squares(model.interior("u")) + _sum_of_squares(w)
    if "v" in model.state:
        total += _sum_of_squares(model.interior("v"))
    return 0.5 * total * model.grid.cell_area


def potential_energy(model: Model) -> float:
    z = model.grid.z_centre
    b_total = model.interior("b") + model.background_N2 * z[:, None]
    return energetics.potential_energy(b_total, z, model.grid.cell_area)


def entropy(name: str) -> Callable[[Model], float]:
    def tracer_entropy(model: Model) -> float:
        return energetics.dye_entropy(model.interior(name), model.grid.cell_area)

    return tracer_entropy


def diffusive_conversion(model: Model) -> float:
    """Phi_i: the reversible diffusive conversion needed for the mixing rate."""
    z = model.grid.z_centre
    b_total = model.interior("b") + model.background_N2 * z[:, None]
    kappa = model.field("b").diffusivity
    return energetics.diffusive_conversion(b_total, model.grid.dx, kappa)


def dissipation(model: Model) -> float:
    return gradient_statistics(model)[0] * model.grid.cell_area / model.Re


def relative_max_divergence(model: Model) -> float:
    _, largest_gradient, largest_divergence = gradient_statistics(model)
    if largest_gradient == 0:
        return largest_divergence
    return largest_divergence / largest_gradient


def mode_amplitude(model: Model) -> float:
    """max over z of |w_hat(z)| at the fundamental wavenumber 2 pi / Lx (cosine amplitude)."""
    nx = model.grid.nx
    fundamental = np.exp(-2j * np.pi * np.arange(nx) / nx)
    coefficients = model.interior("w") @ fundamental
    return float(np.max(np.abs(coefficients))) * 2.0 / nx


def integral(name: str) -> Callable[[Model], float]:
    def volume_integral(model: Model) -> float:
        return float(np.sum(model.interior(name))) * model.grid.cell_area

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
            Diagnostic(f"{name}_integral", f"volume integral of tracer {name}", "1", integral(name))
        )
        registry.append(
            Diagnostic(
                "dye_entropy" if name == "c" else f"{name}_entropy",
                f"entropy of tracer {name}, sum(-{name} ln {name} dA)",
                "1",
                entropy(name),
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
