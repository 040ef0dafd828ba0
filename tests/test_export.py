"""`billow export`: a run as The Well's layout (schema, values) or PDEBench's, with
--dt-out subsampling and --fields; bad input gets one line and touches nothing."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from test_cli import assert_cli_result_is_one_line_error, invoke, snapshot_tree
from well_schema import check_well_file

import billow
from billow.ml import samples
from billow.ml.export import export_run


def run_fields(run_dir) -> dict[str, np.ndarray]:
    """Every field of the run as (time, z, x), and its coordinates."""
    with billow.open_run(run_dir) as fields:
        values = {name: fields[name].transpose("time", "z", "x").values for name in fields}
        values.update({name: fields[name].values for name in ("time", "x", "z")})
    return values


def as_stored(array: np.ndarray) -> np.ndarray:
    """A (time, z, x) run field as the exporters store it: float32, (time, x, z)."""
    return array.transpose(0, 2, 1).astype(np.float32)


def test_well_file_follows_the_schema(walls_run, tmp_path):
    path = export_run(walls_run, "well", tmp_path / "run.hdf5")
    summary = check_well_file(path, bc_z="free-slip")
    assert summary["n_trajectories"] == 1
    assert summary["sizes"] == {"time": 5, "x": 32, "z": 16}
    assert summary["fields"] == {0: ["buoyancy", "dye"], 1: ["velocity"], 2: []}
    with h5py.File(path) as f:
        assert f.attrs["dataset_name"] == "billow_shear_layer"
        assert {"Re", "Ri", "Pr"} <= set(f["scalars"])
        assert "nx" not in f["scalars"] and "seed" not in f["scalars"]  # run control
        assert list(f.attrs["seeds"]) == [0]


def test_periodic_z_is_a_periodic_boundary(periodic_run, tmp_path):
    path = export_run(periodic_run, "well", tmp_path / "kolmogorov.hdf5")
    assert check_well_file(path, bc_z="periodic")["sizes"]["time"] == 3


@pytest.mark.parametrize("dt_out, stride", [(None, 1), (1.0, 2)])
def test_well_values_are_the_run_fields_at_the_output_times(walls_run, tmp_path, dt_out, stride):
    path = export_run(walls_run, "well", tmp_path / "run.hdf5", dt_out=dt_out)
    run = run_fields(walls_run)
    with h5py.File(path) as f:
        times = f["dimensions/time"][:]
        assert np.array_equal(times, run["time"][::stride].astype(np.float32))
        assert np.array_equal(f["dimensions/x"][:], run["x"].astype(np.float32))
        assert np.array_equal(f["dimensions/z"][:], run["z"].astype(np.float32))
        # stored as float32: equal to the run's float64 values rounded once
        assert np.array_equal(f["t0_fields/buoyancy"][0], as_stored(run["b"][::stride]))
        assert np.array_equal(f["t0_fields/dye"][0], as_stored(run["c"][::stride]))
        velocity = f["t1_fields/velocity"][0]
        assert np.array_equal(velocity[..., 0], as_stored(run["u"][::stride]))
        assert np.array_equal(velocity[..., 1], as_stored(run["w"][::stride]))


def test_snapshots_are_read_in_blocks_of_bounded_size(walls_run, monkeypatch):
    monkeypatch.setattr(samples, "BLOCK_BYTES", 2 * 8 * 32 * 16 * 4)  # 2 snapshots of 4 fields
    run = samples.sample_run(walls_run)
    blocks = list(run.blocks())
    assert [start for start, _ in blocks] == [0, 2, 4]
    b = np.concatenate([block["b"] for _, block in blocks])
    assert np.array_equal(b, run_fields(walls_run)["b"])


def test_pdebench_values_names_and_config(walls_run, tmp_path):
    path = export_run(walls_run, "pdebench", tmp_path / "run.h5", dt_out=1.0)
    run = run_fields(walls_run)
    with h5py.File(path) as f:
        assert set(f) == {
            "Vx",
            "Vy",
            "density",
            "c",
            "x-coordinate",
            "y-coordinate",
            "t-coordinate",
        }
        assert np.array_equal(f["t-coordinate"][:], np.float32([0.0, 1.0, 2.0]))
        assert np.array_equal(f["x-coordinate"][:], run["x"].astype(np.float32))
        assert np.array_equal(f["y-coordinate"][:], run["z"].astype(np.float32))
        assert f["Vx"].shape == (1, 3, 32, 16) and f["Vx"].dtype == np.float32
        assert np.array_equal(f["Vx"][0], as_stored(run["u"][::2]))
        assert np.array_equal(f["Vy"][0], as_stored(run["w"][::2]))
        assert np.array_equal(f["density"][0], as_stored(-run["b"][::2]))
        assert np.array_equal(f["c"][0], as_stored(run["c"][::2]))
        assert f.attrs["config"] == (walls_run / "config.toml").read_text()
        assert f.attrs["Ri"] == 0.1 and f.attrs["case"] == "shear_layer"


def test_fields_select_what_is_written(walls_run, tmp_path):
    path = export_run(walls_run, "pdebench", tmp_path / "b.h5", fields=["b", "vorticity"])
    with h5py.File(path) as f:
        assert {"density", "vorticity"} <= set(f) and "Vx" not in f and "c" not in f
    path = export_run(walls_run, "well", tmp_path / "uw.hdf5", fields=["u", "w"])
    assert check_well_file(path, "free-slip")["fields"] == {0: [], 1: ["velocity"], 2: []}


def test_export_cli_writes_the_file(walls_run, tmp_path):
    out = tmp_path / "cli.hdf5"
    result = invoke("export", walls_run, "--format", "well", "--out", out, "--dt-out", "1")
    assert result.exit_code == 0, result.stderr
    assert check_well_file(out, "free-slip")["sizes"]["time"] == 3


def test_well_dataset_loads_an_exported_file(walls_run, tmp_path):
    the_well = pytest.importorskip("the_well.data")
    split = tmp_path / "data" / "train"
    split.mkdir(parents=True)
    export_run(walls_run, "well", split / "run.hdf5")
    dataset = the_well.WellDataset(
        path=str(tmp_path), well_split_name="train", n_steps_input=2, n_steps_output=1
    )
    assert len(dataset) == 5 - 3 + 1
    assert dataset.metadata.field_names[0] == ["buoyancy", "dye"]
    assert dataset.metadata.field_names[1] == ["velocity_x", "velocity_z"]
    sample = dataset[0]
    assert tuple(sample["input_fields"].shape) == (2, 32, 16, 4)
    assert tuple(sample["output_fields"].shape) == (1, 32, 16, 4)
    run = run_fields(walls_run)
    assert np.array_equal(sample["output_fields"][0, ..., 0].numpy(), as_stored(run["b"])[2])


@pytest.mark.parametrize(
    "arguments, keywords",
    [
        (["--format", "netcdf"], ["unknown format 'netcdf'"]),
        (["--format", "well", "--dt-out", "0.3"], ["0.3", "multiple", "save_every = 0.5"]),
        (["--format", "well", "--dt-out", "0"], ["interval must be > 0"]),
        (["--format", "pdebench", "--fields", "b,rho"], ["unknown field 'rho'"]),
        (["--format", "well", "--fields", "u,b"], ["select both u and w"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(walls_run, tmp_path, arguments, keywords):
    before = snapshot_tree(walls_run)
    out = tmp_path / "out.hdf5"
    result = invoke("export", walls_run, *arguments, "--out", out)
    assert_cli_result_is_one_line_error(result, *keywords)
    assert list(tmp_path.iterdir()) == []  # no output, no temporary file
    assert snapshot_tree(walls_run) == before


def test_missing_run_dir_and_existing_output_are_refused(walls_run, tmp_path):
    result = invoke("export", tmp_path / "nowhere", "--format", "well", "--out", tmp_path / "x.h5")
    assert_cli_result_is_one_line_error(result, "nowhere", "does not exist")
    existing = tmp_path / "mine.hdf5"
    existing.write_bytes(b"keep me")
    result = invoke("export", walls_run, "--format", "well", "--out", existing)
    assert_cli_result_is_one_line_error(result, "exists", "--overwrite")
    assert existing.read_bytes() == b"keep me"
    result = invoke("export", walls_run, "--format", "well", "--out", existing, "--overwrite")
    assert result.exit_code == 0, result.stderr
    assert check_well_file(existing, "free-slip")["n_trajectories"] == 1


def test_not_a_run_directory_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    result = invoke("export", tmp_path / "empty", "--format", "well", "--out", tmp_path / "x.h5")
    assert_cli_result_is_one_line_error(result, "not a billow run directory")
    shutil.rmtree(tmp_path / "empty")
