"""FluidSim ns2d.strat on the stratified Kolmogorov flow of kolmogorov_common.py.

Run with the FluidSim environment's Python by bench_peers.py:

    python fluidsim_kolmogorov.py DURATION

Prints FluidSim's own log, then one line ``RESULT {json}``: steps, simulated time, the
wall and CPU seconds of the time loop (sim.time_stepping.start(); set-up and FFT plans
excluded), the mean kinetic energy and max|u| at the end. No output is written
(params.output.HAS_TO_SAVE = False); FluidSim prints its energies every DURATION/10.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import kolmogorov_common as common  # noqa: E402


def main() -> None:
    duration = float(sys.argv[1])
    import fluidsim
    from fluidsim.base.forcing.kolmogorov import KolmogorovFlow, extend_simul_class
    from fluidsim.solvers.ns2d.strat.solver import Simul

    Solver = extend_simul_class(Simul, KolmogorovFlow)
    params = Solver.create_default_params()
    params.short_name_type_run = "bench"
    params.oper.nx, params.oper.ny = common.NX, common.NZ
    params.oper.Lx, params.oper.Ly = common.LX, common.LZ
    params.nu_2 = 1.0 / common.RE
    params.N = math.sqrt(common.N2)
    params.forcing.enable = True
    params.forcing.type = "kolmogorov_flow"
    params.forcing.key_forced = "ux_fft"
    params.forcing.kolmo.ik = common.N_FORCE
    params.forcing.kolmo.amplitude = common.F0
    params.init_fields.type = "in_script"
    params.time_stepping.t_end = duration  # defaults kept: RK4, CFL 1.0, deltat_max 0.2
    params.output.HAS_TO_SAVE = False
    params.output.periods_print.print_stdout = duration / 10
    sim = Solver(params)

    oper = sim.oper
    ux, uy = common.velocity(oper.X, oper.Y)
    rot_fft = oper.rotfft_from_vecfft(oper.fft(ux), oper.fft(uy))
    sim.state.init_statespect_from(rot_fft=rot_fft, b_fft=np.zeros_like(rot_fft))
    sim.state.statephys_from_statespect()

    wall, cpu = time.perf_counter(), time.process_time()
    sim.time_stepping.start()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    ux, uy = sim.state.get_var("ux"), sim.state.get_var("uy")
    result = {
        "version": fluidsim.__version__,
        "steps": int(sim.time_stepping.it),
        "time": float(sim.time_stepping.t),
        "loop_wall": wall,
        "loop_cpu": cpu,
        "stages": 4,  # RK4: tendencies per step
        "ke": float(0.5 * np.mean(ux**2 + uy**2)),
        "max_u": float(np.max(np.abs(ux))),
        "fft": type(oper.opfft).__name__ if hasattr(oper, "opfft") else "?",
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
