"""Body forces and sources added to the tendencies every stage.

A forcing is a callable ``forcing(model, t, tendencies)`` that adds to the
tendency arrays in place (see :class:`billow.core.model.Model`). A forcing that adds
buoyancy inside the domain says so in its ``buoyancy_source`` attribute (a
sentence), so that analysis knows that b is not conserved up to diffusion.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .advection import advection_diffusion, kernel_tuple
from .diagnostics import Diagnostic
from .grid import Location
from .model import KIND, Forcing, Model
from .operators import fill_ghosts


def diffusion_tendency(model: Model, name: str, values: np.ndarray) -> np.ndarray:
    """The model's discrete diffusion term kappa lap(q), for field ``name`` set to ``values``."""
    grid = model.grid
    field = model.field(name)
    padded = grid.zeros(field.location)
    grid.interior(padded, field.location)[...] = values
    fill_ghosts(padded, grid, field.location, field.parity)
    at_rest_u, at_rest_w = grid.zeros(Location.U), grid.zeros(Location.W)
    no_buoyancy = grid.zeros(Location.CENTRE)
    out = np.zeros_like(model.tendencies[name])
    advection_diffusion(
        kernel_tuple([padded]),
        1,
        np.array([field.diffusivity]),
        at_rest_u,
        at_rest_w,
        no_buoyancy,
        0.0,
        KIND[field.location],
        model.scheme.coefficients,
        field.rows,
        grid.constants,
        numba.get_num_threads(),
        kernel_tuple([out]),
    )
    return out


def hold_base_state(model: Model, base: dict[str, np.ndarray]) -> Forcing:
    """Forcing that cancels the viscous and diffusive decay of a parallel base state:

        F_u = -(1/Re) lap U(z),   S_b = -(1/(Re Pr)) lap B(z)

    with the model's discrete Laplacian, so that the base state (U(z), 0, B(z))
    is an exact steady solution of the discrete equations.
    """
    sources = {name: -diffusion_tendency(model, name, values) for name, values in base.items()}

    def hold(model: Model, t: float, tendencies: dict[str, np.ndarray]) -> None:
        for name, source in sources.items():
            tendencies[name] += source

    if "b" in sources:
        hold.buoyancy_source = "hold_base adds a buoyancy source"
    return hold


def kolmogorov_force(model: Model, amplitude: float, n: int) -> Forcing:
    """F = F0 sin(n k_z z) x_hat at the u points, k_z = 2 pi / Lz (Kolmogorov flow)."""
    grid = model.grid
    kz = 2 * np.pi * n / grid.Lz
    force = (
        amplitude * np.sin(kz * (grid.z_centre - grid.z_bottom))[:, None] * np.ones((1, grid.nx))
    )

    def push(model: Model, t: float, tendencies: dict[str, np.ndarray]) -> None:
        tendencies["u"] += force

    return push


def coriolis(model: Model, f: float, U: np.ndarray, dU_dz: np.ndarray) -> Forcing:
    """f-plane rotation about z in 2.5-D, with the base flow U(z) in thermal-wind balance:

        du/dt += f v,   dv/dt += -f (u - U(z)),   db/dt += -M^2 v,   M^2 = dB/dy = -f U'(z)

    The imposed spanwise pressure gradient dP/dy = -f U(z) holds U geostrophic and the
    spanwise buoyancy gradient M^2 keeps it in thermal-wind balance (its advection by v
    is the b source; terms proportional to y are dropped, as usual in 2.5-D).
    ``U`` is given on the u rows (z_centre) and ``dU_dz`` at the cell centres.
    """
    U = np.asarray(U, dtype=float).reshape(-1, 1)
    M2 = -f * np.asarray(dU_dz, dtype=float).reshape(-1, 1)

    def rotate(model: Model, t: float, tendencies: dict[str, np.ndarray]) -> None:
        u, v = model.interior("u"), model.interior("v")
        tendencies["u"] += f * v
        tendencies["v"] -= f * (u - U)
        v_centre = 0.5 * (v + np.roll(v, -1, axis=1))
        tendencies["b"] -= M2 * v_centre

    if f != 0.0:
        rotate.buoyancy_source = "the thermal-wind term -M^2 v of the rotation is a buoyancy source"
    return rotate


