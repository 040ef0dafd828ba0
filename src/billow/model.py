"""The Boussinesq model: prognostic fields on the C-grid and their time step.

Optionally 2.5-D: a spanwise velocity v(x, z) (no y-dependence) is advected
and diffused like u; rotation and other couplings enter as forcings.

Non-dimensional equations (design.md section 2):

    du/dt + (u.grad)u = -grad p + b z_hat + (1/Re) lap u + F
    db/dt + (u.grad)b + w N0^2 = (1/(Re Pr)) lap b
    dc/dt + (u.grad)c = (1/(Re Sc)) lap c          (passive tracers)
    div u = 0

b is the buoyancy departure from an optional uniform background
stratification N0^2 z (``background_N2``; needed for stratified periodic-z
flows). With periodic z the domain-mean buoyancy is excluded from the
vertical force (it is balanced by a mean pressure gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import operators
from .advection import SCALAR, SCHEMES, U_MOMENTUM, W_MOMENTUM, add_buoyancy, advection_diffusion
from .grid import Grid
from .poisson import PoissonSolver
from .timestepping import SSPRK3_STAGES, rk_stage_update

BOUNDARY_CONDITIONS = ("free-slip", "no-slip", "periodic")

# A forcing adds to the tendencies in place: forcing(model, t, tendencies).
Forcing = Callable[["Model", float, dict[str, np.ndarray]], None]


@dataclass(frozen=True)
class Field:
    """How one prognostic field lives on the grid and is transported."""

    name: str
    location: str  # "u", "w" or "centre"
    kind: int  # advection kernel kind
    diffusivity: float
    parity: float  # mirror sign of the ghost cells at walls
    rows: tuple[int, int]  # interior rows that are updated


class Model:
    """Prognostic state (u, w, b, tracers), tendencies and the SSP-RK3 step."""

    def __init__(
        self,
        grid: Grid,
        *,
        Re: float,
        Pr: float = 1.0,
        Sc: float = 1.0,
        advection: str = "upwind5",
        bc_z: str = "free-slip",
        tracers: tuple[str, ...] = (),
        spanwise_velocity: bool = False,
        background_N2: float = 0.0,
        forcings: tuple[Forcing, ...] = (),
    ):
        if (bc_z == "periodic") != grid.periodic_z:
            raise ValueError("grid.periodic_z must match bc_z == 'periodic'")
        self.grid = grid
        self.Re, self.Pr, self.Sc = Re, Pr, Sc
        self.bc_z = bc_z
        self.scheme = SCHEMES[advection]
        self.background_N2 = background_N2
        self.forcings = list(forcings)
        nu = 1.0 / Re
        nz = grid.nz
        w_rows = (0, nz) if grid.periodic_z else (1, nz)
        u_parity = -1.0 if bc_z == "no-slip" else 1.0
        self.fields = [
            Field("u", "u", U_MOMENTUM, nu, u_parity, (0, nz)),
            Field("w", "w", W_MOMENTUM, nu, -1.0, w_rows),
            Field("b", "centre", SCALAR, nu / Pr, 1.0, (0, nz)),
        ]
        if spanwise_velocity:  # 2.5-D: v(x, z) lives with u on the x-faces
            self.fields.append(Field("v", "u", U_MOMENTUM, nu, u_parity, (0, nz)))
        self.fields += [Field(name, "centre", SCALAR, nu / Sc, 1.0, (0, nz)) for name in tracers]
        self.tracer_names = tuple(tracers)
        self.state = {f.name: grid.zeros(f.location) for f in self.fields}
        self._start = {f.name: grid.zeros(f.location) for f in self.fields}
        self.tendencies = {
            f.name: np.zeros((grid.nz + 1 if f.location == "w" else grid.nz, grid.nx))
            for f in self.fields
        }
        self._flux_z = np.zeros((grid.nz + 1, grid.nx))
        self._divergence = np.zeros((grid.nz, grid.nx))
        self.poisson = PoissonSolver(grid)
        self.time = 0.0
        self.iteration = 0
        self.last_dt = 0.0  # dt of the step in progress (or last taken)

    # --- access -----------------------------------------------------------
    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def interior(self, name: str) -> np.ndarray:
        """View of a field without ghost cells (w includes both wall faces)."""
        return self.grid.interior(self.state[name], self.field(name).location)

    def set(self, **arrays: np.ndarray) -> None:
        """Set interior values of fields, then project the velocity onto div u = 0."""
        for name, values in arrays.items():
            self.interior(name)[...] = values
        self.fill_all_ghosts()  # zeroes w on the walls before projecting
        self.project()
        self.fill_all_ghosts()

    def fill_all_ghosts(self) -> None:
        for f in self.fields:
            operators.fill_ghosts(self.state[f.name], self.grid, f.location, f.parity)

    # --- numerics ---------------------------------------------------------
    def divergence(self) -> np.ndarray:
        """Discrete div u at cell centres (a work array, overwritten by the next call)."""
        g = self.grid
        operators.divergence(
            self.state["u"], self.state["w"], g.nx, g.nz, g.ghost, g.dx, g.dz, self._divergence
        )
        return self._divergence

    def project(self) -> None:
        """u <- u - grad phi with lap phi = div u: the exact discrete projection."""
        g = self.grid
        if g.periodic_z:  # the divergence of the top cells reads the duplicate w row nz
            operators.fill_ghosts(self.state["w"], g, "w")
        phi = self.poisson.solve(self.divergence())
        operators.subtract_gradient(
            self.state["u"], self.state["w"], phi, g.nx, g.nz, g.ghost, g.dx, g.dz, g.periodic_z
        )

    def compute_tendencies(self, t: float) -> dict[str, np.ndarray]:
        """Advection, diffusion, buoyancy, background stratification and forcings."""
        g = self.grid
        self.fill_all_ghosts()
        u, w = self.state["u"], self.state["w"]
        for f in self.fields:
            advection_diffusion(
                self.state[f.name],
                u,
                w,
                f.kind,
                self.scheme,
                f.diffusivity,
                f.rows[0],
                f.rows[1],
                g.nx,
                g.ghost,
                g.dx,
                g.dz,
                self._flux_z,
                self.tendencies[f.name],
            )
        b = self.state["b"]
        if g.periodic_z:
            b = b - self.interior("b").mean()
        add_buoyancy(b, *self.field("w").rows, g.nx, g.ghost, self.tendencies["w"])
        if self.background_N2:
            w_centre = 0.5 * (self.interior("w")[:-1] + self.interior("w")[1:])
            self.tendencies["b"] -= self.background_N2 * w_centre
        for forcing in self.forcings:
            forcing(self, t, self.tendencies)
        return self.tendencies

    def step(self, dt: float) -> None:
        """Advance by dt with SSP-RK3, projecting after every stage."""
        g = self.grid
        self.last_dt = dt
        for f in self.fields:
            np.copyto(self._start[f.name], self.state[f.name])
        for a0, a1, offset in SSPRK3_STAGES:
            self.compute_tendencies(self.time + offset * dt)
            for f in self.fields:
                rk_stage_update(
                    self.state[f.name],
                    self._start[f.name],
                    self.tendencies[f.name],
                    a0,
                    a1,
                    dt,
                    f.rows[0],
                    f.rows[1],
                    g.nx,
                    g.ghost,
                )
            self.project()
        self.fill_all_ghosts()
        self.time += dt
        self.iteration += 1
