"""The segmented netCDF series (billow.io.netcdf): how its index and segments are stored."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

import billow
from billow.cases import get_case
from billow.io import atomic, netcdf
from billow.io import checkpoint as checkpoint_module
from billow.io.checkpoint import Checkpointer
from billow.io.netcdf import SEGMENTS, SegmentedTimeSeries
from billow.output_writers import (
    BackgroundSeries,
    DiagnosticsWriter,
    FieldsWriter,
    WriterThread,
)
from billow.runner import restart_run
from billow.schedules import TimeInterval
from billow.simulation import Simulation


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


def assert_holds(segment: Path, numbers: list[int]) -> None:
    """A finished segment file holds exactly the records ``numbers``, in every variable."""
    with h5py.File(segment, "r") as source:
        assert source["time"][...].tolist() == numbers
        for name in ("u", "w"):
            assert source[name].shape == (len(numbers), 2, 3)
            assert source[name].maxshape == (None, 2, 3)
    with xr.open_dataset(segment, engine="h5netcdf") as alone:
        assert alone.sizes["time"] == len(numbers)
        assert alone.u.values[:, 0, 0].tolist() == numbers


def test_segments_sized_ahead_hold_exactly_their_records(tmp_path, monkeypatch):
    monkeypatch.setattr(netcdf, "SEGMENT_CAPACITY", 3)
    series = make_series(tmp_path)
    series.append(0.0, record(0))  # fewer records than the capacity
    series.commit()
    for n in range(1, 8):  # grown twice, one record at a time
        series.append(float(n), record(n))
    series.commit()
    block = range(8, 13)  # one block of records past the capacity at once
    series.append(
        np.array(block, float), {k: np.stack([record(n)[k] for n in block]) for k in "uw"}
    )
    series.append(13.0, record(13))
    series.close()
    segments = sorted((tmp_path / SEGMENTS).iterdir())
    assert_holds(segments[0], [0])
    assert_holds(segments[1], list(range(1, 8)))
    assert_holds(segments[2], list(range(8, 14)))
    with xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf") as index:
        assert index.time.values.tolist() == list(range(14))
        assert index.u.values[:, 1, 1].tolist() == list(range(14))
        assert index.w.values[:, 0, 2].tolist() == [-float(n) for n in range(14)]

    # a resume cutting the last segment rewrites it with exactly the records kept
    series = make_series(tmp_path, resume_records=10)
    assert_holds(segments[2], [8, 9])
    for n in range(20, 25):
        series.append(float(n), record(n))
    series.close()
    assert_holds(tmp_path / SEGMENTS / "fields.000000010.nc", list(range(20, 25)))
    with xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf") as index:
        assert index.u.values[:, 0, 0].tolist() == [*range(10), *range(20, 25)]


def test_a_crash_in_a_segment_grown_past_its_capacity_leaves_the_committed_records(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from billow.io import atomic, netcdf
        from test_netcdf_segments import make_series, record
        netcdf.SEGMENT_CAPACITY = 2
        series = make_series({str(tmp_path)!r})
        for n in range(5):
            series.append(float(n), record(n))
        series.commit()
        for n in range(5, 12):
            series.append(float(n), record(n))
        os._exit(9)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=False, timeout=120)
    assert len(list((tmp_path / SEGMENTS).glob("*.partial"))) == 1
    assert_holds(tmp_path / SEGMENTS / "fields.000000000.nc", list(range(5)))
    with xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf") as index:
        assert index.time.values.tolist() == list(range(5))

    series = make_series(tmp_path, resume_records=5)
    assert not list((tmp_path / SEGMENTS).glob("*.partial"))
    series.append(50.0, record(50))
    series.close()
    assert_holds(tmp_path / SEGMENTS / "fields.000000005.nc", [50])
    with xr.open_dataset(tmp_path / "fields.nc", engine="h5netcdf") as index:
        assert index.u.values[:, 0, 0].tolist() == [0, 1, 2, 3, 4, 50]


def test_each_append_starts_the_writeback_of_its_segment(tmp_path, monkeypatch):
    hinted = []
    monkeypatch.setattr(netcdf, "start_writeback", lambda fd: hinted.append(os.fstat(fd).st_ino))
    series = make_series(tmp_path)
    for n in range(3):
        series.append(float(n), record(n))
    partial = next((tmp_path / SEGMENTS).glob("*.partial"))
    assert hinted == [partial.stat().st_ino] * 3
    series.close()
    assert_holds(tmp_path / SEGMENTS / "fields.000000000.nc", [0, 1, 2])


def test_start_writeback_is_a_harmless_hint(tmp_path):
    if sys.platform.startswith("linux"):
        assert atomic._SYNC_FILE_RANGE is not None, "sync_file_range not found in libc"
    path = tmp_path / "data"
    data = np.arange(300_000.0).tobytes()
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        atomic.start_writeback(handle.fileno())
        atomic.start_writeback(handle.fileno())  # nothing dirty left: no effect
    assert path.read_bytes() == data
    reading, writing = os.pipe()  # not a file: the kernel refuses, nothing is raised
    try:
        atomic.start_writeback(reading)
    finally:
        os.close(reading)
        os.close(writing)


def test_segments_written_by_another_hdf5_driver_get_no_hint(tmp_path):
    # HDF5_DRIVER=core: HDF5 holds the file in memory until it is closed, no descriptor
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from billow.io import netcdf
        from test_netcdf_segments import make_series, record
        hinted = []
        netcdf.start_writeback = hinted.append
        series = make_series({str(tmp_path)!r})
        for n in range(4):
            series.append(float(n), record(n))
        assert series.open_segment.driver == "core", series.open_segment.driver
        series.close()
        assert hinted == [], hinted
        """
    )
    environment = {**os.environ, "HDF5_DRIVER": "core"}
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120, env=environment)
    assert_holds(tmp_path / SEGMENTS / "fields.000000000.nc", [0, 1, 2, 3])


