"""Flux-form advection schemes and the fused advection-diffusion tendency kernel.

Every prognostic quantity q (b, tracers, u, v, w) is advanced with the
conservative form

    dq/dt = -[F(i+1) - F(i)]/dx - [G(k+1) - G(k)]/dz + nu * lap(q),

where F(i) = U q_face is the flux between q[.., i-1] and q[.., i] and
G(k) = W q_face the flux between q[k-1, ..] and q[k, ..]. U and W are the
advecting velocities interpolated (second order) to the flux positions.

Every scheme is written in the same branch-free form: with q_-3 .. q_2 the six
values around the face (q_-1 and q_0 on either side of it),

    U q_face = U sum_j a_j (q_-j + q_(j-1)) + |U| sum_j d_j (q_-j - q_(j-1)),  j = 1, 2, 3,

a centred interpolation plus an upwind dissipation proportional to |U|:

- ``upwind5``   a = (37, -8, 1)/60, d = (10, -5, 1)/60: fifth-order upwind-biased
                (sixth-order centred value plus the fifth difference; default)
- ``centered2`` a = (1/2, 0, 0),    d = 0: second-order centred (non-dissipative)
- ``upwind1``   a = (1/2, 0, 0),    d = (1/2, 0, 0): first-order upwind (as in
                kh2d-solver; very diffusive)

For U >= 0, upwind5 gives (2 q_-3 - 13 q_-2 + 47 q_-1 + 27 q_0 - 3 q_1) / 60.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# kinds of quantity, which fix where the advecting velocities live
SCALAR, U_MOMENTUM, W_MOMENTUM = 0, 1, 2
# The kernels take the fields of a group as a tuple of KERNEL_TUPLE arrays, and their true
# count: a tuple's length is part of its numba type, so that one compiled kernel serves
# groups of one field and of two (compiling advection_diffusion took 12 s on a 2-core
# machine, once per type: the first run's wait, and the test suite's).
KERNEL_TUPLE = 2


def kernel_tuple(arrays) -> tuple:
    """``arrays`` as the kernels take them: padded to KERNEL_TUPLE with its first array,
    which the kernels do not read again (they loop over the true count)."""
    return tuple(arrays) + (arrays[0],) * (KERNEL_TUPLE - len(arrays))


@njit
def face_fluxes(qm3, qm2, qm1, qp0, qp1, qp2, velocity, coefficients, out):
    """out[i] = velocity[i] * q_face[i], the face between qm1[i] and qp0[i] (branch-free).

    Every argument is a 1-D view indexed from 0, so the loop vectorises.
    """
    a1, a2, a3, d1, d2, d3 = coefficients
    for i in range(out.size):
        central = a1 * (qm1[i] + qp0[i]) + a2 * (qm2[i] + qp1[i]) + a3 * (qm3[i] + qp2[i])
        upwind = d1 * (qm1[i] - qp0[i]) + d2 * (qm2[i] - qp1[i]) + d3 * (qm3[i] - qp2[i])
        out[i] = velocity[i] * central + abs(velocity[i]) * upwind


@njit(inline="always")
def _x_fluxes(q, K, velocity, coefficients, nx, g, out):
    """out[i] = F between q[K, i-1+g] and q[K, i+g], i = 0 .. nx."""
    row = q[K]
    face_fluxes(
        row[g - 3 : g - 2 + nx], row[g - 2 : g - 1 + nx], row[g - 1 : g + nx],
        row[g : g + 1 + nx], row[g + 1 : g + 2 + nx], row[g + 2 : g + 3 + nx],
        velocity, coefficients, out,
    )  # fmt: skip


@njit(inline="always")
def _z_fluxes(q, K, velocity, coefficients, nx, g, out):
    """out[i] = G between q[K-1, i+g] and q[K, i+g], i = 0 .. nx-1."""
    columns = slice(g, g + nx)
    face_fluxes(
        q[K - 3, columns], q[K - 2, columns], q[K - 1, columns],
        q[K, columns], q[K + 1, columns], q[K + 2, columns],
        velocity, coefficients, out,
    )  # fmt: skip


@njit(inline="always")
def _copy(a, out):
    """out = a, element by element (a slice assignment would compile numba's shape-mismatch
    error and its string formatting: seconds of the first run)."""
    for i in range(out.size):
        out[i] = a[i]


@njit(inline="always")
def _average(a, b, out):
    for i in range(out.size):
        out[i] = 0.5 * (a[i] + b[i])


@njit
def _x_face_velocities(u, K, kind, nx, g, out):
    """out[i]: advecting u at the x-flux position between q[K, i-1+g] and q[K, i+g].

    This and :func:`_z_face_velocities` (once a row each) are functions of their own, not
    inlined into the kernel's numba IR as the flux helpers are: that took 4 s more of
    the first run's compilation (13.4 against 9.3 s) for a kernel within 1-3 % as fast."""
    if kind == SCALAR:
        _copy(u[K, g : g + nx + 1], out)
    elif kind == U_MOMENTUM:
        _average(u[K, g - 1 : g + nx], u[K, g : g + nx + 1], out)
    else:
        _average(u[K - 1, g : g + nx + 1], u[K, g : g + nx + 1], out)


