"""Exact fast-transform solver for the discrete pressure Poisson equation.

Solves L phi = f on cell centres, where L is the 5-point C-grid Laplacian
(the composition of the discrete divergence and gradient used by the
projection), periodic in x and either Neumann (walls) or periodic in z.
Its eigenvectors are Fourier modes in x and, in z, cosines
cos(pi m (k + 1/2) / nz) (DCT-II) for walls or Fourier modes for periodic z;
the eigenvalues are

    lambda_x(l) = -4 sin^2(pi l / nx) / dx^2,
    lambda_z(m) = -4 sin^2(pi m / (2 nz)) / dz^2    (walls)
                = -4 sin^2(pi m / nz) / dz^2        (periodic),

so phi = T^-1 [T f / (lambda_x + lambda_z)] is exact to round-off. The mean
(l = m = 0) mode, undetermined, is set to zero.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.fft

from .grid import Grid


class PoissonSolver:
    """Precomputes eigenvalues once; :meth:`solve` costs a forward and an inverse transform.

    The transforms use ``workers`` threads; by default as many as numba's kernels
    (``NUMBA_NUM_THREADS``, or ``numba.set_num_threads``), so one setting governs both.
    """

    def __init__(self, grid: Grid, workers: int | None = None):
        self.grid = grid
        self.workers = workers
        l = np.arange(grid.nx // 2 + 1)
        m = np.arange(grid.nz)
        lambda_x = -4.0 * np.sin(np.pi * l / grid.nx) ** 2 / grid.dx**2
        if grid.periodic_z:
            lambda_z = -4.0 * np.sin(np.pi * m / grid.nz) ** 2 / grid.dz**2
        else:
            lambda_z = -4.0 * np.sin(np.pi * m / (2 * grid.nz)) ** 2 / grid.dz**2
        eigenvalues = lambda_z[:, None] + lambda_x[None, :]
        eigenvalues[0, 0] = 1.0
        self.inverse_eigenvalues = 1.0 / eigenvalues
        self.inverse_eigenvalues[0, 0] = 0.0

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Return phi (nz, nx) with L phi = rhs - mean(rhs)."""
        w = self.workers or numba.get_num_threads()
        if self.grid.periodic_z:
            spectrum = scipy.fft.rfft2(rhs, workers=w)
            spectrum *= self.inverse_eigenvalues
            return scipy.fft.irfft2(spectrum, s=rhs.shape, workers=w)
        spectrum = scipy.fft.rfft(scipy.fft.dct(rhs, type=2, axis=0, workers=w), axis=1, workers=w)
        spectrum *= self.inverse_eigenvalues
        return scipy.fft.idct(
            scipy.fft.irfft(spectrum, n=self.grid.nx, axis=1, workers=w), type=2, axis=0, workers=w
        )