@njit(cache=True)
def _corner_row(below, above, below_weight, above_weight, east, west, inverse_dz, inverse_dx, out):
    """out = (below_weight below - above_weight above) / dz + (east - west) / dx, over rows
    indexed from 0 (so that the loop vectorises)."""
    for i in range(out.size):
        out[i] = (below[i] * below_weight - above[i] * above_weight) * inverse_dz + (
            east[i] - west[i]
        ) * inverse_dx


@njit(parallel=True, cache=True)
def _adjoint_source(u_padded, w_padded, ghost, dx, dz, periodic_z, zeta):
    """zeta = Dz^T u + Dx^T w on the cell corners (the rows of ``zeta``), from padded
    states (q[k, i] = q_padded[k + ghost, i + ghost]; their ghost cells are not read):

        zeta[k, i] = (u[k-1, i] - u[k, i]) / dz + (w[k, i] - w[k, i-1]) / dx,

    i periodic; u = 0 beyond the walls (nz + 1 corner rows), or k periodic (nz rows).
    """
    corner_rows, nx = zeta.shape
    nz, g = u_padded.shape[0] - 2 * ghost, ghost
    inverse_dx, inverse_dz = 1.0 / dx, 1.0 / dz
    for row in prange(corner_rows):
        k = np.int64(row)  # signed, as nz - 1 is
        # u = 0 beyond a wall: a row is read (any row) and weighted 0
        above_weight = 1.0 if k < nz else 0.0
        below_weight = 1.0 if (k > 0 or periodic_z) else 0.0
        above = u_padded[g + min(k, nz - 1), g : g + nx]
        below = u_padded[g + (k - 1 if k > 0 else nz - 1), g : g + nx]
        w_row, out = w_padded[g + k, g : g + nx], zeta[k]
        _corner_row(
            below[1:], above[1:], below_weight, above_weight, w_row[1:], w_row[:-1],
            inverse_dz, inverse_dx, out[1:],
        )  # fmt: skip
        _corner_row(  # column 0's west neighbour is column nx - 1
            below[:1], above[:1], below_weight, above_weight, w_row[:1], w_row[nx - 1 :],
            inverse_dz, inverse_dx, out[:1],
        )  # fmt: skip


@njit(fastmath={"reassoc"}, cache=True)
def _dot(a, b):
    """sum a b over a row, vectorised: in an order fixed when compiled, not by threads."""
    total = 0.0
    for i in range(a.size):
        total += a[i] * b[i]
    return total


@njit(cache=True)
def _sum_in_order(values):
    """values[0] + values[1] + ... left to right (a parallel kernel's ``values.sum()``
    would be split between threads)."""
    total = 0.0
    for value in values:
        total += value
    return total


@njit(parallel=True, cache=True)
def _force_velocity(psi, dx, dz, periodic_z, fu, fw):
    """f = (d psi/dz, -d psi/dx) from psi on the cell corners; returns sum |f|^2 over the
    u points and the distinct w rows (not the top one when z is periodic):

        fu[k, i] = (psi[k+1, i] - psi[k, i]) / dz,   fw[k, i] = (psi[k, i] - psi[k, i+1]) / dx,

    i periodic; fw = 0 on the wall rows. Row sums, then rows in order: the same on any
    number of threads.
    """
    nz, nx = fu.shape
    inverse_dx, inverse_dz = 1.0 / dx, 1.0 / dz
    row_sums = np.empty(nz + 1)  # np.zeros would be a parallel loop of its own
    for k in prange(nz + 1):
        if k < nz:
            u_row, below, above = fu[k], psi[k], psi[k + 1]
            for i in range(nx):
                u_row[i] = (above[i] - below[i]) * inverse_dz
            row_sums[k] = _dot(u_row, u_row)
        else:
            row_sums[k] = 0.0
        w_row, row = fw[k], psi[k]
        if not periodic_z and (k == 0 or k == nz):
            for i in range(nx):
                w_row[i] = 0.0
        else:
            for i in range(nx - 1):
                w_row[i] = (row[i] - row[i + 1]) * inverse_dx
            w_row[nx - 1] = (row[nx - 1] - row[0]) * inverse_dx
            if k < nz:
                row_sums[k] += _dot(w_row, w_row)
    return _sum_in_order(row_sums)


