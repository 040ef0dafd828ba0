"""Exponential growth-rate fit over the linear phase of a modal amplitude A(t).

The linear phase is found automatically as the longest time window in which
the local rate d ln A / dt stays within +-``tolerance`` (relative) of a
constant; sigma is then the least-squares slope of ln A(t) over that window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_POINTS = 400  # longer series are subsampled before the O(n^2) window search


@dataclass(frozen=True)
class GrowthFit:
    rate: float  # sigma, from A ~ exp(sigma t)
    t_start: float
    t_end: float
    points: int


def fit_growth_rate(
    t: np.ndarray, amplitude: np.ndarray, *, tolerance: float = 0.02, min_points: int = 5
) -> GrowthFit:
    """Fit A(t) ~ exp(sigma t) over the automatically chosen linear phase."""
    t = np.asarray(t, dtype=float)
    amplitude = np.asarray(amplitude, dtype=float)
    keep = np.isfinite(amplitude) & (amplitude > 0)
    t, log_amplitude = t[keep], np.log(amplitude[keep])
    if t.size < min_points:
        raise ValueError(f"need at least {min_points} positive amplitudes, got {t.size}")
    if t.size > MAX_POINTS:
        index = np.unique(np.linspace(0, t.size - 1, MAX_POINTS).round().astype(int))
        t, log_amplitude = t[index], log_amplitude[index]
    rate = np.gradient(log_amplitude, t)
    best, best_span = (0, min_points - 1), -1.0
    for i in range(t.size - min_points + 1):
        low = high = rate[i]
        for j in range(i + 1, t.size):
            low, high = min(low, rate[j]), max(high, rate[j])
            if high - low > 2 * tolerance * abs(0.5 * (low + high)):
                break
            if j - i + 1 >= min_points and t[j] - t[i] > best_span:
                best, best_span = (i, j), t[j] - t[i]
    i, j = best
    slope = np.polyfit(t[i : j + 1], log_amplitude[i : j + 1], 1)[0]
    return GrowthFit(float(slope), float(t[i]), float(t[j]), j - i + 1)


def simulate_growth(
    case: str, *, cfl: float = 0.5, **params
) -> tuple[GrowthFit, np.ndarray, np.ndarray]:
    """Run ``case`` in memory and fit the growth of its fundamental mode.

    Returns the fit and the per-step series (t, max_z |w_hat(2 pi/Lx)|).
    """
    from ..cases import get_case
    from ..simulation import Simulation

    spec = get_case(case)
    resolved = spec.make_params(**params)
    model = spec.build(resolved)
    times: list[float] = []
    amplitudes: list[float] = []

    def record(t: float, values: dict[str, float]) -> None:
        times.append(t)
        amplitudes.append(values["mode_amplitude"])

    simulation = Simulation(model, t_end=resolved.t_end, save_every=resolved.t_end, cfl=cfl)
    simulation.on_diagnostics = record
    simulation.run()
    t, amplitude = np.array(times), np.array(amplitudes)
    return fit_growth_rate(t, amplitude), t, amplitude
