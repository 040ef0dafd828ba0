"""Crash safety: a run killed (SIGKILL) at any moment leaves every file on disk readable,
and `billow restart` continues it to exactly the uninterrupted result."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr
from console import BILLOW
from test_restart import assert_identical_runs

import billow
from billow.errors import BillowError
from billow.io.netcdf import SEGMENTS, SegmentedTimeSeries


def make_series(run_dir: Path, resume_records: int | None = None) -> SegmentedTimeSeries:
    return SegmentedTimeSeries(
        run_dir,
        "fields",
        {"z": 2, "x": 3},
        {"z": (np.arange(2.0), {"units": "1"}), "x": (np.arange(3.0), {"units": "1"})},
        {"u": (("time", "z", "x"), {"units": "1", "long_name": "u"})},
        {"case": "test", "Re": 1000.0},
        resume_records,
    )


def record(n: int) -> np.ndarray:
    return np.full((2, 3), float(n))


def write_records(series: SegmentedTimeSeries, numbers, commit: bool = True) -> None:
    for n in numbers:
        series.append(float(n), {"u": record(n)})
    if commit:
        series.commit()


def read_index(run_dir: Path) -> xr.Dataset:
    with xr.open_dataset(run_dir / "fields.nc", engine="h5netcdf") as index:
        return index.load()


def test_index_reads_as_one_file_and_each_segment_alone(tmp_path):
    series = make_series(tmp_path)
    assert read_index(tmp_path).sizes["time"] == 0  # readable before the first record
    write_records(series, range(0, 4))
    write_records(series, range(4, 5))
    write_records(series, range(5, 9))
    series.close()
    index = read_index(tmp_path)
    assert index.time.values.tolist() == list(range(9))
    assert np.array_equal(index.u.values, np.stack([record(n) for n in range(9)]))
    assert index.attrs["Re"] == 1000.0 and index.attrs["Conventions"] == "CF-1.8"
    assert index.u.attrs["long_name"] == "u" and index.u.dims == ("time", "z", "x")
    segments = sorted((tmp_path / SEGMENTS).iterdir())
    assert [path.name for path in segments] == [
        "fields.000000000.nc",
        "fields.000000004.nc",
        "fields.000000005.nc",
    ]
    with xr.open_dataset(segments[1], engine="h5netcdf") as alone:
        assert alone.time.values.tolist() == [4.0]
        assert alone.attrs["case"] == "test"
    # the index refers to its segments relative to itself: a moved run directory still reads
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    tmp_path.rename(moved)
    assert np.array_equal(read_index(moved).u.values, index.u.values)


def test_records_not_committed_are_invisible_and_dropped_on_resume(tmp_path):
    # A writer process killed (os._exit: no cleanup) while a segment is open.
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_crash_safety import make_series, write_records
        series = make_series({str(tmp_path)!r})
        write_records(series, range(0, 3))
        write_records(series, range(3, 6), commit=False)
        os._exit(9)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=False, timeout=120)
    partial = list((tmp_path / SEGMENTS).glob("*.partial"))
    assert len(partial) == 1, "the open segment is left as a .partial file"
    assert read_index(tmp_path).time.values.tolist() == [0, 1, 2]

    series = make_series(tmp_path, resume_records=3)
    assert not list((tmp_path / SEGMENTS).glob("*.partial"))
    write_records(series, range(3, 5))
    series.close()
    index = read_index(tmp_path)
    assert index.time.values.tolist() == [0, 1, 2, 3, 4]
    assert np.array_equal(index.u.values[:, 0, 0], np.arange(5.0))


def test_resume_cuts_a_segment_that_runs_past_the_checkpoint(tmp_path):
    series = make_series(tmp_path)
    write_records(series, range(0, 5))
    write_records(series, range(5, 10))
    series.close()
    series = make_series(tmp_path, resume_records=7)
    assert read_index(tmp_path).time.values.tolist() == list(range(7))
    with h5py.File(tmp_path / SEGMENTS / "fields.000000005.nc") as segment:
        assert segment["time"][...].tolist() == [5.0, 6.0]
    write_records(series, [70, 80])
    series.close()
    assert read_index(tmp_path).u.values[:, 0, 0].tolist() == [0, 1, 2, 3, 4, 5, 6, 70, 80]


def test_resume_refuses_records_that_are_not_on_disk(tmp_path):
    series = make_series(tmp_path)
    write_records(series, range(0, 3))
    series.close()
    with pytest.raises(BillowError, match="has 3 complete records, the checkpoint needs 5"):
        make_series(tmp_path, resume_records=5)


# ------------------------------------------------------------------ kill -9 test

KILL_PARAMS = dict(
    nx=48, nz=48, Lx=14.0, perturbation="sinusoid", t_end=24.0, save_every=0.5,
    checkpoint_every=1.0, seed=3,
)  # fmt: skip  # 49 snapshots, about 180 steps


def assert_every_file_opens(run_dir: Path) -> None:
    """Every finished file of the run directory is complete (temporary ones are ignored):
    each index file opens as netCDF and reads every record through its segments, and each
    segment, read alone as HDF5, holds only finite values (xarray would take 0.2 s a
    segment, and a killed run leaves dozens)."""
    for path in sorted(run_dir.rglob("*")):
        if path.is_dir() or path.name.endswith((".partial", ".tmp")):
            continue
        if path.suffix == ".nc" and path.parent.name == SEGMENTS:
            with h5py.File(path, "r") as segment:
                for name, dataset in segment.items():
                    assert np.all(np.isfinite(dataset[...])), f"{path}: {name} is not finite"
        elif path.suffix == ".nc":
            with xr.open_dataset(path, engine="h5netcdf") as dataset:
                values = dataset.load()
            for name, variable in values.data_vars.items():
                assert np.all(np.isfinite(variable.values)), f"{path}: {name} has missing values"
        elif path.suffix == ".h5":
            with h5py.File(path, "r") as checkpoint:
                for name in checkpoint:
                    checkpoint[name][...]
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text())
        else:
            path.read_text()


def wait_for_checkpoints(log: Path, offset: int, count: int, process: subprocess.Popen) -> float:
    """Wait until this life of the run (the log from ``offset`` on) has written ``count``
    checkpoints; return the time it happened."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if log.exists() and log.read_text()[offset:].count("checkpoint checkpoint_") >= count:
            break
        time.sleep(0.002)
    return time.monotonic()


