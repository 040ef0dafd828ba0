"""The disk cache of linear-theory modes (billow.linear.cache): bitwise what was computed,
keyed by the key and the source of the modules that compute it, and never in the way."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from billow.cases import common, get_case
from billow.linear import cache, stability
from billow.linear.cache import CACHE_VARIABLE, cache_directory, cached_mode

MODULES = ("billow.linear.stability",)


def small_mode() -> stability.Mode:
    """A real mode, cheap to solve (a viscous stratified tanh layer on 32 points)."""
    U, B = stability.tanh_profiles(Ri=0.1)
    return stability.most_unstable_mode(U, B, 0.44, Re=500.0, Lz=10.0, n=32)


def assert_same_mode(a: stability.Mode, b: stability.Mode) -> None:
    assert (a.k, a.sigma, a.converged, a.error_estimate) == (
        b.k,
        b.sigma,
        b.converged,
        b.error_estimate,
    )
    assert type(a.k) is type(b.k) is float and type(a.sigma) is type(b.sigma) is complex
    for name in ("z", "u", "w", "b"):
        assert getattr(a, name).dtype == getattr(b, name).dtype
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


class Counting:
    """compute() for cached_mode, counting its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self) -> stability.Mode:
        self.calls += 1
        return small_mode()


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    return tmp_path / "cache" / cache.SUBDIRECTORY


def test_a_cached_mode_is_the_computed_one_to_the_bit(cache_dir):
    compute = Counting()
    computed = cached_mode("key", MODULES, compute)
    assert compute.calls == 1 and len(list(cache_dir.glob("*.npz"))) == 1

    def must_not_run():
        raise AssertionError("the mode was solved again, not loaded")

    assert_same_mode(cached_mode("key", MODULES, must_not_run), computed)


def test_another_key_or_changed_source_is_another_entry(cache_dir, tmp_path, monkeypatch):
    compute = Counting()
    cached_mode("key", MODULES, compute)
    cached_mode("other key", MODULES, compute)
    assert compute.calls == 2
    # a module of the computation whose source changes (an edited case profile) is solved anew
    monkeypatch.syspath_prepend(str(tmp_path))
    source = tmp_path / "profiles_for_cache_test.py"
    source.write_text("SHIFT = 0.0\n")
    importlib.import_module(source.stem)
    modules = (*MODULES, source.stem)
    try:
        cached_mode("key", modules, compute)
        cached_mode("key", modules, compute)
        assert compute.calls == 3
        source.write_text("SHIFT = 0.5\n")
        cached_mode("key", modules, compute)
    finally:
        del sys.modules[source.stem]
    assert compute.calls == 4 and len(list(cache_dir.glob("*.npz"))) == 4


