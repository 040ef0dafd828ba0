"""A run's first compilation shared with a second process.

A run whose kernels are not in numba's cache yet (the first run on a machine, or the
first after billow's source changed) compiles them one after the other, in the order it
calls them, on one core (22-37 s for a small shear layer on the project's 2-core Zen 3),
while the other core idles: numba compiles on the calling thread only.
:func:`compiling_ahead` starts, at the first compilation it sees, a helper process
(``python -m billow._compile_ahead``) that builds the same case on a 32 x 32 grid (the
kernels' types do not depend on the grid's size) and takes one step and one snapshot, so
compiling into numba's cache, from the other end, what the run calls last: the transport
kernel (the largest), the forcing's kernels, the stage update and the snapshots' dense
output. The run meanwhile compiles what it calls first (the projection, the controller's
pass, the diagnostics), and then finds the rest in the cache. Numba writes its cache
files atomically, so the two processes may meet on a kernel: the one that finds it
missing compiles it again, the same code.

The helper writes nothing but numba's cache (not the run's directory, nor the
linear-theory cache), and its output is discarded; if it fails, the run compiles what it
would have. It stops when the run's block ends (it finishes the kernel it is compiling,
then exits), and by itself, between kernels, when the run's process is gone.
``BILLOW_COMPILE_AHEAD=0`` turns it off.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .cases import get_case
from .config import RunParams
from .core.model import Model
from .linear.cache import CACHE_VARIABLE
from .progress import compilation_notice
from .simulation import Simulation

HELPER_GRID = 32  # cells in x and in z of the helper's copy of the case
STOP_WAIT = 5.0  # seconds the run waits for a stopped helper before leaving it


def usable_cores() -> int:
    """The cores this process may run on (every core where that is not known)."""
    affinity = getattr(os, "sched_getaffinity", None)  # Linux
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def enabled() -> bool:
    """Whether a run may start a helper: not turned off, and a second core to run it on."""
    return os.environ.get("BILLOW_COMPILE_AHEAD", "1") != "0" and usable_cores() >= 2


@contextmanager
def compiling_ahead(
    case: str, params: RunParams, wanted: bool = True
) -> Iterator[list[subprocess.Popen]]:
    """Within the block, start the helper process at numba's first compilation (see the
    module's docstring), if ``wanted`` and :func:`enabled`; stop it at the block's end.
    Yields the list of the helpers started (one at most)."""
    helpers: list[subprocess.Popen] = []
    if not (wanted and enabled()):
        yield helpers
        return

    def start() -> None:
        request = json.dumps({"case": case, "params": params.model_dump(mode="json")})
        try:
            helper = subprocess.Popen(
                [sys.executable, "-m", "billow._compile_ahead"],
                # its kernels run on 32 x 32; its linear theory, if any, is not kept on disk
                env={**os.environ, "NUMBA_NUM_THREADS": "1", CACHE_VARIABLE: ""},
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            helper.stdin.write(request)
            helper.stdin.close()
        except OSError:  # no process to spare: the run compiles everything itself
            return
        helpers.append(helper)

    try:
        with compilation_notice(start):
            yield helpers
    finally:
        for helper in helpers:
            _stop(helper)


def _stop(helper: subprocess.Popen) -> None:
    """Ask the helper to exit after the kernel it is compiling; kill it after STOP_WAIT
    (numba's cache files are written whole or not at all)."""
    if helper.poll() is not None:
        return
    helper.send_signal(signal.SIGTERM)
    try:
        helper.wait(STOP_WAIT)
    except subprocess.TimeoutExpired:
        helper.kill()
        helper.wait()


def compile_for(case: str, values: dict) -> None:
    """Compile, into numba's cache, the kernels a run of ``case`` with parameters
    ``values`` calls last (see the module's docstring): its step and its snapshots, on a
    HELPER_GRID x HELPER_GRID grid. Stops early, between kernels, on SIGTERM or when the
    process that started it is gone."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda number, frame: stopping.append(number))
    parent = os.getppid()

    def wanted() -> bool:
        return not stopping and os.getppid() == parent

    # the run compiles these first itself: the helper leaves them out
    Model.project = Model.fill_all_ghosts = lambda model: None
    spec = get_case(case)
    params = spec.make_params(**{**values, "nx": HELPER_GRID, "nz": HELPER_GRID})
    model = spec.build(params)
    simulation = Simulation(model, t_end=1.0)
    dt = 1e-3
    if wanted():  # the transport (and the forcing's kernels), the stage update
        model.step(dt, keep_first_stage=True)
    if wanted():  # a snapshot inside that step: the dense output at the cell centres
        simulation.snapshot(0.5 * dt)


def main() -> None:
    request = json.load(sys.stdin)
    compile_for(request["case"], request["params"])


if __name__ == "__main__":
    main()
