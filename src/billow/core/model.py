"""The Boussinesq model: prognostic fields on the C-grid and their time step.

Optionally 2.5-D: a spanwise velocity v(x, z) (no y-dependence) is advected
and diffused like u; rotation and other couplings enter as forcings.

Non-dimensional equations (see the README):

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

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numba
import numpy as np

from . import operators
from .advection import SCALAR, U_MOMENTUM, W_MOMENTUM, advection_diffusion, kernel_tuple
from .grid import Grid, Location
from .poisson import PoissonSolver
from .schemes import SCHEMES
from .timestepping import (
    TimeStepper,
    interpolate_in_step,
    rk_stage_update,
)

BOUNDARY_CONDITIONS = ("free-slip", "no-slip", "periodic")

# A forcing adds to the tendencies in place: forcing(model, t, tendencies).
Forcing = Callable[["Model", float, dict[str, np.ndarray]], None]

# the advecting velocities of a field follow from where it lives
KIND = {Location.CENTRE: SCALAR, Location.U: U_MOMENTUM, Location.W: W_MOMENTUM}


@dataclass(frozen=True)
class FieldSpec:
    """How one prognostic field lives on the grid and is transported."""

    name: str
    location: Location
    diffusivity: float
    parity: float  # mirror sign of the ghost cells at walls
    rows: tuple[int, int]  # interior rows that are updated


@dataclass(frozen=True)
class FieldGroup:
    """The fields at one location, handed together to the kernels (shared velocities), in
    tuples padded as :func:`~billow.core.advection.kernel_tuple` makes them: ``count`` of
    them are the group's."""

    location: Location
    kind: int
    rows: tuple[int, int]
    count: int
    states: tuple[np.ndarray, ...]
    starts: tuple[np.ndarray, ...]
    first_stages: tuple[np.ndarray, ...]
    tendencies: tuple[np.ndarray, ...]
    diffusivities: np.ndarray


