"""Start-up benchmark: the wall time of short `billow` commands, as a user meets them.

Prints figures; asserts nothing (timings on shared machines are noisy).

    python benchmarks/bench_startup.py [--rounds N] [--first-run] [--baseline PATH/TO/billow ...]

Each command below is run as a child process (one numba thread), by this revision's
`billow` and by each ``--baseline`` executable (other revisions, e.g. from worktrees of
older commits), round by round so that a drift of the machine hits every revision
alike; the medians over the rounds are printed, with each baseline's ratio to this
revision. Every command but the last ends in a one-line error or a listing: its time is
the start-up alone. The last is a tiny real run (64 x 32 shear layer to t = 1, its Lx
from linear theory): start-up, the kernels' loading and a few steps. A warm-up run by
each executable first fills numba's cache and the linear-theory cache (a folder of the
benchmark's own), as a user's first run would. With ``--first-run`` the tiny run is also
timed with an empty numba cache of its own each time (a first run on a machine: it
compiles every kernel it uses, 15-40 s on 2 cores), as a user meets it (with the helper
process that compiles the kernels it needs last, billow._compile_ahead) and without the
helper (BILLOW_COMPILE_AHEAD=0).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BILLOW = Path(sys.executable).parent / "billow"
TINY_RUN = "tiny run (64 x 32, t = 1)"
FIRST_RUN = "the same, first run (empty numba cache)"
FIRST_RUN_ALONE = "the same, first run without the compiling helper"


def commands(work: Path) -> dict[str, list[str]]:
    """The commands timed, by name; ``work`` holds an empty directory and the run's output."""
    empty = str(work / "empty")
    return {
        "billow --help": ["--help"],
        "billow cases": ["cases"],
        "run, unknown case": ["run", "shear_layr"],
        "run, unknown parameter": ["run", "shear_layer", "--set", "Rei=3"],
        "stability, unknown parameter": ["stability", "--set", "Rei=3"],
        "movie, not a run directory": ["movie", empty],
        "compare, not run directories": ["compare", empty, empty],
        "analyze, not a run directory": ["analyze", empty],
        "export, not a run directory": [
            *("export", empty, "--format", "well", "--out", str(work / "export.h5"))
        ],
        TINY_RUN: [
            *("run", "shear_layer", "--set", "nx=64", "--set", "nz=32", "--set", "t_end=1"),
            *("--out", str(work / "run"), "--overwrite", "--quiet"),
        ],
    }


def timed(
    executable: Path, arguments: list[str], cwd: Path, cold: bool = False, ahead: bool = True
) -> float:
    """Wall seconds of ``executable arguments`` (its output discarded, any exit code), with
    the linear-theory cache in ``cwd`` (filled by the warm-up, as by a user's first run);
    ``cold``: with an empty numba cache; ``ahead``: with the compiling helper allowed."""
    environment = {**os.environ, "NUMBA_NUM_THREADS": "1", "BILLOW_CACHE_DIR": str(cwd / "cache")}
    environment["BILLOW_COMPILE_AHEAD"] = "1" if ahead else "0"
    if cold:
        shutil.rmtree(cwd / "numba-cache", ignore_errors=True)
        environment["NUMBA_CACHE_DIR"] = str(cwd / "numba-cache")
    start = time.perf_counter()
    subprocess.run(
        [str(executable), *arguments],
        cwd=cwd,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds (medians are printed)")
    parser.add_argument(
        "--first-run", action="store_true", help="also the tiny run with an empty numba cache"
    )
    parser.add_argument(
        "--baseline", type=Path, nargs="*", default=[], help="other revisions' billow executables"
    )
    args = parser.parse_args()
    executables = {"this revision": BILLOW, **{str(b): b for b in args.baseline}}
    work = Path(tempfile.mkdtemp(prefix="billow-startup-"))
    try:
        (work / "empty").mkdir()
        tasks = commands(work)
        if args.first_run:
            tasks[FIRST_RUN] = tasks[FIRST_RUN_ALONE] = tasks[TINY_RUN]
        for executable in executables.values():  # warm the disk cache and numba's cache
            timed(executable, tasks[TINY_RUN], work)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for task, arguments in tasks.items():
                for name, executable in executables.items():
                    cold = task in (FIRST_RUN, FIRST_RUN_ALONE)
                    seconds = timed(executable, arguments, work, cold, task != FIRST_RUN_ALONE)
                    times.setdefault((task, name), []).append(seconds)
    finally:
        shutil.rmtree(work)
    print(f"wall seconds, median of {args.rounds} rounds, one numba thread, revisions in turn")
    width = max(map(len, tasks))
    for task in tasks:
        this = statistics.median(times[(task, "this revision")])
        line = f"  {task:<{width}}  {this:6.2f} s"
        for name in executables:
            if name != "this revision":
                other = statistics.median(times[(task, name)])
                line += f"   {name}: {other:6.2f} s ({other / this:.2f}x)"
        print(line)


if __name__ == "__main__":
    main()
