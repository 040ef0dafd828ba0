"""Run a named case into a run directory; the Python API behind ``billow run``."""

from __future__ import annotations

import signal
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ._version import __version__
from .cases import get_case
from .config import RunParams, attribute_value, config_toml, read_config
from .core.model import Model
from .errors import BillowError, ConfigError
from .io.atomic import write_text_atomically
from .io.checkpoint import Checkpoint, latest_checkpoint, read_checkpoint, restore, write_checkpoint
from .io.lock import lock_directory
from .io.netcdf import diagnostics_series, fields_series, has_records
from .io.rundir import check_writable, claim_run_directory, close_logger, open_run, run_logger
from .limits import check_limits
from .progress import progress_display
from .simulation import TIME_EPSILON, Simulation

if TYPE_CHECKING:
    import xarray as xr

CHECKPOINT_WALL_INTERVAL = 120.0  # seconds of wall clock between checkpoints, at the latest
DIAGNOSTICS_BUFFER = 200  # records of scalar diagnostics held before they are appended

FIELD_LONG_NAMES = {
    "u": "horizontal velocity (units of U0)",
    "w": "vertical velocity (units of U0)",
    "v": "spanwise velocity (units of U0)",
    "b": "buoyancy (units of U0^2/d)",
    "vorticity": "spanwise vorticity du/dz - dw/dx (units of U0/d)",
    "c": "dye concentration",
}


def output_attributes(case: str, params: RunParams) -> dict:
    """Global attributes of every output file: every parameter, plus provenance."""

    attrs = {"title": f"billow {case} run", "source": f"billow {__version__}", "case": case}
    attrs.update({key: attribute_value(value) for key, value in params.model_dump().items()})
    return attrs


def run_case(
    case: str,
    params: RunParams,
    out: str | Path,
    *,
    overwrite: bool = False,
    force: bool = False,
    progress: Callable[[Simulation], None] | None = None,
    max_wall_time: float | None = None,
) -> Path:
    """Build the case, run it to ``t_end`` and write the run directory; returns its path.

    Before anything is created the run is sized (:func:`billow.limits.check_limits`;
    ``force`` skips that) and ``out`` checked and locked against other writers
    (:func:`billow.io.rundir.claim_run_directory`). config.toml is written before any
    expensive set-up, so a run killed at any moment can be restarted.
    SIGTERM/SIGINT or ``max_wall_time`` (seconds) stop it after a checkpoint (RunStopped).
    """
    check_max_wall_time(max_wall_time)
    check_limits(params, out, force=force)
    with claim_run_directory(out, overwrite) as out:
        write_text_atomically(out / "config.toml", config_toml(case, params))
        model = get_case(case).build(params)
        return _execute(out, case, params, model, progress=progress, max_wall_time=max_wall_time)


def check_max_wall_time(max_wall_time: float | None) -> None:
    """Refuse a wall-time limit that is not a positive number of seconds."""
    if max_wall_time is not None and not max_wall_time > 0:
        raise ConfigError(f"--max-wall-time must be positive (seconds), got {max_wall_time:g}")


@dataclass
class Restart:
    """A run directory checked and ready to continue from its newest checkpoint."""

    run_dir: Path
    case: str
    params: RunParams
    checkpoint: Checkpoint | None  # None: killed before its first one; starts again


