"""Process-wide settings that billow's time loop depends on, applied once at import.

- ``GOMP_SPINCOUNT``: numba's OpenMP threads spin up to 300k times between parallel loops
  before sleeping: on a machine shared with other busy processes one step then becomes
  ~30x slower (measured 300 ms instead of 7 ms at 384x192 on 2 cores). A short spin keeps
  parallel launches cheap on a quiet machine (7 ms) and bounds the contended cost (18 ms).
  Read when OpenMP starts, i.e. later. A value already in the environment is kept.
- glibc's allocator: every step allocates and frees temporaries of about a megabyte (the
  transforms' outputs). By default glibc may serve such blocks with mmap, or trim the
  freed top of its heap, and hand the pages back to the kernel; each reuse then faults
  every page in again. In a 512x256 periodic run that was 1.1 million page faults and
  half of the time loop (1.6 s of system time in 3.5 s), set off or not by unrelated
  allocations elsewhere. Blocks up to MMAP_THRESHOLD come from the heap, and up to
  TRIM_THRESHOLD of free heap is kept for reuse (34 000 faults, 1.8 s). Skipped where
  the allocator is not glibc's, or where the user set MALLOC_MMAP_THRESHOLD_ or
  MALLOC_TRIM_THRESHOLD_ themselves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

MMAP_THRESHOLD = 32 * 2**20  # bytes
TRIM_THRESHOLD = 64 * 2**20  # bytes
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)


def configure() -> None:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
    if any(f"MALLOC_{name}_THRESHOLD_" in os.environ for name in ("MMAP", "TRIM")):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt, Windows)
        return
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
