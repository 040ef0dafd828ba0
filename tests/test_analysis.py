"""Analysis functions (README: "Analysis"): energetics, mixing, kh2d-study statistics.

Round-off tolerances: sums of O(1e4) terms of size O(1) lose at most ~1e-12
relative; finite-difference checks use the truncation error of the stencil.
"""

from __future__ import annotations

import numpy as np
import pytest

from billow.analysis.energetics import (
    available_potential_energy,
    background_potential_energy,
    diffusive_conversion,
    dye_entropy,
    gradient_richardson,
    horizontal_mean,
    mixing_from_series,
    mixing_layer_thickness,
    potential_energy,
)
from billow.analysis.kh2d import (
    compare_groups,
    complexity_index,
    complexity_index_physical,
    density_from_buoyancy,
    entropy_growth_rate,
    gamma_mixing,
    holm,
    normality_tests,
    shannon_entropy,
    stage_complexity,
)
from billow.cases import get_case
from billow.core.diagnostics import diagnostics_for

NX, NZ, LX, LZ = 16, 32, 2.0, 1.0
DX, DZ = LX / NX, LZ / NZ
DA = DX * DZ


def centres(z_bottom: float) -> np.ndarray:
    return z_bottom + (np.arange(NZ) + 0.5) * DZ


def test_stably_stratified_state_has_no_available_potential_energy():
    """b increasing with z is its own sorted state: BPE = PE and APE = 0.

    The x-variation (< 1e-3) is smaller than the jump between rows, so each row keeps
    its own values after sorting; only the summation order differs (round-off).
    An off-centre z origin (z_bottom = 3) checks APE does not depend on it.
    """
    z = centres(3.0)
    x = np.arange(NX) * DX
    b = np.tanh(3 * (z[:, None] - 3.5)) + 1e-4 * np.sin(2 * np.pi * x / LX)
    pe = potential_energy(b, z, DA)
    assert background_potential_energy(b, z, DA) == pytest.approx(pe, rel=1e-13)
    assert abs(available_potential_energy(b, z, DA)) < 1e-13 * abs(pe)


def test_swapped_two_layers_have_the_analytic_available_potential_energy():
    """Heavy (b = -D/2) over light (b = +D/2), layers of thickness H/2, z in [-H/2, H/2].

    PE = -int b z dV = -Lx [(D/2) int_{-H/2}^0 z dz - (D/2) int_0^{H/2} z dz] = +Lx D H^2/8;
    the restacked (stable) state has BPE = -Lx D H^2/8, so APE = Lx D H^2 / 4.
    The midpoint sums of z over each half are exact (z is linear), so only round-off
    separates the discrete value from the analytic one.
    """
    delta = 0.7
    z = centres(-LZ / 2)
    b = np.where(z[:, None] > 0, -delta / 2, delta / 2) * np.ones((1, NX))
    expected = LX * delta * LZ**2 / 4
    assert available_potential_energy(b, z, DA) == pytest.approx(expected, rel=1e-13)
    pe, bpe = potential_energy(b, z, DA), background_potential_energy(b, z, DA)
    assert pe == pytest.approx(LX * delta * LZ**2 / 8, rel=1e-13)
    assert bpe == pytest.approx(-LX * delta * LZ**2 / 8, rel=1e-13)


def test_available_potential_energy_of_a_random_field_is_positive_and_pe_minus_bpe():
    b = np.random.default_rng(1).normal(size=(NZ, NX))
    z = centres(-LZ / 2)
    ape = available_potential_energy(b, z, DA)
    assert ape > 0
    pe, bpe = potential_energy(b, z, DA), background_potential_energy(b, z, DA)
    assert ape == pytest.approx(pe - bpe, rel=1e-12)


def test_diffusive_conversion_is_kappa_lx_times_the_top_bottom_buoyancy_difference():
    """Linear b = N2 z: Phi_i = kappa Lx (b_top - b_bottom) with top/bottom row centres."""
    z = centres(-LZ / 2)
    b = 0.3 * z[:, None] * np.ones((1, NX))
    assert diffusive_conversion(b, DX, 0.01) == pytest.approx(0.01 * LX * 0.3 * (z[-1] - z[0]))


