"""Simulation: the time loop with an adaptive dt, output schedules and callbacks.

dt comes from the :class:`~billow.core.timestepping.CFLController`, shortened so that
snapshot times are hit exactly. After every step the scalar diagnostics are
evaluated and handed to the diagnostics writer; at every multiple of
``save_every`` a snapshot is handed to the snapshot writer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from .core import operators
from .core.diagnostics import Diagnostic, diagnostics_for, shared_reductions
from .core.model import Model
from .core.timestepping import BlowUpError, CFLController

__all__ = ["BlowUpError", "Simulation"]

Callback = Callable[["Simulation"], None]

# relative tolerance for "this step lands on the output time"
TIME_EPSILON = 1e-10


class Simulation:
    """Steps a :class:`Model` to ``t_end``; snapshots every ``save_every``.

    ``cfl`` defaults to that of the model's advection scheme (upwind5: 1.3).
    """

    def __init__(
        self,
        model: Model,
        *,
        t_end: float,
        save_every: float,
        cfl: float | None = None,
        on_snapshot: Callback | None = None,
        on_diagnostics: Callable[[float, dict[str, float]], None] | None = None,
        callbacks: tuple[Callback, ...] = (),
    ):
        self.model = model
        self.t_end = t_end
        self.save_every = save_every
        self.on_snapshot = on_snapshot
        self.on_diagnostics = on_diagnostics
        self.callbacks = list(callbacks)
        self.diagnostics: list[Diagnostic] = diagnostics_for(model)
        grid = model.grid
        largest_diffusivity = max(f.diffusivity for f in model.fields)
        self.controller = CFLController(
            grid, largest_diffusivity, cfl or model.scheme.cfl, model.stepper.scheme
        )
        count = int(np.floor(t_end / save_every * (1 + TIME_EPSILON)))
        # 0, save_every, 2 save_every, ..., and t_end: computed on demand (a tiny save_every
        # must not allocate its count); k save_every may round to one ulp either side of t_end
        last_regular = min(count * save_every, t_end)
        self.snapshot_count = count + (2 if t_end - last_regular > TIME_EPSILON * t_end else 1)
        self.snapshots_written = 0
        self.dt = 0.0
        self._centre_u = np.zeros((grid.nz, grid.nx))
        self._centre_w = np.zeros((grid.nz, grid.nx))
        self._vorticity = np.zeros((grid.nz, grid.nx))

    def snapshot_time(self, n: int) -> float:
        """Time of snapshot n: min(n save_every, t_end), the last one exactly t_end."""
        if n >= self.snapshot_count:
            return np.inf
        if n == self.snapshot_count - 1:
            return self.t_end
        return min(n * self.save_every, self.t_end)

    @property
    def next_snapshot_time(self) -> float:
        return self.snapshot_time(self.snapshots_written)

    def stable_dt(self) -> float:
        """The controller's dt for the current velocity (see :class:`CFLController`)."""
        return self.controller.stable_dt(self.model.interior("u"), self.model.interior("w"))

    def snapshot(self) -> dict[str, np.ndarray]:
        """Fields at cell centres: u, w, b, (v), tracers and the vorticity du/dz - dw/dx."""
        m, g = self.model, self.model.grid
        operators.velocity_at_centres(
            m.state["u"], m.state["w"], g.constants, self._centre_u, self._centre_w
        )
        operators.vorticity_at_centres(m.state["u"], m.state["w"], g.constants, self._vorticity)
        fields = {"u": self._centre_u, "w": self._centre_w, "b": m.interior("b")}
        if "v" in m.state:
            v = m.interior("v")
            fields["v"] = 0.5 * (v + np.roll(v, -1, axis=1))
        fields.update({name: m.interior(name) for name in m.tracer_names})
        fields["vorticity"] = self._vorticity
        return fields

    def evaluate_diagnostics(self) -> dict[str, float]:
        with shared_reductions(self.model):
            values = {d.name: d.function(self.model) for d in self.diagnostics}
        values["dt"] = self.dt
        values["cfl"] = self.controller.rate * self.dt  # Courant number of the step taken
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
        """Stop if the step just taken had a Courant number above the controller's hard
        limit, measured with the velocity at its end (the rate of the last stable_dt)."""
        m = self.model
        self.controller.check(self.dt, m.interior("u"), m.interior("w"), m.iteration, m.time)

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
