"""Crash-proof streaming netCDF-4 output (CF-1.8): ``fields.nc``, ``diagnostics.nc`` and
``tracer_diagnostics.nc``.

An HDF5 file that is being written when the process is killed (kill -9, a node
failure) can be left unreadable. So records never go into the file users open.
They are appended to an open *segment*, ``segments/<name>.<first record>.nc.partial``;
:meth:`SegmentedTimeSeries.commit` closes it, fsyncs it and renames it to
``segments/<name>.<first record>.nc``, then atomically replaces the *index*
``<name>.nc``: a small netCDF-4 file with the coordinates, the time of every
record, the global attributes, and each variable as an HDF5 virtual dataset
over the finished segments. At any moment the index and every finished
segment are complete files; an interrupted segment is a ``.partial`` file,
never referenced, deleted on restart. Memory does not grow with the number of
records: each record goes to the open segment as it is appended, and the kernel is
asked to start writing it to disk then (:func:`~billow.io.atomic.start_writeback`),
so that the fsync of the commit finds little left to write.

Readers (xarray, netCDF-C, h5py) see the index as one ordinary file. It refers
to its segments by relative path, so a run directory can be moved or copied
whole, but ``fields.nc`` alone holds no data.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..core.grid import Grid
from ..errors import BillowError
from .atomic import atomic_path, replace_durably, start_writeback

CONVENTIONS = "CF-1.8"
SEGMENTS = "segments"
PARTIAL = ".partial"
SEGMENT_CAPACITY = 64  # records an open segment's variables are first sized for
TIME_ATTRIBUTES = {"units": "1", "long_name": "time (units of d/U0)", "axis": "T"}


@dataclass
class Segment:
    path: Path
    first: int  # index of its first record in the whole series
    times: np.ndarray  # of the records the series uses (the first ``len(times)``)
    stored: int  # records in the file


def has_records(run_dir: Path) -> bool:
    """Whether a run directory holds finished segments (records published by a checkpoint)."""
    segments = Path(run_dir) / SEGMENTS
    return any(segments.glob("fields.*.nc")) or any(segments.glob("diagnostics.*.nc"))


def check_segments(index: Path) -> None:
    """Refuse (BillowError, one line) an index whose segment files are missing: a
    ``fields.nc`` copied without its ``segments/`` would read as all-NaN."""
    index = Path(index)
    try:
        with h5py.File(index, "r") as source:
            files = {
                name
                for dataset in source.values()
                if isinstance(dataset, h5py.Dataset) and dataset.is_virtual
                for _, name, _, _ in dataset.virtual_sources()
            }
    except OSError as error:
        raise BillowError(f"'{index}' is not a readable netCDF file: {error}") from None
    missing = sorted(name for name in files if not (index.parent / name).is_file())
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise BillowError(
            f"'{index}' holds no data of its own and its segment {missing[0]}{more} is "
            f"missing: copy the run directory whole (with {SEGMENTS}/), or share a file "
            "made by `billow pack`"
        )


def remove_series(run_dir: Path, name: str) -> None:
    """Delete a series' index and all its segments (finished or not)."""
    (run_dir / f"{name}.nc").unlink(missing_ok=True)
    for path in (run_dir / SEGMENTS).glob(f"{name}.*.nc*"):
        path.unlink()


