"""billow._process: the process-wide settings applied at import."""

from __future__ import annotations

import ctypes

import pytest

from billow import _process


class Mallopt:
    """Stands in for libc's mallopt: records its calls (and takes argtypes/restype)."""

    def __init__(self):
        self.calls: list[tuple[int, int]] = []

    def __call__(self, parameter: int, value: int) -> int:
        self.calls.append((parameter, value))
        return 1


@pytest.fixture
def mallopt(monkeypatch):
    function = Mallopt()
    libc = type("Libc", (), {"mallopt": function})()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: libc)
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GOMP_SPINCOUNT"):
        monkeypatch.delenv(name, raising=False)
    return function


def test_heap_keeps_freed_blocks_for_reuse(mallopt):
    _process.configure()
    assert mallopt.calls == [(-3, _process.MMAP_THRESHOLD), (-1, _process.TRIM_THRESHOLD)]


@pytest.mark.parametrize("variable", ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"])
def test_a_users_allocator_setting_is_left_alone(mallopt, monkeypatch, variable):
    monkeypatch.setenv(variable, "1000000")
    _process.configure()
    assert mallopt.calls == []


def test_openmp_spin_count_defaults_but_a_users_value_is_kept(mallopt, monkeypatch):
    _process.configure()
    assert _process.os.environ["GOMP_SPINCOUNT"] == "10000"
    monkeypatch.setenv("GOMP_SPINCOUNT", "5")
    _process.configure()
    assert _process.os.environ["GOMP_SPINCOUNT"] == "5"


def test_without_mallopt_nothing_fails(monkeypatch):
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)

    def no_libc(name):
        raise OSError("no C library here")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    _process.configure()  # returns quietly
