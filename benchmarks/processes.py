"""Measuring the benchmarks' child processes."""

from __future__ import annotations


def own_peak_rss_mb(pid: int) -> float:
    """The peak RSS of process ``pid``'s own memory (VmHWM, MB; 0 where /proc has none).

    Not os.wait4's ru_maxrss: Linux carries the parent's RSS at fork into the child's
    ru_maxrss, so a child of a benchmark script that holds 340 MB reports at least that."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
