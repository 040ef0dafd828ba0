"""`billow dataset`: trajectories of a spec run on the sweep machinery, split by trajectory
into Well-layout files, stats.yaml equal to numpy's statistics of the training data, the
dataset card, resuming without recomputing, and the numpy reader (billow.ml.readers)."""

from __future__ import annotations

import re
import tomllib

import h5py
import numpy as np
import pytest
from test_cli import assert_cli_result_is_one_line_error, invoke
from well_schema import check_well_file, strings

pytest.importorskip("dask.distributed")

from billow.errors import ConfigError  # noqa: E402
from billow.ml.build import make_dataset  # noqa: E402
from billow.ml.readers import WellWindows  # noqa: E402
from billow.ml.spec import SPLITS, parse_dataset_spec  # noqa: E402

SPEC = """
name = "kh_tiny"
case = "shear_layer"
trajectories = 2

[parameters]
nx = 32
nz = 16
Lx = 14.0
perturbation = "sinusoid"
noise = 0.05
t_end = 3.0
save_every = 0.5

[vary]
Ri = [0.05, 0.15]

[output]
dt = 1.0
spin_up = 1.0

[split]
valid = 0.25
test = 0.25
seed = 3
"""
N_TRAJECTORIES = 4  # 2 Ri x 2 seeds
TIMES = [1.0, 2.0, 3.0]  # every dt = 1 from the spin-up on


def spec_of(text: str = SPEC):
    return parse_dataset_spec(tomllib.loads(text))


