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

The transforms are FFTW's where pyFFTW is installed (the ``fftw`` extra), else
scipy.fft's; the environment variable ``BILLOW_FFT`` (``fftw`` or ``scipy``)
chooses. Both give the same solution to round-off; FFTW's vectorised transforms
take about 0.6 of the time at 384 x 192. scipy's results are the same on every
x86-64 machine; FFTW's may differ at round-off between processors (it picks its
code for the processor), but not between runs on one machine. FFTW transforms the
same blocks of rows whatever the number of threads (on large grids the second block
on a helper thread), so neither library's results depend on the number of threads.
"""

from __future__ import annotations

import functools
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import scipy
from numba import njit, prange

from ..errors import ConfigError, did_you_mean
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
        total = 0.0  # in order, as .sum() adds (which compiles numpy's reduction)
        for k in range(spectrum.shape[0]):
            total += spectrum[k, column]
        mean = total / spectrum.shape[0]
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
    _remove_mean_mode(spectrum)
    chunk = 2 * ((columns // 2 + threads - 1) // threads)  # whole modes to each thread
    for t in prange(threads):
        lo, hi = t * chunk, min(columns, (t + 1) * chunk)
        if lo >= hi:
            continue
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
    _remove_mean_mode(spectrum)  # mode 0 (columns 0 and 1), outside the parallel loop


FFT_LIBRARIES = ("fftw", "scipy")


@functools.cache
def _import_pyfftw():
    """pyFFTW, or None if it is not installed (imported once). Its package imports its
    optional interfaces to dask (0.35 s) and to scipy.fftpack and scipy.fft (0.3 s)
    whenever those are installed; billow uses none of them, so dask.array and
    scipy.fftpack are kept out of that import unless something imported them before
    (pyFFTW then leaves out those interfaces; a later ``import
    pyfftw.interfaces.scipy_fft`` still works)."""
    if "pyfftw" in sys.modules:
        return sys.modules["pyfftw"]
    hidden = [name for name in ("dask.array", "scipy.fftpack") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # an import of it now raises ImportError
    try:
        import pyfftw
    except ImportError:
        return None
    finally:
        for name in hidden:
            del sys.modules[name]
    return pyfftw


def fft_library() -> str:
    """The transforms' library: ``BILLOW_FFT`` if set (``fftw`` or ``scipy``), else
    ``fftw`` where pyFFTW is installed and ``scipy`` otherwise."""
    chosen = os.environ.get("BILLOW_FFT", "").strip().lower()
    if chosen and chosen not in FFT_LIBRARIES:
        raise ConfigError(
            f"unknown BILLOW_FFT={chosen!r}{did_you_mean(chosen, FFT_LIBRARIES)}: "
            "choose fftw or scipy, or unset it"
        )
    if chosen == "fftw" and _import_pyfftw() is None:
        raise ConfigError("BILLOW_FFT=fftw needs pyFFTW: pip install 'billow[fftw]'")
    if chosen:
        return chosen
    return "fftw" if _import_pyfftw() is not None else "scipy"


def describe_transforms(library: str) -> str:
    """``library``'s name and version as a run records them (``fftw`` or ``scipy``)."""
    if library == "fftw":
        fftw = _import_pyfftw()
        version = getattr(fftw, "_fftw_version_dict", {}).get("64", "")  # not public
        return f"{version or 'FFTW'} (pyFFTW {fftw.__version__})"
    return f"scipy.fft {scipy.__version__}"


