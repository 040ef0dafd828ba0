"""Exponential growth-rate fit over the linear phase of a modal amplitude A(t).

A run's amplitude rarely grows exponentially from t = 0 to the end: a perturbation that
is not the eigenmode (a sinusoid, noise) first adjusts (the local rate d ln A/dt rises,
or overshoots), and the growing mode finally saturates (the rate falls to zero). The
fit therefore looks for the *exponential phase* in the data:

1. ln A is interpolated onto a uniform time grid (at most MAX_POINTS points), so that
   short time steps do not weigh more than long ones;
2. the local rate r(t) is the least-squares slope of ln A over a sliding window of
   SMOOTHING of the record (at least 3 points), which removes step-to-step jitter;
3. the exponential phase is the longest time window in which r stays within
   ±``tolerance`` (relative) of the centre of its range, with a positive rate: start-up
   transients (rate still rising or overshooting) and saturation (rate falling) are
   outside it;
4. sigma is the least-squares slope of ln A over that window; R² of that fit is the
   quality measure. A window spanning fewer than MIN_E_FOLDINGS e-foldings is no
   exponential phase: the rate is then nan, with the reason.

:func:`linear_theory_rate` gives linear stability theory's growth rate at the run's
fundamental wavenumber 2π/Lx, to compare with (``billow sweep`` reports both).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..callbacks import Callback
from ..cases import get_case
from ..cases.double_shear import base_profiles
from ..linear import stability
from ..simulation import Simulation

MAX_POINTS = 400  # longer series are resampled to this many points before the window search
SMOOTHING = 0.025  # width of the local-rate window, a fraction of the record (>= 3 points)
MIN_E_FOLDINGS = 0.5  # an exponential phase must grow A by at least e**MIN_E_FOLDINGS


@dataclass(frozen=True)
class GrowthFit:
    """An exponential fit A ~ exp(rate t) over the window [t_start, t_end].

    ``rate`` is nan when the series has no clean exponential phase; ``reason`` says why
    (empty when the fit is good). ``r_squared`` is the R² of the fit of ln A.
    """

    rate: float
    t_start: float
    t_end: float
    points: int
    r_squared: float = math.nan
    reason: str = ""


def _no_fit(reason: str) -> GrowthFit:
    return GrowthFit(math.nan, math.nan, math.nan, 0, math.nan, reason)


def _local_rates(t: np.ndarray, log_amplitude: np.ndarray, width: int) -> np.ndarray:
    """Least-squares slope of ln A over a centred window of ``width`` points (shrunk at
    the ends), on a uniform grid."""
    half = width // 2
    rates = np.empty_like(t)
    for i in range(t.size):
        lo, hi = max(0, i - half), min(t.size, i + half + 1)
        tt, yy = t[lo:hi], log_amplitude[lo:hi]
        tt = tt - tt.mean()
        rates[i] = np.dot(tt, yy - yy.mean()) / np.dot(tt, tt)
    return rates


def _longest_constant_window(
    t: np.ndarray, rate: np.ndarray, tolerance: float, min_points: int
) -> tuple[int, int] | None:
    """Indices (i, j) of the longest window in which the rate stays positive and within
    ±tolerance of the centre of its range; None if no window has min_points."""
    best, best_span = None, -1.0
    for i in range(t.size - min_points + 1):
        high = np.maximum.accumulate(rate[i:])
        low = np.minimum.accumulate(rate[i:])
        centre = 0.5 * (high + low)
        good = (high - low <= 2 * tolerance * centre) & (low > 0)
        bad = np.flatnonzero(~good)
        length = bad[0] if bad.size else good.size  # points i .. i + length - 1 qualify
        if length >= min_points and t[i + length - 1] - t[i] > best_span:
            best, best_span = (i, i + length - 1), t[i + length - 1] - t[i]
    return best


def fit_growth_rate(
    t: np.ndarray, amplitude: np.ndarray, *, tolerance: float = 0.05, min_points: int = 5
) -> GrowthFit:
    """Fit A(t) ~ exp(sigma t) over the exponential phase found in the data.

    Parameters
    ----------
    t : ndarray, shape (n,)
        Increasing times.
    amplitude : ndarray, shape (n,)
        A mode's amplitude, e.g. diagnostics.nc's ``mode_amplitude``; non-positive or
        non-finite values are ignored.
    tolerance : float
        Relative variation of the local growth rate allowed within the window.
    min_points : int
        Fewest points of the (resampled) series in a window.

    Returns
    -------
    GrowthFit
        The rate (nan, with ``reason``, when there is no exponential phase of at least
        MIN_E_FOLDINGS e-foldings), the window, its point count and the R² of the fit.
    """
    t = np.asarray(t, dtype=float)
    amplitude = np.asarray(amplitude, dtype=float)
    keep = np.isfinite(t) & np.isfinite(amplitude) & (amplitude > 0)
    t, log_amplitude = t[keep], np.log(amplitude[keep])
    if t.size < min_points or t[-1] <= t[0]:
        return _no_fit(f"need at least {min_points} positive amplitudes, got {t.size}")
    uniform = np.linspace(t[0], t[-1], min(MAX_POINTS, t.size))
    log_amplitude = np.interp(uniform, t, log_amplitude)
    t = uniform
    rise = np.max(log_amplitude - np.minimum.accumulate(log_amplitude))
    if not rise >= MIN_E_FOLDINGS:
        return _no_fit(
            f"the amplitude does not grow (by at most a factor {math.exp(rise):.3g} < "
            f"e^{MIN_E_FOLDINGS:g})"
        )
    width = max(3, round(SMOOTHING * t.size))
    rate = _local_rates(t, log_amplitude, width)
    window = _longest_constant_window(t, rate, tolerance, min_points)
    if window is None:
        return _no_fit(
            f"no exponential phase: the growth rate never stays within ±{tolerance:.0%} "
            f"for {min_points} points"
        )
    i, j = window
    tt, yy = t[i : j + 1], log_amplitude[i : j + 1]
    slope, intercept = np.polyfit(tt, yy, 1)
    residual = yy - (slope * tt + intercept)
    spread = np.sum((yy - yy.mean()) ** 2)
    r_squared = float(1 - np.sum(residual**2) / spread) if spread > 0 else math.nan
    e_foldings = slope * (tt[-1] - tt[0])
    if not e_foldings >= MIN_E_FOLDINGS:
        return GrowthFit(
            math.nan,
            float(tt[0]),
            float(tt[-1]),
            int(j - i + 1),
            r_squared,
            f"no exponential phase: the longest window of near-constant growth rate "
            f"(t = {tt[0]:.3g} to {tt[-1]:.3g}) spans {e_foldings:.2g} e-foldings "
            f"(< {MIN_E_FOLDINGS:g}); run longer or seed the eigenmode",
        )
    return GrowthFit(float(slope), float(tt[0]), float(tt[-1]), int(j - i + 1), r_squared)


def linear_theory_rate(case: str, params: Mapping[str, Any]) -> float:
    """Linear stability theory's growth rate at the run's fundamental wavenumber 2π/Lx.

    Parameters
    ----------
    case : str
        The case; theory is available for the tanh shear layer (``shear_layer``,
        ``rotating`` without rotation, ``forced`` on the shear layer) and
        ``double_shear`` between walls.
    params : mapping
        The run's parameters (``config.toml`` values or a run file's attributes).

    Returns
    -------
    float
        sigma.real of the most unstable mode at k = 2π/Lx (units of U0/d); nan where
        theory does not apply.
    """
    try:
        spec = get_case(case)
        fields = spec.params.model_fields
        values = {  # netCDF attributes hold booleans as 0/1
            key: bool(value) if fields[key].annotation is bool else value
            for key, value in params.items()
            if key in fields
        }
        resolved = spec.make_params(**values)
    except Exception:  # noqa: BLE001 - unknown case, parameters of an older or foreign file
        return math.nan
    if resolved.bc_z == "periodic":
        return math.nan
    if case == "double_shear":

        def U(z):
            return base_profiles(z, resolved)[0]

        def B(z):
            return base_profiles(z, resolved)[1]

    elif case == "shear_layer" or (
        (case == "rotating" and math.isinf(resolved.Ro))
        or (case == "forced" and resolved.base == "shear_layer")
    ):
        U, B = stability.tanh_profiles(resolved.Ri, resolved.R)
    else:
        return math.nan
    mode = stability.most_unstable_mode(
        U,
        B,
        2 * math.pi / resolved.Lx,
        Re=resolved.Re,
        Pr=resolved.Pr,
        Lz=resolved.Lz,
        bc_z=resolved.bc_z,
    )
    return mode.growth_rate


def simulate_growth(
    case: str, *, cfl: float = 0.5, **params
) -> tuple[GrowthFit, np.ndarray, np.ndarray]:
    """Run ``case`` in memory and fit the growth of its fundamental mode.

    Returns the fit and the per-step series (t, max_z |w_hat(2 pi/Lx)|).
    """
    spec = get_case(case)
    resolved = spec.make_params(**params)
    model = spec.build(resolved)
    times: list[float] = []
    amplitudes: list[float] = []

    def record(sim: Simulation) -> None:  # at t = 0 and after every step
        times.append(sim.model.time)
        amplitudes.append(sim.evaluate_diagnostics(every_step=True)["mode_amplitude"])

    simulation = Simulation(model, t_end=resolved.t_end, save_every=resolved.t_end, cfl=cfl)
    simulation.callbacks["record"] = Callback(record)
    simulation.run()
    t, amplitude = np.array(times), np.array(amplitudes)
    return fit_growth_rate(t, amplitude), t, amplitude
