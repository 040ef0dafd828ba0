"""Energetics and mixing diagnostics of stratified flows (README: "Analysis").

Pure functions on cell-centred arrays of shape (nz, nx) (x contiguous, row 0 at
the bottom), cell-centre heights z (nz,) increasing upwards, and the uniform
cell area dA = dx dz. b is the *total* buoyancy (add N0^2 z to a model's b when
it carries a background stratification). Non-dimensional, b = -g rho'/rho0, so
potential energies are PE = int rho g z dV / rho0 = -int b z dV.

Sorting-based energies (Winters et al. 1995, JFM 289, 115) assume walls in z:
with periodic z there is no top or bottom to restack against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.integrate import trapezoid

from ..core.energetics import diffusive_conversion, dye_entropy, potential_energy

# potential_energy, diffusive_conversion and dye_entropy live in billow.core.energetics
# (the online diagnostics use them); they are part of this module's API too.
__all__ = [
    "available_potential_energy",
    "background_potential_energy",
    "diffusive_conversion",
    "dye_entropy",
    "gradient_richardson",
    "horizontal_mean",
    "mixing_from_series",
    "mixing_layer_thickness",
    "MixingSeries",
    "potential_energy",
    "sorted_buoyancy",
]


def sorted_buoyancy(b: np.ndarray) -> np.ndarray:
    """Adiabatically restacked state b*(z*): all cell values sorted, lightest on top.

    With equal cell areas the i-th smallest value fills row i // nx from the bottom.
    Ties need no rule: permuting equal values leaves b* (hence BPE) unchanged.

    Parameters
    ----------
    b : ndarray, shape (nz, nx)
        Total buoyancy at cell centres, row 0 at the bottom.

    Returns
    -------
    ndarray, shape (nz, nx)
        b*, non-decreasing in row-major order.
    """
    return np.sort(b, axis=None).reshape(b.shape)


def background_potential_energy(b: np.ndarray, z: np.ndarray, dA: float) -> float:
    """BPE = -sum(b* z* dA), the minimum PE reachable by adiabatic rearrangement.

    Parameters
    ----------
    b : ndarray, shape (nz, nx)
        Total buoyancy at cell centres, row 0 at the bottom.
    z : ndarray, shape (nz,)
        Cell-centre heights, increasing.
    dA : float
        Cell area dx dz.

    Returns
    -------
    float
        The background potential energy (units of U0² d).
    """
    return potential_energy(sorted_buoyancy(b), z, dA)


def available_potential_energy(b: np.ndarray, z: np.ndarray, dA: float) -> float:
    """APE = PE - BPE = sum_k z_k (sum_i b*_ki - sum_i b_ki) dA >= 0.

    Evaluated from row-sum differences, so a stably stratified state gives 0 up to
    summation round-off whatever the origin of z.

    Parameters
    ----------
    b : ndarray, shape (nz, nx)
        Total buoyancy at cell centres, row 0 at the bottom.
    z : ndarray, shape (nz,)
        Cell-centre heights, increasing.
    dA : float
        Cell area dx dz.

    Returns
    -------
    float
        The available potential energy (units of U0² d), >= 0.
    """
    row_excess = sorted_buoyancy(b).sum(axis=1) - b.sum(axis=1)
    return float(np.dot(row_excess, z)) * dA


@dataclass(frozen=True)
class MixingSeries:
    """The result of :func:`mixing_from_series`; arrays of the shape of its ``t``."""

    rate: np.ndarray  # irreversible mixing rate M(t)
    efficiency: np.ndarray  # instantaneous eta(t) = M / (M + epsilon)
    cumulative_efficiency: float  # E_c = int M dt / (int M dt + int epsilon dt)


def mixing_from_series(
    t: np.ndarray, bpe: np.ndarray, epsilon: np.ndarray, phi_i: np.ndarray | float = 0.0
) -> MixingSeries:
    """M = dBPE/dt - Phi_i, eta = M / (M + epsilon), E_c = int M / (int M + int epsilon).

    dBPE/dt is np.gradient in t, second order at interior and end points (non-uniform
    t allowed, at least 3 samples); the time
    integrals are trapezoidal over the whole series. Phi_i (:func:`diffusive_conversion`
    per time, or a constant) removes the BPE growth that pure diffusion of the mean
    profile would cause without any flow (Caulfield & Peltier 2000, Winters et al.
    1995); pass 0 for a closed domain whose profile is not conducting. eta is nan
    where M + epsilon = 0.

    Parameters
    ----------
    t : ndarray, shape (n,)
        Times, increasing, n >= 3.
    bpe : ndarray, shape (n,)
        Background potential energy at ``t`` (:func:`background_potential_energy`).
    epsilon : ndarray, shape (n,)
        Kinetic energy dissipation rate at ``t`` (diagnostics.nc's ``epsilon``).
    phi_i : ndarray of shape (n,), or float
        Diffusive conversion (:func:`diffusive_conversion`) at ``t``.

    Returns
    -------
    MixingSeries
        ``rate`` M(t) and ``efficiency`` eta(t) of shape (n,), and the scalar
        ``cumulative_efficiency`` E_c.
    """
    t = np.asarray(t, dtype=float)
    epsilon = np.asarray(epsilon, dtype=float)
    rate = np.gradient(np.asarray(bpe, dtype=float), t, edge_order=2) - phi_i
    with np.errstate(divide="ignore", invalid="ignore"):
        efficiency = rate / (rate + epsilon)
    mixed, dissipated = trapezoid(rate, t), trapezoid(epsilon, t)
    return MixingSeries(rate, efficiency, float(mixed / (mixed + dissipated)))


def horizontal_mean(q: np.ndarray) -> np.ndarray:
    """q_bar(z) = (1/nx) sum_i q(z, x_i).

    Parameters
    ----------
    q : ndarray, shape (nz, nx)

    Returns
    -------
    ndarray, shape (nz,)
    """
    return q.mean(axis=1)


def mixing_layer_thickness(profile: np.ndarray, z: np.ndarray) -> float:
    """delta = (max - min of q_bar) / max |dq_bar/dz| (vorticity or buoyancy thickness).

    Pass u_bar for delta_omega = Delta U / max|dU/dz| or b_bar for delta_b. The jump
    is max - min, not top - bottom, so no-slip walls do not shrink it; dq/dz is
    second-order np.gradient. U = tanh z gives delta_omega = 2.

    Parameters
    ----------
    profile : ndarray, shape (nz,)
        A horizontal mean (:func:`horizontal_mean`).
    z : ndarray, shape (nz,)
        Heights of ``profile``.

    Returns
    -------
    float
        The thickness (units of d).
    """
    return float(np.ptp(profile) / np.max(np.abs(np.gradient(profile, z))))


def gradient_richardson(
    u_mean: np.ndarray, b_mean: np.ndarray, z: np.ndarray, shear_floor: float = 1e-12
) -> np.ndarray:
    """Ri_g(z) = (db_bar/dz) / (du_bar/dz)^2 (second-order np.gradient).

    Where S^2 <= shear_floor max(S^2) the shear counts as vanishing: Ri_g = +inf
    (N^2 > 0), -inf (N^2 < 0) or nan (N^2 = 0).

    Parameters
    ----------
    u_mean, b_mean : ndarray, shape (nz,)
        Horizontal means of u and of the total buoyancy.
    z : ndarray, shape (nz,)
        Their heights.
    shear_floor : float
        Relative S^2 below which the shear counts as vanishing.

    Returns
    -------
    ndarray, shape (nz,)
        Ri_g(z).
    """
    n2 = np.gradient(b_mean, z)
    s2 = np.gradient(u_mean, z) ** 2
    vanishing = s2 <= shear_floor * np.max(s2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(vanishing, np.sign(n2) * np.inf, n2 / s2)
