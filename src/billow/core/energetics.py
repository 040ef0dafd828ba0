"""Energy formulas that the online diagnostics need (and the analysis re-exports).

Pure functions on cell-centred arrays of shape (nz, nx) (x contiguous, row 0 at the
bottom), cell-centre heights z (nz,) increasing upwards, and the uniform cell area
dA = dx dz. b is the *total* buoyancy (add N0^2 z to a model's b when it carries a
background stratification). Non-dimensional, b = -g rho'/rho0, so potential energies are
PE = int rho g z dV / rho0 = -int b z dV. The sorting-based energies and the mixing
rates built on these live in :mod:`billow.analysis.energetics`.
"""

from __future__ import annotations

import numpy as np

from .operators import entropy_sum


def potential_energy(b: np.ndarray, z: np.ndarray, dA: float) -> float:
    """PE = -sum(b z dA).

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
        The potential energy per unit span (units of U0² d).
    """
    return -float(np.dot(b.sum(axis=1), z)) * dA


def diffusive_conversion(b: np.ndarray, dx: float, kappa: float) -> float:
    """Phi_i = kappa int db/dz dV = kappa dx sum_i (b_top,i - b_bottom,i).

    The reversible conversion of internal to potential energy by molecular diffusion
    across the mean profile (Winters et al. 1995); with no-flux walls the flux-form
    sum over interior z-faces telescopes to the top and bottom rows of cell centres.

    Parameters
    ----------
    b : ndarray, shape (nz, nx)
        Total buoyancy at cell centres, row 0 at the bottom.
    dx : float
        Cell width.
    kappa : float
        Buoyancy diffusivity 1/(Re Pr).

    Returns
    -------
    float
        Phi_i per unit span (units of U0³).
    """
    return kappa * dx * float(np.sum(b[-1] - b[0]))


def dye_entropy(
    c: np.ndarray, dA: float, work: tuple[np.ndarray, np.ndarray] | None = None
) -> float:
    """S = sum(-c ln c dA) (Lecoanet et al. 2016), 0 ln 0 = 0.

    Overshoots c < 0 (dispersive advection) are clipped to 0 for the logarithm, so
    they contribute nothing; values c > 1 count with their (negative) -c ln c.

    Parameters
    ----------
    c : ndarray, shape (nz, nx)
        Dye concentration at cell centres.
    dA : float
        Cell area dx dz.
    work : (ndarray, ndarray), optional
        Two contiguous arrays of c's size to work in (a diagnostic taken during a run
        reuses them), instead of new ones.

    Returns
    -------
    float
        The dye entropy (units of d²).
    """
    return entropy_sum(c, work) * dA
