"""Command-line interface: ``billow cases | run``. A thin layer over the Python API;
user errors become one line on stderr and exit code 2."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

try:  # recent typer vendors click; older versions use the click package
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import ClickException, NoArgsIsHelpError

from .cases import CASES, get_case
from .config import parse_assignment, read_config
from .errors import BillowError
from .io.rundir import prepare_run_directory
from .runner import run_case
from .simulation import Simulation

app = typer.Typer(
    help="billow: fast, verified simulations of 2-D stratified shear flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def fail(message: str) -> None:
    """Print one line naming the problem and exit non-zero."""
    print(f"billow: error: {message}", file=sys.stderr)
    raise typer.Exit(code=2)


@app.command("cases")
def list_cases() -> None:
    """List the cases with their parameters, defaults and meaning."""
    out = Console()
    for case in CASES.values():
        table = Table(title=f"{case.name}: {case.summary}", title_justify="left", show_edge=False)
        table.add_column("parameter")
        table.add_column("default")
        table.add_column("meaning")
        for name, field in case.params.model_fields.items():
            table.add_row(name, str(field.default), field.description or "")
        out.print(table)
        out.print()


def _progress_callback(progress: Progress, task, t_end: float):
    def update(sim: Simulation) -> None:
        progress.update(
            task, completed=sim.model.time,
            description=f"t = {sim.model.time:8.3f} / {t_end:g}  dt = {sim.dt:.3e}",
        )

    return update


@app.command("run")
def run_command(
    case: Annotated[str | None, typer.Argument(help="case name (see `billow cases`)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML file of parameters")] = None,
    assignments: Annotated[
        list[str] | None, typer.Option("--set", help="parameter as key=value (repeatable)")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="run directory (default runs/CASE)")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a previous run in --out")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="no progress bar")] = False,
) -> None:
    """Run a case and write its run directory (config.toml, fields.nc, diagnostics.nc, log.txt)."""
    try:
        values: dict = {}
        if config is not None:
            config_case, values = read_config(config)
            if case is None:
                case = config_case
            elif config_case is not None and config_case != case:
                fail(f"case '{case}' on the command line differs from case '{config_case}' in {config}")
        if case is None:
            fail("no case given (name one, or put case = \"...\" in the --config file)")
        spec = get_case(case)
        for text in assignments or []:
            key, value = parse_assignment(text)
            values[key] = value
        params = spec.make_params(**values)
        out = prepare_run_directory(out if out is not None else Path("runs") / case, overwrite)
        start = time.perf_counter()
        if quiet:
            run_case(case, params, out, overwrite=True)
        else:
            with Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn(),
                TextColumn("ETA"), TimeRemainingColumn(), console=console,
            ) as progress:
                task = progress.add_task(f"{case}", total=params.t_end)
                run_case(case, params, out, overwrite=True,
                         progress=_progress_callback(progress, task, params.t_end))
        if not quiet:
            console.print(f"{case} finished in {time.perf_counter() - start:.1f} s -> {out}")
    except BillowError as error:
        fail(str(error))


def main() -> None:
    """Console entry point: usage errors, like user errors, become one line and exit code 2."""
    try:
        code = app(prog_name="billow", standalone_mode=False)
    except NoArgsIsHelpError as error:
        print(error.format_message(), file=sys.stderr)
        sys.exit(2)
    except ClickException as error:
        print(f"billow: error: {error.format_message()}", file=sys.stderr)
        sys.exit(2)
    except typer.Abort:
        print("billow: error: interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
