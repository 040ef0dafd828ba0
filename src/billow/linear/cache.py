"""A disk cache of linear-theory modes, so that a run does not solve again what an earlier
run on the machine solved.

A case's default Lx is a wavelength of the fastest-growing mode of linear theory, about a
second of eigenvalue solves at every start of a run (:func:`stability.fastest_growing`).
The mode is kept in an ``.npz`` file named by the SHA-256 of everything that determines
it: the caller's key (the case and its parameters), the versions of billow, numpy and
scipy, and the source code of the modules that compute it (the linear solver, the case's
profiles). A mode loaded from the cache is bitwise the mode computed.

The directory is ``$BILLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/billow``, else
``~/.cache/billow``; an empty ``BILLOW_CACHE_DIR`` turns the cache off. A file that cannot
be read (or is not a complete mode) or written is passed over: the mode is computed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import uuid
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import scipy

from .._version import __version__
from .stability import Mode

CACHE_VARIABLE = "BILLOW_CACHE_DIR"
SUBDIRECTORY = "linear-theory"
_COMPLEX_FIELDS = ("u", "w", "b")

logger = logging.getLogger(__name__)


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
    and the same source of ``modules`` (imported module names) stored it; else computed
    and stored."""
    path = _path(key, modules)
    mode = _load(path) if path is not None else None
    if mode is None:
        mode = compute()
        if path is not None:
            _store(path, mode)
    return mode


def _path(key: str, modules: Iterable[str]) -> Path | None:
    directory = cache_directory()
    if directory is None:
        return None
    digest = hashlib.sha256()
    for part in (key, __version__, np.__version__, scipy.__version__):
        digest.update(part.encode() + b"\0")
    for name in sorted(set(modules)):
        source = getattr(sys.modules.get(name), "__file__", None)
        try:
            digest.update(name.encode() + b"\0" + Path(source).read_bytes())
        except (OSError, TypeError):  # no source to fingerprint: nothing to key a file by
            return None
    return directory / f"{digest.hexdigest()}.npz"


def _load(path: Path) -> Mode | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in ("z", *_COMPLEX_FIELDS, "scalars")}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        logger.debug("linear-theory cache: %s unreadable (%s)", path, error)
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


def _store(path: Path, mode: Mode) -> None:
    """Write the mode under a temporary name beside ``path``, then rename it over ``path``
    (atomic: a reader sees a complete file or none, whatever runs store at once)."""
    arrays = {name: np.asarray(getattr(mode, name), np.complex128) for name in _COMPLEX_FIELDS}
    arrays["z"] = np.asarray(mode.z, dtype=np.float64)
    scalars = [mode.k, mode.sigma.real, mode.sigma.imag, float(mode.converged)]
    arrays["scalars"] = np.array([*scalars, mode.error_estimate], dtype=np.float64)
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