def prepare_restart(
    run_dir: str | Path,
    t_end: float | None = None,
    *,
    from_scratch: bool = False,
    force: bool = False,
) -> Restart:
    """Read config.toml and the newest checkpoint; refuse (one-line error) what cannot go on.

    A run without a checkpoint starts again from t = 0 only when it has no finished
    records (it was killed before its first checkpoint) or with ``from_scratch``, which
    also ignores every checkpoint.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"run directory '{run_dir}' does not exist")
    case, values = read_config(run_dir / "config.toml")
    if case is None:
        raise ConfigError(f"'{run_dir / 'config.toml'}' names no case")
    if t_end is not None:
        values["t_end"] = t_end
    params = get_case(case).make_params(**values)
    check_limits(params, run_dir, force=force)
    newest = None if from_scratch else latest_checkpoint(run_dir)
    if newest is None:
        if not from_scratch and has_records(run_dir):
            raise ConfigError(
                f"{run_dir} has finished records but no checkpoint to continue from "
                f"(checkpoints/ deleted?); `billow restart {run_dir} --from-scratch` "
                "runs it again from t = 0, replacing them"
            )
        return Restart(run_dir, case, params, None)
    checkpoint = read_checkpoint(newest)
    if params.t_end <= checkpoint.time:
        raise ConfigError(f"the run is already at t = {checkpoint.time:g}; pass --t-end beyond it")
    return Restart(run_dir, case, params, checkpoint)


def restart_run(
    run_dir: str | Path | Restart,
    *,
    t_end: float | None = None,
    from_scratch: bool = False,
    force: bool = False,
    progress: Callable[[Simulation], None] | None = None,
    max_wall_time: float | None = None,
) -> Path:
    """Continue a run from its newest checkpoint (to ``t_end`` if given), appending to its
    files; records written after that checkpoint are replaced, so nothing is duplicated.
    A run stopped before its first checkpoint (or any run, with ``from_scratch``) starts
    again from t = 0. The run directory is locked against other writers meanwhile."""
    check_max_wall_time(max_wall_time)
    directory = run_dir.run_dir if isinstance(run_dir, Restart) else Path(run_dir)
    if not directory.is_dir():
        raise ConfigError(f"run directory '{directory}' does not exist")
    with lock_directory(directory):
        check_writable(directory)
        restart = (
            run_dir
            if isinstance(run_dir, Restart)
            else prepare_restart(directory, t_end, from_scratch=from_scratch, force=force)
        )
        config = config_toml(restart.case, restart.params)
        write_text_atomically(restart.run_dir / "config.toml", config)
        if restart.checkpoint is None:  # from t = 0: no older checkpoint may be taken as newest
            for old in (restart.run_dir / "checkpoints").glob("checkpoint_*.h5"):
                old.unlink()
        model = get_case(restart.case).build(restart.params)
        if restart.checkpoint is not None:
            restore(model, restart.checkpoint)
        return _execute(
            restart.run_dir,
            restart.case,
            restart.params,
            model,
            progress=progress,
            resume=restart.checkpoint,
            max_wall_time=max_wall_time,
        )


class RunStopped(BillowError):
    """The run stopped early (signal or wall-time limit) after writing a checkpoint.

    ``reason`` is the signal's name ("SIGTERM", "SIGINT") or "max-wall-time"."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@contextmanager
