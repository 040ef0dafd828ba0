"""Numerical properties of the billow solver (docs/architecture.md: the discretisation).

Each test proves one property of the discretisation: exact incompressibility,
conservation, translation equivariance, convergence orders, boundedness,
reproducibility, the exactness of the Poisson solve, snapshot timing and the
discrete energy budget. Grids are small (16-128 cells) and runs short so the
whole file stays within about a minute on two cores.

Every tolerance carries a comment with its reasoning; measured values quoted
there were obtained with this code at the grids used here.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
import scipy.fft

import billow
from billow import Grid, Model, Simulation
from billow.callbacks import Callback
from billow.core import diagnostics, operators, poisson
from billow.core.diagnostics import dissipation, kinetic_energy, relative_max_divergence
from billow.core.poisson import PoissonSolver, _import_pyfftw, fft_library
from billow.errors import ConfigError

TWO_PI = 2.0 * np.pi

# The shear layer's defaults (Lx from linear theory, eigenmode seeding) cost a linear
# stability solve of ~20 s per parameter set; these tests are about the discretisation,
# so they fix Lx (about one fastest-growing wavelength) and seed a sinusoid instead.
SHEAR_LAYER = {"Lx": 14.0, "perturbation": "sinusoid"}

# (case, extra parameters) covering every bc_z and every case: walls and periodic z.
CASE_CONFIGS = {
    "shear_layer-free-slip": ("shear_layer", {"bc_z": "free-slip", **SHEAR_LAYER}),
    "shear_layer-no-slip": ("shear_layer", {"bc_z": "no-slip", **SHEAR_LAYER}),
    "double_shear-free-slip": ("double_shear", {"bc_z": "free-slip", "perturbation": "sinusoid"}),
    "double_shear-no-slip": ("double_shear", {"bc_z": "no-slip", "perturbation": "sinusoid"}),
    "double_shear-periodic": ("double_shear", {"bc_z": "periodic", "perturbation": "sinusoid"}),
    "lecoanet2016-periodic": ("lecoanet2016", {}),
}


def build_case(key: str, **overrides) -> Model:
    """A 32 x 32 model of a named case with a large, seeded, broadband perturbation
    (noise > 0 excites every resolved mode, so no symmetry hides an error)."""
    name, extra = CASE_CONFIGS[key]
    values = dict(nx=32, nz=32, Re=500.0, amplitude=0.1, noise=0.05, seed=3)
    values.update(extra)
    values.update(overrides)
    case = billow.get_case(name)
    return case.build(case.make_params(**values))


def adaptive_dt(model: Model) -> float:
    """The dt the Simulation controller would take (default Courant number, diffusive
    limit)."""
    return Simulation(model, t_end=1.0, save_every=1.0).stable_dt()


def prognostic_divergence(model: Model) -> tuple[np.ndarray, float]:
    """div u of the prognostic face values, computed here from the interior arrays only
    (independent of the model's ghost cells), and the largest velocity gradient."""
    g = model.grid
    u, w = model.interior("u"), model.interior("w")
    if g.periodic_z:
        # rows 0..nz-1 are prognostic; the face above cell nz-1 is face 0
        w = np.vstack([w[:-1], w[:1]])
    du_dx = (np.roll(u, -1, axis=1) - u) / g.dx
    dw_dz = np.diff(w, axis=0) / g.dz
    du_dz = np.diff(u, axis=0) / g.dz
    dw_dx = (w - np.roll(w, 1, axis=1)) / g.dx
    scale = max(np.max(np.abs(d)) for d in (du_dx, dw_dz, du_dz, dw_dx))
    return du_dx + dw_dz, scale


def taylor_green_fields(grid: Grid, t: float, Re: float, x0: float, z0: float):
    """Taylor-Green vortex u = sin(x-x0) cos(z-z0) e^{-2t/Re}, w = -cos(x-x0) sin(z-z0) e^{-2t/Re}
    at the C-grid positions of u (x_face, z_centre) and w (x_centre, z_face)."""
    decay = np.exp(-2.0 * t / Re)
    xu, zu = np.meshgrid(grid.x_face - x0, grid.z_centre - z0)
    xw, zw = np.meshgrid(grid.x_centre - x0, grid.z_face - z0)
    return np.sin(xu) * np.cos(zu) * decay, -np.cos(xw) * np.sin(zw) * decay


def fit_order(coarse_error: float, fine_error: float, refinement: float = 2.0) -> float:
    return float(np.log(coarse_error / fine_error) / np.log(refinement))


# --- 1. exact discrete incompressibility -------------------------------------------------


@pytest.mark.parametrize("key", list(CASE_CONFIGS))
def test_divergence_is_roundoff(key):
    """max|div u| / max|grad u| <= 1e-10 after the initial projection and after every step."""
    model = build_case(key)
    # the README's promise: the discrete divergence after projection is at round-off
    # (tested <= 1e-10 relative), every step, every case. Measured with walls: <= 1.2e-15.
    tolerance = 1e-10
    for step in range(16):
        if step:
            model.step(adaptive_dt(model))
        divergence, scale = prognostic_divergence(model)
        independent = np.max(np.abs(divergence)) / scale
        assert independent <= tolerance, f"step {step}: relative div u = {independent:.3g}"
        # the published diagnostic must agree that the state is divergence-free
        diagnostic = relative_max_divergence(model)
        assert diagnostic <= tolerance, f"step {step}: max_divergence diagnostic = {diagnostic:.3g}"
    assert model.time > 0.0


# --- 2. conservation of scalar integrals ------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "shear_layer-free-slip",
        "shear_layer-no-slip",
        "double_shear-free-slip",
        "double_shear-periodic",
        "lecoanet2016-periodic",
    ],
)
def test_scalar_integrals_are_conserved(key):
    """The domain integrals of b and of every tracer stay constant to round-off."""
    model = build_case(key)
    names = ["b", *model.tracer_names]
    area = model.grid.cell_area
    initial = {name: model.interior(name).copy() for name in names}
    integrals = {name: np.sum(q) * area for name, q in initial.items()}
    magnitudes = {name: np.sum(np.abs(q)) * area for name, q in initial.items()}
    for _ in range(30):
        model.step(adaptive_dt(model))
        for name in names:
            drift = abs(np.sum(model.interior(name)) * area - integrals[name])
            # Flux form telescopes exactly; only the summation round-off of ~nx*nz terms
            # per step remains: measured drift <= 1.8e-15 of sum|q| dA after 30 steps.
            # 1e-12 is the design requirement ("conserved to round-off").
            # (lecoanet2016 has b = 0 identically: the bound is then drift <= 0.)
            assert drift <= 1e-12 * magnitudes[name], (
                f"{name}: drift {drift:.3g} of sum|q| dA = {magnitudes[name]:.3g} "
                f"at t = {model.time:.3g}"
            )
    # Guard against a vacuous pass: the tracer must really have been redistributed.
    # (measured max change of c is ~0.5 of its O(1) range; 0.05 is far below that)
    change = np.max(np.abs(model.interior("c") - initial["c"]))
    assert change > 0.05 * np.max(np.abs(initial["c"]))


