"""The `billow` command line (README: "Command line"): run directories, `billow cases`,
one-line errors for bad input that never touch existing output, and the Python API
behind it (`billow.run`, `billow.open_run`).

End-to-end checks call the installed console script as a subprocess; the many
bad-input cases go through typer's CliRunner to stay fast.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from console import billow_cli
from typer.testing import CliRunner

import billow
from billow.cli import app

TINY = ["--set", "nx=64", "--set", "nz=32", "--set", "t_end=1"]
SMALL = ["--set", "nx=32", "--set", "nz=32", "--set", "t_end=0.2"]
OUTPUT_FILES = ("config.toml", "fields.nc", "diagnostics.nc", "tracer_diagnostics.nc", "log.txt")
FIELD_VARIABLES = ("u", "w", "b", "c", "vorticity")
DIAGNOSTIC_VARIABLES = (
    "ke",
    "pe",
    "epsilon",
    "max_divergence",
    "b_integral",
    "dt",
    "cfl",
)
TRACER_VARIABLES = ("c_integral", "dye_entropy")  # every diagnostics_every steps


def invoke(*args: str | Path):
    """Run the CLI in-process with typer's CliRunner (stdout and stderr kept apart)."""
    return CliRunner().invoke(app, [str(arg) for arg in args])


def assert_one_line_error(returncode: int, stdout: str, stderr: str, *keywords: str) -> None:
    """Exactly one line on stderr, starting with 'billow: error:' and naming the problem."""
    assert returncode != 0, f"exit code 0 for a bad input; stderr: {stderr!r}"
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {lines!r}"
    assert lines[0].startswith("billow: error:"), lines[0]
    for keyword in keywords:
        assert keyword in lines[0], f"{keyword!r} not named in {lines[0]!r}"
    assert stdout == "", f"unexpected stdout {stdout!r}"


def assert_cli_result_is_one_line_error(result, *keywords: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    assert_one_line_error(result.exit_code, result.stdout, result.stderr, *keywords)


def snapshot_tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for directories)."""
    return {
        str(path.relative_to(root)): (path.read_bytes() if path.is_file() else None)
        for path in sorted(root.rglob("*"))
    }


def make_previous_run(directory: Path) -> None:
    """A directory holding (fake) billow outputs of an earlier run and a user's own file."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.toml").write_text('case = "shear_layer"\nnx = 8\n')
    (directory / "fields.nc").write_bytes(b"\x89HDF previous fields \x00\x01\x02")
    (directory / "diagnostics.nc").write_bytes(b"\x89HDF previous diagnostics \x00")
    (directory / "log.txt").write_text("previous log\n")
    (directory / "notes.txt").write_text("my notes about this run\n")


# --------------------------------------------------------------------------- run


