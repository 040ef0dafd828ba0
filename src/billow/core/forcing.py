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

from .advection import advection_diffusion
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
    out = np.zeros_like(model.tendencies[name])
    advection_diffusion(
        (padded,),
        np.array([field.diffusivity]),
        at_rest_u,
        at_rest_w,
        KIND[field.location],
        model.scheme.coefficients,
        field.rows,
        grid.constants,
        numba.get_num_threads(),
        (out,),
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


@njit(parallel=True, cache=True)
def _adjoint_source(u, w, dx, dz, periodic_z, zeta):
    """zeta = Dz^T u + Dx^T w on the cell corners (the rows of ``zeta``):

        zeta[k, i] = (u[k-1, i] - u[k, i]) / dz + (w[k, i] - w[k, i-1]) / dx,

    i periodic; u = 0 beyond the walls (nz + 1 corner rows), or k periodic (nz rows).
    """
    corner_rows, nx = zeta.shape
    nz = u.shape[0]
    for k in prange(corner_rows):
        for i in range(nx):
            above = u[k, i] if k < nz else 0.0
            if k > 0:
                below = u[k - 1, i]
            elif periodic_z:
                below = u[nz - 1, i]
            else:
                below = 0.0
            west = w[k, i - 1] if i > 0 else w[k, nx - 1]
            zeta[k, i] = (below - above) / dz + (w[k, i] - west) / dx


@njit(parallel=True, cache=True)
def _velocity_and_squares(psi, dx, dz, periodic_z, fu, fw, fu_squared, fw_squared):
    """f = (d psi/dz, -d psi/dx) from psi on the cell corners, and f^2 elementwise:

        fu[k, i] = (psi[k+1, i] - psi[k, i]) / dz,   fw[k, i] = -(psi[k, i+1] - psi[k, i]) / dx,

    i periodic; fw = 0 on the wall rows unless z is periodic.
    """
    nz, nx = fu.shape
    for k in prange(nz + 1):
        if k < nz:
            for i in range(nx):
                value = (psi[k + 1, i] - psi[k, i]) / dz
                fu[k, i] = value
                fu_squared[k, i] = value * value
        wall = not periodic_z and (k == 0 or k == nz)
        for i in range(nx):
            east = psi[k, i + 1] if i < nx - 1 else psi[k, 0]
            value = 0.0 if wall else -(east - psi[k, i]) / dx
            fw[k, i] = value
            fw_squared[k, i] = value * value


@njit(parallel=True, cache=True)
def _add_force(tendency_u, tendency_w, fu, fw, inverse_sqrt_dt, periodic_z):
    """Tendencies += F = f / sqrt(dt): all u rows; the w rows off the walls."""
    nz, nx = fu.shape
    for k in prange(nz):
        for i in range(nx):
            tendency_u[k, i] += fu[k, i] * inverse_sqrt_dt
    first, last = (0, nz + 1) if periodic_z else (1, nz)
    for k in prange(first, last):
        for i in range(nx):
            tendency_w[k, i] += fw[k, i] * inverse_sqrt_dt


@njit(parallel=True, cache=True)
def _midpoint_work(force, before, after_padded, ghost, out):
    """out = force (before + after) / 2 elementwise, the work density at the midpoint
    (``after`` from the padded state: after[k, i] = after_padded[k + ghost, i + ghost])."""
    rows, nx = out.shape
    for k in prange(rows):
        after = after_padded[k + ghost, ghost : ghost + nx]
        for i in range(nx):
            out[k, i] = force[k, i] * (0.5 * (before[k, i] + after[i]))


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

    The force is built once per step, in work arrays reused every step.
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
        corner_rows = grid.nz if grid.periodic_z else grid.nz + 1
        self.z_basis_adjoint = self.z_basis[:corner_rows].conj().T
        # work arrays, reused every step
        spectrum_columns = grid.nx // 2 + 1
        self.zeta = np.empty((corner_rows, grid.nx))
        self.zeta_spectrum = np.empty((corner_rows, spectrum_columns), dtype=complex)
        self.projection = np.empty(self.active.shape, dtype=complex)
        self.psi_spectrum = np.empty((grid.nz + 1, spectrum_columns), dtype=complex)
        self.psi = np.empty((grid.nz + 1, grid.nx))
        u_shape, w_shape = (grid.nz, grid.nx), (grid.nz + 1, grid.nx)
        self.force_buffers = (np.empty(u_shape), np.empty(w_shape))
        self.products = (np.empty(u_shape), np.empty(w_shape))  # f^2, then F . u_mid
        self.force: tuple[np.ndarray, np.ndarray] | None = None  # f, normalised
        self.inverse_sqrt_dt = 0.0  # F = f / sqrt(dt) of the step
        self.step_start: int | None = None  # iteration whose force is drawn
        self.velocity_before = (np.empty(u_shape), np.empty(w_shape))

    def _velocity(self, amplitudes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """f(A) into self.force_buffers, f^2 into self.products."""
        grid = self.grid
        np.matmul(self.z_basis, amplitudes, out=self.psi_spectrum)
        np.fft.irfft(self.psi_spectrum, n=grid.nx, axis=1, out=self.psi)
        fu, fw = self.force_buffers
        _velocity_and_squares(self.psi, grid.dx, grid.dz, grid.periodic_z, fu, fw, *self.products)
        return fu, fw

    def _projections(self, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        """V with sum f(A) . (u, w) = (2 / nx) Re sum A conj(V): the adjoint of A -> f(A),
        i.e. the transform of zeta = Dz^T u + Dx^T w on the cell corners."""
        grid = self.grid
        _adjoint_source(u, w, grid.dx, grid.dz, grid.periodic_z, self.zeta)
        np.fft.rfft(self.zeta, axis=1, out=self.zeta_spectrum)
        np.matmul(self.z_basis_adjoint, self.zeta_spectrum, out=self.projection)
        return np.multiply(self.projection, self.active, out=self.projection)

    def draw(self, u: np.ndarray, w: np.ndarray) -> None:
        """New force f, orthogonal to the velocity (u, w) and normalised."""
        shape = self.active.shape
        amplitudes = (
            self.rng.standard_normal(shape) + 1j * self.rng.standard_normal(shape)
        ) * self.active
        V = self._projections(u, w)
        norm = np.vdot(V, V).real
        if norm > 0:
            amplitudes -= (np.vdot(V, amplitudes).real / norm) * V
        fu, fw = self._velocity(amplitudes)
        grid = self.grid
        fu_squared, fw_squared = self.products
        energy = 0.5 * (
            np.sum(fu_squared) + np.sum(fw_squared[:-1] if grid.periodic_z else fw_squared)
        )
        scale = np.sqrt(self.rate * grid.Lx * grid.Lz / (energy * grid.cell_area))
        np.multiply(fu, scale, out=fu)
        np.multiply(fw, scale, out=fw)
        self.force = (fu, fw)

    def __call__(self, model: Model, t: float, tendencies: dict[str, np.ndarray]) -> None:
        if self.step_start != model.iteration:  # first stage of a new step: new force
            self.step_start = model.iteration
            for before, name in zip(self.velocity_before, ("u", "w")):
                np.copyto(before, model.interior(name))
            self.draw(*self.velocity_before)
            self.inverse_sqrt_dt = 1.0 / np.sqrt(model.last_dt)
        fu, fw = self.force
        _add_force(
            tendencies["u"], tendencies["w"], fu, fw, self.inverse_sqrt_dt, self.grid.periodic_z
        )

    def injected_power(self, model: Model) -> float:
        """sum F . (u^n + u^{n+1}) / 2 dA over the last step (midpoint work rate)."""
        if self.force is None:
            return 0.0
        work_u, work_w = self.products
        for force, before, name, out in zip(self.force, self.velocity_before, "uw", self.products):
            _midpoint_work(force, before, model.state[name], self.grid.ghost, out)
        if self.grid.periodic_z:
            work_w = work_w[:-1]
        work = np.sum(work_u) + np.sum(work_w)
        return float(work) * self.grid.cell_area / np.sqrt(model.last_dt)

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
