"""The largest stable Courant number of the default scheme, and the accuracy at each.

Prints figures; asserts nothing.

    python benchmarks/bench_cfl.py [--nx 384 --nz 192] [--cfl 1.3 2.0 2.2 ...]

For each case (the default shear layer to t = 30; the forced case from its
shear-layer base to t = 30; and, with ``--cases kh2d_forced``, kh2d-solver's
forced config as ``billow run --from-kh2d`` maps it, 384x192 to t = 600, turbulent
from about t = 100) the same run is made at several values of ``cfl`` (the
Courant number dt max over cells of (|u|/dx + |w|/dz) of the controller) and
compared with a reference at cfl = 0.1: the relative L2 difference of b and of
the vorticity at the end, and the largest Courant number the run reached. The
forced cases draw a new random force every step, so their runs at different dt
are different realisations: for them only stability is measured (no reference). A run
is unstable when it blows up (non-finite field, or a step whose Courant
number measured after it exceeds the hard limit) or when its difference from
the reference grows to O(1). For scale, the spatial error of the grid is
estimated by the same difference between the run at cfl = 0.1 and the same
run on a grid twice as fine (averaged onto the coarse cells).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from billow.callbacks import Callback
from billow.cases import get_case
from billow.compat.kh2d import map_kh2d, parse_kh2d
from billow.core.timestepping import BlowUpError
from billow.simulation import Simulation

KH2D_FORCED = Path(__file__).parents[1] / "examples" / "kh2d_configs" / "forced.txt"
STOCHASTIC = {"forced", "kh2d_forced"}
# name: (billow case, parameters); --Re sets the Reynolds number of the first two
CASES = {
    "shear_layer": ("shear_layer", dict(Re=1000.0, Ri=0.1, t_end=30.0)),
    "forced": ("forced", dict(Re=1000.0, Ri=0.1, t_end=30.0, forcing_rate=2e-3)),
}
DEFAULT_CASES = list(CASES)


def kh2d_forced() -> tuple[str, dict]:
    """kh2d-solver's forced config, as billow run --from-kh2d maps it (its grid and t_end)."""
    mapping = map_kh2d(parse_kh2d(KH2D_FORCED.read_text(), str(KH2D_FORCED)))
    return mapping.case, dict(mapping.params)


CASES["kh2d_forced"] = kh2d_forced()


def final_state(name: str, nx: int, nz: int, cfl: float, Lx: float | None):
    """(b, vorticity, largest Courant number, steps, seconds) at t_end, or None on blow-up."""
    case_name, values = CASES[name]
    case = get_case(case_name)
    values = dict(values, nx=nx, nz=nz, save_every=values["t_end"])
    if Lx is not None:
        values["Lx"] = Lx
    params = case.make_params(**values)
    model = case.build(params)
    sim = Simulation(model, t_end=params.t_end, save_every=params.save_every, cfl=cfl)
    courants: list[float] = []
    sim.callbacks["courant"] = Callback(lambda sim: courants.append(sim.courant))
    start = time.perf_counter()
    try:
        sim.run()
    except BlowUpError:
        return None
    seconds = time.perf_counter() - start
    model.fill_all_ghosts()
    vorticity = sim.snapshot()["vorticity"].copy()
    return model.interior("b").copy(), vorticity, max(courants), model.iteration, seconds


def coarsened(a: np.ndarray) -> np.ndarray:
    return 0.25 * (a[::2, ::2] + a[1::2, ::2] + a[::2, 1::2] + a[1::2, 1::2])


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx", type=int, default=384)
    parser.add_argument("--nz", type=int, default=192)
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=DEFAULT_CASES)
    parser.add_argument("--cfl", type=float, nargs="+", default=[1.3, 2.0, 2.2, 2.4, 2.6, 2.8])
    parser.add_argument("--Re", type=float, default=1000.0, help="Reynolds number of both cases")
    parser.add_argument("--no-spatial", action="store_true", help="skip the 2x finer run")
    args = parser.parse_args()
    for name in DEFAULT_CASES:
        CASES[name][1]["Re"] = args.Re
    for name in args.cases:
        case_name, values = CASES[name]
        Lx = get_case(case_name).make_params(**dict(values, nx=args.nx, nz=args.nz)).Lx
        stochastic = name in STOCHASTIC
        reference = None if stochastic else final_state(name, args.nx, args.nz, 0.1, Lx)
        print(
            f"{name} {args.nx}x{args.nz} Re = {values['Re']:g} to t = {values['t_end']:g} "
            + ("(stability only)" if stochastic else "(reference: cfl 0.1)")
        )
        if not (args.no_spatial or stochastic):
            fine = final_state(name, 2 * args.nx, 2 * args.nz, 0.4, Lx)
            b_error = difference(reference[0], coarsened(fine[0]))
            vorticity_error = difference(reference[1], coarsened(fine[1]))
            print(
                f"  spatial error estimate (2x finer grid): b {b_error:.2e}  "
                f"vorticity {vorticity_error:.2e}"
            )
        for cfl in args.cfl:
            result = final_state(name, args.nx, args.nz, cfl, Lx)
            if result is None:
                print(f"  cfl {cfl:4.2f}: blew up")
                continue
            b, vorticity, courant, steps, seconds = result
            line = f"  cfl {cfl:4.2f}: {steps:5d} steps {seconds:6.1f} s  max Courant {courant:.3f}"
            if reference is not None:
                line += (
                    f"  difference from reference: b {difference(b, reference[0]):.2e}  "
                    f"vorticity {difference(vorticity, reference[1]):.2e}"
                )
            print(line, flush=True)


if __name__ == "__main__":
    main()
