"""Statistics of the kh2d-solver study (Herho et al. 2025), as billow computes them.

The definitions follow the study's published analysis script; where it was
unseeded or uncorrected (subsamples, multiple comparisons) billow seeds the
generator and adds a Holm correction.

Density vs buoyancy: the study analyses rho, billow evolves b; with
rho = rho0 (1 - b/g) (:func:`density_from_buoyancy`) rho is an affine map of b.
Under f -> a f + c the Shannon entropy (bins over [min, max]), sigma/(max - min),
the kurtosis term and the physical complexity index are invariant (for a < 0 the
histogram is mirrored: values exactly on a bin edge may change bin), but
std(|grad f|) (so the published CI) and Gamma scale with |a|: they depend on the
units and on the g chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.special import entr

# scipy.stats is imported inside the functions that use it: it takes ~0.4 s to import, and
# the CLI imports this module (through billow.analysis) even for `billow run`.

STAGE_WEIGHTS = (0.15, 0.25, 0.35, 0.25)  # early, growth, mature, late
SHAPIRO_MAX_POINTS = 5000  # Shapiro-Wilk p-values are unreliable beyond this


def density_from_buoyancy(b: np.ndarray, rho0: float = 1.0, g: float = 9.81) -> np.ndarray:
    """rho = rho0 (1 - b/g), from b = -g (rho - rho0)/rho0."""
    return rho0 * (1.0 - b / g)


def shannon_entropy(field: np.ndarray, bins: int = 50) -> float:
    """H = -sum p_i ln p_i, p_i = n_i / N over a ``bins``-bin histogram on [min, max]; 0 ln 0 = 0.

    All values of ``field`` enter (any shape). A constant field fills one bin: H = 0.
    """
    counts, _ = np.histogram(field, bins=bins)
    return float(np.sum(entr(counts / counts.sum())))


def _statistical_terms(field: np.ndarray) -> tuple[float, float, float]:
    """(H, sigma/(max - min), ln(1 + |excess kurtosis|)), kurtosis Fisher with bias=True."""
    from scipy import stats  # deferred: see the note at the imports

    values = np.ravel(field)
    value_range = np.ptp(values)
    if value_range == 0:
        raise ValueError("the complexity index is undefined for a constant field")
    kurtosis = stats.kurtosis(values, fisher=True, bias=True)
    normalised_std = float(np.std(values) / value_range)
    return shannon_entropy(values), normalised_std, float(np.log1p(abs(kurtosis)))


def complexity_index(field: np.ndarray) -> float:
    """CI = 0.3 H + 0.3 std(|grad f|) + 0.2 sigma/(max - min) + 0.2 ln(1 + |excess kurtosis|).

    grad f in grid-index units (np.gradient, unit spacing, both axes), as published:
    the term grows as the grid is coarsened and scales with the units of f.
    """
    entropy, normalised_std, kurtosis = _statistical_terms(field)
    gradient = np.hypot(*np.gradient(field))
    return 0.3 * entropy + 0.3 * float(np.std(gradient)) + 0.2 * normalised_std + 0.2 * kurtosis


def complexity_index_physical(field: np.ndarray, dx: float, dz: float) -> float:
    """CI with the gradient term std(|grad f|) L / (max - min), L = sqrt(Lx Lz).

    grad f in physical units (np.gradient with spacings dz, dx), made dimensionless
    by the field's range over the domain's length scale: every term then converges
    under grid refinement and is invariant under affine maps of f.
    """
    entropy, normalised_std, kurtosis = _statistical_terms(field)
    nz, nx = field.shape
    length = np.sqrt(nx * dx * nz * dz)
    gradient = np.hypot(*np.gradient(field, dz, dx))
    scaled = float(np.std(gradient)) * length / float(np.ptp(field))
    return 0.3 * entropy + 0.3 * scaled + 0.2 * normalised_std + 0.2 * kurtosis


def gamma_mixing(rho: np.ndarray, omega: np.ndarray) -> np.ndarray | float:
    """The study's "mixing efficiency" Gamma = std(rho) rms(omega) over the last two axes.

    One snapshot (nz, nx) gives a float, a stack (nt, nz, nx) one value per snapshot.
    Not a mixing efficiency in the sense of :mod:`billow.analysis.energetics`.
    """
    gamma = np.std(rho, axis=(-2, -1)) * np.sqrt(np.mean(omega**2, axis=(-2, -1)))
    return float(gamma) if np.ndim(gamma) == 0 else gamma


def entropy_growth_rate(t: np.ndarray, entropy: np.ndarray) -> float:
    """(H_last - H_first) / (t_last - t_first)."""
    return float((entropy[-1] - entropy[0]) / (t[-1] - t[0]))


@dataclass(frozen=True)
class StageComplexity:
    stages: tuple[float, float, float, float]  # mean CI over early, growth, mature, late
    overall: float  # sum of STAGE_WEIGHTS x stages


def stage_complexity(ci: np.ndarray) -> StageComplexity:
    """Mean CI over the snapshot quarters [0, n//4), [n//4, n//2), [n//2, 3n//4), [3n//4, n).

    overall = 0.15 early + 0.25 growth + 0.35 mature + 0.25 late. The study feeds
    (CI_rho + CI_omega)/2 and divides every value by the largest over all scenarios
    and stages (its "normalised overall complexity").
    """
    n = len(ci)
    if n < 4:
        raise ValueError(f"need at least 4 snapshots, got {n}")
    bounds = (0, n // 4, n // 2, 3 * n // 4, n)
    stages = tuple(float(np.mean(ci[lo:hi])) for lo, hi in zip(bounds[:-1], bounds[1:]))
    return StageComplexity(stages, float(np.dot(STAGE_WEIGHTS, stages)))


@dataclass(frozen=True)
class StatisticalTest:
    statistic: float
    pvalue: float


@dataclass(frozen=True)
class NormalityTests:
    shapiro: StatisticalTest  # on a seeded subsample of at most SHAPIRO_MAX_POINTS
    anderson: StatisticalTest  # p-value interpolated from tables (clipped to [0.01, 0.15])
    anderson_rejects: bool  # normality rejected at 5 %
    jarque_bera: StatisticalTest
    dagostino: StatisticalTest  # D'Agostino-Pearson K^2


def normality_tests(sample: np.ndarray, seed: int = 0) -> NormalityTests:
    """Shapiro-Wilk (seeded subsample of <= 5000 points), Anderson-Darling, Jarque-Bera, K^2.

    All but Shapiro-Wilk use every point, as in the study.
    """
    from scipy import stats  # deferred: see the note at the imports

    values = np.ravel(sample)
    subsample = values
    if values.size > SHAPIRO_MAX_POINTS:
        rng = np.random.default_rng(seed)
        subsample = rng.choice(values, SHAPIRO_MAX_POINTS, replace=False)
    anderson = stats.anderson(values, method="interpolate")
    return NormalityTests(
        shapiro=StatisticalTest(*map(float, stats.shapiro(subsample))),
        anderson=StatisticalTest(float(anderson.statistic), float(anderson.pvalue)),
        anderson_rejects=bool(anderson.pvalue < 0.05),
        jarque_bera=StatisticalTest(*map(float, stats.jarque_bera(values))),
        dagostino=StatisticalTest(*map(float, stats.normaltest(values))),
    )


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values: p~_(j) = max_{i <= j} min(1, (m - i) p_(i)), 0-based."""
    p = np.asarray(pvalues, dtype=float)
    order = np.argsort(p)
    factors = p.size - np.arange(p.size)
    adjusted = np.minimum(1.0, np.maximum.accumulate(factors * p[order]))
    result = np.empty_like(p)
    result[order] = adjusted
    return result


@dataclass(frozen=True)
class PairwiseTest:
    statistic: float  # Mann-Whitney U of the first group of the pair
    pvalue: float
    pvalue_holm: float


@dataclass(frozen=True)
class GroupComparison:
    kruskal: StatisticalTest
    pairwise: dict[tuple[str, str], PairwiseTest]  # keys in the order of the input dict


def compare_groups(
    samples: dict[str, np.ndarray], n: int = 10000, seed: int = 0
) -> GroupComparison:
    """Kruskal-Wallis across all groups and pairwise two-sided Mann-Whitney U, Holm-corrected.

    Each group is reduced to n points drawn without replacement by one generator
    seeded with ``seed`` (groups in dict order; a group of <= n points is used whole).
    """
    from scipy import stats  # deferred: see the note at the imports

    rng = np.random.default_rng(seed)
    drawn = {}
    for name, values in samples.items():
        values = np.ravel(values)
        drawn[name] = values if values.size <= n else rng.choice(values, n, replace=False)
    kruskal = StatisticalTest(*map(float, stats.kruskal(*drawn.values())))
    pairs = list(combinations(drawn, 2))
    tests = [stats.mannwhitneyu(drawn[a], drawn[b], alternative="two-sided") for a, b in pairs]
    adjusted = holm(np.array([test.pvalue for test in tests]))
    pairwise = {
        pair: PairwiseTest(float(test.statistic), float(test.pvalue), float(p_holm))
        for pair, test, p_holm in zip(pairs, tests, adjusted)
    }
    return GroupComparison(kruskal, pairwise)