def _stop_requests():
    """Turn SIGTERM and SIGINT into a stop request (a list holding the signal's name) that
    the time loop honours after the current step; a second SIGINT interrupts at once.
    Only in the main thread, where Python delivers signals."""
    requested: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def request(number, frame) -> None:
        name = signal.Signals(number).name
        if name == "SIGINT" and requested:
            raise KeyboardInterrupt
        requested.append(name)

    previous = {sig: signal.signal(sig, request) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield requested
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _execute(
    out: Path,
    case: str,
    params: RunParams,
    model: Model,
    *,
    progress: Callable[[Simulation], None] | None,
    resume: Checkpoint | None = None,
    max_wall_time: float | None = None,
) -> Path:
    """The time loop with its writers: snapshots, diagnostics, checkpoints and the log."""
    logger = run_logger(out / "log.txt")
    attrs = output_attributes(case, params)
    field_names = {name: f"passive tracer {name}" for name in model.tracer_names}
    field_names.update(FIELD_LONG_NAMES)
    field_names = {
        name: field_names[name]
        for name in ("u", "w", "b", "v", *model.tracer_names, "vorticity")
        if name != "v" or "v" in model.state
    }
    simulation = Simulation(
        model,
        t_end=params.t_end,
        save_every=params.save_every,
        cfl=params.cfl,
        callbacks=(progress,) if progress else (),
    )
    diagnostic_names = {d.name: d.long_name for d in simulation.diagnostics} | {
        "dt": "time step",
        "cfl": "advective Courant number",
    }
    if resume is None:
        fields = fields_series(out, model.grid, field_names, attrs)
        series = diagnostics_series(out, diagnostic_names, attrs)
    else:  # records written after the checkpoint are dropped
        simulation.snapshots_written = resume.snapshots_written
        fields = fields_series(out, model.grid, field_names, attrs, resume.snapshots_written)
        series = diagnostics_series(out, diagnostic_names, attrs, resume.iteration + 1)
    checkpoint_every = params.checkpoint_every
    next_checkpoint = [checkpoint_every * (np.floor(model.time / checkpoint_every) + 1)]
    buffer: list[tuple[float, dict[str, float]]] = []  # diagnostics not yet written

    def record_diagnostics(t: float, values: dict[str, float]) -> None:
        buffer.append((t, values))
        if len(buffer) >= DIAGNOSTICS_BUFFER:
            flush_diagnostics()

    def flush_diagnostics() -> None:
        if buffer:
            names = buffer[0][1].keys()
            series.append(
                np.array([t for t, _ in buffer]),
                {name: np.array([values[name] for _, values in buffer]) for name in names},
            )
            buffer.clear()

    def write_snapshot(sim: Simulation) -> None:
        fields.append(sim.model.time, sim.snapshot())
        logger.info(
            "snapshot %d at t = %.6g (step %d, dt = %.4g)",
            sim.snapshots_written,
            sim.model.time,
            sim.model.iteration,
            sim.dt,
        )
        due = sim.model.time >= next_checkpoint[0] * (1 - TIME_EPSILON)
        if sim.model.iteration > 0 and (due or sim.model.time >= sim.t_end):
            checkpoint(sim.snapshots_written + 1)
            next_checkpoint[0] = checkpoint_every * (
                np.floor(sim.model.time / checkpoint_every * (1 + TIME_EPSILON)) + 1
            )

    def checkpoint(snapshots_written: int) -> None:
        """Everything recorded so far published on disk, then the state to continue from."""
        flush_diagnostics()
        fields.commit()
        series.commit()
        path = write_checkpoint(out, model, snapshots_written)
        last_checkpoint_wall[0] = time.perf_counter()
        logger.info("checkpoint %s", path.name)

    def after_step(sim: Simulation) -> None:
        """Wall-clock checkpoints; stop (after a checkpoint) on a signal or the time limit."""
        now = time.perf_counter()
        if now - last_checkpoint_wall[0] > CHECKPOINT_WALL_INTERVAL:
            checkpoint(sim.snapshots_written)
        elapsed = now - start
        steps = sim.model.iteration - steps_before
        # stop when one more step (at the mean cost so far) could overrun the limit
        overrun = max_wall_time is not None and elapsed * (steps + 1) / steps > max_wall_time
        if stop_requests or overrun:
            reason = f"{stop_requests[0]} received" if stop_requests else "--max-wall-time reached"
            checkpoint(sim.snapshots_written)
            raise RunStopped(
                f"{reason}: stopped at t = {sim.model.time:.6g} (step {sim.model.iteration}) "
                f"after writing a checkpoint; continue with `billow restart {out}`",
                stop_requests[0] if stop_requests else "max-wall-time",
            )

    simulation.on_snapshot = write_snapshot
    simulation.on_diagnostics = record_diagnostics
    simulation.callbacks.append(after_step)
    action = f"restart from t = {resume.time:g}" if resume else "run"
    logger.info("billow %s %s: %s", action, case, params.model_dump())
    start = time.perf_counter()
    last_checkpoint_wall = [start]
    steps_before = model.iteration
    outcome = "finished"
    try:
        with _stop_requests() as stop_requests:
            simulation.run()
    except BaseException as error:
        outcome = "stopped after"  # not "finished": the run did not reach t_end
        logger.error("stopped: %s", error or type(error).__name__)
        raise
    finally:
        flush_diagnostics()
        fields.close()
        series.close()
        elapsed = time.perf_counter() - start
        steps = model.iteration - steps_before
        logger.info(
            "%s %d steps to t = %.6g in %.2f s (%.1f steps/s)",
            outcome,
            steps,
            model.time,
            elapsed,
            steps / max(elapsed, 1e-12),
        )
        close_logger(logger)
    return out


def run(
    case: str,
    *,
    out: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = False,
    **params,
) -> xr.Dataset:
    """Run ``case`` with parameters ``params`` and return its snapshots (loaded in memory).

    Parameters
    ----------
    case : str
        A case name (see :func:`billow.get_case`).
    out : str or Path, optional
        Keep the run directory there (refused if it holds another run, unless
        ``overwrite``); by default a temporary directory is used and removed.
    overwrite : bool
        Replace billow's files of a previous run in ``out``.
    progress : bool
        Show a progress bar (simulated time, dt, ETA) on stderr; when stderr is not a
        terminal, a progress line at most every PROGRESS_INTERVAL seconds instead.
    **params
        Parameters of the case, e.g. ``Ri=0.1, Re=1000, nx=128, nz=64, t_end=60``
        (``billow cases NAME`` lists them); the rest keep the case's defaults.

    Returns
    -------
    xarray.Dataset
        The snapshots of ``fields.nc`` (see :func:`open_run`): u, w, b, c, vorticity of
        shape (time, z, x), with every resolved parameter in ``attrs``.
    """
    resolved = get_case(case).make_params(**params)
    with ExitStack() as stack:
        update = None
        if progress:
            update = stack.enter_context(progress_display(case, resolved.t_end))
        if out is None:
            out = stack.enter_context(tempfile.TemporaryDirectory(prefix="billow-"))
            overwrite = True
        run_case(case, resolved, out, overwrite=overwrite, progress=update)
        with open_run(out) as dataset:
            return dataset.load()
