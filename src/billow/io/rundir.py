"""Run directories: safe creation, exclusive locking, config.toml, log.txt, and reading
them back (:func:`open_run`). The files of a run directory are listed in the README.

:func:`claim_run_directory` is the one way a run gets its directory: it refuses, touching
nothing, a path that is a file, a directory another writer holds (see
:mod:`billow.io.lock`), a non-empty directory without ``overwrite``, or one that cannot be
written; it then holds the directory's lock, and with ``overwrite`` removes every file
billow makes in a run directory (:data:`OWN_FILES`) and nothing else.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import h5py

from ..errors import BillowError, ConfigError
from .lock import LOCK_FILE, check_not_locked, lock_directory
from .netcdf import check_segments

if TYPE_CHECKING:
    import xarray as xr

# Everything billow writes into a run directory (glob patterns relative to it): the run
# itself, `billow analyze`, `billow movie`, `billow compare --out DIR`, `billow stability
# --plot DIR`, a sweep member's markers, and the temporary names of atomic writes
# (".<name>.<random>.tmp", ".movie-*"). `--overwrite` removes exactly these.
OWN_FILES = (
    "config.toml",
    "log.txt",
    "fields.nc",
    "diagnostics.nc",
    "tracer_diagnostics.nc",
    "segments/fields.*.nc*",
    "segments/diagnostics.*.nc*",
    "segments/tracer_diagnostics.*.nc*",
    "checkpoints/checkpoint_*.h5",
    "checkpoints/.checkpoint_*.h5.*.tmp",
    "analysis.nc",
    "summary.md",
    "figures/snapshots.png",
    "figures/energetics.png",
    "figures/richardson.png",
    "figures/growth_fit.png",
    "figures/compare_timeseries.png",
    "figures/compare_bars.png",
    "figures/.*.png.*.tmp",
    "movie.mp4",
    "movie.gif",
    ".movie-*",
    "compare.md",
    "compare.nc",
    "compare.csv",
    "growth_rate.png",
    "stability_diagram.png",
    "DONE",
    "error.txt",
    ".billow-write-test",
)
OWN_DIRECTORIES = ("segments", "checkpoints", "figures")  # removed when left empty
_TOP_LEVEL = tuple(p for p in OWN_FILES if "/" not in p and "*" not in p)
TEMPORARY = tuple(f".{name}.*.tmp" for name in _TOP_LEVEL)


def _has_content(directory: Path) -> bool:
    """Whether ``directory`` holds anything besides the lock file."""
    return any(path.name != LOCK_FILE for path in directory.iterdir())


def require_run_directory(path: str | Path, containing: str | None = None) -> Path:
    """``path`` as a Path if it is a directory (holding the file ``containing``, if given);
    else ConfigError in one line, saying whether it is missing, a file (a packed run, a
    netCDF file: not a run directory) or a directory without that file."""
    path = Path(path)
    if path.is_dir():
        if containing is not None and not (path / containing).is_file():
            raise ConfigError(f"'{path}' is not a billow run directory (no {containing})")
        return path
    if path.exists():
        raise ConfigError(
            f"'{path}' is a file, not a run directory: give the directory that `billow run` wrote"
        )
    raise ConfigError(f"run directory '{path}' does not exist")


def check_run_directory(out: str | Path, overwrite: bool = False) -> Path:
    """Refuse, touching nothing, an ``out`` that cannot become this run's directory."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path '{out}' exists and is not a directory")
    if not out.exists():
        ancestor = out.absolute().parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise ConfigError(f"cannot create output directory '{out}': '{ancestor}' is a file")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise ConfigError(
                f"cannot create output directory '{out}': '{ancestor}' is not writable"
            )
    if out.is_dir():
        check_not_locked(out)
        if _has_content(out) and not overwrite:
            raise ConfigError(
                f"output directory '{out}' is not empty (use --overwrite to replace its run)"
            )
    return out


def check_writable(directory: Path) -> None:
    """Refuse a directory in which files cannot be created."""
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(f"run directory '{directory}' is not writable")
    probe = directory / ".billow-write-test"
    try:
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise ConfigError(
            f"run directory '{directory}' is not writable: {error.strerror}"
        ) from None


