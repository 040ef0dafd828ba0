"""Hostile first use (issue 13): concurrent writers, a run killed before it started,
deleted checkpoints, stale derived files, fields.nc without its segments, absurd sizes,
invalid values, stable flows, missing extras, unreachable schedulers, and how runs stop.

Each bad command must end in one line (``billow: error: ...``, or ``billow: stopped``
/ ``billow: interrupted`` for a stop), a documented exit code, no traceback, and leave
the file system as it was.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from functools import partial
from pathlib import Path

import console
import h5py
import numpy as np
import pytest
import xarray as xr
from console import BILLOW
from typer.testing import CliRunner

import billow
from billow import cli, sweep
from billow.cases import CASES
from billow.errors import BillowError
from billow.io.lock import LOCK_FILE, lock_directory
from billow.io.pack import pack_run
from billow.io.rundir import remove_own_files
from billow.limits import check_limits
from billow.runner import restart_run, run_case

# a tiny, cheap run: explicit Lx and a sinusoid skip the eigenvalue solves
TINY = ["--set", "nx=16", "--set", "nz=16", "--set", "Lx=14.0", "--set", "perturbation='sinusoid'"]
TINY_PARAMS = dict(nx=16, nz=16, Lx=14.0, perturbation="sinusoid")


billow_cli = partial(console.billow_cli, timeout=120)


def assert_one_line(returncode: int, stderr: str, code: int, prefix: str, *keywords: str) -> None:
    """Exactly one non-blank line on stderr, starting with ``prefix``, exit code ``code``."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert lines[0].startswith(prefix), lines[0]
    assert "Traceback" not in stderr
    for keyword in keywords:
        assert keyword in lines[0], f"{keyword!r} not in {lines[0]!r}"
    assert returncode == code, f"exit code {returncode}, expected {code}: {lines[0]}"


def assert_error(result, *keywords: str, code: int = 2) -> None:
    assert_one_line(result.returncode, result.stderr, code, "billow: error:", *keywords)


