"""billow: fast, verified simulations of 2-D stratified shear flows.

The public names below are imported on first use (PEP 562): ``import billow.viz.movie``
or ``billow --help`` then loads neither numba nor scipy, and a simulation loads no
analysis, ML or plotting code.
"""

import importlib as _importlib

from . import _process  # noqa: E402

_process.configure()  # OpenMP spinning and the allocator (see billow._process)

from ._version import __version__  # noqa: E402

_PUBLIC = {  # name -> (module, attribute; None for the module itself)
    "CASES": (".cases", "CASES"),
    "Grid": (".core.grid", "Grid"),
    "Model": (".core.model", "Model"),
    "Simulation": (".simulation", "Simulation"),
    "analysis": (".analysis", None),
    "datasets": (".datasets", None),  # billow.ml.readers under its old name
    "get_case": (".cases", "get_case"),
    "open_run": (".io.rundir", "open_run"),
    "run": (".runner", "run"),
    "run_case": (".runner", "run_case"),
    "stability": (".stability", None),  # billow.linear.stability under its old name
}
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


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = _PUBLIC[name]
    module = _importlib.import_module(module_name, __name__)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) - {"_importlib", "_process", "_PUBLIC"} | set(__all__))
