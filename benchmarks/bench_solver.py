"""Solver benchmark: steps/s, step cost in Poisson solves, and full 384x192 runs.

Prints figures; asserts nothing (timings on shared machines are noisy).

    python benchmarks/bench_solver.py [--skip-runs]

1. For 384x192 and 1024x512 (shear_layer, upwind5): steps per second, the
   cost of one step divided by the cost of one Poisson solve measured in the
   same process (the step does 3 projections; target <= 1.5 x 3 = 4.5).
2. The default-case run: 384x192 shear_layer to t = 30 with 300 snapshots
   through the CLI: wall time, steps, peak RSS (target <= 300 MB).
3. The peer's run, the same physical problem: kh2d-solver's shipped 384x192
   "forced" configuration through `billow run --from-kh2d` (same grid, same
   duration, t_final = 30 box times = 600 d/U0, same 300 snapshots), then
   `billow movie`; against kh2d-solver 0.1.6 measured on this kind of machine
   (shared/kh2d_study_values.md): 477 s in all, 260 s of it stepping and
   netCDF, 214 s its GIF. Goal: >= 20x.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import billow
from billow.cases import get_case

PEER_SECONDS_384x192_T30 = 477.0
PROJECTIONS_PER_STEP = 3


def best_time(function, repeats: int) -> float:
    """Best of ``repeats`` timings of one call (seconds); the minimum filters out noise."""
    function()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def step_cost(nx: int, nz: int, repeats: int) -> None:
    case = get_case("shear_layer")
    model = case.build(case.make_params(nx=nx, nz=nz, noise=1e-3))
    dt = 0.01
    step = best_time(lambda: model.step(dt), repeats)
    rhs = np.random.default_rng(0).standard_normal((nz, nx))
    poisson = best_time(lambda: model.poisson.solve(rhs), repeats)
    ratio = step / poisson
    print(
        f"{nx:5d} x {nz:<4d} step {step * 1e3:8.2f} ms  ({1 / step:7.1f} steps/s)   "
        f"poisson {poisson * 1e3:7.2f} ms   step/poisson {ratio:5.2f} "
        f"(target <= {1.5 * PROJECTIONS_PER_STEP:.1f})"
    )


BILLOW = Path(sys.executable).parent / "billow"
KH2D_FORCED = Path(__file__).parents[1] / "examples" / "kh2d_configs" / "forced.txt"
PEER_TOTAL_SECONDS = 477.0  # kh2d-solver 0.1.6, forced 384x192, t_final = 30, one core
PEER_STEPPING_SECONDS = 260.0  # of which stepping and netCDF output (the rest: its GIF)


def timed_command(arguments: list[str]) -> tuple[float, float]:
    """Run ``billow ARGUMENTS`` (its stdout discarded); return (wall seconds, peak RSS in MB)
    of that process."""
    start = time.perf_counter()
    process = subprocess.Popen([str(BILLOW), *arguments], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"billow {' '.join(arguments)} failed")
    return wall, usage.ru_maxrss / 1024


def run_size(run_dir: Path) -> tuple[int, int]:
    """(snapshots, steps) of a finished run directory."""
    with billow.open_run(run_dir) as fields, billow.open_run(run_dir, "diagnostics") as series:
        return fields.sizes["time"], series.sizes["time"] - 1


def default_run(out: Path) -> None:
    settings = [f"--set={item}" for item in ("nx=384", "nz=192", "t_end=30", "save_every=0.1")]
    wall, peak = timed_command(["run", "shear_layer", *settings, "--out", str(out), "--quiet"])
    snapshots, steps = run_size(out)
    print(
        f"384 x 192 shear_layer to t = 30, {snapshots} snapshots: {wall:.1f} s wall "
        f"({steps} steps, {steps / wall:.0f} steps/s incl. start-up and output), "
        f"peak RSS {peak:.0f} MB (target <= 300)"
    )


def peer_run(out: Path) -> None:
    arguments = ["run", "--from-kh2d", str(KH2D_FORCED), "--out", str(out), "--quiet"]
    wall, peak = timed_command(arguments)
    snapshots, steps = run_size(out)
    movie, _ = timed_command(["movie", str(out)])
    print(
        f"kh2d-solver's forced run (384 x 192, t_final 30 = 600 d/U0) with billow: "
        f"{wall:.1f} s wall ({steps} steps, {snapshots} snapshots, peak RSS {peak:.0f} MB), "
        f"movie (MP4 + GIF) {movie:.1f} s"
    )
    print(
        f"  against kh2d-solver: run {PEER_STEPPING_SECONDS:.0f} s / {wall:.1f} s = "
        f"{PEER_STEPPING_SECONDS / wall:.1f}x; run and animation {PEER_TOTAL_SECONDS:.0f} s / "
        f"{wall + movie:.1f} s = {PEER_TOTAL_SECONDS / (wall + movie):.1f}x (goal >= 20x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-runs", action="store_true", help="only the per-step costs")
    args = parser.parse_args()
    step_cost(384, 192, repeats=20)
    step_cost(1024, 512, repeats=5)
    if not args.skip_runs:
        out = Path(tempfile.mkdtemp(prefix="billow-bench-"))
        try:
            default_run(out / "default")
            peer_run(out / "kh2d_forced")
        finally:
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
