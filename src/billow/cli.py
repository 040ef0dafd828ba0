"""Command-line interface: ``billow cases | run | restart | sweep | stability | analyze |
movie | export | dataset | compare | pack``. A thin layer over the Python API.

Every failure reaches the user as one line ``billow: error: ...`` (the traceback only
with ``--debug`` or BILLOW_DEBUG=1). Exit codes: 0 done; 1 an unexpected internal
error; 2 bad input or a failed command; 3 a run stopped early by --max-wall-time or
SIGTERM (after a checkpoint: ``billow restart`` continues it); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

try:  # recent typer vendors click; older versions use the click package
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import ClickException, NoArgsIsHelpError

from ._version import __version__
from .errors import BillowError
from .progress import progress_display
from .viz import require_viz

if TYPE_CHECKING:
    from .simulation import RunStopped

# Each command imports the rest of billow (numba, scipy, h5py, pydantic behind it) in
# its own body, so that `billow --help`, `billow movie` or `billow pack` do not spend a
# second loading the solver they do not use.

app = typer.Typer(
    help="billow: fast, verified simulations of 2-D stratified shear flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(stderr=True)


def _hide_flag_types() -> None:
    """typer's help shows a type after every option, `--overwrite <bool>` even for flags,
    which take no value: show nothing after a flag."""
    option_class = getattr(typer.core, "TyperOption", None)
    display = getattr(option_class, "display_type_rich", None)
    if display is None:  # another typer: its own help layout
        return

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else display(self, ctx)

    option_class.display_type_rich = display_type_rich


_hide_flag_types()


def _print_version(value: bool) -> None:
    if value:
        print(f"billow {__version__}")
        raise typer.Exit()


EXIT_ERROR = 2
EXIT_STOPPED = 3  # --max-wall-time or SIGTERM: stopped after a checkpoint
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT)
EXTRAS = {  # optional module -> the extra that installs it
    "matplotlib": "viz",
    "cmocean": "viz",
    "imageio": "viz",
    "imageio_ffmpeg": "viz",
    "PIL": "viz",
    "dask": "sweep",
    "distributed": "sweep",
}
_debug = [os.environ.get("BILLOW_DEBUG", "") not in ("", "0")]


@app.callback()
def _global_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="show the full traceback of an error")
    ] = False,
) -> None:
    """billow: fast, verified simulations of 2-D stratified shear flows."""
    if debug:
        _debug[0] = True


# options shared by `run` and `restart`
QuietOption = Annotated[bool, typer.Option("--quiet", help="no progress bar")]
MaxWallTimeOption = Annotated[
    float | None,
    typer.Option("--max-wall-time", help="seconds; stop with a checkpoint before this"),
]


def fail(message: str) -> None:
    """Print one line naming the problem and exit non-zero (with --debug, the traceback
    of the exception being handled first)."""
    if _debug[0] and sys.exc_info()[0] is not None:
        traceback.print_exc()
    print(f"billow: error: {message}", file=sys.stderr)
    raise typer.Exit(code=EXIT_ERROR)


def interrupted(message: str) -> None:
    """Ctrl-C: one line and exit code 130."""
    print(f"billow: {message}", file=sys.stderr)
    raise typer.Exit(code=EXIT_INTERRUPTED)


def stopped(error: RunStopped) -> None:
    """A run stopped early after a checkpoint: not an error; exit 130 for Ctrl-C, else 3."""
    print(f"billow: stopped: {error}", file=sys.stderr)
    raise typer.Exit(code=EXIT_INTERRUPTED if error.reason == "SIGINT" else EXIT_STOPPED)


ForceOption = Annotated[
    bool,
    typer.Option("--force", help="run even beyond the memory and output-size limits"),
]


def _count(n: int, singular: str, plural: str | None = None) -> str:
    """ "1 member", "2 members"."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _format_default(value) -> str:
    return "auto" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


