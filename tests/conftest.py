"""Small runs made once per test session and shared by the tests that only read them.

A test that writes into a run directory (analyze, movie, compare, restart) makes its own
run; the others ask for a shared one here. Every shared run is checked at the end of
the session: a test that changed a byte of one (or added or removed a file) fails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import billow
from billow.io.lock import LOCK_FILE
from billow.linear.cache import CACHE_VARIABLE

# shear_layer with walls in z, 32 x 16 cells, 5 snapshots (t = 0, 0.5, ..., 2)
WALLS = dict(nx=32, nz=16, Lx=14.0, perturbation="sinusoid", noise=0.05, t_end=2.0, save_every=0.5)
# kolmogorov, doubly periodic, 32 x 16 cells, 3 snapshots (t = 0, 0.25, 0.5)
PERIODIC = dict(nx=32, nz=16, t_end=0.5, save_every=0.25)


@pytest.fixture(scope="session", autouse=True)
def linear_theory_cache(tmp_path_factory) -> Iterator[None]:
    """The session's own linear-theory cache (billow.linear.cache), for its tests and the
    runs they start, so that the tests neither read nor write the user's."""
    environment = pytest.MonkeyPatch()
    environment.setenv(CACHE_VARIABLE, str(tmp_path_factory.mktemp("linear_theory_cache")))
    yield
    environment.undo()


def tree_digest(root: Path) -> dict[str, str | None]:
    """Every path under ``root`` with the SHA-256 of its bytes (None for directories; a
    lock file's content is its last holder's process id, so only its presence counts)."""
    return {
        str(path.relative_to(root)): (
            hashlib.sha256(path.read_bytes()).hexdigest()
            if path.is_file() and path.name != LOCK_FILE
            else None
        )
        for path in sorted(root.rglob("*"))
    }


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory) -> Iterator[Callable[..., Path]]:
    """``shared_run(case, **params)``: the directory of a run made once per session for
    these parameters; read it, never write into it."""
    runs: dict[str, Path] = {}
    digests: dict[Path, dict[str, str | None]] = {}

    def run(case: str, **params) -> Path:
        key = repr((case, sorted(params.items())))
        if key not in runs:
            out = tmp_path_factory.mktemp(f"shared_{case}") / "run"
            billow.run(case, out=out, **params)
            runs[key] = out
            digests[out] = tree_digest(out)
        return runs[key]

    yield run
    changed = [str(out) for out, digest in digests.items() if tree_digest(out) != digest]
    assert not changed, f"a test wrote into the shared run(s) {changed}; give it its own run"


@pytest.fixture(scope="session")
def walls_run(shared_run) -> Path:
    """:data:`WALLS`: a small shear layer between walls, shared (read only)."""
    return shared_run("shear_layer", **WALLS)


@pytest.fixture(scope="session")
def periodic_run(shared_run) -> Path:
    """:data:`PERIODIC`: a small doubly periodic kolmogorov run, shared (read only)."""
    return shared_run("kolmogorov", **PERIODIC)


@pytest.fixture(scope="session")
def other_walls_run(shared_run) -> Path:
    """:data:`WALLS` with another seed: a second run for commands that take two."""
    return shared_run("shear_layer", **WALLS, seed=1)


@pytest.fixture(scope="session", autouse=True)
def no_compile_ahead() -> Iterator[None]:
    """Runs started by the tests compile without a helper process (billow._compile_ahead):
    the test workers fill the cores already; tests/test_compile_ahead.py turns it on."""
    environment = pytest.MonkeyPatch()
    environment.setenv("BILLOW_COMPILE_AHEAD", "0")
    yield
    environment.undo()