def test_every_file_has_the_header_coordinates_and_dimension_scales(tmp_path):
    # index and segments start as copies of images made in memory once per series
    series = make_series(tmp_path)
    for first, stop in ((0, 2), (2, 5)):
        for n in range(first, stop):
            series.append(float(n), record(n))
        series.commit()
    series.close()
    files = [tmp_path / "fields.nc", *sorted((tmp_path / SEGMENTS).iterdir())]
    assert len(files) == 3
    for path in files:
        with h5py.File(path, "r") as source:
            assert dict(source.attrs) == {"Conventions": "CF-1.8", "case": "test"}
            assert source["time"].attrs["axis"] == "T" and source["time"].maxshape == (None,)
            assert source["time"].chunks == (1024,)
            assert source["z"][...].tolist() == [0.0, 1.0] and source["x"].attrs["units"] == "1"
            for name in ("u", "w"):
                dims = [[scale.name for scale in dim.values()] for dim in source[name].dims]
                assert dims == [["/time"], ["/z"], ["/x"]]
                assert source[name].attrs["long_name"] == name
        with xr.open_dataset(path, engine="h5netcdf") as read:
            assert read.u.dims == ("time", "z", "x") and read.u.dtype == np.float64
    with h5py.File(files[1], "r") as first, h5py.File(files[2], "r") as second:
        assert first["u"].chunks == second["u"].chunks == (1, 2, 3)
        assert first["time"][...].tolist() == [0, 1] and second["time"][...].tolist() == [2, 3, 4]
    assert set(series._images) == {"index", "segment"}


# --- snapshots appended on a writer thread (output_writers.BackgroundSeries) -------------


def writer_threads() -> list[threading.Thread]:
    """The run's writer threads still alive (not the FFT helper, which lives on by design)."""
    return [t for t in threading.enumerate() if t.name.startswith("billow-writer")]


class HeldSeries:
    """A series whose appends wait for ``release`` and keep what they were given."""

    def __init__(self, fail: bool = False):
        self.records = 0
        self.release = threading.Event()
        self.received: list[tuple[float, dict]] = []
        self.buffers: set[int] = set()  # ids of the arrays handed over
        self.fail = fail
        self.committed = self.closed = 0

    def append(self, times, values):
        self.release.wait(timeout=60)
        if self.fail:
            raise OSError("No space left on device")
        self.buffers.add(id(values["u"]))
        self.received.append((float(times), {k: v.copy() for k, v in values.items()}))
        self.records += 1

    def commit(self):
        self.committed += 1

    def finish_segment(self):
        return self.commit  # published by the WriterThread's finishing thread

    def close(self):
        self.closed += 1


