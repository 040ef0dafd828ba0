"""billow: fast, verified simulations of 2-D stratified shear flows."""

__version__ = "0.1.0"

import os  # noqa: E402

if "NUMBA_THREADING_LAYER" not in os.environ:
    # numba's OpenMP layer busy-waits between parallel loops: on a machine shared with
    # other busy processes one step can become ~30x slower. The workqueue layer sleeps.
    import numba

    numba.config.THREADING_LAYER = "workqueue"

from .cases import CASES, get_case  # noqa: E402
from .grid import Grid  # noqa: E402
from .model import Model  # noqa: E402
from .runner import open_run, run, run_case  # noqa: E402
from .simulation import Simulation  # noqa: E402

__all__ = ["CASES", "Grid", "Model", "Simulation", "get_case", "open_run", "run", "run_case"]