@contextmanager
def claim_run_directory(out: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Create ``out`` (or reuse it when empty, or when ``overwrite`` is set) and hold its
    lock for the duration of the block. Every refusal comes before anything is changed;
    with ``overwrite`` billow's own files are removed only once the lock is held."""
    out = check_run_directory(out, overwrite)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create output directory '{out}': {error.strerror}") from None
    check_writable(out)
    with lock_directory(out):
        if _has_content(out) and not overwrite:  # filled since the check above
            raise ConfigError(
                f"output directory '{out}' is not empty (use --overwrite to replace its run)"
            )
        remove_own_files(out)
        yield out


def remove_own_files(run_dir: Path) -> None:
    """Delete every file billow makes in a run directory (:data:`OWN_FILES`), then the
    directories among :data:`OWN_DIRECTORIES` left empty; a user's own files stay."""
    for pattern in (*OWN_FILES, *TEMPORARY):
        for path in run_dir.glob(pattern):
            if path.is_file() or path.is_symlink():
                path.unlink()
    for name in OWN_DIRECTORIES:
        directory = run_dir / name
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


def recorded_attribute(run_dir: Path, name: str) -> str:
    """The global attribute ``name`` of a run, from its diagnostics.nc index; "" where
    the file or the attribute is missing or cannot be read."""
    try:
        with h5py.File(run_dir / "diagnostics.nc", "r") as index:
            value = index.attrs.get(name, "")
    except OSError:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def run_logger(path: Path) -> logging.Logger:
    """A logger writing timestamped lines to ``path`` (log.txt)."""
    logger = logging.getLogger(f"billow.run.{path.resolve()}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    return logger


def close_logger(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


TRACER_DIAGNOSTICS = "tracer_diagnostics"
RUN_FILES = ("fields", "diagnostics", TRACER_DIAGNOSTICS)


def _without_tracer_diagnostics(diagnostics) -> str:
    """Why a run has no tracer_diagnostics, from its diagnostics (an h5py group or file):
    none of its tracers' diagnostics are there, or all of them, every step (a run made
    before billow wrote tracer_diagnostics.nc)."""
    if any(name.endswith("_entropy") for name in diagnostics):
        return "the run predates it; its tracers' diagnostics are in diagnostics.nc"
    return "the run has no tracers"


def open_run(directory: str | Path, which: str = "fields") -> xr.Dataset:
    """Open a run directory's snapshots or scalar diagnostics as an xarray Dataset (lazily).

    Parameters
    ----------
    directory : str or Path
        A run directory (``billow run --out``).
    which : str
        ``"fields"`` (default): ``fields.nc``, variables u, w, b, dye c, vorticity (and
        v for the rotating case) of shape (time, z, x) at cell centres;
        ``"diagnostics"``: ``diagnostics.nc``, one value per step (shape (time,)) of
        ke, pe, epsilon, max_divergence, b_integral, mode_amplitude, phi_i (walls),
        injected_power (forced), dt, cfl;
        ``"tracer_diagnostics"``: ``tracer_diagnostics.nc`` (cases with a dye), c_integral
        and dye_entropy every ``diagnostics_every`` steps (its attribute
        ``every_n_steps``) and at t_end.

    Returns
    -------
    xarray.Dataset
        Coordinates time, z, x (units of d/U0 and d), every parameter in ``attrs``.
        Close it (or use ``with``) when done.

    ``directory`` may also be a file written by ``billow pack`` (fields at its root,
    the diagnostics in the groups ``diagnostics`` and ``tracer_diagnostics``). Raises
    ValueError for another ``which``, and a BillowError when the file is missing or its
    ``segments/`` are (a ``fields.nc`` copied without them holds no data).
    """
    import xarray as xr  # imported on use: running a case does not need it

    if which not in RUN_FILES:
        raise ValueError(f"unknown run file {which!r}: choose one of {', '.join(RUN_FILES)}")
    directory = Path(directory)
    if directory.is_file():
        group = None if which == "fields" else which
        if group == TRACER_DIAGNOSTICS:
            with h5py.File(directory, "r") as packed:
                if group not in packed:
                    reason = _without_tracer_diagnostics(packed.get("diagnostics", {}))
                    raise BillowError(f"{directory} has no {group}: {reason}")
        return xr.open_dataset(directory, engine="h5netcdf", group=group)
    path = directory / f"{which}.nc"
    if not path.is_file():
        if which == TRACER_DIAGNOSTICS and (directory / "diagnostics.nc").is_file():
            with h5py.File(directory / "diagnostics.nc", "r") as diagnostics:
                reason = _without_tracer_diagnostics(diagnostics)
            raise BillowError(f"no {which}.nc in {directory}: {reason}")
        raise BillowError(f"no {which}.nc in {directory}: not a billow run directory")
    check_segments(path)
    return xr.open_dataset(path, engine="h5netcdf")
