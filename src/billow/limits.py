"""Limits checked before a run creates anything: memory, snapshot count, output size.

:func:`estimate_run` sizes a run from its parameters alone, without allocating anything
in proportion to the grid, the snapshot count or the step count:

- memory: MEMORY_BASE for the interpreter, numba and the linear-stability solve, plus
  MEMORY_PER_CELL bytes per grid cell (the prognostic fields with ghost cells, the
  Runge-Kutta stage copies and tendencies, the transforms of the Poisson solver and the
  snapshot work arrays: about 200 bytes a cell measured at 4096 x 2048), the
  snapshots and the copy of the state of a checkpoint in flight to the writer thread
  (``output_writers.WriterThread``), plus 8 bytes per snapshot time;
- snapshots: floor(t_end / save_every) + 2 (t = 0, every save_every, and t_end);
- steps: at least t_end / dt_max, since every step is no longer than
  dt_max = min(cfl min(dx, dz), the time stepper's diffusive limit) (see
  ``Simulation.stable_dt``);
  snapshots inside a step are filled in by dense output, so they add no steps;
- output: the snapshots of FIELDS_PER_SNAPSHOT fields, SCALARS_PER_STEP scalars a
  step (diagnostics.nc) and TRACER_SCALARS every ``diagnostics_every`` steps
  (tracer_diagnostics.nc), in float64.

:func:`check_limits` refuses, in one line giving the estimate, a run needing more
memory than the machine has, or writing more than OUTPUT_LIMIT or the free space
of the target's file system; ``force`` skips the check.
"""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .config import RunParams
from .core.schemes import SCHEMES
from .core.timestepping import RK_SCHEMES, diffusive_dt
from .errors import ConfigError
from .output_writers import SNAPSHOT_BUFFERS

MEMORY_BASE = 400 * 2**20
FIELDS_PER_SNAPSHOT = 6  # u, w, b, dye, vorticity and a spanwise velocity or tracer
MEMORY_PER_CELL = 256 + 8 * FIELDS_PER_SNAPSHOT * (SNAPSHOT_BUFFERS + 1)
SCALARS_PER_STEP = 11  # time, dt, cfl and at most 8 diagnostics (the forced case's)
TRACER_SCALARS = 2  # the dye's integral and entropy
OUTPUT_LIMIT = 100 * 2**30  # bytes a run may write without --force


@dataclass(frozen=True)
class RunEstimate:
    memory: float  # bytes
    snapshots: float
    steps: float  # a lower bound
    output: float  # bytes


def estimate_run(params: RunParams) -> RunEstimate:
    """Memory, snapshot count, step count (at least) and output size of a run."""
    cells = float(params.nx) * float(params.nz)
    snapshots = math.floor(params.t_end / params.save_every) + 2.0
    lx = params.Lx if params.Lx is not None else math.inf
    dx, dz = lx / params.nx, params.Lz / params.nz
    diffusivity = max(1.0, 1.0 / getattr(params, "Pr", 1.0), 1.0 / params.Sc) / params.Re
    time_stepper = RK_SCHEMES[SCHEMES[params.advection].time_stepper]
    dt_max = min(params.cfl * min(dx, dz), diffusive_dt(diffusivity, dx, dz, time_stepper))
    steps = math.ceil(params.t_end / dt_max) if dt_max > 0 else math.inf
    memory = MEMORY_BASE + MEMORY_PER_CELL * cells + 8.0 * snapshots
    scalars = (SCALARS_PER_STEP + TRACER_SCALARS / params.diagnostics_every) * steps
    output = 8.0 * (FIELDS_PER_SNAPSHOT * cells * snapshots + scalars)
    return RunEstimate(memory, snapshots, float(steps), output)


def machine_memory() -> float:
    """Physical memory of this machine in bytes (inf where unknown)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def free_disk(path: Path) -> float:
    """Free bytes on the file system that holds ``path`` (or would hold it)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return float(shutil.disk_usage(path).free)
    except OSError:
        return math.inf


def format_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.3g} {unit}"
        size /= 1024
    return f"{size:.3g} PiB"


def check_limits(params: RunParams, out: str | Path | None = None, *, force: bool = False) -> None:
    """Refuse (ConfigError, one line with the estimate) a run that cannot fit in this
    machine's memory, or that would write more than OUTPUT_LIMIT or than the free space
    where ``out`` lies; ``force`` skips the check."""
    if force:
        return
    estimate = estimate_run(params)
    grid = f"{params.nx} x {params.nz} cells"
    hint = "use --force to run it anyway"
    memory = machine_memory()
    if estimate.memory > memory:
        raise ConfigError(
            f"this run needs about {format_bytes(estimate.memory)} of memory ({grid}, "
            f"{estimate.snapshots:.3g} snapshots), more than this machine's "
            f"{format_bytes(memory)}; {hint}"
        )
    what = (
        f"{estimate.snapshots:.3g} snapshots of {grid} and at least {estimate.steps:.3g} "
        "steps of diagnostics"
    )
    if estimate.output > OUTPUT_LIMIT:
        raise ConfigError(
            f"this run would write about {format_bytes(estimate.output)} ({what}), more than "
            f"the limit of {format_bytes(OUTPUT_LIMIT)}; raise save_every, or {hint}"
        )
    if out is not None and estimate.output > (space := free_disk(Path(out))):
        raise ConfigError(
            f"this run would write about {format_bytes(estimate.output)} ({what}), more than "
            f"the {format_bytes(space)} free where '{out}' lies; {hint}"
        )