# --- 3. discrete translation equivariance in x ---------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "shear_layer-free-slip",
        "shear_layer-no-slip",
        "double_shear-periodic",
        "lecoanet2016-periodic",
    ],
)
def test_periodic_shift_equivariance(key):
    """Shifting the initial state by Lx/2 shifts the solution by Lx/2 (to round-off)."""
    reference = build_case(key)
    shifted = build_case(key)
    names = [f.name for f in reference.fields]
    half = reference.grid.nx // 2
    # every field, wherever it lives on the C-grid, moves by nx/2 columns = Lx/2
    shifted.set(**{n: np.roll(reference.interior(n), half, axis=1) for n in names})
    # the state must not already be shift-symmetric (noise > 0 breaks the symmetry of
    # the fundamental mode; measured asymmetry 0.12-0.41 in max|u|, max|w|; 1e-2 is a guard)
    asymmetry = max(
        np.max(np.abs(np.roll(reference.interior(n), half, axis=1) - reference.interior(n)))
        for n in ("u", "w")
    )
    assert asymmetry > 1e-2
    dt = 0.5 * adaptive_dt(reference)
    for _ in range(20):
        reference.step(dt)
        shifted.step(dt)
    for n in names:
        expected = np.roll(reference.interior(n), half, axis=1)
        scale = np.max(np.abs(expected))
        # All stencils are translation invariant; only the FFT's round-off differs between
        # the two runs (measured <= 6e-15 relative after 20 steps). 1e-12 leaves room for
        # round-off growth but an O(dx) asymmetry (a wrong ghost column, an off-by-one in a
        # periodic index) would be ~1e-2. Fields identically zero must stay equal exactly.
        np.testing.assert_allclose(
            shifted.interior(n), expected, rtol=0, atol=1e-12 * scale, err_msg=f"field {n}"
        )


# --- 4. convergence ---------------------------------------------------------------------------


def taylor_green_error(n: int, scheme: str, x0: float, z0: float, Re=100.0, T=1.0) -> float:
    """Max error of u and w at t = T for the decaying Taylor-Green vortex, dt = 0.4 dx."""
    grid = Grid(n, n, TWO_PI, TWO_PI, periodic_z=True, z_bottom=0.0)
    model = Model(grid, Re=Re, bc_z="periodic", advection=scheme)
    u0, w0 = taylor_green_fields(grid, 0.0, Re, x0, z0)
    model.set(u=u0, w=w0)
    steps = int(round(T / (0.4 * grid.dx)))
    for _ in range(steps):
        model.step(T / steps)
    u, w = taylor_green_fields(grid, T, Re, x0, z0)
    return max(np.max(np.abs(model.interior("u") - u)), np.max(np.abs(model.interior("w") - w)))


@pytest.mark.parametrize(
    "scheme, order, fine_error_bound",
    [
        # measured at n = 64 -> 128: upwind5 1.56e-5 -> 3.93e-6 (order 1.99),
        # centered2 1.57e-5 -> 3.93e-6 (2.00), upwind1 3.54e-2 -> 1.83e-2 (0.95).
        # The bounds on the fine-grid error are ~2.5x the measured values: a lost order
        # would raise them by the ~30x (2nd order) or ~2x (1st order) refinement factor.
        ("upwind5", 2.0, 1e-5),
        ("centered2", 2.0, 1e-5),
        ("upwind1", 1.0, 4e-2),
    ],
)
@pytest.mark.parametrize(
    "x0, z0",
    # (0, 0): the vortex is symmetric about the grid's faces z = 0 and z = pi;
    # (0.5, 1.0): centred off every grid line, so no symmetry keeps any face row at zero.
    [(0.0, 0.0), (0.5, 1.0)],
    ids=["grid-aligned", "offset"],
)
def test_taylor_green_converges_at_design_order(scheme, order, fine_error_bound, x0, z0):
    """Momentum equations: the Taylor-Green vortex converges at 2nd order for upwind5 and
    centered2 (2nd-order velocity interpolation, pressure and viscous operators) and at
    1st order for upwind1, with dt proportional to dx (RK3 time error is negligible)."""
    coarse = taylor_green_error(64, scheme, x0, z0)
    fine = taylor_green_error(128, scheme, x0, z0)
    measured = fit_order(coarse, fine)
    # +-0.2 on the order: the measured orders are within 0.05 of 2 and 1 at these grids.
    assert abs(measured - order) <= 0.2, f"order {measured:.3f} (errors {coarse:.3g}, {fine:.3g})"
    assert fine <= fine_error_bound, f"error {fine:.3g} at n = 128"


def translated_scalar(x, z, t):
    """A smooth doubly periodic profile carried by the uniform velocity (1, 0.5)."""
    xi, zeta = x - t, z - 0.5 * t
    return np.sin(xi) * np.cos(zeta) + 0.5 * np.cos(2.0 * xi + zeta)