def test_background_series_writes_the_same_files(tmp_path):
    (tmp_path / "sync").mkdir()
    (tmp_path / "thread").mkdir()
    plain, threaded = (
        make_series(tmp_path / "sync"),
        BackgroundSeries(make_series(tmp_path / "thread")),
    )
    for series in (plain, threaded):
        for first, stop in ((0, 3), (3, 8)):
            for n in range(first, stop):
                series.append(float(n), record(n))
            series.commit()
        series.close()
    assert threaded.records == plain.records == 8
    with xr.open_dataset(tmp_path / "sync" / "fields.nc") as expected:
        with xr.open_dataset(tmp_path / "thread" / "fields.nc") as written:
            xr.testing.assert_identical(written.load(), expected.load())


def test_background_series_copies_each_record_before_the_state_changes():
    held = HeldSeries()
    series = BackgroundSeries(held)
    values = record(1)
    series.append(1.0, values)
    values["u"][...] = 99.0  # the next step overwrites the work arrays
    held.release.set()
    series.commit()
    series.thread.wait()
    assert held.committed == 1 and held.received[0][0] == 1.0
    assert np.array_equal(held.received[0][1]["u"], record(1)["u"])
    series.close()


def test_background_series_holds_at_most_its_buffers():
    held = HeldSeries()
    held.release.set()
    series = BackgroundSeries(held, buffers=2)
    for n in range(10):
        series.append(float(n), record(n))
    series.close()
    assert [t for t, _ in held.received] == list(range(10)) and held.closed == 1
    assert len(held.buffers) == 2  # memory does not grow with the records queued


def failed_append() -> tuple[HeldSeries, BackgroundSeries]:
    """A BackgroundSeries whose first append fails on the writer thread (a full disk)."""
    held = HeldSeries(fail=True)
    held.release.set()
    series = BackgroundSeries(held)
    series.append(0.0, record(0))
    return held, series


def test_background_series_raises_the_writer_threads_error_on_the_next_call():
    held = HeldSeries(fail=True)
    series = BackgroundSeries(held)
    series.append(0.0, record(0))
    series.commit()  # queued behind the append, which then fails
    held.release.set()
    with pytest.raises(OSError, match="No space left"):
        series.thread.wait()
    assert held.committed == 0  # never publishes records that are not written
    with pytest.raises(OSError, match="No space left"):
        series.append(1.0, record(1))
    with pytest.raises(OSError, match="No space left"):
        series.commit()
    series.close()  # closes the series, and does not raise the reported error again
    assert held.closed == 1


def test_background_series_close_raises_an_error_not_yet_reported():
    held, series = failed_append()
    with pytest.raises(OSError, match="No space left"):
        series.close()
    assert held.closed == 1


def test_buffers_lent_for_a_record_are_queued_without_a_copy():
    held = HeldSeries()
    held.release.set()
    series = BackgroundSeries(held, buffers=2)
    lent = series.buffers_for({"u": (2, 3), "w": (2, 3)})
    lent["u"][...], lent["w"][...] = record(5)["u"], record(5)["w"]
    series.append(5.0, lent)
    series.close()
    assert held.buffers == {id(lent["u"])}  # the arrays lent are the ones written
    assert np.array_equal(held.received[0][1]["u"], record(5)["u"])


@pytest.mark.parametrize("fail", [False, True])
def test_a_snapshot_is_logged_by_the_writer_thread_once_written(fail, caplog):
    """The time loop does not write log.txt for a snapshot: the line comes from the series'
    thread after the record's append, and not at all if the append failed."""
    case = get_case("shear_layer")
    simulation = Simulation(case.build(case.make_params(nx=16, nz=8)), t_end=1.0)
    held = HeldSeries(fail=fail)
    logger = logging.getLogger("billow.test.snapshot_log")
    caplog.set_level(logging.INFO, logger=logger.name)

    def seen() -> list[tuple[str, str]]:
        return [(r.getMessage(), r.threadName) for r in caplog.records if r.name == logger.name]

    series = BackgroundSeries(held)
    writer = FieldsWriter(series, TimeInterval(1.0), logger)
    writer.write_at(simulation, 0.0)
    assert seen() == []  # not yet written
    held.release.set()
    if fail:
        with pytest.raises(OSError, match="No space left"):
            series.close()
        assert seen() == []
    else:
        series.close()
        assert seen() == [("snapshot 0 at t = 0 (step 0, dt = 0)", series.thread.name)]
    assert series.thread.name != threading.current_thread().name


