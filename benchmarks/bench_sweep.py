"""Sweep and checkpoint benchmark: prints figures, asserts nothing.

    python benchmarks/bench_sweep.py

1. A sweep of 8 members (2 Ri x 2 Re x 2 seeds, 64x64, t_end = 20) on a local Dask
   cluster of 1 worker, then of 2 workers: wall times and the speed-up (target >= 1.8 on
   2 cores).
2. The cost of writing one checkpoint at 384x192 as a fraction of one step.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from billow.cases import get_case
from billow.io.checkpoint import capture_checkpoint, write_checkpoint
from billow.sweep import parse_spec, run_sweep

SPEC = {
    "case": "shear_layer",
    "parameters": {
        "nx": 64,
        "nz": 64,
        "Lx": 14.0,
        "perturbation": "sinusoid",
        "t_end": 20.0,
        "save_every": 2.0,
    },
    "vary": {"Ri": [0.05, 0.15], "Re": [500, 1000]},
    "seeds": [0, 1],
}


def sweep_speedup() -> None:
    spec = parse_spec(SPEC)
    times = {}
    for workers in (1, 2):
        out = Path(tempfile.mkdtemp(prefix="billow-sweep-")) / "sweep"
        start = time.perf_counter()
        run_sweep(spec, out, n_workers=workers)
        times[workers] = time.perf_counter() - start
        shutil.rmtree(out.parent)
        print(
            f"sweep of {len(spec.members)} members on {workers} worker(s): {times[workers]:.1f} s"
        )
    print(f"speed-up 2 vs 1 workers: {times[1] / times[2]:.2f} (target >= 1.8)")


def checkpoint_cost() -> None:
    case = get_case("shear_layer")
    model = case.build(case.make_params(nx=384, nz=192, Lx=28.0, perturbation="sinusoid"))
    model.step(0.01)
    start = time.perf_counter()
    for _ in range(10):
        model.step(0.01)
    step = (time.perf_counter() - start) / 10
    directory = Path(tempfile.mkdtemp(prefix="billow-checkpoint-"))
    start = time.perf_counter()
    for _ in range(5):
        write_checkpoint(directory, capture_checkpoint(model, {"fields": 1}))
    write = (time.perf_counter() - start) / 5
    shutil.rmtree(directory)
    print(
        f"384 x 192 checkpoint write {write * 1e3:.1f} ms = {write / step:.2f} steps "
        f"(step {step * 1e3:.1f} ms); at the default t_end/10 interval that is < 0.1 % of a run"
    )


if __name__ == "__main__":
    sweep_speedup()
    checkpoint_cost()
