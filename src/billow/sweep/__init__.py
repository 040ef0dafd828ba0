"""Parameter sweeps on Dask distributed (README: "Parameter sweeps"): ``billow sweep``.

A sweep spec is a TOML file::

    case = "shear_layer"
    seeds = [0, 1]                 # optional: a product axis, the ``seed`` parameter

    [parameters]                   # fixed values (top-level keys are accepted too)
    nx = 64
    t_end = 40

    [vary]                         # the Cartesian product of these axes
    Ri = [0.05, 0.1, 0.15]
    Re = {start = 500, stop = 2000, num = 4}   # np.linspace(start, stop, num)

Every member's parameters are validated (and resolved, e.g. the default Lx) by
:func:`load_spec`, before anything is written. :func:`run_sweep` runs each member
into a normal run directory ``out/members/<name>`` (``name`` like
``Ri=0.1_Re=1000_seed=0``), one Dask task per member, on a ``LocalCluster`` of
single-threaded worker *processes* (numba kernels and HDF5 are not safe across
concurrent runs in one process) or on the scheduler at a given address (its
workers must have billow installed and see the same file system).

A sweep is resumable: ``out/sweep.toml`` records the spec, and rerunning the same
spec into the same ``out`` skips members that finished (their ``DONE`` marker,
written last, holds the member's summary as JSON), continues interrupted ones
from their newest checkpoint (:func:`billow.runner.restart_run`) and starts the
others afresh. At the end it writes ``out/sweep.csv``, ``out/sweep.nc`` (one row
per member: the varied parameters and key diagnostics) and ``out/sweep.png``.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import re
import signal
import threading
import tomllib
import traceback
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tomli_w
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from ..analysis import fit_growth_rate, linear_theory_rate
from ..analysis.report import cumulative_mixing_efficiency
from ..cases import get_case
from ..config import RunParams, Spec, attribute_value, read_toml, spec_field
from ..core.poisson import fft_library
from ..errors import BillowError, ConfigError, did_you_mean
from ..io.atomic import save_figure_atomically, write_netcdf_atomically, write_text_atomically
from ..io.checkpoint import latest_checkpoint, read_checkpoint
from ..io.lock import LOCK_FILE, check_not_locked, lock_directory
from ..io.rundir import open_run
from ..limits import check_limits
from ..runner import prepare_restart, restart_run, run_case
from ..viz.stability_plots import pyplot

SPEC_FILE = "sweep.toml"
MEMBERS = "members"
DONE = "DONE"
TIME_TOLERANCE = 1e-9  # relative: a checkpoint this close to t_end is the end of the run
SCHEDULER_TIMEOUT = 10.0  # seconds to wait for a Dask scheduler given by its address

# summary columns besides the member name and the varied parameters
SUMMARY_COLUMNS = {
    "status": "ok, or failed: message",
    "growth_rate": "exponential growth rate of mode_amplitude over its exponential phase",
    "growth_window_start": "start of the growth-rate fit window",
    "growth_window_end": "end of the growth-rate fit window",
    "growth_fit_r2": "R^2 of the log-linear growth fit",
    "linear_growth_rate": "linear stability theory's growth rate at k = 2 pi/Lx",
    "growth_fit_note": "why growth_rate is nan (empty when it is not)",
    "final_time": "time reached",
    "final_ke": "kinetic energy at the end",
    "max_ke": "maximum kinetic energy",
    "final_dye_entropy": "dye entropy sum(-c ln c dA) at the end",
    "cumulative_mixing_efficiency": "int M dt / (int M dt + int epsilon dt) over the snapshots",
    "wall_time": "wall-clock seconds of the run (all restarts together)",
}
TEXT_COLUMNS = ("status", "growth_fit_note")
FINISHED = re.compile(r"(?:finished|stopped after) \d+ steps to t = \S+ in ([0-9.eE+-]+) s")


@dataclass(frozen=True)
class Member:
    """One run of a sweep: its directory name, varied values and resolved parameters."""

    name: str
    values: dict[str, Any]
    params: RunParams


class SweepInterrupted(BillowError):
    """Ctrl-C during a sweep: the Dask cluster was shut down; rerunning resumes."""


# ---------------------------------------------------------------------------- the spec


def _format_value(value: Any, precise: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.15g}" if precise else f"{value:g}"
    return str(value)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9=._+-]", "-", text)


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones (for TOML, pydantic and JSON)."""
    return value.item() if isinstance(value, np.generic) else value