def passive_advection_error(
    n: int, scheme: str, dt: float, T: float = 1.0, time_stepper: str | None = None
) -> float:
    """Max error of a passive tracer carried by u = 1, w = 0.5 with no diffusion (Re = inf)."""
    grid = Grid(n, n, TWO_PI, TWO_PI, periodic_z=True, z_bottom=0.0)
    model = Model(
        grid,
        Re=float("inf"),
        bc_z="periodic",
        advection=scheme,
        tracers=("c",),
        time_stepper=time_stepper,
    )
    x, z = np.meshgrid(grid.x_centre, grid.z_centre)
    model.set(u=np.ones((n, n)), w=np.full((n + 1, n), 0.5), c=translated_scalar(x, z, 0.0))
    steps = int(round(T / dt))
    for _ in range(steps):
        model.step(T / steps)
    return float(np.max(np.abs(model.interior("c") - translated_scalar(x, z, T))))


@pytest.mark.parametrize(
    "scheme, order, grids, dt",
    [
        # measured (n = 32 -> 64, dt = 0.005): 1.60e-4 -> 5.13e-6, order 4.97 with RK53
        # (5.21e-6, 4.94 with SSP-RK3). The time error at dt = 0.005 is below 1e-7, 2% of
        # the fine error, so it shifts the order by < 0.03.
        ("upwind5", 5.0, (32, 64), 0.005),
        # measured: 3.17e-2 -> 7.97e-3, order 1.99
        ("centered2", 2.0, (32, 64), 0.01),
        # measured (n = 64 -> 128): 0.170 -> 0.0884, order 0.94 (0.89 at 32 -> 64)
        ("upwind1", 1.0, (64, 128), 0.01),
    ],
)
def test_passive_scalar_advection_spatial_order(scheme, order, grids, dt):
    """Scalar transport alone (no diffusion) converges at the scheme's formal order:
    5 for upwind5, 2 for centered2, 1 for upwind1."""
    coarse = passive_advection_error(grids[0], scheme, dt)
    fine = passive_advection_error(grids[1], scheme, dt)
    measured = fit_order(coarse, fine)
    # +-0.5 for order 5 (a 4th- or 3rd-order reconstruction would be caught), +-0.2 otherwise.
    window = 0.5 if order >= 5 else 0.2
    assert abs(measured - order) <= window, (
        f"order {measured:.3f} (errors {coarse:.3g}, {fine:.3g})"
    )


@pytest.mark.parametrize("time_stepper", ["ssprk3", "rk53"])
def test_time_stepper_temporal_order_is_three(time_stepper):
    """SSP-RK3 and RK53: on a fixed fine grid (n = 128, spatial error ~2e-7) halving dt
    divides the error against the exact translated solution by 2^3."""
    coarse = passive_advection_error(128, "upwind5", 0.04, time_stepper=time_stepper)
    fine = passive_advection_error(128, "upwind5", 0.02, time_stepper=time_stepper)
    measured = fit_order(coarse, fine)
    # measured 5.91e-5 -> 7.52e-6, order 2.97 (SSP-RK3), and 1.62e-5 -> 2.16e-6, order 2.90
    # (RK53, whose error constant is 3.7 times smaller); the spatial error (3% and 9% of
    # the fine error) is the only contamination, so +-0.3 separates 3rd order from 2nd and
    # 4th.
    assert abs(measured - 3.0) <= 0.3, f"order {measured:.3f} (errors {coarse:.3g}, {fine:.3g})"


# --- 5. boundedness of a passive tracer ---------------------------------------------------


def tracer_overshoot(scheme: str) -> tuple[float, float]:
    """Largest excursion of the dye c outside its initial range [min, max], as a fraction of
    the range, over a KH roll-up with Ri = 0 (b = 0, c passive); and the largest change of c."""
    case = billow.get_case("shear_layer")
    params = case.make_params(
        nx=32,
        nz=32,
        Ri=0.0,
        Re=1000.0,
        amplitude=0.1,
        noise=0.02,
        seed=1,
        advection=scheme,
        t_end=30.0,
        save_every=30.0,
        **SHEAR_LAYER,
    )
    model = case.build(params)
    c0 = model.interior("c").copy()
    low, high = c0.min(), c0.max()
    worst = [0.0]

    def record(sim: Simulation) -> None:
        c = sim.model.interior("c")
        worst.append(max(c.max() - high, low - c.min()) / (high - low))

    Simulation(model, t_end=params.t_end, save_every=params.save_every, callbacks=(record,)).run()
    assert np.max(np.abs(model.interior("b"))) == 0.0  # Ri = 0: b is zero and stays zero
    return max(worst), float(np.max(np.abs(model.interior("c") - c0)))


def test_passive_buoyancy_stays_bounded():
    """The passive dye of a Ri = 0 shear layer (the buoyancy-free analogue of a passive
    buoyancy) stays within its initial range up to the documented overshoot of the linear
    5th-order upwind scheme; first-order upwind obeys the discrete maximum principle."""
    overshoot, change = tracer_overshoot("upwind5")
    # The billow rolls up: the dye is stirred across the layer (measured change ~1).
    assert change > 0.3
    # upwind5 is linear and therefore not monotone (Godunov): once the roll-up strains the
    # dye interface below the grid scale (from t ~ 12 at 32 x 32) it behaves like advection
    # of a discontinuity, with Gibbs-like overshoots. Measured on this run: 0.163 of the
    # range (seeds 1-5: 0.14-0.16; Lx 13-15: 0.17-0.18; 0.083 at 64 x 64; a 1-D square wave
    # gives 0.066). It is NOT < 1e-2: only a limited (WENO/TVD) scheme would give that.
    # The bound 0.25 is ~1.5x the measured value for this pinned set-up (eigenmode seeding
    # at the linear-theory Lx gave 0.27, so the number depends on the flow); an unstable or
    # wrongly upwinded reconstruction grows far beyond it (centered2: 0.83 on this run).
    assert overshoot <= 0.25, f"upwind5 overshoot {overshoot:.3g} of the range"
    # First-order upwind in flux form with an exactly divergence-free velocity makes each
    # forward-Euler stage (at the controller's CFL 0.8) a convex combination of neighbours,
    # and SSP-RK3 keeps convexity: the dye stays in range up to round-off (measured 0 here,
    # 1.1e-16 with Re = inf).
    overshoot_upwind1, _ = tracer_overshoot("upwind1")
    assert overshoot_upwind1 <= 1e-12, f"upwind1 overshoot {overshoot_upwind1:.3g}"


