"""Simulation: the time loop with an adaptive dt, output schedules and callbacks.

dt = min(cfl / max(max|u|/dx + max|w|/dz, 1/min(dx, dz)), diffusive limit), shortened so that
snapshot times are hit exactly. After every step the scalar diagnostics are
evaluated and handed to the diagnostics writer; at every multiple of
``save_every`` a snapshot is handed to the snapshot writer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from . import operators
from .diagnostics import Diagnostic, diagnostics_for
from .errors import BillowError
from .model import Model
from .timestepping import advective_rate, diffusive_dt

Callback = Callable[["Simulation"], None]

# relative tolerance for "this step lands on the output time"
TIME_EPSILON = 1e-10
# Courant number of a step, measured with the velocity it produced, beyond which the
# run is declared blown up: above the SSP-RK3/upwind5 stability limit (about 1.4), and
# reached only if the velocity grew by 2.5x in one step taken at the default cfl
CFL_HARD_LIMIT = 2.0


class BlowUpError(BillowError):
    """The solution became non-finite."""


class Simulation:
    """Steps a :class:`Model` to ``t_end``; snapshots every ``save_every``."""

    def __init__(
        self,
        model: Model,
        *,
        t_end: float,
        save_every: float,
        cfl: float = 0.8,
        on_snapshot: Callback | None = None,
        on_diagnostics: Callable[[float, dict[str, float]], None] | None = None,
        callbacks: tuple[Callback, ...] = (),
    ):
        self.model = model
        self.t_end = t_end
        self.save_every = save_every
        self.cfl = cfl
        self.on_snapshot = on_snapshot
        self.on_diagnostics = on_diagnostics
        self.callbacks = list(callbacks)
        self.diagnostics: list[Diagnostic] = diagnostics_for(model)
        grid = model.grid
        largest_diffusivity = max(f.diffusivity for f in model.fields)
        self.max_diffusive_dt = diffusive_dt(largest_diffusivity, grid.dx, grid.dz)
        count = int(np.floor(t_end / save_every * (1 + TIME_EPSILON)))
        times = np.minimum(save_every * np.arange(count + 1), t_end)
        if t_end - times[-1] > TIME_EPSILON * t_end:
            times = np.append(times, t_end)
        else:
            times[-1] = t_end  # k * save_every may round to one ulp either side of t_end
        self.snapshot_times = times  # 0, save_every, 2 save_every, ..., and t_end
        self.snapshots_written = 0
        self.dt = 0.0
        self._advective_rate = 0.0  # max|u|/dx + max|w|/dz at the start of the last step
        self._centre_u = np.zeros((grid.nz, grid.nx))
        self._centre_w = np.zeros((grid.nz, grid.nx))
        self._vorticity = np.zeros((grid.nz, grid.nx))

    @property
    def next_snapshot_time(self) -> float:
        if self.snapshots_written < len(self.snapshot_times):
            return float(self.snapshot_times[self.snapshots_written])
        return np.inf

    def stable_dt(self) -> float:
        """min(cfl / advective rate, diffusive limit); remembers the advective rate.

        The rate is taken at least 1/min(dx, dz), that of a flow at the velocity scale
        U0 = 1: a flow at rest or slow (forced from rest, Kolmogorov spin-up) must not
        take steps so long that the velocity they produce crosses many cells.
        """
        grid = self.model.grid
        u, w = self.model.interior("u"), self.model.interior("w")
        self._advective_rate = advective_rate(u, w, grid.dx, grid.dz)
        rate = max(self._advective_rate, 1.0 / min(grid.dx, grid.dz))
        return min(self.cfl / rate, self.max_diffusive_dt)

    def snapshot(self) -> dict[str, np.ndarray]:
        """Fields at cell centres: u, w, b, (v), tracers and the vorticity du/dz - dw/dx."""
        m, g = self.model, self.model.grid
        operators.velocity_at_centres(
            m.state["u"], m.state["w"], g.nx, g.nz, g.ghost, self._centre_u, self._centre_w
        )
        operators.vorticity_at_centres(
            m.state["u"], m.state["w"], g.nx, g.nz, g.ghost, g.dx, g.dz, self._vorticity
        )
        fields = {"u": self._centre_u, "w": self._centre_w, "b": m.interior("b")}
        if "v" in m.state:
            v = m.interior("v")
            fields["v"] = 0.5 * (v + np.roll(v, -1, axis=1))
        fields.update({name: m.interior(name) for name in m.tracer_names})
        fields["vorticity"] = self._vorticity
        return fields

    def evaluate_diagnostics(self) -> dict[str, float]:
        values = {d.name: d.function(self.model) for d in self.diagnostics}
        values["dt"] = self.dt
        values["cfl"] = self._advective_rate * self.dt  # Courant number of the step taken
        if not np.all(np.isfinite(list(values.values()))):  # energies and every integral
            bad = next(
                f.name
                for f in self.model.fields
                if not np.all(np.isfinite(self.model.interior(f.name)))
            )
            raise BlowUpError(
                f"blow-up at step {self.model.iteration}, t = {self.model.time:.6g}: "
                f"field '{bad}' is not finite (try a smaller cfl or a finer grid)"
            )
        return values

    def check_courant(self) -> None:
        """Stop if the step just taken had a Courant number above CFL_HARD_LIMIT, measured
        with the velocity at its end (the advective rate of the next :meth:`stable_dt`)."""
        courant = self._advective_rate * self.dt
        if courant > CFL_HARD_LIMIT:
            grid = self.model.grid
            u_rate = np.max(np.abs(self.model.interior("u"))) / grid.dx
            w_rate = np.max(np.abs(self.model.interior("w"))) / grid.dz
            raise BlowUpError(
                f"blow-up at step {self.model.iteration}, t = {self.model.time:.6g}: field "
                f"'{'u' if u_rate >= w_rate else 'w'}' reached a Courant number of "
                f"{courant:.3g} in one step (hard limit {CFL_HARD_LIMIT:g}; "
                "try a smaller cfl or a finer grid)"
            )

    def _write_snapshot(self) -> None:
        if self.on_snapshot is not None:
            self.on_snapshot(self)
        self.snapshots_written += 1

    def step(self) -> None:
        """One adaptive step, shortened to land exactly on the next snapshot time."""
        t = self.model.time
        target = min(self.next_snapshot_time, self.t_end)
        dt = self.stable_dt()
        self.check_courant()
        remaining = target - t
        if dt >= remaining - TIME_EPSILON * max(1.0, target):
            dt = remaining
        elif 2 * dt > remaining:
            dt = 0.5 * remaining  # two equal steps rather than one full and one tiny
        self.dt = dt
        self.model.step(dt)
        landed = abs(self.model.time - target) <= TIME_EPSILON * max(1.0, target)
        if landed:
            self.model.time = target
        if self.on_diagnostics is not None:
            self.on_diagnostics(self.model.time, self.evaluate_diagnostics())
        if landed and target == self.next_snapshot_time:
            self._write_snapshot()
        for callback in self.callbacks:
            callback(self)

    @threadpool_limits.wrap(limits=1, user_api="blas")
    def run(self) -> None:
        """Run from the current time to t_end.

        BLAS runs on one thread meanwhile: the numba kernels use the cores, and the few
        small BLAS calls of diagnostics and forcing would otherwise wake a BLAS thread
        pool whose spinning threads steal them (a 384x192 run took 2.2x longer).
        """
        if self.model.iteration == 0 and self.snapshots_written == 0:
            self._write_snapshot()
            if self.on_diagnostics is not None:
                self.on_diagnostics(self.model.time, self.evaluate_diagnostics())
        while self.model.time < self.t_end * (1 - TIME_EPSILON):
            self.step()