def member_logs(out) -> dict[str, tuple[int, int]]:
    """Per member: log.txt mtime and its number of "finished" lines (one per run)."""
    return {
        log.parent.name: (log.stat().st_mtime_ns, log.read_text().count(" finished "))
        for log in (out / "runs" / "members").glob("*/log.txt")
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("dataset") / "kh_tiny"
    calls = []
    make_dataset(spec_of(), out, n_workers=2, progress=lambda *a: calls.append(a))
    assert calls[0] == (0, N_TRAJECTORIES) and calls[-1] == (N_TRAJECTORIES, N_TRAJECTORIES)
    return out


def data_files(out, split: str) -> list:
    return sorted((out / "data" / split).glob("*.hdf5"))


def test_every_trajectory_is_in_exactly_one_split(dataset):
    spec = spec_of()
    expected = spec.splits()
    assert spec_of().splits() == expected  # the split is deterministic from its seed
    assert [len(expected[s]) for s in SPLITS] == [2, 1, 1]
    seen = {}
    for split in SPLITS:
        for path in data_files(dataset, split):
            summary = check_well_file(path, bc_z="free-slip")
            assert summary["sizes"] == {"time": len(TIMES), "x": 32, "z": 16}
            assert summary["fields"] == {0: ["buoyancy", "dye"], 1: ["velocity"], 2: []}
            with h5py.File(path) as f:
                assert f.attrs["dataset_name"] == "kh_tiny"
                assert np.array_equal(f["dimensions/time"][:], np.float32(TIMES))
                point = f"Ri={f.attrs['Ri']:g}"
                assert path.name == f"kh_tiny_{point}.hdf5"  # one file per parameter point
                for seed in f.attrs["seeds"]:
                    seen[f"{point}_seed={seed}"] = split
    assert {name: split for split in SPLITS for name in expected[split]} == seen


def test_data_are_the_runs_after_the_spin_up(dataset):
    import billow

    path = data_files(dataset, "train")[0]
    with h5py.File(path) as f:
        point = f"Ri={f.attrs['Ri']:g}"
        seed = int(f.attrs["seeds"][0])
        buoyancy = f["t0_fields/buoyancy"][0]
        velocity = f["t1_fields/velocity"][0]
    with billow.open_run(dataset / "runs" / "members" / f"{point}_seed={seed}") as run:
        at = run.sel(time=TIMES)
        assert np.array_equal(buoyancy, at["b"].values.transpose(0, 2, 1).astype(np.float32))
        assert np.array_equal(velocity[..., 1], at["w"].values.transpose(0, 2, 1).astype("f4"))


def test_seeds_give_different_trajectories(dataset):
    files = [p for split in SPLITS for p in data_files(dataset, split)]
    first = {}
    for path in files:
        with h5py.File(path) as f:
            for i, seed in enumerate(f.attrs["seeds"]):
                first[(float(f.attrs["Ri"]), int(seed))] = f["t0_fields/buoyancy"][i, -1]
    assert not np.array_equal(first[(0.05, 0)], first[(0.05, 1)])


def test_stats_yaml_matches_numpy_on_the_training_data(dataset):
    yaml = pytest.importorskip("yaml")
    stats = yaml.safe_load((dataset / "stats.yaml").read_text())
    assert set(stats) == {"mean", "std", "mean_delta", "std_delta", "rms", "rms_delta"}
    values, deltas = {}, {}
    for path in data_files(dataset, "train"):
        with h5py.File(path) as f:
            for group in ("t0_fields", "t1_fields"):
                for name in strings(f[group].attrs["field_names"]):
                    data = f[group][name][:].astype(np.float64)  # (trajectory, time, x, z[, 2])
                    values.setdefault(name, []).append(data.reshape(-1, *data.shape[4:]))
                    change = np.diff(data, axis=1)
                    deltas.setdefault(name, []).append(change.reshape(-1, *data.shape[4:]))
    assert set(stats["mean"]) == {"buoyancy", "dye", "velocity"}
    for suffix, arrays in (("", values), ("_delta", deltas)):
        for name, parts in arrays.items():
            data = np.concatenate(parts)
            expected = {
                "mean": data.mean(axis=0),
                "std": data.std(axis=0),
                "rms": np.sqrt((data**2).mean(axis=0)),
            }
            for key, value in expected.items():
                stored = np.asarray(stats[key + suffix][name], dtype=float)
                assert stored.shape == value.shape, (key, name)
                # one-pass merged moments against numpy's two-pass ones: round-off only
                scale = np.sqrt((data**2).mean(axis=0))
                np.testing.assert_allclose(stored, value, rtol=1e-9, atol=1e-12 * scale.max())


def test_dataset_card_describes_the_data_and_its_loading_code_runs(dataset):
    card = (dataset / "README.md").read_text()
    assert card.startswith("# kh_tiny")
    for text in ("∂b/∂t", "32 × 16", "`Ri` | 0.05, 0.15", "every Δt = 1 from t = 1 to 3"):
        assert text in card, text
    for name in ("buoyancy", "dye", "velocity"):
        assert f"`{name}`" in card
    for split, trajectories in zip(SPLITS, (2, 1, 1), strict=True):
        assert f"| {split} | {len(data_files(dataset, split))} | {trajectories} |" in card
    snippet = re.search(r"```python\n(from billow.datasets.*?)```", card, re.S).group(1)
    namespace: dict = {}
    exec(snippet, namespace)  # the card's own example loads this dataset
    x, y = namespace["x"], namespace["y"]
    assert x.shape == (2, 32, 16, 4) and y.shape == (1, 32, 16, 4)


def test_rerunning_recomputes_nothing(dataset):
    logs = member_logs(dataset)
    assert len(logs) == N_TRAJECTORIES and all(n == 1 for _, n in logs.values())
    files = {p: p.stat().st_mtime_ns for p in (dataset / "data").rglob("*.hdf5")}
    calls = []
    make_dataset(spec_of(), dataset, progress=lambda *a: calls.append(a))
    assert calls == [(N_TRAJECTORIES, N_TRAJECTORIES)]  # every member skipped
    assert member_logs(dataset) == logs
    assert {p: p.stat().st_mtime_ns for p in files} == files


def test_a_different_spec_is_refused(dataset):
    other = spec_of(SPEC.replace("seed = 3", "seed = 4"))
    with pytest.raises(ConfigError, match="holds a different dataset"):
        make_dataset(other, dataset)


def test_windows_of_the_numpy_reader(dataset):
    train = WellWindows(dataset / "data" / "train", n_steps_input=1, n_steps_output=2)
    assert train.channel_names == ["buoyancy", "dye", "velocity_x", "velocity_z"]
    assert len(train) == 2 * (len(TIMES) - 3 + 1)  # 2 trajectories, one window each
    x, y = train[1]
    assert x.shape == (1, 32, 16, 4) and y.shape == (2, 32, 16, 4) and x.dtype == np.float32
    path = data_files(dataset, "train")[-1]
    with h5py.File(path) as f:
        last = f.attrs["n_trajectories"] - 1
        assert np.array_equal(x[0, ..., 0], f["t0_fields/buoyancy"][last, 0])
        assert np.array_equal(y[..., 2:], f["t1_fields/velocity"][last, 1:3])
    only = WellWindows(dataset / "data" / "train", fields=["velocity"])
    assert only.channel_names == ["velocity_x", "velocity_z"] and len(only) == 2 * 2
    assert sum(1 for _ in only) == len(only)
    with pytest.raises(ConfigError, match="unknown field 'pressure'"):
        WellWindows(dataset / "data" / "train", fields=["pressure"])
    with pytest.raises(ConfigError, match="fewer than"):
        WellWindows(dataset / "data" / "train", n_steps_input=3, n_steps_output=1)


def test_well_dataset_loads_the_dataset(dataset):
    the_well = pytest.importorskip("the_well.data")
    train = the_well.WellDataset(
        path=str(dataset),
        well_split_name="train",
        n_steps_input=2,
        n_steps_output=1,
        use_normalization=True,
        normalization_type=the_well.normalization.ZScoreNormalization,
    )
    assert len(train) == 2
    assert tuple(train[0]["input_fields"].shape) == (2, 32, 16, 4)


@pytest.mark.parametrize(
    "change, match",
    [
        (("dt = 1.0", "dt = 0.75"), r"0.75 is not a whole multiple.*save_every = 0.5"),
        (("spin_up = 1.0", "spin_up = 2.5"), r"fewer than 2 snapshots every 1"),
        (("noise = 0.05", "noise = 0.0"), r"seeds only change.*noise > 0"),
        (("test = 0.25", "test = 0.75"), r"add up to < 1"),
        (("test = 0.25", "test = 0.7"), r"leaves no trajectory for training"),
        (("seed = 3", "seed = 3\nvalid_fraction = 1"), r"unknown key 'valid_fraction'"),
        (("spin_up = 1.0", 'fields = ["b", "rho"]'), r"unknown field 'rho'"),
        (("spin_up = 1.0", 'fields = ["u", "b"]'), r"select both u and w"),
        (("trajectories = 2", "trajectories = 2\nseeds = [1]"), r"'trajectories' or 'seeds'"),
        (("nx = 32", "nx = 31"), r"nx = 31"),
        (("spin_up = 1.0", "spin_up = true"), r"\[output\] spin_up must be a finite number"),
        (("seed = 3", "seed = 1.5"), r"\[split\] seed must be an integer >= 0"),
        (("trajectories = 2", "trajectories = 2\nsweep = 1"), r"unknown parameter 'sweep'"),
    ],
)
def test_bad_spec_fails_before_anything_runs(tmp_path, change, match):
    text = SPEC.replace(*change)
    with pytest.raises(ConfigError, match=match) as error:
        spec_of(text)
    assert "\n" not in str(error.value)
    (tmp_path / "spec.toml").write_text(text)
    result = invoke("dataset", tmp_path / "spec.toml", "--out", tmp_path / "out")
    assert_cli_result_is_one_line_error(result)
    assert not (tmp_path / "out").exists()
