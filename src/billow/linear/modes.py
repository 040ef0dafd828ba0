"""What linear theory gives: a normal mode (:class:`Mode`), and what a run takes from it.

numpy only, so that a run whose modes come from the disk cache (:mod:`.cache`) loads no
solver and no scipy; the solver is :mod:`.stability`, which re-exports these names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

K_BOUNDS = (0.05, 1.5)  # wavenumbers scanned by stability.fastest_growing (units of 1/d)


@dataclass
class Mode:
    """One normal mode, perturbations ∝ Re[q(z) exp(ikx + σt)].

    Attributes
    ----------
    k : float
        Horizontal wavenumber (units of 1/d).
    sigma : complex
        The complex eigenvalue σ = growth rate + i·frequency (units of U0/d): the mode
        grows like exp(σ.real t) and its phase moves as exp(i(kx + σ.imag t)). See
        :attr:`growth_rate` and :attr:`phase_speed`.
    z : ndarray, shape (n,)
        Collocation points (units of d), walls included.
    u, w, b : ndarray of complex, shape (n,)
        Eigenfunctions of the horizontal and vertical velocity and the buoyancy at ``z``,
        normalised so that max|w| = 1 and sum |w| w over ``z`` is real and positive.
    converged : bool
        Whether σ agrees to CONVERGENCE_TOL with the solve at about 1.5n points.
    error_estimate : float
        |σ(n) - σ(1.5n)|.
    """

    k: float
    sigma: complex
    z: np.ndarray
    u: np.ndarray
    w: np.ndarray
    b: np.ndarray
    converged: bool
    error_estimate: float

    @property
    def growth_rate(self) -> float:
        """σ.real, the exponential growth rate (units of U0/d; negative: decay)."""
        return float(self.sigma.real)

    @property
    def phase_speed(self) -> float:
        """c_r = -σ.imag / k, the phase speed of the mode (units of U0)."""
        return float(-self.sigma.imag / self.k)


def is_unstable(mode: Mode, k_bounds: tuple[float, float] = K_BOUNDS) -> bool:
    """Whether ``mode`` (from :func:`.stability.fastest_growing` over ``k_bounds``) is a
    true fastest-growing mode: growing, and its wavenumber inside the scan, not at one of
    its edges (where a stable flow's least-damped mode ends up, leaving no wavelength to
    pick)."""
    k_lo, k_hi = k_bounds
    edge = 1e-3 * (k_hi - k_lo)
    return mode.sigma.real > 0 and k_lo + edge < mode.k < k_hi - edge


def recommended_Lx(mode: Mode, n_wavelengths: int = 1) -> float:
    """Domain length holding n_wavelengths wavelengths of the mode.

    Parameters
    ----------
    mode : Mode
        Usually :func:`.stability.fastest_growing`'s.
    n_wavelengths : int
        Wavelengths in the domain.

    Returns
    -------
    float
        Lx = n 2π / k (units of d).
    """
    return n_wavelengths * 2 * math.pi / mode.k
