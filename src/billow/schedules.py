"""Schedules: when an output writer writes or a callback runs (as in Oceananigans).

A schedule is asked after every step (and, at a fresh start, once before the first)
whether its writer or callback is due; answering yes counts the actuation. Time
schedules also give the next simulated time they fall on (:meth:`Schedule.next_time`),
and :class:`~billow.simulation.Simulation` shortens dt to land there exactly. A writer
that can write the state at a time inside the step just taken (``write_at``, as the
snapshot writer does by dense output) asks instead for every scheduled time the step
reached (:meth:`Schedule.times_due`), so its schedule need not shorten dt.

- :class:`TimeInterval` ``(interval)``: at t = k interval, k = 0, 1, 2, ...
  (``align=False``: reached by the first step past each of them, dt unchanged);
- :class:`IterationInterval` ``(n)``: every n-th step (iteration % n == 0);
- :class:`WallTimeInterval` ``(seconds)``: every ``seconds`` of wall clock;
- :class:`SpecifiedTimes` ``(*times)``: at those simulated times;
- :class:`AtEnd`: after the step that ends the run (t_end reached or a stop requested;
  ``stops=False``: t_end reached only);
- ``a | b``: whenever either is due.

``initialize`` positions a schedule at the simulation's current state: at a fresh start
(iteration 0) a time equal to the current time is still due; on a restart it was
already handled before the checkpoint, so the schedule resumes at the next one.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .simulation import Simulation

# relative tolerance for "this step lands on the scheduled time"
TIME_EPSILON = 1e-10


def tolerance(target: float) -> float:
    """How far from ``target`` a time still counts as ``target``."""
    return TIME_EPSILON * max(1.0, abs(target))


def reached(t: float, target: float) -> bool:
    """Whether time ``t`` is at ``target`` (within :func:`tolerance`) or past it."""
    return t >= target - tolerance(target)


def _pending(t: float, target: float, fresh: bool) -> bool:
    """Whether ``target`` is still to come at time ``t``: a target at t itself is pending
    only at a fresh start (a restarted run handled it before its checkpoint)."""
    return target >= t - tolerance(target) if fresh else not reached(t, target)


class Schedule:
    """Base of the schedules: never due, no time to land on; ``a | b`` combines two."""

    def initialize(self, sim: Simulation) -> None:
        """Position the schedule at the simulation's current time and iteration."""

    def __call__(self, sim: Simulation) -> bool:
        """Whether the writer or callback is due now (counting the actuation)."""
        return False

    def next_time(self, sim: Simulation) -> float:
        """The next simulated time the step must land on exactly (inf: none)."""
        return math.inf

    def upcoming_time(self, sim: Simulation) -> float:
        """The next scheduled simulated time, landed on or not (inf: none)."""
        return self.next_time(sim)

    def times_due(self, sim: Simulation) -> list[float]:
        """The scheduled times the simulation has reached since the last call, in order,
        each counted as an actuation (a schedule without times: the current time if due)."""
        return [sim.model.time] if self(sim) else []

    def __or__(self, other: Schedule) -> OrSchedule:
        return OrSchedule(self, other)


class TimeInterval(Schedule):
    """At t = k interval, k = 0, 1, 2, ... (the same floating-point numbers as np.arange).

    dt is shortened to land on each of them; with ``align=False`` the schedule is instead
    due at the end of the first step reaching each multiple, and never changes dt (the
    checkpointer uses this, so that how often a run checkpoints never changes its results).
    """

    def __init__(self, interval: float, *, align: bool = True):
        if not interval > 0:
            raise ValueError(f"a TimeInterval must be positive, got {interval!r}")
        self.interval = float(interval)
        self.align = align
        self.actuations = 0  # k of the next time k * interval

    def _first_pending(self, t: float, fresh: bool, start: int = 0) -> int:
        k = max(start, math.floor(t / self.interval) - 1)
        while not _pending(t, k * self.interval, fresh):
            k += 1
        return k

    def initialize(self, sim: Simulation) -> None:
        self.actuations = self._first_pending(sim.model.time, sim.model.iteration == 0)

    def __call__(self, sim: Simulation) -> bool:
        t = sim.model.time
        if not reached(t, self.actuations * self.interval):
            return False
        self.actuations = self._first_pending(t, False, self.actuations + 1)
        return True

    def next_time(self, sim: Simulation) -> float:
        return self.upcoming_time(sim) if self.align else math.inf

    def upcoming_time(self, sim: Simulation) -> float:
        return self.actuations * self.interval

    def times_due(self, sim: Simulation) -> list[float]:
        times = []
        while reached(sim.model.time, self.actuations * self.interval):
            times.append(self.actuations * self.interval)
            self.actuations += 1
        return times