def snapshot_tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for directories); a lock file's
    content is the process id of its last holder, so only its presence counts."""
    return {
        str(path.relative_to(root)): (
            path.read_bytes() if path.is_file() and path.name != LOCK_FILE else None
        )
        for path in sorted(root.rglob("*"))
    }


def tiny_run(out: Path, **params) -> Path:
    values = {**TINY_PARAMS, "t_end": 1.0, "save_every": 0.5, **params}
    billow.run("shear_layer", out=out, **values)
    return out


def invoke_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """The console entry point in-process (its last-resort handler included)."""
    monkeypatch.setattr(sys, "argv", ["billow", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    return exit_info.value.code, capsys.readouterr().err


# ------------------------------------------------------------------ 1. one writer


def wait_for(condition, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_second_writer_is_refused_and_touches_nothing(tmp_path):
    out = tmp_path / "conc"
    first = subprocess.Popen(
        [str(BILLOW), "run", "shear_layer", *TINY, "--set", "Ri=0.05", "--set", "t_end=1e4"]
        + ["--set", "save_every=0.5", "--out", str(out), "--quiet"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: (out / "log.txt").exists() and "snapshot 2 " in (out / "log.txt").read_text()
        )
        config = (out / "config.toml").read_text()
        for extra in ([], ["--overwrite"]):  # --overwrite must not delete the first run's files
            second = billow_cli(
                "run",
                "shear_layer",
                *TINY,
                "--set",
                "Ri=0.1",
                "--set",
                "t_end=1",
                "--out",
                out,
                "--quiet",
                *extra,
                cwd=tmp_path,
            )
            assert_error(second, "in use by process", str(first.pid))
            assert (out / "config.toml").read_text() == config
        assert_error(billow_cli("restart", out, "--t-end", "2e4", cwd=tmp_path), str(first.pid))
        assert first.poll() is None, "the first run died"
    finally:
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=60)
    # the first run stops cleanly (exit code 3), its files all its own
    assert_one_line(first.returncode, stderr, 3, "billow: stopped:", "SIGTERM")
    with billow.open_run(out) as fields:
        assert fields.attrs["Ri"] == 0.05
        assert tomllib.loads((out / "config.toml").read_text())["Ri"] == 0.05


def test_lock_is_released_when_its_holder_is_killed(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from billow.io.lock import lock_directory\n"
            f"with lock_directory({str(tmp_path)!r}):\n"
            "    print('locked', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(BillowError, match=f"in use by process {holder.pid}"):
            with lock_directory(tmp_path):
                pass
    finally:
        holder.kill()  # SIGKILL: no clean-up runs
        holder.wait(timeout=30)
    with lock_directory(tmp_path):
        assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())


# ------------------------------------------------------------------ 2. killed at once


def test_run_killed_during_setup_restarts_from_zero(tmp_path, monkeypatch):
    case = CASES["shear_layer"]

    def killed(params):
        raise KeyboardInterrupt  # as if killed during the eigenvalue solve or the JIT

    monkeypatch.setitem(CASES, "shear_layer", dataclasses.replace(case, build=killed))
    params = case.make_params(**TINY_PARAMS, t_end=1.0, save_every=0.5)
    with pytest.raises(KeyboardInterrupt):
        run_case("shear_layer", params, tmp_path / "run")
    assert (tmp_path / "run" / "config.toml").is_file()
    monkeypatch.setitem(CASES, "shear_layer", case)
    restart_run(tmp_path / "run")
    with billow.open_run(tmp_path / "run") as fields:
        assert fields.time.values.tolist() == [0.0, 0.5, 1.0]


# ------------------------------------------------------------------ 3. lost checkpoints


def test_restart_without_checkpoints_but_with_records_is_refused(tmp_path):
    out = tiny_run(tmp_path / "run")
    shutil.rmtree(out / "checkpoints")
    before = snapshot_tree(tmp_path)
    assert_error(billow_cli("restart", out, "--t-end", "2", cwd=tmp_path), "--from-scratch")
    assert snapshot_tree(tmp_path) == before
    done = billow_cli("restart", out, "--t-end", "1.5", "--from-scratch", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with billow.open_run(out) as fields:
        assert fields.time.values.tolist() == [0.0, 0.5, 1.0, 1.5]


# ------------------------------------------------------------------ 4. --overwrite


def test_overwrite_removes_every_billow_file_and_only_those(tmp_path):
    out = tiny_run(tmp_path / "run", t_end=2.0)
    other = tiny_run(tmp_path / "other", t_end=2.0, Ri=0.05)
    runner = CliRunner()
    for args in (
        ["analyze", out],
        ["movie", out, "--format", "gif"],
        ["compare", out, other, "--out", out, "--samples", "200"],
    ):
        result = runner.invoke(cli.app, list(map(str, args)))
        assert result.exit_code == 0, (args, result.stderr, result.exception)
    (out / "notes.txt").write_text("mine")
    (out / "figures" / "mine.png").write_bytes(b"mine")
    (out / "segments" / "mine.txt").write_text("mine")
    before = set(snapshot_tree(out))
    for name in ("analysis.nc", "summary.md", "movie.gif", "compare.md", "figures/snapshots.png"):
        assert name in before, f"{name} was not made, so this test proves nothing about it"

    remove_own_files(out)
    left = set(snapshot_tree(out))
    mine = {"notes.txt", "figures", "figures/mine.png", "segments", "segments/mine.txt"}
    assert left == mine | {LOCK_FILE}

    result = runner.invoke(
        cli.app,
        [
            "run",
            "shear_layer",
            *TINY,
            "--set",
            "t_end=0.5",
            "--out",
            str(other),
            "--overwrite",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert not (other / "analysis.nc").exists() and not (other / "summary.md").exists()


# ------------------------------------------------------------------ 5. segments, pack


def reading_commands(run_dir: Path, other: Path, tmp_path: Path) -> list[list]:
    """The commands that read a run directory (compare with ``other`` too), their outputs
    in ``tmp_path``."""
    return [
        ["analyze", run_dir],
        ["movie", run_dir, "--format", "gif"],
        ["export", run_dir, "--format", "well", "--out", tmp_path / "x.hdf5"],
        ["compare", run_dir, other, "--out", tmp_path / "cmp"],
    ]


def test_fields_without_segments_is_one_line_everywhere_and_pack_is_self_contained(tmp_path):
    out = tiny_run(tmp_path / "run")
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("config.toml", "fields.nc", "diagnostics.nc"):
        shutil.copy(out / name, copy / name)
    with pytest.raises(BillowError, match="segment"):
        billow.open_run(copy)
    for args in [*reading_commands(copy, out, tmp_path), ["pack", copy]]:
        result = billow_cli(*args, cwd=tmp_path)
        assert_error(result, "segment")
    assert not (tmp_path / "x.hdf5").exists() and not (tmp_path / "copy.nc").exists()

    result = billow_cli("pack", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    packed = tmp_path / "run.nc"
    with billow.open_run(out, "diagnostics") as diagnostics:
        expected_ke = diagnostics.ke.values
    with billow.open_run(out, "tracer_diagnostics") as tracers:
        expected_entropy = tracers.dye_entropy.values
    shutil.rmtree(out)  # the packed file must not need the run directory
    with xr.open_dataset(packed, engine="h5netcdf") as fields:
        assert fields.u.dims == ("time", "z", "x") and fields.sizes["time"] == 3
        assert np.isfinite(fields.u.values).all() and fields.attrs["nx"] == 16
        assert tomllib.loads(fields.attrs["config"])["case"] == "shear_layer"
    with billow.open_run(packed, "diagnostics") as diagnostics:
        assert np.array_equal(diagnostics.ke.values, expected_ke)
    with billow.open_run(packed, "tracer_diagnostics") as tracers:
        assert np.array_equal(tracers.dye_entropy.values, expected_entropy)
        assert tracers.attrs["every_n_steps"] == 10
    with h5py.File(packed) as raw:
        assert not any(d.is_virtual for d in raw.values() if isinstance(d, h5py.Dataset))


def test_a_file_given_as_a_run_directory_is_one_line_everywhere(tmp_path):
    packed = tmp_path / "run.nc"  # what `billow pack` writes: a file, not a directory
    packed.write_bytes(b"not a run directory")
    for args in [*reading_commands(packed, packed, tmp_path), ["restart", packed]]:
        result = billow_cli(*args, cwd=tmp_path)
        assert_error(result, "is a file, not a run directory")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["run.nc"]


def test_an_empty_directory_given_as_a_run_directory_is_one_line_everywhere(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in reading_commands(empty, empty, tmp_path):
        result = billow_cli(*args, cwd=tmp_path)
        assert_error(result, f"'{empty}' is not a billow run directory (no ")
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["empty"]


def test_open_run_names_the_valid_files(walls_run):
    with pytest.raises(ValueError, match="fields, diagnostics, tracer_diagnostics"):
        billow.open_run(walls_run, "diag")


def test_a_run_without_tracers_says_so_for_tracer_diagnostics(tmp_path):
    out = tmp_path / "kolmogorov"  # no dye: no tracer_diagnostics.nc, nor in its pack
    billow.run("kolmogorov", out=out, nx=16, nz=16, t_end=0.5, save_every=0.5)
    assert not (out / "tracer_diagnostics.nc").exists()
    packed = pack_run(out)
    for source in (out, packed):
        with pytest.raises(BillowError, match="has no tracers"):
            billow.open_run(source, "tracer_diagnostics")


# ------------------------------------------------------------------ 6, 7, 8. sizes, values


@pytest.mark.parametrize(
    "setting, keywords",
    [
        ("save_every=1e-9", ["snapshots", "--force"]),
        ("nx=1e9", ["memory", "--force"]),
        ("t_end=1e12", ["--force"]),
        ("Re=1e-9", ["Re"]),
        ("Lz=1e-9", ["Lz"]),
        ("Re=true", ["Re", "boolean"]),
        ("Ri=10", ["no unstable mode", "Lx"]),
    ],
)
def test_absurd_or_invalid_setting_is_refused_before_anything_exists(setting, keywords, tmp_path):
    args = TINY if setting.split("=")[0] not in ("Re", "Lz", "Ri") else TINY[:4]
    result = billow_cli(
        "run",
        "shear_layer",
        *args,
        "--set",
        setting,
        "--out",
        "run",
        "--quiet",
        cwd=tmp_path,
        timeout=60,
    )
    assert_error(result, *keywords)
    assert list(tmp_path.iterdir()) == []


def test_misspelt_billow_fft_is_one_line_and_creates_nothing(tmp_path):
    result = billow_cli(
        "run", "shear_layer", *TINY, "--out", "run", "--quiet",
        cwd=tmp_path, env={"BILLOW_FFT": "fftx"}, timeout=60,
    )  # fmt: skip
    assert_error(result, "BILLOW_FFT", "fftw", "scipy")
    assert list(tmp_path.iterdir()) == []


def test_limits_give_way_to_force():
    params = CASES["shear_layer"].make_params(**TINY_PARAMS, t_end=1.0, save_every=1e-9)
    with pytest.raises(BillowError, match="snapshots"):
        check_limits(params)
    check_limits(params, force=True)


@pytest.mark.parametrize(
    "args, keywords",
    [
        (["run", "shear_layer", *TINY, "--max-wall-time", "-5", "--out", "run"], ["wall-time"]),
        (["sweep", "spec.toml", "--out", "sweep", "--workers", "0"], ["--workers"]),
        (["sweep", "spec.toml", "--out", "sweep", "--workers", "-1"], ["--workers"]),
        (["sweep", "spec.toml", "--out", "sweep", "--scheduler", "nonsense"], ["nonsense"]),
    ],
    ids=["negative wall time", "zero workers", "negative workers", "bad scheduler"],
)
def test_invalid_option_is_one_line_and_creates_nothing(args, keywords, tmp_path):
    (tmp_path / "spec.toml").write_text(
        'case = "shear_layer"\n[parameters]\nnx = 16\nnz = 16\nLx = 14.0\nt_end = 0.5\n'
        'perturbation = "sinusoid"\n[vary]\nRi = [0.05, 0.1]\n'
    )
    before = snapshot_tree(tmp_path)
    assert_error(billow_cli(*args, cwd=tmp_path), *keywords)
    assert snapshot_tree(tmp_path) == before


def test_scheduler_where_nothing_listens_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "SCHEDULER_TIMEOUT", 2.0)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (tmp_path / "spec.toml").write_text('case = "kolmogorov"\n[vary]\nseed = [0]\n')
    result = CliRunner().invoke(
        cli.app,
        [
            "sweep",
            str(tmp_path / "spec.toml"),
            "--out",
            str(tmp_path / "sweep"),
            "--scheduler",
            f"tcp://127.0.0.1:{port}",
        ],
    )
    assert result.exit_code == 2 and result.stderr.startswith("billow: error: cannot connect")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "sweep").exists()


def test_stability_of_a_stable_flow_recommends_no_lx(tmp_path):
    result = billow_cli("stability", "--set", "Ri=10", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no unstable mode" in result.stdout
    assert "125.5" not in result.stdout.split("recommended Lx")[1].splitlines()[0]


# ------------------------------------------------------------------ 9. no tracebacks


def test_unwritable_outputs_are_one_line(walls_run, tmp_path):
    out = walls_run
    before = snapshot_tree(out), snapshot_tree(tmp_path)
    assert_error(
        billow_cli("export", out, "--format", "well", "--out", "/proc/x.h5", cwd=tmp_path),
        "/proc/x.h5",
    )
    assert_error(
        billow_cli("movie", out, "--format", "gif", "--out", "/proc/movies", cwd=tmp_path),
        "/proc/movies",
    )
    assert (snapshot_tree(out), snapshot_tree(tmp_path)) == before


def test_read_only_run_directory_is_one_line(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod does not make a directory read-only")
    out = tiny_run(tmp_path / "run")
    out.chmod(0o555)
    try:
        before = snapshot_tree(tmp_path)
        assert_error(billow_cli("movie", out, "--format", "gif", cwd=tmp_path))
        assert_error(billow_cli("restart", out, "--t-end", "2", cwd=tmp_path), "writable")
        assert snapshot_tree(tmp_path) == before
    finally:
        out.chmod(0o755)


@pytest.mark.parametrize(
    "module, args",
    [
        ("imageio", ["movie", "RUN"]),
        ("matplotlib", ["compare", "RUN", "RUN2"]),
        ("cmocean", ["stability", "--plot", "OUT"]),
    ],
)
def test_missing_viz_extra_names_the_install_command(
    module, args, walls_run, other_walls_run, tmp_path, monkeypatch, capsys
):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    names = {"RUN": str(walls_run), "RUN2": str(other_walls_run), "OUT": str(tmp_path / "plots")}
    trees = (walls_run, other_walls_run, tmp_path)
    before = [snapshot_tree(tree) for tree in trees]
    code, stderr = invoke_main(monkeypatch, capsys, *[names.get(a, a) for a in args])
    assert_one_line(code, stderr, 2, "billow: error:", module, 'pip install -e ".[viz]"')
    assert [snapshot_tree(tree) for tree in trees] == before


def test_analyze_without_viz_still_writes_its_numbers(tmp_path, monkeypatch):
    out = tiny_run(tmp_path / "run")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = CliRunner().invoke(cli.app, ["analyze", str(out)])
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert "no figures" in result.stderr and ".[viz]" in result.stderr
    with xr.open_dataset(out / "analysis.nc", engine="h5netcdf") as analysis:
        assert np.isfinite(analysis.pe.values).all()
    assert "no figures: matplotlib" in (out / "summary.md").read_text()


def test_tracebacks_only_with_debug(tmp_path, monkeypatch, capsys):
    assert_error(billow_cli("run", "nope", cwd=tmp_path), "nope")
    for args, env in ((["--debug", "run", "nope"], {}), (["run", "nope"], {"BILLOW_DEBUG": "1"})):
        result = billow_cli(*args, cwd=tmp_path, env=env)
        assert result.returncode == 2 and "Traceback" in result.stderr
        assert result.stderr.splitlines()[-1].startswith("billow: error: unknown case 'nope'")

    def broken(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr("billow.io.pack.pack_run", broken)
    code, stderr = invoke_main(monkeypatch, capsys, "pack", str(tmp_path))
    assert_one_line(code, stderr, 1, "billow: error: internal error TypeError: a bug", "--debug")


# ------------------------------------------------------------------ 10. stops


def test_wall_time_stop_and_ctrl_c_have_their_own_exit_codes(tmp_path):
    long = [*TINY, "--set", "t_end=1e4", "--set", "save_every=0.5", "--quiet"]
    result = billow_cli(
        "run", "shear_layer", *long, "--out", "wall", "--max-wall-time", "2", cwd=tmp_path
    )
    assert_one_line(
        result.returncode, result.stderr, 3, "billow: stopped:", "max-wall-time", "billow restart"
    )
    out = tmp_path / "ctrl-c"
    process = subprocess.Popen(
        [str(BILLOW), "run", "shear_layer", *long, "--out", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: (out / "log.txt").exists() and "snapshot 2 " in (out / "log.txt").read_text())
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert_one_line(process.returncode, stderr, 130, "billow: stopped:", "SIGINT")
    assert list((out / "checkpoints").glob("checkpoint_*.h5"))


def test_ctrl_c_during_a_sweep_is_one_line(tmp_path):
    (tmp_path / "spec.toml").write_text(
        'case = "shear_layer"\n[parameters]\nnx = 16\nnz = 16\nLx = 14.0\nt_end = 1e4\n'
        'save_every = 1.0\nperturbation = "sinusoid"\n[vary]\nRi = [0.05, 0.1]\n'
    )
    process = subprocess.Popen(
        [str(BILLOW), "sweep", "spec.toml", "--out", "sweep", "--workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C signals the whole foreground process group
    )
    logs = tmp_path / "sweep" / "members"
    wait_for(lambda: any("snapshot 2 " in p.read_text() for p in logs.glob("*/log.txt")))
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=90)
    assert_one_line(process.returncode, stderr, 130, "billow: interrupted", "rerun")
