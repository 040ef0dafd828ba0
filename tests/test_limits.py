"""The size estimate that check_limits refuses runs by, against a run's own files."""

import billow
from billow.limits import SCALARS_PER_STEP, TRACER_SCALARS, estimate_run


def test_the_estimate_bounds_a_real_run(tmp_path):
    """Snapshots exactly; steps at most as many as the run takes, and snapshots finer than
    dt (filled in by dense output) add none; no more scalars a step than are counted
    (the forced case records the most diagnostics)."""
    case = billow.get_case("forced")
    params = case.make_params(nx=16, nz=16, t_end=0.5, save_every=0.01, diagnostics_every=2)
    estimate = estimate_run(params)
    billow.run_case("forced", params, tmp_path / "run")
    with billow.open_run(tmp_path / "run", "diagnostics") as diagnostics:
        steps = diagnostics.sizes["time"] - 1
        scalars = len(diagnostics.data_vars) + 1  # and the time
    with billow.open_run(tmp_path / "run", "tracer_diagnostics") as tracers:
        tracer_scalars = len(tracers.data_vars)
    with billow.open_run(tmp_path / "run") as fields:
        # t = 0, every save_every and t_end, counted apart even where it is a multiple
        assert fields.sizes["time"] <= estimate.snapshots <= fields.sizes["time"] + 1
    assert estimate.steps <= steps < fields.sizes["time"] - 1
    assert scalars <= SCALARS_PER_STEP and tracer_scalars <= TRACER_SCALARS


def test_the_step_estimate_bounds_a_diffusion_limited_run(tmp_path):
    """At Re = 2 on a 32 x 32 grid dt is the diffusive limit of the run's time stepper
    (RK53's real-axis limit 3.25, not SSP-RK3's 2.5): the estimate stays a lower bound."""
    case = billow.get_case("shear_layer")
    params = case.make_params(nx=32, nz=32, Lx=14.0, Re=2.0, t_end=2.0, save_every=2.0)
    estimate = estimate_run(params)
    billow.run_case("shear_layer", params, tmp_path / "run")
    with billow.open_run(tmp_path / "run", "diagnostics") as diagnostics:
        steps = diagnostics.sizes["time"] - 1
    assert estimate.steps <= steps <= estimate.steps + 1