class VaryRange(Spec):
    """A ``[vary]`` axis ``{start, stop, num}``: np.linspace(start, stop, num)."""

    start: int | float
    stop: int | float
    num: int = Field(ge=1)

    def values(self) -> list[Any]:
        """The axis' values; integers when start, stop and every value are."""
        values = [float(v) for v in np.linspace(self.start, self.stop, self.num)]
        integers = all(isinstance(v, int) for v in (self.start, self.stop))
        if integers and all(v.is_integer() for v in values):
            return [int(v) for v in values]
        return values


def _axis(key: str, value: Any) -> list[Any] | VaryRange:
    """A ``[vary]`` entry as written: a list of distinct values, or a :class:`VaryRange`."""
    if isinstance(value, list):
        if not value:
            raise ValueError(f"[vary] '{key}' is an empty list")
        if any(isinstance(v, (list, dict)) for v in value):
            raise ValueError(f"[vary] '{key}' must be a list of values")
        if len(set(map(repr, value))) != len(value):
            raise ValueError(f"[vary] '{key}' repeats a value")
        return value
    if isinstance(value, dict):
        try:
            return VaryRange.model_validate(value)
        except ValidationError as error:
            if {e["type"] for e in error.errors()} & {"missing", "extra_forbidden"}:
                raise ValueError(
                    f"[vary] '{key}' range needs exactly start, stop, num "
                    f"(got {', '.join(sorted(value)) or 'nothing'})"
                ) from None
            raise ValueError(
                f"[vary] '{key}' range needs numeric start, stop and an integer num >= 1"
            ) from None
    raise ValueError(f"[vary] '{key}' must be a list or a {{start, stop, num}} range")


def member_names(combinations: list[dict[str, Any]]) -> list[str]:
    """Distinct directory names like ``Ri=0.1_Re=1000`` for parameter combinations."""
    if not combinations or not combinations[0]:
        return ["run"] * len(combinations)
    for precise in (False, True):
        names = [
            "_".join(_safe_name(f"{k}={_format_value(v, precise)}") for k, v in combo.items())
            for combo in combinations
        ]
        if len(set(names)) == len(names):
            return names
    raise ConfigError("the sweep's members do not have distinct names (repeated values?)")


