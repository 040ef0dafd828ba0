"""Physics of the named cases (README: "Cases"): rotation, forcing, Kolmogorov flow.

Each test proves one physical property of a case against a solution or a budget
derived from the equations (and, where a discretisation error remains, from the
discrete equations themselves):

1. ``rotating`` with Ro = inf is the ``shear_layer`` case, bit for bit;
2. the inertial oscillation of a uniform flow on an f-plane (period 2 pi / f);
3. closed energy budgets of ``forced`` (injection - dissipation) and ``rotating``
   (dissipation, diffusion, background-pressure work, M^2 and buoyancy exchange);
4. the stochastic forcing: injected power, divergence-free / tangential / band-limited
   force, seeded reproducibility;
5. ``kolmogorov`` below the instability threshold relaxes to its laminar solution.

Grids are 8-32 cells and runs short, so the file takes well under a minute on two
cores. Every tolerance carries a comment with its reasoning; quoted "measured"
values were obtained with this code at the grids used here.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.fft

import billow
from billow import Grid, Model, Simulation
from billow.callbacks import Callback
from billow.core.diagnostics import dissipation, kinetic_energy, potential_energy
from billow.core.forcing import StochasticForcing, coriolis, diffusion_tendency

# The shear layer's defaults (Lx from a ~1 s linear-stability solve, eigenmode seeding)
# are not what these tests are about: fix Lx (about one fastest-growing wavelength) and
# seed a sinusoid plus broadband noise instead.
SHEAR_LAYER = {"Lx": 14.0, "perturbation": "sinusoid"}


def padded_laplacian(padded: np.ndarray, grid: Grid, rows: int) -> np.ndarray:
    """5-point Laplacian of the first ``rows`` interior rows of a padded array whose
    ghost cells are filled (periodic in x; mirrored or periodic in z)."""
    g, nx = grid.ghost, grid.nx

    def shifted(dk: int, di: int) -> np.ndarray:
        return padded[g + dk : g + dk + rows, g + di : g + di + nx]

    centre = shifted(0, 0)
    return (shifted(0, 1) + shifted(0, -1) - 2 * centre) / grid.dx**2 + (
        shifted(1, 0) + shifted(-1, 0) - 2 * centre
    ) / grid.dz**2


# --- 1. rotating with Ro = inf is shear_layer ---------------------------------------------


def test_rotating_without_rotation_is_bitwise_the_shear_layer():
    """Ro = inf adds no forcing; the extra prognostic v starts at 0 and is advected and
    diffused as a field of zeros, so it stays exactly 0 and the other fields follow the
    very same floating-point operations as shear_layer: equality is bitwise, not just
    to round-off. Broadband noise > 0 excites every resolved mode, so no symmetry can
    hide a difference; the adaptive dt sequences must agree too."""
    values = dict(nx=32, nz=32, Re=500.0, Ri=0.1, amplitude=0.1, noise=0.05, seed=3, **SHEAR_LAYER)
    runs = {}
    for name, extra in (("shear_layer", {}), ("rotating", {"Ro": float("inf")})):
        case = billow.get_case(name)
        model = case.build(case.make_params(**values, **extra))
        sim = Simulation(model, t_end=8.0, save_every=8.0, cfl=0.8)
        dts: list[float] = []
        sim.callbacks["dt"] = Callback(lambda sim, dts=dts: dts.append(sim.dt))
        sim.run()
        runs[name] = (model, dts)
    plain, plain_dts = runs["shear_layer"]
    rotating, rotating_dts = runs["rotating"]
    assert len(plain_dts) > 20  # a real run, not a couple of steps
    assert rotating_dts == plain_dts
    for name in ("u", "w", "b", "c"):
        assert np.array_equal(rotating.interior(name), plain.interior(name)), name
    # exactly zero, ghost cells included: any Coriolis leak would make v nonzero
    assert not np.any(rotating.state["v"])


# --- 2. inertial oscillation ----------------------------------------------------------------


def inertial_oscillation(f: float, f_dt: float, periods: int) -> dict[str, float]:
    """Uniform u = 1 in a rotating, unstratified, doubly periodic box, stepped with a fixed
    dt over ``periods`` inertial periods 2 pi / f. With q = u + i v the exact solution is
    q = exp(-i f t), i.e. (u, v) = (cos ft, -sin ft)."""
    n = 16
    grid = Grid(n, n, 3.0, 2.0, periodic_z=True, z_bottom=0.0)
    model = Model(grid, Re=100.0, bc_z="periodic", spanwise_velocity=True, time_stepper="ssprk3")
    model.forcings.append(coriolis(model, f, U=np.zeros(n), dU_dz=np.zeros(n)))
    model.set(u=np.ones((n, n)))
    T = periods * 2 * np.pi / f
    steps = int(round(T * f / f_dt))
    dt = T / steps
    for _ in range(steps):
        model.step(dt)
    q = model.interior("u") + 1j * model.interior("v")
    exact = np.exp(-1j * f * T)
    z = -1j * f * dt  # SSP-RK3 applied to dq/dt = -i f q multiplies q by R(z) every step
    rk3 = (1 + z + z**2 / 2 + z**3 / 6) ** steps
    return {
        "error": float(np.max(np.abs(q - exact))),
        "amplitude": float(np.max(np.abs(np.abs(q) - 1.0))),
        "phase": float(np.max(np.abs(np.angle(q / exact)))),
        "rk3": float(np.max(np.abs(q - rk3))),
        "w": float(np.max(np.abs(model.interior("w")))),
        "predicted": f * T * (f * dt) ** 3 / 24,
    }


def test_inertial_oscillation_has_period_two_pi_over_f():
    """(u, v) = (cos ft, -sin ft): over 3 inertial periods the phase and amplitude errors
    are <= 1e-6 at f dt = 0.01, and they are time-step errors: they fall like dt^3
    (SSP-RK3), and the model reproduces the RK3 recursion q <- R(-i f dt) q exactly."""
    coarse = inertial_oscillation(f=2.0, f_dt=0.04, periods=3)
    fine = inertial_oscillation(f=2.0, f_dt=0.01, periods=3)
    # the bound; analysis: |R(iy)| = 1 - y^4/24 + O(y^6), so the amplitude error
    # after N steps is f T (f dt)^3 / 24 = 7.9e-7 at f dt = 0.01 over 3 periods (measured
    # 7.85e-7); the phase error is O(y^5) per step (measured 6e-9)
    assert fine["amplitude"] <= 1e-6 and fine["phase"] <= 1e-6, fine
    assert fine["error"] <= 1e-6, fine
    # dt^3: a 4x larger dt gives 64 (1 + O((f dt)^2)) times the error; measured 64.10.
    # 60-68 is order 2.95-3.04
    ratio = coarse["error"] / fine["error"]
    assert 60.0 <= ratio <= 68.0, f"errors {coarse['error']:.3g}, {fine['error']:.3g}: {ratio:.3f}"
    # the error is RK3's own: f T (f dt)^3 / 24 to within the next term of
    # |R(iy)| = 1 - y^4/24 + y^6/72, a relative -y^2/3 = -3.3e-5 (measured -3.4e-5)
    assert abs(fine["amplitude"] / fine["predicted"] - 1) <= 2e-4, fine
    # uniform fields have zero advection, diffusion and divergence to the bit, so the state
    # is the RK3 recursion to round-off (measured 1e-13 after 1885 steps); the flow stays
    # horizontal
    assert fine["rk3"] <= 1e-11 and coarse["rk3"] <= 1e-11, (coarse, fine)
    assert fine["w"] == 0.0


# --- 3. energy budgets ----------------------------------------------------------------------


@functools.cache
def forced_budget(dt: float, bc_z: str, T: float = 5.0) -> dict[str, float]:
    """A run of ``forced`` from rest (Ri = 0: b = 0) with centered2 advection, 32 x 32,
    Re = 100, by Simulation at a fixed dt (the diffusive limit is overridden; the
    advective limit never bites: the CFL number stays <= 0.05), recording the per-step
    diagnostics.

    Returns the final KE residual KE(T) - KE(0) - sum(P dt - trapezoid(eps) dt), the
    predicted leading quadrature error sum(dt^2/4 nu sum|grad f|^2 dA) (see the budget
    test), the mean injected power over rate Lx Lz, and the largest |sum f . u^n dA| /
    (|f| |u^n|) of the steps (the orthogonalisation)."""
    case = billow.get_case("forced")
    params = case.make_params(
        nx=32,
        nz=32,
        base="rest",
        Ri=0.0,
        Re=100.0,
        advection="centered2",
        bc_z=bc_z,
        seed=1,
        forcing_rate=1e-3,
        t_end=T,
        save_every=T,
    )
    model = case.build(params)
    forcing = model.forcings[0]
    grid = model.grid
    sim = Simulation(model, t_end=T, save_every=T, cfl=0.8)
    sim.controller.max_diffusive_dt = dt
    names = ("ke", "epsilon", "injected_power", "dt", "cfl")
    record: dict[str, list[float]] = {name: [] for name in (*names, "predicted", "overlap")}

    def collect(t, values):
        for name in names:
            record[name].append(values[name])
        if forcing.force is None:  # the call at t = 0, before any step
            return
        fu, fw = forcing.force  # the step's force, F = f / sqrt(dt)
        viscous = np.sum(fu * diffusion_tendency(model, "u", fu)) + np.sum(
            fw[1:-1] * diffusion_tendency(model, "w", fw)[1:-1]
        )
        record["predicted"].append(-(values["dt"] ** 2) / 4 * viscous * grid.cell_area)
        u0, w0 = forcing.velocity_before(model)
        norms = np.sqrt((np.sum(fu**2) + np.sum(fw**2)) * (np.sum(u0**2) + np.sum(w0**2)))
        record["overlap"].append(abs(np.sum(fu * u0) + np.sum(fw * w0)) / norms if norms else 0.0)

    sim.callbacks["collect"] = Callback(
        lambda sim: collect(sim.model.time, sim.evaluate_diagnostics())
    )
    sim.run()
    ke, eps, power, dts = (np.array(record[name]) for name in names[:4])
    dts, power, predicted = dts[1:], power[1:], np.array(record["predicted"])
    residual = np.cumsum(np.diff(ke) - (power - 0.5 * (eps[1:] + eps[:-1])) * dts)
    return {
        "steps": len(dts),
        "residual": float(residual[-1]),
        "predicted": float(np.sum(predicted)),
        "remainder": float(np.max(np.abs(residual - np.cumsum(predicted)))),
        "injected": float(np.sum(power * dts)),
        "power_ratio": float(np.mean(power) / (params.forcing_rate * params.Lx * params.Lz)),
        "overlap": float(max(record["overlap"])),
        "dt_max": float(dts.max()),
        "dt_min": float(dts.min()),
        "cfl": float(max(record["cfl"])),
        "b": float(np.max(np.abs(model.interior("b")))),
    }


@pytest.mark.parametrize("bc_z", ["free-slip", "no-slip"])
def test_forced_kinetic_energy_budget_closes(bc_z):
    """KE(t) - KE(0) = int (P - eps) dt for ``forced`` with centered2 advection (which
    conserves KE exactly in space, and the pressure does no work on a divergence-free
    field), up to the time discretisation, which is derived here.

    The force is white in time: F = f / sqrt(dt), held through the step. For
    du/dt = F + A u (A = nu lap, P the projection) the exact step gains
    int_0^dt F.u dt while P dt (the midpoint work) is the trapezoid rule, short by
    dt^3/12 F.AF; the trapezoid for eps = -u.Au is off by dt^3/12 eps'' = -dt^3/6 F.AF.
    Per step the residual is therefore -dt^3/4 F.AF = dt^2/4 nu sum|grad f|^2 dA: O(dt^2)
    per step, O(dt) at a fixed time (the price of white forcing, not a lost term), and
    computable from the force itself. Advection adds no term at this order (F.N(u, F) = 0
    by skew-symmetry; the rest has a random sign). No-slip walls make the wall-corner
    weighting of eps matter (free-slip has du/dz = 0 there)."""
    coarse = forced_budget(0.05, bc_z)
    fine = forced_budget(0.025, bc_z)
    for dt, run in ((0.05, coarse), (0.025, fine)):
        assert run["b"] == 0.0  # Ri = 0 from rest: b is exactly zero, no potential energy
        # the steps are the requested ones (the advective limit never bites; the last ones
        # may differ from dt in the last bits to land on t_end)
        assert abs(run["dt_max"] / dt - 1) <= 1e-9 and abs(run["dt_min"] / dt - 1) <= 1e-9, run
        # the injected energy is ~rate Lx Lz T = 0.880 (measured 0.879), >> the residual ~5e-4
        assert run["injected"] >= 0.75, run
        # the leading term explains the residual: the rest is the next order in sqrt(dt)
        # (random sign), measured 0.17-0.22% of it (both walls, both dt); a missing
        # factor or term in P or eps would be O(100%) of it
        assert run["remainder"] <= 0.02 * abs(run["predicted"]), run
    # first order at fixed time, as derived: ratio 2 on halving dt (measured 1.998
    # free-slip, 1.994 no-slip); the force sequences differ between the runs, hence
    # 1.8-2.2, not tighter
    ratio = coarse["residual"] / fine["residual"]
    assert 1.8 <= ratio <= 2.2, (coarse, fine)
    # and small: the leading term is a fraction dt nu <|grad f|^2> / (2 <|f|^2>) of the
    # injected energy, <= dt nu k_max^2 / 2 = 5e-4 for free-slip (discrete wavenumbers of the
    # band are <= k_max); no-slip adds the wall-corner gradients of f. Measured 3.1e-4
    # (free-slip) and 3.9e-4 (no-slip) at dt = 0.025
    assert abs(fine["residual"]) <= 5e-4 * fine["injected"], fine


def rotating_model(advection: str = "centered2") -> tuple[Model, float]:
    case = billow.get_case("rotating")
    params = case.make_params(
        nx=32,
        nz=32,
        Re=500.0,
        Ri=0.1,
        Ro=2.0,
        amplitude=0.1,
        noise=0.05,
        seed=3,
        advection=advection,
        **SHEAR_LAYER,
    )
    return case.build(params), 1.0 / params.Ro


def rotating_energy_terms(model: Model, f: float) -> dict[str, float]:
    """The terms of d(KE + PE)/dt for ``rotating`` (free-slip walls, centered2), from the
    discrete equations

        du/dt = ... + f v,  dv/dt = ... - f (u - U),  db/dt = ... + f U'(z) v_bar,

    with KE = 1/2 sum (u^2 + v^2 + w^2) dA and PE = -sum z b dA:

    - Coriolis: f u v - f v (u - U) leaves the background-pressure work f sum U v dA;
    - buoyancy: + sum w b_bar dA in KE and - sum w b_face dA from the advection of b in PE
      (summation by parts of z against the z-flux), which cancel for centered2;
    - viscosity: -eps (u, w; the diagnostic) - nu sum |grad v|^2 dA (v is not in eps);
    - diffusion of b: -sum z kappa lap b dA (mirror ghosts: no flux through the walls);
    - the M^2 source: -sum z f U' v_bar dA.
    Each is computed with numpy from the model state (ghosts filled after every step).
    """
    grid = model.grid
    dA, z = grid.cell_area, grid.z_centre[:, None]
    nu = 1.0 / model.Re
    kappa = nu / model.Pr
    U, dU_dz = np.tanh(z), 1.0 / np.cosh(z) ** 2  # what rotating.build passes to coriolis
    v = model.interior("v")
    v_centre = 0.5 * (v + np.roll(v, -1, axis=1))
    return {
        "epsilon": -dissipation(model),
        "epsilon_v": float(nu * np.sum(v * padded_laplacian(model.state["v"], grid, grid.nz)) * dA),
        "diffusion_pe": float(
            -kappa * np.sum(z * padded_laplacian(model.state["b"], grid, grid.nz)) * dA
        ),
        "background_work": float(f * np.sum(U * v) * dA),
        "m2": float(-f * np.sum(z * dU_dz * v_centre) * dA),
    }


def test_rotating_energy_budget_is_exact_in_space():
    """Semi-discrete identity: the rate of change of KE + PE implied by the model's own
    tendencies equals the sum of the derived terms to round-off (the projection removes
    a gradient, which does no work on the divergence-free velocity). Checked on a state
    with v != 0, so every Coriolis and M^2 term is active."""
    model, f = rotating_model()
    for _ in range(20):
        model.step(0.1)
    tendencies = model.compute_tendencies(model.time)
    grid = model.grid
    z = grid.z_centre[:, None]
    rate = (
        np.sum(model.interior("u") * tendencies["u"])
        + np.sum(model.interior("v") * tendencies["v"])
        + np.sum(model.interior("w")[1:-1] * tendencies["w"][1:-1])
        - np.sum(z * tendencies["b"])
    ) * grid.cell_area
    terms = rotating_energy_terms(model, f)
    scale = max(abs(value) for value in terms.values())
    # the terms range from 4.7e-3 (eps_v) to 1.3 (background work) here, so a missing one
    # or a wrong sign is >= 1e9 x the tolerance; what remains is round-off of sums of
    # ~4 nx nz terms (measured 4e-15 relative)
    assert min(abs(value) for value in terms.values()) >= 1e-3, terms
    assert abs(rate - sum(terms.values())) <= 1e-12 * scale, (rate, terms)


def rotating_budget_residual(dt: float, T: float = 10.0) -> tuple[float, float, dict[str, float]]:
    """max over time of |KE + PE - (KE + PE)(0) - int(terms) dt| (trapezoid), with the
    integral of |d(KE + PE)/dt| and of each |term| for scale."""
    model, f = rotating_model()
    steps = int(round(T / dt))
    dt = T / steps
    energy = [kinetic_energy(model) + potential_energy(model)]
    terms = [rotating_energy_terms(model, f)]
    for _ in range(steps):
        model.step(dt)
        energy.append(kinetic_energy(model) + potential_energy(model))
        terms.append(rotating_energy_terms(model, f))
    rates = np.array([sum(t.values()) for t in terms])
    mean_rates = 0.5 * (rates[1:] + rates[:-1])
    residual = np.cumsum(np.diff(energy) - mean_rates * dt)
    integrated = {name: sum(abs(t[name]) for t in terms) * dt for name in terms[0]}
    return float(np.max(np.abs(residual))), float(np.sum(np.abs(mean_rates)) * dt), integrated


def test_rotating_energy_budget_closes_in_time():
    """d(KE + PE)/dt = -eps - eps_v - sum z kappa lap b dA + f sum U v dA - sum z f U' v_bar dA
    over a run of 10 time units (about 1 inertial period at Ro = 2), to time-stepping
    accuracy: the trapezoid rule for the right-hand side is O(dt^2) at fixed time and
    RK3 is O(dt^3), so the residual falls 4x on halving dt.

    With the default upwind5 advection the budget does not close: its numerical
    dissipation (not in eps) leaves a residual of 0.215 here, 5.6% of int|d(KE+PE)/dt|,
    independent of dt (measured ratio 1.000 on halving dt); hence centered2."""
    coarse, _, _ = rotating_budget_residual(0.1)
    fine, scale, integrated = rotating_budget_residual(0.05)
    # every term contributes >= 0.05 over the run (measured: eps 0.46, eps_v 0.063,
    # diffusion 0.056, background work 7.9, M^2 4.2), i.e. >= 400x the residual below
    assert min(integrated.values()) >= 0.05, integrated
    # second order: ratio 4 (measured 3.87); 3.5 rejects first order (2) with margin
    assert coarse >= 3.5 * fine, f"residuals {coarse:.3g} (dt = 0.1), {fine:.3g} (dt = 0.05)"
    # measured 3.4e-5 of int|d(KE+PE)/dt| dt = 3.78 at dt = 0.05; 1e-4 is 3x that and 150x
    # below the smallest term
    assert fine <= 1e-4 * scale, f"residual {fine:.3g}, scale {scale:.3g}"


# --- 4. the stochastic forcing ---------------------------------------------------------------


def forced_model(seed: int = 1, **overrides) -> tuple[Model, billow.cases.forced.Params]:
    case = billow.get_case("forced")
    values = dict(nx=32, nz=32, base="rest", Re=100.0, seed=seed, forcing_rate=1e-3)
    values.update(overrides)
    params = case.make_params(**values)
    return case.build(params), params


@pytest.mark.parametrize("bc_z", ["free-slip", "no-slip"])
@pytest.mark.parametrize("dt", [0.05, 0.025])
def test_forced_mean_injected_power_is_the_forcing_rate(dt, bc_z):
    """Mean injected power = forcing_rate Lx Lz, for any dt (100 and 200 steps). The force
    is made orthogonal to u^n, so P = sum F.(u^n + u^{n+1})/2 dA = 1/2 sum |f|^2 dA
    + O(sqrt(dt)) terms of random sign + a systematic -dt/2 nu sum |grad f|^2 dA, i.e. a
    relative deficit ~ dt nu <k^2> / 2 ~ 5e-4 at dt = 0.05 (|k| in [1, 2], nu = 0.01)."""
    run = forced_budget(dt, bc_z)
    assert run["steps"] == round(5.0 / dt)
    # issue: within 5%. Measured 0.99935, 0.99973 (free-slip) and 0.99927, 0.99969 (no-slip)
    # at dt = 0.05, 0.025, as the deficit above predicts; the per-step scatter (std 0.46%)
    # averages to <= 4.6e-4 over >= 100 steps, so 1% is > 15 sigma + bias and still 5x
    # tighter than the bound
    assert abs(run["power_ratio"] - 1.0) <= 0.01, f"P / (rate Lx Lz) = {run['power_ratio']:.5f}"
    # the orthogonalisation holds every step: sum f . u^n dA = 0 to round-off relative to
    # |f| |u^n| (measured <= 1e-16); without it the overlap is O(1 / sqrt(modes))
    assert run["overlap"] <= 1e-13, run


def test_stochastic_force_is_divergence_free_tangential_and_band_limited():
    """The force velocity f = (d psi/dz, -d psi/dx) of several steps: C-grid divergence
    zero to round-off, w = 0 on the wall rows, and psi (recovered from f: psi = 0 on the
    bottom wall, d psi/dz = f_u) has energy only in modes sin(m pi z/Lz) exp(i kx x) with
    k_min <= |(kx, m pi/Lz)| <= k_max (a DST-I in z and an FFT in x diagonalise it)."""
    model, params = forced_model(seed=5, forcing_k_min=1.0, forcing_k_max=2.0)
    grid = model.grid
    forcing = model.forcings[0]
    m = np.arange(1, grid.nz)[:, None]
    l = np.arange(grid.nx // 2 + 1)[None, :]
    magnitude = np.hypot(np.pi * m / grid.Lz, 2 * np.pi * l / grid.Lx)
    band = (magnitude >= params.forcing_k_min) & (magnitude <= params.forcing_k_max)
    band &= (l > 0) & (l < grid.nx // 2)  # travelling modes only (no mean, no Nyquist)
    assert 5 <= band.sum() < band.size // 10  # a genuine band: 17 of 527 modes here
    for _ in range(3):
        model.step(0.05)
        fu, fw = forcing.force
        assert fu.shape == (grid.nz, grid.nx) and fw.shape == (grid.nz + 1, grid.nx)
        divergence = (np.roll(fu, -1, axis=1) - fu) / grid.dx + np.diff(fw, axis=0) / grid.dz
        gradient_scale = max(np.max(np.abs(fu)) / grid.dx, np.max(np.abs(fw)) / grid.dz)
        # differences of O(1) numbers: round-off ~1e-16 relative (measured 3e-16)
        assert np.max(np.abs(divergence)) <= 1e-13 * gradient_scale
        # tangential at the walls: exactly zero normal velocity
        assert not np.any(fw[0]) and not np.any(fw[-1])
        psi = np.vstack([np.zeros((1, grid.nx)), np.cumsum(fu * grid.dz, axis=0)])
        # psi also vanishes on the top wall (every sine does) and reproduces f_w (round-off)
        psi_scale = np.max(np.abs(psi))
        assert np.max(np.abs(psi[-1])) <= 1e-13 * psi_scale
        w_from_psi = -(np.roll(psi, -1, axis=1) - psi) / grid.dx
        assert np.max(np.abs(w_from_psi - fw)) <= 1e-13 * psi_scale / grid.dx
        energy = np.abs(np.fft.rfft(scipy.fft.dst(psi[1:-1], type=1, axis=0), axis=1)) ** 2
        # outside the band: round-off, (1e-16)^2 relative in energy (measured 3e-31)
        assert energy[~band].sum() <= 1e-24 * energy.sum()
        # and the whole band is forced: every allowed mode carries energy
        assert np.all(energy[band] > 1e-12 * energy[band].max())


def numpy_stochastic_force(
    forcing: StochasticForcing, rng: np.random.Generator, u: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The normalised force f of one step, by the forcing's plain numpy formulation: random
    amplitudes A made orthogonal to V (the adjoint of A -> f applied to (u, w): z-basis^H
    times the FFT of zeta = Dz^T u + Dx^T w), psi = irfft(z-basis A), f = (Dz psi, -Dx psi)
    scaled to 1/2 sum |f|^2 dA = rate Lx Lz."""
    grid, active = forcing.grid, forcing.active
    amplitudes = np.zeros(active.shape, dtype=complex)  # the forced modes, row by row
    count = int(active.sum())
    amplitudes[active] = rng.standard_normal(count) + 1j * rng.standard_normal(count)
    if grid.periodic_z:
        zeta, w_corners = (np.roll(u, 1, axis=0) - u) / grid.dz, w[:-1]
    else:
        padded = np.vstack([np.zeros((1, grid.nx)), u, np.zeros((1, grid.nx))])
        zeta, w_corners = (padded[:-1] - padded[1:]) / grid.dz, w
    zeta = zeta + (w_corners - np.roll(w_corners, 1, axis=1)) / grid.dx
    basis = forcing.z_basis
    V = (basis[: zeta.shape[0]].conj().T @ np.fft.rfft(zeta, axis=1)) * active
    amplitudes -= (np.vdot(V, amplitudes).real / np.vdot(V, V).real) * V
    psi = np.fft.irfft(basis @ amplitudes, n=grid.nx, axis=1)
    fu = np.diff(psi, axis=0) / grid.dz
    fw = -(np.roll(psi, -1, axis=1) - psi) / grid.dx
    if not grid.periodic_z:
        fw[[0, -1]] = 0.0
    energy = 0.5 * (np.sum(fu**2) + np.sum((fw[:-1] if grid.periodic_z else fw) ** 2))
    scale = np.sqrt(forcing.rate * grid.Lx * grid.Lz / (energy * grid.cell_area))
    return scale * fu, scale * fw