def test_sigkill_at_random_moments_then_restart_equals_uninterrupted_run(tmp_path):
    billow.run("forced", out=tmp_path / "whole", **KILL_PARAMS)  # random forcing included

    out = tmp_path / "killed"
    settings = [arg for key, value in KILL_PARAMS.items() for arg in ("--set", f"{key}={value!r}")]
    command = [str(BILLOW), "run", "forced", *settings, "--out", str(out), "--quiet"]
    rng = np.random.default_rng(20261129)
    kills = 0
    for _ in range(5):
        log = out / "log.txt"
        offset = len(log.read_text()) if log.exists() else 0
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        # a random moment of the checkpoint cycle (stepping, snapshots, commits, checkpoint
        # writes), timed from this life's own pace: after 1 or 2 checkpoints, uniform over the
        # next interval. A life advances at most 4 intervals of the 24, whatever the machine.
        first = rng.integers(1, 3)
        before = wait_for_checkpoints(log, offset, first, process)
        interval = wait_for_checkpoints(log, offset, first + 1, process) - before
        time.sleep(rng.uniform(0.0, interval))
        if process.poll() is None:
            process.kill()
            kills += 1
        process.communicate(timeout=60)
        assert_every_file_opens(out)
        command = [str(BILLOW), "restart", str(out), "--quiet"]
    assert kills == 5, "the run finished before it could be killed: make it longer"
    final = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert_every_file_opens(out)
    assert_identical_runs(tmp_path / "whole", out)
