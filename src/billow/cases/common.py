"""Helpers shared by the cases: grids, streamfunction perturbations, seeded noise."""

from __future__ import annotations

import numpy as np
import scipy.fft

from ..config import RunParams
from ..grid import Grid

FASTEST_GROWING_WAVELENGTH = 2 * np.pi / 0.4449  # inviscid tanh layer (Michalke 1964)


def make_grid(params: RunParams, z_bottom: float | None = None) -> Grid:
    return Grid(
        params.nx, params.nz, params.Lx, params.Lz,
        periodic_z=params.bc_z == "periodic", z_bottom=z_bottom,
    )


def velocity_from_streamfunction(grid: Grid, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """u = d(psi)/dz, w = -d(psi)/dx from psi on cell corners (nz + 1, nx).

    The discrete divergence of the result is zero identically.
    """
    u = np.diff(psi, axis=0) / grid.dz
    w = -(np.roll(psi, -1, axis=1) - psi) / grid.dx
    return u, w


def corner_coordinates(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(x, z) meshes of the cell corners (x_face, z_face)."""
    return np.meshgrid(grid.x_face, grid.z_face)


def smooth_noise(grid: Grid, seed: int, shape: tuple[int, int]) -> np.ndarray:
    """Seeded random field with a Gaussian spectral cut-off at 1/8 of the grid wavenumber,
    normalised to unit maximum."""
    rng = np.random.default_rng(seed)
    spectrum = scipy.fft.rfft2(rng.standard_normal(shape))
    kz = scipy.fft.fftfreq(shape[0])[:, None]
    kx = scipy.fft.rfftfreq(shape[1])[None, :]
    spectrum *= np.exp(-((kx**2 + kz**2) / (1.0 / 16) ** 2))
    field = scipy.fft.irfft2(spectrum, s=shape)
    return field / np.max(np.abs(field))


def perturbation_velocity(
    grid: Grid, params: RunParams, envelope
) -> tuple[np.ndarray, np.ndarray]:
    """Sinusoid at the fundamental wavenumber k = 2 pi / Lx plus seeded noise, both from a
    streamfunction psi = envelope(z) * (...) so that they are divergence-free.

    ``amplitude`` is max|w| of the sinusoid; ``noise`` is max|w| of the noise.
    """
    x, z = corner_coordinates(grid)
    k = 2 * np.pi / grid.Lx
    psi = params.amplitude / k * envelope(z) * np.sin(k * x)
    u, w = velocity_from_streamfunction(grid, psi)
    if params.noise > 0:
        noise_psi = envelope(z) * smooth_noise(grid, params.seed, psi.shape)
        noise_u, noise_w = velocity_from_streamfunction(grid, noise_psi)
        scale = params.noise / max(np.max(np.abs(noise_w)), np.finfo(float).tiny)
        u += scale * noise_u
        w += scale * noise_w
    if not grid.periodic_z:
        w[0] = w[-1] = 0.0
    return u, w
