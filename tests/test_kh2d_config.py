"""billow run --from-kh2d: kh2d-solver configurations mapped onto billow cases."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
from test_cli import assert_cli_result_is_one_line_error, invoke

import billow
from billow.cases import get_case
from billow.compat.kh2d import KEYS, load_kh2d, map_kh2d, parse_kh2d
from billow.errors import ConfigError

CONFIGS = Path(__file__).parents[1] / "examples" / "kh2d_configs"

# file: (case, Re, Ri, Lx, Lz, nx, nz, t_end). Re = U0 d reynolds with d = shear_thickness,
# U0 = 1; Ri = 9.81 richardson (rho_bot - rho_top) d / 2 / (U0 + rotation_rate d)^2; the
# double shear's step of 0.5 spread over d.
EXPECTED = {
    "basic_shear.txt": ("shear_layer", 50.0, 0.0122625, 40.0, 20.0, 256, 128, 200.0),
    "double_shear.txt": ("double_shear", 80.0, 0.00981, 50.0, 25.0, 256, 128, 375.0),
    "rotating.txt": ("rotating", 75.0, 2.943 * 0.3 / 0.1 / 20.5**2, 40.0, 20.0, 256, 128, 400.0),
    "forced.txt": ("forced", 250.0, 0.00367875, 40.0, 20.0, 384, 192, 600.0),
}
# the realised centre Ri of kh2d_study_values.md, given to 2 significant figures
PUBLISHED_RI = {"basic_shear.txt": 0.012, "rotating.txt": 0.021, "forced.txt": 0.0037}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_configs_map_to_expected_parameters(name):
    mapping = load_kh2d(CONFIGS / name)
    case, Re, Ri, Lx, Lz, nx, nz, t_end = EXPECTED[name]
    p = mapping.params
    assert mapping.case == case
    assert p["Re"] == pytest.approx(Re) and p["Ri"] == pytest.approx(Ri, rel=1e-12)
    assert (p["Lx"], p["Lz"], p["nx"], p["nz"]) == pytest.approx((Lx, Lz, nx, nz))
    assert p["t_end"] == pytest.approx(t_end) and p["bc_z"] == "no-slip" and p["Pr"] == 1.0
    if name in PUBLISHED_RI:
        assert float(f"{p['Ri']:.2g}") == PUBLISHED_RI[name]
    params = get_case(case).make_params(**p)  # billow accepts every mapped parameter
    # n snapshots over [0, t_final] as kh2d: t_end is the last of them
    n_snapshots = parse_kh2d((CONFIGS / name).read_text())["n_snapshots"]
    assert params.save_every * (n_snapshots - 1) == pytest.approx(t_end)


def test_case_specific_keys():
    double = load_kh2d(CONFIGS / "double_shear.txt").params
    rotating = load_kh2d(CONFIGS / "rotating.txt").params
    forced = load_kh2d(CONFIGS / "forced.txt").params
    assert double["separation"] == pytest.approx(7.5)  # 0.3 / 0.04
    assert rotating["Ro"] == pytest.approx(20.0)  # U0 / (2 Omega d) = 1 / (2 * 0.5 * 0.05)
    # kick modes 2 pi (kx/lx, kz/lz) d for kx, kz = 1..5
    k11 = 2 * np.pi * 0.05 * np.hypot(1 / 2.0, 1 / 1.0)
    assert forced["forcing_k_min"] == pytest.approx(k11)
    assert forced["forcing_k_max"] == pytest.approx(5 * k11)
    modes = np.arange(1, 6)
    energy = 0.1**2 / 4 * np.sum(1.0 / (modes[:, None] ** 2 + modes[None, :] ** 2))
    assert forced["forcing_rate"] * forced["t_end"] == pytest.approx(energy)


def test_every_key_of_the_file_is_in_the_table():
    for name in EXPECTED:
        mapping = load_kh2d(CONFIGS / name)
        keys = parse_kh2d((CONFIGS / name).read_text())
        listed = {part.strip() for row in mapping.rows for part in row.key.split(",")}
        assert set(keys) <= listed, name
        ignored = {row.key for row in mapping.rows if row.billow == "ignored"}
        assert {"scenario_name", "fps", "dpi", "save_netcdf", "save_animation"} <= ignored


def test_units_map_billow_buoyancy_back_to_kh2d_density():
    units = load_kh2d(CONFIGS / "basic_shear.txt").units
    Ri = 0.0122625  # b = Ri tanh z: -Ri below, +Ri above
    assert units.density(np.array([-Ri, Ri])) == pytest.approx([1.2, 1.0])
    assert units.time(200.0) == pytest.approx(10.0)
    assert units.vorticity(1.0) == pytest.approx(-20.0)  # U0/d, opposite sign convention


def test_defaults_apply_to_missing_keys():
    mapping = map_kh2d(parse_kh2d("initial_condition = shear_layer\nrho_bot = 1.2\n"))
    assert mapping.params["Re"] == pytest.approx(KEYS["reynolds"][1] * 0.05)
    assert any("(default)" in row.value for row in mapping.rows)


@pytest.mark.parametrize(
    "text, keywords",
    [
        ("nx = 256\ncolour = red\n", ("line 2", "unknown kh2d-solver key 'colour'")),
        ("nx = 256\nreynolds\n", ("line 2", "cannot parse 'reynolds'")),
        ("nx = many\n", ("line 1", "nx = 'many' is not an integer")),
        ("reynolds = fast\n", ("not a number",)),
        ("save_netcdf = yes\n", ("true or false",)),
        ("nx = 64\nnx = 128\n", ("given twice",)),
        ("reynold = 1000\n", ("did you mean 'reynolds'",)),
        ("initial_condition = vortex\n", ("initial_condition = 'vortex'",)),
        ("rho_top = 1.5\nrho_bot = 1.0\n", ("statically unstable",)),
        ("n_snapshots = 1\n", ("n_snapshots",)),
        ("shear_thickness = 0\n", ("shear_thickness must be positive",)),
    ],
)
def test_bad_kh2d_file_is_one_line_error_and_runs_nothing(text, keywords, tmp_path):
    config = tmp_path / "bad.txt"
    config.write_text(text)
    result = invoke("run", "--from-kh2d", config, "--out", tmp_path / "run", "--quiet")
    assert_cli_result_is_one_line_error(result, *keywords)
    assert not (tmp_path / "run").exists()


def test_missing_kh2d_file_and_conflicting_options(tmp_path):
    result = invoke("run", "--from-kh2d", tmp_path / "nope.txt")
    assert_cli_result_is_one_line_error(result, "does not exist")
    basic = CONFIGS / "basic_shear.txt"
    result = invoke("run", "--from-kh2d", basic, "--config", basic)
    assert_cli_result_is_one_line_error(result, "either --config or --from-kh2d")
    result = invoke("run", "double_shear", "--from-kh2d", basic)
    assert_cli_result_is_one_line_error(result, "differs", "shear_layer")


def test_parse_errors_name_the_file():
    with pytest.raises(ConfigError, match="my.txt, line 1"):
        parse_kh2d("nonsense\n", "my.txt")


def test_run_from_kh2d_prints_the_mapping_and_runs(tmp_path):
    out = tmp_path / "basic"
    result = invoke(
        "run",
        "--from-kh2d",
        CONFIGS / "basic_shear.txt",
        *("--set", "nx=32", "--set", "nz=16", "--set", "t_end=1"),
        *("--out", out, "--quiet"),
    )
    assert result.exit_code == 0, result.stderr
    for text in ("Ri = 0.01226", "Re = 50", "bc_z = no-slip", "ignored"):
        assert text in result.stdout, text
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["case"] == "shear_layer" and config["Re"] == 50.0 and config["Lx"] == 40.0
    assert config["nx"] == 32 and config["perturbation"] == "noise" and config["dye"] is False
    assert "dye = false" in result.stdout
    with billow.open_run(out) as fields:  # kh2d's fields (u, w, rho and the vorticity)
        assert sorted(fields.data_vars) == ["b", "u", "vorticity", "w"]
    assert not (out / "tracer_diagnostics.nc").exists()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_kh2d_run_adds_billows_dye_on_request(name):
    mapping = load_kh2d(CONFIGS / name)
    small = dict(nx=32, nz=16, t_end=1.0)
    case = get_case(mapping.case)
    without = case.build(case.make_params(**{**mapping.params, **small}))
    with_dye = case.build(case.make_params(**{**mapping.params, **small, "dye": True}))
    assert "c" not in without.state and without.tracer_names == ()
    assert with_dye.tracer_names == ("c",)
    for field in without.state:  # the dye changes nothing else
        assert np.array_equal(without.state[field], with_dye.state[field]), field
