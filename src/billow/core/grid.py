"""Staggered Arakawa-C (MAC) grid on a periodic-x, wall- or periodic-z domain.

Storage is (z, x) with x contiguous, padded by ``ghost`` cells on every side.
Locations (interior indices k, i):

- cell centres (b, p, tracers): (x_centre[i], z_centre[k]), shape (nz, nx)
- u on x-faces:                 (x_face[i],   z_centre[k]), shape (nz, nx)
- w on z-faces:                 (x_centre[i], z_face[k]),   shape (nz + 1, nx)

x_face[i] = i dx is the left face of cell i; z_face[k] = z_bottom + k dz is
its lower face. With walls, w[0] and w[nz] lie on the walls and stay zero;
with periodic z, row nz duplicates row 0.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from ..errors import ConfigError

GHOST = 3  # the 5th-order upwind stencil reaches three cells upwind
MAX_PRIME = 7  # FFT lengths must factor into primes no larger than this
MIN_CELLS = 8


class Location(StrEnum):
    """Where a field lives on the C-grid (compares equal to its string value)."""

    CENTRE = "centre"  # cell centres: b, p, tracers
    U = "u"  # x-faces: u (and v in 2.5-D)
    W = "w"  # z-faces: w


def largest_prime_factor(n: int) -> int:
    """Largest prime factor of n (n >= 2)."""
    factor, largest = 2, 1
    while factor * factor <= n:
        while n % factor == 0:
            largest, n = factor, n // factor
        factor += 1
    return max(largest, n)


def nearest_good_size(n: int) -> int:
    """Nearest transform length >= MIN_CELLS whose prime factors are all <= MAX_PRIME."""
    for delta in range(n):
        for m in (n - delta, n + delta):
            if m >= MIN_CELLS and largest_prime_factor(m) <= MAX_PRIME:
                return m
    return MIN_CELLS


def check_transform_length(name: str, n: int, transformed: bool = True) -> None:
    """Refuse grid sizes that are too small or, for a ``transformed`` direction, whose FFT
    would be slow. Between walls z is not transformed (the Poisson solve is a tridiagonal
    solve in z, whose cost does not depend on how nz factors), so any nz >= MIN_CELLS is
    fine there."""
    if n < MIN_CELLS:
        raise ConfigError(f"{name} = {n} is too small: need at least {MIN_CELLS} cells")
    p = largest_prime_factor(n)
    if transformed and p > MAX_PRIME:
        raise ConfigError(
            f"{name} = {n} has the prime factor {p}: fast transforms need lengths that factor "
            f"into 2, 3, 5, 7 (try {name} = {nearest_good_size(n)})"
        )


@dataclass(frozen=True)
class Grid:
    """Sizes, spacings, coordinates and z topology of the C-grid."""

    nx: int
    nz: int
    Lx: float
    Lz: float
    periodic_z: bool = False
    z_bottom: float | None = None  # default: walls at z = -Lz/2, +Lz/2
    ghost: int = GHOST

    def __post_init__(self) -> None:
        check_transform_length("nx", self.nx)
        check_transform_length("nz", self.nz, transformed=self.periodic_z)
        if self.z_bottom is None:
            object.__setattr__(self, "z_bottom", -0.5 * self.Lz)

    @functools.cached_property
    def dx(self) -> float:
        return self.Lx / self.nx

    @functools.cached_property
    def dz(self) -> float:
        return self.Lz / self.nz

    @functools.cached_property
    def constants(self) -> tuple[int, int, int, float, float]:
        """(nx, nz, ghost, dx, dz): the grid as the numba kernels take it (made once: a
        step passes it some thirty times)."""
        return self.nx, self.nz, self.ghost, self.dx, self.dz

    @functools.cached_property
    def cell_area(self) -> float:
        return self.dx * self.dz

    @property
    def x_centre(self) -> np.ndarray:
        return (np.arange(self.nx) + 0.5) * self.dx

    @property
    def x_face(self) -> np.ndarray:
        return np.arange(self.nx) * self.dx

    @functools.cached_property
    def z_centre(self) -> np.ndarray:
        """Cell-centre heights (made once, read-only: the diagnostics read them every step)."""
        z = self.z_bottom + (np.arange(self.nz) + 0.5) * self.dz
        z.flags.writeable = False
        return z

    @property
    def z_face(self) -> np.ndarray:
        return self.z_bottom + np.arange(self.nz + 1) * self.dz

    def rows(self, location: Location) -> int:
        """Interior rows of a field at ``location``: nz + 1 for w (both wall faces), else nz."""
        return self.nz + 1 if location == Location.W else self.nz

    def padded_shape(self, location: Location) -> tuple[int, int]:
        """Shape of a padded array at ``location`` (a :class:`Location` or its string)."""
        return self.rows(location) + 2 * self.ghost, self.nx + 2 * self.ghost

    def zeros(self, location: Location) -> np.ndarray:
        return np.zeros(self.padded_shape(location))

    def interior(self, padded: np.ndarray, location: Location = Location.CENTRE) -> np.ndarray:
        """View of the physical (non-ghost) part of a padded array."""
        g = self.ghost
        return padded[g : g + self.rows(location), g : g + self.nx]
