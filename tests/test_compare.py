"""billow compare: the kh2d study's cross-run table, seeded rank tests and figures."""

from __future__ import annotations

import os

import numpy as np
import pytest
import xarray as xr
from test_cli import assert_cli_result_is_one_line_error, invoke

import billow
from billow.analysis import kh2d
from billow.analysis.compare import (
    QUARTILES,
    analysis_is_current,
    compare_runs,
    normalised_complexity,
    quartile_indices,
    study_metrics,
)
from billow.errors import BillowError

PNG_HEADER = b"\x89PNG\r\n\x1a\n"
TINY = dict(nx=32, nz=32, Lx=14.0, perturbation="sinusoid", t_end=6, save_every=1)


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    """Three tiny runs: two shear layers of different Ri and a double shear."""
    root = tmp_path_factory.mktemp("compare")
    billow.run("shear_layer", Ri=0.05, out=root / "weak", **TINY)
    billow.run("shear_layer", Ri=0.15, amplitude=0.05, out=root / "strong", **TINY)
    billow.run("double_shear", Lz=12.0, out=root / "jet", **TINY)
    return [root / "weak", root / "strong", root / "jet"]


@pytest.fixture(scope="module")
def comparison(run_dirs, tmp_path_factory):
    return compare_runs(run_dirs, out=tmp_path_factory.mktemp("out"), samples=2000, seed=3)


def test_compare_writes_valid_files(comparison):
    md, nc, csv, *figures = comparison.paths
    with xr.open_dataset(nc, engine="h5netcdf") as ds:
        assert list(ds["run"].values) == ["weak", "strong", "jet"]
        assert ds.sizes["quartile"] == 4 and ds.sizes["pair"] == 3
        assert list(ds["case"].values) == ["shear_layer", "shear_layer", "double_shear"]
        assert np.all(np.isfinite(ds["entropy_rho"].values))
        assert np.all((ds["kruskal_pvalue"] >= 0) & (ds["kruskal_pvalue"] <= 1))
        # Holm never lowers a p-value
        assert np.all(ds["mannwhitney_pvalue_holm"] >= ds["mannwhitney_pvalue"])
        assert float(ds["normalised_complexity"].max()) <= 1.0
    text = md.read_text()
    assert "| Shannon entropy H_ρ |" in text and "| weak | strong | jet |" in text
    assert "Kruskal–Wallis" in text and "weak vs strong" in text
    lines = csv.read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("run,case,run_dir")
    assert "entropy_rho_25pct" in lines[0]
    assert [p.name for p in figures] == ["compare_timeseries.png", "compare_bars.png"]
    for path in figures:
        assert path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG_HEADER


def test_statistics_are_reproducible_with_a_seed(run_dirs, comparison, tmp_path):
    again = compare_runs(run_dirs, out=tmp_path / "again", samples=2000, seed=3)
    other = compare_runs(run_dirs[:2], out=tmp_path / "other", samples=2000, seed=4)
    for name in ("kruskal_statistic", "mannwhitney_statistic", "mannwhitney_pvalue_holm"):
        np.testing.assert_array_equal(again.dataset[name].values, comparison.dataset[name].values)
    first = comparison.dataset["mannwhitney_statistic"].sel(pair="weak vs strong").values
    assert not np.array_equal(other.dataset["mannwhitney_statistic"].values[:, 0], first)


def test_current_analysis_is_reused_and_a_newer_run_reanalysed(run_dirs, comparison, tmp_path):
    analysis = run_dirs[0] / "analysis.nc"
    assert analysis_is_current(run_dirs[0])
    before = analysis.stat().st_mtime_ns
    compare_runs(run_dirs[:2], out=tmp_path / "reuse", samples=100)
    assert analysis.stat().st_mtime_ns == before
    later = before + 1  # the run's diagnostics newer than its analysis
    os.utime(run_dirs[0] / "diagnostics.nc", ns=(later, later))
    assert not analysis_is_current(run_dirs[0])
    compare_runs(run_dirs[:2], out=tmp_path / "redo", samples=100)
    assert analysis.stat().st_mtime_ns > before and analysis_is_current(run_dirs[0])


