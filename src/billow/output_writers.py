"""Output writers: what a :class:`~billow.simulation.Simulation` writes, on a schedule.

An output writer is an object with a ``schedule`` (see :mod:`billow.schedules`) and
``write(sim)``, called when the schedule is due: after the step's callbacks, in the
order of ``Simulation.output_writers``, and at a fresh start (iteration 0) once before
the first step. It may also have

- ``initialize(sim)``: at the start of a run;
- ``flush(sim) -> int``: publish everything written so far (the checkpointer calls it
  before each checkpoint) and return how many records that is, which the checkpoint
  stores so that a restart resumes the writer exactly there; a writer on a
  :class:`WriterThread` queues the publishing there, before the checkpoint, which the
  checkpointer queues on the same WriterThread;
- ``close(sim)``: when the run ends, however it ends.

The writers here hand their records to a *series*: anything with ``append(times,
values)``, ``commit()`` and ``close()`` and a ``records`` count, such as
:class:`billow.io.netcdf.SegmentedTimeSeries`, or a :class:`BackgroundSeries` around
one, which appends and commits on a :class:`WriterThread` (and publishes each commit on
its finishing thread). The checkpointer is :class:`billow.io.checkpoint.Checkpointer`
(which may write on the same WriterThread, after the publications it counts).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from functools import partial
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


class SegmentedSeries(Series, Protocol):
    """A series whose commit is in two parts (:class:`BackgroundSeries` runs the second
    as a :class:`WriterThread` finish)."""

    def finish_segment(self) -> Callable[[], object] | None:
        """Close what was appended since the last commit; return what publishes it."""


class WriterThread:
    """Runs the output writers' jobs (appends, commits, checkpoints) in the order they were
    submitted, on two threads of its own, so that the time loop does not wait for them.

    A job runs on the writer thread. What it returns, if anything, is its *finish*: a
    callable that runs on a second, finishing thread, after the finishes of the jobs
    before it. A commit's finish is the fsync, renaming and index rewrite that publish a
    closed segment, which wait for the disk (:meth:`SegmentedTimeSeries.finish_segment
    <billow.io.netcdf.SegmentedTimeSeries.finish_segment>`); a checkpoint is written as a
    finish too. So the records after a commit are written while the disk catches up with
    it, and a checkpoint submitted after the commits of the series it counts is written
    after their publication: it never counts a record that is not published.

    Writing is mostly the kernel copying records into the page cache, and fsyncs, during
    which h5py and the OS let go of the GIL, so both threads work while the time loop
    steps on (on a second core where there is one).

    A job or finish that raises (a full disk) stops the work: the jobs and finishes after
    it are skipped (their ``done`` still runs), and the error is raised on the caller's
    thread by every later ``submit``, and by the first ``wait`` (or the context manager's
    exit, when no other exception is on its way) if nothing raised it before. ``close``
    stops the threads without raising; a later ``submit`` starts them again.
    """

    def __init__(self, name: str = "billow-writer"):
        self.name = name
        self._jobs: queue.Queue = queue.Queue()
        self._finishes: queue.Queue = queue.Queue()
        self._failure: BaseException | None = None
        self._reported = False  # whether the failure was raised on the caller's thread
        self._threads: tuple[threading.Thread, ...] = ()

    def submit(
        self,
        job: Callable[[], Callable[[], object] | None],
        done: Callable[[], object] | None = None,
    ) -> None:
        """Queue ``job``, then ``done``: after the job, or after its finish if it returns
        one; ``done`` runs even if the job is skipped or fails."""
        self.raise_error()
        if not self._threads:
            self._threads = (
                threading.Thread(
                    target=self._work,
                    args=(self._jobs, self._finishes),
                    name=self.name,
                    daemon=True,
                ),
                threading.Thread(
                    target=self._work,
                    args=(self._finishes, None),
                    name=f"{self.name}-finish",
                    daemon=True,
                ),
            )
            for thread in self._threads:
                thread.start()
        self._jobs.put((job, done))

    def wait(self) -> None:
        """Wait until every job submitted, and its finish, has run; raise an error not yet
        raised."""
        self._jobs.join()  # then every finish is queued
        self._finishes.join()
        if not self._reported:
            self.raise_error()

    def close(self) -> None:
        """Wait for the jobs and stop the threads (a later submit starts new ones)."""
        if self._threads:
            self._jobs.put(None)  # the writer thread passes it on to the finishing thread
            for thread in self._threads:
                thread.join()
            self._threads = ()

    def __enter__(self) -> WriterThread:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close()
        if kind is None and not self._reported:
            self.raise_error()

    def raise_error(self) -> None:
        """Raise a job's error, if one failed, on the caller's thread."""
        if self._failure is not None:
            self._reported = True
            raise self._failure

    def _work(self, tasks: queue.Queue, finishes: queue.Queue | None) -> None:
        """Run ``tasks`` (job, done) in order until the None that ends them: the writer
        thread's jobs, whose callable results go to ``finishes`` with their done, to which
        it passes the end on; or the finishing thread's finishes (``finishes`` None)."""
        while (item := tasks.get()) is not None:
            task, done = item
            result = None
            try:
                if self._failure is None:  # after a failure, the rest is skipped
                    result = task()
            except BaseException as error:  # raised again on the caller's thread
                self._failure = error
            finally:
                if finishes is not None and callable(result):
                    finishes.put((result, done))
                elif done is not None:
                    done()
                tasks.task_done()
        if finishes is not None:
            finishes.put(None)
        tasks.task_done()