def test_mixing_rate_and_efficiencies_of_a_synthetic_series():
    """BPE = 1 + Phi_i t + 0.1 t + 0.02 t^2 so M = 0.1 + 0.04 t; epsilon = 0.3 + 0.01 t.

    np.gradient (edge_order=2) differentiates quadratics exactly, also on a
    non-uniform t, and the trapezoid rule integrates linear M, epsilon exactly:
    int_0^T M = 0.1 T + 0.02 T^2, int_0^T epsilon = 0.3 T + 0.005 T^2.
    """
    t = np.sort(np.concatenate([[0.0, 10.0], np.random.default_rng(2).uniform(0, 10, 40)]))
    phi_i = 0.05
    result = mixing_from_series(t, 1 + (phi_i + 0.1) * t + 0.02 * t**2, 0.3 + 0.01 * t, phi_i)
    rate, epsilon = 0.1 + 0.04 * t, 0.3 + 0.01 * t
    np.testing.assert_allclose(result.rate, rate, rtol=1e-9)
    np.testing.assert_allclose(result.efficiency, rate / (rate + epsilon), rtol=1e-9)
    mixed, dissipated = 0.1 * 10 + 0.02 * 100, 0.3 * 10 + 0.005 * 100
    assert result.cumulative_efficiency == pytest.approx(mixed / (mixed + dissipated), rel=1e-12)


def test_dye_entropy_of_the_lecoanet_initial_state_is_a_pi_squared_over_six():
    """Each tanh interface of half-thickness a contributes (a/2) pi^2/6 (Lecoanet et al. 2016).

    c is analytic and periodic on 256 cells (dz/a = 0.16): the midpoint sum converges
    exponentially, well below the 5 digits asked.
    """
    spec = get_case("lecoanet2016")
    model = spec.build(spec.make_params(nx=16, nz=256))
    entropy = dye_entropy(model.interior("c"), model.grid.cell_area)
    assert entropy == pytest.approx(0.05 * np.pi**2 / 6, abs=5e-7)
    assert entropy == pytest.approx(0.0822467, abs=5e-7)


def test_dye_entropy_ignores_negative_overshoots_and_counts_zero_as_zero():
    c = np.array([[0.0, 1.0, -0.1, 0.5]])
    assert dye_entropy(c, 2.0) == pytest.approx(2.0 * 0.5 * np.log(2.0))


def test_dye_entropy_in_reused_work_arrays_is_the_same():
    """A run's dye-entropy diagnostic reuses its work arrays from call to call: the same
    floats as new arrays give, for an interior view (strided) and after the field moved."""
    spec = get_case("shear_layer")
    model = spec.build(spec.make_params(nx=24, nz=16, noise=0.05, seed=1))
    tracer_entropy = {d.name: d.function for d in diagnostics_for(model)}["dye_entropy"]
    for _ in range(2):
        c = model.interior("c")
        assert not c.flags.c_contiguous
        assert tracer_entropy(model) == dye_entropy(c, model.grid.cell_area)
        model.interior("c")[...] = np.random.default_rng(0).uniform(-0.1, 1.1, c.shape)


def test_vorticity_thickness_of_a_tanh_profile_is_two():
    """U = tanh z: Delta U = 2, max dU/dz = 1. The central difference at z = +-dz/2
    is off by O(dz^2) = 2.5e-3 relative for dz = 0.05 (tanh(10) = 1 - 4e-9)."""
    z = -10 + (np.arange(400) + 0.5) * 0.05
    u = np.tanh(z)[:, None] * np.ones((1, 8))
    assert mixing_layer_thickness(horizontal_mean(u), z) == pytest.approx(2.0, rel=3e-3)


