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


@njit(parallel=True, cache=True)
def divergence(u, w, nx, nz, g, dx, dz, out):
    """div u at cell centres: (u[i+1] - u[i])/dx + (w[k+1] - w[k])/dz."""
    for k in prange(nz):
        K = k + g
        for i in range(nx):
            ip = g + (i + 1) % nx
            out[k, i] = (u[K, ip] - u[K, i + g]) / dx + (w[K + 1, i + g] - w[K, i + g]) / dz


@njit(parallel=True, cache=True)
def subtract_gradient(u, w, phi, nx, nz, g, dx, dz, periodic_z):
    """u -= d(phi)/dx on x-faces; w -= d(phi)/dz on interior z-faces (walls untouched)."""
    for k in prange(nz):
        K = k + g
        for i in range(nx):
            u[K, i + g] -= (phi[k, i] - phi[k, (i - 1) % nx]) / dx
    k_first = 0 if periodic_z else 1
    for k in prange(k_first, nz):
        K = k + g
        for i in range(nx):
            w[K, i + g] -= (phi[k, i] - phi[(k - 1) % nz, i]) / dz


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
    """Average face velocities to cell centres (second order)."""
    for k in prange(nz):
        K = k + g
        for i in range(nx):
            I = i + g
            u_out[k, i] = 0.5 * (u[K, I] + u[K, g + (i + 1) % nx])
            w_out[k, i] = 0.5 * (w[K, I] + w[K + 1, I])
