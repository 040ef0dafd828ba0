"""Analysis of runs: growth rates, energetics and mixing, the kh2d study's statistics.

The submodules ``energetics``, ``kh2d``, ``report`` (``billow analyze``) and
``compare`` (``billow compare``) are attributes of the package, imported on first use.
"""

import importlib

from .growth import GrowthFit, fit_growth_rate, linear_theory_rate, simulate_growth

__all__ = [
    "GrowthFit",
    "compare",
    "energetics",
    "fit_growth_rate",
    "kh2d",
    "linear_theory_rate",
    "report",
    "simulate_growth",
]


def __getattr__(name: str):
    if name in ("compare", "energetics", "kh2d", "report"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