@njit(parallel=True, cache=True)
def _add_force(tendency_u, tendency_w, fu, fw, factor, periodic_z):
    """Tendencies += F = factor f: all u rows; the w rows off the walls (in one parallel
    loop, as :func:`~billow.core.operators.subtract_gradient`)."""
    nz, nx = fu.shape
    first, last = (0, nz + 1) if periodic_z else (1, nz)
    for k in prange(nz + 1):
        if k < nz:
            for i in range(nx):
                tendency_u[k, i] += fu[k, i] * factor
        if first <= k < last:
            for i in range(nx):
                tendency_w[k, i] += fw[k, i] * factor


@njit(parallel=True, cache=True)
def _work(force, velocity_padded, ghost, rows):
    """sum force velocity over the first ``rows`` rows, the velocity from a padded state:
    q[k, i] = q_padded[k + ghost, i + ghost]. Row sums, then rows in order: the same on
    any number of threads."""
    nx = force.shape[1]
    row_sums = np.empty(rows)
    for k in prange(rows):
        row_sums[k] = _dot(force[k], velocity_padded[k + ghost, ghost : ghost + nx])
    return _sum_in_order(row_sums)


def restricted_fourier_matrices(nx: int, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rfft and irfft restricted to the columns n (0 < n < nx/2) as real matrices:

        analysis (nx, 2c) = [cos | sin](2 pi n j / nx):  q @ analysis = (Re, -Im) of rfft(q)[n]
        synthesis (2c, nx) = (2 / nx) [cos; -sin]:  [Re A | Im A] @ synthesis = irfft(A)

    for A zero outside ``columns`` (irfft's column n and its conjugate nx - n), with the
    phase 2 pi (n j mod nx) / nx reduced exactly."""
    phase = 2 * np.pi * (np.outer(np.arange(nx), columns) % nx) / nx
    cosine, sine = np.cos(phase), np.sin(phase)
    analysis = np.ascontiguousarray(np.hstack((cosine, sine)))
    synthesis = np.ascontiguousarray((2.0 / nx) * np.vstack((cosine.T, -sine.T)))
    return analysis, synthesis


class StochasticForcing:
    """Band-limited, divergence-free, white-in-time random body force (after Alvelius 1999).

    Each step draws random complex amplitudes A for the streamfunction modes
    psi_f = Re sum A exp(i kx x) Z(z) with |k| in [k_min, k_max] (Z: sines
    between walls, so the force is tangential there; exponentials for periodic
    z). As in Alvelius (1999), A is made orthogonal to the current velocity,
    so that sum F . u^n dA = 0 exactly: the injected power is then
    deterministic instead of a noisy random work. The force velocity
    f = (d psi_f/dz, -d psi_f/dx) is discretely divergence-free, normalised
    to 1/2 sum |f|^2 dA = rate Lx Lz, and applied as F = f / sqrt(dt), held
    fixed through the step's stages; the energy it adds per step is
    1/2 dt^2 sum |F|^2 dA = rate Lx Lz dt, for any dt.

    The force is built once per step, in work arrays reused every step, by
    transforms restricted to the forced modes: the z sums are products with the
    few forced Z(z), and the x transforms products with the few forced columns'
    cosines and sines (real matrices), on those few rows only. The force is kept
    unscaled, with its normalisation ``scale`` applied where it is added.
    """

    def __init__(self, model: Model, rate: float, k_min: float, k_max: float, seed: int):
        grid = model.grid
        self.grid, self.rate = grid, rate
        self.rng = np.random.default_rng(seed)
        kx = 2 * np.pi * np.arange(grid.nx // 2 + 1) / grid.Lx
        z = grid.z_face - grid.z_bottom
        if grid.periodic_z:
            m = np.arange(-(grid.nz // 2), grid.nz // 2 + 1)
            kz = 2 * np.pi * m / grid.Lz
            z_basis = np.exp(1j * np.outer(z, kz))
        else:
            m = np.arange(1, grid.nz)
            kz = np.pi * m / grid.Lz
            z_basis = np.sin(np.outer(z, kz)).astype(complex)
        magnitude = np.hypot(kz[:, None], kx[None, :])
        active = (magnitude >= k_min) & (magnitude <= k_max) & (kx[None, :] > 0)
        active[:, grid.nx // 2] = False  # the Nyquist column is not a travelling mode
        if not active.any():
            raise ValueError(
                f"no resolved mode has {k_min} <= |k| <= {k_max}; widen the forcing band"
            )
        rows = np.flatnonzero(active.any(axis=1))
        self.z_basis, self.active = z_basis[:, rows], active[rows]
        # Re psi = Re Z @ irfft(A) + Im Z @ irfft(i A); V = rfft(Re Z^T zeta) - i rfft(Im Z^T zeta)
        parts = (self.z_basis.real, self.z_basis.imag) if grid.periodic_z else (self.z_basis.real,)
        corner_rows = grid.nz if grid.periodic_z else grid.nz + 1
        self.z_synthesis = np.ascontiguousarray(np.hstack(parts))
        self.z_analysis = np.ascontiguousarray(self.z_synthesis[:corner_rows].T)
        # the x transforms restricted to the forced columns n (0 < n < nx/2), as products
        self.columns = np.flatnonzero(self.active.any(axis=0))
        self.x_analysis, self.x_synthesis = restricted_fourier_matrices(grid.nx, self.columns)
        self.active_columns = np.ascontiguousarray(self.active[:, self.columns])
        # work arrays, reused every step
        self.zeta = np.empty((corner_rows, grid.nx))
        self.zeta_z_modes = np.empty((len(self.z_analysis), grid.nx))
        self.psi_z_modes = np.empty((len(self.z_analysis), grid.nx))
        self.psi = np.empty((grid.nz + 1, grid.nx))
        u_shape, w_shape = (grid.nz, grid.nx), (grid.nz + 1, grid.nx)
        self.velocity_buffers = (np.empty(u_shape), np.empty(w_shape))  # f before its scaling
        self.scale = 0.0  # f = scale * velocity_buffers: 1/2 sum |f|^2 dA = rate Lx Lz
        self.inverse_sqrt_dt = 0.0  # F = f / sqrt(dt) of the step
        self.step_start: int | None = None  # iteration whose force is drawn
        self.active_count = int(self.active.sum())

    @property
    def force(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(f_u, f_w) of the step, normalised (new arrays); None before the first draw."""
        if self.scale == 0.0:
            return None
        fu, fw = self.velocity_buffers
        return self.scale * fu, self.scale * fw

    def stage_force(self) -> tuple[np.ndarray, np.ndarray]:
        """(F_u, F_w) = f / sqrt(dt) as each stage adds it (new arrays; after a draw)."""
        fu, fw = self.velocity_buffers
        factor = self.scale * self.inverse_sqrt_dt
        return fu * factor, fw * factor

    def _velocity(self, amplitudes: np.ndarray) -> float:
        """f(A) into self.velocity_buffers, A given on the forced columns; returns
        sum |f|^2 (distinct points)."""
        grid, modes = self.grid, len(self.active)
        psi_x = self.psi_z_modes
        np.matmul(
            np.hstack((amplitudes.real, amplitudes.imag)), self.x_synthesis, out=psi_x[:modes]
        )
        if grid.periodic_z:  # irfft(i A)
            np.matmul(
                np.hstack((-amplitudes.imag, amplitudes.real)), self.x_synthesis, out=psi_x[modes:]
            )
        np.matmul(self.z_synthesis, psi_x, out=self.psi)
        fu, fw = self.velocity_buffers
        return _force_velocity(self.psi, grid.dx, grid.dz, grid.periodic_z, fu, fw)

    def _projections(self, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        """V on the forced columns, with sum f(A) . (u, w) = (2 / nx) Re sum A conj(V): the
        adjoint of A -> f(A), i.e. the transform of zeta = Dz^T u + Dx^T w on the cell
        corners; u and w padded, as in a model's state."""
        grid, modes = self.grid, len(self.active)
        _adjoint_source(u, w, grid.ghost, grid.dx, grid.dz, grid.periodic_z, self.zeta)
        np.matmul(self.z_analysis, self.zeta, out=self.zeta_z_modes)
        parts = self.zeta_z_modes @ self.x_analysis  # (Re, -Im) of rfft's forced columns
        count = len(self.columns)
        spectrum = parts[:, :count] - 1j * parts[:, count:]
        V = spectrum[:modes] - 1j * spectrum[modes:] if grid.periodic_z else spectrum
        return V * self.active_columns

    def draw(self, u: np.ndarray, w: np.ndarray) -> None:
        """New force f, orthogonal to the velocity (u, w), padded as in a model's state,
        and its normalisation ``scale``. The random amplitudes of the forced modes are
        drawn in the order of ``active`` (row by row), their real parts first."""
        amplitudes = np.zeros(self.active_columns.shape, dtype=complex)
        count = self.active_count
        amplitudes[self.active_columns] = self.rng.standard_normal(
            count
        ) + 1j * self.rng.standard_normal(count)
        V = self._projections(u, w)
        norm = np.vdot(V, V).real
        if norm > 0:
            amplitudes -= (np.vdot(V, amplitudes).real / norm) * V
        grid = self.grid
        energy = 0.5 * self._velocity(amplitudes)
        self.scale = np.sqrt(self.rate * grid.Lx * grid.Lz / (energy * grid.cell_area))

    def __call__(self, model: Model, t: float, tendencies: dict[str, np.ndarray]) -> None:
        if self.step_start != model.iteration:  # first stage of a new step: new force
            self.step_start = model.iteration  # the state is the step's start u^n
            self.draw(model.state["u"], model.state["w"])
            self.inverse_sqrt_dt = 1.0 / np.sqrt(model.last_dt)
        fu, fw = self.velocity_buffers
        factor = self.scale * self.inverse_sqrt_dt
        _add_force(tendencies["u"], tendencies["w"], fu, fw, factor, self.grid.periodic_z)

    def injected_power(self, model: Model) -> float:
        """sum F . (u^n + u^{n+1}) / 2 dA over the last step (midpoint work rate), as
        sum F . u^{n+1} dA / 2: the force is orthogonal to u^n (sum F . u^n dA = 0 to
        round-off, by construction). Meaningful after a step, whose first stage drew the
        force."""
        if self.scale == 0.0:
            return 0.0
        grid = self.grid
        fu, fw = self.velocity_buffers
        w_rows = grid.nz if grid.periodic_z else grid.nz + 1
        work = _work(fu, model.state["u"], grid.ghost, grid.nz)
        work += _work(fw, model.state["w"], grid.ghost, w_rows)
        return 0.5 * float(work) * self.scale * grid.cell_area / np.sqrt(model.last_dt)

    @staticmethod
    def velocity_before(model: Model) -> tuple[np.ndarray, np.ndarray]:
        """(u^n, w^n) without ghost cells: the velocity at the start of the step the force
        was drawn for."""
        g = model.grid
        return (
            g.interior(model.start_of_step("u"), Location.U),
            g.interior(model.start_of_step("w"), Location.W),
        )

    def get_state(self) -> dict:
        """What a checkpoint needs to continue the random sequence exactly."""
        return {"rng": self.rng.bit_generator.state, "step_start": self.step_start}

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.step_start = state["step_start"]

    def diagnostics(self) -> list[Diagnostic]:
        return [
            Diagnostic(
                "injected_power",
                "power injected by the stochastic forcing",
                "1",
                self.injected_power,
            )
        ]