class Model:
    """Prognostic state (u, w, b, tracers) on the C-grid, its tendencies and projection.

    A :class:`~billow.core.timestepping.TimeStepper` advances it: ``time_stepper`` names
    its Runge-Kutta scheme (default: the advection scheme's, RK53 for upwind5 and SSP-RK3
    for the others).
    """

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
        time_stepper: str | None = None,
    ):
        if (bc_z == "periodic") != grid.periodic_z:
            raise ValueError("grid.periodic_z must match bc_z == 'periodic'")
        self.grid = grid
        self.Re, self.Pr, self.Sc = Re, Pr, Sc
        self.bc_z = bc_z
        self.scheme = SCHEMES[advection]
        self._coefficients = self.scheme.coefficients
        self.background_N2 = background_N2
        self.forcings = list(forcings)
        self.stepper = TimeStepper(time_stepper or self.scheme.time_stepper)
        nu = 1.0 / Re
        nz = grid.nz
        w_rows = (0, nz) if grid.periodic_z else (1, nz)
        u_parity = -1.0 if bc_z == "no-slip" else 1.0
        self.fields = [
            FieldSpec("u", Location.U, nu, u_parity, (0, nz)),
            FieldSpec("w", Location.W, nu, -1.0, w_rows),
            FieldSpec("b", Location.CENTRE, nu / Pr, 1.0, (0, nz)),
        ]
        if spanwise_velocity:  # 2.5-D: v(x, z) lives with u on the x-faces
            self.fields.append(FieldSpec("v", Location.U, nu, u_parity, (0, nz)))
        self.fields += [FieldSpec(name, Location.CENTRE, nu / Sc, 1.0, (0, nz)) for name in tracers]
        self.tracer_names = tuple(tracers)
        self._fields_by_name = {f.name: f for f in self.fields}
        self.state = {f.name: grid.zeros(f.location) for f in self.fields}
        self._start = {f.name: grid.zeros(f.location) for f in self.fields}
        # q1 of a step that keeps it, for dense output: kept as q_n is, its interior only
        self._first_stage = {f.name: grid.zeros(f.location) for f in self.fields}
        self.tendencies = {f.name: np.zeros((grid.rows(f.location), grid.nx)) for f in self.fields}
        self.groups = [self._group(location) for location in Location]
        self._on_w_faces = np.array([f.location == Location.W for f in self.fields])
        self._parities = np.array([f.parity for f in self.fields])
        self._interior_rows = np.array([grid.rows(f.location) for f in self.fields])
        self.poisson = PoissonSolver(grid)
        self._divergence = self.poisson.rhs  # the solver reads it where it is
        self.time = 0.0
        self.iteration = 0
        self.last_dt = 0.0  # dt of the step in progress (or last taken)
        self._start_kept = True  # whether the step in progress has kept its start q0
        self._keep_first_stage = False  # whether the next stage update keeps q1
        self._first_stage_iteration = -1  # the step whose q1 is kept
        self._interpolated: dict[str, np.ndarray] = {}

    def _group(self, location: Location) -> FieldGroup:
        members = [f for f in self.fields if f.location == location]
        return FieldGroup(
            location,
            KIND[location],
            members[0].rows,
            len(members),
            kernel_tuple([self.state[f.name] for f in members]),
            kernel_tuple([self._start[f.name] for f in members]),
            kernel_tuple([self._first_stage[f.name] for f in members]),
            kernel_tuple([self.tendencies[f.name] for f in members]),
            np.array([f.diffusivity for f in members]),
        )

    @property
    def buoyancy_source(self) -> str | None:
        """What adds buoyancy inside the domain besides diffusion (a forcing's sentence),
        or None: the irreversible mixing rate dBPE/dt - Phi_i needs b conserved."""
        sources = [getattr(f, "buoyancy_source", None) for f in self.forcings]
        return next((source for source in sources if source), None)

    # --- access -----------------------------------------------------------
    def field(self, name: str) -> FieldSpec:
        return self._fields_by_name[name]

    def interior(self, name: str) -> np.ndarray:
        """View of a field without ghost cells (w includes both wall faces)."""
        return self.grid.interior(self.state[name], self.field(name).location)

    def start_of_step(self, name: str) -> np.ndarray:
        """Field ``name`` at the start of the step in progress or of the last one taken
        (q_n of the Runge-Kutta stages), padded as in ``state``: its interior is kept (w's
        wall rows stay zero), its ghost cells are not."""
        return self._start[name]

    def set(self, **arrays: np.ndarray) -> None:
        """Set interior values of fields, then project the velocity onto div u = 0."""
        for name, values in arrays.items():
            self.interior(name)[...] = values
        self.fill_all_ghosts()  # zeroes w on the walls before projecting
        self.project()
        self.fill_all_ghosts()

    def largest_magnitudes_and_rate(self) -> tuple[dict[str, float], float]:
        """max |q| over the interior of every field (NaN where a field holds a NaN), and the
        advective rate: max over cells of |u|/dx + |w|/dz, each speed the larger of the
        cell's two faces (dt times it is the Courant number); in one kernel call
        (:func:`operators.largest_magnitudes_and_rate`)."""
        state = self.state
        bits = operators.largest_magnitudes_and_rate(
            state["u"],
            state["w"],
            tuple(state[f.name].view(np.int64) for f in self.fields),
            self._interior_rows,
            self.grid.constants,
            self.grid.periodic_z,
        ).view(np.float64)
        names = (f.name for f in self.fields)
        return dict(zip(names, bits[:-1].tolist())), float(bits[-1])

    def largest_magnitudes(self) -> dict[str, float]:
        """max |q| over the interior of every field (:meth:`largest_magnitudes_and_rate`)."""
        return self.largest_magnitudes_and_rate()[0]

    def advective_rate(self) -> float:
        """The advective rate (:meth:`largest_magnitudes_and_rate`)."""
        return self.largest_magnitudes_and_rate()[1]

    def fill_all_ghosts(self) -> None:
        operators.fill_ghosts_of_fields(
            tuple(self.state[f.name] for f in self.fields),
            self._on_w_faces,
            self._parities,
            self.grid,
        )

    # --- numerics ---------------------------------------------------------
    def divergence(self) -> np.ndarray:
        """Discrete div u at cell centres (a work array, the Poisson solver's right-hand
        side: overwritten by the next call, and by a solve of another right-hand side)."""
        operators.divergence(
            self.state["u"], self.state["w"], self.grid.constants, self._divergence
        )
        return self._divergence

    def project(self) -> None:
        """u <- u - grad phi with lap phi = div u: the exact discrete projection."""
        g = self.grid
        if g.periodic_z:  # the divergence of the top cells reads the duplicate w row nz
            operators.fill_ghosts(self.state["w"], g, Location.W)
        phi = self.poisson.solve(self.divergence())
        operators.subtract_gradient(
            self.state["u"], self.state["w"], phi, g.constants, g.periodic_z
        )

    def compute_tendencies(self, t: float) -> dict[str, np.ndarray]:
        """Advection, diffusion, buoyancy, background stratification and forcings."""
        g = self.grid
        self.fill_all_ghosts()
        u, w, b = self.state["u"], self.state["w"], self.state["b"]
        mean_b = self.interior("b").mean() if g.periodic_z else 0.0
        threads = numba.get_num_threads()
        for group in self.groups:  # w's tendency gets the buoyancy force too
            advection_diffusion(
                group.states, group.count, group.diffusivities, u, w, b, mean_b, group.kind,
                self._coefficients, group.rows, g.constants, threads, group.tendencies,
            )  # fmt: skip
        if self.background_N2:
            w_centre = 0.5 * (self.interior("w")[:-1] + self.interior("w")[1:])
            self.tendencies["b"] -= self.background_N2 * w_centre
        for forcing in self.forcings:
            forcing(self, t, self.tendencies)
        return self.tendencies

    # --- the time stepper's interface (see billow.core.timestepping.SteppedSystem) --------
    def begin_step(self, dt: float) -> None:
        """Start a step: the first :meth:`stage_update` after it keeps the state at the start
        of the step (q0 of the Runge-Kutta stages), in the pass that updates it."""
        self.last_dt = dt
        self._start_kept = False
        self._keep_first_stage = False

    def stage_update(self, a0: float, a1: float, dt: float) -> None:
        """q <- a0 q0 + a1 (q + dt L(q)) for every field, with the last computed tendencies
        (at the step's first, q0 <- q first; after :meth:`keep_first_stage`, q1 <- q
        first). The interiors of q0 and q1 are kept, w's duplicate row nz with periodic z
        copied from row 0: all that is read of them (dense output, the forcing's work)."""
        save_start, keep = not self._start_kept, self._keep_first_stage
        for group in self.groups:
            rk_stage_update(
                group.states, group.count, group.starts, group.tendencies, a0, a1, dt, group.rows,
                self.grid.constants, save_start, group.first_stages, keep,
            )  # fmt: skip
        for kept, now in ((self._start, save_start), (self._first_stage, keep)):
            if now and self.grid.periodic_z:  # w's duplicate row nz, not updated
                w, g, nz = kept["w"], self.grid.ghost, self.grid.nz
                w[g + nz] = w[g]
        if keep:
            self._first_stage_iteration = self.iteration
        self._start_kept = True
        self._keep_first_stage = False

    def end_step(self) -> None:
        if self._keep_first_stage:  # a scheme of one stage: q1 is q_n+1
            for f in self.fields:
                np.copyto(self._first_stage[f.name], self.state[f.name])
            self._first_stage_iteration = self.iteration
            self._keep_first_stage = False
        self.fill_all_ghosts()

    def keep_first_stage(self) -> None:
        """Keep the first stage q1 = P[q_n + beta1 dt L(q_n)] of the step in progress (called
        right after it): the next :meth:`stage_update` copies it in the pass that reads
        it, or the end of the step, if there is no next stage."""
        self._keep_first_stage = True

    def step(self, dt: float, keep_first_stage: bool = False) -> None:
        """Advance by dt with the model's time stepper (a projection per stage);
        with ``keep_first_stage``, :meth:`interpolate` can then give states inside the step."""
        self.stepper.step(self, dt, keep_first_stage)

    def interpolate(
        self, theta: float, names: Iterable[str] | None = None
    ) -> dict[str, np.ndarray]:
        """The fields ``names`` (default: all) at t_n + theta dt, 0 <= theta <= 1, inside
        the step just taken (which kept its first stage), with ghost cells filled (work
        arrays in a dict that may hold other fields from earlier calls, overwritten by the
        next call): q(theta) = w0 q_n + w1 q1 + w2 q_n+1, the weights of
        :meth:`~billow.core.timestepping.RungeKuttaScheme.dense_output_weights`."""
        for name in self.state if names is None else names:
            f = self.field(name)
            out = self._interpolated.setdefault(name, np.empty_like(self.state[name]))
            self.interpolate_interior(theta, name, self.grid.interior(out, f.location))
            operators.fill_ghosts(out, self.grid, f.location, f.parity)
        return self._interpolated

    def interpolate_interior(self, theta: float, name: str, out: np.ndarray) -> np.ndarray:
        """As :meth:`interpolate`, the interior of field ``name`` only, into ``out``."""
        weights = self._dense_output_weights(theta)
        interpolate_in_step(
            out,
            self._start[name],
            self._first_stage[name],
            self.state[name],
            weights,
            self.grid.ghost,
        )
        return out

    def velocity_and_vorticity_at_centres(
        self, theta: float | None, u_out: np.ndarray, w_out: np.ndarray, vorticity_out: np.ndarray
    ) -> None:
        """u and w averaged to the cell centres and the vorticity du/dz - dw/dx there
        (:func:`operators.velocity_and_vorticity_at_centres`), now (``theta`` None) or at
        t_n + theta dt inside the step just taken, of :meth:`interpolate`'s state (each
        row interpolated once, in the same pass)."""
        if theta is None:
            weights = (0.0, 0.0, 1.0)  # the state as it is
            u_sources, w_sources = ((self.state[name],) * 3 for name in ("u", "w"))
        else:
            weights = self._dense_output_weights(theta)
            u_sources, w_sources = (
                (self._start[name], self._first_stage[name], self.state[name])
                for name in ("u", "w")
            )
        operators.velocity_and_vorticity_at_centres(
            u_sources, w_sources, weights, self.field("u").parity, self.grid.constants,
            self.grid.periodic_z, u_out, w_out, vorticity_out,
        )  # fmt: skip

    def _dense_output_weights(self, theta: float) -> tuple[float, float, float]:
        if self._first_stage_iteration != self.iteration - 1:
            raise RuntimeError("the last step did not keep its first stage (keep_first_stage)")
        return self.stepper.scheme.dense_output_weights(theta)