def _own_parameters(case) -> list[str]:
    """Parameters a case adds, or whose default differs from the common one."""
    from .config import StratifiedParams

    common = StratifiedParams.model_fields
    own = []
    for name, field in case.params.model_fields.items():
        if name not in common or common[name].default != field.default:
            own.append(f"{name}={_format_default(field.default)}")
    return own


@app.command("cases")
def list_cases(
    name: Annotated[str | None, typer.Argument(help="show one case in full")] = None,
) -> None:
    """List the cases (one screen), or one case's physics and every parameter."""
    from .cases import CASES, get_case
    from .config import StratifiedParams

    out = Console()
    try:
        if name is not None:
            case = get_case(name)
            module_doc = sys.modules[case.build.__module__].__doc__ or ""
            out.print(f"[bold]{case.name}[/bold]\n{module_doc.strip()}\n")
            table = Table(title=f"{case.name}: parameters", title_justify="left", show_edge=False)
            for column in ("parameter", "default", "meaning"):
                table.add_column(column)
            for key, field in case.params.model_fields.items():
                table.add_row(key, _format_default(field.default), field.description or "")
            out.print(table)
            return
    except BillowError as error:
        fail(str(error))
    table = Table(title="billow cases (`billow cases NAME` for one in full)", title_justify="left")
    for column in ("case", "physics", "own parameters / defaults"):
        table.add_column(column, overflow="fold")
    for case in CASES.values():
        table.add_row(case.name, case.summary, ", ".join(_own_parameters(case)))
    out.print(table)
    common = ", ".join(
        f"{key}={_format_default(field.default)}"
        for key, field in StratifiedParams.model_fields.items()
    )
    out.print(f"common parameters (default): {common}; Ri and Pr only for stratified cases.")
    out.print("Ri is the centre gradient Richardson number: Ri >= 1/4 means no linear instability.")


def _with_progress(label: str, t_end: float, quiet: bool, run) -> None:
    """Call run(progress) with a progress bar (simulated time, dt, ETA; off a terminal a
    line every PROGRESS_INTERVAL seconds), or run(None) when quiet."""
    if quiet:
        run(None)
        return
    with progress_display(label, t_end, console) as update:
        run(update)


@app.command("run")
def run_command(
    case: Annotated[str | None, typer.Argument(help="case name (see `billow cases`)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML file of parameters")] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="parameter as key=value (repeatable)"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="run directory (default runs/CASE, or runs/NAME for --from-kh2d NAME.txt)"
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="replace a previous run in --out")
    ] = False,
    quiet: QuietOption = False,
    max_wall_time: MaxWallTimeOption = None,
    force: ForceOption = False,
    from_kh2d: Annotated[
        Path | None,
        typer.Option("--from-kh2d", help="kh2d-solver config file (key = value) to map and run"),
    ] = None,
) -> None:
    """Run a case and write its run directory (config.toml, fields.nc, diagnostics.nc,
    tracer_diagnostics.nc, log.txt)."""
    from .callbacks import check_max_wall_time
    from .cases import get_case
    from .compat.kh2d import load_kh2d
    from .config import parse_assignment, read_config

    try:  # the parameters first: a bad one is refused before the solver is loaded
        values: dict = {}
        if from_kh2d is not None:
            if config is not None:
                fail("give either --config or --from-kh2d, not both")
            mapping = load_kh2d(from_kh2d)
            if case is not None and case != mapping.case:
                fail(f"case '{case}' differs from case '{mapping.case}' of {from_kh2d}")
            case, values = mapping.case, dict(mapping.params)
            _print_kh2d_mapping(from_kh2d, mapping)
        if config is not None:
            config_case, values = read_config(config)
            if case is None:
                case = config_case
            elif config_case is not None and config_case != case:
                fail(
                    f"case '{case}' on the command line differs from "
                    f"case '{config_case}' in {config}"
                )
        if case is None:
            fail('no case given (name one, or put case = "..." in the --config file)')
        spec = get_case(case)
        for text in assignments or []:
            key, value = parse_assignment(text)
            values[key] = value
        check_max_wall_time(max_wall_time)
        params = spec.make_params(**values)
    except BillowError as error:
        fail(str(error))
    from .io.rundir import check_run_directory
    from .limits import check_limits
    from .runner import RunStopped, run_case

    try:
        if out is None:
            out = Path("runs") / (from_kh2d.stem if from_kh2d is not None else case)
        out = check_run_directory(out, overwrite)
        check_limits(params, out, force=force)
        start = time.perf_counter()
        _with_progress(
            case,
            params.t_end,
            quiet,
            lambda progress: run_case(
                case,
                params,
                out,
                overwrite=overwrite,
                force=True,  # checked above
                progress=progress,
                max_wall_time=max_wall_time,
            ),
        )
        if not quiet:
            console.print(f"{case} finished in {time.perf_counter() - start:.1f} s -> {out}")
    except RunStopped as error:
        stopped(error)
    except BillowError as error:
        fail(str(error))