def test_run_writes_complete_run_directory(tmp_path):
    out = tmp_path / "run"
    result = billow_cli("run", "shear_layer", *TINY, "--out", out, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), f"{name} missing from the run directory"
    assert (out / "log.txt").read_text().strip(), "log.txt is empty"

    # config.toml holds the fully resolved parameters of the case
    case = billow.get_case("shear_layer")
    config = tomllib.loads((out / "config.toml").read_text())
    assert config.pop("case") == "shear_layer"
    assert set(config) == set(case.params.model_fields)
    resolved = case.make_params(nx=64, nz=32, t_end=1).model_dump()
    assert config == resolved
    assert (config["nx"], config["nz"], config["t_end"]) == (64, 32, 1.0)

    grid = billow.Grid(config["nx"], config["nz"], config["Lx"], config["Lz"])
    with (
        xr.open_dataset(out / "fields.nc", engine="h5netcdf") as fields,
        xr.open_dataset(out / "diagnostics.nc", engine="h5netcdf") as diagnostics,
        xr.open_dataset(out / "tracer_diagnostics.nc", engine="h5netcdf") as tracers,
    ):
        for dataset in (fields, diagnostics, tracers):
            assert str(dataset.attrs["Conventions"]).startswith("CF-1")
            for name in case.params.model_fields:
                assert name in dataset.attrs, f"parameter {name} missing from global attributes"
                assert dataset.attrs[name] == config[name], name
        for name in FIELD_VARIABLES:
            assert name in fields.data_vars, f"{name} missing from fields.nc"
            assert fields[name].dims == ("time", "z", "x")
            assert fields[name].attrs["units"] == "1"
        assert np.array_equal(fields["x"].values, grid.x_centre)
        assert np.array_equal(fields["z"].values, grid.z_centre)
        assert fields["time"].values[0] == 0.0
        assert fields["time"].values[-1] == pytest.approx(1.0)
        for name in DIAGNOSTIC_VARIABLES:
            assert name in diagnostics.data_vars, f"{name} missing from diagnostics.nc"
            assert diagnostics[name].dims == ("time",)
        assert diagnostics.sizes["time"] >= 2
        # the tracers' diagnostics at steps 0, N, 2N, ... and at t_end, N recorded
        every = config["diagnostics_every"]
        assert tracers.attrs["every_n_steps"] == every == 10
        steps = diagnostics.sizes["time"] - 1
        at_steps = list(range(0, steps + 1, every)) + ([steps] if steps % every else [])
        assert np.array_equal(tracers["time"].values, diagnostics["time"].values[at_steps])
        for name in TRACER_VARIABLES:
            assert name in tracers.data_vars, f"{name} missing from tracer_diagnostics.nc"
            assert tracers[name].dims == ("time",)
            assert name not in diagnostics.data_vars
        first = fields.load()

    # config.toml is rerunnable as is and reproduces the run exactly
    again = tmp_path / "again"
    result = billow_cli(
        "run", "--config", out / "config.toml", "--out", again, "--quiet", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert (again / "config.toml").read_text() == (out / "config.toml").read_text()
    with xr.open_dataset(again / "fields.nc", engine="h5netcdf") as second:
        xr.testing.assert_identical(first, second.load())


def test_cases_lists_every_case_on_one_screen(tmp_path):
    result = billow_cli("cases", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in billow.CASES:
        assert name in result.stdout
    assert len(result.stdout.splitlines()) <= 50, "billow cases should fit on one screen"


@pytest.mark.parametrize("name", list(billow.CASES))
def test_cases_name_lists_every_parameter(name, tmp_path):
    result = billow_cli("cases", name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = {line.split("│")[0].strip() for line in result.stdout.splitlines() if "│" in line} - {
        "",
        "parameter",
    }
    assert listed == set(billow.CASES[name].params.model_fields), listed


# ------------------------------------------------------------------- bad inputs

BAD_SETTINGS = {
    "unknown case": (["run", "no_such_case"], ["no_such_case"]),
    "unknown parameter": (
        ["run", "shear_layer", "--set", "ampltude=0.1"],
        ["'ampltude'", "did you mean 'amplitude'"],
    ),
    "nx not a number": (["run", "shear_layer", "--set", "nx=abc"], ["'nx'"]),
    "nx fractional": (["run", "shear_layer", "--set", "nx=64.5"], ["'nx'"]),
    "Re not a number": (["run", "shear_layer", "--set", "Re=abc"], ["'Re'"]),
    "Re zero": (["run", "shear_layer", "--set", "Re=0"], ["'Re'"]),
    "Re negative": (["run", "shear_layer", "--set", "Re=-1"], ["'Re'"]),
    "Re nan": (["run", "shear_layer", "--set", "Re=nan"], ["'Re'"]),
    "Pr zero": (["run", "shear_layer", "--set", "Pr=0"], ["'Pr'"]),
    "cfl too large": (["run", "shear_layer", "--set", "cfl=5"], ["'cfl'"]),
    "amplitude negative": (["run", "shear_layer", "--set", "amplitude=-1"], ["'amplitude'"]),
    "t_end zero": (["run", "shear_layer", "--set", "t_end=0"], ["'t_end'"]),
    "save_every zero": (["run", "shear_layer", "--set", "save_every=0"], ["'save_every'"]),
    "seed negative": (["run", "shear_layer", "--set", "seed=-1"], ["'seed'"]),
    "unknown bc_z": (["run", "shear_layer", "--set", "bc_z=slippery"], ["'bc_z'", "slippery"]),
    "unknown advection": (
        ["run", "shear_layer", "--set", "advection=weno"],
        ["'advection'", "weno"],
    ),
    "nx too small": (["run", "shear_layer", "--set", "nx=4"], ["nx", "8"]),
    "nx large prime": (["run", "shear_layer", "--set", "nx=97"], ["nx", "97"]),
    "nz large prime, periodic": (["run", "kolmogorov", "--set", "nz=131"], ["nz", "131"]),
    "shear_layer periodic": (
        ["run", "shear_layer", "--set", "bc_z=periodic"],
        ["shear_layer", "bc_z"],
    ),
    "lecoanet2016 no-slip walls": (
        ["run", "lecoanet2016", "--set", "bc_z=no-slip"],
        ["lecoanet2016", "bc_z"],
    ),
    "lecoanet2016 free-slip walls": (
        ["run", "lecoanet2016", "--set", "bc_z=free-slip"],
        ["lecoanet2016", "bc_z"],
    ),
    "set without =": (["run", "shear_layer", "--set", "nx64"], ["--set", "nx64"]),
    "set without key": (["run", "shear_layer", "--set", "=64"], ["--set"]),
    "no case": (["run"], ["case"]),
}


@pytest.mark.parametrize("bad", list(BAD_SETTINGS), ids=list(BAD_SETTINGS))
def test_bad_setting_is_one_line_error_and_keeps_previous_run(bad, tmp_path):
    """Even with --overwrite, a run refused for bad input leaves the old run alone."""
    args, keywords = BAD_SETTINGS[bad]
    out = tmp_path / "previous"
    make_previous_run(out)
    before = snapshot_tree(tmp_path)
    result = invoke(*args, "--out", out, "--overwrite")
    assert_cli_result_is_one_line_error(result, *keywords)
    assert snapshot_tree(tmp_path) == before


def test_bad_setting_without_out_creates_no_run_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "shear_layer", "--set", "Re=0")
    assert_cli_result_is_one_line_error(result, "'Re'")
    assert list(tmp_path.iterdir()) == []


BAD_CONFIGS = {
    "invalid TOML": ("nx = = 64\n", ["bad.toml", "TOML"]),
    "not UTF-8": (b"\xff\xfe\x00nx = 64", ["bad.toml"]),
    "unknown key": ('case = "shear_layer"\nnx = 64\nfrobnicate = 1\n', ["'frobnicate'"]),
    "unknown key in [parameters]": (
        'case = "shear_layer"\n[parameters]\nnz = 32\nfrobnicate = 1\n',
        ["'frobnicate'"],
    ),
    "bad value": ('case = "shear_layer"\nRe = -5\n', ["'Re'"]),
    "case conflicts with command line": ('case = "double_shear"\nnx = 64\n', ["double_shear"]),
    "case not a string": ("case = 3\n", ["case"]),
}


@pytest.mark.parametrize("bad", list(BAD_CONFIGS), ids=list(BAD_CONFIGS))
def test_bad_config_file_is_one_line_error_and_keeps_previous_run(bad, tmp_path):
    text, keywords = BAD_CONFIGS[bad]
    config = tmp_path / "bad.toml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text)
    out = tmp_path / "previous"
    make_previous_run(out)
    before = snapshot_tree(tmp_path)
    args = ["run", "shear_layer"] if "conflicts" in bad else ["run"]
    result = invoke(*args, "--config", config, "--out", out, "--overwrite")
    assert_cli_result_is_one_line_error(result, *keywords)
    assert snapshot_tree(tmp_path) == before


def test_missing_config_file_is_one_line_error(tmp_path):
    out = tmp_path / "previous"
    make_previous_run(out)
    before = snapshot_tree(tmp_path)
    result = invoke("run", "shear_layer", "--config", tmp_path / "nowhere.toml", "--out", out)
    assert_cli_result_is_one_line_error(result, "nowhere.toml")
    assert snapshot_tree(tmp_path) == before


def _existing_file(tmp_path: Path) -> Path:
    path = tmp_path / "a_file"
    path.write_text("not a directory\n")
    return path


def _under_a_file(tmp_path: Path) -> Path:
    return _existing_file(tmp_path) / "run"


def _under_read_only_directory(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod does not make a directory read-only")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    return locked / "run"


def _non_empty_directory(tmp_path: Path) -> Path:
    out = tmp_path / "previous"
    make_previous_run(out)
    return out


UNUSABLE_OUT = {
    "existing regular file": (_existing_file, ["a_file", "not a directory"]),
    "path under a regular file": (_under_a_file, ["a_file"]),
    "under read-only directory": (_under_read_only_directory, ["locked"]),
    "non-empty directory without --overwrite": (_non_empty_directory, ["previous", "--overwrite"]),
}


@pytest.mark.parametrize("quiet", [True, False], ids=["quiet", "progress"])
@pytest.mark.parametrize("where", list(UNUSABLE_OUT), ids=list(UNUSABLE_OUT))
def test_unusable_out_is_one_line_error_and_untouched(where, quiet, tmp_path):
    make, keywords = UNUSABLE_OUT[where]
    out = make(tmp_path)
    before = snapshot_tree(tmp_path)
    try:
        result = invoke("run", "shear_layer", *SMALL, "--out", out, *(["--quiet"] if quiet else []))
        assert_cli_result_is_one_line_error(result, *keywords)
        assert snapshot_tree(tmp_path) == before
    finally:
        for path in tmp_path.rglob("*"):
            if path.is_dir():
                path.chmod(0o700)


@pytest.mark.parametrize(
    "args, keywords",
    [
        (["run", "no_such_case", "--quiet"], ["no_such_case"]),
        (["run", "shear_layer", "--set", "ampltude=0.1", "--quiet"], ["did you mean 'amplitude'"]),
        (["run", "shear_layer", "--set", "nx=97", "--quiet"], ["nx", "97"]),
    ],
    ids=["unknown case", "unknown parameter", "prime nx"],
)
def test_console_script_reports_bad_input_in_one_line(args, keywords, tmp_path):
    result = billow_cli(*args, cwd=tmp_path)
    assert_one_line_error(result.returncode, result.stdout, result.stderr, *keywords)
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_console_script_refuses_non_empty_out_byte_for_byte(tmp_path):
    out = _non_empty_directory(tmp_path)
    before = snapshot_tree(tmp_path)
    result = billow_cli("run", "shear_layer", *SMALL, "--out", out, "--quiet", cwd=tmp_path)
    assert_one_line_error(result.returncode, result.stdout, result.stderr, "--overwrite")
    assert snapshot_tree(tmp_path) == before


@pytest.mark.parametrize(
    "args",
    [
        ["run", "shear_layer", "--sett", "nx=32"],
        ["run", "shear_layer", "--set"],
        ["frobnicate"],
    ],
    ids=["unknown option", "option without value", "unknown command"],
)
def test_usage_errors_are_one_line(args, tmp_path):
    """Usage errors raised while parsing (before any command runs) are one line too:
    the console script's entry point catches them."""
    result = billow_cli(*args, cwd=tmp_path)
    assert_one_line_error(result.returncode, result.stdout, result.stderr)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_own_files_and_keeps_user_files(tmp_path):
    out = tmp_path / "previous"
    make_previous_run(out)
    (out / "figures").mkdir()
    (out / "figures" / "mine.png").write_bytes(b"\x89PNG user figure")
    user_files = {name: (out / name).read_bytes() for name in ("notes.txt", "figures/mine.png")}

    result = invoke("run", "shear_layer", *SMALL, "--out", out, "--overwrite", "--quiet")
    assert result.exit_code == 0, (result.stderr, result.exception)

    for name, content in user_files.items():
        assert (out / name).read_bytes() == content, f"user file {name} changed"
    config = tomllib.loads((out / "config.toml").read_text())
    assert (config["nx"], config["nz"], config["t_end"]) == (32, 32, 0.2)
    assert "previous log" not in (out / "log.txt").read_text()
    with billow.open_run(out) as fields, billow.open_run(out, "diagnostics") as diagnostics:
        assert fields.attrs["nx"] == 32
        assert "ke" in diagnostics
    expected = {*OUTPUT_FILES, "segments", "checkpoints", "notes.txt", "figures", ".billow.lock"}
    assert {path.name for path in out.iterdir()} == expected


# ------------------------------------------------------------------- Python API


def test_python_api_run_returns_dataset(tmp_path):
    dataset = billow.run("shear_layer", nx=32, nz=32, t_end=1, save_every=0.5)
    assert isinstance(dataset, xr.Dataset)
    np.testing.assert_allclose(dataset["time"].values, [0.0, 0.5, 1.0], rtol=0, atol=1e-12)
    for name in FIELD_VARIABLES:
        assert dataset[name].shape == (3, 32, 32)
    assert np.all(np.isfinite(dataset["u"].values))

    out = tmp_path / "kept"
    kept = billow.run("shear_layer", nx=32, nz=32, t_end=1, save_every=0.5, out=out)
    for name in OUTPUT_FILES:
        assert (out / name).is_file(), f"{name} not kept"
    xr.testing.assert_identical(dataset, kept)
    with billow.open_run(out) as fields:
        assert list(fields["time"].values) == list(kept["time"].values)
        assert set(FIELD_VARIABLES) <= set(fields.data_vars)
    with billow.open_run(out, "diagnostics") as diagnostics:
        assert set(DIAGNOSTIC_VARIABLES) <= set(diagnostics.data_vars)


# ------------------------------------------------------------------- billow stability


def test_stability_prints_fastest_growing_mode(tmp_path):
    # Re = 1000, Ri = 0.1, free-slip walls at +-15: sigma_max = 0.12412 (docs/validation.md)
    settings = ["--set", "Re=1000", "--set", "Ri=0.1", "--set", "Lz=30"]
    result = billow_cli("stability", *settings, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "0.12412" in result.stdout
    assert "recommended Lx" in result.stdout


def test_stability_bad_parameter_is_one_line_error(tmp_path):
    result = billow_cli("stability", "--set", "Rei=3", cwd=tmp_path)
    assert_one_line_error(
        result.returncode, result.stdout, result.stderr, "'Rei'", "did you mean 'Ri'"
    )


def test_stability_plot_given_a_file_is_one_line_error_before_any_solve(tmp_path):
    (tmp_path / "taken").write_text("keep")
    for given, keyword in (("taken", "is a file"), ("figure.png", "not an image name")):
        result = billow_cli("stability", "--plot", tmp_path / given, cwd=tmp_path)
        assert_one_line_error(
            result.returncode, result.stdout, result.stderr, "--plot takes a directory", keyword
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert (tmp_path / "taken").read_text() == "keep"


@pytest.mark.slow
def test_stability_plot_writes_both_figures(tmp_path):
    result = billow_cli("stability", "--set", "Ri=0.1", "--plot", tmp_path / "figs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "440 eigenvalue solves" in result.stderr
    for name in ("growth_rate.png", "stability_diagram.png"):
        assert (tmp_path / "figs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
