"""The stratified Kolmogorov flow that billow and FluidSim's ns2d.strat both run.

Imported by the two drivers beside this file, each in its own virtual environment:
numpy only. Both codes solve, in a doubly periodic box Lx x Lz (x horizontal, z
vertical; FluidSim calls z "y"),

    du/dt + (u.grad)u = -grad p + b z_hat + nu lap u + F0 sin(n 2 pi z / Lz) x_hat
    db/dt + (u.grad)b + N^2 w = kappa lap b,       div u = 0,       kappa = nu

billow's `kolmogorov` case: Re = 1/nu, N2 = N^2, F0, n, Pr = 1 (nondimensional: its
units are those of the numbers below). FluidSim: params.nu_2 = 1/Re, params.N = sqrt(N2),
forcing type "kolmogorov_flow" on ux with params.forcing.kolmo.ik = n and amplitude F0;
its nu_2 acts on b too (Pr = 1).

The laminar solution is u = U sin(n 2 pi z / Lz) with U = F0 Re / (n 2 pi / Lz)^2; F0
is chosen so that U = 1. Flow Reynolds number U / (nu n 2 pi / Lz) = 100, and the minimum
gradient Richardson number of the laminar profile N^2 / (U n 2 pi / Lz)^2 = 1/16: the
laminar flow is unstable to the long modes the 2:1 box admits and becomes a forced,
stratified 2-D turbulence after a transition (near t = 10-20 from the perturbation below).
Both codes start from the same streamfunction: the laminar profile plus a few
large-scale modes of amplitude EPSILON, evaluated on each code's own grid.
"""

from __future__ import annotations

import math

import numpy as np

NX, NZ = 512, 256
LX, LZ = 4 * math.pi, 2 * math.pi
RE = 400.0  # 1/nu
N2 = 1.0
N_FORCE = 4  # forcing wavenumber in units of 2 pi / Lz
U_LAMINAR = 1.0
K_FORCE = N_FORCE * 2 * math.pi / LZ
F0 = U_LAMINAR * K_FORCE**2 / RE  # 0.04
DURATION = 60.0  # simulated time of the default run
QUICK_DURATION = 2.0

EPSILON = 0.05  # streamfunction amplitude of each perturbation mode
# (m, l, phase_x, phase_z): kx = 2 pi m / Lx, kz = 2 pi l / Lz
MODES = ((1, 1, 0.3, 1.1), (1, 2, 2.0, 0.4), (2, 1, 4.1, 2.7), (3, 2, 1.3, 5.2), (1, 3, 5.5, 3.3))


def streamfunction(x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """psi with u = dpsi/dz, w = -dpsi/dx."""
    psi = -U_LAMINAR / K_FORCE * np.cos(K_FORCE * z)
    for m, l, phase_x, phase_z in MODES:
        kx, kz = 2 * math.pi * m / LX, 2 * math.pi * l / LZ
        psi = psi + EPSILON * np.cos(kx * x + phase_x) * np.cos(kz * z + phase_z)
    return psi


def velocity(x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, w) = (dpsi/dz, -dpsi/dx) of :func:`streamfunction`, exactly."""
    u = U_LAMINAR * np.sin(K_FORCE * z) + 0 * x
    w = 0 * x + 0 * z
    for m, l, phase_x, phase_z in MODES:
        kx, kz = 2 * math.pi * m / LX, 2 * math.pi * l / LZ
        u = u - EPSILON * kz * np.cos(kx * x + phase_x) * np.sin(kz * z + phase_z)
        w = w + EPSILON * kx * np.sin(kx * x + phase_x) * np.cos(kz * z + phase_z)
    return u, w