class FFTWTransforms:
    """Real FFTs of (nz, nx) arrays by FFTW along ``axes``: :meth:`forward` from
    :attr:`real` to :attr:`spectrum`, :meth:`inverse` (unnormalised) from :attr:`spectrum`
    (destroyed) to :attr:`result`, all three aligned work arrays. Planned once with
    FFTW_ESTIMATE and with any wisdom of the process set aside meanwhile (FFTW would
    use it even with FFTW_ESTIMATE), so that every process gets the same plans.

    Transforms along x alone (between walls) are planned as two blocks of rows (the split
    a multiple of 4 rows, so that both blocks start aligned). Given two or more threads
    and at least HELPER_MIN_CELLS cells, the second block is transformed on a helper
    thread while the caller does the first (pyFFTW releases the GIL). A solve on 2 cores
    of a Zen 3 then took 1.3-1.4x less time at 768 x 384, 1.45-1.6x at 1024 x 512 and
    2048 x 1024 (medians of 7 rounds, two sets);
    at 384 x 192 and 512 x 256 the hand-overs cost more than they saved (0.67 ms against
    0.42 on one thread at 384 x 192), so smaller grids stay on the calling thread. The
    blocks are the same for any number of threads, so the results do not depend on it.
    FFTW's own threads are not used: pyFFTW's wheels run them on an OpenMP runtime of
    their own, and handing over between it and numba's costs more than it saves (a
    384 x 192 solve with two of them took 364 us against 153 on one)."""

    HELPER_MIN_CELLS = 2**18

    def __init__(self, shape: tuple[int, int], axes: tuple[int, ...]):
        pyfftw = _import_pyfftw()
        self.real = pyfftw.zeros_aligned(shape)
        self.spectrum = pyfftw.zeros_aligned((shape[0], shape[1] // 2 + 1), dtype=complex)
        self.result = pyfftw.zeros_aligned(shape)
        split = 4 * max(1, round(shape[0] / 8))
        blocks = [slice(None)]
        if axes == (1,) and split < shape[0]:
            blocks = [slice(0, split), slice(split, None)]
        estimate = ("FFTW_ESTIMATE",)
        wisdom = pyfftw.export_wisdom()
        pyfftw.forget_wisdom()
        try:
            self._forward = [
                pyfftw.FFTW(self.real[rows], self.spectrum[rows], axes, flags=estimate)
                for rows in blocks
            ]
            self._inverse = [
                pyfftw.FFTW(
                    self.spectrum[rows],
                    self.result[rows],
                    axes,
                    direction="FFTW_BACKWARD",
                    flags=(*estimate, "FFTW_DESTROY_INPUT"),
                )
                for rows in blocks
            ]
        finally:
            pyfftw.forget_wisdom()
            pyfftw.import_wisdom(wisdom)  # the process's own, as it was

    def forward(self, threads: int = 1) -> None:
        """spectrum = rfft(real) along the axes."""
        _execute(self._forward, self._threads(threads))

    def inverse(self, threads: int = 1) -> None:
        """result = nx irfft(spectrum) along the axes (spectrum destroyed)."""
        _execute(self._inverse, self._threads(threads))

    def _threads(self, threads: int) -> int:
        return threads if self.real.size >= self.HELPER_MIN_CELLS else 1


def _execute(plans: list, threads: int) -> None:
    """Run FFTW plans on disjoint blocks: all but the first on the helper thread when
    ``threads`` > 1, else one after the other."""
    if threads < 2 or len(plans) == 1:
        for plan in plans:
            plan.execute()
        return
    pending = [_fft_helper(os.getpid()).submit(plan.execute) for plan in plans[1:]]
    plans[0].execute()
    for job in pending:
        job.result()


@functools.cache
def _fft_helper(pid: int) -> ThreadPoolExecutor:
    """The process's helper thread for FFTW's blocks (one per process id: a forked child
    gets its own, its parent's thread does not exist there)."""
    return ThreadPoolExecutor(1, thread_name_prefix="billow-fft")


class PoissonSolver:
    """Precomputes eigenvalues (or pivots) once; :meth:`solve` costs a forward and an
    inverse real FFT in x, and the tridiagonal sweeps (walls) or an FFT in z (periodic).

    The sweeps, and scipy.fft's transforms, use ``workers`` threads; by default as many
    as numba's kernels (``NUMBA_NUM_THREADS``, or ``numba.set_num_threads``), so one
    setting governs both; FFTW's transforms use two at most (:class:`FFTWTransforms`).
    ``library`` is ``fftw`` or ``scipy`` (default: :func:`fft_library`).
    A right-hand side written into :attr:`rhs` is not copied.
    """

    def __init__(self, grid: Grid, workers: int | None = None, library: str | None = None):
        self.grid = grid
        self.workers = workers
        self.library = library or fft_library()
        if self.library not in FFT_LIBRARIES:
            raise ValueError(f"unknown FFT library {self.library!r}: choose fftw or scipy")
        if self.library == "fftw" and _import_pyfftw() is None:
            raise ConfigError("FFTW's transforms need pyFFTW: pip install 'billow[fftw]'")
        if self.library == "scipy":
            import scipy.fft as scipy_fft  # on use: with FFTW, a run loads no scipy.fft (0.3 s)

            self._scipy_fft = scipy_fft
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
        self._fftw = None
        if self.library == "fftw":
            self._fftw = FFTWTransforms((grid.nz, grid.nx), (0, 1) if grid.periodic_z else (1,))
            if grid.periodic_z:  # FFTW's inverse is not normalised
                self.inverse_eigenvalues /= grid.nx * grid.nz
        self.rhs = self._fftw.real if self._fftw is not None else np.zeros((grid.nz, grid.nx))

    @property
    def description(self) -> str:
        """The transforms' library and version, for a run's provenance."""
        return describe_transforms(self.library)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Return phi (nz, nx) with L phi = rhs - mean(rhs). By FFTW, phi is a work array,
        overwritten by the next call, and a right-hand side other than :attr:`rhs` is
        copied into :attr:`rhs` (which the solve does not change)."""
        w = self.workers or numba.get_num_threads()
        if self._fftw is not None:
            return self._solve_by_fftw(rhs, w)
        fft = self._scipy_fft
        if self.grid.periodic_z:
            spectrum = fft.rfft2(rhs, workers=w)
            spectrum *= self.inverse_eigenvalues
            return fft.irfft2(spectrum, s=rhs.shape, workers=w)
        spectrum = fft.rfft(rhs, axis=1, workers=w)
        solve_tridiagonal_columns(
            spectrum.view(np.float64), self.inverse_pivots, self.grid.dz**2, w
        )
        return fft.irfft(spectrum, n=self.grid.nx, axis=1, workers=w)

    def _solve_by_fftw(self, rhs: np.ndarray, threads: int) -> np.ndarray:
        transforms, grid = self._fftw, self.grid
        if rhs is not transforms.real:
            if rhs.shape != transforms.real.shape:
                raise ValueError(f"rhs of shape {rhs.shape}, expected {transforms.real.shape}")
            np.copyto(transforms.real, rhs)
        transforms.forward(threads)
        if grid.periodic_z:
            transforms.spectrum *= self.inverse_eigenvalues
        else:  # 1/nx: the inverse transform's normalisation
            solve_tridiagonal_columns(
                transforms.spectrum.view(np.float64), self.inverse_pivots, grid.dz**2 / grid.nx,
                threads,
            )  # fmt: skip
        transforms.inverse(threads)
        return transforms.result
