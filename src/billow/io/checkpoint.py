"""Checkpoints: the full state needed to continue a run bit for bit.

A checkpoint (``checkpoints/checkpoint_<iteration>.h5``) holds every prognostic
field with its ghost cells, the model time, iteration and last dt, the
number of snapshots written, and the state of every stateful forcing (e.g.
the random generator of the stochastic forcing). It is written to a
temporary name, fsynced and renamed, so a crash leaves either the old or the
new checkpoint, never half of one; the newest ``keep`` are kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..core.model import Model
from ..errors import BillowError
from .atomic import atomic_path

DIRECTORY = "checkpoints"


@dataclass
class Checkpoint:
    path: Path
    fields: dict[str, np.ndarray]
    time: float
    iteration: int
    last_dt: float
    snapshots_written: int
    forcing_states: list


def write_checkpoint(run_dir: Path, model: Model, snapshots_written: int, keep: int = 2) -> Path:
    """Write the model's state atomically and keep the newest ``keep`` checkpoints."""
    directory = Path(run_dir) / DIRECTORY
    directory.mkdir(exist_ok=True)
    path = directory / f"checkpoint_{model.iteration:09d}.h5"
    states = [getattr(f, "get_state", lambda: None)() for f in model.forcings]
    with atomic_path(path) as temporary, h5py.File(temporary, "w") as out:
        for name, values in model.state.items():
            out.create_dataset(name, data=values)
        out.attrs.update(
            time=model.time,
            iteration=model.iteration,
            last_dt=model.last_dt,
            snapshots_written=snapshots_written,
            forcing_states=json.dumps(states),
        )
    for old in sorted(directory.glob("checkpoint_*.h5"))[:-keep]:
        old.unlink()
    return path


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint of a run directory (None if it has none)."""
    candidates = sorted((Path(run_dir) / DIRECTORY).glob("checkpoint_*.h5"))
    return candidates[-1] if candidates else None


def read_checkpoint(path: Path) -> Checkpoint:
    try:
        with h5py.File(path, "r") as source:
            fields = {name: source[name][...] for name in source}
            attrs = dict(source.attrs)
    except (OSError, KeyError) as error:
        raise BillowError(f"checkpoint '{path}' is unreadable: {error}") from None
    return Checkpoint(
        path,
        fields,
        float(attrs["time"]),
        int(attrs["iteration"]),
        float(attrs["last_dt"]),
        int(attrs["snapshots_written"]),
        json.loads(attrs["forcing_states"]),
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
