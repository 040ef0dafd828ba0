"""billow side by side with its peers, kh2d-solver and FluidSim, measured in one session.

Prints figures; asserts nothing. Timings on shared machines are noisy: beside each
process's wall time stand its CPU seconds and the mean 1-minute load average while it
ran; a wall-time ratio is fair only where those loads were alike (the CPU-time ratio,
also printed, suffers less from other jobs). Run by `make bench-peers`:

    python benchmarks/bench_peers.py [--quick] [--peers-dir DIR] [--skip kh2d|fluidsim]

The peers are installed from PyPI, each into its own virtual environment under
--peers-dir (default ${XDG_CACHE_HOME:-~/.cache}/billow-bench-peers/{kh2d,fluidsim}),
once: a stamp file records the requirement installed and the environment is reused
while it matches. A peer that cannot be installed or fails to run is reported in one
line and the rest goes on. Every process, billow's included, runs on one thread
(NUMBA_NUM_THREADS = OMP/OPENBLAS/MKL_NUM_THREADS = 1, and kh2d-solver's n_cores = 1),
in a temporary directory removed afterwards, under a timeout; its wall time and CPU
time come from os.wait4, the peak RSS from the process's own VmHWM (sampled every
0.1 s; os.wait4's ru_maxrss would include this script's RSS at fork).

(a) kh2d-solver's own "forced" run: examples/kh2d_configs/forced.txt (a copy of its
    shipped config: 384 x 192, t_final = 30 box units, 300 snapshots, its GIF on) with
    `n_cores = 1` added; the same file goes to `kh2d-simulate --config` and to
    `billow run --from-kh2d` (same grid, same duration = 600 d/U0, same 300 snapshots,
    the same fields: u, w, the density as billow's b, no dye; billow's units, mapping:
    src/billow/compat/kh2d.py), and then `billow movie` renders the result (MP4 and
    GIF). kh2d-solver writes its snapshots in single precision, billow in double.
    Numba caches of both are warmed first by a tiny run. billow's run and movie are made
    twice, just before kh2d-solver's run and just after it, so that a drift of the
    machine's speed during the peer's twelve minutes weighs on both sides alike; billow's
    side is the mean of its two rounds, and the ratios to each round are printed too.
    - wall-time ratio: kh2d-simulate's process against `billow run` + `billow movie`
      (goal >= 10x, moonshot 20x);
    - stepping-only ratio: kh2d-simulate's process less its own "create_animation"
      section (it times its sections and prints them; the rest is start-up, initial
      condition, time loop, netCDF) against the `billow run` process (start-up, time
      loop, diagnostics, netCDF snapshots and checkpoints; no movie). Also the time
      loops alone: kh2d's "simulation" section against the loop time billow logs;
    - steps: kh2d-solver's fixed-dt count (its tqdm bar, int(t_final/dt)) against the
      steps billow logs.
(b) FluidSim's ns2d.strat against billow's `kolmogorov` case on the same doubly periodic
    512 x 256 grid: the stratified Kolmogorov flow of benchmarks/peers/kolmogorov_common.py
    (box 4 pi x 2 pi, nu = kappa = 1/Re with Re = 400, N^2 = 1, force F0 sin(4 z) x_hat
    with F0 = 0.04 so that the laminar velocity is 1), both from the same streamfunction
    (laminar profile plus five large-scale modes; each code samples it on its own grid),
    both for the same simulated time (60; it turns turbulent near t = 10-20). Units
    match one to one: billow's kolmogorov case is nondimensional with nu = 1/Re, b the
    buoyancy and N2 its background gradient; FluidSim takes params.nu_2 = 1/Re (it also
    diffuses b with nu_2, so Pr = 1 as billow's default), params.N = sqrt(N2), its
    "kolmogorov_flow" forcing on ux with kolmo.ik = 4 (wavelengths in Ly) and
    kolmo.amplitude = F0, Lx, Ly = the same box (its y is billow's z). What differs:
    FluidSim is pseudo-spectral (vorticity and b, 2/3 dealiasing, viscosity integrated
    exactly, RK4 = 4 tendencies per step, its default CFL 1.0 on
    max|ux|/dx + max|uy|/dy, dt <= 0.2), billow is finite-volume upwind5 on a C-grid
    (u, w, b; RK53 = 5 tendencies and 5 FFT Poisson projections per step, its
    default cfl 2.4 on the same rate, taken at least 1/min(dx, dz)). The same grid
    resolves more with the spectral method; the final kinetic energies are printed as a
    check that both ran a comparable flow, not that they agree. Both time loops run in
    their own process, set-up excluded: billow's evaluates its per-step diagnostics and
    takes 10 snapshots in memory as a run does, FluidSim prints its energies 10 times;
    neither writes files. Printed: steps/s, wall seconds per unit of simulated time
    (the loop's wall time over the simulated time reached; FluidSim overshoots t_end by
    part of a step) and their ratio (goal: FluidSim / billow >= 2).

--quick shortens everything for a smoke test (kh2d t_final = 1 with 10 snapshots, the
Kolmogorov flow to t = 2); the default is the issue's configuration (13-20 minutes on
this project's 2-core machines, with billow's side of (a) made twice).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from processes import wait_measuring_peak

from billow._process import MMAP_THRESHOLD, TRIM_THRESHOLD

ROOT = Path(__file__).resolve().parents[1]
PEERS = Path(__file__).resolve().parent / "peers"
KH2D_FORCED = ROOT / "examples" / "kh2d_configs" / "forced.txt"
BILLOW = Path(sys.executable).parent / "billow"
KH2D_REQUIREMENT = "kh2d-solver==0.1.6"  # the version the forced.txt copy and the mapping are of
FLUIDSIM_REQUIREMENT = "fluidsim[fft]==26.10.0"  # [fft]: fluidfft and pyfftw
INSTALL_TIMEOUT = 1800.0
RUN_TIMEOUT = 3600.0
ONE_THREAD = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}
# every process, peers included, gets the glibc allocator settings billow makes for itself
# (billow._process: freed blocks kept for reuse instead of faulted in again every step), so
# that no side gains from the allocator alone; billow keeps a setting found in the environment
ALLOCATOR = {
    "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD),
    "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD),
}


class PeerUnavailable(Exception):
    """A peer could not be installed or failed to run: reported in one line."""


@dataclass
class Process:
    wall: float  # seconds
    cpu: float  # user + system seconds
    peak_mb: float  # peak RSS
    load: float  # mean of the 1-minute load average sampled while it ran
    stdout: str
    stderr: str


def default_peers_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "billow-bench-peers"


def load() -> str:
    return "{:.1f}".format(os.getloadavg()[0])


def run_process(
    arguments: list[str], *, cwd: Path, env: dict | None = None, timeout: float = RUN_TIMEOUT
) -> Process:
    """Run a command (its own session, so that a timeout ends all it started); stdout and
    stderr go to files in ``cwd``. Raises PeerUnavailable on failure or timeout."""
    environment = {**os.environ, **ONE_THREAD, **ALLOCATOR, **(env or {})}
    out_path, err_path = cwd / ".stdout", cwd / ".stderr"
    with open(out_path, "w") as stdout, open(err_path, "w") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(
            arguments,
            cwd=cwd,
            env=environment,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        loads = [os.getloadavg()[0]]

        def while_running() -> None:
            if time.perf_counter() - start > len(loads):  # about once a second
                loads.append(os.getloadavg()[0])
            if time.perf_counter() - start > timeout:
                os.killpg(process.pid, signal.SIGKILL)
                os.wait4(process.pid, 0)
                raise PeerUnavailable(f"timed out after {timeout:.0f} s: {' '.join(arguments)}")

        status, usage, peak = wait_measuring_peak(process.pid, 0.1, while_running)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    result = Process(
        wall,
        usage.ru_utime + usage.ru_stime,
        peak,
        sum(loads) / len(loads),
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
    )
    if process.returncode != 0:
        tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or [""]
        raise PeerUnavailable(
            f"{Path(arguments[0]).name} exited with {process.returncode}: {tail[0][:200]}"
        )
    return result


def ensure_venv(directory: Path, requirement: str) -> Path:
    """The Python of a virtual environment with ``requirement`` installed (created once;
    reinstalled only when the requirement changes). Raises PeerUnavailable."""
    python = directory / "bin" / "python"
    stamp = directory / ".bench-peers-installed"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == requirement:
        return python
    print(f"installing {requirement} into {directory} ...", flush=True)
    if stamp.exists():
        stamp.unlink()
    directory.parent.mkdir(parents=True, exist_ok=True)
    log = directory.parent / f"{directory.name}-install.log"
    base = getattr(sys, "_base_executable", None) or sys.executable
    steps = [
        [base, "-m", "venv", str(directory)],
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [str(python), "-m", "pip", "install", requirement],
    ]
    with open(log, "w") as output:
        for step in steps:
            try:
                done = subprocess.run(
                    step,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    timeout=INSTALL_TIMEOUT,
                    stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired:
                raise PeerUnavailable(f"installing {requirement} timed out (log: {log})")
            if done.returncode != 0:
                raise PeerUnavailable(f"cannot install {requirement} (log: {log})")
    stamp.write_text(requirement + "\n")
    return python


# ---------------------------------------------------------------------------------------
# (a) kh2d-solver's forced run


def kh2d_config(path: Path, **overrides: str) -> Path:
    """forced.txt with n_cores = 1 and ``overrides`` (key = value lines replaced)."""
    extra = {"n_cores": "1", **overrides}
    lines = [
        line
        for line in KH2D_FORCED.read_text().splitlines()
        if line.lstrip().startswith("#") or line.split("=", 1)[0].strip() not in extra
    ]
    lines += [f"{key} = {value}" for key, value in extra.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def kh2d_sections(stdout: str) -> dict[str, float]:
    """kh2d-simulate's own "Timing Breakdown" (seconds by section, and TOTAL TIME)."""
    sections = {}
    breakdown = stdout.split("Timing Breakdown:")[-1] if "Timing Breakdown:" in stdout else ""
    for name, value in re.findall(r"^\s+([A-Za-z_ ]+?)\s*:\s+([0-9.]+) s\s*$", breakdown, re.M):
        sections[name.strip()] = float(value)
    return sections