# --- 6. reproducibility -----------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 5, 8, 384, 389])
def test_ordered_sum_has_the_documented_fixed_order(n):
    # eight interleaved partial sums added pairwise, then the tail: the same order in
    # numpy must give the same bits (so the order cannot depend on the machine)
    x = np.random.default_rng(n).standard_normal(n)
    x[::3] *= 1e15  # so that the order of the additions shows in the result
    full = n - n % 8
    lanes = [sum(x[j:full:8].tolist(), 0.0) for j in range(8)]
    pairs = [lanes[0] + lanes[1], lanes[2] + lanes[3], lanes[4] + lanes[5], lanes[6] + lanes[7]]
    expected = ((pairs[0] + pairs[1]) + (pairs[2] + pairs[3])) + sum(x[full:].tolist(), 0.0)
    assert operators.ordered_sum(x) == expected
    if n > 8:  # and the test can tell: a sequential sum gives other bits
        assert expected != sum(x.tolist(), 0.0)


@pytest.mark.parametrize("name", ["shear_layer", "kolmogorov"])  # walls, periodic z
def test_largest_magnitudes_are_those_of_the_interiors(name):
    case = billow.get_case(name)
    model = case.build(case.make_params(nx=32, nz=16, Lx=14.0, noise=0.1, seed=1))
    rng = np.random.default_rng(0)
    for array in model.state.values():
        array[...] = rng.standard_normal(array.shape)
        array[0, 0] = 1e6  # a ghost cell: not part of the interior
    largest = model.largest_magnitudes()
    assert list(largest) == [f.name for f in model.fields]
    for field in model.fields:
        assert largest[field.name] == np.abs(model.interior(field.name)).max(), field.name
    model.interior("b")[3, 4] = -np.inf
    model.interior("w")[-1, 0] = np.nan  # w's last interior row (the top wall face)
    largest = model.largest_magnitudes()
    assert largest["b"] == np.inf and np.isnan(largest["w"])


def advective_rate_of_interiors(model: Model) -> float:
    """max over cells of max(|u| on its two x-faces)/dx + max(|w| on its two z-faces)/dz,
    from the interior arrays (x periodic; with periodic z the top face is face 0), with
    the kernel's operations (products with 1/dx and 1/dz), so that it agrees bit for bit."""
    g = model.grid
    u, w = np.abs(model.interior("u")), np.abs(model.interior("w"))
    if g.periodic_z:
        w = np.vstack([w[: g.nz], w[:1]])
    u_cell = np.maximum(u, np.roll(u, -1, axis=1))
    w_cell = np.maximum(w[:-1], w[1:])
    return float((u_cell * (1.0 / g.dx) + w_cell * (1.0 / g.dz)).max())


@pytest.mark.parametrize("name", ["shear_layer", "kolmogorov"])  # walls, periodic z
def test_advective_rate_is_the_largest_of_the_cells_rates(name):
    case = billow.get_case(name)
    model = case.build(case.make_params(nx=32, nz=16, Lx=14.0, noise=0.1, seed=1))
    g = model.grid
    w_rows = g.nz if g.periodic_z else g.nz + 1  # with periodic z, row nz repeats row 0

    def set_velocity(u: np.ndarray, w: np.ndarray) -> None:
        for velocity, values in (("u", u), ("w", w)):
            # every ghost cell and w's repeated row: a read of any of them would show
            model.state[velocity][...] = 1e6
            model.interior(velocity)[: len(values)] = values

    rng = np.random.default_rng(0)
    set_velocity(rng.standard_normal((g.nz, g.nx)), rng.standard_normal((w_rows, g.nx)))
    assert model.advective_rate() == advective_rate_of_interiors(model)
    u, w = np.zeros((g.nz, g.nx)), np.zeros((w_rows, g.nx))
    u_rate, w_rate = 3.0 * (1.0 / g.dx), 2.0 * (1.0 / g.dz)
    # the largest |u| and the largest |w| in different cells: each cell's rate counts
    u[2, 5], w[9, 20] = 3.0, -2.0
    set_velocity(u, w)
    assert model.advective_rate() == max(u_rate, w_rate) < u_rate + w_rate
    # the last column's right face is the first column's left face (x periodic)
    u[...], w[...] = 0.0, 0.0
    u[4, 0], w[4, g.nx - 1] = -3.0, 2.0  # only cell (4, nx - 1) has both
    set_velocity(u, w)
    assert model.advective_rate() == u_rate + w_rate
    # the top row's upper face: the top wall, or with periodic z the face of row 0
    u[...], w[...] = 0.0, 0.0
    u[g.nz - 1, 7], w[0 if g.periodic_z else g.nz, 7] = 3.0, -2.0
    set_velocity(u, w)
    assert model.advective_rate() == u_rate + w_rate
    assert advective_rate_of_interiors(model) == u_rate + w_rate


def test_largest_nonnegative_is_the_maximum_and_keeps_nan():
    x = np.abs(np.random.default_rng(0).standard_normal(389))
    assert operators.largest_nonnegative(x) == x.max()
    assert operators.largest_nonnegative(np.zeros(3)) == 0.0
    x[7] = np.inf
    assert operators.largest_nonnegative(x) == np.inf
    x[200] = np.nan
    assert np.isnan(operators.largest_nonnegative(x))


