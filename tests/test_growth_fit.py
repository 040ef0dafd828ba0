"""The growth-rate fit finds the exponential phase (issue 13 item 11): it skips start-up
transients and saturation, reports its window and R², gives nan with a reason when
there is no exponential phase, and on real runs agrees with linear theory."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import billow
from billow.analysis import fit_growth_rate, linear_theory_rate
from billow.cli import app

REPO = Path(__file__).resolve().parents[1]
SIGMA = 0.12


def synthetic(transient: str, t_end: float = 60.0, seed: int = 0):
    """A modal amplitude: exponential growth at SIGMA from 1e-3, a start-up transient,
    saturation at A = 1 (reached at t = 57.6), uneven time steps and 0.1 % noise."""
    rng = np.random.default_rng(seed)
    t = np.concatenate([[0.0], np.cumsum(rng.uniform(0.03, 0.15, 1200))])
    t = t[t <= t_end]
    growing = 1e-3 * np.exp(SIGMA * t)
    if transient == "rising":  # a sinusoid: a decaying part hides the mode at first
        linear = growing + 5e-3 * np.exp(-0.4 * t)
    else:  # "overshoot": non-modal growth, fast at first, then the mode
        linear = growing * (1 + 2.0 * (1 - np.exp(-1.5 * t)) * np.exp(-0.3 * t))
    amplitude = linear / np.sqrt(1 + (linear / 1.0) ** 2)
    return t, amplitude * (1 + 1e-3 * rng.standard_normal(t.size))


@pytest.mark.parametrize("transient, error", [("rising", 0.01), ("overshoot", 0.02)])
def test_fit_skips_the_transient_and_the_saturation(transient, error):
    t, amplitude = synthetic(transient)
    fit = fit_growth_rate(t, amplitude)
    # The window lies where transient and saturation change the local rate by less than
    # the 5 % tolerance, so an edge of it can bias the rate by a fraction of that:
    # measured -0.2 % (rising) and -1.1 % (the overshoot decays slowly, at 2.5 sigma).
    assert fit.rate == pytest.approx(SIGMA, rel=error), fit
    assert fit.reason == "" and fit.r_squared > 0.999
    # the transients have decayed to ~5 % of the rate by t = 10-14; saturation bends
    # the curve from t ~ 45 (A ~ 0.2)
    assert 5 < fit.t_start < 20 and 35 < fit.t_end < 52, fit
    assert fit.t_end - fit.t_start > 20


def test_run_ending_in_its_start_up_gives_nan_with_reason(tmp_path):
    # The old sweep example's member of issue 13: a sinusoid at Ri = 0.05, Re = 500 run
    # to t = 10, when its growth rate is still adjusting (it rises to 0.2, then falls to
    # 0.13). The old fit reported 0.037 over t = 0-1.39 (theory: 0.155); there is no
    # exponential phase in this record, so nan and the reason.
    settings = dict(nx=32, nz=32, Lx=14.0, perturbation="sinusoid", save_every=2.0)
    billow.run("shear_layer", Ri=0.05, Re=500, t_end=10.0, out=tmp_path / "r", **settings)
    with billow.open_run(tmp_path / "r", "diagnostics") as diagnostics:
        fit = fit_growth_rate(diagnostics.time.values, diagnostics.mode_amplitude.values)
    assert math.isnan(fit.rate)
    assert "no exponential phase" in fit.reason


@pytest.mark.parametrize(
    "amplitude, reason",
    [
        (lambda t: np.exp(-0.05 * t), "does not grow"),
        (lambda t: np.full_like(t, 0.01), "does not grow"),
        (lambda t: np.exp(-0.05 * t) * (1 + 0.3 * np.cos(t)), "does not grow"),
        (lambda t: 0.01 * np.exp(0.5 * np.sin(0.5 * t)), "no exponential phase"),
        (lambda t: np.zeros_like(t), "positive amplitudes"),
    ],
    ids=["decaying", "constant", "decaying-wave", "oscillating", "zero"],
)
def test_no_exponential_phase_gives_nan_with_a_reason(amplitude, reason):
    t = np.linspace(0, 40, 400)
    fit = fit_growth_rate(t, amplitude(t))
    assert math.isnan(fit.rate) and reason in fit.reason, fit


def stability_output(*settings: str) -> dict[str, float]:
    """`billow stability`'s table as numbers."""
    result = CliRunner().invoke(app, ["stability", *settings], terminal_width=200)
    assert result.exit_code == 0, result.stderr
    rows = {}
    for name in ("growth rate sigma_max", "recommended Lx"):
        line = next(line for line in result.stdout.splitlines() if name in line)
        rows[name] = float(re.search(r"[-+]?\d+\.\d+(?:e[-+]?\d+)?", line.split(name)[1])[0])
    return rows


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """The default shear_layer at Re = 500, Ri = 0.05, coarse and short: Lx is the most
    unstable wavelength and the eigenmode is seeded."""
    out = tmp_path_factory.mktemp("growth") / "run"
    billow.run("shear_layer", Re=500, Ri=0.05, nx=64, nz=64, t_end=25, save_every=5, out=out)
    return out


def test_real_short_run_grows_at_the_rate_billow_stability_prints(short_run):
    theory = stability_output("--set", "Re=500", "--set", "Ri=0.05")
    with billow.open_run(short_run, "diagnostics") as diagnostics:
        assert diagnostics.attrs["Lx"] == pytest.approx(theory["recommended Lx"], rel=1e-4)
        fit = fit_growth_rate(diagnostics.time.values, diagnostics.mode_amplitude.values)
    # 5 %: at 64^2 and Re = 500 the shear layer thickens by viscosity while it grows,
    # slowing the mode; measured -3.6 %, from t = 0 (the eigenmode needs no adjustment)
    assert fit.rate == pytest.approx(theory["growth rate sigma_max"], rel=0.05), fit
    assert fit.t_start < 1 and fit.r_squared > 0.999


def test_sweep_summary_reports_window_quality_and_theory(short_run):
    from billow.sweep import SUMMARY_COLUMNS, member_summary

    summary = member_summary(short_run)
    for column in ("growth_window_start", "growth_window_end", "growth_fit_r2"):
        assert column in SUMMARY_COLUMNS and np.isfinite(summary[column])
    with billow.open_run(short_run, "diagnostics") as diagnostics:
        theory = linear_theory_rate("shear_layer", dict(diagnostics.attrs))
    assert summary["linear_growth_rate"] == pytest.approx(theory)
    assert summary["growth_rate"] == pytest.approx(theory, rel=0.05)
    assert summary["growth_fit_note"] == ""


def test_sweep_example_member_grows_close_to_theory(tmp_path):
    # The README's sweep example, its member of the issue (Ri = 0.05, Re = 500), run
    # without Dask: 0.149 against 0.155 measured.
    from billow.sweep import load_spec, run_member

    spec = load_spec(REPO / "examples" / "sweep_small.toml")
    member = next(m for m in spec.members if m.values["Ri"] == 0.05 and m.values["Re"] == 500)
    summary = run_member(str(tmp_path / member.name), spec.case, member.params.model_dump())
    assert summary["status"] == "ok"
    assert summary["linear_growth_rate"] == pytest.approx(0.1551, abs=1e-3)
    assert summary["growth_rate"] == pytest.approx(summary["linear_growth_rate"], rel=0.05)