def kh2d_steps(stderr: str) -> int | None:
    """Steps from kh2d-solver's tqdm bar ("n/total")."""
    counts = re.findall(r"(\d+)/(\d+) \[", stderr)
    return int(counts[-1][0]) if counts else None


def billow_log(run_dir: Path) -> tuple[int, float]:
    """(steps, loop seconds) from the "finished N steps ... in S s" line of log.txt."""
    found = re.findall(
        r"finished (\d+) steps to t = \S+ in ([0-9.]+) s", (run_dir / "log.txt").read_text()
    )
    if not found:
        raise PeerUnavailable(f"no 'finished' line in {run_dir / 'log.txt'}")
    return int(found[-1][0]), float(found[-1][1])


def warm_kh2d(kh2d: Path, work: Path) -> None:
    """A 32 x 16 run without output: its numba kernels compiled into their cache."""
    kh2d_config(
        work / "warm.txt",
        nx="32",
        nz="16",
        t_final="0.05",
        n_snapshots="2",
        save_netcdf="false",
        save_animation="false",
    )
    run_process(
        [str(kh2d), "--config", "warm.txt", "--output-dir", "warm", "--cores", "1"], cwd=work
    )


def warm_billow(work: Path) -> None:
    run_process(
        [
            str(BILLOW),
            "run",
            "forced",
            "--set=nx=32",
            "--set=nz=16",
            "--set=t_end=0.5",
            "--out",
            str(work / "warm_billow"),
            "--quiet",
        ],
        cwd=work,
    )


