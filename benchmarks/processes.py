"""Measuring the benchmarks' child processes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def wait_measuring_peak(
    pid: int, interval: float, while_running: Callable[[], None] | None = None
) -> tuple[int, os.struct_rusage, float]:
    """Wait for child ``pid``, sampling its own peak RSS every ``interval`` seconds and
    calling ``while_running()`` between samples; returns (wait status, rusage, peak MB).

    The peak is the child's VmHWM, not os.wait4's ru_maxrss: Linux carries the parent's RSS
    at fork into the child's ru_maxrss, so a child of a benchmark script that holds 340 MB
    reports at least that (ru_maxrss only where /proc has no VmHWM)."""
    peak = 0.0
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, usage, peak or usage.ru_maxrss / 1024
        peak = max(peak, own_peak_rss_mb(pid))
        if while_running is not None:
            while_running()
        time.sleep(interval)


def own_peak_rss_mb(pid: int) -> float:
    """The peak RSS of process ``pid``'s own memory (VmHWM, MB; 0 where /proc has none)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
