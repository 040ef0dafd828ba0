"""Callbacks: what a :class:`~billow.simulation.Simulation` runs after a step, on a schedule.

A callback is an object with a ``schedule`` (see :mod:`billow.schedules`) that is called
with the simulation when it is due; it may also have ``initialize(sim)`` (at the start
of a run) and ``close(sim)`` (when the run ends, however it ends). Callbacks run before
the output writers, in the order of ``Simulation.callbacks``; at a fresh start
(iteration 0) the due ones also run once before the first step.

The stop conditions of a run are callbacks: :class:`BlowUpCheck` (installed by every
Simulation), :class:`WallTimeLimit` and :class:`StopOnSignal` (added by the runner).
The last two ask the simulation to stop (:meth:`Simulation.request_stop`): the step's
writers still run (the checkpointer writes at the end), then ``run`` raises RunStopped.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .errors import ConfigError
from .schedules import IterationInterval, Schedule

if TYPE_CHECKING:
    from .simulation import Simulation


class Callback:
    """A function of the simulation, called when ``schedule`` (default: every step) is due."""

    def __init__(self, function: Callable[[Simulation], None], schedule: Schedule | None = None):
        self.function = function
        self.schedule = schedule if schedule is not None else IterationInterval(1)

    def __call__(self, sim: Simulation) -> None:
        self.function(sim)


class BlowUpCheck:
    """Stop the run (BlowUpError) after a step whose Courant number, measured with the
    velocity the step produced, exceeds the controller's hard limit
    (:meth:`Simulation.check_courant`), or after which a field is not finite
    (:meth:`Simulation.check_finite`)."""

    def __init__(self, schedule: Schedule | None = None):
        self.schedule = schedule if schedule is not None else IterationInterval(1)

    def __call__(self, sim: Simulation) -> None:
        sim.check_courant()
        sim.check_finite()


def check_max_wall_time(max_wall_time: float | None) -> None:
    """Refuse a wall-time limit that is not a positive number of seconds."""
    if max_wall_time is not None and not max_wall_time > 0:
        raise ConfigError(f"--max-wall-time must be positive (seconds), got {max_wall_time:g}")


class WallTimeLimit:
    """Stop the run when one more step, at the mean cost of the steps so far, could take
    it past ``seconds`` of wall clock since the start of the run."""

    def __init__(self, seconds: float, reason: str = "wall-time limit reached"):
        self.seconds = seconds
        self.reason = reason
        self.schedule = IterationInterval(1)

    def initialize(self, sim: Simulation) -> None:
        self.start = time.perf_counter()
        self.first_iteration = sim.model.iteration

    def __call__(self, sim: Simulation) -> None:
        steps = sim.model.iteration - self.first_iteration
        if steps == 0:
            return
        elapsed = time.perf_counter() - self.start
        if elapsed * (steps + 1) / steps > self.seconds:
            sim.request_stop(self.reason, "max-wall-time")


class StopOnSignal:
    """Turn SIGTERM and SIGINT into a stop request after the current step; a second
    SIGINT interrupts at once (KeyboardInterrupt). The handlers are installed for the
    duration of the run, and only in the main thread, where Python delivers signals."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.schedule = IterationInterval(1)
        self.received: list[str] = []
        self.previous: dict = {}

    def _receive(self, number, frame) -> None:
        name = signal.Signals(number).name
        if name == "SIGINT" and self.received:
            raise KeyboardInterrupt
        self.received.append(name)

    def initialize(self, sim: Simulation) -> None:
        self.received.clear()
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self._receive) for sig in self.SIGNALS}

    def __call__(self, sim: Simulation) -> None:
        if self.received:
            sim.request_stop(f"{self.received[0]} received", self.received[0])

    def close(self, sim: Simulation) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous = {}