def _print_kh2d_mapping(path: Path, mapping) -> None:
    table = Table(title=f"{path} -> billow {mapping.case}", title_justify="left")
    for column in ("kh2d key", "kh2d value", "billow", "note"):
        table.add_column(column, overflow="fold")
    for row in mapping.rows:
        table.add_row(row.key, row.value, row.billow, row.note)
    Console().print(table)


@app.command("restart")
def restart_command(
    run_dir: Annotated[Path, typer.Argument(help="run directory with checkpoints/")],
    t_end: Annotated[float | None, typer.Option("--t-end", help="new end time")] = None,
    quiet: QuietOption = False,
    max_wall_time: MaxWallTimeOption = None,
    from_scratch: Annotated[
        bool,
        typer.Option("--from-scratch", help="ignore checkpoints and records: run again from t = 0"),
    ] = False,
    force: ForceOption = False,
) -> None:
    """Continue a run from its newest checkpoint, appending to fields.nc and the
    diagnostics files."""
    from .callbacks import check_max_wall_time
    from .io.lock import lock_directory
    from .io.rundir import require_run_directory
    from .runner import RunStopped, prepare_restart, restart_run

    try:
        check_max_wall_time(max_wall_time)
        require_run_directory(run_dir)
        with lock_directory(run_dir):
            restart = prepare_restart(run_dir, t_end, from_scratch=from_scratch, force=force)
            if restart.warning:
                print(f"billow: warning: {restart.warning}", file=sys.stderr)
            if restart.checkpoint is None:
                console.print(f"{run_dir}: running it again from t = 0")
            start = time.perf_counter()
            _with_progress(
                "restart",
                restart.params.t_end,
                quiet,
                lambda progress: restart_run(
                    restart, progress=progress, max_wall_time=max_wall_time
                ),
            )
        if not quiet:
            elapsed = time.perf_counter() - start
            console.print(f"{restart.case} finished in {elapsed:.1f} s -> {run_dir}")
    except RunStopped as error:
        stopped(error)
    except BillowError as error:
        fail(str(error))


@contextmanager
def _count_progress(
    label: str, total: int, transient: bool = True
) -> Iterator[Callable[[int, int], None]]:
    """A progress bar of finished tasks; yields its update(done, total). A transient bar
    (sweeps, datasets) vanishes at the end, so that an error or Ctrl-C ends with its one
    line; a kept one (the stability figures) shows it reached 100 %."""
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        TaskProgressColumn(),
        console=console,
        transient=transient,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done, total: bar.update(task, completed=done, total=total)


SchedulerOption = Annotated[
    str | None, typer.Option("--scheduler", help="address of a running Dask scheduler")
]
OverwriteFileOption = Annotated[bool, typer.Option("--overwrite", help="replace an existing --out")]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", help="local workers (default: one per core)")
]


