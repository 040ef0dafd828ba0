"""Solver benchmark: steps/s, step cost in Poisson solves, and a full 384x192 run.

Prints figures; asserts nothing (timings on shared machines are noisy).

    python benchmarks/bench_solver.py [--skip-run]

1. For 384x192 and 1024x512 (shear_layer, upwind5): steps per second, the
   cost of one step divided by the cost of one Poisson solve measured in the
   same process (the step does 3 projections; target <= 1.5 x 3 = 4.5).
2. A 384x192 shear_layer run to t = 30 with 300 snapshots through the CLI in a
   subprocess: wall time, steps, peak RSS (target <= 300 MB), and the ratio to
   kh2d-solver's 477 s for its 384x192 t = 30 "forced" run on this kind of
   machine (shared/kh2d_study_values.md; goal <= 1/20).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

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


def full_run() -> None:
    billow = Path(sys.executable).parent / "billow"
    out = Path(tempfile.mkdtemp(prefix="billow-bench-"))
    command = [
        str(billow),
        "run",
        "shear_layer",
        "--set",
        "nx=384",
        "--set",
        "nz=192",
        "--set",
        "t_end=30",
        "--set",
        "save_every=0.1",
        "--out",
        str(out / "run"),
        "--quiet",
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    import xarray as xr

    with xr.open_dataset(out / "run" / "fields.nc", engine="h5netcdf") as fields:
        snapshots = fields.sizes["time"]
    with xr.open_dataset(out / "run" / "diagnostics.nc", engine="h5netcdf") as diagnostics:
        steps = diagnostics.sizes["time"] - 1
    shutil.rmtree(out)
    print(
        f"384 x 192 shear_layer to t = 30, {snapshots} snapshots: {wall:.1f} s wall "
        f"({steps} steps, {steps / wall:.0f} steps/s incl. start-up and output), "
        f"peak RSS {peak_mb:.0f} MB (target <= 300)"
    )
    print(
        f"kh2d-solver reference {PEER_SECONDS_384x192_T30:.0f} s -> billow is "
        f"{PEER_SECONDS_384x192_T30 / wall:.1f}x faster (goal >= 20x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-run", action="store_true", help="only the per-step costs")
    args = parser.parse_args()
    step_cost(384, 192, repeats=20)
    step_cost(1024, 512, repeats=5)
    if not args.skip_run:
        full_run()


if __name__ == "__main__":
    main()