@pytest.mark.parametrize("bc_z", ["no-slip", "periodic"])
def test_stochastic_force_is_its_numpy_formulation_to_round_off(bc_z):
    """The force of every step and the injected power sum F . (u^n + u^{n+1}) / 2 dA
    equal the plain numpy formulation (full-grid transforms; same random stream) to
    round-off, with walls and with periodic z; the force stays divergence-free to
    round-off, and a stage adds exactly F = f / sqrt(dt)."""
    periodic = bc_z == "periodic"
    grid = Grid(30, 21, 7.0, 5.0, periodic_z=periodic, z_bottom=0.0 if periodic else -2.5)
    model = Model(grid, Re=300.0, bc_z=bc_z)
    noise = np.random.default_rng(2)
    model.set(u=0.1 * noise.standard_normal((21, 30)), b=0.1 * noise.standard_normal((21, 30)))
    model.project()
    forcing = StochasticForcing(model, rate=1e-2, k_min=1.0, k_max=4.0, seed=11)
    model.forcings.append(forcing)
    for _ in range(3):
        rng = np.random.default_rng()
        rng.bit_generator.state = forcing.rng.bit_generator.state
        u_before, w_before = model.interior("u").copy(), model.interior("w").copy()
        model.step(0.02)
        fu, fw = numpy_stochastic_force(forcing, rng, u_before, w_before)
        # Both sum the same ~20 modes (17 walls, 19 periodic) in another order (products
        # restricted to the forced modes instead of full-grid transforms), i.e. psi to a
        # few eps of its size; the difference over dz amplifies that by ~1/(k_min dz) = 4:
        # a bound of ~(20 + log2 30) eps * 4 = 2e-14 of max|f|, measured <= 1.3e-15
        size = max(np.max(np.abs(fu)), np.max(np.abs(fw)))
        assert np.max(np.abs(forcing.force[0] - fu)) <= 1e-13 * size
        assert np.max(np.abs(forcing.force[1] - fw)) <= 1e-13 * size
        new_u, new_w = forcing.force
        divergence = (np.roll(new_u, -1, axis=1) - new_u) / grid.dx + np.diff(
            new_w, axis=0
        ) / grid.dz
        assert np.max(np.abs(divergence)) <= 1e-13 * size / min(grid.dx, grid.dz)
        if periodic:
            fw, w_before, w_after = fw[:-1], w_before[:-1], model.interior("w")[:-1]
        else:
            w_after = model.interior("w")
        works = [
            fu * (0.5 * (u_before + model.interior("u"))),
            fw * (0.5 * (w_before + w_after)),
        ]
        per_area = grid.cell_area / np.sqrt(model.last_dt)
        power = sum(np.sum(work) for work in works) * per_area
        # F . u^n = 0 cancels between the terms: round-off is relative to sum |F . u_mid|
        # (the force's error above plus the sums' own; measured <= 1.4e-16 of it)
        scale = sum(np.sum(np.abs(work)) for work in works) * per_area
        assert abs(forcing.injected_power(model) - power) <= 1e-13 * scale
    # a stage adds F = f / sqrt(dt) to the u rows and to the w rows off the walls
    tendencies = {name: np.zeros_like(values) for name, values in model.tendencies.items()}
    forcing(model, model.time, tendencies)  # a new step: draws a new force
    stage_u, stage_w = forcing.stage_force()
    assert np.array_equal(tendencies["u"], stage_u)
    rows = slice(None) if periodic else slice(1, -1)
    assert np.array_equal(tendencies["w"][rows], stage_w[rows])
    assert periodic or not (np.any(tendencies["w"][0]) or np.any(tendencies["w"][-1]))
    assert not np.any(tendencies["b"])
    # F = (scale f_raw) / sqrt(dt) against f_raw (scale / sqrt(dt)): five roundings in
    # all, at most ~5.6e-16 of an element
    dt, (f_u, f_w) = model.last_dt, forcing.force
    assert np.max(np.abs(stage_u - f_u / np.sqrt(dt))) <= 1e-15 * np.max(np.abs(stage_u))
    assert np.max(np.abs(stage_w - f_w / np.sqrt(dt))) <= 1e-15 * np.max(np.abs(stage_w))