@app.command("sweep")
def sweep_command(
    spec: Annotated[Path, typer.Argument(help="sweep specification (TOML)")],
    out: Annotated[Path, typer.Option("--out", help="sweep directory")],
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
    force: ForceOption = False,
) -> None:
    """Run a parameter sweep on Dask (resumable); writes sweep.csv, sweep.nc, sweep.png."""
    from .sweep import SweepInterrupted, check_sweep, load_spec, run_sweep

    try:
        parsed = load_spec(spec)
        check_sweep(parsed, out, scheduler=scheduler, n_workers=workers, force=force)
        with _count_progress("sweep", len(parsed.members)) as progress:
            run_sweep(
                parsed, out, scheduler=scheduler, n_workers=workers, progress=progress, force=force
            )
    except SweepInterrupted as error:
        interrupted(str(error))
    except BillowError as error:
        fail(str(error))
    console.print(f"sweep of {_count(len(parsed.members), 'member')} -> {out}/sweep.csv")


@app.command("stability")
def stability_command(
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="KEY=VALUE", help="Re, Ri, Pr, R, Lz, bc_z, wavelengths as key=value"
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="directory for growth_rate.png and stability_diagram.png"),
    ] = None,
    case: Annotated[
        str,
        typer.Option("--case", help="case whose defaults (Re, Ri, Pr, R, Lz, bc_z) are used"),
    ] = "shear_layer",
) -> None:
    """Linear stability of the tanh shear layer: fastest-growing mode and recommended Lx."""
    import numpy as np

    from .config import StabilityParams, parse_assignment, validate_params

    try:
        if plot is not None:
            _check_plot_directory(plot)
        values = _case_stability_defaults(case)
        values.update(parse_assignment(text) for text in assignments or [])
        params = validate_params("billow stability", StabilityParams, values)
        from .linear import stability  # scipy, once the parameters are valid

        U, B = stability.tanh_profiles(params.Ri, params.R)
        options = dict(Re=params.Re, Pr=params.Pr, Lz=params.Lz, bc_z=params.bc_z)
        mode = stability.fastest_growing(U, B, **options)
        out = Console()
        table = Table(title=f"linear stability: {params.model_dump()}", show_header=False)
        sigma = mode.sigma.real
        wavelength = 2 * np.pi / mode.k
        unstable = stability.is_unstable(mode)
        rows = [
            ("fastest-growing wavenumber k_max", f"{mode.k:.5f}", "1/d"),
            ("growth rate sigma_max", f"{sigma:.6f}", "U0/d"),
            ("phase speed", f"{mode.phase_speed:.2e}", "U0"),
            ("most-unstable wavelength", f"{wavelength:.4f}", "d"),
            (
                "recommended Lx",
                f"{stability.recommended_Lx(mode, params.wavelengths):.4f}" if unstable else "none",
                f"d ({params.wavelengths} wavelength(s))" if unstable else "no unstable mode",
            ),
            ("e-folding time", f"{1 / sigma:.3f}" if sigma > 0 else "no growth", "d/U0"),
            ("converged", str(mode.converged), f"error estimate {mode.error_estimate:.1e}"),
        ]
        for row in rows:
            table.add_row(*row)
        out.print(table)
        if params.Ri >= 0.25:
            out.print(
                "Ri >= 1/4: no linear instability (Miles-Howard); the growth rate is not positive."
            )
        if case != "shear_layer":
            out.print(
                f"{case}: theory of the tanh layer without the case's rotation or forcing, "
                "as for its default Lx"
            )
        if not unstable:
            k_lo, k_hi = stability.K_BOUNDS
            out.print(
                f"no unstable mode: the least-damped mode found is at the edge of the scan "
                f"{k_lo:g} < k < {k_hi:g} or does not grow, so no Lx is recommended "
                "(a run of this flow needs an explicit Lx)."
            )
        if plot is not None:
            _stability_figures(plot, params, mode, options, out)
    except BillowError as error:
        fail(str(error))