@pytest.mark.parametrize("name", ["shear_layer", "kolmogorov"])  # walls, periodic z
def test_state_statistics_are_those_of_the_fields_and_keep_nan(name):
    """The one pass of the per-step diagnostics: the maxima are numpy's over the same
    differences, b's sums and moment and w's fundamental mode numpy's to round-off, a NaN
    shows."""
    case = billow.get_case(name)
    model = case.build(case.make_params(nx=32, nz=16, Lx=14.0, noise=0.1, seed=1))
    g = model.grid
    rng = np.random.default_rng(2)
    for field in ("u", "w", "b"):  # u not divergence-free, so that max |div u| is not ~0
        model.interior(field)[...] = rng.standard_normal(model.interior(field).shape)
    model.fill_all_ghosts()

    # the same differences as the kernel's, from the padded arrays: du/dx, dw/dz at centres,
    # du/dz, dw/dx at corners (nz + 1 rows of corners between walls, nz with periodic z)
    u, w, h = model.state["u"], model.state["w"], g.ghost
    rows, corners = slice(h, h + g.nz), slice(h, h + (g.nz if g.periodic_z else g.nz + 1))
    columns = slice(h, h + g.nx)
    du_dx = (u[rows, h + 1 : h + g.nx + 1] - u[rows, columns]) * (1.0 / g.dx)
    dw_dz = (w[h + 1 : h + g.nz + 1, columns] - w[rows, columns]) * (1.0 / g.dz)
    du_dz = (u[corners, columns] - u[corners.start - 1 : corners.stop - 1, columns]) * (1.0 / g.dz)
    dw_dx = (w[corners, columns] - w[corners, h - 1 : h - 1 + g.nx]) * (1.0 / g.dx)
    found = diagnostics.state_statistics(model)
    assert found["largest_gradient"] == max(np.abs(d).max() for d in (du_dx, dw_dz, du_dz, dw_dx))
    assert found["largest_divergence"] == np.abs(model.divergence()).max() > 0
    # two sums of the same n terms in different orders differ by at most
    # 2 n eps sum |x| (eps = 1.1e-16): n = 32 terms of a row, 7e-15 sum |x|, and
    # n = 512 of the field, 1.2e-13 sum |x|
    b, z = model.interior("b"), g.z_centre
    assert abs(found["b_bottom"] - b[0].sum()) <= 1e-14 * np.abs(b[0]).sum()
    assert abs(found["b_top"] - b[-1].sum()) <= 1e-14 * np.abs(b[-1]).sum()
    assert abs(found["b_sum"] - b.sum()) <= 2e-13 * np.abs(b).sum()
    moment = b * z[:, None]
    assert abs(found["b_moment"] - moment.sum()) <= 2e-13 * np.abs(moment).sum()
    w_rows = w[corners, columns]  # each distinct row of w; rfft's column 1 is w_hat
    w_hat = np.abs(np.fft.rfft(w_rows, axis=1)[:, 1])
    bound = 1e-14 * np.abs(w_rows).sum(axis=1).max()  # |max a - max b| <= max |a - b|
    assert abs(found["largest_w_hat"] - w_hat.max()) <= bound
    model.interior("u")[5, 7] = np.nan
    model.fill_all_ghosts()
    with_nan = diagnostics.state_statistics(model)
    assert np.isnan(with_nan["largest_gradient"]) and np.isnan(with_nan["largest_divergence"])
    model.interior("w")[3, 2] = np.nan
    model.fill_all_ghosts()
    assert np.isnan(diagnostics.state_statistics(model)["largest_w_hat"])


def test_the_diagnostics_of_a_state_share_one_pass_over_it(monkeypatch):
    """evaluate_diagnostics makes the pass of state_statistics once for all its diagnostics,
    and again for the next state (a cached pass would give the old energy)."""
    case = billow.get_case("shear_layer")
    model = case.build(case.make_params(nx=32, nz=16, Lx=14.0, noise=0.1, seed=1))
    simulation = Simulation(model, t_end=1.0)
    passes = []
    kernel = operators.state_statistics
    monkeypatch.setattr(
        operators, "state_statistics", lambda *arguments: passes.append(1) or kernel(*arguments)
    )
    before = simulation.evaluate_diagnostics(True)
    assert len(passes) == 1
    model.interior("u")[...] *= 2.0
    model.fill_all_ghosts()
    after = simulation.evaluate_diagnostics(True)
    assert len(passes) == 2
    u_energy = 0.5 * np.sum(model.interior("u") ** 2) * model.grid.cell_area
    assert after["ke"] - before["ke"] == pytest.approx(0.75 * u_energy, rel=1e-12)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two numba threads")
@pytest.mark.parametrize("name", ["forced", "double_shear"])
def test_results_do_not_depend_on_the_thread_count(name):
    # Every kernel splits rows between threads and combines row results in row order,
    # and the transforms compute each 1-D transform alike on any worker: so one and two
    # threads must agree bit for bit (the forced case also runs the stochastic forcing).
    states = []
    for threads in (1, 2):
        numba.set_num_threads(threads)
        try:
            case = billow.get_case(name)
            values = dict(nx=32, nz=32, Lx=14.0, Re=500.0, noise=0.05, seed=3)
            model = case.build(case.make_params(**values))
            simulation = Simulation(model, t_end=0.5, save_every=0.5)
            series = []
            record = Callback(lambda sim: series.append(sim.evaluate_diagnostics()))
            simulation.callbacks["series"] = record
            simulation.run()
        finally:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        states.append(({name: model.interior(name).copy() for name in model.state}, series))
    (fields_1, series_1), (fields_2, series_2) = states
    for name in fields_1:
        assert np.array_equal(fields_1[name], fields_2[name]), name
    assert series_1 and series_1 == series_2


def test_same_seed_same_fields_different_seed_differs():
    """Seeded noise makes runs bit-for-bit reproducible, and the seed matters."""
    options = dict(nx=32, nz=32, t_end=4.0, save_every=2.0, noise=1e-3, **SHEAR_LAYER)
    first = billow.run("shear_layer", seed=1, **options)
    second = billow.run("shear_layer", seed=1, **options)
    other = billow.run("shear_layer", seed=2, **options)
    assert set(first.data_vars) == set(second.data_vars)
    assert first.sizes["time"] == 3
    for name in first.data_vars:
        # bit-for-bit: same arithmetic in the same order (no tolerance)
        assert np.array_equal(first[name].values, second[name].values), name
    np.testing.assert_array_equal(first["time"].values, second["time"].values)
    # noise of max|w| = 1e-3 changes the final fields by ~1e-3; 1e-6 is far above round-off
    difference = np.max(np.abs(first["w"].values[-1] - other["w"].values[-1]))
    assert difference > 1e-6


# --- 7. the exact Poisson solve -------------------------------------------------------------


