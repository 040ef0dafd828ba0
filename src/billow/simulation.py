"""Simulation: the time loop, with output writers and callbacks on schedules.

A :class:`Simulation` steps a model to ``t_end`` with the dt of the
:class:`~billow.core.timestepping.CFLController`, shortened so that every landing time
schedule (:class:`~billow.schedules.TimeInterval`, :class:`~billow.schedules.SpecifiedTimes`)
and ``t_end`` are hit exactly. Snapshots do not shorten dt: their schedule is a
``TimeInterval(save_every, align=False)``, and the snapshot writer (which has
``write_at``) writes the state at each scheduled time inside the step just taken by
dense output (:meth:`Simulation.snapshot` with a time; see
:mod:`billow.core.timestepping`). After each step, in order:

1. the dt of the next step is computed from the new velocity (as Oceananigans'
   time-step wizard does; it also gives the Courant number of the step just taken,
   measured with the velocity it produced), so a callback that changes the velocity
   changes dt from the step after next;
2. the due ``callbacks`` run (``"blow_up"``, a :class:`~billow.callbacks.BlowUpCheck`,
   comes first);
3. the due ``output_writers`` write.

At a fresh start (iteration 0) the due callbacks and writers also run once before the
first step (the snapshot and the diagnostics at t = 0). ``callbacks`` and
``output_writers`` are ordered dicts, name -> object; see :mod:`billow.callbacks` and
:mod:`billow.output_writers` for what the objects provide. The runner
(:func:`billow.run_case`) adds the netCDF writers, the checkpointer and the stop
conditions (wall-time limit, signals).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack

import numpy as np
from threadpoolctl import threadpool_limits

from .callbacks import BlowUpCheck, Callback
from .core.diagnostics import Diagnostic, diagnostics_for, shared_reductions
from .core.model import Model
from .core.timestepping import BlowUpError, CFLController
from .errors import BillowError
from .output_writers import FieldsWriter
from .schedules import (
    TIME_EPSILON,
    Schedule,
    SpecifiedTimes,
    TimeInterval,
    reached,
    tolerance,
)

__all__ = ["TIME_EPSILON", "BlowUpError", "RunStopped", "Simulation"]


def snapshot_schedule(save_every: float, t_end: float) -> Schedule:
    """Snapshots at every multiple of ``save_every`` (by dense output: dt is not shortened)
    and at ``t_end``."""
    return TimeInterval(save_every, align=False) | SpecifiedTimes(t_end)


class RunStopped(BillowError):
    """The run stopped early on request (signal or wall-time limit), after its writers.

    ``reason`` is the signal's name ("SIGTERM", "SIGINT") or "max-wall-time"."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def _removed(name: str, instead: str) -> property:
    """An attribute of the old loop: reading or setting it says what replaces it (setting
    it would otherwise pass silently, and the function never be called)."""

    def refuse(self, value=None):
        raise AttributeError(f"Simulation.{name} was removed: {instead}")

    return property(refuse, refuse)


