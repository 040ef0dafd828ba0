"""Run a named case into a run directory; the Python API behind ``billow run``."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numba

from ._compile_ahead import compiling_ahead
from ._version import __version__
from .callbacks import Callback, StopOnSignal, WallTimeLimit, check_max_wall_time
from .cases import get_case
from .config import RunParams, attribute_value, config_toml, read_config
from .core.model import Model
from .core.poisson import describe_transforms, fft_library
from .errors import ConfigError
from .io.atomic import write_text_atomically
from .io.checkpoint import Checkpoint, Checkpointer, latest_checkpoint, read_checkpoint, restore
from .io.lock import lock_directory
from .io.netcdf import diagnostics_series, fields_series, has_records
from .io.rundir import (
    TRACER_DIAGNOSTICS,
    check_writable,
    claim_run_directory,
    close_logger,
    open_run,
    recorded_attribute,
    require_run_directory,
    run_logger,
)
from .limits import check_limits
from .output_writers import BackgroundSeries, DiagnosticsWriter, FieldsWriter, WriterThread
from .progress import progress_display
from .schedules import AtEnd, IterationInterval
from .simulation import RunStopped, Simulation, snapshot_schedule

if TYPE_CHECKING:
    import xarray as xr

FIELD_LONG_NAMES = {
    "u": "horizontal velocity (units of U0)",
    "w": "vertical velocity (units of U0)",
    "v": "spanwise velocity (units of U0)",
    "b": "buoyancy (units of U0^2/d)",
    "vorticity": "spanwise vorticity du/dz - dw/dx (units of U0/d)",
    "c": "dye concentration",
}


def output_attributes(case: str, params: RunParams, model: Model) -> dict:
    """Global attributes of every output file: every parameter, provenance, and what the
    model knows that analysis needs: the uniform background stratification N0^2 that b
    excludes (``background_N2``) and what, if anything, adds buoyancy inside the domain
    (``buoyancy_source``, empty when b changes only by advection and diffusion); and the
    library of the Poisson solver's transforms (``transforms``: FFTW or scipy.fft, whose
    results agree to round-off)."""
    attrs = {"title": f"billow {case} run", "source": f"billow {__version__}", "case": case}
    attrs.update({key: attribute_value(value) for key, value in params.model_dump().items()})
    attrs["background_N2"] = float(model.background_N2)
    attrs["buoyancy_source"] = model.buoyancy_source or ""
    attrs["transforms"] = model.poisson.description
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
    compile_ahead: bool = True,
) -> Path:
    """Build the case, run it to ``t_end`` and write the run directory; returns its path.

    Before anything is created the run is sized (:func:`billow.limits.check_limits`;
    ``force`` skips that) and ``out`` checked and locked against other writers
    (:func:`billow.io.rundir.claim_run_directory`). config.toml is written before any
    expensive set-up, so a run killed at any moment can be restarted.
    SIGTERM/SIGINT or ``max_wall_time`` (seconds) stop it after a checkpoint (RunStopped).
    With ``compile_ahead``, a run that finds its kernels missing from numba's cache shares
    their compilation with a helper process on another core
    (:mod:`billow._compile_ahead`).
    """
    check_max_wall_time(max_wall_time)
    check_limits(params, out, force=force)
    fft_library()  # BILLOW_FFT checked before anything is written
    with claim_run_directory(out, overwrite) as out:
        write_text_atomically(out / "config.toml", config_toml(case, params))
        with compiling_ahead(case, params, compile_ahead):
            model = get_case(case).build(params)
            return _execute(
                out, case, params, model, progress=progress, max_wall_time=max_wall_time
            )


@dataclass
class Restart:
    """A run directory checked and ready to continue from its newest checkpoint."""

    run_dir: Path
    case: str
    params: RunParams
    checkpoint: Checkpoint | None  # None: killed before its first one; starts again
    warning: str | None = None  # what the user should know before it goes on


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
    run_dir = require_run_directory(run_dir)
    case, values = read_config(run_dir / "config.toml")
    if case is None:
        raise ConfigError(f"'{run_dir / 'config.toml'}' names no case")
    if t_end is not None:
        values["t_end"] = t_end
    params = get_case(case).make_params(**values)
    check_limits(params, run_dir, force=force)
    fft_library()
    newest = None if from_scratch else latest_checkpoint(run_dir, params.t_end)
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
    return Restart(run_dir, case, params, checkpoint, transforms_change(run_dir))


def transforms_change(run_dir: Path) -> str | None:
    """A restart continues a run bit for bit only with the transforms that made it (FFTW's
    and scipy.fft's, or two versions of one, agree to round-off): say so when they differ."""
    before, now = recorded_attribute(run_dir, "transforms"), describe_transforms(fft_library())
    if not before or before == now:
        return None
    return (
        f"the run was made with {before} and this restart uses {now}: it continues to "
        "round-off, not bit for bit (BILLOW_FFT=fftw or scipy chooses the library)"
    )


def restart_run(
    run_dir: str | Path | Restart,
    *,
    t_end: float | None = None,
    from_scratch: bool = False,
    force: bool = False,
    progress: Callable[[Simulation], None] | None = None,
    max_wall_time: float | None = None,
    compile_ahead: bool = True,
) -> Path:
    """Continue a run from its newest checkpoint (to ``t_end`` if given), appending to its
    files; records written after that checkpoint are replaced, so nothing is duplicated.
    A run extended beyond the t_end it reached continues from its newest checkpoint
    before the steps shortened to land on that t_end, so that it is the run it would have
    been with the new t_end from the start.
    A run stopped before its first checkpoint (or any run, with ``from_scratch``) starts
    again from t = 0. The run directory is locked against other writers meanwhile.
    ``compile_ahead`` as for :func:`run_case`."""
    check_max_wall_time(max_wall_time)
    directory = require_run_directory(run_dir.run_dir if isinstance(run_dir, Restart) else run_dir)
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
        with compiling_ahead(restart.case, restart.params, compile_ahead):
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
                warning=restart.warning,
            )


