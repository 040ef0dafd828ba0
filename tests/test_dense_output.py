"""Snapshots by dense output: taken inside a step, they do not shorten dt, converge at
third order in dt, and stay divergence-free."""

from __future__ import annotations

import numpy as np
import pytest

import billow
from billow.core import operators
from billow.core.timestepping import RK_SCHEMES, RungeKuttaScheme, TimeStepper
from billow.schedules import SpecifiedTimes, TimeInterval
from billow.simulation import snapshot_schedule

TIMES = [0.0, 0.7, 1.4, 2.1]  # none a multiple of the steps' dt


def small_model():
    case = billow.get_case("shear_layer")
    params = case.make_params(
        nx=48, nz=24, Lx=14.0, Re=500, perturbation="sinusoid", amplitude=0.05, noise=0.0
    )
    return case.build(params)


class Snapshots:
    """An in-memory fields writer: with ``dense`` it writes at scheduled times inside steps
    (write_at); otherwise its schedule lands the steps on them (write)."""

    def __init__(self, times, dense: bool):
        self.schedule = SpecifiedTimes(*times) if not dense else snapshot_schedule(0.7, 2.1)
        self.taken: dict[float, dict[str, np.ndarray]] = {}
        if dense:
            self.write_at = self._write_at

    def _write_at(self, sim, time) -> None:
        time = round(time, 12)  # 3 * 0.7 = 2.0999999999999996
        self.taken[time] = {name: a.copy() for name, a in sim.snapshot(time).items()}

    def write(self, sim) -> None:
        self.taken[sim.model.time] = {name: a.copy() for name, a in sim.snapshot().items()}


def run(cfl: float, dense: bool):
    model = small_model()
    sim = billow.Simulation(model, t_end=TIMES[-1], cfl=cfl)
    sim.output_writers["snapshots"] = writer = Snapshots(TIMES, dense)
    sim.run()
    return writer.taken, model


def difference(a: dict, b: dict, name: str) -> float:
    """Largest relative L2 difference of field ``name`` over the common times > 0."""
    return max(
        np.linalg.norm(a[t][name] - b[t][name]) / np.linalg.norm(b[t][name]) for t in TIMES[1:]
    )


@pytest.fixture(scope="module")
def reference():
    return run(0.05, dense=False)[0]


def test_dense_snapshots_converge_at_third_order_in_dt(reference):
    # error against snapshots landed at cfl 0.05: halving cfl divides it by about 8
    # (order 3: the interpolant's local error O(dt^3) and the scheme's global error)
    errors = [difference(run(cfl, dense=True)[0], reference, "vorticity") for cfl in (1.2, 0.6)]
    assert errors[0] / errors[1] > 2**2.5, errors
    # and at the default cfl it is as close to the reference as landing the steps is
    landed = difference(run(1.2, dense=False)[0], reference, "vorticity")
    assert errors[0] < 3 * landed, (errors[0], landed)


def test_dense_snapshots_do_not_change_the_steps_and_are_divergence_free():
    taken, model = run(1.3, dense=True)
    assert sorted(taken) == TIMES
    bare = small_model()
    billow.Simulation(bare, t_end=TIMES[-1], cfl=1.3).run()
    assert bare.iteration == model.iteration  # the snapshot times shortened no step
    for name in model.state:
        np.testing.assert_array_equal(bare.state[name], model.state[name])
    # an interpolated state (inside the last step) is divergence-free to round-off
    sim = billow.Simulation(model, t_end=TIMES[-1] + 0.5 * model.last_dt)
    sim.output_writers["snapshots"] = writer = Snapshots([], dense=True)
    writer.schedule = TimeInterval(0.01, align=False)
    sim.run()
    state = model.interpolate(0.37)
    divergence = np.zeros((model.grid.nz, model.grid.nx))
    operators.divergence(state["u"], state["w"], model.grid.constants, divergence)
    gradient = np.abs(np.diff(model.interior("u"), axis=1)).max() / model.grid.dx
    assert np.abs(divergence).max() < 1e-12 * gradient
    assert len(writer.taken) >= 2  # several snapshot times inside one step: each written


def test_a_writer_with_only_write_at_gets_every_snapshot_time():
    class Times:
        schedule = snapshot_schedule(0.5, 1.2)

        def __init__(self):
            self.times = []

        def write_at(self, sim, time):
            self.times.append(time)

    sim = billow.Simulation(small_model(), t_end=1.2)
    sim.output_writers["times"] = writer = Times()
    sim.run()
    assert writer.times == [0.0, 0.5, 1.0, 1.2]


def test_a_snapshot_assembled_in_given_arrays_is_the_same():
    """snapshot(time, out), as the runner assembles snapshots in its writer's buffers: the
    same arrays as the work arrays, bit for bit, and b and the dye the interiors of the
    interpolated state, at every snapshot time (inside steps and at their ends)."""

    class Compare:
        schedule = snapshot_schedule(0.25, 1.2)
        compared = 0

        def write_at(self, sim, time):
            m = sim.model
            shape = (m.grid.nz, m.grid.nx)
            out = {name: np.full(shape, np.nan) for name in sim.snapshot_names()}
            assert sim.snapshot(time, out) is out
            inside = abs(time - m.time) > 1e-12
            state = m.interpolate(sim._fraction_of_last_step(time)) if inside else m.state
            for name in ("b", "c"):
                np.testing.assert_array_equal(out[name], m.grid.interior(state[name]))
            for name, work in sim.snapshot(time).items():
                np.testing.assert_array_equal(out[name], work)
            self.compared += inside

    sim = billow.Simulation(small_model(), t_end=1.2)
    sim.output_writers["compare"] = writer = Compare()
    sim.run()
    assert writer.compared >= 3