def forced_run(seed: int) -> tuple[Model, list[dict[str, float]]]:
    case = billow.get_case("forced")
    params = case.make_params(
        nx=32,
        nz=32,
        Re=200.0,
        amplitude=0.1,
        noise=0.05,
        seed=seed,
        forcing_rate=1e-2,
        t_end=4.0,
        save_every=2.0,
        cfl=1.3,  # more than ten steps
        **SHEAR_LAYER,
    )
    model = case.build(params)
    sim = Simulation(model, t_end=params.t_end, save_every=params.save_every, cfl=params.cfl)
    history: list[dict[str, float]] = []
    sim.callbacks["history"] = Callback(
        lambda sim: history.append(dict(sim.evaluate_diagnostics(), t=sim.model.time))
    )
    sim.run()
    return model, history


def test_forced_same_seed_is_bitwise_reproducible_and_seed_matters():
    """Same seed, same run to the bit (fields and every diagnostic at every step, the
    adaptive dt included); another seed gives another force, hence another flow."""
    first, first_history = forced_run(seed=7)
    again, again_history = forced_run(seed=7)
    other, _ = forced_run(seed=8)
    assert len(first_history) > 10
    assert again_history == first_history  # exact float equality of every value
    for name in ("u", "w", "b", "c"):
        assert np.array_equal(again.interior(name), first.interior(name)), name
    assert not np.array_equal(other.forcings[0].force[0], first.forcings[0].force[0])
    # the force injects ~forcing_rate Lx Lz t = 0.8 of energy, O(1) velocity changes: the
    # flows differ far beyond round-off
    assert np.max(np.abs(other.interior("u") - first.interior("u"))) >= 1e-3


