"""Atomic writes: a file appears complete under its name or not at all (docs/architecture.md).

Everything is written to a unique temporary name beside the target, fsynced, and
renamed over it (``os.replace`` is atomic on POSIX); on failure the temporary
file is removed and the target is left as it was.
"""

from __future__ import annotations

import ctypes
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ConfigError


def check_output_file(out: Path, overwrite: bool) -> None:
    """Refuse, in one line, an output file that cannot or must not be written: a
    directory, an existing file without ``overwrite``, a missing or read-only folder."""
    if out.is_dir():
        raise ConfigError(f"output '{out}' is a directory: give a file name")
    if out.exists() and not overwrite:
        raise ConfigError(f"output '{out}' exists (use --overwrite to replace it)")
    if not out.parent.is_dir():
        raise ConfigError(f"output directory '{out.parent}' does not exist")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"output directory '{out.parent}' is not writable")


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def replace_durably(source: Path, path: Path) -> None:
    """Rename ``source`` over ``path`` once its contents are on disk: fsync, then the
    atomic ``os.replace``, so that ``path`` is never a file only partly written."""
    fsync_file(source)
    os.replace(source, path)


SYNC_FILE_RANGE_WRITE = 2  # <fcntl.h>: start writing the dirty pages, do not wait


def _sync_file_range():
    """libc's ``sync_file_range`` (Linux only), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _sync_file_range()


def start_writeback(descriptor: int) -> None:
    """Start writing the dirty pages of an open file to disk, without waiting (Linux;
    elsewhere nothing), so that the fsync that makes the file durable finds them written
    or on their way. A hint only: errors are ignored, the page cache keeps the data, and
    what the fsync guarantees is unchanged."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(descriptor, 0, 0, SYNC_FILE_RANGE_WRITE)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` (after an
    fsync) when the block succeeds, removed when it fails."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        yield temporary
        replace_durably(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_netcdf_atomically(dataset, path: Path) -> None:
    """An xarray Dataset to netCDF-4 (h5netcdf)."""
    with atomic_path(path) as temporary:
        dataset.to_netcdf(temporary, engine="h5netcdf")


def save_figure_atomically(fig, path: Path, dpi: int = 110) -> None:
    """A matplotlib figure to PNG."""
    with atomic_path(path) as temporary:
        fig.savefig(temporary, dpi=dpi, format="png")
