"""Output writers: what a :class:`~billow.simulation.Simulation` writes, on a schedule.

An output writer is an object with a ``schedule`` (see :mod:`billow.schedules`) and
``write(sim)``, called when the schedule is due: after the step's callbacks, in the
order of ``Simulation.output_writers``, and at a fresh start (iteration 0) once before
the first step. It may also have

- ``initialize(sim)``: at the start of a run;
- ``flush(sim) -> int``: publish everything written so far (the checkpointer calls it
  before each checkpoint) and return how many records that is, which the checkpoint
  stores so that a restart resumes the writer exactly there;
- ``close(sim)``: when the run ends, however it ends.

The writers here hand their records to a *series*: anything with ``append(times,
values)``, ``commit()`` and ``close()`` and a ``records`` count, such as
:class:`billow.io.netcdf.SegmentedTimeSeries`, or a :class:`BackgroundSeries` around
one, which appends on a writer thread. The checkpointer is
:class:`billow.io.checkpoint.Checkpointer`.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .schedules import IterationInterval, Schedule, tolerance

if TYPE_CHECKING:
    from .simulation import Simulation

DIAGNOSTICS_BUFFER = 200  # records of scalar diagnostics held before they are appended
SNAPSHOT_BUFFERS = 2  # snapshots in flight to a BackgroundSeries' thread


class Series(Protocol):
    """Where records go (:class:`billow.io.netcdf.SegmentedTimeSeries`)."""

    records: int

    def append(self, times: float | np.ndarray, values: dict) -> None: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...


class BackgroundSeries:
    """``series`` with its appends made on a writer thread, so that the time loop does not
    wait for them.

    Writing a snapshot is mostly the kernel copying it into the page cache, and h5py lets
    go of the GIL while HDF5 writes a chunk, so a thread can do that while the time loop
    steps on (on a second core where there is one):

    - ``append`` copies the record into one of ``buffers`` sets of arrays (the values it
      is given may be work arrays or views of the state, which the next step overwrites)
      and queues it; it waits only while every set is queued. Every record must have the
      arrays of the first (one snapshot each, as :class:`FieldsWriter` appends);
    - ``commit`` and ``close`` first wait until every queued record is in the series, so
      a checkpoint publishes exactly the records appended before it, as without the
      thread;
    - an error on the thread (a full disk) is raised on the caller's thread by the next
      ``append`` or ``commit`` (and every later one), or by ``close`` if none came.
    """

    def __init__(self, series: Series, buffers: int = SNAPSHOT_BUFFERS):
        self.series = series
        self.records = series.records
        self._buffers = buffers
        self._made = 0  # buffer sets allocated so far (at most ``buffers``)
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._queued: queue.Queue = queue.Queue()
        self._failure: BaseException | None = None  # of the writer thread
        self._reported = False  # whether the failure was raised on the caller's thread
        self._thread: threading.Thread | None = None

    def append(self, times: float | np.ndarray, values: dict) -> None:
        """Copy the record and queue it for the writer thread."""
        self._raise_error()
        copies = self._take_buffers(values)
        for name, value in values.items():
            np.copyto(copies[name], value)
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._write_queued, name="billow-writer", daemon=True
            )
            self._thread.start()
        times = np.array(times, dtype=float)
        self._queued.put((times, copies))
        self.records += times.size

    def commit(self) -> None:
        """Wait until every queued record is written, then commit the series."""
        self._queued.join()
        self._raise_error()
        self.series.commit()

    def close(self) -> None:
        """Write what is queued, stop the thread and close the series (also after an
        error, which is then raised)."""
        self._queued.join()
        if self._thread is not None:
            self._queued.put(None)
            self._thread.join()
            self._thread = None
        try:
            self.series.close()
        finally:
            if self._failure is not None and not self._reported:
                self._raise_error()

    def _take_buffers(self, values: dict) -> dict[str, np.ndarray]:
        if self._made < self._buffers:
            try:
                return self._free.get_nowait()
            except queue.Empty:
                self._made += 1
                return {name: np.empty(np.shape(value)) for name, value in values.items()}
        return self._free.get()  # wait for the writer to finish one

    def _write_queued(self) -> None:
        while (item := self._queued.get()) is not None:
            times, copies = item
            try:
                if self._failure is None:  # after a failure, the rest is dropped
                    self.series.append(times, copies)
            except BaseException as error:  # raised again on the caller's thread
                self._failure = error
            finally:
                self._free.put(copies)
                self._queued.task_done()
        self._queued.task_done()

    def _raise_error(self) -> None:
        """Raise the writer thread's failure, if any, on the caller's thread."""
        if self._failure is not None:
            self._reported = True
            raise self._failure


class FieldsWriter:
    """Snapshots (:meth:`Simulation.snapshot`: fields at cell centres) appended to
    ``series`` at every time of ``schedule``, each logged as "snapshot N at t = ...".

    The writer has ``write_at``: after a step, the simulation gives it every scheduled
    time that step reached, and it writes the state at that time (by dense output inside
    the step), so its schedule need not shorten dt (``TimeInterval(..., align=False)``).
    Without a series nothing is stored (a Simulation's ``save_every`` in memory)."""

    def __init__(
        self,
        series: Series | None,
        schedule: Schedule,
        logger: logging.Logger | None = None,
    ):
        self.series = series
        self.schedule = schedule
        self.logger = logger
        self.written = series.records if series is not None else 0

    def write(self, sim: Simulation) -> None:
        """Write the current state."""
        self.write_at(sim, sim.model.time)

    def write_at(self, sim: Simulation, time: float) -> None:
        """Write the state at ``time``, now or inside the step just taken (a time within
        :func:`~billow.schedules.tolerance` of now is recorded as now: t_end exactly)."""
        if abs(time - sim.model.time) <= tolerance(time):
            time = sim.model.time
        if self.series is not None:
            self.series.append(time, sim.snapshot(time))
        if self.logger is not None:
            self.logger.info(
                "snapshot %d at t = %.6g (step %d, dt = %.4g)",
                self.written,
                time,
                sim.model.iteration,
                sim.dt,
            )
        self.written += 1

    def flush(self, sim: Simulation) -> int:
        if self.series is not None:
            self.series.commit()
        return self.written

    def close(self, sim: Simulation) -> None:
        if self.series is not None:
            self.series.close()


class DiagnosticsWriter:
    """The scalar diagnostics (:meth:`Simulation.evaluate_diagnostics`) at t = 0 and after
    every step (or on ``schedule``), buffered and appended to ``series`` in blocks of
    ``buffer`` records, and whenever the writer is flushed or closed."""

    def __init__(
        self,
        series: Series,
        schedule: Schedule | None = None,
        buffer: int = DIAGNOSTICS_BUFFER,
    ):
        self.series = series
        self.schedule = schedule if schedule is not None else IterationInterval(1)
        self.buffer_size = buffer
        self.buffer: list[tuple[float, dict[str, float]]] = []  # records not yet appended

    def write(self, sim: Simulation) -> None:
        self.buffer.append((sim.model.time, sim.evaluate_diagnostics()))
        if len(self.buffer) >= self.buffer_size:
            self._append()

    def _append(self) -> None:
        if self.buffer:
            names = self.buffer[0][1].keys()
            self.series.append(
                np.array([t for t, _ in self.buffer]),
                {name: np.array([values[name] for _, values in self.buffer]) for name in names},
            )
            self.buffer.clear()

    def flush(self, sim: Simulation) -> int:
        self._append()
        self.series.commit()
        return self.series.records

    def close(self, sim: Simulation) -> None:
        self._append()
        self.series.close()