class SweepSpec(Spec):
    """A sweep spec: the case, its fixed parameters, the ``[vary]`` axes as written and
    the ``seeds``. Validating it builds every member's parameters (:attr:`members`), so
    a spec that loads has members that all run."""

    case: str = spec_field(..., "'case' (a string) is required")
    parameters: dict[str, Any] = spec_field({}, "[parameters] must be a table")
    vary: dict[str, list[Any] | VaryRange] = spec_field({}, "[vary] must be a table")
    seeds: list[Annotated[int, Field(ge=0)]] | None = spec_field(
        None, "'seeds' must be a non-empty list of integers >= 0", min_length=1
    )
    _axes: dict[str, list[Any]] = PrivateAttr(default_factory=dict)
    _members: list[Member] = PrivateAttr(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _top_level_parameters(cls, data: Any) -> Any:
        """Top-level keys other than the spec's own are fixed parameters, as in configs."""
        if not isinstance(data, dict):
            return data
        own = {key: value for key, value in data.items() if key in cls.model_fields}
        fixed = own.get("parameters", {})
        for key, value in data.items():
            if key in own:
                continue
            if isinstance(value, dict):
                raise ValueError(f"unknown table [{key}]{did_you_mean(key, cls.model_fields)}")
            if isinstance(fixed, dict):
                if key in fixed:
                    raise ValueError(f"'{key}' is given twice (top level and [parameters])")
                fixed = {**fixed, key: value}
        return {**own, "parameters": fixed}

    @field_validator("vary", mode="before")
    @classmethod
    def _vary_axes(cls, vary: Any) -> Any:
        if not isinstance(vary, dict):
            return vary
        return {key: _axis(key, value) for key, value in vary.items()}

    @model_validator(mode="after")
    def _build_members(self) -> SweepSpec:
        """The axes (seeds last, as ``seed``) and every member's validated parameters."""
        axes = {}
        for key, axis in self.vary.items():
            if key in self.parameters:
                raise ValueError(f"'{key}' is both fixed in [parameters] and in [vary]")
            axes[key] = axis.values() if isinstance(axis, VaryRange) else list(axis)
        if self.seeds is not None:
            if "seed" in axes or "seed" in self.parameters:
                raise ValueError("give 'seeds' or a 'seed' parameter, not both")
            axes["seed"] = _axis("seed", self.seeds)
        self._axes = axes
        self._members = _members(self.case, self.parameters, axes)
        return self

    @property
    def axes(self) -> dict[str, list[Any]]:
        """Varied parameter -> its values (seeds last, as ``seed``)."""
        return self._axes

    @property
    def members(self) -> list[Member]:
        return self._members

    @property
    def varied(self) -> list[str]:
        return list(self._axes)

    @property
    def fixed(self) -> dict[str, Any]:
        return self.parameters

    @property
    def source(self) -> dict[str, Any]:
        """The spec as written to out/sweep.toml."""
        vary = {
            key: axis.model_dump() if isinstance(axis, VaryRange) else axis
            for key, axis in self.vary.items()
        }
        source = {"case": self.case, "parameters": self.parameters, "vary": vary}
        if self.seeds is not None:
            source["seeds"] = self.seeds
        return source


def _members(case: str, fixed: dict[str, Any], axes: dict[str, list[Any]]) -> list[Member]:
    """A member per combination of the axes, its parameters validated by the case."""
    case_info = get_case(case)
    combinations = [
        dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())
    ]
    members = []
    resolved: dict[str, RunParams] = {}  # members differing only in their seed share e.g. Lx
    for name, combo in zip(member_names(combinations), combinations, strict=True):
        key = repr({k: v for k, v in combo.items() if k != "seed"})
        try:
            if key not in resolved:
                resolved[key] = case_info.make_params(**{**fixed, **combo})
            params = case_info.make_params(**{**resolved[key].model_dump(), **combo})
        except BillowError as error:
            raise ValueError(f"member '{name}': {error}") from None
        members.append(Member(name, combo, params))
    return members


def parse_spec(data: dict[str, Any], where: str = "sweep spec") -> SweepSpec:
    """Build and validate a :class:`SweepSpec` from a parsed TOML table (one-line
    ConfigError starting ``where``)."""
    return SweepSpec.parse(data, where)


def load_spec(path: str | Path) -> SweepSpec:
    """Read a sweep spec (TOML); every member is validated, one-line ConfigError if not."""
    return parse_spec(read_toml(path, "sweep spec"), f"sweep spec '{path}'")


# ---------------------------------------------------------------------------- one member


def wall_time(run_dir: Path) -> float:
    """Seconds of all "finished ... in X s" lines of log.txt (a restarted run has several)."""
    try:
        text = (Path(run_dir) / "log.txt").read_text()
    except OSError:
        return math.nan
    times = [float(m.group(1)) for m in FINISHED.finditer(text)]
    return float(sum(times)) if times else math.nan