def five_point_laplacian(phi: np.ndarray, grid: Grid) -> np.ndarray:
    """The C-grid 5-point Laplacian: periodic in x; periodic in z or Neumann walls (even
    mirror ghost rows phi[-1] = phi[0], phi[nz] = phi[nz-1])."""
    if grid.periodic_z:
        above, below = np.roll(phi, -1, axis=0), np.roll(phi, 1, axis=0)
    else:
        above = np.vstack([phi[1:], phi[-1:]])
        below = np.vstack([phi[:1], phi[:-1]])
    return (np.roll(phi, -1, axis=1) - 2 * phi + np.roll(phi, 1, axis=1)) / grid.dx**2 + (
        above - 2 * phi + below
    ) / grid.dz**2


PYFFTW = _import_pyfftw()
needs_pyfftw = pytest.mark.skipif(PYFFTW is None, reason="pyFFTW (the fftw extra) not installed")
LIBRARIES = [pytest.param("fftw", marks=needs_pyfftw), "scipy"]


@pytest.mark.parametrize("library", LIBRARIES)
@pytest.mark.parametrize("periodic_z", [False, True], ids=["walls", "periodic"])
@pytest.mark.parametrize(
    # non-square cells and nx != nz so that swapped axes or spacings cannot cancel
    "nx, nz, Lx, Lz",
    [(48, 32, 3.0, 1.0), (20, 56, 1.0, 7.0), (64, 64, TWO_PI, TWO_PI)],
)
def test_poisson_solver_is_exact(library, periodic_z, nx, nz, Lx, Lz):
    """L phi = rhs - mean(rhs) to round-off for the discrete 5-point Laplacian, with
    either library's transforms."""
    grid = Grid(nx, nz, Lx, Lz, periodic_z=periodic_z)
    rng = np.random.default_rng(nx * nz + periodic_z)
    rhs = rng.standard_normal((nz, nx)) + 0.3  # white noise excites every eigenmode
    zero_mean = rhs - rhs.mean()
    solver = PoissonSolver(grid, library=library)
    for source in (zero_mean, rhs):  # the mean is removed (it lies outside L's range)
        residual = five_point_laplacian(solver.solve(source), grid) - zero_mean
        # Round-off in phi (~eps |phi|) is amplified by L's largest eigenvalue ~8/dx^2, so
        # the relative residual is ~eps * n^2 / 5 <= 2e-13 at n = 64; measured <= 1.8e-14.
        assert np.max(np.abs(residual)) <= 1e-12 * np.max(np.abs(zero_mean))


@needs_pyfftw
@pytest.mark.parametrize("periodic_z", [False, True], ids=["walls", "periodic"])
@pytest.mark.parametrize("nx, nz", [(30, 21), (384, 192)])
def test_fftw_and_scipy_solve_alike_to_round_off(periodic_z, nx, nz):
    """FFTW and scipy.fft give the same phi to round-off (each transform's error is
    ~eps log2(n) of the data; the inverse Laplacian weights the smooth modes, which a
    random rhs excites ~1/sqrt(N) as much as phi holds them: ~eps log2(N) sqrt(N) of
    max|phi|, 1e-12 at 384 x 192; measured 1.1e-15 or less). A right-hand side written
    into the FFTW solver's ``rhs`` is solved where it is, to the same bits."""
    grid = Grid(nx, nz, 5.0, 3.0, periodic_z=periodic_z)
    rhs = np.random.default_rng(nx + nz).standard_normal((nz, nx))
    fftw, by_scipy = PoissonSolver(grid, library="fftw"), PoissonSolver(grid, library="scipy")
    expected = by_scipy.solve(rhs)
    phi = fftw.solve(rhs).copy()
    assert np.max(np.abs(phi - expected)) <= 1e-12 * np.max(np.abs(expected))
    np.copyto(fftw.rhs, rhs)
    assert np.array_equal(fftw.solve(fftw.rhs), phi)
    assert np.array_equal(fftw.rhs, rhs)  # the model's divergence survives its solve
    assert fftw.description.startswith("fftw") and by_scipy.description.startswith("scipy")


