"""Parameter sweeps: spec validation, a 4-member sweep on a 2-worker LocalCluster, its
summary, and resuming (nothing redone; interrupted members continued bit for bit)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tomli_w

pytest.importorskip("dask.distributed")

import billow  # noqa: E402
from billow.errors import BillowError, ConfigError  # noqa: E402
from billow.sweep import DONE, load_spec, parse_spec, run_sweep  # noqa: E402

SPEC = """
case = "shear_layer"
seeds = [0]

[parameters]
nx = 16
nz = 16
Lx = 14.0
perturbation = "sinusoid"
t_end = 4.0
save_every = 1.0
cfl = 1.3  # steps of about 1 on this coarse grid: checkpoints between them

[vary]
Ri = [0.05, 0.15]
Re = {start = 500, stop = 1000, num = 2}
"""
NAMES = {
    "Ri=0.05_Re=500_seed=0",
    "Ri=0.05_Re=1000_seed=0",
    "Ri=0.15_Re=500_seed=0",
    "Ri=0.15_Re=1000_seed=0",
}


def write_spec(path: Path, text: str = SPEC) -> Path:
    path.write_text(text)
    return path


def finished_lines(member: Path) -> int:
    return (member / "log.txt").read_text().count(" finished ")


def snapshot_of(out: Path) -> dict[str, tuple[float, int]]:
    """Per member: log.txt mtime and its number of "finished" lines."""
    return {
        m.name: ((m / "log.txt").stat().st_mtime_ns, finished_lines(m))
        for m in (out / "members").iterdir()
    }


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    calls = []
    out = run_sweep(
        load_spec(write_spec(root / "spec.toml")),
        root / "out",
        n_workers=2,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls[0] == (0, 4) and calls[-1] == (4, 4) and len(calls) == 5
    return out


def test_spec_members_names_and_ranges(tmp_path):
    spec = load_spec(write_spec(tmp_path / "spec.toml"))
    assert spec.varied == ["Ri", "Re", "seed"]
    assert spec.axes["Re"] == [500, 1000]  # integer range endpoints: integers
    assert {m.name for m in spec.members} == NAMES
    member = spec.members[0]
    assert member.params.nx == 16 and member.params.Lx == 14.0
    assert (member.params.Ri, member.params.Re, member.params.seed) == (0.05, 500, 0)
    floats = parse_spec(
        {
            "case": "shear_layer",
            "parameters": {"Lx": 14.0},
            "vary": {"Ri": {"start": 0, "stop": 0.2, "num": 3}},
        }
    )
    assert [m.name for m in floats.members] == ["Ri=0", "Ri=0.1", "Ri=0.2"]


@pytest.mark.parametrize(
    "change, match",
    [
        ({"Rii": [1, 2]}, r"member 'Rii=1': unknown parameter 'Rii'.*did you mean 'Ri'"),
        ({"Ri": []}, r"\[vary\] 'Ri' is an empty list"),
        ({"Ri": [0.1, -1.0]}, r"member 'Ri=-1'.*'Ri'"),
        ({"Ri": {"start": 0, "stop": 1}}, r"range needs exactly start, stop, num"),
        ({"Ri": {"start": 0, "stop": 1, "num": True}}, r"range needs numeric start, stop"),
        ({"nx": [16]}, r"'nx' is both fixed"),
    ],
)
def test_bad_spec_fails_before_anything_is_created(tmp_path, change, match):
    key, value = next(iter(change.items()))
    fixed = {"nx": 16, "Lx": 14.0}
    data = {"case": "shear_layer", "parameters": fixed, "vary": {key: value}}
    with pytest.raises(ConfigError, match=match) as error:
        parse_spec(data)
    assert "\n" not in str(error.value)
    bad = tmp_path / "bad.toml"
    bad.write_text(tomli_w.dumps(data))
    with pytest.raises(ConfigError, match=match):
        run_sweep(bad, tmp_path / "out", n_workers=2)
    assert not (tmp_path / "out").exists()


def test_sweep_runs_every_member_and_writes_the_summary(sweep):
    import xarray as xr

    members = sorted(p.name for p in (sweep / "members").iterdir())
    assert set(members) == NAMES
    for name in members:
        member = sweep / "members" / name
        assert (member / DONE).is_file() and finished_lines(member) == 1
        with billow.open_run(member, "diagnostics") as diagnostics:
            assert float(diagnostics.time[-1]) == pytest.approx(4.0)
    lines = (sweep / "sweep.csv").read_text().splitlines()
    assert lines[0].split(",")[:4] == ["member", "Ri", "Re", "seed"]
    assert len(lines) == 1 + 4
    with xr.open_dataset(sweep / "sweep.nc", engine="h5netcdf") as summary:
        assert summary.sizes["member"] == 4
        assert set(summary.member.values) == NAMES
        assert (summary.status.values == "ok").all()
        assert np.isfinite(summary.final_ke.values).all()
        assert np.isfinite(summary.final_dye_entropy.values).all()
        assert (summary.wall_time.values > 0).all()
        assert np.allclose(summary.final_time.values, 4.0)
    assert (sweep / "sweep.png").stat().st_size > 0
    assert (sweep / "sweep.toml").is_file()


def test_rerunning_a_finished_sweep_redoes_nothing(sweep):
    before = snapshot_of(sweep)
    calls = []
    spec = load_spec(write_spec(sweep.parent / "again.toml"))
    run_sweep(spec, sweep, progress=lambda *a: calls.append(a))
    assert calls == [(4, 4)]
    assert snapshot_of(sweep) == before


def test_a_different_spec_or_a_foreign_directory_is_refused(sweep, tmp_path):
    other = write_spec(tmp_path / "other.toml", SPEC.replace("t_end = 4.0", "t_end = 5.0"))
    with pytest.raises(ConfigError, match="holds a different sweep"):
        run_sweep(other, sweep)
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        run_sweep(other, tmp_path / "foreign")


def test_interrupted_members_are_continued_and_the_others_left_alone(sweep, tmp_path):
    out = shutil.copytree(sweep, tmp_path / "out")
    members = out / "members"
    continued, restarted, unmarked = (
        members / "Ri=0.05_Re=500_seed=0",  # killed between its last two checkpoints
        members / "Ri=0.15_Re=1000_seed=0",  # killed before its first checkpoint
        members / "Ri=0.05_Re=1000_seed=0",  # killed after its last checkpoint, before DONE
    )
    for member in (continued, restarted, unmarked):
        (member / DONE).unlink()
    sorted((continued / "checkpoints").glob("checkpoint_*.h5"))[-1].unlink()
    shutil.rmtree(restarted / "checkpoints")
    (restarted / "fields.nc").write_bytes(b"half a file")
    before = snapshot_of(out)
    run_sweep(load_spec(write_spec(tmp_path / "spec.toml")), out, n_workers=2)

    after = snapshot_of(out)
    untouched = NAMES - {continued.name, restarted.name, unmarked.name}
    for name in [*untouched, unmarked.name]:
        assert after[name] == before[name], name
    assert finished_lines(continued) == 2  # the first run and the restart
    assert "restart from t = 3" in (continued / "log.txt").read_text()
    assert finished_lines(restarted) == 1  # started afresh
    for member in (continued, restarted, unmarked):
        assert (member / DONE).is_file()
        for which in ("fields", "diagnostics"):
            with (
                billow.open_run(member, which) as now,
                billow.open_run(sweep / "members" / member.name, which) as original,
            ):
                assert np.array_equal(now.time.values, original.time.values)
                for name in original.data_vars:
                    assert np.array_equal(now[name].values, original[name].values), name
    assert (out / "sweep.csv").read_text().count("\n") == 5


def test_a_failing_member_is_reported_after_the_summary(tmp_path):
    spec = parse_spec(
        {
            "case": "shear_layer",
            "parameters": dict(nx=16, nz=16, Lx=14.0, perturbation="sinusoid", t_end=1.0),
            "vary": {"Ri": [0.1]},
        }
    )
    # a member directory that cannot be created: a file where the directory should be
    (tmp_path / "out" / "members").mkdir(parents=True)
    (tmp_path / "out" / "members" / "Ri=0.1").write_text("in the way")
    (tmp_path / "out" / "sweep.toml").write_text(tomli_w.dumps(spec.source))
    with pytest.raises(BillowError, match=r"1 of 1 sweep members failed \(first: Ri=0.1"):
        run_sweep(spec, tmp_path / "out", n_workers=1)
    assert "failed" in (tmp_path / "out" / "sweep.csv").read_text()
