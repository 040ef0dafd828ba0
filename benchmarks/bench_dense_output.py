"""Snapshots by dense output against snapshots on which the steps land: steps and accuracy.

Prints figures; asserts nothing.

    python benchmarks/bench_dense_output.py [--nx 384 --nz 192 --t-end 30 --save-every 0.1]

The default shear layer is run three times with a snapshot every ``save_every``:
a reference whose steps land on every snapshot time at cfl = 0.1, then at the
default cfl once with the steps landing on the snapshot times (billow before
dense output) and once with dense output (snapshots interpolated inside the
steps; dt never shortened for them). For each, the number of steps and the
largest relative L2 difference from the reference over all snapshots, of b and of
the vorticity.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from billow.cases import get_case
from billow.core.schemes import SCHEMES
from billow.schedules import SpecifiedTimes, TimeInterval
from billow.simulation import Simulation


class Snapshots:
    """Keeps b and the vorticity of every snapshot; with ``dense`` the snapshot times are
    filled in inside steps (write_at), otherwise the steps land on them (write)."""

    def __init__(self, save_every: float, t_end: float, dense: bool):
        self.schedule = TimeInterval(save_every, align=not dense) | SpecifiedTimes(t_end)
        self.fields: list[tuple[np.ndarray, np.ndarray]] = []
        if dense:
            self.write_at = lambda sim, time: self.keep(sim.snapshot(time))

    def keep(self, snapshot: dict[str, np.ndarray]) -> None:
        self.fields.append((snapshot["b"].copy(), snapshot["vorticity"].copy()))

    def write(self, sim) -> None:
        self.keep(sim.snapshot())


def run(args, cfl: float, dense: bool) -> tuple[Snapshots, int, float]:
    case = get_case("shear_layer")
    params = case.make_params(nx=args.nx, nz=args.nz, t_end=args.t_end)
    model = case.build(params)
    sim = Simulation(model, t_end=params.t_end, cfl=cfl)
    sim.output_writers["snapshots"] = writer = Snapshots(args.save_every, args.t_end, dense)
    start = time.perf_counter()
    sim.run()
    return writer, model.iteration, time.perf_counter() - start


def largest_difference(a: Snapshots, reference: Snapshots, which: int) -> float:
    return max(
        float(np.linalg.norm(x[which] - r[which]) / np.linalg.norm(r[which]))
        for x, r in zip(a.fields[1:], reference.fields[1:], strict=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, default=384)
    parser.add_argument("--nz", type=int, default=192)
    parser.add_argument("--t-end", type=float, default=30.0)
    parser.add_argument("--save-every", type=float, default=0.1)
    parser.add_argument("--cfl", type=float, default=SCHEMES["upwind5"].cfl)
    args = parser.parse_args()
    reference, steps, seconds = run(args, 0.1, dense=False)
    print(
        f"shear_layer {args.nx}x{args.nz} to t = {args.t_end:g}, a snapshot every "
        f"{args.save_every:g} ({len(reference.fields)}); reference: cfl 0.1, steps landing "
        f"on the snapshots, {steps} steps, {seconds:.1f} s"
    )
    for dense in (False, True):
        snapshots, steps, seconds = run(args, args.cfl, dense)
        how = "dense output   " if dense else "steps landing  "
        b, vorticity = (largest_difference(snapshots, reference, which) for which in (0, 1))
        print(
            f"  cfl {args.cfl:g}, {how}: {steps:5d} steps {seconds:6.1f} s, largest difference "
            f"from the reference over the snapshots: b {b:.2e}  vorticity {vorticity:.2e}",
            flush=True,
        )


if __name__ == "__main__":
    main()
