"""billow analyze: analysis.nc, summary.md and figures from a run directory."""

import math

import numpy as np
import pytest
import xarray as xr

import billow
from billow.analysis import energetics
from billow.analysis.report import (
    VARIABLES,
    analyze_run,
    background_n2,
    buoyancy_source,
    cumulative_mixing_efficiency,
)
from billow.errors import BillowError
from billow.runner import output_attributes
from billow.sweep import member_summary

PNG_HEADER = b"\x89PNG\r\n\x1a\n"
FIGURES = ("snapshots.png", "energetics.png", "richardson.png", "growth_fit.png")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("analyze") / "run"
    billow.run(
        "shear_layer",
        nx=64,
        nz=32,
        Lx=14.0,
        perturbation="sinusoid",
        t_end=20,
        save_every=2,
        out=out,
    )  # Ri = 0.1 by default: the billow grows and starts overturning by t = 20
    return out


@pytest.fixture(scope="module")
def result(run_dir):
    return analyze_run(run_dir)


def test_sweep_summary_and_analysis_share_one_mixing_efficiency(result, run_dir):
    # the sweep's summary calls the analysis' function: the same number, not a re-derivation
    efficiency = cumulative_mixing_efficiency(run_dir)
    assert 0 < efficiency < 1
    assert efficiency == result.scalars["cumulative_mixing_efficiency"]
    assert member_summary(run_dir)["cumulative_mixing_efficiency"] == efficiency


def test_analysis_nc_has_every_variable_with_units(result, run_dir):
    assert result.analysis_path == run_dir / "analysis.nc"
    with xr.open_dataset(run_dir / "analysis.nc", engine="h5netcdf") as ds:
        for name in VARIABLES:
            assert name in ds, name
            assert ds[name].attrs["units"] == "1"
            assert ds[name].attrs["long_name"]
        assert ds.sizes["time"] == 11
        assert ds["u_mean"].dims == ("time", "z")
        assert 0 < ds.attrs["cumulative_mixing_efficiency"] < 1
        assert np.isfinite(ds.attrs["growth_rate"])
        assert ds.attrs["case"] == "shear_layer"
    assert not list(run_dir.glob(".analysis.nc*"))  # no temporary left behind


def test_summary_mentions_key_numbers(result):
    text = result.summary_path.read_text()
    assert "cumulative mixing efficiency" in text
    assert "growth rate" in text and "shear_layer" in text


def test_figures_are_pngs(result, run_dir):
    for name in FIGURES:
        path = run_dir / "figures" / name
        assert path.read_bytes()[:8] == PNG_HEADER, name
    assert sorted(p.name for p in result.figures) == sorted(FIGURES)


def test_initial_state_has_no_available_potential_energy(result):
    ds = result.dataset
    assert abs(float(ds["ape"][0])) <= 1e-12 * abs(float(ds["pe"][0])) + 1e-12
    assert float(ds["ape"].max()) > 1e-3  # the billow overturns later
    assert np.all(ds["ape"].values >= -1e-12)


def test_series_agree_with_diagnostics(result, run_dir):
    ds = result.dataset
    series = {}  # name: (times, values); pe every step, dye_entropy every N steps
    for which, name in (("diagnostics", "pe"), ("tracer_diagnostics", "dye_entropy")):
        with billow.open_run(run_dir, which) as diag:
            series[name] = (diag["time"].values, diag[name].values)
    times = ds["time"].values
    for name, (steps, values) in series.items():
        shared = np.isin(times, steps)  # t = 0 and t_end; other snapshots lie inside steps
        assert shared[0] and shared[-1]
        # where the times are shared: the same numbers; elsewhere within the error of
        # interpolating the series linearly, max|f''| dt^2 / 8
        np.testing.assert_allclose(
            ds[name].values[shared], values[np.isin(steps, times)], rtol=1e-10
        )
        curvature = np.abs(np.diff(values, 2) / np.diff(steps)[1:] ** 2).max()
        bound = curvature * np.diff(steps).max() ** 2 / 8
        between = np.interp(times, steps, values)
        assert np.all(np.abs(ds[name].values - between) <= bound + 1e-12), name
    # tanh shear layer: vorticity thickness 2 (a little over on the coarse grid)
    assert 1.9 < float(ds["vorticity_thickness"][0]) < 2.4


def test_growth_rate_positive_within_run(result):
    s = result.scalars
    assert 0.02 < s["growth_rate"] < 0.3
    assert 0 <= s["growth_window_start"] < s["growth_window_end"] <= 20


def test_out_directory(run_dir, tmp_path):
    out = tmp_path / "elsewhere"
    result = analyze_run(run_dir, out=out)
    assert (out / "analysis.nc").is_file() and (out / "summary.md").stat().st_size > 0
    assert all((out / "figures" / name).is_file() for name in FIGURES)
    assert result.analysis_path == out / "analysis.nc"