class Simulation:
    """Steps a :class:`Model` to ``t_end``; with ``save_every``, takes snapshots.

    Parameters
    ----------
    model : Model
        The model, with its initial (or restored) state.
    t_end : float
        The stop time.
    save_every : float, optional
        Snapshot interval: adds ``output_writers["fields"]``, a
        :class:`~billow.output_writers.FieldsWriter` without a series (the runner gives
        it one) at every multiple of ``save_every`` (by dense output, dt unchanged) and
        at ``t_end``.
    cfl : float, optional
        Courant number; defaults to that of the model's advection scheme (upwind5: 1.3).
    callbacks : mapping or sequence
        Callbacks by name, or a sequence of them (named ``callback_0``, ...); a plain
        function of the simulation is called after every step.
    """

    def __init__(
        self,
        model: Model,
        *,
        t_end: float,
        save_every: float | None = None,
        cfl: float | None = None,
        callbacks: Mapping[str, object] | Iterable[object] = (),
    ):
        self.model = model
        self.t_end = t_end
        self.diagnostics: list[Diagnostic] = diagnostics_for(model)
        grid = model.grid
        largest_diffusivity = max(f.diffusivity for f in model.fields)
        self.controller = CFLController(
            grid,
            largest_diffusivity,
            cfl or model.scheme.cfl,
            model.stepper.scheme,
            model.scheme.name,
        )
        self.dt = 0.0
        self.courant = 0.0  # Courant number of the step taken (rate at its start x dt)
        self.stop_request: tuple[str, str] | None = None  # (message, reason)
        self.callbacks: dict[str, object] = {"blow_up": BlowUpCheck()}
        named = callbacks.items() if isinstance(callbacks, Mapping) else enumerate(callbacks)
        for key, callback in named:
            name = key if isinstance(key, str) else f"callback_{key}"
            self.callbacks[name] = callback if hasattr(callback, "schedule") else Callback(callback)
        self.output_writers: dict[str, object] = {}
        if save_every is not None:
            self.output_writers["fields"] = FieldsWriter(None, snapshot_schedule(save_every, t_end))
        self._stable: tuple[int, float, float] | None = None  # iteration, dt, rate
        self._magnitudes: tuple[int, dict[str, float]] | None = None  # iteration, max|q|
        self._step_start = 0.0  # time at the start of the last step
        self.end_approach: float | None = None  # t_end, once a step was shortened for it
        self._initialized = False
        self._snapshot: dict[str, np.ndarray] | None = None  # work arrays, made on first use

    on_diagnostics = _removed(
        "on_diagnostics",
        "add a callback, sim.callbacks[name] = billow.callbacks.Callback("
        "lambda sim: f(sim.model.time, sim.evaluate_diagnostics()))",
    )
    on_snapshot = _removed("on_snapshot", "add an output writer to sim.output_writers")

    # ------------------------------------------------------------------ the state
    def stable_dt(self) -> float:
        """The controller's dt for the current velocity (see :class:`CFLController`), from
        its advective rate; the largest magnitude of every field is kept for
        :meth:`check_finite`."""
        m = self.model
        magnitudes, rate = m.largest_magnitudes_and_rate()
        self._magnitudes = (m.iteration, magnitudes)
        return self.controller.stable_dt(rate)

    def snapshot_names(self) -> list[str]:
        """The fields of a :meth:`snapshot`, in order."""
        m = self.model
        return ["u", "w", "b", *(["v"] if "v" in m.state else []), *m.tracer_names, "vorticity"]

    def snapshot(
        self, time: float | None = None, out: dict[str, np.ndarray] | None = None
    ) -> dict[str, np.ndarray]:
        """Fields at cell centres: u, w, b, (v), tracers and the vorticity du/dz - dw/dx;
        now, or at a ``time`` inside the step just taken, by dense output; written into
        ``out`` (an (nz, nx) array for each of :meth:`snapshot_names`) or else into work
        arrays, overwritten by the next call."""
        m, g = self.model, self.model.grid
        if out is None:
            if self._snapshot is None:
                shape = (g.nz, g.nx)
                self._snapshot = {name: np.zeros(shape) for name in self.snapshot_names()}
            out = dict(self._snapshot)  # the caller may change the dict, not the arrays
        theta = None
        if time is not None and abs(time - m.time) > tolerance(time):
            theta = self._fraction_of_last_step(time)
        m.velocity_and_vorticity_at_centres(theta, out["u"], out["w"], out["vorticity"])
        if "v" in m.state:
            state = m.state if theta is None else m.interpolate(theta, ("v",))
            v = g.interior(state["v"], m.field("v").location)
            np.copyto(out["v"], 0.5 * (v + np.roll(v, -1, axis=1)))
        for name in ("b", *m.tracer_names):
            if theta is None:
                np.copyto(out[name], m.interior(name))
            else:
                m.interpolate_interior(theta, name, out[name])
        return out

    def _fraction_of_last_step(self, time: float) -> float:
        """theta with time = t_n + theta (t_n+1 - t_n) in the step just taken."""
        start, end = self._step_start, self.model.time
        if not (reached(time, start) and reached(end, time)) or self.model.iteration == 0:
            raise ValueError(
                f"t = {time:.6g} is not inside the last step ({start:.6g} to {end:.6g})"
            )
        return min(max((time - start) / (end - start), 0.0), 1.0)

    def diagnostics_of(self, every_step: bool | None = None) -> list[Diagnostic]:
        """The diagnostics recorded every step (``every_step`` True), the others (False),
        or all (None); see :class:`~billow.core.diagnostics.Diagnostic`."""
        return [d for d in self.diagnostics if every_step in (None, d.every_step)]

    def evaluate_diagnostics(self, every_step: bool | None = None) -> dict[str, float]:
        """The scalar diagnostics of the current state chosen by ``every_step`` (see
        :meth:`diagnostics_of`), with the step's ``dt`` and ``cfl`` unless it is False."""
        model = self.model
        with shared_reductions(model):
            values = {d.name: d.function(model) for d in self.diagnostics_of(every_step)}
        if every_step is not False:
            values["dt"] = self.dt
            values["cfl"] = self.courant
        return values

    def check_courant(self) -> None:
        """Stop if the step just taken had a Courant number above the controller's hard
        limit, measured with the velocity at its end (the rate of the last stable_dt)."""
        m = self.model
        self.controller.check(self.dt, m.interior("u"), m.interior("w"), m.iteration, m.time)

    def check_finite(self) -> None:
        """Stop (BlowUpError) if a prognostic field holds a value that is not finite: its
        largest magnitude (NaN or inf then), from the last :meth:`stable_dt` if that was
        at this iteration."""
        m = self.model
        if self._magnitudes is not None and self._magnitudes[0] == m.iteration:
            magnitudes = self._magnitudes[1]
        else:
            magnitudes = m.largest_magnitudes()
        for field in m.fields:
            if not math.isfinite(magnitudes[field.name]):
                raise BlowUpError(
                    f"blow-up at step {m.iteration}, t = {m.time:.6g}: field "
                    f"'{field.name}' is not finite (try a smaller cfl or a finer grid)"
                )

    # ------------------------------------------------------------------ the loop
    @property
    def ending(self) -> bool:
        """Whether the run ends after this step: t_end reached, or a stop requested."""
        return self.stop_request is not None or self.model.time >= self.t_end * (1 - TIME_EPSILON)

    def request_stop(self, message: str, reason: str) -> None:
        """Stop after the current step's writers (``run`` then raises RunStopped)."""
        if self.stop_request is None:
            self.stop_request = (message, reason)

    def _activities(self) -> list[tuple[object, Callable[[Simulation], None]]]:
        """(object, action) of every callback, then every output writer, in order."""
        return [(c, c) for c in self.callbacks.values()] + [
            (w, getattr(w, "write", None)) for w in self.output_writers.values()
        ]

    def _dense_writers(self) -> list[object]:
        """The output writers that write states inside a step (they have ``write_at``)."""
        return [w for w in self.output_writers.values() if hasattr(w, "write_at")]

    def initialize(self) -> None:
        """Position every schedule at the current state and initialize the callbacks and
        writers; at a fresh start (iteration 0), run the due ones once."""
        self.stop_request = None
        for kind, things in (("callback", self.callbacks), ("output writer", self.output_writers)):
            for name, thing in things.items():
                if not hasattr(thing, "schedule"):
                    raise TypeError(
                        f"{kind} {name!r} has no schedule: give it one, or wrap a function "
                        "in billow.callbacks.Callback(function, schedule)"
                    )
        for thing, _ in self._activities():
            thing.schedule.initialize(self)
            if hasattr(thing, "initialize"):
                thing.initialize(self)
        self._stable = None
        self._remember_stable_dt()
        self._initialized = True
        if self.model.iteration == 0:
            self._actuate()

    def _remember_stable_dt(self) -> None:
        self._stable = (self.model.iteration, self.stable_dt(), self.controller.rate)

    def _actuate(self) -> None:
        for thing, action in self._activities():
            if hasattr(thing, "write_at"):
                for time in thing.schedule.times_due(self):
                    thing.write_at(self, time)
            elif thing.schedule(self):
                action(self)

    def next_target(self) -> float:
        """The time the next step must not pass: the earliest of t_end and every time
        schedule's next time. Times within TIME_EPSILON of each other are one target:
        t_end's, or else the first writer's or callback's in order."""
        candidates = [self.t_end] + [
            thing.schedule.next_time(self) for thing, _ in self._activities()
        ]
        earliest = min(candidates)
        return next(c for c in candidates if c <= earliest + tolerance(earliest))

    def step(self) -> None:
        """One adaptive step, shortened to land exactly on the next landing time (the
        last two steps before it split the remaining time evenly), then the due
        callbacks and writers; a step that will pass a dense writer's time keeps its
        first stage for dense output."""
        if not self._initialized:
            self.initialize()
        m = self.model
        if self._stable is None or self._stable[0] != m.iteration:
            self._remember_stable_dt()
        _, dt, rate = self._stable
        t = m.time
        target = self.next_target()
        remaining = target - t
        if dt >= remaining - tolerance(target):
            dt = remaining
        elif 2 * dt > remaining:
            dt = 0.5 * remaining  # two equal steps rather than one full and one tiny
        if target == self.t_end and dt < self._stable[1]:
            self.end_approach = self.t_end  # off the path of a run to a later t_end
        self.dt = dt
        self.courant = rate * dt
        self._step_start = t
        upcoming = min(
            (w.schedule.upcoming_time(self) for w in self._dense_writers()), default=np.inf
        )
        m.step(dt, keep_first_stage=upcoming < t + dt - tolerance(upcoming))
        if abs(m.time - target) <= tolerance(target):
            m.time = target
        self._remember_stable_dt()  # the velocity's rate at the end of the step
        self._actuate()

    @threadpool_limits.wrap(limits=1, user_api="blas")
    def run(self) -> None:
        """Run from the current time to t_end (raises RunStopped on a stop request).

        BLAS runs on one thread meanwhile: the numba kernels use the cores, and the few
        small BLAS calls of diagnostics and forcing would otherwise wake a BLAS thread
        pool whose spinning threads steal them (a 384x192 run took 2.2x longer).
        """
        with ExitStack() as closing:  # however the run ends, close every writer and callback
            for thing, _ in self._activities():
                if hasattr(thing, "close"):
                    closing.callback(thing.close, self)
            closing.callback(setattr, self, "_initialized", False)
            self.initialize()
            while not self.ending:
                self.step()
            if self.stop_request is not None:
                message, reason = self.stop_request
                m = self.model
                raise RunStopped(
                    f"{message}: stopped at t = {m.time:.6g} (step {m.iteration})", reason
                )