def test_a_run_writes_records_and_checkpoints_on_the_writer_threads_in_order(tmp_path, monkeypatch):
    """Snapshots and both diagnostics series are appended on the writer thread, not the time
    loop's; their commits are published, and the checkpoints written, on its finishing
    thread, each checkpoint after the publication of the records it counts."""
    threads, published = [], {}
    append, finish = SegmentedTimeSeries.append, SegmentedTimeSeries.finish_segment
    write = checkpoint_module.write_checkpoint

    def recording_append(series, times, values):
        threads.append((series.name, threading.current_thread().name))
        append(series, times, values)

    def recording_finish(series):
        publish = finish(series)
        if publish is None:
            return None

        def recording_publish():
            publish()
            threads.append((f"publish {series.name}", threading.current_thread().name))
            published[series.name] = sum(len(segment.times) for segment in series.segments)

        return recording_publish

    def recording_write(run_dir, checkpoint, keep=2):
        threads.append(("checkpoint", threading.current_thread().name))
        assert checkpoint.records == published  # what it counts is published
        return write(run_dir, checkpoint, keep)

    monkeypatch.setattr(SegmentedTimeSeries, "append", recording_append)
    monkeypatch.setattr(SegmentedTimeSeries, "finish_segment", recording_finish)
    monkeypatch.setattr(checkpoint_module, "write_checkpoint", recording_write)
    billow.run(
        "shear_layer",
        out=tmp_path / "run",
        nx=16,
        nz=16,
        Lx=14.0,
        t_end=1.0,
        save_every=0.25,
        checkpoint_every=0.5,
    )
    series = {"fields", "diagnostics", "tracer_diagnostics"}
    where = {kind: {name for k, name in threads if k == kind} for kind, _ in threads}
    assert set(where) == series | {f"publish {name}" for name in series} | {"checkpoint"}
    assert all(where[name] == {"billow-writer"} for name in series)
    assert all(where[kind] == {"billow-writer-finish"} for kind in set(where) - series)
    assert not writer_threads()
    with billow.open_run(tmp_path / "run") as dataset:
        assert dataset.sizes["time"] == 5


class SlowPublication(HeldSeries):
    """A series whose appends are immediate and whose publication waits for ``disk``."""

    def __init__(self, fail: bool = False):
        super().__init__()
        self.release.set()
        self.disk = threading.Event()
        self.fail_publication = fail

    def finish_segment(self):
        def publish():
            self.disk.wait(timeout=60)
            if self.fail_publication:
                raise OSError(5, "Input/output error")
            self.commit()

        return publish


def test_records_after_a_commit_are_written_while_the_disk_catches_up():
    """A commit's publication (fsync, rename, index) runs on the finishing thread: the
    appends after it neither wait for it nor, with two buffer sets, hold up the caller."""
    held = SlowPublication()
    series = BackgroundSeries(held, buffers=2)
    series.append(0.0, record(0))
    series.commit()
    for n in range(1, 6):  # more records than buffer sets, while the publication waits
        series.append(float(n), record(n))
    deadline = time.monotonic() + 30
    while len(held.received) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(held.received) == 6 and held.committed == 0
    held.disk.set()
    series.thread.wait()
    assert held.committed == 1
    series.close()


def test_a_failed_publication_stops_the_writer_and_is_raised():
    held = SlowPublication(fail=True)
    series = BackgroundSeries(held, buffers=2)
    series.append(0.0, record(0))
    series.commit()
    held.disk.set()
    with pytest.raises(OSError, match="Input/output error"):
        series.thread.wait()
    with pytest.raises(OSError, match="Input/output error"):
        series.append(1.0, record(1))
    series.close()
    assert held.committed == 0 and held.closed == 1
    assert len(held.received) == 1


