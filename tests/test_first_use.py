"""A new user's first hour (issue 13, items 12-19): help and version, the README's
commands exactly as written, progress in batch logs, the Python API's surface and the
finishing touches of the outputs."""

from __future__ import annotations

import subprocess
import sys
from functools import partial
from pathlib import Path

import console
import numpy as np
import pytest
from typer.testing import CliRunner

import billow
from billow.cli import app

REPO = Path(__file__).resolve().parents[1]


# a wide terminal, so that help lines are not wrapped
billow_cli = partial(console.billow_cli, columns=120, timeout=300)


def invoke(*args: str | Path):
    return CliRunner().invoke(app, [str(arg) for arg in args], terminal_width=120)


# ---------------------------------------------------------------- item 15: -h, --version


def test_version_prints_the_package_version(tmp_path):
    result = billow_cli("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"billow {billow.__version__}"


@pytest.mark.parametrize("args", [["-h"], ["run", "-h"], ["stability", "-h"], ["movie", "-h"]])
def test_short_help_is_the_same_as_long_help(args, tmp_path):
    short = billow_cli(*args, cwd=tmp_path)
    long = billow_cli(*args[:-1], "--help", cwd=tmp_path)
    assert short.returncode == 0, short.stderr
    assert short.stdout == long.stdout and "Usage: billow" in short.stdout


def test_help_shows_key_value_for_set_and_no_type_after_flags():
    text = invoke("run", "--help").stdout
    assert "KEY=VALUE" in text
    assert "<bool>" not in text and "list[str]" not in text
    line = next(line for line in text.splitlines() if "--overwrite" in line)
    assert "<" not in line  # a flag takes no value
    assert "KEY=VALUE" in invoke("stability", "--help").stdout


# ---------------------------------------------------------------- item 14: --from-kh2d --out


def test_kh2d_config_runs_into_runs_slash_its_name(tmp_path):
    # After `make run` (runs/shear_layer exists) a kh2d config must not collide with it.
    (tmp_path / "runs" / "shear_layer").mkdir(parents=True)
    (tmp_path / "runs" / "shear_layer" / "config.toml").write_text('case = "shear_layer"\n')
    config = tmp_path / "basic_shear.txt"
    config.write_text((REPO / "examples" / "kh2d_configs" / "basic_shear.txt").read_text())
    tiny = ["--set", "nx=16", "--set", "nz=16", "--set", "t_end=0.05", "--set", "save_every=0.05"]
    result = billow_cli("run", "--from-kh2d", config, *tiny, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs" / "basic_shear" / "fields.nc").is_file()


# ---------------------------------------------------------------- item 13: README commands


def readme_command(start: str) -> list[str]:
    """The README's command line beginning with ``start``, split into words, comment cut."""
    for line in (REPO / "README.md").read_text().splitlines():
        if line.strip().startswith(start):
            return line.split("#")[0].split()
    raise AssertionError(f"no README line starts with {start!r}")


def test_readme_install_line_works_from_a_clone():
    text = (REPO / "README.md").read_text()
    assert "pip install billow[" not in text  # billow is not on a package index
    assert 'pip install -e ".[viz]"' in text


def test_readme_config_example_exists_and_runs(tmp_path):
    words = readme_command("billow run double_shear --config")
    config = REPO / words[words.index("--config") + 1]
    assert config.is_file(), f"the README names {config}, which is not shipped"
    from billow.cases import get_case
    from billow.config import read_config

    case, values = read_config(config)
    assert case == words[2] == "double_shear"
    get_case(case).make_params(**values)  # every key is a parameter of the case
    tiny = ["--set", "nx=16", "--set", "nz=32", "--set", "t_end=0.1", "--set", "save_every=0.1"]
    result = billow_cli(*words[1:], *tiny, "--out", tmp_path / "run", cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "fields.nc").is_file()


# ---------------------------------------------------------------- item 19: finishing touches

TINY = ["--set", "nx=16", "--set", "nz=16", "--set", "t_end=0.2", "--set", "save_every=0.1"]


def test_fields_nc_z_points_up_and_dye_is_named(walls_run):
    with billow.open_run(walls_run) as fields:
        assert fields["z"].attrs["positive"] == "up"
        assert fields["c"].attrs["long_name"] == "dye concentration"


def test_restart_reports_finished_like_run(tmp_path):
    out = tmp_path / "run"
    first = billow_cli("run", "shear_layer", *TINY, "--set", "Lx=14", "--out", out, cwd=tmp_path)
    assert first.returncode == 0 and "finished in" in first.stderr
    again = billow_cli("restart", out, "--t-end", "0.4", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    last = again.stderr.strip().splitlines()[-1]
    assert last.startswith("shear_layer finished in") and last.endswith(f"-> {out}"), last


def test_log_of_a_stopped_run_does_not_say_finished(tmp_path):
    out = tmp_path / "run"
    # small steps (cfl 0.05) to t = 500: about 11 000 steps, far more than 0.5 s of work
    settings = [
        "--set",
        "Lx=14",
        "--set",
        "t_end=500",
        "--set",
        "save_every=1",
        "--set",
        "cfl=0.05",
    ]
    args = ["run", "shear_layer", *TINY, *settings, "--out", out]
    result = billow_cli(*args, "--quiet", "--max-wall-time", "0.5", cwd=tmp_path)
    assert result.returncode != 0
    log = (out / "log.txt").read_text()
    stopped = log.index("stopped")
    assert "finished" not in log[stopped:], log[stopped:]
    assert "stopped after" in log[stopped:]  # the steps and wall time are still logged
    from billow.sweep import wall_time

    assert wall_time(out) > 0  # and still counted in a sweep's wall time


def test_one_member_is_singular(tmp_path, monkeypatch):
    import billow.sweep

    spec = tmp_path / "spec.toml"
    spec.write_text('case = "shear_layer"\n[parameters]\nnx = 16\nnz = 16\nLx = 14.0\n')
    monkeypatch.setattr(billow.sweep, "run_sweep", lambda *args, **kwargs: None)
    result = invoke("sweep", spec, "--out", tmp_path / "sweep")
    assert result.exit_code == 0, result.stderr
    assert "sweep of 1 member ->" in result.stderr


def test_readme_commands_write_only_under_runs():
    # A user running the README's commands from the clone must find new files under
    # runs/ only: every output option there points into runs/ ...
    commands = [
        line.split("#")[0].split()
        for line in (REPO / "README.md").read_text().splitlines()
        if line.strip().startswith("billow ")
    ]
    assert len(commands) > 10
    for words in commands:
        for option in ("--out", "--plot"):
            if option in words:
                value = words[words.index(option) + 1]
                assert value.startswith("runs/"), " ".join(words)


def test_compare_default_output_is_under_runs(tmp_path, monkeypatch):
    # ... and so does the one output directory with a default outside a run directory
    import billow.analysis.compare
    import billow.errors

    seen = {}

    def fake_compare(run_dirs, out, samples, seed):
        seen["out"] = out
        raise billow.errors.BillowError("stop here")

    monkeypatch.setattr(billow.analysis.compare, "compare_runs", fake_compare)
    for name in ("a", "b"):  # what the command checks before it calls compare_runs
        (tmp_path / name).mkdir()
        (tmp_path / name / "fields.nc").touch()
    invoke("compare", tmp_path / "a", tmp_path / "b")
    assert Path(seen["out"]).parts[0] == "runs"


# ---------------------------------------------------------------- item 18: the Python API


def test_package_exports_its_api_and_nothing_else():
    assert "os" not in dir(billow) and not hasattr(billow, "os")
    for name in billow.__all__:
        assert getattr(billow, name) is not None, name
    assert {"run", "open_run", "get_case", "Simulation", "datasets"} <= set(billow.__all__)


def test_datasets_is_an_attribute_of_a_fresh_import():
    code = "import billow; print(billow.datasets.WellWindows.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "WellWindows"


def documented_functions():
    from billow.analysis import energetics
    from billow.linear import stability

    functions = [billow.get_case, billow.run, billow.open_run]
    functions += [
        stability.tanh_profiles,
        stability.most_unstable_mode,
        stability.growth_rate_curve,
        stability.fastest_growing,
        stability.recommended_Lx,
    ]
    functions += [
        getattr(energetics, name)
        for name in dir(energetics)
        if not name.startswith("_")
        and callable(getattr(energetics, name))
        and getattr(getattr(energetics, name), "__module__", "") == energetics.__name__
        and not isinstance(getattr(energetics, name), type)
    ]
    return functions


@pytest.mark.parametrize("function", documented_functions(), ids=lambda f: f.__name__)
def test_public_functions_document_parameters_and_returns(function):
    doc = function.__doc__ or ""
    assert "Parameters\n" in doc and "Returns\n" in doc, function.__name__


def test_mode_sigma_is_complex_with_growth_rate_and_phase_speed():
    from billow.linear import stability

    U, B = stability.tanh_profiles(0.1)
    mode = stability.most_unstable_mode(lambda z: np.tanh(z) + 0.3, B, 0.44, Re=1000, Lz=14)
    assert isinstance(mode.sigma, complex)
    assert mode.growth_rate == mode.sigma.real > 0
    # a layer moving at +0.3 carries its billows along: c_r = -sigma.imag / k = 0.3
    assert mode.phase_speed == pytest.approx(-mode.sigma.imag / mode.k)
    assert mode.phase_speed == pytest.approx(0.3, abs=1e-3)
    assert isinstance(stability.Mode.growth_rate, property)
    assert isinstance(stability.Mode.phase_speed, property)
    assert "complex" in stability.Mode.__doc__


# ---------------------------------------------------------------- item 16: batch progress


def test_batch_log_gets_progress_lines_at_the_interval(tmp_path, monkeypatch):
    # CliRunner's stderr is not a terminal, as in a batch job; interval 0 prints a line
    # after every step, the 30 s default (tested below) at most one per 30 s.
    import billow.progress

    monkeypatch.setattr(billow.progress, "PROGRESS_INTERVAL", 0.0)
    args = ["shear_layer", *TINY, "--set", "Lx=14", "--set", "cfl=0.02"]
    result = invoke("run", *args, "--out", tmp_path / "r")
    assert result.exit_code == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "steps/s" in line]
    assert len(lines) >= 5, result.stderr
    assert all(" t = " in line and "dt = " in line and "ETA" in line for line in lines)
    assert lines[-1].startswith("shear_layer: t = 0.2 / 0.2 (100 %)"), lines[-1]


def test_progress_lines_are_at_most_one_per_interval(monkeypatch):
    import io

    import billow.progress

    assert billow.progress.PROGRESS_INTERVAL == 30.0
    clock = [0.0]
    monkeypatch.setattr(billow.progress.time, "perf_counter", lambda: clock[0])
    stream = io.StringIO()
    lines = billow.progress.ProgressLines("kh", t_end=10.0, stream=stream)

    class FakeSim:  # 1 simulated time unit and 100 steps per 10 s of wall clock
        dt = 0.01

        class model:
            time, iteration = 0.0, 0

    for step in range(0, 1001):
        clock[0] = 0.1 * step
        FakeSim.model.time, FakeSim.model.iteration = 0.01 * step, step
        lines(FakeSim)
    printed = stream.getvalue().splitlines()
    assert len(printed) == 3  # at 30, 60 and 90 s of 100
    assert printed[0] == "kh: t = 3 / 10 (30 %), dt = 1.000e-02, 10.0 steps/s, ETA 0:01:10"


@pytest.mark.parametrize("terminal", [True, False])
def test_a_terminal_or_a_log_is_told_once_when_numba_compiles(tmp_path, terminal):
    # the first run on a machine spends up to a minute compiling, with the bar standing
    # still (or, in a log, before its first progress line): the console says why, once,
    # and says nothing when every kernel is cached
    import io

    import numba
    from rich.console import Console

    import billow.progress

    def show(work) -> str:
        stream = io.StringIO()
        console = Console(file=stream, force_terminal=terminal, width=200)
        with billow.progress.progress_display("kh", 1.0, console):
            work()
        return stream.getvalue()

    def compile_two_functions():  # new functions, so compiled here whatever the cache holds
        numba.njit(lambda x: x + 1)(1)
        numba.njit(lambda x: x * 2.0)(1.0)

    compiling = show(compile_two_functions)
    assert compiling.count(billow.progress.COMPILING) == 1, compiling
    increment = numba.njit(lambda x: x + 1)
    increment(1)  # compiled before the display: calling it again compiles nothing
    assert billow.progress.COMPILING not in show(lambda: increment(2))


def test_python_api_progress_shows_the_same_progress(tmp_path, monkeypatch, capsys):
    import billow.progress

    monkeypatch.setattr(billow.progress, "PROGRESS_INTERVAL", 0.0)
    billow.run("shear_layer", nx=16, nz=16, Lx=14.0, t_end=0.1, cfl=0.05, progress=True)
    err = capsys.readouterr().err
    assert "shear_layer: t = 0.1 / 0.1 (100 %)" in err and "steps/s" in err


# ---------------------------------------------------------------- item 12: billow stability


def stability_number(stdout: str, row: str) -> float:
    line = next(line for line in stdout.splitlines() if row in line)
    return float(line.split(row)[1].split()[1])


def test_stability_recommends_the_lx_the_default_run_uses():
    from billow.cases import get_case

    result = invoke("stability")
    assert result.exit_code == 0, result.stderr
    run_Lx = get_case("shear_layer").make_params().Lx  # Lz = 14, as the case
    assert stability_number(result.stdout, "recommended Lx") == pytest.approx(run_Lx, abs=1e-4)
    lz30 = invoke("stability", "--case", "shear_layer", "--set", "Lz=30")
    assert stability_number(lz30.stdout, "recommended Lx") == pytest.approx(14.2268, abs=1e-4)


def test_stability_case_must_be_a_tanh_layer():
    result = invoke("stability", "--case", "kolmogorov")
    assert result.exit_code == 2
    assert result.stderr.startswith("billow: error:") and "shear_layer" in result.stderr


def test_stability_plot_shows_progress(tmp_path, monkeypatch):
    from billow.linear import stability

    calls = []

    def quick_curve(U, B, ks, **options):  # the figures' 440 solves take about 25 s
        calls.append(len(ks))
        return np.full(len(ks), 0.1)

    monkeypatch.setattr(stability, "growth_rate_curve", quick_curve)
    result = invoke("stability", "--plot", tmp_path / "figs")
    assert result.exit_code == 0, result.stderr
    assert "440 eigenvalue solves" in result.stderr and "100%" in result.stderr
    assert len(calls) > 10  # the solves are done in steps that move the bar
    assert (tmp_path / "figs" / "stability_diagram.png").is_file()
