"""Analysis of runs: growth rates, energetics and mixing, the kh2d study's statistics."""

from . import energetics, kh2d
from .growth import GrowthFit, fit_growth_rate, simulate_growth

__all__ = ["GrowthFit", "energetics", "fit_growth_rate", "kh2d", "simulate_growth"]