def field_long_names(model: Model) -> dict[str, str]:
    """The fields of a snapshot (in the order :meth:`Simulation.snapshot` makes them)."""
    names = {name: f"passive tracer {name}" for name in model.tracer_names}
    names.update(FIELD_LONG_NAMES)
    return {
        name: names[name]
        for name in ("u", "w", "b", "v", *model.tracer_names, "vorticity")
        if name != "v" or "v" in model.state
    }


def _execute(
    out: Path,
    case: str,
    params: RunParams,
    model: Model,
    *,
    progress: Callable[[Simulation], None] | None,
    resume: Checkpoint | None = None,
    max_wall_time: float | None = None,
    warning: str | None = None,
) -> Path:
    """Assemble the run: a Simulation with its writers (snapshots, diagnostics, checkpoints)
    and callbacks (signals, wall-time limit, progress), run it, and log it (``warning``
    too)."""
    logger = run_logger(out / "log.txt")
    attrs = output_attributes(case, params, model)
    simulation = Simulation(model, t_end=params.t_end, cfl=params.cfl)
    if resume is not None:
        simulation.end_approach = resume.end_approach
    records = resume.records if resume is not None else {}  # a restart drops later records
    # a run directory from before tracer_diagnostics.nc keeps its layout: every diagnostic
    # in diagnostics.nc after every step
    old_layout = resume is not None and TRACER_DIAGNOSTICS not in records
    every_step = None if old_layout else True
    diagnostic_names = {d.name: d.long_name for d in simulation.diagnostics_of(every_step)} | {
        "dt": "time step",
        "cfl": "advective Courant number",
    }
    tracers = [] if old_layout else simulation.diagnostics_of(every_step=False)
    tracer_names = {d.name: d.long_name for d in tracers}
    fields = fields_series(out, model.grid, field_long_names(model), attrs, records.get("fields"))
    series = diagnostics_series(out, diagnostic_names, attrs, records.get("diagnostics"))
    snapshot_times = snapshot_schedule(params.save_every, params.t_end)
    # records, commits and checkpoints are written on one thread, in order, while the
    # time loop steps on
    thread = WriterThread()
    simulation.output_writers["fields"] = FieldsWriter(
        BackgroundSeries(fields, thread), snapshot_times, logger
    )
    simulation.output_writers["diagnostics"] = DiagnosticsWriter(
        BackgroundSeries(series, thread, buffers=0), every_step=every_step
    )
    if tracer_names:  # every diagnostics_every steps, and at t_end
        every = params.diagnostics_every
        tracer_series = diagnostics_series(
            out,
            tracer_names,
            {**attrs, "every_n_steps": every},
            records.get(TRACER_DIAGNOSTICS),
            name=TRACER_DIAGNOSTICS,
        )
        simulation.output_writers[TRACER_DIAGNOSTICS] = DiagnosticsWriter(
            BackgroundSeries(tracer_series, thread, buffers=0),
            IterationInterval(every) | AtEnd(stops=False),
            every_step=False,
        )
    simulation.output_writers["checkpointer"] = Checkpointer(
        out, params.checkpoint_every, logger=logger, thread=thread
    )
    simulation.callbacks["stop_on_signal"] = StopOnSignal()
    if max_wall_time is not None:
        simulation.callbacks["wall_time_limit"] = WallTimeLimit(
            max_wall_time, "--max-wall-time reached"
        )
    if progress is not None:
        simulation.callbacks["progress"] = Callback(progress)
    action = f"restart from t = {resume.time:g}" if resume else "run"
    logger.info("billow %s %s: %s", action, case, params.model_dump())
    logger.info("transforms: %s; %d numba threads", attrs["transforms"], numba.get_num_threads())
    if warning:
        logger.warning("warning: %s", warning)
    if old_layout and simulation.diagnostics_of(every_step=False):
        logger.info(
            "the checkpoint predates tracer_diagnostics.nc: the tracers' diagnostics stay "
            "in diagnostics.nc, after every step"
        )
    start = time.perf_counter()
    steps_before = model.iteration
    outcome = "finished"
    try:
        with thread:  # stopped however the run ends (the writers' close waited for it)
            simulation.run()
    except RunStopped as stop:  # on request: the checkpointer wrote at the stop
        outcome = "stopped after"  # not "finished": the run did not reach t_end
        stopped = RunStopped(
            f"{stop} after writing a checkpoint; continue with `billow restart {out}`",
            stop.reason,
        )
        logger.error("stopped: %s", stopped)
        raise stopped from None
    except BaseException as error:
        outcome = "stopped after"
        logger.error("stopped: %s", error or type(error).__name__)
        raise
    finally:
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