def member_summary(run_dir: str | Path) -> dict[str, float]:
    """Key diagnostics of a finished run directory (nan where unavailable)."""
    run_dir = Path(run_dir)
    out: dict[str, Any] = {name: math.nan for name in SUMMARY_COLUMNS if name != "status"}
    out["growth_fit_note"] = ""
    with open_run(run_dir, "diagnostics") as diagnostics:
        attrs = dict(diagnostics.attrs)
        t = diagnostics["time"].values.astype(float)
        series = {
            name: diagnostics[name].values.astype(float)
            for name in ("ke", "mode_amplitude", "dye_entropy")  # the dye's: an old run's
            if name in diagnostics
        }
    if (run_dir / "tracer_diagnostics.nc").is_file():  # runs with a dye
        with open_run(run_dir, "tracer_diagnostics") as tracers:
            if tracers.sizes["time"] and "dye_entropy" in tracers:
                out["final_dye_entropy"] = float(tracers["dye_entropy"].values[-1])
    if t.size:
        out["final_time"] = float(t[-1])
        if "ke" in series:
            out["final_ke"] = float(series["ke"][-1])
            out["max_ke"] = float(np.nanmax(series["ke"]))
        if "dye_entropy" in series:  # a run from before tracer_diagnostics.nc
            out["final_dye_entropy"] = float(series["dye_entropy"][-1])
    if "mode_amplitude" in series:
        try:
            with np.errstate(all="ignore"):
                fit = fit_growth_rate(t, series["mode_amplitude"])
            out["growth_rate"], out["growth_fit_note"] = fit.rate, fit.reason
            out["growth_window_start"], out["growth_window_end"] = fit.t_start, fit.t_end
            out["growth_fit_r2"] = fit.r_squared
        except (ValueError, np.linalg.LinAlgError) as error:
            out["growth_fit_note"] = f"fit failed: {error}"
        try:
            out["linear_growth_rate"] = linear_theory_rate(str(attrs["case"]), attrs)
        except (KeyError, BillowError):
            pass
    try:
        out["cumulative_mixing_efficiency"] = cumulative_mixing_efficiency(run_dir)
    except (OSError, KeyError, ValueError, BillowError):
        pass
    out["wall_time"] = wall_time(run_dir)
    return out


def _finished_checkpoint_time(member_dir: Path) -> float | None:
    newest = latest_checkpoint(member_dir)
    try:
        return None if newest is None else read_checkpoint(newest).time
    except BillowError:
        return None