def test_gradient_richardson_of_the_tanh_layer_is_ri_cosh_squared():
    """U = tanh z, B = Ri tanh z: Ri_g = Ri sech^2 z / sech^4 z = Ri cosh^2 z; the ratio of two
    central differences carries an O(dz^2) error, ~1e-3 for dz = 0.05 and |z| <= 2."""
    ri = 0.12
    z = -5 + (np.arange(200) + 0.5) * 0.05
    result = gradient_richardson(np.tanh(z), ri * np.tanh(z), z)
    core = np.abs(z) < 2
    np.testing.assert_allclose(result[core], ri * np.cosh(z[core]) ** 2, rtol=2e-3)


def test_gradient_richardson_is_infinite_or_nan_where_the_shear_vanishes():
    z = np.linspace(0, 1, 5)
    assert np.all(gradient_richardson(np.zeros(5), z, z) == np.inf)
    assert np.all(gradient_richardson(np.zeros(5), -z, z) == -np.inf)
    assert np.all(np.isnan(gradient_richardson(np.zeros(5), np.ones(5), z)))


# --- kh2d-study statistics --------------------------------------------------------------

INDEX_FIELD = np.arange(16.0).reshape(4, 4)  # f[k, i] = 4k + i
QUADRATIC_FIELD = (np.arange(4.0) ** 2)[:, None] * np.ones((1, 4))  # f[k, i] = k^2


def test_shannon_entropy_of_hand_made_histograms():
    """50 bins over [0, 15] are 0.3 wide: 16 distinct integers fall in 16 bins, H = ln 16;
    two equally frequent values give H = ln 2; a constant field, one bin, H = 0."""
    assert shannon_entropy(INDEX_FIELD) == pytest.approx(np.log(16))
    assert shannon_entropy(np.repeat([0.0, 1.0], 8)) == pytest.approx(np.log(2))
    assert shannon_entropy(np.full((3, 3), 2.5)) == 0.0


def test_complexity_index_of_a_linear_field_by_hand():
    """f = 4k + i: grad f = (4, 1) everywhere, so std|grad f| = 0; H = ln 16;
    sigma = sqrt((16^2 - 1)/12), range 15; discrete uniform on 16 points has excess
    kurtosis -6 (n^2 + 1) / (5 (n^2 - 1)) = -1542/1275."""
    expected = 0.3 * np.log(16) + 0.2 * np.sqrt(255 / 12) / 15 + 0.2 * np.log(1 + 1542 / 1275)
    assert complexity_index(INDEX_FIELD) == pytest.approx(expected, rel=1e-12)


def test_complexity_index_of_a_quadratic_field_by_hand():
    """f = k^2, k = 0..3 (each row constant). np.gradient along k: one-sided at the ends,
    centred inside: (1, 2, 4, 5), std = sqrt(2.5). Values (0, 1, 4, 9): H = ln 4, mean 3.5,
    sigma = 3.5, range 9, deviations (-3.5, -2.5, 0.5, 5.5): m4 = 1104.25/4, m2^2 = 12.25^2.
    Physical variant, dz = 0.5, dx = 2: gradient doubles, L = sqrt(Lx Lz) = sqrt(8 * 2) = 4."""
    kurtosis_term = 0.2 * np.log(1 + abs(1104.25 / 4 / 12.25**2 - 3))
    common = 0.3 * np.log(4) + 0.2 * 3.5 / 9 + kurtosis_term
    index = common + 0.3 * np.sqrt(2.5)
    physical = common + 0.3 * 2 * np.sqrt(2.5) * 4 / 9
    assert complexity_index(QUADRATIC_FIELD) == pytest.approx(index, rel=1e-12)
    assert complexity_index_physical(QUADRATIC_FIELD, 2.0, 0.5) == pytest.approx(physical)


def test_physical_complexity_index_is_invariant_under_affine_maps_and_the_published_one_is_not():
    """rho = rho0 (1 - b/g) multiplies gradients by 1/g: only the grid-index CI changes."""
    b = np.random.default_rng(3).normal(size=(NZ, NX)).cumsum(axis=0)
    rho = density_from_buoyancy(b, rho0=1.2, g=9.81)
    assert complexity_index_physical(rho, DX, DZ) == pytest.approx(
        complexity_index_physical(b, DX, DZ), rel=1e-9
    )
    assert complexity_index(rho) != pytest.approx(complexity_index(b), rel=1e-3)