class SegmentedTimeSeries:
    """A netCDF time series (unlimited ``time``) appended record by record, crash-proof.

    ``dimensions`` are the sizes of the non-time dimensions, ``coordinates``
    maps a dimension to (values, attributes), ``variables`` maps a name to
    (dimensions, attributes). With ``resume_records`` the series continues an
    existing one after its first ``resume_records`` records (later records,
    written after the checkpoint being resumed, are dropped); otherwise any
    previous series of that name is replaced.
    """

    def __init__(
        self,
        run_dir: Path,
        name: str,
        dimensions: dict[str, int],
        coordinates: dict[str, tuple[np.ndarray, dict]],
        variables: dict[str, tuple[tuple[str, ...], dict]],
        attrs: dict,
        resume_records: int | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.name = name
        self.path = self.run_dir / f"{name}.nc"
        self.dimensions = dimensions
        self.coordinates = coordinates
        self.variables = variables
        self.attrs = {"Conventions": CONVENTIONS, **attrs}
        self.segments: list[Segment] = []
        self._images: dict[str, bytes] = {}  # of an empty index and segment (see _create)
        self.open_segment: h5py.File | None = None
        self.records = 0
        (self.run_dir / SEGMENTS).mkdir(exist_ok=True)
        for path in (self.run_dir / SEGMENTS).glob(f"{name}.*.nc{PARTIAL}"):
            path.unlink()
        if resume_records is None:
            remove_series(self.run_dir, name)
            self._write_index()
        else:
            self._resume(resume_records)

    # ------------------------------------------------------------------ resuming
    def _finished_segments(self) -> list[Segment]:
        pattern = re.compile(rf"{re.escape(self.name)}\.(\d+)\.nc")
        segments = []
        for path in (self.run_dir / SEGMENTS).iterdir():
            match = pattern.fullmatch(path.name)
            if match:
                try:
                    with h5py.File(path, "r") as source:
                        times = source["time"][...]
                except (OSError, KeyError) as error:
                    raise BillowError(f"output segment '{path}' is unreadable: {error}") from None
                segments.append(Segment(path, int(match.group(1)), times, len(times)))
        return sorted(segments, key=lambda segment: segment.first)

    def _resume(self, records: int) -> None:
        """Keep the first ``records`` records: rewrite the index first, then drop the rest, so
        that the index never refers to a missing record."""
        found = self._finished_segments()
        kept, dropped, expected_first = [], [], 0
        for segment in found:
            if segment.first != expected_first or segment.first >= records:
                dropped.append(segment)
                continue
            kept.append(segment)
            expected_first = segment.first + len(segment.times)
        available = sum(len(segment.times) for segment in kept)
        if available < records:
            raise BillowError(
                f"'{self.path}' has {available} complete records, the checkpoint needs {records}"
            )
        self.segments, self.records = kept, records
        last = kept[-1] if kept else None
        if last is not None and last.first + last.stored > records:
            last.times = last.times[: records - last.first]
            self._write_index()
            self._truncate(last)
        self._write_index()
        for segment in dropped:
            segment.path.unlink()

    def _truncate(self, segment: Segment) -> None:
        """Replace a finished segment's file by a copy of the records the series uses."""
        count = len(segment.times)
        with h5py.File(segment.path, "r") as source:
            values = {name: source[name][:count] for name in self.variables}
        self._open(segment.first)
        self._append_to_open(segment.times, values)
        partial, _ = self._close_open()
        replace_durably(partial, segment.path)
        segment.stored = count

    # ------------------------------------------------------------------ writing
    def _segment_path(self, first: int) -> Path:
        return self.run_dir / SEGMENTS / f"{self.name}.{first:09d}.nc"

    def _partial_path(self, first: int) -> Path:
        """The open segment's name until it is published."""
        path = self._segment_path(first)
        return path.with_name(path.name + PARTIAL)

    def _shape(self, dims: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(self.dimensions[d] for d in dims[1:])

    def _write_header(self, out: h5py.File) -> dict[str, h5py.Dataset]:
        """Global attributes, ``time`` (unlimited, empty) and the coordinates, as netCDF-4
        dimension scales; returns the scales by dimension name."""
        out.attrs.update(self.attrs)
        time = out.create_dataset("time", (0,), "f8", maxshape=(None,), chunks=(1024,))
        time.attrs.update(TIME_ATTRIBUTES)
        scales = {"time": time}
        for name, (values, attrs) in self.coordinates.items():
            scales[name] = out.create_dataset(name, data=values)
            scales[name].attrs.update(attrs)
        for name, scale in scales.items():
            scale.make_scale(name)
        return scales

    def _describe(self, variable: h5py.Dataset, name: str, scales: dict) -> None:
        dims, attrs = self.variables[name]
        for axis, dim in enumerate(dims):
            variable.dims[axis].attach_scale(scales[dim])
        variable.attrs.update(attrs)

    def _create(self, path: Path, kind: str) -> h5py.File:
        """Create ``path`` as a new, empty ``kind`` of file, opened for writing: an index
        (header and coordinates) or a segment (also the variables, sized for
        ``SEGMENT_CAPACITY`` records). The file is a copy of an image HDF5 makes once per
        series in memory, byte for byte the file it would write itself, so that the
        attributes and dimension scales are not written again for every file."""
        image = self._images.get(kind)
        if image is None:
            with h5py.File(f"{self.name}.{kind}", "w", driver="core", backing_store=False) as out:
                scales = self._write_header(out)
                variables = self.variables if kind == "segment" else {}
                for name, (dims, _) in variables.items():
                    shape = self._shape(dims)
                    chunks = (1, *shape) if shape else (1024,)  # one snapshot, or many scalars
                    variable = out.create_dataset(
                        name,
                        (SEGMENT_CAPACITY, *shape),
                        "f8",
                        maxshape=(None, *shape),
                        chunks=chunks,
                    )
                    self._describe(variable, name, scales)
                out.flush()
                image = self._images[kind] = out.id.get_file_image()
        path.write_bytes(image)
        return h5py.File(path, "r+")

    def _open(self, first: int) -> None:
        """Start the segment whose first record is ``first``, as a ``.partial`` file.

        Its variables are sized for ``SEGMENT_CAPACITY`` records at first (chunks not
        written take no space) and doubled when full, rather than resized every record;
        :meth:`_close_open` cuts them to the records written and writes the times."""
        segment = self._create(self._partial_path(first), "segment")
        self.open_datasets = {name: segment[name] for name in self.variables}
        # the origin of a record in each variable, without the time axis
        self.open_origins = {
            name: (0,) * len(dims[1:]) for name, (dims, _) in self.variables.items()
        }
        self.open_segment = segment
        self.open_time = segment["time"]
        # the file descriptor HDF5 writes to (its default driver; another has none)
        self.open_descriptor = segment.id.get_vfd_handle() if segment.driver == "sec2" else None
        self.open_first = first
        self.open_count = 0  # records written
        self.open_capacity = SEGMENT_CAPACITY
        self.open_times: list[np.ndarray] = []

    def _append_to_open(self, times: np.ndarray, values: dict) -> None:
        start, stop = self.open_count, self.open_count + times.size
        if stop > self.open_capacity:
            self.open_capacity = max(stop, 2 * self.open_capacity)
            for dataset in self.open_datasets.values():
                dataset.resize(self.open_capacity, axis=0)
        for name, dataset in self.open_datasets.items():
            origin = self.open_origins[name]
            if origin and times.size == 1:  # one snapshot = one whole chunk
                # handed to HDF5 as is: no selection, conversion or chunk-cache copy
                chunk = np.ascontiguousarray(values[name], dtype="<f8")
                dataset.id.write_direct_chunk((start, *origin), chunk)
            else:
                dataset[start:stop] = values[name]
        self.open_count = stop
        self.open_times.append(times)
        if self.open_descriptor is not None:  # then the fsync at commit waits for little
            start_writeback(self.open_descriptor)

    def _close_open(self) -> tuple[Path, np.ndarray]:
        """Write the times and cut the variables to the records written, then close the open
        segment (still a ``.partial`` file); returns its path and times."""
        times = np.concatenate(self.open_times)
        self.open_time.resize(times.size, axis=0)
        self.open_time[:] = times
        for dataset in self.open_datasets.values():
            dataset.resize(times.size, axis=0)
        partial = self._partial_path(self.open_first)
        self.open_segment.close()
        self.open_segment = None
        return partial, times

    def append(self, times: float | np.ndarray, values: dict[str, np.ndarray | float]) -> None:
        """Append one record (or several: arrays whose first axis is time) to the open segment."""
        times = np.atleast_1d(np.asarray(times, dtype=float))
        if self.open_segment is None:
            self._open(self.records)
        self._append_to_open(times, values)
        self.records += times.size

    def commit(self) -> None:
        """Finish the open segment and publish it in the index (both atomic)."""
        publish = self.finish_segment()
        if publish is not None:
            publish()

    def finish_segment(self) -> Callable[[], None] | None:
        """Close the open segment and return what publishes it: fsync it, rename it to its
        finished name and rewrite the index over it (None if no segment is open).

        The records appended after this go to a new segment, so the publication, which waits
        for the disk, may run on another thread meanwhile (as a
        :class:`~billow.output_writers.WriterThread` finish); publications must run in the
        order of their segments."""
        if self.open_segment is None:
            return None
        first = self.open_first
        partial, times = self._close_open()

        def publish() -> None:
            path = self._segment_path(first)
            replace_durably(partial, path)
            self.segments.append(Segment(path, first, times, len(times)))
            self._write_index()

        return publish

    def close(self) -> None:
        self.commit()

    def _write_index(self) -> None:
        """Write the index (coordinates, times, virtual variables) to a temporary name,
        fsync it and rename it over ``<name>.nc``."""
        times = np.concatenate([s.times for s in self.segments] or [np.zeros(0)])
        with atomic_path(self.path) as temporary, self._create(temporary, "index") as index:
            scales = {name: index[name] for name in ("time", *self.coordinates)}
            scales["time"].resize(times.size, axis=0)
            scales["time"][:] = times
            for name, (dims, _) in self.variables.items():
                variable = self._virtual_variable(index, name, self._shape(dims))
                self._describe(variable, name, scales)

    def _virtual_variable(self, index: h5py.File, name: str, shape: tuple) -> h5py.Dataset:
        """``name`` over all finished segments, as an HDF5 virtual dataset (relative paths).

        Made with h5py's low-level API: the same mappings as ``h5py.VirtualLayout`` (one
        block of records per segment), without its cost of a deep copy per segment."""
        total = sum(len(s.times) for s in self.segments)
        if total == 0:
            return index.create_dataset(name, (0, *shape), "f8", maxshape=(None, *shape))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.VIRTUAL)
        virtual = h5py.h5s.create_simple((total, *shape))
        ones, origin = (1,) * (len(shape) + 1), (0,) * len(shape)
        for segment in self.segments:
            block = (len(segment.times), *shape)
            source = h5py.h5s.create_simple((segment.stored, *shape))
            source.select_hyperslab((0, *origin), ones, ones, block)
            virtual.select_hyperslab((segment.first, *origin), ones, ones, block)
            relative = f"{SEGMENTS}/{segment.path.name}".encode()
            dcpl.set_virtual(virtual, relative, name.encode(), source)  # copies the selections
        dcpl.set_fill_value(np.array([np.nan]))
        float64 = h5py.h5t.py_create(np.dtype("f8"), logical=True)
        space = h5py.h5s.create_simple((total, *shape))
        return h5py.Dataset(h5py.h5d.create(index.id, name.encode(), float64, space, dcpl=dcpl))


def fields_series(
    run_dir: Path,
    grid: Grid,
    variables: dict[str, str],
    attrs: dict,
    resume_records: int | None = None,
) -> SegmentedTimeSeries:
    """fields.nc: (time, z, x) snapshots at cell centres; ``variables`` maps name -> long name."""
    attrs = {**attrs, "staggering": "u and w interpolated from their C-grid faces to cell centres"}
    coordinates = {
        "z": (
            grid.z_centre,
            {"units": "1", "long_name": "z (units of d), up", "axis": "Z", "positive": "up"},
        ),
        "x": (grid.x_centre, {"units": "1", "long_name": "x (units of d)", "axis": "X"}),
    }
    return SegmentedTimeSeries(
        run_dir,
        "fields",
        {"z": grid.nz, "x": grid.nx},
        coordinates,
        {
            name: (("time", "z", "x"), {"units": "1", "long_name": long_name})
            for name, long_name in variables.items()
        },
        attrs,
        resume_records,
    )


def diagnostics_series(
    run_dir: Path,
    variables: dict[str, str],
    attrs: dict,
    resume_records: int | None = None,
    name: str = "diagnostics",
) -> SegmentedTimeSeries:
    """<name>.nc (diagnostics.nc, tracer_diagnostics.nc): scalar series; ``variables`` maps
    name -> long name."""
    return SegmentedTimeSeries(
        run_dir,
        name,
        {},
        {},
        {
            name: (("time",), {"units": "1", "long_name": long_name})
            for name, long_name in variables.items()
        },
        attrs,
        resume_records,
    )
