"""Body forces and sources added to the tendencies every stage.

A forcing is a callable ``forcing(model, t, tendencies)`` that adds to the
tendency arrays in place (see :class:`billow.core.model.Model`). A forcing that adds
buoyancy inside the domain says so in its ``buoyancy_source`` attribute (a
sentence), so that analysis knows that b is not conserved up to diffusion.
"""

from __future__ import annotations

import numba
import numpy as np

from .advection import advection_diffusion
from .diagnostics import Diagnostic
from .grid import Location
from .model import KIND, Forcing, Model
from .operators import fill_ghosts, velocity_from_streamfunction


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
        self.force: tuple[np.ndarray, np.ndarray] | None = None
        self.step_force: tuple[np.ndarray, np.ndarray] | None = None  # F = f / sqrt(dt)
        self.step_start: int | None = None  # iteration whose force is drawn
        self.velocity_before: tuple[np.ndarray, np.ndarray] | None = None

    def _velocity(self, amplitudes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grid = self.grid
        psi = np.fft.irfft(self.z_basis @ amplitudes, n=grid.nx, axis=1)
        u, w = velocity_from_streamfunction(grid, psi)
        if not grid.periodic_z:
            w[[0, -1]] = 0.0
        return u, w

    def _projections(self, u: np.ndarray, w: np.ndarray) -> np.ndarray:
        """V with sum f(A) . (u, w) = (2 / nx) Re sum A conj(V): the adjoint of A -> f(A),
        i.e. the transform of zeta = Dz^T u + Dx^T w on the cell corners."""
        grid = self.grid
        if grid.periodic_z:
            u_below = np.roll(u, 1, axis=0)
            zeta = (u_below - u) / grid.dz
            w = w[:-1]
        else:
            padded = np.vstack([np.zeros((1, grid.nx)), u, np.zeros((1, grid.nx))])
            zeta = (padded[:-1] - padded[1:]) / grid.dz
        zeta = zeta + (w - np.roll(w, 1, axis=1)) / grid.dx
        spectrum = np.fft.rfft(zeta, axis=1)
        rows = zeta.shape[0]
        return (self.z_basis[:rows].conj().T @ spectrum) * self.active

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
        energy = 0.5 * (np.sum(fu**2) + np.sum((fw[:-1] if grid.periodic_z else fw) ** 2))
        scale = np.sqrt(self.rate * grid.Lx * grid.Lz / (energy * grid.cell_area))
        self.force = (scale * fu, scale * fw)

    def __call__(self, model: Model, t: float, tendencies: dict[str, np.ndarray]) -> None:
        if self.step_start != model.iteration:  # first stage of a new step: new force
            self.step_start = model.iteration
            self.velocity_before = (model.interior("u").copy(), model.interior("w").copy())
            self.draw(*self.velocity_before)
            inverse_sqrt_dt = 1.0 / np.sqrt(model.last_dt)
            self.step_force = (self.force[0] * inverse_sqrt_dt, self.force[1] * inverse_sqrt_dt)
        tendencies["u"] += self.step_force[0]
        rows = slice(0, None) if self.grid.periodic_z else slice(1, -1)
        tendencies["w"][rows] += self.step_force[1][rows]

    def injected_power(self, model: Model) -> float:
        """sum F . (u^n + u^{n+1}) / 2 dA over the last step (midpoint work rate)."""
        if self.force is None:
            return 0.0
        fu, fw = self.force
        u_before, w_before = self.velocity_before
        u_mid = 0.5 * (u_before + model.interior("u"))
        w_mid = 0.5 * (w_before + model.interior("w"))
        if self.grid.periodic_z:
            fw, w_mid = fw[:-1], w_mid[:-1]
        work = np.sum(fu * u_mid) + np.sum(fw * w_mid)
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
