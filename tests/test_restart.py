"""Checkpoints and restart: a run stopped and continued equals the uninterrupted run bit
for bit, including the random forcing, with no duplicated or missing records."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from console import BILLOW
from test_numerics import needs_pyfftw
from typer.testing import CliRunner

import billow
import billow.simulation
from billow.cli import app
from billow.core.diagnostics import diagnostics_for
from billow.errors import BillowError
from billow.io.checkpoint import read_checkpoint
from billow.runner import RunStopped, prepare_restart, restart_run, run_case
from billow.sweep import member_summary

CASES = {
    "shear_layer": dict(Lx=14.0, perturbation="sinusoid", noise=1e-3),
    "forced": dict(Lx=14.0, perturbation="sinusoid"),  # random: the generator state must resume
}
SMALL = dict(nx=32, nz=32, save_every=1.0, checkpoint_every=2.0)


def assert_identical_runs(a: Path, b: Path) -> None:
    for which in ("fields", "diagnostics", "tracer_diagnostics"):
        with billow.open_run(a, which) as first, billow.open_run(b, which) as second:
            assert np.array_equal(first.time.values, second.time.values), which
            assert set(first.data_vars) == set(second.data_vars)
            for name in first.data_vars:
                assert np.array_equal(first[name].values, second[name].values), (which, name)


@pytest.mark.parametrize("case", list(CASES))
def test_restart_is_bitwise_identical_to_uninterrupted_run(case, tmp_path):
    # the first run's last steps were shortened to land on t = 5: the extension continues
    # from its newest checkpoint before them (kept for this), so it is the run to t = 10
    billow.run(case, t_end=10.0, out=tmp_path / "whole", **SMALL, **CASES[case])
    billow.run(case, t_end=5.0, out=tmp_path / "halves", **SMALL, **CASES[case])
    restart_run(tmp_path / "halves", t_end=10.0)
    assert_identical_runs(tmp_path / "whole", tmp_path / "halves")


def test_restart_from_an_older_checkpoint_replaces_later_records(tmp_path):
    # A crash after the t = 6 checkpoint: records up to t = 10 are on disk, the newest
    # checkpoint is lost. The restart must drop the records after t = 6, not duplicate them.
    case = "forced"
    billow.run(case, t_end=10.0, out=tmp_path / "whole", **SMALL, **CASES[case])
    billow.run(case, t_end=10.0, out=tmp_path / "crashed", **SMALL, **CASES[case])
    checkpoints = sorted((tmp_path / "crashed" / "checkpoints").glob("checkpoint_*.h5"))
    # the newest two are kept, and the newest before the steps shortened to land on t_end
    assert len(checkpoints) in (2, 3)
    checkpoints[-1].unlink()
    restart_run(tmp_path / "crashed")
    assert_identical_runs(tmp_path / "whole", tmp_path / "crashed")


def test_restart_refuses_what_cannot_continue(tmp_path):
    with pytest.raises(BillowError, match="does not exist"):
        restart_run(tmp_path / "nothing")
    billow.run("shear_layer", t_end=2.0, out=tmp_path / "run", **SMALL, **CASES["shear_layer"])
    with pytest.raises(BillowError, match="already at t = 2"):
        restart_run(tmp_path / "run")
    for checkpoint in (tmp_path / "run" / "checkpoints").glob("*.h5"):
        checkpoint.unlink()
    # records but no checkpoint: refused, naming the option that starts over
    with pytest.raises(BillowError, match="--from-scratch"):
        restart_run(tmp_path / "run", t_end=4.0)
    restart_run(tmp_path / "run", t_end=4.0, from_scratch=True)
    with billow.open_run(tmp_path / "run") as fields:
        assert fields.time.values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_restart_command_continues_and_errors_in_one_line(tmp_path):
    billow.run("shear_layer", t_end=2.0, out=tmp_path / "run", **SMALL, **CASES["shear_layer"])
    done = subprocess.run(
        [str(BILLOW), "restart", str(tmp_path / "run"), "--t-end", "3", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with billow.open_run(tmp_path / "run") as fields:
        assert fields.time.values.tolist() == [0.0, 1.0, 2.0, 3.0]
    refused = subprocess.run(
        [str(BILLOW), "restart", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode != 0
    assert refused.stderr.count("\n") == 1 and "already at t = 3" in refused.stderr


@needs_pyfftw
def test_a_restart_with_other_transforms_says_it_is_not_bitwise(tmp_path, monkeypatch):
    # FFTW and scipy.fft agree to round-off only: a run continued with the other library
    # is not the run it would have been, and the user is told so, on stderr and in the log
    run = tmp_path / "run"
    monkeypatch.setenv("BILLOW_FFT", "scipy")
    billow.run("shear_layer", t_end=2.0, out=run, **SMALL, **CASES["shear_layer"])
    assert prepare_restart(run, 3.0).warning is None
    monkeypatch.setenv("BILLOW_FFT", "fftw")
    warning = prepare_restart(run, 3.0).warning
    assert "scipy.fft" in warning and "pyFFTW" in warning and "not bit for bit" in warning
    result = CliRunner().invoke(app, ["restart", str(run), "--t-end", "3", "--quiet"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == f"billow: warning: {warning}\n"
    assert f"warning: {warning}" in (run / "log.txt").read_text()


def test_wall_time_limit_stops_with_checkpoint_and_restart_is_identical(tmp_path):
    # The stop falls between snapshots: the checkpoint is taken mid-interval, and the
    # continued run must still reproduce the uninterrupted one bit for bit.
    # about 250 steps of 96 x 96 (some 0.6 s on a quiet machine): the limit stops it early
    params = dict(nx=96, nz=96, t_end=30.0, save_every=1.0, **CASES["forced"])
    billow.run("forced", out=tmp_path / "whole", **params)
    spec = billow.get_case("forced")
    with pytest.raises(RunStopped, match="max-wall-time reached.*billow restart"):
        run_case("forced", spec.make_params(**params), tmp_path / "cut", max_wall_time=0.1)
    assert list((tmp_path / "cut" / "checkpoints").glob("checkpoint_*.h5"))
    restart_run(tmp_path / "cut")
    assert_identical_runs(tmp_path / "whole", tmp_path / "cut")


def test_sigterm_writes_checkpoint_and_exits_nonzero(tmp_path):
    out = tmp_path / "run"
    command = [
        str(BILLOW),
        "run",
        "shear_layer",
        "--set",
        "nx=64",
        "--set",
        "nz=64",
        "--set",
        "Lx=14.0",
        "--set",
        "perturbation='sinusoid'",
        "--set",
        "t_end=400",
        "--set",
        "save_every=1",
        "--out",
        str(out),
        "--quiet",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the time loop runs
        log = out / "log.txt"
        if log.exists() and "snapshot 2 " in log.read_text():
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert stderr.count("\n") == 1 and "SIGTERM received" in stderr, stderr
    assert list((out / "checkpoints").glob("checkpoint_*.h5"))
    with billow.open_run(out) as fields, billow.open_run(out, "diagnostics") as diagnostics:
        assert fields.sizes["time"] >= 3 and diagnostics.sizes["time"] > 1


def test_blow_up_stops_with_message_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    # Inject a blow-up: after t = 3 (past the t = 2 checkpoint) the buoyancy becomes NaN.
    from billow.simulation import BlowUpError, Simulation

    original_step = Simulation.step

    def step_then_poison(sim):
        original_step(sim)
        if sim.model.time > 3.0:
            sim.model.interior("b")[5, 5] = np.nan

    monkeypatch.setattr(Simulation, "step", step_then_poison)
    # by the next diagnostics (after the next step, before the t = 4 checkpoint) the NaN
    # has spread from b through w to u (cfl 1.3: steps of about 0.5 on this grid)
    with pytest.raises(BlowUpError, match=r"blow-up at step \d+, t = (3\.\d+|4): field '[uwb]'"):
        billow.run(
            "shear_layer",
            t_end=10.0,
            cfl=1.3,
            out=tmp_path / "run",
            **SMALL,
            **CASES["shear_layer"],
        )
    checkpoints = sorted((tmp_path / "run" / "checkpoints").glob("checkpoint_*.h5"))
    assert checkpoints, "the last good checkpoint must be kept"
    monkeypatch.setattr(Simulation, "step", original_step)
    assert 2.0 <= billow.runner.read_checkpoint(checkpoints[-1]).time < 3.0  # first step past 2
    restart_run(tmp_path / "run")  # continues from the last good state


def test_courant_number_above_hard_limit_stops_the_run(tmp_path, monkeypatch):
    # Inject a velocity jump: after t = 3 one step multiplies u by 10, so the Courant number
    # of that step, measured with the velocity it produced, is about 10 x cfl, above the hard limit.
    from billow.simulation import BlowUpError

    original_step = billow.Model.step

    def step_then_kick(model, dt, keep_first_stage=False):
        original_step(model, dt, keep_first_stage)
        if 3.0 < model.time and not getattr(model, "kicked", False):
            model.state["u"] *= 10.0
            model.kicked = True

    monkeypatch.setattr(billow.Model, "step", step_then_kick)
    with pytest.raises(BlowUpError, match=r"step \d+, t = 3\.\d+: field 'u' reached a Courant"):
        billow.run("shear_layer", t_end=10.0, out=tmp_path / "run", **SMALL, **CASES["shear_layer"])
    checkpoints = sorted((tmp_path / "run" / "checkpoints").glob("checkpoint_*.h5"))
    assert 2.0 <= billow.runner.read_checkpoint(checkpoints[-1]).time < 3.0


def test_flow_from_rest_takes_steps_at_the_velocity_scale(tmp_path):
    # At rest the advective limit vanishes; without a floor the first step of a forced
    # flow from rest would span a whole snapshot interval (dt = 2) and trip the hard limit.
    params = dict(nx=32, nz=32, Lx=14.0, t_end=4.0, save_every=2.0, base="rest")
    billow.run("forced", out=tmp_path / "rest", **params)
    with billow.open_run(tmp_path / "rest", "diagnostics") as diagnostics:
        dt = diagnostics["dt"].values[1:]
        cfl = diagnostics["cfl"].values[1:]
    dx = 14.0 / 32
    default_cfl = billow.core.schemes.SCHEMES["upwind5"].cfl
    assert np.all(dt <= default_cfl * dx * (1 + 1e-12))  # cfl x min(dx, dz) / U0
    assert np.all(cfl <= default_cfl * (1 + 1e-12))


@pytest.mark.parametrize("name, value", [("u", np.nan), ("w", np.inf), ("c", np.nan)])
def test_a_non_finite_velocity_or_tracer_stops_the_run_naming_it(name, value, monkeypatch):
    # u and w are checked through the controller's rate (a NaN or inf makes it non-finite);
    # an inf is already a Courant number above the hard limit
    from billow.simulation import BlowUpError, Simulation

    original_step = billow.Model.step

    def step_then_poison(model, dt, keep_first_stage=False):
        original_step(model, dt, keep_first_stage)
        if model.iteration == 2:
            model.interior(name)[3, 4] = value

    monkeypatch.setattr(billow.Model, "step", step_then_poison)
    case = billow.get_case("shear_layer")
    model = case.build(case.make_params(nx=32, nz=32, **CASES["shear_layer"]))
    reason = "is not finite" if np.isnan(value) else "reached a Courant number of inf"
    with pytest.raises(BlowUpError, match=rf"step 2, .*field '{name}' {reason}"):
        Simulation(model, t_end=10.0).run()


def test_a_run_directory_from_before_tracer_diagnostics_keeps_its_layout(tmp_path, monkeypatch):
    """A checkpoint without a record count for tracer_diagnostics.nc (billow wrote every
    diagnostic to diagnostics.nc, after every step, before that file) continues in that
    layout, bit for bit as an uninterrupted run in it, and open_run says why there is no
    tracer_diagnostics.nc."""

    def every_step_registry(model):  # the diagnostics as billow wrote them before
        return [dataclasses.replace(d, every_step=True) for d in diagnostics_for(model)]

    case = "shear_layer"
    with monkeypatch.context() as patch:
        patch.setattr(billow.simulation, "diagnostics_for", every_step_registry)
        billow.run(case, t_end=10.0, out=tmp_path / "whole", **SMALL, **CASES[case])
        billow.run(case, t_end=10.0, out=tmp_path / "old", **SMALL, **CASES[case])
    old = tmp_path / "old"
    checkpoints = sorted((old / "checkpoints").glob("checkpoint_*.h5"))
    assert "tracer_diagnostics" not in read_checkpoint(checkpoints[-1]).records
    checkpoints[-1].unlink()  # the one at t_end: continue from the one before it
    restart_run(old)  # with today's registry
    assert "predates tracer_diagnostics.nc" in (old / "log.txt").read_text()
    assert not (old / "tracer_diagnostics.nc").exists()
    with billow.open_run(old, "diagnostics") as diagnostics:
        assert {"dye_entropy", "c_integral"} <= set(diagnostics.data_vars)
        final_entropy = float(diagnostics["dye_entropy"].values[-1])
    assert member_summary(old)["final_dye_entropy"] == final_entropy  # a sweep reads it
    for which in ("fields", "diagnostics"):
        with (
            billow.open_run(tmp_path / "whole", which) as first,
            billow.open_run(old, which) as second,
        ):
            assert np.array_equal(first.time.values, second.time.values), which
            for name in first.data_vars:
                assert np.array_equal(first[name].values, second[name].values), (which, name)
    with pytest.raises(BillowError, match="predates it; its tracers' diagnostics are in"):
        billow.open_run(old, "tracer_diagnostics")