# --- 5. Kolmogorov flow ------------------------------------------------------------------------


@functools.cache
def laminar_kolmogorov(nz: int, t_end: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Kolmogorov flow n = 1, Re = 1 in the square 2 pi box (below any instability
    threshold) from the case's seeded noise to t_end: (u, w, z_centre, dz).

    nx = 8 suffices (the laminar flow has no x-dependence; the noise decays). dt is the
    Simulation's, with the diffusive limit raised from 1.25 to 2 / (nu lambda_max): RK3's
    factor R(-2) = -1/3 is still stable and damping, and the steady state of the scheme
    does not depend on dt."""
    case = billow.get_case("kolmogorov")
    params = case.make_params(nx=8, nz=nz, n=1, Re=1.0, F0=1.0, t_end=t_end, save_every=t_end)
    model = case.build(params)
    grid = model.grid
    sim = Simulation(model, t_end=params.t_end, save_every=params.save_every, cfl=params.cfl)
    sim.controller.max_diffusive_dt = 2.0 / (4.0 / params.Re * (1 / grid.dx**2 + 1 / grid.dz**2))
    sim.run()
    return model.interior("u").copy(), model.interior("w").copy(), grid.z_centre, grid.dz


def test_kolmogorov_below_threshold_relaxes_to_the_discrete_laminar_flow():
    """u -> F0 Re / lambda_1 sin z, lambda_1 = 4 sin^2(dz/2) / dz^2 (the discrete
    Laplacian's eigenvalue of sin z), w -> 0. This is an exact steady state of the
    discrete equations (the advection of a parallel flow vanishes), and every departure
    decays at least like exp(-nu lambda_1 t) = exp(-0.997 t): e^-30 ~ 1e-13 by t = 30."""
    u, w, z, dz = laminar_kolmogorov(32, 30.0)
    laminar = 1.0 / (4 * np.sin(dz / 2) ** 2 / dz**2) * np.sin(z)[:, None]
    # 1e-10 relative, the bound asked for; measured 1.1e-13 (the decay estimate above)
    assert np.max(np.abs(u - laminar)) <= 1e-10 * np.max(np.abs(laminar))
    assert np.max(np.abs(w)) <= 1e-10  # measured 3e-16


def test_kolmogorov_laminar_flow_converges_at_second_order_in_dz():
    """Against the analytic u = F0 Re / n^2 sin(n z): the max error is
    cos(dz/2) F0 Re (1/lambda_1 - 1) = dz^2/12 (1 - 0.075 dz^2 + ...) (the grid's u rows
    nearest z = pi/2 sit dz/2 from it), second order in dz: measured 1.2702e-2 at nz = 16
    and 3.2035e-3 at nz = 32 (and 8.023e-4 at nz = 64, left out to keep the run short).

    The issue asked for 1e-6 against the analytic solution: impossible with a
    second-order Laplacian at affordable nz, (n dz)^2/12 = 8e-4 at nz = 64 (1e-6 would
    need nz ~ 1800). The discrete solution is matched to 1e-10 instead (test above)."""
    errors = {}
    # nz = 16 to t = 15: e^-15 = 3e-7 of transient left, 2e-5 of its error 1.3e-2
    for nz, t_end in ((16, 15.0), (32, 30.0)):
        u, _, z, dz = laminar_kolmogorov(nz, t_end)
        errors[nz] = np.max(np.abs(u - np.sin(z)[:, None]))
        # the derived truncation error dz^2/12 to within its O(dz^2) correction
        # -0.075 dz^2 = -1.16% (nz = 16), -0.29% (nz = 32); measured -1.163%, -0.289%
        assert abs(errors[nz] / (dz**2 / 12) - 1) <= 0.02, (nz, errors[nz], dz**2 / 12)
    order = np.log2(errors[16] / errors[32])
    # 2 + log2((1 - 0.075 dz16^2) / (1 - 0.075 dz32^2)) = 1.987; measured 1.9873
    assert 1.95 <= order <= 2.05, f"errors {errors}: order {order:.4f}"