def _case_stability_defaults(name: str) -> dict:
    """The defaults of case ``name`` for StabilityParams' fields, so that `billow stability`
    finds the mode (and the Lx) that a run of the case uses; only for cases whose default
    Lx is set by the tanh layer's linear theory."""
    from .cases import CASES, get_case
    from .config import StabilityParams

    spec = get_case(name)
    fields = spec.params.model_fields
    if "wavelengths" not in fields or "R" not in fields:
        tanh_cases = [c.name for c in CASES.values() if "wavelengths" in c.params.model_fields]
        raise BillowError(
            f"billow stability treats the tanh shear layer: --case {' | '.join(tanh_cases)}, "
            f"not '{name}'"
        )
    return {
        key: field.default for key, field in fields.items() if key in StabilityParams.model_fields
    }


IMAGE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def _check_plot_directory(directory: Path) -> None:
    """Refuse, before any solve, a --plot that names a file (existing, or an image name:
    it takes the directory that growth_rate.png and stability_diagram.png go in)."""
    takes = "--plot takes a directory (for growth_rate.png and stability_diagram.png)"
    if directory.exists() and not directory.is_dir():
        raise BillowError(f"{takes}: '{directory}' is a file")
    if not directory.exists() and directory.suffix.lower() in IMAGE_SUFFIXES:
        raise BillowError(f"{takes}, not an image name: got '{directory}'")


def _stability_figures(directory: Path, params, mode, options: dict, out: Console) -> None:
    import numpy as np

    from .linear import stability
    from .viz.stability_plots import plot_growth_curve, plot_stability_diagram

    require_viz("--plot", ("matplotlib", "cmocean"))

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        fail(f"cannot create plot directory '{directory}': {error.strerror}")
    U, B = stability.tanh_profiles(params.Ri, params.R)
    ks = np.linspace(0.02, 1.0, 50)
    richardson = np.linspace(0.0, 0.3, 13)
    diagram_ks = np.linspace(0.02, 1.0, 30)
    # a row of solves at a time, so that the bar moves (0.05-0.1 s a solve; estimated rates
    # where they decide, within 1e-6 of the exact ones: no figure can show the difference)
    rows = [(params.Ri, ks[i : i + 10]) for i in range(0, ks.size, 10)]
    rows += [(Ri, diagram_ks) for Ri in richardson]
    total = sum(row.size for _, row in rows)
    console.print(f"figures: {total} eigenvalue solves for the growth curve and the diagram")
    results = []
    with _count_progress("eigenvalue solves", total, transient=False) as progress:
        for Ri, row in rows:
            U_row, B_row = stability.tanh_profiles(Ri, params.R)
            rates = stability.growth_rate_curve(U_row, B_row, row, **options, estimate=True)
            results.append(rates)
            progress(sum(r.size for r in results), total)
    rates = np.concatenate(results[: -richardson.size])
    title = f"Re = {params.Re:g}, Ri = {params.Ri:g}, Pr = {params.Pr:g}, Lz = {params.Lz:g}"
    curve = plot_growth_curve(
        ks, rates, mode.k, mode.sigma.real, title, directory / "growth_rate.png"
    )
    grid = np.array(results[-richardson.size :])
    diagram = plot_stability_diagram(
        diagram_ks, richardson, grid, title, directory / "stability_diagram.png"
    )
    out.print(f"figures: {curve}, {diagram}")


def _refuse_early(run_dir: Path, containing: str) -> None:
    """The library's own check of a run directory, made before a command imports its
    analysis stack (1-2 s), so that a wrong path is refused at once."""
    from .io.rundir import require_run_directory

    require_run_directory(run_dir, containing=containing)


