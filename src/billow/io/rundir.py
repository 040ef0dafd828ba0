"""Run directories: safe creation, config.toml, log.txt (design.md section 7)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import ConfigError
from .netcdf import remove_series

OUTPUT_FILES = ("config.toml", "log.txt")
SERIES = ("fields", "diagnostics")  # index <name>.nc over segments/<name>.*.nc


def prepare_run_directory(out: str | Path, overwrite: bool = False) -> Path:
    """Create ``out`` (or reuse it when empty, or when ``overwrite`` is set).

    Refuses, without touching anything, a path that is a file, a non-empty
    directory without ``overwrite``, or a location that cannot be written.
    With ``overwrite`` only billow's own output files are replaced.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path '{out}' exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ConfigError(
            f"output directory '{out}' is not empty (use --overwrite to replace its run)"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create output directory '{out}': {error.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"output directory '{out}' is not writable")
    probe = out / ".billow-write-test"
    try:
        probe.touch()
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"output directory '{out}' is not writable: {error.strerror}") from None
    for name in OUTPUT_FILES:
        (out / name).unlink(missing_ok=True)
    for name in SERIES:
        remove_series(out, name)
    for checkpoint in (out / "checkpoints").glob("checkpoint_*.h5*"):
        checkpoint.unlink()
    return out


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
