"""billow: fast, verified simulations of 2-D stratified shear flows."""

import importlib as _importlib
import sys as _sys

from . import _process  # noqa: E402

_process.configure()  # OpenMP spinning and the allocator (see billow._process)

from ._version import __version__  # noqa: E402
from .cases import CASES, get_case  # noqa: E402
from .core.grid import Grid  # noqa: E402
from .core.model import Model  # noqa: E402
from .io.rundir import open_run  # noqa: E402
from .linear import stability  # noqa: E402
from .ml import readers as datasets  # noqa: E402
from .runner import run, run_case  # noqa: E402
from .simulation import Simulation  # noqa: E402

__all__ = [
    "CASES",
    "Grid",
    "Model",
    "Simulation",
    "__version__",
    "analysis",
    "datasets",
    "get_case",
    "open_run",
    "run",
    "run_case",
    "stability",
]

# Old import paths, kept for users: ``billow.stability`` and ``billow.datasets`` are the
# modules billow.linear.stability and billow.ml.readers themselves (the same objects), so
# ``import billow.stability`` and ``from billow.datasets import WellWindows`` work too.
_sys.modules[f"{__name__}.stability"] = stability
_sys.modules[f"{__name__}.datasets"] = datasets


def __getattr__(name: str):
    if name == "analysis":  # imported on first use: a simulation does not need it
        return _importlib.import_module(".analysis", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) - {"_importlib", "_process", "_sys"} | set(__all__))
