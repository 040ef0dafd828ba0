"""Checkpoints: the full state needed to continue a run bit for bit.

A checkpoint (``checkpoints/checkpoint_<iteration>.h5``) holds every prognostic
field with its ghost cells, the model time, iteration and last dt, how many
records each output writer had published (``records``: snapshots in fields.nc,
diagnostics in diagnostics.nc), the state of every stateful forcing (e.g.
the random generator of the stochastic forcing), and ``end_approach``: the t_end
whose approach shortened a step before it (NaN if none), because such a state is
off the path of a longer run. It is written to a
temporary name, fsynced and renamed, so a crash leaves either the old or the
new checkpoint, never half of one; the newest ``keep`` are kept.

:class:`Checkpointer` is the output writer that writes them during a run.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from ..core.model import Model
from ..errors import BillowError
from ..schedules import AtEnd, Schedule, TimeInterval, WallTimeInterval
from .atomic import atomic_path

if TYPE_CHECKING:
    from ..output_writers import WriterThread
    from ..simulation import Simulation

DIRECTORY = "checkpoints"
CHECKPOINT_WALL_INTERVAL = 120.0  # seconds of wall clock between checkpoints, at the latest


@dataclass
class Checkpoint:
    path: Path | None  # None until written
    fields: dict[str, np.ndarray]
    time: float
    iteration: int
    last_dt: float
    records: dict[str, int]  # output writer -> records it had published
    forcing_states: list
    end_approach: float | None = None  # t_end whose approach shortened a step before it


def capture_checkpoint(
    model: Model, records: dict[str, int], end_approach: float | None = None
) -> Checkpoint:
    """The model's state (copies: the run may step on while it is written), ``records``
    (output writer -> records published, or queued to be before the checkpoint is
    written) and ``end_approach``, as a Checkpoint not yet written (``path`` None)."""
    return Checkpoint(
        None,
        {name: values.copy() for name, values in model.state.items()},
        model.time,
        model.iteration,
        model.last_dt,
        dict(records),
        [getattr(f, "get_state", lambda: None)() for f in model.forcings],
        end_approach,
    )


def write_checkpoint(run_dir: Path, checkpoint: Checkpoint, keep: int = 2) -> Path:
    """Write ``checkpoint`` atomically as ``checkpoints/checkpoint_<iteration>.h5``, and
    keep the newest ``keep`` checkpoints, and also, once the approach to t_end has
    shortened steps, the newest from before that."""
    directory = Path(run_dir) / DIRECTORY
    directory.mkdir(exist_ok=True)
    path = directory / f"checkpoint_{checkpoint.iteration:09d}.h5"
    end_approach = checkpoint.end_approach
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as out:
        for name, values in checkpoint.fields.items():
            out.create_dataset(name, data=values)
        out.attrs.update(
            time=checkpoint.time,
            iteration=checkpoint.iteration,
            last_dt=checkpoint.last_dt,
            records=json.dumps(checkpoint.records),
            forcing_states=json.dumps(checkpoint.forcing_states),
            end_approach=np.nan if end_approach is None else end_approach,
        )
    older = sorted(directory.glob("checkpoint_*.h5"))[:-keep]
    if end_approach is not None:  # keep the newest that a longer run can continue from
        unshortened = [old for old in older if _end_approach(old) is None]
        older = [old for old in older if old not in unshortened[-1:]]
    for old in older:
        old.unlink()
    return path


def latest_checkpoint(run_dir: Path, t_end: float | None = None) -> Path | None:
    """The newest checkpoint of a run directory (None if it has none); with ``t_end``, the
    newest on the path of a run to ``t_end``: one that no approach to another t_end
    shortened a step before (if every kept one was, the newest)."""
    candidates = sorted((Path(run_dir) / DIRECTORY).glob("checkpoint_*.h5"))
    if t_end is not None:
        for path in reversed(candidates):
            approach = _end_approach(path)
            if approach is None or approach == t_end:
                return path
    return candidates[-1] if candidates else None


def _end_approach(path: Path) -> float | None:
    """A checkpoint file's end_approach (None for an unreadable file: read_checkpoint says so)."""
    try:
        with h5py.File(path, "r") as source:
            return _approach_of(source.attrs)
    except OSError:
        return None


def _approach_of(attrs) -> float | None:
    """The end_approach attribute: None when NaN or absent (older checkpoints)."""
    value = float(attrs.get("end_approach", np.nan))
    return None if np.isnan(value) else value


