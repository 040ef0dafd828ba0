"""Exclusive run-directory locks: one writer per run, sweep or dataset directory.

A writer holds an OS advisory lock (``fcntl.flock``) on ``<dir>/.billow.lock`` while it
works and writes its process id into the file. The kernel drops the lock when the
process exits, however it exits (SIGKILL, a crash), so a stale lock file never blocks a
later run. A second writer is refused with one line naming the holder's process id,
before it changes anything. The lock is re-entrant within one thread (the command line
takes it before ``run_case`` takes it again); another thread or process is refused.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import BillowError

LOCK_FILE = ".billow.lock"
PID_WAIT = 0.5  # seconds to wait for a new holder to write its process id

_held: dict[tuple[str, int], list[int]] = {}  # (directory, thread) -> [fd, depth]
_guard = threading.Lock()


class DirectoryInUse(BillowError):
    """Another process (or thread) is writing to the directory."""


def _holder(lock_path: Path) -> str:
    """The holder's process id as written in the lock file, or a neutral phrase."""
    deadline = time.monotonic() + PID_WAIT
    while True:
        try:
            text = lock_path.read_text().strip()
        except OSError:
            text = ""
        if text.isdigit() or time.monotonic() > deadline:
            return f"process {text}" if text.isdigit() else "another process"
        time.sleep(0.02)


def check_not_locked(directory: str | Path) -> None:
    """Refuse (DirectoryInUse) if another writer holds ``directory``'s lock; creates nothing."""
    directory = Path(directory)
    lock_path = directory / LOCK_FILE
    if _key(directory) in _held or not lock_path.is_file():
        return
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise DirectoryInUse(
            f"run directory {directory} is in use by {_holder(lock_path)}"
        ) from None
    finally:
        os.close(fd)


def _key(directory: Path) -> tuple[str, int]:
    return (str(directory.resolve()), threading.get_ident())


@contextmanager
def lock_directory(directory: str | Path) -> Iterator[Path]:
    """Hold the exclusive lock of an existing ``directory`` for the duration of the block.

    Raises DirectoryInUse, naming the holder's process id, when another writer has it,
    and a BillowError when the lock file cannot be created (a read-only directory).
    """
    directory = Path(directory)
    key = _key(directory)
    with _guard:
        if key in _held:
            _held[key][1] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield directory
        finally:
            with _guard:
                _held[key][1] -= 1
        return
    lock_path = directory / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise BillowError(
            f"cannot lock run directory {directory}: {error.strerror or error}"
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DirectoryInUse(
            f"run directory {directory} is in use by {_holder(lock_path)}"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        with _guard:
            _held[key] = [fd, 1]
        yield directory
    finally:
        with _guard:
            _held.pop(key, None)
        os.close(fd)  # releases the lock