@njit
def _z_face_velocities(w, K, kind, nx, g, out):
    """out[i]: advecting w at the z-flux position between q[K-1, i+g] and q[K, i+g]."""
    if kind == SCALAR:
        _copy(w[K, g : g + nx], out)
    elif kind == U_MOMENTUM:
        _average(w[K, g - 1 : g - 1 + nx], w[K, g : g + nx], out)
    else:
        _average(w[K - 1, g : g + nx], w[K, g : g + nx], out)


@njit(parallel=True, cache=True)
def advection_diffusion(
    fields, count, diffusivities, u, w, b, mean_b, kind, coefficients, rows, constants, blocks,
    out,
):  # fmt: skip
    """Tendencies -div(u q) + nu lap q of the first ``count`` fields in ``fields`` (all at
    one location; the tuples as :func:`kernel_tuple` makes them); on w-faces (``kind``
    W_MOMENTUM, where the first field is w) w's also gets the buoyancy force b averaged to
    the face less ``mean_b``: (b[k-1] + b[k]) / 2 - mean_b, added to each row while it is
    in cache (a pass of its own over w's tendency took 0.06 ms a stage at 384x192).

    ``fields`` and b are padded arrays with filled ghosts, ``out`` the tuple of unpadded
    tendency arrays that matches ``fields``, written on rows ``rows[0] .. rows[1] - 1``.
    The fields share their advecting velocities, computed once per row. Each of
    ``blocks`` threads takes a block of rows and carries the z-fluxes from one row to the
    next, so every flux is computed once per block, and every inner loop runs over
    contiguous x without branches.
    """
    nx, nz, g, dx, dz = constants
    k_lo, k_hi = rows
    inv_dx, inv_dz = 1.0 / dx, 1.0 / dz
    inv_dx2, inv_dz2 = inv_dx * inv_dx, inv_dz * inv_dz
    blocks = min(k_hi - k_lo, blocks)
    for block in prange(blocks):
        first = k_lo + (k_hi - k_lo) * block // blocks
        last = k_lo + (k_hi - k_lo) * (block + 1) // blocks
        x_velocity = np.empty(nx + 1)
        z_velocity = np.empty(nx)
        x_flux = np.empty(nx + 1)
        below = np.empty((count, nx))
        above = np.empty((count, nx))
        _z_face_velocities(w, first + g, kind, nx, g, z_velocity)
        for n in range(count):
            _z_fluxes(fields[n], first + g, z_velocity, coefficients, nx, g, below[n])
        for k in range(first, last):
            K = k + g
            _x_face_velocities(u, K, kind, nx, g, x_velocity)
            _z_face_velocities(w, K + 1, kind, nx, g, z_velocity)
            for n in range(count):
                q = fields[n]
                nu = diffusivities[n]
                _z_fluxes(q, K + 1, z_velocity, coefficients, nx, g, above[n])
                _x_fluxes(q, K, x_velocity, coefficients, nx, g, x_flux)
                tendency = out[n][k]
                centre, left, right = q[K, g : g + nx], q[K, g - 1 : g - 1 + nx], q[K, g + 1 :]
                down, up = q[K - 1, g : g + nx], q[K + 1, g : g + nx]
                flux_below, flux_above = below[n], above[n]
                for i in range(nx):
                    laplacian = (right[i] + left[i] - 2.0 * centre[i]) * inv_dx2 + (
                        up[i] + down[i] - 2.0 * centre[i]
                    ) * inv_dz2
                    tendency[i] = (
                        nu * laplacian
                        - (x_flux[i + 1] - x_flux[i]) * inv_dx
                        - (flux_above[i] - flux_below[i]) * inv_dz
                    )
                if kind == W_MOMENTUM and n == 0:
                    b_below, b_above = b[K - 1, g : g + nx], b[K, g : g + nx]
                    for i in range(nx):
                        tendency[i] += 0.5 * (b_below[i] + b_above[i]) - mean_b
            below, above = above, below