@app.command("analyze")
def analyze_command(
    run_dir: Annotated[Path, typer.Argument(help="run directory (with fields.nc)")],
    out: Annotated[Path | None, typer.Option("--out", help="directory for the results")] = None,
) -> None:
    """Energetics, mixing and kh2d-study metrics: analysis.nc, summary.md and figures/."""
    try:
        _refuse_early(run_dir, containing="fields.nc")
        from .analysis.report import analyze_run

        result = analyze_run(run_dir, out=out)
    except BillowError as error:
        fail(str(error))
    console.print(
        f"wrote {result.analysis_path}, {result.summary_path} and {len(result.figures)} figures"
    )
    for note in result.notes:
        if note.startswith("no figures"):
            console.print(note, markup=False)


@app.command("movie")
def movie_command(
    run_dir: Annotated[Path, typer.Argument(help="run directory (with fields.nc)")],
    fields: Annotated[
        list[str] | None,
        typer.Option("--field", help="field panel, repeatable (default vorticity, b)"),
    ] = None,
    fps: Annotated[int, typer.Option("--fps", help="frames per second")] = 20,
    min_duration: Annotated[
        float,
        typer.Option(
            "--min-duration", help="seconds at least (frames interpolated between snapshots)"
        ),
    ] = 10.0,
    formats: Annotated[
        list[str] | None, typer.Option("--format", help="mp4 and/or gif (default both)")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="directory for the movies")] = None,
) -> None:
    """Render movie.mp4 and movie.gif of a run's snapshots (fixed colour limits, time label)."""
    from .viz.movie import render_movie

    try:
        require_viz("billow movie")
        start = time.perf_counter()
        paths = render_movie(
            run_dir,
            fields=tuple(fields or ("vorticity", "b")),
            out=out,
            fps=fps,
            formats=tuple(formats or ("mp4", "gif")),
            min_duration=min_duration,
        )
    except BillowError as error:
        fail(str(error))
    elapsed = time.perf_counter() - start
    console.print(f"wrote {', '.join(map(str, paths))} in {elapsed:.1f} s")


@app.command("export")
def export_command(
    run_dir: Annotated[Path, typer.Argument(help="run directory (with fields.nc)")],
    format: Annotated[str, typer.Option("--format", help="well | pdebench")],
    out: Annotated[Path, typer.Option("--out", help="output HDF5 file")],
    dt_out: Annotated[
        float | None,
        typer.Option("--dt-out", help="output interval, a multiple of the run's save_every"),
    ] = None,
    fields: Annotated[
        str | None,
        typer.Option("--fields", help="comma-separated billow fields (default: all but vorticity)"),
    ] = None,
    overwrite: OverwriteFileOption = False,
) -> None:
    """Convert a run to an ML-ready HDF5 file: The Well's layout or PDEBench's."""
    try:
        _refuse_early(run_dir, containing="config.toml")
        from .ml.export import export_run

        names = None if fields is None else [f.strip() for f in fields.split(",") if f.strip()]
        path = export_run(run_dir, format, out, dt_out=dt_out, fields=names, overwrite=overwrite)
    except BillowError as error:
        fail(str(error))
    console.print(f"wrote {path}")


@app.command("dataset")
def dataset_command(
    spec: Annotated[Path, typer.Argument(help="dataset specification (TOML)")],
    out: Annotated[Path, typer.Option("--out", help="dataset directory")],
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
    force: ForceOption = False,
) -> None:
    """Generate an ML dataset in The Well's layout from a sweep-like spec (Dask, resumable):
    data/{train,valid,test}/*.hdf5, stats.yaml, README.md."""
    from .ml.build import make_dataset
    from .ml.spec import load_dataset_spec
    from .sweep import SweepInterrupted, check_sweep

    try:
        parsed = load_dataset_spec(spec)
        check_sweep(parsed.sweep, out / "runs", scheduler=scheduler, n_workers=workers, force=force)
        with _count_progress("dataset", len(parsed.sweep.members)) as progress:
            make_dataset(
                parsed, out, scheduler=scheduler, n_workers=workers, progress=progress, force=force
            )
    except SweepInterrupted as error:
        interrupted(str(error))
    except BillowError as error:
        fail(str(error))
    trajectories = _count(len(parsed.sweep.members), "trajectory", "trajectories")
    console.print(f"dataset of {trajectories} -> {out}/data")


