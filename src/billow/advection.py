"""Flux-form advection schemes and the advection-diffusion tendency kernel.

Every prognostic quantity q (b, tracers, u, w) is advanced with the
conservative form

    dq/dt = -[F(i+1) - F(i)]/dx - [G(k+1) - G(k)]/dz + nu * lap(q),

where F(i) = U * q_face is the flux between q[.., i-1] and q[.., i] and
G(k) = W * q_face the flux between q[k-1, ..] and q[k, ..]. U and W are the
advecting velocities interpolated (second order) to the flux positions, and
q_face is reconstructed by the chosen scheme:

- ``upwind5``   fifth-order upwind-biased (default; robust and low-dissipation)
- ``centered2`` second-order centred (non-dissipative)
- ``upwind1``   first-order upwind (as in kh2d-solver; very diffusive)
"""

from __future__ import annotations

from numba import njit, prange

SCHEMES = {"upwind1": 0, "centered2": 1, "upwind5": 2}

# kinds of quantity, which fix where the advecting velocities live
SCALAR, U_MOMENTUM, W_MOMENTUM = 0, 1, 2


@njit(inline="always")
def reconstruct(qm3, qm2, qm1, qp0, qp1, qp2, vel, scheme):
    """Value at the face between qm1 and qp0, upwinded by the sign of vel."""
    if scheme == 0:
        return qm1 if vel >= 0.0 else qp0
    if scheme == 1:
        return 0.5 * (qm1 + qp0)
    if vel >= 0.0:
        return (2.0 * qm3 - 13.0 * qm2 + 47.0 * qm1 + 27.0 * qp0 - 3.0 * qp1) / 60.0
    return (2.0 * qp2 - 13.0 * qp1 + 47.0 * qp0 + 27.0 * qm1 - 3.0 * qm2) / 60.0


@njit(inline="always")
def _x_velocity(u, K, I, kind):
    """Advecting u at the x-flux position between q[K, I-1] and q[K, I]."""
    if kind == SCALAR:
        return u[K, I]
    if kind == U_MOMENTUM:
        return 0.5 * (u[K, I - 1] + u[K, I])
    return 0.5 * (u[K - 1, I] + u[K, I])


@njit(inline="always")
def _z_velocity(w, K, I, kind):
    """Advecting w at the z-flux position between q[K-1, I] and q[K, I]."""
    if kind == SCALAR:
        return w[K, I]
    if kind == U_MOMENTUM:
        return 0.5 * (w[K, I - 1] + w[K, I])
    return 0.5 * (w[K - 1, I] + w[K, I])


@njit(parallel=True, cache=True)
def advection_diffusion(q, u, w, kind, scheme, nu, k_lo, k_hi, nx, g, dx, dz, flux_z, out):
    """Write the flux-form advection + diffusion tendency of rows k_lo..k_hi-1 into out.

    q, u, w are padded with filled ghosts; out and flux_z are unpadded.
    """
    for k in prange(k_lo, k_hi + 1):
        K = k + g
        for i in range(nx):
            I = i + g
            vel = _z_velocity(w, K, I, kind)
            flux_z[k, i] = vel * reconstruct(
                q[K - 3, I],
                q[K - 2, I],
                q[K - 1, I],
                q[K, I],
                q[K + 1, I],
                q[K + 2, I],
                vel,
                scheme,
            )
    inv_dx2 = 1.0 / (dx * dx)
    inv_dz2 = 1.0 / (dz * dz)
    for k in prange(k_lo, k_hi):
        K = k + g
        vel = _x_velocity(u, K, g, kind)
        flux_left = vel * reconstruct(
            q[K, g - 3], q[K, g - 2], q[K, g - 1], q[K, g], q[K, g + 1], q[K, g + 2], vel, scheme
        )
        for i in range(nx):
            I = i + g
            vel = _x_velocity(u, K, I + 1, kind)
            flux_right = vel * reconstruct(
                q[K, I - 2],
                q[K, I - 1],
                q[K, I],
                q[K, I + 1],
                q[K, I + 2],
                q[K, I + 3],
                vel,
                scheme,
            )
            centre = q[K, I]
            laplacian = (q[K, I + 1] + q[K, I - 1] - 2.0 * centre) * inv_dx2 + (
                q[K + 1, I] + q[K - 1, I] - 2.0 * centre
            ) * inv_dz2
            out[k, i] = (
                -(flux_right - flux_left) / dx
                - (flux_z[k + 1, i] - flux_z[k, i]) / dz
                + nu * laplacian
            )
            flux_left = flux_right


@njit(parallel=True, cache=True)
def add_buoyancy(b, k_lo, k_hi, nx, g, out_w):
    """w tendency += b averaged to the z-face: (b[k-1] + b[k]) / 2."""
    for k in prange(k_lo, k_hi):
        K = k + g
        for i in range(nx):
            out_w[k, i] += 0.5 * (b[K - 1, i + g] + b[K, i + g])
