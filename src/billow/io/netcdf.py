"""Streaming netCDF-4 (HDF5) writers: one record appended per call, flushed to disk,
so memory does not grow with the number of snapshots (CF-1.8 conventions)."""

from __future__ import annotations

import time
from pathlib import Path

import h5netcdf
import numpy as np

from ..errors import BillowError
from ..grid import Grid

CONVENTIONS = "CF-1.8"


def _global_attributes(attrs: dict) -> dict:
    return {"Conventions": CONVENTIONS, **attrs}


class TimeSeriesFile:
    """A netCDF file with an unlimited ``time`` dimension and variables appended per record.

    Appended records reach the disk at most ``flush_interval`` seconds (wall
    clock) later, and at :meth:`close`.
    """

    def __init__(
        self, path: Path, dimensions: dict[str, int], attrs: dict, flush_interval: float = 2.0
    ):
        self.path = Path(path)
        self.flush_interval = flush_interval
        self._last_flush = time.monotonic()
        self.file = h5netcdf.File(self.path, "w")
        self.file.dimensions = {"time": None, **dimensions}
        self.file.attrs.update(_global_attributes(attrs))
        time_coordinate = self.file.create_variable("time", ("time",), "f8")
        time_coordinate.attrs.update(
            {"units": "1", "long_name": "time (units of d/U0)", "axis": "T"}
        )
        self.records = 0

    @classmethod
    def reopen(cls, path: Path, records: int, attrs: dict, flush_interval: float = 2.0):
        """Open an existing file to append after its first ``records`` records (later ones,
        written after the checkpoint being resumed, are dropped)."""
        self = cls.__new__(cls)
        self.path = Path(path)
        self.flush_interval = flush_interval
        self._last_flush = time.monotonic()
        try:
            self.file = h5netcdf.File(self.path, "a")
        except OSError as error:
            raise BillowError(f"cannot reopen '{path}': {error}") from None
        available = self.file.dimensions["time"].size
        if available < records:
            self.file.close()
            raise BillowError(f"'{path}' has {available} records, the checkpoint needs {records}")
        self.file.resize_dimension("time", records)
        self.file.attrs.update(_global_attributes(attrs))
        self.records = records
        return self

    def add_coordinate(self, name: str, values: np.ndarray, attrs: dict) -> None:
        variable = self.file.create_variable(name, (name,), "f8", data=values)
        variable.attrs.update(attrs)

    def add_variable(self, name: str, dims: tuple[str, ...], attrs: dict) -> None:
        chunks = (
            (1,) + tuple(self.file.dimensions[d].size for d in dims[1:]) if len(dims) > 1 else None
        )
        variable = self.file.create_variable(name, dims, "f8", chunks=chunks)
        variable.attrs.update(attrs)

    def append(self, times: float | np.ndarray, values: dict[str, np.ndarray | float]) -> None:
        """Append one record (or several: pass arrays whose first axis is time)."""
        times = np.atleast_1d(times)
        start = self.records
        self.records += times.size
        self.file.resize_dimension("time", self.records)
        self.file.variables["time"][start : self.records] = times
        for name, value in values.items():
            self.file.variables[name][start : self.records, ...] = value
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self.file.flush()
            self._last_flush = time.monotonic()

    def flush(self) -> None:
        self.file.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self.file.close()


def fields_file(path: Path, grid: Grid, variables: dict[str, str], attrs: dict) -> TimeSeriesFile:
    """fields.nc: (time, z, x) snapshots at cell centres; ``variables`` maps name -> long name."""
    out = TimeSeriesFile(path, {"z": grid.nz, "x": grid.nx}, attrs)
    out.file.attrs["staggering"] = "u and w interpolated from their C-grid faces to cell centres"
    out.add_coordinate(
        "x", grid.x_centre, {"units": "1", "long_name": "x (units of d)", "axis": "X"}
    )
    out.add_coordinate(
        "z", grid.z_centre, {"units": "1", "long_name": "z (units of d), up", "axis": "Z"}
    )
    for name, long_name in variables.items():
        out.add_variable(name, ("time", "z", "x"), {"units": "1", "long_name": long_name})
    return out


def timeseries_file(path: Path, variables: dict[str, str], attrs: dict) -> TimeSeriesFile:
    """diagnostics.nc: scalar series; ``variables`` maps name -> long name."""
    out = TimeSeriesFile(path, {}, attrs)
    for name, long_name in variables.items():
        out.add_variable(name, ("time",), {"units": "1", "long_name": long_name})
    return out
