"""Analysis of finished runs: growth rates (more diagnostics to come)."""

from .growth import GrowthFit, fit_growth_rate, simulate_growth

__all__ = ["GrowthFit", "fit_growth_rate", "simulate_growth"]