def read_checkpoint(path: Path) -> Checkpoint:
    try:
        with h5py.File(path, "r") as source:
            fields = {name: source[name][...] for name in source}
            attrs = dict(source.attrs)
    except (OSError, KeyError) as error:
        raise BillowError(f"checkpoint '{path}' is unreadable: {error}") from None
    iteration = int(attrs["iteration"])
    if "records" in attrs:
        records = json.loads(attrs["records"])
    else:  # written by billow before its checkpoints recorded every writer
        records = {"fields": int(attrs["snapshots_written"]), "diagnostics": iteration + 1}
    return Checkpoint(
        path,
        fields,
        float(attrs["time"]),
        iteration,
        float(attrs["last_dt"]),
        records,
        json.loads(attrs["forcing_states"]),
        _approach_of(attrs),
    )


def restore(model: Model, checkpoint: Checkpoint) -> None:
    """Put a checkpoint's state into a freshly built model of the same run."""
    for name, values in checkpoint.fields.items():
        if name not in model.state or model.state[name].shape != values.shape:
            raise BillowError(f"checkpoint '{checkpoint.path}' does not match this run ({name})")
        model.state[name][...] = values
    model.time, model.iteration = checkpoint.time, checkpoint.iteration
    model.last_dt = checkpoint.last_dt
    for forcing, state in zip(model.forcings, checkpoint.forcing_states, strict=True):
        if state is not None:
            forcing.set_state(state)


class Checkpointer:
    """The output writer of checkpoints: every ``every`` of simulated time, at least every
    ``wall_time_interval`` seconds of wall clock, and at the end of the run (t_end reached
    or a stop requested).

    The simulated-time schedule does not shorten dt (``TimeInterval(every, align=False)``):
    a checkpoint is written at the end of the first step reaching each multiple of
    ``every``, so how often a run checkpoints never changes its results, and a checkpoint
    may fall between snapshots. Before writing, every other writer publishes what it has
    written (``flush``); the checkpoint stores their record counts, from which a restart
    resumes them, while the schedules resume from the checkpoint's time. Nothing is
    written when the model has not stepped since the last checkpoint (or the start).

    With a ``thread`` (:class:`~billow.output_writers.WriterThread`), a copy of the state
    is queued there and written, as a finish, while the run steps on; ``close`` waits for
    it. The other writers must queue their records and commits on that same WriterThread
    (as the runner sets them up): the checkpoint is then written after the publication of
    the commits it counts.
    """

    def __init__(
        self,
        run_dir: Path,
        every: float,
        *,
        wall_time_interval: float = CHECKPOINT_WALL_INTERVAL,
        keep: int = 2,
        logger: logging.Logger | None = None,
        thread: WriterThread | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.thread = thread
        self._in_flight = threading.Semaphore(1)
        self.keep = keep
        self.logger = logger
        self.wall_clock = WallTimeInterval(wall_time_interval)
        self.schedule: Schedule = TimeInterval(every, align=False) | self.wall_clock | AtEnd()
        self.last_iteration: int | None = None

    def initialize(self, sim: Simulation) -> None:
        self.last_iteration = sim.model.iteration

    def write(self, sim: Simulation) -> None:
        if sim.model.iteration == self.last_iteration:
            return
        records = {
            name: writer.flush(sim)
            for name, writer in sim.output_writers.items()
            if writer is not self and hasattr(writer, "flush")
        }
        if self.thread is None:
            self._write(capture_checkpoint(sim.model, records, sim.end_approach))
        else:  # after the flushes queued above; one checkpoint's copy in flight at most
            self._in_flight.acquire()
            try:
                write = partial(
                    self._write, capture_checkpoint(sim.model, records, sim.end_approach)
                )
                # a finish: written after the publication of the records it counts
                self.thread.submit(lambda: write, self._in_flight.release)
            except BaseException:  # not queued (the thread failed)
                self._in_flight.release()
                raise
        self.last_iteration = sim.model.iteration
        self.wall_clock.initialize()  # the wall-clock interval counts from any checkpoint

    def close(self, sim: Simulation) -> None:
        """Wait until the checkpoints queued are written."""
        if self.thread is not None:
            self.thread.wait()

    def _write(self, checkpoint: Checkpoint) -> None:
        path = write_checkpoint(self.run_dir, checkpoint, self.keep)
        if self.logger is not None:
            self.logger.info("checkpoint %s", path.name)