def test_a_checkpoint_failing_on_the_writer_thread_stops_the_run_and_keeps_the_last_one(
    tmp_path, monkeypatch
):
    """A full disk while the writer thread writes a checkpoint stops the run with that
    error; the run directory keeps the checkpoint before it, from which the run goes on."""
    write = checkpoint_module.write_checkpoint
    written = []

    def second_fails(run_dir, checkpoint, keep=2):
        if written:
            raise OSError(28, "No space left on device")
        written.append(checkpoint.iteration)
        return write(run_dir, checkpoint, keep)

    monkeypatch.setattr(checkpoint_module, "write_checkpoint", second_fails)
    out = tmp_path / "run"
    # cfl 1.3: three steps on this coarse grid, so that a second checkpoint is written
    settings = dict(
        nx=16, nz=16, Lx=14.0, t_end=2.0, save_every=0.25, checkpoint_every=0.5, cfl=1.3
    )
    with pytest.raises(OSError, match="No space left"):
        billow.run("shear_layer", out=out, **settings)
    assert not writer_threads()
    kept = sorted(path.name for path in (out / "checkpoints").iterdir())
    assert kept == [f"checkpoint_{written[0]:09d}.h5"]
    monkeypatch.setattr(checkpoint_module, "write_checkpoint", write)
    restart_run(out)
    with billow.open_run(out) as dataset:
        assert dataset.sizes["time"] == 9 and float(dataset.time[-1]) == 2.0


def test_buffer_sets_come_back_when_an_append_is_refused():
    """After the writer thread failed, a refused append (of a set lent or of a copy) gives
    its set back: the time loop can never wait for a set that will not come."""
    held, series = failed_append()
    with pytest.raises(OSError, match="No space left"):
        series.thread.wait()
    for _ in range(3):  # more than the two sets
        lent = series.buffers_for({"u": (2, 3), "w": (2, 3)})
        with pytest.raises(OSError, match="No space left"):
            series.append(1.0, lent)
        with pytest.raises(OSError, match="No space left"):
            series.append(1.0, record(1))
    assert series.buffers_for({"u": (2, 3), "w": (2, 3)}) is series.buffers_for({})
    series.close()


def full_disk() -> None:
    raise OSError(28, "No space left on device")


def test_a_writer_threads_error_not_yet_raised_is_raised_when_it_is_left():
    with pytest.raises(OSError, match="No space left"):
        with WriterThread() as thread:
            thread.submit(full_disk)
    assert not writer_threads()


def test_without_buffer_sets_a_lent_record_is_new_arrays_handed_over():
    held = HeldSeries()
    held.release.set()
    series = BackgroundSeries(held, buffers=0)
    lent = series.buffers_for({"u": (2, 3), "w": (2, 3)})
    series.append(0.0, lent)
    second = series.buffers_for({"u": (2, 3), "w": (2, 3)})
    series.append(1.0, second)
    series.close()
    assert second["u"] is not lent["u"] and held.buffers == {id(lent["u"]), id(second["u"])}


def test_diagnostics_writer_closes_its_series_after_a_writer_failure():
    held = HeldSeries(fail=True)
    held.release.set()
    writer = DiagnosticsWriter(BackgroundSeries(held, buffers=0), buffer=10)
    writer.buffer.append((0.0, {"u": np.zeros((2, 3))}))
    writer.series.append(0.0, record(0))  # fails on the thread
    with pytest.raises(OSError, match="No space left"):
        writer.series.thread.wait()
    writer.buffer.append((1.0, {"u": np.zeros((2, 3))}))
    with pytest.raises(OSError, match="No space left"):
        writer.close(None)
    assert held.closed == 1


def test_a_checkpointer_on_a_failed_thread_refuses_every_checkpoint_without_hanging(tmp_path):
    case = billow.get_case("shear_layer")
    model = case.build(case.make_params(nx=16, nz=16, Lx=14.0))
    sim = billow.Simulation(model, t_end=1.0)
    thread = WriterThread()
    thread.submit(full_disk)
    with pytest.raises(OSError):
        thread.wait()
    checkpointer = Checkpointer(tmp_path, 1.0, thread=thread)
    checkpointer.initialize(sim)
    raised = []

    def checkpoint_twice():
        for iteration in (1, 2):
            model.iteration = iteration
            try:
                checkpointer.write(sim)
            except OSError as error:
                raised.append(error)

    worker = threading.Thread(target=checkpoint_twice)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive() and len(raised) == 2  # the second did not wait forever
    assert not (tmp_path / "checkpoints").exists() or not list((tmp_path / "checkpoints").iterdir())
    thread.close()
