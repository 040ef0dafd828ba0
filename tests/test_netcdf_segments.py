"""The segmented netCDF series (billow.io.netcdf): how its index and segments are stored."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import xarray as xr

from billow.io.netcdf import SEGMENTS, SegmentedTimeSeries


def make_series(run_dir: Path, resume_records: int | None = None) -> SegmentedTimeSeries:
    return SegmentedTimeSeries(
        run_dir,
        "fields",
        {"z": 2, "x": 3},
        {"z": (np.arange(2.0), {"units": "1"}), "x": (np.arange(3.0), {"units": "1"})},
        {
            "u": (("time", "z", "x"), {"units": "1", "long_name": "u"}),
            "w": (("time", "z", "x"), {"units": "1", "long_name": "w"}),
        },
        {"case": "test"},
        resume_records,
    )


def record(n: int) -> dict[str, np.ndarray]:
    return {"u": np.full((2, 3), float(n)), "w": np.full((2, 3), -float(n))}


def mappings(dataset: h5py.Dataset) -> list[tuple]:
    """A virtual dataset's mappings: virtual selection, source file, dataset, extent, selection."""
    dcpl = dataset.id.get_create_plist()
    return [
        (
            dcpl.get_virtual_vspace(i).get_regular_hyperslab(),
            dcpl.get_virtual_filename(i),
            dcpl.get_virtual_dsetname(i),
            dcpl.get_virtual_srcspace(i).shape,
            dcpl.get_virtual_srcspace(i).get_regular_hyperslab(),
        )
        for i in range(dcpl.get_virtual_count())
    ]


def test_index_maps_records_as_h5py_virtual_layout_does(tmp_path):
    series = make_series(tmp_path)
    for first, stop in ((0, 4), (4, 5), (5, 9)):
        for n in range(first, stop):
            series.append(float(n), record(n))
        series.commit()
    # the last segment holds 4 records, the series uses 2 (an index a resume writes first)
    series.segments[-1].times = series.segments[-1].times[:2]
    series._write_index()

    reference = tmp_path / "reference.nc"
    with h5py.File(reference, "w") as out:
        for name in ("u", "w"):
            layout = h5py.VirtualLayout((7, 2, 3), "f8")
            for segment in series.segments:
                count = len(segment.times)
                relative = f"{SEGMENTS}/{segment.path.name}"
                source = h5py.VirtualSource(relative, name, shape=(segment.stored, 2, 3))
                layout[segment.first : segment.first + count] = source[:count]
            out.create_virtual_dataset(name, layout, fillvalue=np.nan)
    with h5py.File(tmp_path / "fields.nc", "r") as index, h5py.File(reference, "r") as expected:
        for name in ("u", "w"):
            made, wanted = index[name], expected[name]
            assert mappings(made) == mappings(wanted)
            assert (made.shape, made.maxshape, made.dtype) == (
                wanted.shape,
                wanted.maxshape,
                wanted.dtype,
            )
            assert np.isnan(made.fillvalue) and np.isnan(wanted.fillvalue)
    with xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf") as read:
        assert read.time.values.tolist() == list(range(7))
        assert read.u.values[:, 0, 0].tolist() == list(range(7))
        assert read.w.values[:, 1, 2].tolist() == [-float(n) for n in range(7)]
