"""Progress of a run on stderr, shared by ``billow run``/``restart`` and ``billow.run``.

On a terminal: a live bar (simulated time, dt, ETA). Otherwise (a batch job's log, a
pipe): one line at most every :data:`PROGRESS_INTERVAL` seconds of wall clock, giving
the simulated time, dt, steps per second and the estimated time left, so that a log
shows the run is alive. Either way a line says when numba starts compiling billow's
kernels (the first run on a machine spends up to a minute on it, and nothing else
would show for that long).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from .simulation import Simulation

PROGRESS_INTERVAL = 30.0  # seconds of wall clock between progress lines off a terminal
COMPILING = "compiling the numerical kernels with numba (first use only: up to a minute)"


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` (``?`` when unknown)."""
    if not seconds >= 0 or seconds == float("inf"):
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class ProgressLines:
    """A progress callback printing one line to ``stream`` at most every ``interval``
    seconds (default :data:`PROGRESS_INTERVAL`, read when the callback is made).

    Rates are measured from the end of the first step (the Simulation also calls a
    callback once at t = 0), so that the set-up and the compilation in the first step do
    not distort the steps/s and the ETA."""

    def __init__(self, label: str, t_end: float, stream=None, interval: float | None = None):
        self.label, self.t_end = label, t_end
        self.stream = stream
        self.interval = PROGRESS_INTERVAL if interval is None else interval
        self.last = time.perf_counter()
        self.first: tuple[float, float, int] | None = None  # wall, t, iteration after step 1

    def line(self, sim: Simulation, now: float) -> str:
        t, iteration = sim.model.time, sim.model.iteration
        start, t0, iteration0 = self.first
        elapsed = max(now - start, 1e-12)
        rate = (iteration - iteration0) / elapsed
        speed = (t - t0) / elapsed  # simulated time per second of wall clock
        eta = (self.t_end - t) / speed if speed > 0 else float("inf")
        percent = 100.0 * t / self.t_end if self.t_end > 0 else 100.0
        return (
            f"{self.label}: t = {t:.6g} / {self.t_end:g} ({percent:.0f} %), dt = {sim.dt:.3e}, "
            f"{rate:.1f} steps/s, ETA {format_duration(eta)}"
        )

    def __call__(self, sim: Simulation) -> None:
        now = time.perf_counter()
        if self.first is None or self.first[2] == 0:  # the call at t = 0 does not count
            self.first = (now, sim.model.time, sim.model.iteration)
            return
        if now - self.last >= self.interval:
            self.last = now
            stream = self.stream if self.stream is not None else sys.stderr
            print(self.line(sim, now), file=stream, flush=True)


@contextmanager
def compilation_notice(notify: Callable[[], None]) -> Iterator[None]:
    """Within the block, call ``notify()`` once, when numba starts compiling a function (a
    kernel whose compiled code is not in numba's cache yet: its first use on this machine,
    or after a change of billow's source)."""
    from numba.core import event  # the run that this watches loads numba anyway

    class FirstCompilation(event.Listener):
        notified = False

        def on_start(self, compilation: event.Event) -> None:
            if not self.notified:
                self.notified = True
                notify()

        def on_end(self, compilation: event.Event) -> None:
            pass

    with event.install_listener("numba:compile", FirstCompilation()):
        yield


@contextmanager
def progress_display(
    label: str, t_end: float, console: Console | None = None
) -> Iterator[Callable[[Simulation], None]]:
    """Yield a progress callback for :class:`~billow.Simulation`: a rich bar on a terminal
    (``console``, default stderr), :class:`ProgressLines` otherwise; either way with the
    line :data:`COMPILING` (above the bar) when numba compiles a kernel inside the
    block."""
    console = console if console is not None else Console(stderr=True)
    if not console.is_terminal:  # a log is told too: its first line may be a minute away
        stream = console.file
        with compilation_notice(lambda: print(COMPILING, file=stream, flush=True)):
            yield ProgressLines(label, t_end, stream=stream)
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with (
        Progress(*columns, console=console) as progress,
        compilation_notice(lambda: console.print(COMPILING, style="dim", highlight=False)),
    ):
        task = progress.add_task(label, total=t_end)

        def update(sim: Simulation) -> None:
            progress.update(
                task,
                completed=sim.model.time,
                description=f"t = {sim.model.time:8.3f} / {t_end:g}  dt = {sim.dt:.3e}",
            )

        yield update
