"""Solver benchmark: the cost of a step and of a real run, in Poisson-solve costs.

Prints figures; asserts nothing (timings on shared machines are noisy).

    python benchmarks/bench_solver.py [--skip-runs]

The unit is the cost P of one Poisson solve by transforms (rfft in x and
DCT-II in z, forward and inverse, with the eigenvalue division: issue 11's
yardstick, written out below) at the same grid, timed in this process on one
thread; every figure is given in seconds and in P, so that it can be compared
across machines. billow's own solve (rfft in x and a tridiagonal solve in z) is
cheaper than P, and is timed too.

1. Parts of a step (shear_layer, upwind5, one thread) at 384x192 and 1024x512:
   the tendencies of all fields, a stage (tendencies, stage update and
   projection) and the whole step (RK53's 5 stages, the default with upwind5).
   Targets: tendencies <= 1 P, stage <= 2 P, step <= 2 P a stage.
2. Threads: each of those parts and the step on 1 and 2 threads (numba and the
   transforms), the two alternated, at both grids; target speed-up of the step
   >= 1.7 at 1024x512.
3. The headline: the default-case run 384x192 shear_layer to t = 30 with a
   snapshot every 0.1 (301 snapshots), on one thread, through the CLI (best
   of 2): wall time, the time loop's seconds (from log.txt: writers included,
   start-up excluded), steps, peak RSS (target <= 300 MB), and both per unit
   of simulated time in P (goal <= 200), and each run's CPU time (all threads:
   the snapshots are written on a second one). The same run in this process
   without writers, then with diagnostics, then through the runner with every
   writer (round by round, best of 3) splits its cost into stepping, diagnostics
   and output (goal: diagnostics and output <= 10 % of the stepping); and each part
   of the loop is timed inside runs too (stepping, diagnostics, snapshots, keeping the
   first stage of the steps that hold a snapshot time for its dense output,
   checkpoints, the rest), which a drift of the machine's speed between runs does not
   skew. With
   ``--baseline PATH/TO/billow [...]`` (other revisions' executables, e.g. from
   worktrees of older commits with their own venvs) the same CLI run is made
   with each in the same session, and the ratios printed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import scipy.fft
from processes import wait_measuring_peak

import billow
from billow.callbacks import Callback
from billow.cases import get_case
from billow.core.model import Model
from billow.io.checkpoint import Checkpointer
from billow.output_writers import DiagnosticsWriter, FieldsWriter
from billow.runner import run_case
from billow.schedules import AtEnd, IterationInterval
from billow.simulation import Simulation

BILLOW = Path(sys.executable).parent / "billow"
DEFAULT_RUN = dict(nx=384, nz=192, t_end=30.0, save_every=0.1)


def best_time(function, repeats: int) -> float:
    """Best of ``repeats`` timings of one call (seconds); the minimum filters out noise."""
    function()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def transform_poisson_solve(grid):
    """The unit's solve: phi = T^-1 [T f / (lambda_x + lambda_z)], T = rfft in x and
    DCT-II in z, on one thread (the wall-bounded 5-point Laplacian's eigenvalues, their
    inverses precomputed; billow's solve until it went tridiagonal in z)."""
    l, m = np.arange(grid.nx // 2 + 1), np.arange(grid.nz)
    eigenvalues = (-4.0 * np.sin(np.pi * m / (2 * grid.nz)) ** 2 / grid.dz**2)[:, None] - (
        4.0 * np.sin(np.pi * l / grid.nx) ** 2 / grid.dx**2
    )
    eigenvalues[0, 0] = np.inf  # the mean mode is set to zero
    inverse_eigenvalues = 1.0 / eigenvalues

    def solve(rhs: np.ndarray) -> np.ndarray:
        spectrum = scipy.fft.rfft(scipy.fft.dct(rhs, type=2, axis=0, workers=1), axis=1, workers=1)
        spectrum *= inverse_eigenvalues
        spectrum = scipy.fft.irfft(spectrum, n=grid.nx, axis=1, workers=1)
        return scipy.fft.idct(spectrum, type=2, axis=0, workers=1)

    return solve


def poisson_cost(model: billow.Model, repeats: int) -> float:
    """P: the cost of the unit's transform solve at the model's grid (seconds)."""
    rhs = np.random.default_rng(0).standard_normal((model.grid.nz, model.grid.nx))
    solve = transform_poisson_solve(model.grid)  # set-up outside the timing
    return best_time(lambda: solve(rhs), repeats)


def stage(model: billow.Model) -> None:
    model.compute_tendencies(model.time)
    model.stage_update(0.0, 1.0, 1e-9)
    model.project()


def step_parts(nx: int, nz: int, repeats: int) -> None:
    numba.set_num_threads(1)
    case = get_case("shear_layer")
    model = case.build(case.make_params(nx=nx, nz=nz, noise=1e-3))
    unit = poisson_cost(model, repeats)
    model.begin_step(1e-9)
    rhs = np.random.default_rng(0).standard_normal((nz, nx))
    stages = len(model.stepper.scheme.stages)
    step = f"step ({stages} stages)"
    parts = {
        "billow's Poisson solve": (lambda: model.poisson.solve(rhs), None),
        "tendencies (all fields)": (lambda: model.compute_tendencies(0.0), 1.0),
        "stage (+ update, projection)": (lambda: stage(model), 2.0),
        step: (lambda: model.step(1e-3), 2.0 * stages),
    }
    print(
        f"{nx} x {nz}, one thread: transform Poisson solve P = {unit * 1e3:.3f} ms; "
        f"billow's transforms: {model.poisson.description}"
    )
    best = {name: {1: np.inf, 2: np.inf} for name in parts}
    for _ in range(repeats):  # one and two threads in turn, so that drifts hit both
        for threads in (1, 2):
            numba.set_num_threads(threads)
            for name, (function, _) in parts.items():
                best[name][threads] = min(best[name][threads], best_time(function, 1))
    for name, (_, target) in parts.items():
        cost = best[name][1]
        goal = f" (target <= {target:g})" if target is not None else ""
        print(f"  {name:30s} {cost * 1e3:8.3f} ms = {cost / unit:5.2f} P{goal}")
    print("  on 1 / 2 threads (best of each, the two alternated):")
    for name in parts:
        one, two = best[name][1], best[name][2]
        print(f"    {name:28s} {one * 1e3:8.3f} / {two * 1e3:8.3f} ms, speed-up {one / two:.2f}")
    one, two = best[step][1], best[step][2]
    print(f"  steps/s on 1 / 2 threads: {1 / one:.0f} / {1 / two:.0f}")
    numba.set_num_threads(1)


def timed_command(
    arguments: list[str], environment: dict, executable: Path = BILLOW
) -> tuple[float, float, float]:
    """Run ``billow ARGUMENTS`` (stdout discarded); (wall seconds, CPU seconds: user and
    system of all its threads, peak RSS in MB)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(executable), *arguments], stdout=subprocess.DEVNULL, env=environment
    )
    status, usage, peak = wait_measuring_peak(process.pid, 0.01)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"billow {' '.join(arguments)} failed")
    return wall, usage.ru_utime + usage.ru_stime, peak


def in_process(diagnostics: bool) -> tuple[float, int]:
    """(seconds, steps) of the default run stepped in this process without writers."""
    case = get_case("shear_layer")
    params = case.make_params(**DEFAULT_RUN)
    model = case.build(params)
    simulation = Simulation(model, t_end=params.t_end, save_every=params.save_every, cfl=params.cfl)
    if diagnostics:  # as a run writes them: most every step, the tracers' every N steps
        simulation.callbacks["diagnostics"] = Callback(lambda sim: sim.evaluate_diagnostics(True))
        simulation.callbacks["tracer_diagnostics"] = Callback(
            lambda sim: sim.evaluate_diagnostics(False),
            IterationInterval(params.diagnostics_every) | AtEnd(stops=False),
        )
    start = time.perf_counter()
    simulation.run()
    return time.perf_counter() - start, model.iteration


def with_writers(out: Path) -> float:
    """Seconds of the time loop of the default run through billow's runner in this process
    (all writers; from log.txt, so set-up is excluded); the run directory is removed."""
    case = get_case("shear_layer")
    run_case("shear_layer", case.make_params(**DEFAULT_RUN), out, overwrite=True)
    seconds = loop_seconds(out)
    shutil.rmtree(out)
    return seconds


# what the time loop calls, timed inside one run: (class, method, part); and Model.step
TIMED_IN_THE_RUN = (
    (Simulation, "_remember_stable_dt", "stepping"),  # the controller's dt
    (DiagnosticsWriter, "write", "diagnostics"),
    (FieldsWriter, "write_at", "snapshots"),
    (Checkpointer, "write", "checkpoints"),
)


def first_stage_cost(repeats: int = 150) -> float:
    """Seconds that a step of the default case at 384x192 takes more when it keeps its
    first stage for dense output than when it does not: the median difference of steps
    made alternately both ways in this process."""
    case = get_case("shear_layer")
    model = case.build(case.make_params(**DEFAULT_RUN))
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(repeats + 5):
        for keep in (True, False):
            start = time.perf_counter()
            model.step(0.02, keep_first_stage=keep)
            times[keep].append(time.perf_counter() - start)
    return float(np.median(times[True][5:]) - np.median(times[False][5:]))


def split_of_one_run(out: Path) -> dict[str, float]:
    """Seconds of each part of the default run's time loop (``TIMED_IN_THE_RUN``, and
    "loop", the whole of it, from log.txt), timed inside one run through billow's runner
    in this process: unlike differences between runs, a drift of the machine's speed
    hits every part alike. What the writer thread costs the stepping meanwhile is in
    "stepping". So is keeping the first stage of the steps that hold a snapshot time,
    for its dense output: that is moved to "keeping q1", its cost by
    :func:`first_stage_cost` times the steps that kept it. (The mean times of the steps
    that keep it and of those that do not are no measure of it: the steps after a
    snapshot, which the writer thread writes meanwhile, are of the second kind.)"""
    seconds = dict.fromkeys([part for _, _, part in TIMED_IN_THE_RUN], 0.0)
    kept = 0

    def timed(method, part):
        def call(*arguments, **keywords):
            start = time.perf_counter()
            try:
                return method(*arguments, **keywords)
            finally:
                seconds[part] += time.perf_counter() - start

        return call

    def counted(model, dt, keep_first_stage=False):
        nonlocal kept
        kept += keep_first_stage
        return step(model, dt, keep_first_stage)

    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in TIMED_IN_THE_RUN]
    for (owner, name, method), (_, _, part) in zip(originals, TIMED_IN_THE_RUN, strict=True):
        setattr(owner, name, timed(method, part))
    step = Model.step
    Model.step = timed(counted, "stepping")
    try:
        seconds["loop"] = with_writers(out)
    finally:
        Model.step = step
        for owner, name, method in originals:
            setattr(owner, name, method)
    seconds["keeping q1"] = first_stage_cost() * kept
    seconds["stepping"] -= seconds["keeping q1"]
    return seconds


def loop_seconds(run_dir: Path) -> float:
    """Seconds of the time loop (writers included, start-up excluded) from log.txt."""
    log = (run_dir / "log.txt").read_text()
    return float(re.findall(r"steps to t = \S+ in (\S+) s", log)[-1])


def cli_run(out: Path, executable: Path) -> dict[str, float]:
    """The default run through ``executable``: wall, CPU and loop seconds, peak RSS (MB), steps.

    The run directory is removed afterwards: its 0.9 GB would otherwise stay in the page
    cache, being written back, while the next runs write theirs (on this project's virtual
    machine that made later runs' output several times dearer). The linear-theory cache
    is the benchmark's own (beside ``out``): the first round fills it, as a user's first
    run would, and later rounds find the default Lx there."""
    environment = {
        **os.environ,
        "NUMBA_NUM_THREADS": "1",
        "BILLOW_CACHE_DIR": str(out.with_name("linear-theory-cache")),
    }
    settings = [f"--set={key}={value}" for key, value in DEFAULT_RUN.items()]
    arguments = ["run", "shear_layer", *settings, "--out", str(out), "--quiet", "--overwrite"]
    wall, cpu, peak = timed_command(arguments, environment, executable)
    with billow.open_run(out, "diagnostics") as series:
        steps = series.sizes["time"] - 1
    run = dict(wall=wall, cpu=cpu, peak=peak, loop=loop_seconds(out), steps=steps)
    shutil.rmtree(out)
    return run


def default_run(out: Path, baselines: list[Path], repeats: int = 2) -> None:
    numba.set_num_threads(1)
    case = get_case("shear_layer")
    unit = poisson_cost(case.build(case.make_params(nx=384, nz=192)), 50)
    t_end = DEFAULT_RUN["t_end"]
    print(
        f"default run: 384 x 192 shear_layer to t = {t_end:g}, 301 snapshots, one thread "
        f"(P = {unit * 1e3:.3f} ms), best of {repeats} through the CLI, the revisions in turn"
    )
    executables = {"this revision": BILLOW, **{str(b): b for b in baselines}}
    runs: dict[str, dict[str, float]] = {}
    for _ in range(repeats):  # round by round, so that every revision sees the same machine
        for name, executable in executables.items():
            run = cli_run(out, executable)
            if name not in runs or run["wall"] < runs[name]["wall"]:
                runs[name] = run
    this = runs["this revision"]
    for name, run in runs.items():
        print(
            f"  {name}: {run['wall']:.1f} s wall ({run['cpu']:.1f} s CPU; start-up and output "
            f"included), time loop "
            f"{run['loop']:.1f} s, {run['steps']} steps, peak RSS {run['peak']:.0f} MB (target "
            f"<= 300); per unit of simulated time: wall {run['wall'] / t_end / unit:.0f} P, "
            f"time loop {run['loop'] / t_end / unit:.0f} P (goal <= 200)"
        )
        if run is not this:
            print(
                f"    this revision is {run['wall'] / this['wall']:.2f}x faster (wall), "
                f"{run['loop'] / this['loop']:.2f}x (time loop)"
            )
    # bare, with diagnostics, with every writer: round by round, like the CLI runs
    rounds = [
        (in_process(False), in_process(True)[0], with_writers(out.with_name("in_process")))
        for _ in range(repeats + 1)
    ]
    bare, bare_steps = min(bare for bare, _, _ in rounds)
    diagnostics = min(with_diagnostics for _, with_diagnostics, _ in rounds) - bare
    output = min(loop for _, _, loop in rounds) - bare - diagnostics
    print(
        f"  in process, best of {repeats + 1} rounds: stepping {bare:.2f} s "
        f"({bare / bare_steps * 1e3:.2f} ms a step = {bare / bare_steps / unit:.1f} P), "
        f"diagnostics +{diagnostics:.2f} s ({diagnostics / bare:.1%}), snapshots, log and "
        f"checkpoints +{output:.2f} s ({output / bare:.1%} of the stepping; the snapshots "
        "are written on a thread)"
    )
    for _ in range(repeats):
        split = split_of_one_run(out.with_name("in_process"))
        stepping, loop = split.pop("stepping"), split.pop("loop")
        writers = sum(split.values())
        rest = loop - stepping - writers
        parts = ", ".join(f"{part} {t:.2f} s ({t / stepping:.1%})" for part, t in split.items())
        print(
            f"  timed inside one run: stepping {stepping:.2f} s; {parts}: diagnostics and "
            f"output {writers / stepping:.1%} of the stepping (goal <= 10 %); the rest of "
            f"the loop (callbacks, schedules) {rest:.2f} s ({rest / stepping:.1%})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-runs", action="store_true", help="only the per-step costs")
    parser.add_argument(
        "--baseline", type=Path, nargs="*", default=[], help="other revisions' billow executables"
    )
    args = parser.parse_args()
    step_parts(384, 192, repeats=30)
    step_parts(1024, 512, repeats=8)
    if not args.skip_runs:
        out = Path(tempfile.mkdtemp(prefix="billow-bench-"))
        try:
            default_run(out / "default", args.baseline)
        finally:
            shutil.rmtree(out)


if __name__ == "__main__":
    main()