def run_member(
    member_dir: str,
    case: str,
    params: dict[str, Any],
    threads: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Run (or continue) one member into ``member_dir``; write its DONE marker; return its
    summary with ``status`` and ``action`` (``started``, ``continued``, ``finished``).

    The Dask task of :func:`run_sweep`: a plain function of its arguments, so it runs in
    any worker process. Errors are returned as ``status = "failed: ..."``, not raised.
    """

    if threads:
        try:
            import numba  # only when a worker sets its threads

            numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
        except (ImportError, ValueError):
            pass
    member_dir_path = Path(member_dir)
    action = "started"
    try:
        resolved = get_case(case).make_params(**params)
        member_dir_path.mkdir(parents=True, exist_ok=True)
        with lock_directory(member_dir_path):
            done = member_dir_path / DONE
            done.unlink(missing_ok=True)
            checkpoint_time = None
            if (member_dir_path / "config.toml").is_file():
                checkpoint_time = _finished_checkpoint_time(member_dir_path)
            end = resolved.t_end * (1 - TIME_TOLERANCE)
            if checkpoint_time is not None and checkpoint_time >= end:
                action = "finished"  # stopped after its last checkpoint, before the marker
            elif checkpoint_time is not None:
                action = "continued"
                restart = prepare_restart(member_dir_path, t_end=resolved.t_end, force=force)
                restart_run(restart, compile_ahead=False)  # the workers fill the cores
            else:
                run_case(
                    case, resolved, member_dir_path, overwrite=True, force=force,
                    compile_ahead=False,
                )  # fmt: skip
            summary: dict[str, Any] = member_summary(member_dir_path)
            summary["status"] = "ok"
            write_text_atomically(done, json.dumps(summary, indent=1, allow_nan=True))
    except Exception as error:  # noqa: BLE001 - one failed member must not stop the sweep
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if not isinstance(error, BillowError):
            message = f"{type(error).__name__}: {message}"
            if member_dir_path.is_dir():
                (member_dir_path / "error.txt").write_text(traceback.format_exc())
        summary = {name: math.nan for name in SUMMARY_COLUMNS}
        summary["status"] = f"failed: {message}"
        summary["wall_time"] = wall_time(member_dir_path)
    summary["action"] = action
    return summary


def read_done(member_dir: Path) -> dict[str, Any] | None:
    """The summary in a member's DONE marker, or None when the member has not finished."""
    try:
        summary = json.loads((member_dir / DONE).read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and summary.get("status") == "ok" else None


# ---------------------------------------------------------------------------- the sweep


def claim_output(out: Path, source: dict[str, Any], spec_file: str, what: str) -> None:
    """Create ``out`` holding ``spec_file`` (``source`` as TOML), or accept an ``out`` that
    holds the same spec (a rerun, which resumes); refuse anything else, touching nothing.
    ``what`` ("sweep", "dataset") names the kind of output in the messages."""
    text = tomli_w.dumps(source)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{what} output '{out}' exists and is not a directory")
    if out.is_dir() and any(path.name != LOCK_FILE for path in out.iterdir()):
        try:
            previous = tomllib.loads((out / spec_file).read_text())
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            raise ConfigError(
                f"{what} output '{out}' is not empty and holds no {spec_file}: not a {what}"
            ) from None
        if previous != tomllib.loads(text):
            raise ConfigError(
                f"{what} output '{out}' holds a different {what} ({out / spec_file}); "
                "choose another directory"
            )
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cannot create {what} output '{out}': {error.strerror}") from None
    write_text_atomically(out / spec_file, text)


def run_members(
    spec: SweepSpec,
    out: Path,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> dict[str, dict[str, Any]]:
    """Run every member of ``spec`` not yet finished into ``out/members/<name>`` on Dask
    (see :func:`run_sweep` for the options); returns each member's summary by name, with
    ``status`` and ``action`` (``skipped`` for members finished before). Every member is
    sized (:func:`billow.limits.check_limits`) before anything is created, and ``out`` is
    locked against other writers meanwhile."""
    check_sweep(spec, out, scheduler=scheduler, n_workers=n_workers, force=force)
    claim_output(out, spec.source, SPEC_FILE, "sweep")
    with lock_directory(out):
        return _run_members(spec, out, scheduler, n_workers, progress, force)


def _run_members(spec, out, scheduler, n_workers, progress, force):
    (out / MEMBERS).mkdir(exist_ok=True)
    total = len(spec.members)
    results: dict[str, dict[str, Any]] = {}
    todo: list[Member] = []
    for member in spec.members:
        summary = read_done(out / MEMBERS / member.name)
        if summary is not None:
            results[member.name] = {**summary, "action": "skipped"}
        else:
            todo.append(member)
    if progress:
        progress(len(results), total)
    if todo:
        done = total - len(todo)
        results.update(
            _run_on_dask(spec.case, todo, out, scheduler, n_workers, progress, done, total, force)
        )
    return results


def check_sweep(
    spec: SweepSpec,
    out: Path,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    force: bool = False,
) -> None:
    """Refuse, before anything is created, what would fail later: ``n_workers`` < 1, a
    scheduler that does not answer, a member beyond the limits of
    :func:`billow.limits.check_limits` (unless ``force``), a directory in use, a
    misspelt ``BILLOW_FFT``."""

    if n_workers is not None and n_workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {n_workers}")
    fft_library()  # BILLOW_FFT, as the local workers will read it
    for member in spec.members:
        try:
            check_limits(member.params, out, force=force)
        except ConfigError as error:
            raise ConfigError(f"member '{member.name}': {error}") from None
    check_not_locked(out)
    if scheduler is not None:
        _connect(scheduler).close()


def raise_failures(results: dict[str, dict[str, Any]], what: str = "sweep members") -> None:
    """A one-line BillowError naming the first failed member, if any failed."""
    failed = [(name, r["status"]) for name, r in results.items() if r["status"] != "ok"]
    if failed:
        name, status = failed[0]
        raise BillowError(
            f"{len(failed)} of {len(results)} {what} failed (first: {name}: "
            f"{status.removeprefix('failed: ')}); rerun to retry them"
        )


def run_sweep(
    spec: SweepSpec | str | Path,
    out: str | Path,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> Path:
    """Run every member of ``spec`` into ``out/members/<name>`` on Dask; returns ``out``.

    ``scheduler``: a Dask scheduler address; default a LocalCluster of ``n_workers``
    (default: the CPU count) single-threaded worker processes. ``progress(done, total)``
    is called at the start and as members finish. Finished members are skipped and
    interrupted ones continued. Writes sweep.csv, sweep.nc and sweep.png; raises a
    BillowError after writing them if any member failed. ``force`` runs members beyond
    the limits of :func:`billow.limits.check_limits`.
    """
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    out = Path(out)
    results = run_members(
        spec, out, scheduler=scheduler, n_workers=n_workers, progress=progress, force=force
    )
    write_summary(spec, out, results)
    raise_failures(results)
    return out


def _connect(scheduler: str):
    """A Client of the Dask scheduler at ``scheduler``, or a one-line BillowError."""
    try:
        from dask.distributed import Client  # sweep extra, on use
    except ImportError:
        raise BillowError('sweeps need dask.distributed: pip install -e ".[sweep]"') from None

    try:
        return Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except Exception as error:  # noqa: BLE001 - bad address, refused, timed out, ...
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise BillowError(f"cannot connect to the Dask scheduler '{scheduler}': {reason}") from None


def _run_on_dask(case, todo, out, scheduler, n_workers, progress, done, total, force=False):
    try:
        from dask.distributed import Client, LocalCluster, as_completed  # sweep extra, on use
    except ImportError:
        raise BillowError('sweeps need dask.distributed: pip install -e ".[sweep]"') from None
    cluster = client = None
    results: dict[str, dict[str, Any]] = {}
    try:
        threads = None
        if scheduler is None:
            workers = n_workers or os.cpu_count() or 1
            workers = max(1, min(workers, len(todo)))
            threads = max(1, (os.cpu_count() or 1) // workers)
            with _workers_ignore_sigint():
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # worker logs stay quiet: a member's failure is reported in its summary
                    # row, and on Ctrl-C a worker whose scheduler went first logs errors
                    silence_logs=logging.CRITICAL,
                )
            client = Client(cluster)
        else:
            client = _connect(scheduler)
        tag = uuid.uuid4().hex[:8]
        futures = {}
        for member in todo:
            future = client.submit(
                run_member,
                str((out / MEMBERS / member.name).resolve()),
                case,
                member.params.model_dump(),
                threads,
                force,
                key=f"billow-{member.name}-{tag}",
                pure=False,
            )
            futures[future] = member.name
        for future in as_completed(futures):
            name = futures[future]
            try:
                results[name] = future.result()
            except Exception as error:  # noqa: BLE001 - e.g. a worker killed mid-run
                summary = {key: math.nan for key in SUMMARY_COLUMNS}
                summary["status"] = f"failed: {type(error).__name__}: {error}".splitlines()[0]
                summary["action"] = "lost"
                results[name] = summary
            done += 1
            if progress:
                progress(done, total)
    except KeyboardInterrupt:
        _silence_dask()  # the shutdown below would log warnings about the lost tasks
        raise SweepInterrupted(
            f"interrupted: {done} of {total} members finished; rerun the same command to "
            "resume (interrupted members continue from their checkpoints)"
        ) from None
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    return results


@contextmanager
def _workers_ignore_sigint():
    """Start local worker processes with SIGINT ignored (they inherit it), so that Ctrl-C
    reaches only this process, which shuts the cluster down; main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _silence_dask() -> None:
    for name in ("distributed", "tornado", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 10)


# ---------------------------------------------------------------------------- the summary


def summary_dataset(spec: SweepSpec, results: dict[str, dict[str, Any]]):
    """One row per member (dimension ``member``): varied parameters and diagnostics."""
    import xarray as xr  # on use: billow run does not need xarray

    names = [m.name for m in spec.members]
    coords: dict[str, Any] = {"member": ("member", names)}
    for key in spec.varied:
        values = [_plain(m.values[key]) for m in spec.members]
        coords[key] = ("member", np.array(values))
    data = {}
    for column, long_name in SUMMARY_COLUMNS.items():
        values = [results.get(n, {}).get(column, math.nan) for n in names]
        if column in TEXT_COLUMNS:
            missing = "not run" if column == "status" else ""
            values = [v if isinstance(v, str) else missing for v in values]
            array = np.array(values, dtype=str)
        else:
            array = np.array([math.nan if v is None else v for v in values], dtype=float)
        data[column] = xr.Variable("member", array, {"long_name": long_name})
    attrs = {
        "title": f"billow {spec.case} sweep",
        "case": spec.case,
        "varied": " ".join(spec.varied),
        "spec": tomli_w.dumps(spec.source),
    }
    for key, value in spec.members[0].params.model_dump().items():
        if key not in spec.axes:  # the fixed (resolved) parameters
            attrs[key] = attribute_value(value)
    return xr.Dataset(data, coords=coords, attrs=attrs)


def write_summary(spec: SweepSpec, out: Path, results: dict[str, dict[str, Any]]) -> None:
    """out/sweep.nc, out/sweep.csv and out/sweep.png (each written atomically)."""
    dataset = summary_dataset(spec, results)
    write_netcdf_atomically(dataset, out / "sweep.nc")
    frame = dataset.to_dataframe()
    columns = [*spec.varied, *SUMMARY_COLUMNS]
    write_text_atomically(out / "sweep.csv", frame[columns].to_csv())
    plot_summary(dataset, spec.varied, out / "sweep.png")


def plot_summary(dataset, varied: list[str], path: Path) -> Path:
    """Growth rate (and final dye entropy) over the first two varied parameters: a
    heatmap for two, lines for one (other axes, e.g. seeds, averaged)."""

    plt = pyplot()
    quantities = [
        q for q in ("growth_rate", "final_dye_entropy") if np.isfinite(dataset[q].values).any()
    ]
    quantities = quantities or ["growth_rate"]
    axes_params = [p for p in varied if len(np.unique(dataset[p].values)) > 1][:2]
    fig, axes = plt.subplots(
        1,
        len(quantities),
        figsize=(5.5 * len(quantities), 4.2),
        layout="constrained",
        squeeze=False,
    )
    frame = dataset.to_dataframe()
    for ax, quantity in zip(axes[0], quantities, strict=True):
        label = SUMMARY_COLUMNS[quantity]
        if len(axes_params) == 2:
            p, q = axes_params
            table = frame.groupby([q, p])[quantity].mean().unstack(p)
            image = ax.imshow(table.values, origin="lower", aspect="auto", cmap="viridis")
            ax.set_xticks(range(table.shape[1]), [_format_value(_plain(v)) for v in table.columns])
            ax.set_yticks(range(table.shape[0]), [_format_value(_plain(v)) for v in table.index])
            ax.set_xlabel(p)
            ax.set_ylabel(q)
            for (i, j), value in np.ndenumerate(table.values):
                if np.isfinite(value):
                    ax.text(j, i, f"{value:.3g}", ha="center", va="center", color="w", fontsize=8)
            fig.colorbar(image, ax=ax, label=quantity)
        elif len(axes_params) == 1:
            (p,) = axes_params
            mean = frame.groupby(p)[quantity].mean()
            numeric = np.issubdtype(np.asarray(mean.index).dtype, np.number)
            xs = np.asarray(mean.index, dtype=float) if numeric else np.arange(mean.size)
            ax.plot(xs, mean.values, "o-")
            if not numeric:
                ax.set_xticks(xs, [str(v) for v in mean.index])
            ax.set_xlabel(p)
            ax.set_ylabel(quantity)
        else:
            ax.bar(np.arange(frame.shape[0]), frame[quantity].values)
            ax.set_xticks(np.arange(frame.shape[0]), list(frame.index), rotation=45, ha="right")
            ax.set_ylabel(quantity)
        ax.set_title(label, fontsize=9)
    try:
        save_figure_atomically(fig, path)
    finally:
        plt.close(fig)
    return path
