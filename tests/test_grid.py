"""Unit tests of the C-grid, the ghost-cell parities and the face reconstruction."""

from __future__ import annotations

import numpy as np
import pytest

import billow
from billow.core.advection import face_fluxes
from billow.core.grid import GHOST, Grid, Location, check_transform_length, nearest_good_size
from billow.core.operators import fill_ghosts
from billow.core.schemes import SCHEMES
from billow.errors import ConfigError


def test_coordinates_and_spacings_of_the_c_grid():
    grid = Grid(nx=16, nz=8, Lx=4.0, Lz=2.0)
    assert grid.dx == 0.25 and grid.dz == 0.25 and grid.cell_area == 0.0625
    assert grid.z_bottom == -1.0  # walls at -Lz/2, +Lz/2 by default
    np.testing.assert_allclose(grid.x_face, np.arange(16) * 0.25)
    np.testing.assert_allclose(grid.x_centre, grid.x_face + 0.125)
    np.testing.assert_allclose(grid.z_face, np.linspace(-1.0, 1.0, 9))
    np.testing.assert_allclose(grid.z_centre, 0.5 * (grid.z_face[:-1] + grid.z_face[1:]))
    assert grid.constants == (16, 8, GHOST, 0.25, 0.25)


@pytest.mark.parametrize("location, rows", [(Location.CENTRE, 8), (Location.U, 8), (Location.W, 9)])
def test_padded_arrays_and_interior_views(location, rows):
    grid = Grid(nx=16, nz=8, Lx=4.0, Lz=2.0)
    padded = grid.zeros(location)
    assert padded.shape == (rows + 2 * GHOST, 16 + 2 * GHOST)
    interior = grid.interior(padded, location)
    assert interior.shape == (rows, 16) and np.shares_memory(interior, padded)
    assert location == location.value  # the enum compares equal to its string


@pytest.mark.parametrize("n, largest", [(8, 8), (384, 384), (97, 96), (11, 10), (3, 8)])
def test_transform_lengths_factor_into_small_primes(n, largest):
    assert nearest_good_size(n) == largest
    if n == largest:
        check_transform_length("nx", n)
    else:
        with pytest.raises(ConfigError, match=f"nx = {n}"):
            check_transform_length("nx", n)


def test_nz_between_walls_may_be_any_size():
    # z is transformed only when periodic: between walls the Poisson solve is tridiagonal
    # in z (its exactness at a prime nz: test_numerics), so nz = 131 is accepted there
    assert Grid(nx=16, nz=131, Lx=4.0, Lz=2.0).nz == 131
    with pytest.raises(ConfigError, match="nz = 131 has the prime factor 131"):
        Grid(nx=16, nz=131, Lx=4.0, Lz=2.0, periodic_z=True)
    assert billow.get_case("shear_layer").make_params(nz=131).nz == 131
    with pytest.raises(ConfigError, match="nz = 131"):
        billow.get_case("kolmogorov").make_params(nz=131)


def filled(location: Location, periodic_z: bool, parity: float = 1.0):
    grid = Grid(nx=8, nz=8, Lx=1.0, Lz=1.0, periodic_z=periodic_z)
    padded = grid.zeros(location)
    values = np.random.default_rng(0).standard_normal(grid.interior(padded, location).shape)
    if location == Location.W and periodic_z:
        values[-1] = values[0]  # row nz duplicates row 0
    grid.interior(padded, location)[...] = values
    fill_ghosts(padded, grid, location, parity)
    return padded, grid


@pytest.mark.parametrize("parity", [1.0, -1.0])
def test_centre_ghosts_mirror_about_the_walls_with_the_parity(parity):
    # +1: zero normal gradient (no-flux, free-slip); -1: zero value on the wall (no-slip)
    q, grid = filled(Location.CENTRE, periodic_z=False, parity=parity)
    g, nz = GHOST, grid.nz
    for j in range(g):  # ghost row g-1-j mirrors interior row g+j, across the wall at g-1/2
        np.testing.assert_array_equal(q[g - 1 - j], parity * q[g + j])
        np.testing.assert_array_equal(q[g + nz + j], parity * q[g + nz - 1 - j])


def test_w_ghosts_are_odd_about_the_wall_faces_where_w_vanishes():
    q, grid = filled(Location.W, periodic_z=False)
    g, top = GHOST, GHOST + grid.nz
    assert not q[g].any() and not q[top].any()
    for j in range(1, g + 1):
        np.testing.assert_array_equal(q[g - j], -q[g + j])
        np.testing.assert_array_equal(q[top + j], -q[top - j])


@pytest.mark.parametrize("location", list(Location))
def test_ghosts_are_periodic_copies(location):
    q, grid = filled(location, periodic_z=True)
    g, nx, nz = GHOST, grid.nx, grid.nz
    rows = nz  # the period in rows (w's row nz is row 0 again)
    np.testing.assert_array_equal(q[:g], q[rows : rows + g])
    np.testing.assert_array_equal(q[-g:], q[-g - rows : q.shape[0] - rows])
    np.testing.assert_array_equal(q[:, :g], q[:, nx : nx + g])
    np.testing.assert_array_equal(q[:, -g:], q[:, g : 2 * g])


def cell_averages_of_monomial(degree: int) -> np.ndarray:
    """Averages of x^degree over the six cells [j, j+1], j = -3..2, around the face x = 0."""
    edges = np.arange(-3, 4, dtype=float)
    antiderivative = edges ** (degree + 1) / (degree + 1)
    return np.diff(antiderivative)


@pytest.mark.parametrize("scheme, exact_degree", [("upwind1", 0), ("centered2", 1), ("upwind5", 4)])
@pytest.mark.parametrize("velocity", [1.0, -1.0])
def test_reconstruction_is_exact_up_to_its_degree(scheme, exact_degree, velocity):
    """From cell averages, the face value is exact for polynomials of degree <= p - 1 (order
    p = 1, 2, 5) and not beyond: an error in one coefficient would break either."""
    coefficients = SCHEMES[scheme].coefficients
    for degree in range(exact_degree + 2):
        stencil = [np.array([value]) for value in cell_averages_of_monomial(degree)]
        out = np.zeros(1)
        face_fluxes(*stencil, np.array([velocity]), coefficients, out)
        exact = 1.0 if degree == 0 else 0.0  # x^degree at x = 0
        error = abs(out[0] / velocity - exact)
        if degree <= exact_degree:
            assert error < 1e-14, f"{scheme} not exact for degree {degree}"
        else:
            assert error > 1e-3, f"{scheme} unexpectedly exact for degree {degree}"


def test_upwind5_uses_the_upwind_biased_stencil():
    """U >= 0 gives (2 q_-3 - 13 q_-2 + 47 q_-1 + 27 q_0 - 3 q_1) / 60, U < 0 its mirror."""
    coefficients = SCHEMES["upwind5"].coefficients
    rng = np.random.default_rng(1)
    q = rng.standard_normal(6)
    stencil = [np.array([value]) for value in q]
    out = np.zeros(1)
    face_fluxes(*stencil, np.array([1.0]), coefficients, out)
    expected = (2 * q[0] - 13 * q[1] + 47 * q[2] + 27 * q[3] - 3 * q[4]) / 60
    assert out[0] == pytest.approx(expected, rel=1e-14)
    face_fluxes(*stencil, np.array([-1.0]), coefficients, out)
    expected = (2 * q[5] - 13 * q[4] + 47 * q[3] + 27 * q[2] - 3 * q[1]) / 60
    assert -out[0] == pytest.approx(expected, rel=1e-14)