@dataclass
class BillowWorkflow:
    """One round of billow's side of (a): its run and its movie."""

    run: Process
    movie: Process
    steps: int
    loop: float  # the time loop's seconds, from log.txt

    @property
    def wall(self) -> float:
        return self.run.wall + self.movie.wall

    @property
    def cpu(self) -> float:
        return self.run.cpu + self.movie.cpu


def billow_workflow(config: Path, work: Path) -> BillowWorkflow:
    """`billow run --from-kh2d config` and `billow movie` of it, in ``work``; the run
    directory is removed afterwards (its snapshots would otherwise stay in the page cache,
    being written back, during the next process)."""
    run_dir = work / "billow_forced"
    run = run_process(
        [str(BILLOW), "run", "--from-kh2d", str(config), "--out", str(run_dir), "--quiet"],
        cwd=work,
    )
    movie = run_process([str(BILLOW), "movie", str(run_dir)], cwd=work)
    steps, loop = billow_log(run_dir)
    shutil.rmtree(run_dir)
    return BillowWorkflow(run, movie, steps, loop)


def bench_kh2d(python: Path, quick: bool) -> None:
    kh2d = python.parent / "kh2d-simulate"
    with tempfile.TemporaryDirectory(prefix="billow-peers-kh2d-") as name:
        work = Path(name)
        config = kh2d_config(
            work / "forced.txt", **({"t_final": "1.0", "n_snapshots": "10"} if quick else {})
        )
        warm_kh2d(kh2d, work)
        warm_billow(work)

        before = billow_workflow(config, work)
        peer = run_process(
            [str(kh2d), "--config", str(config), "--output-dir", "out", "--cores", "1"], cwd=work
        )
        sections = kh2d_sections(peer.stdout)
        steps_peer = kh2d_steps(peer.stderr)
        after = billow_workflow(config, work)
    rounds = (before, after)

    t_final = 1.0 if quick else 30.0
    animation = sections.get("create_animation")
    print(
        f"(a) kh2d-solver's forced config, 384 x 192, t_final = {t_final:g} box units "
        f"(= {t_final * 20:g} d/U0), one thread; billow just before kh2d-solver and just "
        "after it"
    )
    print(
        f"  kh2d-solver {KH2D_REQUIREMENT.split('==')[1]}: {peer.wall:8.1f} s wall "
        f"({peer.cpu:.1f} s CPU, load {peer.load:.1f}), peak RSS {peer.peak_mb:.0f} MB, "
        f"{steps_peer if steps_peer is not None else '?'} steps; its sections: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in sections.items())
    )
    for when, ours in zip(("before", "after"), rounds, strict=True):
        print(
            f"  billow {when + ':':7} run {ours.run.wall:6.1f} s wall ({ours.run.cpu:.1f} s "
            f"CPU, load {ours.run.load:.1f}), peak RSS {ours.run.peak_mb:.0f} MB, "
            f"{ours.steps} steps (time loop {ours.loop:.1f} s); movie {ours.movie.wall:.1f} s "
            f"wall ({ours.movie.cpu:.1f} s CPU), peak RSS {ours.movie.peak_mb:.0f} MB "
            "(MP4 + GIF)"
        )
    total_ours = mean([ours.wall for ours in rounds])
    print(
        f"  wall-time ratio (kh2d-simulate / billow run + movie, the mean of its rounds): "
        f"{peer.wall:.1f} / {total_ours:.1f} = {peer.wall / total_ours:.2f}x (goal >= 10x; "
        f"against each round {peer.wall / before.wall:.2f}x and {peer.wall / after.wall:.2f}x); "
        f"by CPU time {peer.cpu / mean([ours.cpu for ours in rounds]):.2f}x"
    )
    run_ours = mean([ours.run.wall for ours in rounds])
    if animation is None:
        print("  stepping-only ratio: kh2d-solver printed no create_animation section")
    else:
        stepping_peer = peer.wall - animation
        print(
            f"  stepping-only ratio (kh2d-simulate less its animation / billow run): "
            f"{stepping_peer:.1f} / {run_ours:.1f} = {stepping_peer / run_ours:.2f}x"
        )
    if "simulation" in sections:
        loop_ours = mean([ours.loop for ours in rounds])
        print(
            f"  time loops alone (kh2d 'simulation' section / billow's logged loop): "
            f"{sections['simulation']:.1f} / {loop_ours:.1f} = "
            f"{sections['simulation'] / loop_ours:.2f}x"
        )
    if steps_peer:
        print(f"  steps: kh2d-solver {steps_peer}, billow {before.steps}")