@needs_pyfftw
def test_fftw_blocks_run_on_a_helper_thread_on_large_grids_to_the_same_bits(monkeypatch):
    """Between walls FFTW transforms two blocks of rows. With two threads and at least
    HELPER_MIN_CELLS cells, the second block of each transform runs on the helper thread;
    the plans are the same as on one thread, so phi is the same to the last bit."""
    submitted = []
    helper = poisson._fft_helper(os.getpid())

    class Recorder:
        def submit(self, job):
            submitted.append(job)
            return helper.submit(job)

    monkeypatch.setattr(poisson, "_fft_helper", lambda pid: Recorder())
    nz = 256
    large = Grid(poisson.FFTWTransforms.HELPER_MIN_CELLS // nz, nz, 5.0, 3.0)
    rhs = np.random.default_rng(7).standard_normal((large.nz, large.nx))
    on_one = PoissonSolver(large, workers=1, library="fftw").solve(rhs).copy()
    assert submitted == []
    on_two = PoissonSolver(large, workers=2, library="fftw").solve(rhs)
    assert len(submitted) == 2  # the forward and the inverse transform's second block
    assert np.array_equal(on_one, on_two)
    small = Grid(64, 32, 5.0, 3.0)
    PoissonSolver(small, workers=2, library="fftw").solve(rhs[:32, :64])
    assert len(submitted) == 2  # below HELPER_MIN_CELLS: all on the calling thread


@needs_pyfftw
def test_fftw_plans_set_the_processs_wisdom_aside_and_restore_it():
    """FFTW would use the process's wisdom even with FFTW_ESTIMATE (another plan, other
    last bits): billow plans without it, and leaves it as it was."""
    shape = (16, 20)
    real = PYFFTW.zeros_aligned(shape)
    spectrum = PYFFTW.zeros_aligned((16, 11), dtype=complex)
    PYFFTW.FFTW(real, spectrum, (1,), flags=("FFTW_MEASURE",))  # the user's wisdom
    before = wisdom_entries(PYFFTW.export_wisdom())
    assert before[0]  # the user's double-precision plan is in it
    PoissonSolver(Grid(20, 16, 1.0, 1.0), library="fftw")
    assert wisdom_entries(PYFFTW.export_wisdom()) == before


def wisdom_entries(wisdom):
    """FFTW's wisdom per precision as a set of entries: it exports its hash table, whose
    order depends on the order in which the entries went in, not on what it holds."""
    return [frozenset(line.strip() for line in text.decode().splitlines()[1:-1]) for text in wisdom]


@needs_pyfftw
def test_pyfftw_is_imported_without_dask_array():
    """pyFFTW's package imports its dask interface where dask is installed (0.35 s):
    billow keeps dask.array out of that import."""
    pytest.importorskip("dask")
    code = (
        "import sys\n"
        "from billow.core.poisson import fft_library\n"
        "assert 'dask.array' not in sys.modules, 'imported before'\n"
        "assert fft_library() == 'fftw'\n"
        "print('pyfftw' in sys.modules, 'dask.array' in sys.modules)"
    )
    environment = {key: value for key, value in os.environ.items() if key != "BILLOW_FFT"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]


def test_fftw_without_pyfftw_is_a_config_error(monkeypatch):
    monkeypatch.setattr(poisson, "_import_pyfftw", lambda: None)
    monkeypatch.setenv("BILLOW_FFT", "fftw")
    with pytest.raises(ConfigError, match="pyFFTW"):
        fft_library()
    with pytest.raises(ConfigError, match="pyFFTW"):
        PoissonSolver(Grid(8, 8, 1.0, 1.0), library="fftw")
    monkeypatch.delenv("BILLOW_FFT")
    assert fft_library() == "scipy"


def test_billow_fft_chooses_the_library(monkeypatch):
    """BILLOW_FFT picks scipy or FFTW; a misspelt value is a ConfigError naming the
    choices; unset, FFTW where pyFFTW is installed."""
    monkeypatch.setenv("BILLOW_FFT", "scipy")
    assert fft_library() == "scipy"
    assert PoissonSolver(Grid(8, 8, 1.0, 1.0)).library == "scipy"
    monkeypatch.setenv("BILLOW_FFT", "fftx")
    with pytest.raises(ConfigError, match="did you mean 'fftw'"):
        fft_library()
    monkeypatch.delenv("BILLOW_FFT")
    assert fft_library() == ("scipy" if PYFFTW is None else "fftw")


def test_wall_poisson_solve_is_exact_for_a_prime_nz():
    """Between walls z is not transformed, so nz need not factor into small primes."""
    grid = Grid(24, 131, 3.0, 2.0)
    rhs = np.random.default_rng(131).standard_normal((grid.nz, grid.nx))
    rhs -= rhs.mean()
    residual = five_point_laplacian(PoissonSolver(grid).solve(rhs), grid) - rhs
    # the bound of test_poisson_solver_is_exact: ~eps n^2 / 5 = 4e-13 at n = 131
    assert np.max(np.abs(residual)) <= 2e-12 * np.max(np.abs(rhs))


def test_wall_poisson_solve_equals_the_dct_solve():
    """The tridiagonal solve in z is the same discrete inverse as the DCT-II, whose cosines
    diagonalise the wall-bounded matrix: phi = T^-1 [T f / (lambda_x + lambda_z)]."""
    grid = Grid(48, 40, 3.0, 2.0)
    rhs = np.random.default_rng(7).standard_normal((grid.nz, grid.nx))
    l, m = np.arange(grid.nx // 2 + 1), np.arange(grid.nz)
    eigenvalues = (-4 * np.sin(np.pi * m / (2 * grid.nz)) ** 2 / grid.dz**2)[:, None] - (
        4 * np.sin(np.pi * l / grid.nx) ** 2 / grid.dx**2
    )
    eigenvalues[0, 0] = np.inf
    spectrum = scipy.fft.rfft(scipy.fft.dct(rhs, type=2, axis=0), axis=1) / eigenvalues
    expected = scipy.fft.idct(scipy.fft.irfft(spectrum, n=grid.nx, axis=1), type=2, axis=0)
    phi = PoissonSolver(grid).solve(rhs)
    # both are exact to round-off amplified by the condition number ~ (n/pi)^2: measured 8e-15
    assert np.max(np.abs(phi - expected)) <= 1e-13 * np.max(np.abs(expected))
    assert abs(phi.mean()) <= 1e-14 * np.max(np.abs(phi))


# --- 8. snapshot times ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "t_end, save_every",
    # 1.1 and 0.3 take several adaptive steps per interval (dt ~ 0.35 at nx = 32), so
    # model.time is a sum of inexact dt's; 0.7 / 0.1 has 7 * 0.1 = 0.7000000000000001 > 0.7;
    # 5.0 / 1.1 ends between multiples of save_every.
    [(5.5, 1.1), (3.0, 0.3), (0.7, 0.1), (5.0, 1.1)],
)
def test_snapshot_times_are_exact(tmp_path, t_end, save_every):
    """fields.nc holds one snapshot at every multiple k * save_every <= t_end (the same
    floating-point numbers as np.arange), plus t_end when it is not a multiple."""
    billow.run(
        "shear_layer",
        nx=32,
        nz=16,
        t_end=t_end,
        save_every=save_every,
        out=tmp_path / "r",
        **SHEAR_LAYER,
    )
    with billow.open_run(tmp_path / "r") as dataset:
        times = dataset["time"].values
    expected = np.arange(0, t_end + save_every / 2, save_every)
    if expected[-1] > t_end * (1 + 1e-10):  # t_end is not a multiple: it is the last record
        expected[-1] = t_end
    assert times.shape == expected.shape, f"times {times.tolist()}"
    # exact equality: the step is shortened to land on each output time, which is then
    # stored as the value k * save_every itself, not as a sum of dt's
    assert np.array_equal(times[:-1], expected[:-1]), f"times {times.tolist()}"
    # the final record is at t_end; where t_end and the last multiple differ only in the
    # last bit (0.7 vs 7 * 0.1), either representation is exact
    assert times[-1] in (expected[-1], t_end)


# --- 9. energy budget ---------------------------------------------------------------------


def smooth_field(x: np.ndarray, z: np.ndarray, seed: int) -> np.ndarray:
    """Seeded combination of low Fourier modes (|k| <= 2), smooth on any 2 pi grid."""
    rng = np.random.default_rng(seed)
    field = np.zeros_like(x)
    for kx in range(3):
        for kz in range(3):
            amplitude, phase_x, phase_z = rng.standard_normal(3)
            field += amplitude * np.cos(kx * x + phase_x) * np.cos(kz * z + phase_z)
    return field


def perturbed_taylor_green(n: int, bc_z: str, Re: float = 100.0, advection="centered2") -> Model:
    """Taylor-Green vortex in a 2 pi box plus a smooth random perturbation (0.3 of it), so
    that advection transfers energy between modes (pure Taylor-Green has (u.grad)u = -grad p)."""
    grid = Grid(n, n, TWO_PI, TWO_PI, periodic_z=bc_z == "periodic", z_bottom=0.0)
    model = Model(grid, Re=Re, bc_z=bc_z, advection=advection)
    u, w = taylor_green_fields(grid, 0.0, Re, 0.0, 0.0)
    xu, zu = np.meshgrid(grid.x_face, grid.z_centre)
    xw, zw = np.meshgrid(grid.x_centre, grid.z_face)
    model.set(u=u + 0.3 * smooth_field(xu, zu, 1), w=w + 0.3 * smooth_field(xw, zw, 2))
    return model


@pytest.mark.parametrize("bc_z", ["periodic", "free-slip", "no-slip"])
def test_discrete_energy_budget_is_exact_for_centered_scheme(bc_z):
    """Semi-discrete identity: with centered2 advection and b = 0,
    sum(u . du/dt) dA = -epsilon exactly, because the advection is skew-symmetric on a
    divergence-free C-grid field, the pressure gradient is orthogonal to it, and epsilon
    is defined as -sum(u . nu lap u) dA (wall corners weighted 1/2)."""
    model = perturbed_taylor_green(32, bc_z)
    tendencies = model.compute_tendencies(0.0)
    g = model.grid
    w_rows = slice(0, g.nz) if g.periodic_z else slice(1, g.nz)  # the prognostic w faces
    rate = (
        np.sum(model.interior("u") * tendencies["u"])
        + np.sum(model.interior("w")[w_rows] * tendencies["w"][w_rows])
    ) * g.cell_area
    epsilon = dissipation(model)
    # Both sides are sums of ~2 nx nz O(1) terms: round-off ~1e-15 relative (measured
    # <= 8e-16). An energy source in the advection or a mis-weighted wall term would
    # show at O(1e-2) (upwind5's numerical dissipation alone is 2-27% here).
    assert abs(rate + epsilon) <= 1e-12 * epsilon, f"d(ke)/dt = {rate!r}, epsilon = {epsilon!r}"


def energy_budget_error(bc_z: str, dt_over_dx: float, T: float = 1.0) -> float:
    """max over steps of |(ke(n+1) - ke(n))/dt + (eps(n) + eps(n+1))/2| / eps (trapezoid)."""
    model = perturbed_taylor_green(32, bc_z)
    steps = int(round(T / (dt_over_dx * model.grid.dx)))
    dt = T / steps
    ke, eps = [kinetic_energy(model)], [dissipation(model)]
    for _ in range(steps):
        model.step(dt)
        ke.append(kinetic_energy(model))
        eps.append(dissipation(model))
    ke, eps = np.array(ke), np.array(eps)
    mean_eps = 0.5 * (eps[1:] + eps[:-1])
    return float(np.max(np.abs(np.diff(ke) / dt + mean_eps) / mean_eps))


@pytest.mark.parametrize("bc_z", ["periodic", "free-slip", "no-slip"])
def test_kinetic_energy_decays_at_the_dissipation_rate(bc_z):
    """Time-stepped energy budget of a (perturbed) Taylor-Green decay with centered2:
    d(ke)/dt = -epsilon up to the time error, which shrinks at least like dt^2."""
    coarse = energy_budget_error(bc_z, 0.2)
    fine = energy_budget_error(bc_z, 0.1)
    # The semi-discrete budget is exact (test above); what remains is the trapezoid rule
    # for the integral of epsilon over a step plus RK3's error: O(dt^2) relative, i.e. a
    # ratio >= 4 on halving dt. Measured ratios: 8.5 (free-slip), 4.0 (no-slip), and 8.4
    # (periodic) once every stage is projected to div u = 0 (2.1 with the current code).
    # A ratio of 3 (order 1.6) separates this from an O(dt) error, e.g. a divergence
    # left by each stage (ratio 2).
    assert fine * 3.0 <= coarse, f"errors {coarse:.3g} (dt = 0.2 dx), {fine:.3g} (dt = 0.1 dx)"
    # measured 3.6e-6 (free-slip), 3.8e-5 (no-slip), 3.8e-6 (periodic with divergence-free
    # stages; 3.4e-3 with the current code) at dt = 0.1 dx; 2e-4 is ~5x the largest
    assert fine <= 2e-4, f"relative budget error {fine:.3g} at dt = 0.1 dx"


@pytest.mark.slow
def test_every_parallel_kernel_is_one_parallel_loop(tmp_path):
    # In a parallel kernel numba makes np.zeros, np.ones and array expressions parallel
    # loops of their own: each compiled apart (seconds of a first run) and launched on
    # the threads at every call. Every kernel billow's runs use has only its prange loop.
    from billow.core import advection, forcing, timestepping

    for case, settings in (("forced", {}), ("shear_layer", {"noise": 0.01}), ("kolmogorov", {})):
        billow.run(case, nx=32, nz=16, t_end=0.3, save_every=0.1, out=tmp_path / case, **settings)
    checked = []
    for module in (advection, forcing, operators, poisson, timestepping):
        for name, kernel in vars(module).items():
            is_kernel = isinstance(kernel, numba.core.registry.CPUDispatcher)
            if not is_kernel or not kernel.targetoptions.get("parallel") or kernel in checked:
                continue
            checked.append(kernel)
            for signature in kernel.signatures:  # compiled anew: the cache keeps no diagnostics
                fresh = numba.njit(parallel=True)(kernel.py_func)
                fresh.compile(signature)
                parfors = fresh.overloads[signature].metadata["parfor_diagnostics"].get_parfors()
                assert len(parfors) == 1, (name, signature, len(parfors))
    assert len(checked) >= 10