def test_study_metrics_take_quartile_snapshots():
    assert list(quartile_indices(100)) == [0, 25, 50, 75] and len(QUARTILES) == 4
    t = np.arange(8.0)
    entropy = np.arange(8.0) ** 2
    ones = np.ones(8)
    metrics = study_metrics(t, entropy, -entropy, ones, 3 * ones, 2 * ones)
    np.testing.assert_array_equal(metrics.entropy_rho, [0, 4, 16, 36])
    assert metrics.entropy_growth_rate_rho == pytest.approx(49 / 7)
    assert metrics.entropy_growth_rate_vorticity == pytest.approx(-49 / 7)
    assert metrics.mean_gamma == 2.0 and metrics.stages.overall == pytest.approx(2.0)
    halved = study_metrics(t, entropy, entropy, ones, ones, ones)
    np.testing.assert_allclose(normalised_complexity([metrics, halved]), [1.0, 0.5])
    with pytest.raises(BillowError, match="at least 4 snapshots"):
        study_metrics(t[:3], *([ones[:3]] * 5))


def test_density_samples_follow_the_report_mapping(comparison):
    # rho = 1 - b/9.81 with |b| <= Ri: the samples lie within the buoyancy range mapped
    rho = comparison.runs[0].scan.samples["rho"]
    assert rho.size == 2000
    assert np.all(np.abs(rho - kh2d.density_from_buoyancy(0.0)) < 0.06 / 9.81)


def test_cli_compare_end_to_end(run_dirs, tmp_path):
    out = tmp_path / "cli"
    result = invoke("compare", *run_dirs[:2], "--out", out, "--samples", "500")
    assert result.exit_code == 0, result.stderr
    assert (out / "compare.md").stat().st_size > 0 and (out / "compare.csv").is_file()
    with xr.open_dataset(out / "compare.nc", engine="h5netcdf") as ds:
        assert ds.attrs["samples"] == 500


@pytest.mark.parametrize(
    "which, keywords",
    [
        ("missing", ("does not exist",)),
        ("not_a_run", ("not a billow run directory",)),
        ("one", ("at least 2",)),
        ("twice", ("given twice",)),
    ],
)
def test_cli_compare_bad_input_is_one_line_error(which, keywords, run_dirs, tmp_path):
    (tmp_path / "empty").mkdir()
    arguments = {
        "missing": [run_dirs[0], tmp_path / "nope"],
        "not_a_run": [run_dirs[0], tmp_path / "empty"],
        "one": [run_dirs[0]],
        "twice": [run_dirs[0], run_dirs[0]],
    }[which]
    result = invoke("compare", *arguments, "--out", tmp_path / "out")
    assert_cli_result_is_one_line_error(result, *keywords)


def test_run_with_too_few_snapshots_is_named(run_dirs, tmp_path):
    short = tmp_path / "short"
    billow.run("shear_layer", **{**TINY, "t_end": 2}, out=short)
    with pytest.raises(BillowError, match="short: need at least 4 snapshots"):
        compare_runs([run_dirs[0], short], out=tmp_path / "out", samples=100)


@pytest.mark.parametrize("dyes", [(True, False), (False, False)])
def test_the_dye_panel_shows_the_runs_with_a_dye(dyes, monkeypatch, tmp_path):
    """A run without a dye (NaN dye entropy) draws no line in the dye panel, and a panel
    that no run has says so; every run keeps its colour in every panel."""
    from types import SimpleNamespace

    from billow.viz import compare_plots

    figures = []
    monkeypatch.setattr(compare_plots, "save_figure", lambda fig, path: figures.append(fig))
    t = np.linspace(0.0, 5.0, 6)
    runs = []
    for number, dye in enumerate(dyes):
        series = {name: ("time", t + number) for name in compare_plots.SERIES}
        if not dye:
            series["dye_entropy"] = ("time", np.full(t.size, np.nan))
        runs.append(SimpleNamespace(label=f"run{number}", analysis=xr.Dataset(series, {"time": t})))
    compare_plots.plot_compare_timeseries(runs, tmp_path / "figure.png")
    panels = dict(zip(compare_plots.SERIES, figures[0].axes, strict=True))
    for name, ax in panels.items():
        if name == "dye_entropy":
            assert [line.get_label() for line in ax.lines] == ["run0"] * dyes[0]
            said = [text.get_text() for text in ax.texts]
            assert said == ([] if any(dyes) else ["no run has a dye"])
        else:
            assert [line.get_color() for line in ax.lines] == ["C0", "C1"]
    compare_plots.pyplot().close(figures[0])