# ---------------------------------------------------------------------------------------
# (b) FluidSim ns2d.strat against billow's kolmogorov case


def driver_result(process: Process, name: str) -> dict:
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise PeerUnavailable(f"{name} printed no RESULT line")
    return json.loads(lines[-1][len("RESULT ") :])


def bench_fluidsim(python: Path | None, quick: bool) -> None:
    sys.path.insert(0, str(PEERS))
    import kolmogorov_common as common

    duration = common.QUICK_DURATION if quick else common.DURATION
    print(
        f"(b) stratified Kolmogorov flow, {common.NX} x {common.NZ} doubly periodic, "
        f"box {common.LX:.4g} x {common.LZ:.4g}, Re = {common.RE:g}, N^2 = {common.N2:g}, "
        f"F0 = {common.F0:g} (n = {common.N_FORCE}), to t = {duration:g}, one thread"
    )
    results = {}
    with tempfile.TemporaryDirectory(prefix="billow-peers-kolmogorov-") as name:
        work = Path(name)
        runs = [("billow", Path(sys.executable), "billow_kolmogorov.py", {})]
        if python is not None:
            scratch = {
                "FLUIDSIM_PATH": str(work / "sim"),
                "FLUIDDYN_PATH_SCRATCH": str(work / "scratch"),
            }
            runs.insert(0, ("FluidSim", python, "fluidsim_kolmogorov.py", scratch))
        for label, interpreter, script, env in runs:
            try:
                process = run_process(
                    [str(interpreter), str(PEERS / script), repr(duration)], cwd=work, env=env
                )
                result = driver_result(process, label)
            except PeerUnavailable as error:
                print(f"  {label}: failed to run ({error}); skipped")
                continue
            results[label] = result
            per_unit = result["loop_wall"] / result["time"]
            print(
                f"  {label:8s} {result['version']:>8s}: {result['steps']:6d} steps to "
                f"t = {result['time']:.3f} in {result['loop_wall']:7.1f} s "
                f"({result['loop_cpu']:.1f} s CPU): {result['steps'] / result['loop_wall']:6.1f} "
                f"steps/s, {1e3 * result['loop_wall'] / result['steps']:6.1f} ms/step, "
                f"{result['steps'] / result['time']:5.1f} steps per unit time, "
                f"{per_unit:6.3f} s per unit of simulated time "
                f"({result['loop_cpu'] / result['time']:.3f} s CPU); process {process.wall:.1f} s, "
                f"peak RSS {process.peak_mb:.0f} MB; final KE {result['ke']:.4f}, "
                f"max|u| {result['max_u']:.3f}; load {process.load:.1f}"
            )
    if "billow" in results and "FluidSim" in results:
        ours, peer = results["billow"], results["FluidSim"]
        wall = (peer["loop_wall"] / peer["time"]) / (ours["loop_wall"] / ours["time"])
        cpu = (peer["loop_cpu"] / peer["time"]) / (ours["loop_cpu"] / ours["time"])
        print(
            f"  cost per unit of simulated time, FluidSim / billow: {wall:.2f}x wall, "
            f"{cpu:.2f}x CPU (goal >= 2x); steps/s billow / FluidSim "
            f"{(ours['steps'] / ours['loop_wall']) / (peer['steps'] / peer['loop_wall']):.2f}x"
        )


# ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs for a smoke test")
    parser.add_argument(
        "--peers-dir",
        type=Path,
        default=default_peers_dir(),
        help="where the peers' virtual environments live",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["kh2d", "fluidsim"],
        help="leave a comparison out (repeatable)",
    )
    args = parser.parse_args()
    print(
        f"bench-peers{' --quick' if args.quick else ''}: {os.cpu_count()} cores, "
        f"load average {load()}, peers in {args.peers_dir}"
    )
    start = time.perf_counter()
    if "kh2d" not in args.skip:
        try:
            python = ensure_venv(args.peers_dir / "kh2d", KH2D_REQUIREMENT)
            bench_kh2d(python, args.quick)
        except PeerUnavailable as error:
            print(f"(a) kh2d-solver comparison skipped: {error}")
    if "fluidsim" not in args.skip:
        try:
            python = ensure_venv(args.peers_dir / "fluidsim", FLUIDSIM_REQUIREMENT)
        except PeerUnavailable as error:
            print(f"(b) FluidSim unavailable: {error}; billow's side only")
            python = None
        bench_fluidsim(python, args.quick)
    print(f"bench-peers done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