def test_a_damaged_entry_is_solved_again_and_replaced(cache_dir):
    compute = Counting()
    cached_mode("key", MODULES, compute)
    (entry,) = cache_dir.glob("*.npz")
    good = entry.read_bytes()
    for damaged in (good[: len(good) // 2], b"", b"not a zip file"):
        entry.write_bytes(damaged)
        assert_same_mode(cached_mode("key", MODULES, compute), small_mode())
        assert entry.read_bytes() == good
    assert compute.calls == 4


def test_an_entry_of_the_wrong_shape_is_not_used(cache_dir):
    compute = Counting()
    cached_mode("key", MODULES, compute)
    (entry,) = cache_dir.glob("*.npz")
    mode = small_mode()
    np.savez(entry, z=mode.z, u=mode.u[:-1], w=mode.w, b=mode.b, scalars=np.zeros(5))
    cached_mode("key", MODULES, compute)
    assert compute.calls == 2


def test_an_empty_variable_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_VARIABLE, "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_directory() is None
    compute = Counting()
    cached_mode("key", MODULES, compute)
    cached_mode("key", MODULES, compute)
    assert compute.calls == 2 and not any(tmp_path.iterdir())


def test_the_default_directory_follows_xdg_then_home(tmp_path, monkeypatch):
    monkeypatch.delenv(CACHE_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_directory() == tmp_path / "xdg" / "billow" / cache.SUBDIRECTORY
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_directory() == tmp_path / "home" / ".cache" / "billow" / cache.SUBDIRECTORY


def test_no_home_directory_turns_the_cache_off(monkeypatch):
    monkeypatch.delenv(CACHE_VARIABLE, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", no_home)
    assert cache_directory() is None


def test_a_cache_that_cannot_be_written_only_costs_the_solve(tmp_path, monkeypatch):
    blocker = tmp_path / "a file, not a directory"
    blocker.write_text("")
    monkeypatch.setenv(CACHE_VARIABLE, str(blocker))
    compute = Counting()
    assert_same_mode(cached_mode("key", MODULES, compute), small_mode())
    assert compute.calls == 1 and not list(tmp_path.glob("**/*.tmp"))


def test_the_shear_layers_default_lx_comes_from_the_cache(cache_dir, monkeypatch):
    case = get_case("shear_layer")
    settings = dict(Re=400.0, Ri=0.12)  # a parameter set no other test sizes
    monkeypatch.setattr(common, "_FASTEST_MODES", {})
    solved = case.make_params(**settings)
    assert len(list(cache_dir.glob("*.npz"))) == 1

    def must_not_run(*args, **kwargs):
        raise AssertionError("linear theory was solved again")

    monkeypatch.setattr(common, "_FASTEST_MODES", {})  # as in a new process
    monkeypatch.setattr(stability, "fastest_growing", must_not_run)
    assert case.make_params(**settings).Lx == solved.Lx


def test_an_eigenmode_seed_at_another_k_comes_from_the_cache(cache_dir, monkeypatch):
    case = get_case("shear_layer")
    settings = dict(nx=32, nz=32, Re=400.0, Ri=0.13, Lx=11.0)  # an explicit Lx: not k_max
    monkeypatch.setattr(common, "_FASTEST_MODES", {})
    solved = case.build(case.make_params(**settings))
    # the mode at k (Lx needs no k_max), and the seed: the mode interpolated onto the grid
    assert len(list(cache_dir.glob("*.npz"))) == 2

    def must_not_run(*args, **kwargs):
        raise AssertionError("solved or interpolated again")

    monkeypatch.setattr(common, "_FASTEST_MODES", {})  # as in a new process
    monkeypatch.setattr(stability, "most_unstable_mode", must_not_run)
    monkeypatch.setattr(common, "_interpolate", must_not_run)
    loaded = case.build(case.make_params(**settings))
    for name in ("u", "w", "b"):
        np.testing.assert_array_equal(loaded.state[name], solved.state[name])
    # another grid interpolates the cached mode again; another k solves anew
    monkeypatch.undo()
    monkeypatch.setenv(CACHE_VARIABLE, str(cache_dir.parent))
    monkeypatch.setattr(stability, "most_unstable_mode", must_not_run)
    case.build(case.make_params(**{**settings, "nz": 48}))
    assert len(list(cache_dir.glob("*.npz"))) == 3
    monkeypatch.undo()
    monkeypatch.setenv(CACHE_VARIABLE, str(cache_dir.parent))
    case.build(case.make_params(**{**settings, "Lx": 12.0}))
    assert len(list(cache_dir.glob("*.npz"))) == 5


def test_a_run_whose_linear_theory_is_cached_loads_no_solver_and_no_scipy_fft(tmp_path):
    # numba itself imports scipy.linalg (its BLAS check); the solver's scipy.interpolate and
    # scipy.optimize, and scipy.fft (pyFFTW's interfaces) stay out of a cached run
    code = (
        "import sys\n"
        "import billow\n"
        f"billow.run('shear_layer', nx=32, nz=32, t_end=0.2, out={str(tmp_path / 'run')!r},\n"
        "           overwrite=True)\n"
        "from billow.core.poisson import fft_library\n"
        "modules = ('billow.linear.stability', 'scipy.interpolate', 'scipy.optimize', "
        "'scipy.fft', 'scipy.fftpack')\n"
        "print(fft_library(), *[m for m in modules if m in sys.modules])"
    )
    environment = {**os.environ, CACHE_VARIABLE: str(tmp_path / "cache")}
    environment.pop("BILLOW_FFT", None)
    loaded = []
    for _ in range(2):  # the first run fills the cache
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=environment
        )
        assert result.returncode == 0, result.stderr
        loaded.append(result.stdout.split())
    first, cached = loaded
    assert "billow.linear.stability" in first and "scipy.interpolate" in first
    if cached[0] == "fftw":  # with scipy's transforms a run needs scipy.fft
        assert cached == ["fftw"]
    else:
        assert cached == ["scipy", "scipy.fft"]
