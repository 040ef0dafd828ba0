"""A disk cache of linear theory's results, so that a run does not solve again what an
earlier run on the machine solved.

A case's default Lx is a wavelength of the fastest-growing mode of linear theory, about a
second of eigenvalue solves at every start of a run (:func:`.stability.fastest_growing`),
and an eigenmode seed is that mode (or the one at the domain's k) interpolated onto the
grid. Each is kept in an ``.npz`` file named by the SHA-256 of everything that determines
it: the caller's key (the case, its parameters, the grid), the versions of billow, numpy
and scipy, and the source code of the modules that compute it (the linear solver, the
case's profiles), found without importing them: a run whose results are all cached loads
neither the solver nor scipy. What is loaded is bitwise what was computed.

The directory is ``$BILLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/billow``, else
``~/.cache/billow``; an empty ``BILLOW_CACHE_DIR`` turns the cache off. A file that cannot
be read (or does not hold what was asked for) or written is passed over: the result is
computed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import uuid
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np
import scipy

from .._version import __version__
from .modes import Mode

CACHE_VARIABLE = "BILLOW_CACHE_DIR"
SUBDIRECTORY = "linear-theory"
_COMPLEX_FIELDS = ("u", "w", "b")
_MODE_NAMES = ("z", *_COMPLEX_FIELDS, "scalars")

logger = logging.getLogger(__name__)
T = TypeVar("T")


def cache_directory() -> Path | None:
    """Where cached modes live, or None if the cache is off (``BILLOW_CACHE_DIR=""``, or
    no home directory to put it in)."""
    chosen = os.environ.get(CACHE_VARIABLE)
    try:
        if chosen is not None:
            return Path(chosen).expanduser() / SUBDIRECTORY if chosen else None
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    except RuntimeError:  # "~" cannot be resolved
        return None
    return Path(base) / "billow" / SUBDIRECTORY


def cached_mode(key: str, modules: Iterable[str], compute: Callable[[], Mode]) -> Mode:
    """The mode ``compute()`` gives, from the cache if an earlier call with the same ``key``
    and the same source of ``modules`` (module names) stored it; else computed and stored."""
    return _cached(key, modules, _MODE_NAMES, _mode, compute, _mode_arrays)


def cached_arrays(
    key: str,
    modules: Iterable[str],
    expected: Mapping[str, tuple[tuple[int, ...], type]],
    compute: Callable[[], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """The arrays ``compute()`` gives, named, shaped and typed as ``expected`` ({name:
    (shape, dtype)}), from the cache as :func:`cached_mode` finds a mode; else computed
    and stored."""

    def as_expected(arrays: dict[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
        if arrays is None or any(
            arrays[name].shape != shape or arrays[name].dtype != dtype
            for name, (shape, dtype) in expected.items()
        ):
            return None
        return arrays

    return _cached(key, modules, tuple(expected), as_expected, compute, lambda arrays: arrays)


def _cached(
    key: str,
    modules: Iterable[str],
    names: tuple[str, ...],
    decode: Callable[[dict[str, np.ndarray] | None], T | None],
    compute: Callable[[], T],
    encode: Callable[[T], dict[str, np.ndarray]],
) -> T:
    """``decode`` of the arrays ``names`` stored under ``key`` and ``modules``, unless
    it gives None (no entry, or not a valid one): then ``compute()``, stored as ``encode``
    gives it."""
    path = _path(key, modules)
    result = decode(_load(path, names)) if path is not None else None
    if result is None:
        result = compute()
        if path is not None:
            _store(path, encode(result))
    return result


def _path(key: str, modules: Iterable[str]) -> Path | None:
    directory = cache_directory()
    if directory is None:
        return None
    digest = hashlib.sha256()
    for part in (key, __version__, np.__version__, scipy.__version__):
        digest.update(part.encode() + b"\0")
    for name in sorted(set(modules)):
        try:  # the module's source, read without importing the module
            source = importlib.util.find_spec(name).origin
            digest.update(name.encode() + b"\0" + Path(source).read_bytes())
        except (ImportError, AttributeError, OSError, TypeError, ValueError):
            return None  # no source to fingerprint: nothing to key a file by
    return directory / f"{digest.hexdigest()}.npz"


def _load(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays ``names`` of the file ``path``, or None if it is missing, unreadable or
    lacks one of them."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in names}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        logger.debug("linear-theory cache: %s unreadable (%s)", path, error)
        return None


def _mode(arrays: dict[str, np.ndarray] | None) -> Mode | None:
    """The mode that :func:`_mode_arrays` stored, or None if ``arrays`` do not hold one."""
    if arrays is None:
        return None
    z, scalars = arrays["z"], arrays["scalars"]
    fields = [arrays[name] for name in _COMPLEX_FIELDS]
    well_formed = (
        z.dtype == np.float64
        and z.ndim == 1
        and all(f.dtype == np.complex128 and f.shape == z.shape for f in fields)
        and scalars.dtype == np.float64
        and scalars.shape == (5,)
        and np.isfinite(z).all()
    )
    if not well_formed:
        return None
    k, sigma_real, sigma_imag, converged, error_estimate = scalars.tolist()
    return Mode(
        k=k,
        sigma=complex(sigma_real, sigma_imag),
        z=z,
        u=fields[0],
        w=fields[1],
        b=fields[2],
        converged=bool(converged),
        error_estimate=error_estimate,
    )


def _mode_arrays(mode: Mode) -> dict[str, np.ndarray]:
    arrays = {name: np.asarray(getattr(mode, name), np.complex128) for name in _COMPLEX_FIELDS}
    arrays["z"] = np.asarray(mode.z, dtype=np.float64)
    scalars = [mode.k, mode.sigma.real, mode.sigma.imag, float(mode.converged)]
    arrays["scalars"] = np.array([*scalars, mode.error_estimate], dtype=np.float64)
    return arrays


def _store(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` under a temporary name beside ``path``, then rename it over ``path``
    (atomic: a reader sees a complete file or none, whatever runs store at once)."""
    temporary = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(temporary, path)
    except OSError as error:
        logger.debug("linear-theory cache: cannot store %s (%s)", path, error)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