@app.command("compare")
def compare_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="two or more run directories")],
    out: Annotated[Path, typer.Option("--out", help="directory for the results")] = Path(
        "runs/compare"
    ),
    samples: Annotated[
        int, typer.Option("--samples", help="space-time points per run for the tests")
    ] = 10000,
    seed: Annotated[int, typer.Option("--seed", help="seed of the sampling")] = 0,
) -> None:
    """The kh2d study's cross-run table and tests: compare.md, compare.nc, compare.csv, figures/."""
    try:
        for run_dir in run_dirs:
            _refuse_early(run_dir, containing="fields.nc")
        require_viz("billow compare", ("matplotlib", "cmocean"))
        from .analysis.compare import compare_runs

        comparison = compare_runs(run_dirs, out=out, samples=samples, seed=seed)
    except BillowError as error:
        fail(str(error))
    console.print(f"wrote {', '.join(map(str, comparison.paths))}")


@app.command("pack")
def pack_command(
    run_dir: Annotated[Path, typer.Argument(help="run directory (with fields.nc)")],
    out: Annotated[
        Path | None, typer.Option("--out", help="output netCDF file (default DIR.nc beside it)")
    ] = None,
    overwrite: OverwriteFileOption = False,
) -> None:
    """Write a run as one self-contained netCDF file (fields, and each diagnostics file in
    a group)."""
    from .io.pack import pack_run

    try:
        path = pack_run(run_dir, out, overwrite=overwrite)
    except BillowError as error:
        fail(str(error))
    console.print(f"wrote {path}")


def _describe(error: BaseException) -> str:
    """One line for an exception that escaped a command."""
    if isinstance(error, ModuleNotFoundError) and error.name:
        root = error.name.split(".")[0]
        if root in EXTRAS:
            return (
                f"this needs the optional package {root}: "
                f'pip install -e ".[{EXTRAS[root]}]" (in the billow repository)'
            )
    if isinstance(error, MemoryError):
        return "out of memory (see the limits in the README; --force skips them)"
    if isinstance(error, OSError) and error.strerror:
        where = f": '{error.filename}'" if error.filename else ""
        return f"{error.strerror}{where}"
    if isinstance(error, BillowError):
        return str(error)
    first = str(error).splitlines()[0] if str(error) else ""
    return (
        f"internal error {type(error).__name__}: {first} "
        "(rerun with --debug for the traceback, and please report it)"
    )


def _freeze_objects() -> None:
    """At exit, keep the objects made so far out of the interpreter's last garbage
    collection (gc.freeze): it walked numba's compiled functions for 0.6 s at the end of
    every command that had used the solver. The threads are joined by then, exit
    handlers run as before, and the operating system takes the memory back."""
    gc.freeze()


def main() -> None:
    """Console entry point: usage errors, like user errors, become one line and exit code 2;
    anything unexpected one line and exit code 1 (the traceback with --debug)."""
    atexit.unregister(_freeze_objects)  # once, however often main is called in a process
    atexit.register(_freeze_objects)
    try:
        code = app(prog_name="billow", standalone_mode=False)
    except NoArgsIsHelpError as error:
        print(error.format_message(), file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except ClickException as error:
        print(f"billow: error: {error.format_message()}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except typer.Abort:
        print("billow: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:  # noqa: BLE001 - the last line of defence: no tracebacks
        if _debug[0]:
            traceback.print_exc()
        print(f"billow: error: {_describe(error)}", file=sys.stderr)
        user_error = isinstance(error, (BillowError, OSError, ImportError, MemoryError))
        sys.exit(EXIT_ERROR if user_error else 1)
    sys.exit(code if isinstance(code, int) else 0)