def test_gamma_is_std_rho_times_rms_omega():
    """rho = k^2 has std 3.5; omega = +-2 has rms 2: Gamma = 7; a stack gives one per snapshot."""
    omega = 2.0 * (-1.0) ** np.arange(16).reshape(4, 4)
    assert gamma_mixing(QUADRATIC_FIELD, omega) == pytest.approx(7.0)
    stack = gamma_mixing(np.stack([QUADRATIC_FIELD, 2 * QUADRATIC_FIELD]), np.stack([omega] * 2))
    np.testing.assert_allclose(stack, [7.0, 14.0])


def test_entropy_growth_rate_and_stage_complexity_by_hand():
    """Quarters use the published integer bounds (n//4, n//2, 3n//4): n = 8 gives means
    0.5, 2.5, 4.5, 6.5 (overall 3.9); n = 10 gives [0,2), [2,5), [5,7), [7,10)."""
    rate = entropy_growth_rate(np.array([1.0, 2.0, 5.0]), np.array([0.5, 9.0, 1.7]))
    assert rate == pytest.approx(0.3)  # (1.7 - 0.5) / (5 - 1)
    eight = stage_complexity(np.arange(8.0))
    assert eight.stages == (0.5, 2.5, 4.5, 6.5)
    assert eight.overall == pytest.approx(0.15 * 0.5 + 0.25 * 2.5 + 0.35 * 4.5 + 0.25 * 6.5)
    assert stage_complexity(np.arange(10.0)).stages == (0.5, 3.0, 5.5, 8.0)


def test_holm_correction_matches_a_hand_example():
    """Sorted p: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> 0.06
    (step-down monotonicity); adjusted values never exceed 1."""
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])


def groups() -> dict[str, np.ndarray]:
    """Overlapping distributions, so that p-values are moderate and depend on the subsample."""
    rng = np.random.default_rng(4)
    return {name: rng.normal(shift, 1.0, 20000) for name, shift in zip("abc", (0, 0.02, 0.05))}


def test_group_comparison_is_reproducible_with_a_seed_and_changes_with_it():
    first = compare_groups(groups(), n=2000, seed=7)
    assert compare_groups(groups(), n=2000, seed=7) == first
    other = compare_groups(groups(), n=2000, seed=8)
    assert other.kruskal.pvalue != first.kruskal.pvalue
    assert list(first.pairwise) == [("a", "b"), ("a", "c"), ("b", "c")]
    raw = [test.pvalue for test in first.pairwise.values()]
    np.testing.assert_allclose([test.pvalue_holm for test in first.pairwise.values()], holm(raw))


def test_normality_tests_accept_a_gaussian_reject_an_exponential_and_are_seeded():
    """8000 points: Shapiro-Wilk sees a seeded 5000-point subsample. A Gaussian passes at
    1 % (a false rejection has probability ~1 % per test for this fixed draw); an
    exponential (skewness 2) is rejected at p < 1e-10 by every test."""
    rng = np.random.default_rng(5)
    gaussian, exponential = rng.normal(size=8000), rng.exponential(size=8000)
    normal = normality_tests(gaussian, seed=1)
    assert normal == normality_tests(gaussian, seed=1)
    assert normal.shapiro.pvalue != normality_tests(gaussian, seed=2).shapiro.pvalue
    assert min(normal.shapiro.pvalue, normal.jarque_bera.pvalue, normal.dagostino.pvalue) > 0.01
    assert not normal.anderson_rejects
    skewed = normality_tests(exponential)
    assert max(skewed.shapiro.pvalue, skewed.jarque_bera.pvalue, skewed.dagostino.pvalue) < 1e-10
    assert skewed.anderson_rejects
