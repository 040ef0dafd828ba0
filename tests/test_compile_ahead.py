"""The helper process that shares a run's first compilation (billow._compile_ahead)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from numba.core import event

from billow import _compile_ahead
from billow.cases import get_case

PARAMS = dict(nx=32, nz=16, Lx=14.0, perturbation="sinusoid", t_end=1.0)
# what a run compiles first itself (the projection, the ghost cells, the controller's pass
# and the diagnostics), and what the helper compiles for it from the other end
LEFT_TO_THE_RUN = (
    "_fill_ghosts",
    "divergence",
    "solve_tridiagonal_columns",
    "subtract_gradient",
    "largest_magnitudes_and_rate",
    "state_statistics",
)
COMPILED_AHEAD = (
    "advection_diffusion",
    "rk_stage_update",
    "velocity_and_vorticity_at_centres",
    "interpolate_in_step",
)


def request(case: str) -> str:
    params = get_case(case).make_params(**PARAMS)
    return json.dumps({"case": case, "params": params.model_dump(mode="json")})


def test_the_helper_compiles_what_a_run_calls_last(tmp_path):
    cache = tmp_path / "numba-cache"
    helper = subprocess.run(
        [sys.executable, "-m", "billow._compile_ahead"],
        input=request("shear_layer"),
        env={**os.environ, "NUMBA_CACHE_DIR": str(cache), "NUMBA_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert helper.returncode == 0, helper.stderr
    cached = {path.name.split(".")[1].split("-")[0] for path in cache.rglob("*.nbi")}
    assert set(COMPILED_AHEAD) <= cached
    assert not cached & set(LEFT_TO_THE_RUN)


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setenv("BILLOW_COMPILE_AHEAD", "1")
    monkeypatch.setattr(_compile_ahead, "usable_cores", lambda: 2)


def test_a_helper_starts_at_the_first_compilation_and_stops_with_the_block(two_cores):
    params = get_case("shear_layer").make_params(**PARAMS)
    with _compile_ahead.compiling_ahead("shear_layer", params) as helpers:
        assert helpers == []  # nothing compiled yet
        for _ in range(2):  # numba compiles a kernel, then another: one helper
            with event.trigger_event("numba:compile"):
                pass
        assert len(helpers) == 1
    assert helpers[0].returncode is not None  # stopped and reaped


def test_no_helper_when_turned_off_not_wanted_or_on_one_core(two_cores, monkeypatch):
    params = get_case("shear_layer").make_params(**PARAMS)
    for variable, cores, wanted in (("0", 2, True), ("1", 1, True), ("1", 2, False)):
        monkeypatch.setenv("BILLOW_COMPILE_AHEAD", variable)
        monkeypatch.setattr(_compile_ahead, "usable_cores", lambda cores=cores: cores)
        with _compile_ahead.compiling_ahead("shear_layer", params, wanted) as helpers:
            with event.trigger_event("numba:compile"):
                pass
        assert helpers == []  # a sweep's members (wanted False) start none either