def test_missing_run_directory(tmp_path):
    with pytest.raises(BillowError, match="does not exist"):
        analyze_run(tmp_path / "nope")


def test_missing_fields_file(tmp_path):
    with pytest.raises(BillowError, match="fields.nc"):
        analyze_run(tmp_path)


def test_mixing_efficiency_on_synthetic_series():
    t = np.linspace(0.0, 10.0, 41)
    epsilon = np.full_like(t, 0.3)
    bpe = 0.1 * t  # M = 0.1 with phi_i = 0: eta = 0.1 / 0.4
    mixing = energetics.mixing_from_series(t, bpe, epsilon, 0.0)
    np.testing.assert_allclose(mixing.efficiency, 0.25)
    assert mixing.cumulative_efficiency == pytest.approx(0.25)


@pytest.mark.parametrize(
    "case, values, n2, source",
    [
        ("shear_layer", {}, 0.0, None),
        ("shear_layer", {"hold_base": True}, 0.0, "hold_base"),
        ("rotating", {}, 0.0, "thermal-wind"),
        ("rotating", {"Ro": math.inf}, 0.0, None),  # no rotation: b is conserved
        ("kolmogorov", {"N2": 0.5}, 0.5, None),
        # periodic double shear: b excludes the mean gradient of the two tanh steps
        ("double_shear", {"bc_z": "periodic", "Ri": 0.2, "separation": 6.0, "Lz": 20.0},
         0.2 * (np.tanh(13.0) + np.tanh(7.0) - np.tanh(-7.0) - np.tanh(-13.0)) / 20.0, None),
    ],
)  # fmt: skip
def test_output_attributes_carry_what_the_model_knows(case, values, n2, source):
    """Analysis reads the background N0^2 and any buoyancy source from the attributes the
    model wrote, instead of re-deriving them from case names."""
    spec = billow.get_case(case)
    params = spec.make_params(nx=16, nz=16, Lx=14.0, **values)
    attrs = output_attributes(case, params, spec.build(params))
    assert background_n2(attrs)[0] == pytest.approx(n2, rel=1e-12, abs=1e-15)
    if source is None:
        assert buoyancy_source(attrs) is None
    else:
        assert source in buoyancy_source(attrs)


@pytest.mark.slow
def test_cumulative_mixing_efficiency_is_grid_converged(tmp_path):
    """Default shear_layer: Re = 1000, Ri = 0.1, Pr = 1, one fastest-growing wavelength,
    t_end = 80. Measured E_c = 0.640 (64^2), 0.600 (128^2), 0.597 (256^2): the BPE growth
    is resolved molecular mixing (at 256^2 it matches kappa int (dz*/db)|grad b|^2 dV within
    1 % while the billow mixes). It is well above the ~0.2 of 3-D turbulent mixing because a
    2-D billow never breaks down: epsilon stays near the laminar decay of the shear while the
    overturned core is mixed."""
    efficiency = {}
    for n in (64, 128):
        billow.run("shear_layer", nx=n, nz=n, out=tmp_path / f"n{n}")
        efficiency[n] = analyze_run(tmp_path / f"n{n}").scalars["cumulative_mixing_efficiency"]
    assert all(0 < value < 1 for value in efficiency.values()), efficiency
    # 6.6 % apart measured; 10 % allowed
    assert abs(efficiency[64] - efficiency[128]) <= 0.1 * efficiency[128], efficiency


@pytest.mark.parametrize(
    "case, settings, source",
    [
        ("rotating", {"Ro": 5.0}, "thermal-wind"),
        ("shear_layer", {"hold_base": True}, "hold_base"),
    ],
)
def test_no_mixing_efficiency_when_buoyancy_has_a_source(case, settings, source, tmp_path):
    # a buoyancy source changes BPE reversibly: dBPE/dt - Phi_i is then not mixing
    # (it made E_c negative in the kh2d study's rotating run before it was excluded)
    billow.run(case, nx=32, nz=32, Lx=14.0, t_end=4, save_every=1, out=tmp_path, **settings)
    result = analyze_run(tmp_path)
    assert np.isnan(result.scalars["cumulative_mixing_efficiency"])
    assert np.all(np.isnan(result.dataset["mixing_rate"].values))
    assert any(source in note for note in result.notes)


def test_a_run_without_its_dye_is_analysed_without_it(tmp_path):
    billow.run("shear_layer", nx=32, nz=16, Lx=14.0, t_end=2, save_every=1, dye=False, out=tmp_path)
    result = analyze_run(tmp_path)
    assert np.all(np.isnan(result.dataset["dye_entropy"].values))
    assert 0 < result.scalars["cumulative_mixing_efficiency"] < 1  # from b, not the dye
    assert "no dye in this run (`dye = false`" in result.summary_path.read_text()
