"""Discrete C-grid operators: ghost-cell filling, divergence, projection update.

All kernels take padded arrays (see :mod:`billow.grid`) and write in place.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .grid import Grid


def fill_ghosts(q: np.ndarray, grid: Grid, location: str, parity: float = 1.0) -> None:
    """Fill ghost cells: periodic in x; periodic or mirrored about the walls in z.

    Cell-centred rows (b, tracers, u) are mirrored with ``parity`` (+1: zero
    normal gradient, i.e. no-flux / free-slip; -1: zero value at the wall,
    i.e. no-slip). w rows are odd about the wall faces, where w = 0.
    """
    g, nx, nz = grid.ghost, grid.nx, grid.nz
    if location == "w":
        top = g + nz  # padded index of the top face
        if grid.periodic_z:
            q[top] = q[g]
            q[:g] = q[top - g : top]
            q[top + 1 :] = q[g + 1 : g + 1 + g]
        else:
            q[g] = 0.0
            q[top] = 0.0
            q[:g] = -q[2 * g : g : -1]
            q[top + 1 :] = -q[top - 1 : top - 1 - g : -1]
    else:
        top = g + nz  # first ghost row above the domain
        if grid.periodic_z:
            q[:g] = q[nz : nz + g]
            q[top:] = q[g : 2 * g]
        else:
            q[:g] = parity * q[2 * g - 1 : g - 1 : -1]
            q[top:] = parity * q[top - 1 : top - 1 - g : -1]
    q[:, :g] = q[:, nx : nx + g]
    q[:, g + nx :] = q[:, g : 2 * g]


def velocity_from_streamfunction(grid: Grid, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """u = d(psi)/dz on x-faces, w = -d(psi)/dx on z-faces, from psi on the cell corners
    (nz + 1, nx). The discrete divergence of the result vanishes identically."""
    u = np.diff(psi, axis=0) / grid.dz
    w = -(np.roll(psi, -1, axis=1) - psi) / grid.dx
    return u, w


@njit(parallel=True, cache=True)
def divergence(u, w, nx, nz, g, dx, dz, out):
    """div u at cell centres: (u[i+1] - u[i])/dx + (w[k+1] - w[k])/dz."""
    for k in prange(nz):
        K = k + g
        for i in range(nx):
            ip = g if i == nx - 1 else g + i + 1
            out[k, i] = (u[K, ip] - u[K, i + g]) / dx + (w[K + 1, i + g] - w[K, i + g]) / dz


@njit(parallel=True, cache=True)
def subtract_gradient(u, w, phi, nx, nz, g, dx, dz, periodic_z):
    """u -= d(phi)/dx on x-faces; w -= d(phi)/dz on interior z-faces (walls untouched)."""
    for k in prange(nz):
        K = k + g
        u[K, g] -= (phi[k, 0] - phi[k, nx - 1]) / dx
        for i in range(1, nx):
            u[K, i + g] -= (phi[k, i] - phi[k, i - 1]) / dx
    k_first = 0 if periodic_z else 1
    for k in prange(k_first, nz):
        K = k + g
        below = nz - 1 if k == 0 else k - 1
        for i in range(nx):
            w[K, i + g] -= (phi[k, i] - phi[below, i]) / dz


@njit(parallel=True, cache=True)
def vorticity_at_centres(u, w, nx, nz, g, dx, dz, out):
    """omega_y = du/dz - dw/dx, from corner values averaged to cell centres.

    Corner (x-face i, z-face k): (u[k] - u[k-1])/dz - (w[i] - w[i-1])/dx.
    Ghost cells of u and w must be filled.
    """
    for k in prange(nz):
        K = k + g
        for i in range(nx):
            I = i + g
            acc = 0.0
            for dk in range(2):
                for di in range(2):
                    Kc = K + dk
                    Ic = I + di
                    acc += (u[Kc, Ic] - u[Kc - 1, Ic]) / dz - (w[Kc, Ic] - w[Kc, Ic - 1]) / dx
            out[k, i] = 0.25 * acc


@njit(parallel=True, cache=True)
def velocity_at_centres(u, w, nx, nz, g, u_out, w_out):
    """Average face velocities to cell centres (second order); needs filled x ghosts."""
    for k in prange(nz):
        K = k + g
        for i in range(nx):
            I = i + g
            u_out[k, i] = 0.5 * (u[K, I] + u[K, I + 1])
            w_out[k, i] = 0.5 * (w[K, I] + w[K + 1, I])


@njit(cache=True)
def gradient_statistics(u, w, nx, nz, g, dx, dz, periodic_z):
    """(sum |grad u|^2, max |grad u|, max |div u|) over the grid, in one pass.

    du/dx and dw/dz live at centres, du/dz and dw/dx at corners; corners on
    walls carry weight 1/2 in the sum, so that sum |grad u|^2 dA equals
    -sum(u . lap u) dA for the discrete Laplacian. Needs filled ghosts.
    """
    total = 0.0
    largest_gradient = 0.0
    largest_divergence = 0.0
    for k in range(nz):
        K = k + g
        for i in range(nx):
            I = i + g
            du_dx = (u[K, I + 1] - u[K, I]) / dx
            dw_dz = (w[K + 1, I] - w[K, I]) / dz
            total += du_dx * du_dx + dw_dz * dw_dz
            largest_gradient = max(largest_gradient, abs(du_dx), abs(dw_dz))
            largest_divergence = max(largest_divergence, abs(du_dx + dw_dz))
    corner_rows = nz if periodic_z else nz + 1
    for k in range(corner_rows):
        K = k + g
        weight = 0.5 if (not periodic_z and (k == 0 or k == nz)) else 1.0
        for i in range(nx):
            I = i + g
            du_dz = (u[K, I] - u[K - 1, I]) / dz
            dw_dx = (w[K, I] - w[K, I - 1]) / dx
            total += weight * du_dz * du_dz + dw_dx * dw_dx
            largest_gradient = max(largest_gradient, abs(du_dz), abs(dw_dx))
    return total, largest_gradient, largest_divergence


@njit(parallel=True, cache=True)
def entropy_sum(c):
    """sum(-c ln c) over a 2-D array, with 0 ln 0 = 0 and c < 0 counted as 0."""
    total = 0.0
    for k in prange(c.shape[0]):
        for i in range(c.shape[1]):
            value = c[k, i]
            if value > 0.0:
                total += -value * np.log(value)
    return total