class BackgroundSeries:
    """``series`` with its appends and commits made on a :class:`WriterThread` (its own
    if none is given), so that the time loop does not wait for them.

    - ``append`` copies the record into one of ``buffers`` sets of arrays (the values it
      is given may be work arrays or views of the state, which the next step overwrites)
      and queues it; it waits only while every set is queued. Every record must have the
      arrays of the first (one snapshot each, as :class:`FieldsWriter` appends), which
      may also be assembled in a free set, from ``buffers_for``, and then not copied. With
      ``buffers=0`` the values are queued as they are: the caller must not change them
      (:class:`DiagnosticsWriter` builds new arrays for each block);
    - ``records`` counts the records appended; ``commit`` queues the series' commit, after
      every record appended before it (a checkpoint queued after it is written after it);
    - ``close`` waits until everything queued is written, then closes the series (also
      after an error, which is then raised, unless an earlier call raised it).
    """

    def __init__(
        self,
        series: SegmentedSeries,
        thread: WriterThread | None = None,
        buffers: int = SNAPSHOT_BUFFERS,
    ):
        self.series = series
        self.records = series.records
        self.thread = thread if thread is not None else WriterThread()
        self._buffers = buffers
        self._made = 0  # buffer sets allocated so far (at most ``buffers``)
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._lent: dict[str, np.ndarray] | None = None  # by buffers_for, not yet appended

    def buffers_for(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        """A free set of arrays of ``shapes`` to assemble the next record in (waiting while
        every set is queued; the same set again if the last one lent was not appended);
        ``append`` then queues it without copying it."""
        if self._lent is None:
            self._lent = self._take_buffers(shapes)
        return self._lent

    def append(self, times: float | np.ndarray, values: dict) -> None:
        """Queue the record (a copy of it, with buffers) for the writer thread."""
        if values is self._lent:  # assembled in place (buffers_for)
            record, self._lent = values, None
        elif self._buffers:
            self.thread.raise_error()  # before waiting for a set
            record = self._take_buffers({name: np.shape(v) for name, v in values.items()})
            for name, value in values.items():
                np.copyto(record[name], value)
        else:
            record = values
        done = partial(self._free.put, record) if self._buffers else None
        times = np.array(times, dtype=float)
        try:
            self.thread.submit(partial(self.series.append, times, record), done)
        except BaseException:  # the thread failed: the set is free again
            if done is not None:
                done()
            raise
        self.records += times.size

    def after(self, action: Callable[[], object]) -> None:
        """Run ``action`` on the writer thread after every record appended so far is
        written (it is skipped if a write failed)."""
        self.thread.submit(action)

    def commit(self) -> None:
        """Queue the commit of every record appended so far: the series' segment is closed
        on the writer thread and published by its finish (``finish_segment``)."""
        self.thread.submit(self.series.finish_segment)

    def close(self) -> None:
        """Wait for everything queued, stop the thread (a later submit starts it again: a
        wait cut short by an interrupt leaves nothing writing to the series) and close the
        series."""
        try:
            self.thread.wait()
        finally:
            self.thread.close()
            self.series.close()

    def _take_buffers(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        if self._buffers:
            if self._made == self._buffers:
                return self._free.get()  # wait for the writer to finish one
            try:
                return self._free.get_nowait()
            except queue.Empty:
                self._made += 1
        return {name: np.empty(shape) for name, shape in shapes.items()}  # kept if buffers


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
            out = None
            if hasattr(self.series, "buffers_for"):  # assembled in the series' own buffers
                shape = (sim.model.grid.nz, sim.model.grid.nx)
                out = self.series.buffers_for(dict.fromkeys(sim.snapshot_names(), shape))
            self.series.append(time, sim.snapshot(time, out))
        if self.logger is not None:
            log = partial(
                self.logger.info,
                "snapshot %d at t = %.6g (step %d, dt = %.4g)",
                self.written,
                time,
                sim.model.iteration,
                sim.dt,
            )
            # logged once written, by the series' thread if it has one: a write to log.txt
            # from the time loop took 0.4 ms a snapshot in a run (0.03 ms alone)
            after = getattr(self.series, "after", None)
            if after is not None:
                after(log)
            else:
                log()
        self.written += 1

    def flush(self, sim: Simulation) -> int:
        if self.series is not None:
            self.series.commit()
        return self.written

    def close(self, sim: Simulation) -> None:
        if self.series is not None:
            self.series.close()


class DiagnosticsWriter:
    """The scalar diagnostics (:meth:`Simulation.evaluate_diagnostics`, those chosen by
    ``every_step``: all by default) at t = 0 and after every step (or on ``schedule``),
    buffered and appended to ``series`` in blocks of ``buffer`` records, and whenever the
    writer is flushed or closed."""

    def __init__(
        self,
        series: Series,
        schedule: Schedule | None = None,
        buffer: int = DIAGNOSTICS_BUFFER,
        every_step: bool | None = None,
    ):
        self.series = series
        self.schedule = schedule if schedule is not None else IterationInterval(1)
        self.buffer_size = buffer
        self.every_step = every_step
        self.buffer: list[tuple[float, dict[str, float]]] = []  # records not yet appended

    def write(self, sim: Simulation) -> None:
        self.buffer.append((sim.model.time, sim.evaluate_diagnostics(self.every_step)))
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
        try:
            self._append()
        finally:
            self.series.close()
