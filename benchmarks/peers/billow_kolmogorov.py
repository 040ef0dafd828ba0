"""billow's `kolmogorov` case on the stratified Kolmogorov flow of kolmogorov_common.py.

Run with billow's Python by bench_peers.py:

    python billow_kolmogorov.py DURATION

Prints one line ``RESULT {json}``: steps, simulated time, the wall and CPU seconds of
the time loop (Simulation.run(); set-up and numba compilation excluded, the kernels
warmed on a small grid first), the mean kinetic energy and max|u| at the end. As in a
`billow run`, the per-step diagnostics are evaluated and snapshots taken every
DURATION/10 (kept in memory: no file is written, as for FluidSim).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import kolmogorov_common as common  # noqa: E402


def build(nx: int, nz: int, duration: float):
    from billow.cases import get_case
    from billow.cases.common import corner_coordinates
    from billow.core.operators import velocity_from_streamfunction

    case = get_case("kolmogorov")
    params = case.make_params(
        nx=nx,
        nz=nz,
        Lx=common.LX,
        Lz=common.LZ,
        Re=common.RE,
        N2=common.N2,
        F0=common.F0,
        n=common.N_FORCE,
        noise=0.0,
        t_end=duration,
        save_every=duration / 10,
    )
    model = case.build(params)
    x, z = corner_coordinates(model.grid)
    u, w = velocity_from_streamfunction(model.grid, common.streamfunction(x, z))
    model.set(u=u, w=w)
    return params, model


def simulation(params, model):
    from billow.callbacks import Callback
    from billow.simulation import Simulation, snapshot_schedule

    diagnostics = []
    sim = Simulation(model, t_end=params.t_end, cfl=params.cfl)
    # as a run does: the diagnostics every step, a snapshot every save_every (in memory)
    sim.callbacks["diagnostics"] = Callback(
        lambda sim: diagnostics.append(sim.evaluate_diagnostics())
    )
    sim.output_writers["snapshots"] = InMemorySnapshots(
        snapshot_schedule(params.save_every, params.t_end)
    )
    return sim


class InMemorySnapshots:
    """An output writer that makes each snapshot (fields at cell centres) and keeps none."""

    def __init__(self, schedule):
        self.schedule = schedule

    def write_at(self, sim, time) -> None:
        sim.snapshot(time)


def main() -> None:
    duration = float(sys.argv[1])
    import billow

    warm_params, warm_model = build(64, 32, 0.05)  # numba: compile or load its cache
    simulation(warm_params, warm_model).run()

    params, model = build(common.NX, common.NZ, duration)
    sim = simulation(params, model)
    wall, cpu = time.perf_counter(), time.process_time()
    sim.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    u, w = model.interior("u"), model.interior("w")[:-1]
    result = {
        "version": billow.__version__,
        "steps": int(model.iteration),
        "time": float(model.time),
        "loop_wall": wall,
        "loop_cpu": cpu,
        "stages": len(model.stepper.scheme.stages),  # tendencies and projections a step
        "ke": float(0.5 * np.mean(u**2 + w**2)),
        "max_u": float(np.max(np.abs(u))),
        "advection": params.advection,
        "cfl": params.cfl,
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