@pytest.mark.parametrize("name", ["shear_layer", "kolmogorov", "rotating"])
def test_the_start_of_a_step_is_the_state_before_it(name):
    """The first stage's update keeps q_n in its own pass: after a step, the interior of
    every field at its start (walls' and periodic z's duplicate w rows included) is the
    state before the step, bit for bit, and the arrays that the dense output reads."""
    case = billow.get_case(name)
    model = case.build(case.make_params(nx=16, nz=16, noise=0.05, seed=2))
    for _ in range(2):
        before = {f: model.interior(f).copy() for f in model.state}
        model.step(0.01)
        for f, values in before.items():
            kept = model.grid.interior(model.start_of_step(f), model.field(f).location)
            assert np.array_equal(kept, values), f


def first_stage_by_hand(model, dt: float) -> dict[str, np.ndarray]:
    """The interiors of q1 = P[q_n + beta1 dt L(q_n)] of a step of ``model`` from its state
    (which it changes), by the stepper's own calls."""
    beta1 = model.stepper.scheme.stages[0][2]
    model.begin_step(dt)
    model.compute_tendencies(model.time)
    model.stage_update(0.0, 1.0, beta1 * dt)
    model.project()
    model.fill_all_ghosts()  # periodic z: w's duplicate row nz is row 0
    return {f: model.interior(f).copy() for f in model.state}


@pytest.mark.parametrize("name", ["shear_layer", "kolmogorov", "rotating"])
@pytest.mark.parametrize("stages", [*RK_SCHEMES, "forward Euler"])
def test_the_kept_first_stage_is_q1(name, stages):
    """A step that keeps its first stage keeps q1 in the pass of the next stage's update
    (or at its end, for a scheme of one stage): the dense output inside the step is
    w0 q_n + w1 q1 + w2 q_n+1 (the scheme's dense_output_weights) of q1 made by hand, bit
    for bit, for every field (walls' and periodic z's duplicate w rows included)."""
    case = billow.get_case(name)
    params = case.make_params(nx=16, nz=16, noise=0.05, seed=2)
    model, twin = case.build(params), case.build(params)
    if stages == "forward Euler":
        scheme = RungeKuttaScheme("euler", ((0.0, 1.0, 1.0, 0.0),), 1, 2.0, 0.0, 1.0)
    else:
        scheme = RK_SCHEMES[stages]
    model.stepper = twin.stepper = TimeStepper(scheme)
    dt, theta = 0.01, 0.37
    for _ in range(2):
        start = {f: model.interior(f).copy() for f in model.state}
        q1 = first_stage_by_hand(twin, dt)
        model.step(dt, keep_first_stage=True)
        for f in model.state:  # the twin steps on from here
            twin.interior(f)[...] = model.interior(f)
        twin.time = model.time
        w0, w1, w2 = scheme.dense_output_weights(theta)
        inside = model.interpolate(theta)
        for f in model.state:
            want = w0 * start[f] + w1 * q1[f] + w2 * model.interior(f)
            got = model.grid.interior(inside[f], model.field(f).location)
            assert np.array_equal(got, want), f


def centred_velocity_and_vorticity(state: dict, grid) -> list[np.ndarray]:
    """u and w at the cell centres and the vorticity there, by numpy from a padded state
    with its ghosts filled, in the kernel's order of operations (so the same floats)."""
    g, nx, nz = grid.ghost, grid.nx, grid.nz
    u, w = state["u"], state["w"]

    def u_rows(shift, columns=0):
        return u[g + shift : g + shift + nz, g + columns : g + columns + nx]

    def w_rows(shift, columns=0):
        return w[g + shift : g + shift + nz, g + columns : g + columns + nx]

    u_centre = 0.5 * (u_rows(0) + u_rows(0, 1))
    w_centre = 0.5 * (w_rows(0) + w_rows(1))
    du_dz = (u_rows(1) - u_rows(-1) + u_rows(1, 1) - u_rows(-1, 1)) * (1.0 / grid.dz)
    dw_dx = (w_rows(0, 1) - w_rows(0, -1) + w_rows(1, 1) - w_rows(1, -1)) * (1.0 / grid.dx)
    return [u_centre, w_centre, 0.25 * (du_dz - dw_dx)]


@pytest.mark.parametrize(
    "name, settings",
    [
        ("shear_layer", {}),  # walls, free slip: u mirrored about them
        ("shear_layer", {"bc_z": "no-slip"}),  # u's ghost rows negated
        ("kolmogorov", {}),  # periodic z: w's duplicate row nz is row 0
    ],
)
def test_centred_velocity_and_vorticity_are_those_of_the_state_with_its_ghosts(name, settings):
    """The one pass that makes u and w row by row (interpolated inside a step, or as they
    are at its end) with their ghosts and centres them gives the same floats as the
    formulas applied to interpolate()'s state with its ghosts filled, bit for bit (x
    periodic: the first and last columns read the ghosts; z: the wall rows)."""
    case = billow.get_case(name)
    model = case.build(case.make_params(nx=24, nz=20, noise=0.05, seed=3, **settings))
    for _ in range(2):
        model.step(0.02, keep_first_stage=True)
    g = model.grid
    for theta in (None, 0.0, 0.37, 1.0):
        made = [np.full((g.nz, g.nx), np.nan) for _ in range(3)]
        model.velocity_and_vorticity_at_centres(theta, *made)
        state = model.state if theta is None else model.interpolate(theta, ("u", "w"))
        for got, want in zip(made, centred_velocity_and_vorticity(state, g), strict=True):
            assert np.array_equal(got, want), theta
        assert np.abs(made[2]).max() > 0  # the flow has vorticity to compare
