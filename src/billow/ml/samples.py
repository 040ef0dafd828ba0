"""A run directory's snapshots at a uniform output interval: what the ML exporters write.

Runs are read only through :func:`billow.open_run` and their ``config.toml``, in
blocks of snapshots of bounded size, so memory does not grow with the length of a
run. Fields keep billow's names (``u``, ``w``, ``b``, ``c``, ...), arrays their
(time, z, x) layout; the writers of each format rename and transpose.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cases import get_case
from ..config import RunParams, read_config
from ..errors import ConfigError
from ..io.rundir import open_run, require_run_directory

DERIVED = ("vorticity",)  # computed from u and w: exported only when asked for
TIME_TOLERANCE = 1e-6  # relative: a snapshot time this close to k * dt_out is on the grid
BLOCK_BYTES = 64 * 2**20  # snapshots read at once: few reads, bounded memory


@dataclass(frozen=True)
class RunSamples:
    """The snapshots of one run at the times ``times`` (uniformly ``dt_out`` apart)."""

    run_dir: Path
    case: str
    params: RunParams
    fields: tuple[str, ...]  # billow names, in the run's order
    times: np.ndarray
    indices: np.ndarray  # positions of ``times`` on the run's time axis
    x: np.ndarray  # cell centres
    z: np.ndarray

    def blocks(self) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """The selected snapshots in time order, a block of consecutive ones at a time:
        (position of the block's first snapshot, dict name -> (time, z, x) array), each
        block at most ``BLOCK_BYTES`` in float64."""

        per_snapshot = 8 * self.x.size * self.z.size * len(self.fields)
        size = max(1, BLOCK_BYTES // per_snapshot)
        with open_run(self.run_dir) as dataset:
            for start in range(0, self.indices.size, size):
                chunk = self.indices[start : start + size]
                yield (
                    start,
                    {
                        name: dataset[name].isel(time=chunk).transpose("time", "z", "x").values
                        for name in self.fields
                    },
                )


def check_interval(dt_out: float, save_every: float) -> None:
    """Refuse an output interval that is not a positive whole multiple of ``save_every``."""
    if not dt_out > 0:
        raise ConfigError(f"the output interval must be > 0 (got {dt_out:g})")
    ratio = dt_out / save_every
    if round(ratio) < 1 or abs(ratio - round(ratio)) > TIME_TOLERANCE * ratio:
        raise ConfigError(
            f"output interval {dt_out:g} is not a whole multiple of the run's "
            f"save interval save_every = {save_every:g}"
        )


def uniform_indices(
    times: np.ndarray, save_every: float, dt_out: float, spin_up: float = 0.0
) -> np.ndarray:
    """Positions of the snapshot times that are multiples of ``dt_out`` at or after
    ``spin_up`` (a trailing snapshot at a t_end off that grid is left out).

    ``dt_out`` must be a whole multiple of the run's ``save_every``.
    """
    check_interval(dt_out, save_every)
    steps = np.asarray(times, dtype=float) / dt_out
    on_grid = np.abs(steps - np.round(steps)) <= TIME_TOLERANCE * np.maximum(1.0, steps)
    after_spin_up = times >= spin_up - TIME_TOLERANCE * max(1.0, dt_out)
    return np.flatnonzero(on_grid & after_spin_up)


def sample_run(
    run_dir: str | Path,
    *,
    dt_out: float | None = None,
    fields: Sequence[str] | None = None,
    spin_up: float = 0.0,
) -> RunSamples:
    """Select a run's snapshots every ``dt_out`` (default: its ``save_every``) from
    ``spin_up`` on, and its ``fields`` (default: every field but the derived vorticity).

    One-line ConfigError for a missing run directory, an unknown field or an interval
    that is not a multiple of the run's save interval.
    """

    run_dir = require_run_directory(run_dir, containing="config.toml")
    case, values = read_config(run_dir / "config.toml")
    if case is None:
        raise ConfigError(f"'{run_dir / 'config.toml'}' names no case")
    params = get_case(case).make_params(**values)
    try:
        dataset = open_run(run_dir)
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read the snapshots of '{run_dir}': {error}") from None
    with dataset:
        available = [str(name) for name in dataset.data_vars]
        times = dataset["time"].values.astype(float)
        x = dataset["x"].values.astype(float)
        z = dataset["z"].values.astype(float)
    if fields is None:
        selected = tuple(name for name in available if name not in DERIVED)
    else:
        unknown = [name for name in fields if name not in available]
        if unknown:
            raise ConfigError(
                f"unknown field '{unknown[0]}' in '{run_dir}' (available: {', '.join(available)})"
            )
        if not fields:
            raise ConfigError("no fields selected")
        selected = tuple(name for name in available if name in fields)
    interval = params.save_every if dt_out is None else dt_out
    indices = uniform_indices(times, params.save_every, interval, spin_up)
    if indices.size == 0:
        raise ConfigError(
            f"'{run_dir}' has no snapshot every {interval:g} from t = {spin_up:g} on "
            f"(it ends at t = {times[-1] if times.size else 0:g})"
        )
    return RunSamples(run_dir, case, params, selected, times[indices], indices, x, z)