class SpecifiedTimes(Schedule):
    """At the given simulated times (dt is shortened to land on each)."""

    def __init__(self, *times: float):
        self.times = sorted(float(t) for t in times)
        self.index = 0  # of the next time

    def _first_pending(self, t: float, fresh: bool, start: int = 0) -> int:
        index = start
        while index < len(self.times) and not _pending(t, self.times[index], fresh):
            index += 1
        return index

    def initialize(self, sim: Simulation) -> None:
        self.index = self._first_pending(sim.model.time, sim.model.iteration == 0)

    def __call__(self, sim: Simulation) -> bool:
        if self.index >= len(self.times) or not reached(sim.model.time, self.times[self.index]):
            return False
        self.index = self._first_pending(sim.model.time, False, self.index + 1)
        return True

    def next_time(self, sim: Simulation) -> float:
        return self.times[self.index] if self.index < len(self.times) else math.inf

    def times_due(self, sim: Simulation) -> list[float]:
        start = self.index
        while self.index < len(self.times) and reached(sim.model.time, self.times[self.index]):
            self.index += 1
        return self.times[start : self.index]


class IterationInterval(Schedule):
    """Every ``n``-th step: when the iteration is a multiple of ``n`` (iteration 0 too)."""

    def __init__(self, n: int = 1):
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"an IterationInterval must be a positive integer, got {n!r}")
        self.n = n

    def __call__(self, sim: Simulation) -> bool:
        return sim.model.iteration % self.n == 0


class WallTimeInterval(Schedule):
    """Every ``seconds`` of wall clock, counted from the start of the run or from its own
    last actuation (or :meth:`initialize`, which restarts the count)."""

    def __init__(self, seconds: float):
        if not seconds > 0:
            raise ValueError(f"a WallTimeInterval must be positive, got {seconds!r}")
        self.seconds = float(seconds)
        self.last = time.perf_counter()

    def initialize(self, sim: Simulation | None = None) -> None:
        self.last = time.perf_counter()

    def __call__(self, sim: Simulation) -> bool:
        now = time.perf_counter()
        if now - self.last < self.seconds:
            return False
        self.last = now
        return True


class AtEnd(Schedule):
    """After the step that ends the run: t_end reached, or (unless ``stops=False``) a stop
    requested by a callback."""

    def __init__(self, stops: bool = True):
        self.stops = stops

    def __call__(self, sim: Simulation) -> bool:
        return sim.ending if self.stops else reached(sim.model.time, sim.t_end)


class OrSchedule(Schedule):
    """Due when any of its schedules is (each due one counts its actuation)."""

    def __init__(self, *schedules: Schedule):
        self.schedules = schedules

    def initialize(self, sim: Simulation) -> None:
        for schedule in self.schedules:
            schedule.initialize(sim)

    def __call__(self, sim: Simulation) -> bool:
        return any([schedule(sim) for schedule in self.schedules])  # ask every one

    def next_time(self, sim: Simulation) -> float:
        return min(schedule.next_time(sim) for schedule in self.schedules)

    def upcoming_time(self, sim: Simulation) -> float:
        return min(schedule.upcoming_time(sim) for schedule in self.schedules)

    def times_due(self, sim: Simulation) -> list[float]:
        """Every schedule's due times, merged; times within :func:`tolerance` are one."""
        merged: list[float] = []
        for t in sorted(t for schedule in self.schedules for t in schedule.times_due(sim)):
            if not merged or t > merged[-1] + tolerance(t):
                merged.append(t)
        return merged
