"""Read Well-layout HDF5 files without the_well (or PyTorch): (input, output) windows of
consecutive snapshots as numpy arrays.

::

    from billow.datasets import WellWindows

    train = WellWindows("runs/kh_dataset/data/train", n_steps_input=4, n_steps_output=1)
    x, y = train[0]              # (4, nx, nz, channels), (1, nx, nz, channels)
    train.channel_names          # e.g. ["buoyancy", "dye", "velocity_x", "velocity_z"]
    for x, y in train: ...

Channels are flattened as The Well's loader does: the t0 fields, then each t1 field's
components suffixed with the spatial dimension names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import ConfigError


@dataclass(frozen=True)
class _Window:
    path: Path
    trajectory: int
    start: int


class WellWindows:
    """Every (input, output) window pair in a directory of Well-layout files (``*.hdf5``,
    ``*.h5``), in file, trajectory and time order: ``n_steps_input`` consecutive
    snapshots, then the next ``n_steps_output``. ``fields``: The Well's field names
    (default: every time-varying t0 and t1 field)."""

    def __init__(
        self,
        path: str | Path,
        n_steps_input: int = 1,
        n_steps_output: int = 1,
        fields: Sequence[str] | None = None,
    ):
        self.path = Path(path)
        if n_steps_input < 1 or n_steps_output < 1:
            raise ConfigError("n_steps_input and n_steps_output must be >= 1")
        self.n_steps_input = n_steps_input
        self.n_steps_output = n_steps_output
        files = sorted([*self.path.glob("*.hdf5"), *self.path.glob("*.h5")])
        if not files:
            raise ConfigError(f"no HDF5 files in '{self.path}'")
        self.fields: list[tuple[str, int]] = []  # (name, tensor order)
        self.channel_names: list[str] = []
        self._windows: list[_Window] = []
        steps = n_steps_input + n_steps_output
        for file in files:
            with h5py.File(file, "r") as source:
                available = _time_varying_fields(source)
                if not self.fields:
                    self.fields = _select(available, fields, file)
                    dims = [str(d) for d in source["dimensions"].attrs["spatial_dims"]]
                    for name, order in self.fields:
                        suffixes = [""] if order == 0 else [f"_{d}" for d in dims]
                        self.channel_names += [name + suffix for suffix in suffixes]
                elif not set(self.fields) <= set(available):
                    raise ConfigError(f"'{file}' lacks fields of the other files")
                n_times = source["dimensions"]["time"].shape[-1]
                if n_times < steps:
                    raise ConfigError(
                        f"'{file}' has {n_times} time steps, fewer than "
                        f"n_steps_input + n_steps_output = {steps}"
                    )
                for trajectory in range(int(source.attrs["n_trajectories"])):
                    self._windows += [
                        _Window(file, trajectory, start) for start in range(n_times - steps + 1)
                    ]

    def __len__(self) -> int:
        return len(self._windows)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        window = self._windows[index]
        stop = window.start + self.n_steps_input + self.n_steps_output
        with h5py.File(window.path, "r") as source:
            channels = []
            for name, order in self.fields:
                data = source[f"t{order}_fields"][name][window.trajectory, window.start : stop]
                channels.append(data[..., None] if order == 0 else data)
        stacked = np.concatenate(channels, axis=-1)
        return stacked[: self.n_steps_input], stacked[self.n_steps_input :]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return (self[i] for i in range(len(self)))


def _time_varying_fields(source: h5py.File) -> list[tuple[str, int]]:
    fields = []
    for order in (0, 1):
        group = source[f"t{order}_fields"]
        for name in group.attrs["field_names"]:
            if group[name].attrs["time_varying"]:
                fields.append((str(name), order))
    return fields


def _select(
    available: list[tuple[str, int]], fields: Sequence[str] | None, file: Path
) -> list[tuple[str, int]]:
    if fields is None:
        return available
    names = [name for name, _ in available]
    unknown = [name for name in fields if name not in names]
    if unknown:
        raise ConfigError(
            f"unknown field '{unknown[0]}' in '{file}' (available: {', '.join(names)})"
        )
    return [(name, order) for name, order in available if name in fields]
