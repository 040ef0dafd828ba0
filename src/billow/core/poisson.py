"""Exact fast solver for the discrete pressure Poisson equation.

Solves L phi = f on cell centres, where L is the 5-point C-grid Laplacian
(the composition of the discrete divergence and gradient used by the
projection), periodic in x and either Neumann (walls) or periodic in z.
A real FFT in x diagonalises the x-part: mode l has the eigenvalue

    lambda_x(l) = -4 sin^2(pi l / nx) / dx^2.

Periodic z: an FFT in z too (eigenvalues -4 sin^2(pi m / nz) / dz^2), and
phi = F^-1 [F f / (lambda_x + lambda_z)].

Walls: each Fourier mode leaves a tridiagonal system in z,

    (phi_(k+1) - 2 phi_k + phi_(k-1)) / dz^2 + lambda_x(l) phi_k = f_k,

with phi_(-1) = phi_0 and phi_nz = phi_(nz-1) (no flux through the walls); it is
solved directly by Gaussian elimination (the Thomas algorithm), with pivots
precomputed once. The systems are diagonally dominant for l > 0, so no pivoting is
needed; for l = 0 the system is singular (phi is defined up to a constant) and
the mean of f is removed first and the last pivot set to zero. This is the same
discrete inverse as the DCT-II in z (whose eigenvectors cos(pi m (k + 1/2) / nz)
diagonalise the tridiagonal matrix), exact to round-off, at a third of its cost:
the elimination is two sweeps over the spectrum, against two transforms.

The mean (l = m = 0) mode, undetermined, is set to zero.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.fft
from numba import njit, prange

from .grid import Grid


def tridiagonal_inverse_pivots(lambda_x: np.ndarray, nz: int, dz: float) -> np.ndarray:
    """1/d_k for every mode (columns) of the Thomas algorithm on the wall-bounded matrix
    tridiag(1, -2 + dz^2 lambda_x, 1) with -1 + dz^2 lambda_x at both ends (dz^2 L):
    d_0 = a_0, d_k = a_k - 1/d_(k-1); 1/d is 0 where the pivot vanishes (l = 0, last)."""
    diagonal = np.full((nz, lambda_x.size), -2.0) + dz**2 * lambda_x
    diagonal[0] += 1.0
    diagonal[-1] += 1.0
    pivots = np.empty_like(diagonal)
    pivots[0] = diagonal[0]
    for k in range(1, nz):
        pivots[k] = diagonal[k] - 1.0 / pivots[k - 1]
    inverse = np.zeros_like(pivots)
    nonzero = np.abs(pivots) > 1e-8  # only l = 0's last pivot, which is exactly 0 ± eps
    inverse[nonzero] = 1.0 / pivots[nonzero]
    return inverse


@njit(inline="always")
def _remove_mean_mode(spectrum):
    """Subtract the mean over z of the l = 0 Fourier mode (columns 0 and 1: its real and
    imaginary parts)."""
    for column in range(2):
        mean = spectrum[:, column].sum() / spectrum.shape[0]
        for k in range(spectrum.shape[0]):
            spectrum[k, column] -= mean


@njit(parallel=True, cache=True)
def solve_tridiagonal_columns(spectrum, inverse_pivots, scale, threads):
    """Solve dz^2 L_l phi = scale f for every mode l, each the real and imaginary columns
    2l and 2l + 1 of ``spectrum`` (the complex spectrum viewed as reals: f in, phi out), by
    forward elimination y_k = scale f_k - y_(k-1) / d_(k-1) and back substitution
    phi_k = (y_k - phi_(k+1)) / d_k; mode 0 first loses its mean (the l = 0 system is
    singular) and its solution is returned with zero mean. ``inverse_pivots`` holds each
    mode's column twice, so that every sweep is a loop over real numbers."""
    nz, columns = spectrum.shape
    chunk = 2 * ((columns // 2 + threads - 1) // threads)  # whole modes to each thread
    for t in prange(threads):
        lo, hi = t * chunk, min(columns, (t + 1) * chunk)
        if lo >= hi:
            continue
        if lo == 0:
            _remove_mean_mode(spectrum)
        width = hi - lo
        first = spectrum[0, lo:hi]
        for m in range(width):
            first[m] *= scale
        for k in range(1, nz):
            row, previous = spectrum[k, lo:hi], spectrum[k - 1, lo:hi]
            inverse = inverse_pivots[k - 1, lo:hi]
            for m in range(width):
                row[m] = scale * row[m] - inverse[m] * previous[m]
        last, inverse = spectrum[nz - 1, lo:hi], inverse_pivots[nz - 1, lo:hi]
        for m in range(width):
            last[m] *= inverse[m]
        for k in range(nz - 2, -1, -1):
            row, following = spectrum[k, lo:hi], spectrum[k + 1, lo:hi]
            inverse = inverse_pivots[k, lo:hi]
            for m in range(width):
                row[m] = (row[m] - following[m]) * inverse[m]
        if lo == 0:
            _remove_mean_mode(spectrum)


class PoissonSolver:
    """Precomputes eigenvalues (or pivots) once; :meth:`solve` costs a forward and an
    inverse real FFT in x, and the tridiagonal sweeps (walls) or an FFT in z (periodic).

    The transforms and sweeps use ``workers`` threads; by default as many as numba's
    kernels (``NUMBA_NUM_THREADS``, or ``numba.set_num_threads``), so one setting
    governs both.
    """

    def __init__(self, grid: Grid, workers: int | None = None):
        self.grid = grid
        self.workers = workers
        l = np.arange(grid.nx // 2 + 1)
        lambda_x = -4.0 * np.sin(np.pi * l / grid.nx) ** 2 / grid.dx**2
        if grid.periodic_z:
            m = np.arange(grid.nz)
            lambda_z = -4.0 * np.sin(np.pi * m / grid.nz) ** 2 / grid.dz**2
            eigenvalues = lambda_z[:, None] + lambda_x[None, :]
            eigenvalues[0, 0] = 1.0
            self.inverse_eigenvalues = 1.0 / eigenvalues
            self.inverse_eigenvalues[0, 0] = 0.0
        else:
            pivots = tridiagonal_inverse_pivots(lambda_x, grid.nz, grid.dz)
            self.inverse_pivots = np.repeat(pivots, 2, axis=1)  # for the real view

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Return phi (nz, nx) with L phi = rhs - mean(rhs)."""
        w = self.workers or numba.get_num_threads()
        if self.grid.periodic_z:
            spectrum = scipy.fft.rfft2(rhs, workers=w)
            spectrum *= self.inverse_eigenvalues
            return scipy.fft.irfft2(spectrum, s=rhs.shape, workers=w)
        spectrum = scipy.fft.rfft(rhs, axis=1, workers=w)
        solve_tridiagonal_columns(
            spectrum.view(np.float64), self.inverse_pivots, self.grid.dz**2, w
        )
        return scipy.fft.irfft(spectrum, n=self.grid.nx, axis=1, workers=w)
