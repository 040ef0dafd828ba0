"""Schedules, callbacks and output writers of the Simulation: what is due when, steps that
land on every scheduled time, writers and callbacks attached from Python, and checkpoints
between snapshot times that a restart continues bit for bit."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from test_restart import CASES, assert_identical_runs

import billow
from billow.callbacks import Callback
from billow.io.checkpoint import read_checkpoint
from billow.runner import restart_run
from billow.schedules import (
    AtEnd,
    IterationInterval,
    SpecifiedTimes,
    TimeInterval,
    WallTimeInterval,
)


def state(time: float, iteration: int, ending: bool = False) -> SimpleNamespace:
    """The little of a Simulation a schedule reads."""
    return SimpleNamespace(model=SimpleNamespace(time=time, iteration=iteration), ending=ending)


def due_times(schedule, times, iteration0: int = 0) -> list[float]:
    """Initialize ``schedule`` at times[0] (iteration ``iteration0``), then ask it at each
    of the times (each a step later); the times at which it was due."""
    schedule.initialize(state(times[0], iteration0))
    return [t for n, t in enumerate(times) if schedule(state(t, iteration0 + n))]


def test_time_interval_is_due_at_every_multiple_and_aligns_dt_to_them():
    schedule = TimeInterval(0.1)
    assert due_times(schedule, [0.0, 0.05, 0.1, 0.15, 0.30000000000000004, 0.35]) == [
        0.0,
        0.1,
        0.30000000000000004,  # 0.2 was passed over (a step of 0.15): counted, not repeated
    ]
    # the next time is k * interval, the same floating-point number as np.arange
    assert schedule.next_time(None) == 4 * 0.1
    # a time within TIME_EPSILON = 1e-10 (relative) of the target counts as the target
    assert due_times(TimeInterval(0.1), [0.0, 0.1 - 1e-12]) == [0.0, 0.1 - 1e-12]
    assert due_times(TimeInterval(0.1), [0.0, 0.1 - 1e-9]) == [0.0]


def test_time_interval_resumes_after_the_checkpoint_time_on_a_restart():
    # fresh start (iteration 0): the current time is due; on a restart (iteration > 0) a
    # time equal to the checkpoint's was handled before the checkpoint
    fresh, restarted, between = TimeInterval(0.5), TimeInterval(0.5), TimeInterval(0.5)
    fresh.initialize(state(0.0, 0))
    restarted.initialize(state(1.5, 30))
    between.initialize(state(1.2, 24))
    assert fresh.next_time(None) == 0.0
    assert restarted.next_time(None) == 2.0
    assert between.next_time(None) == 1.5


def test_unaligned_time_interval_waits_for_the_first_step_past_each_multiple():
    schedule = TimeInterval(1.0, align=False)
    assert schedule.next_time(None) == math.inf  # never shortens dt
    assert due_times(schedule, [0.0, 0.7, 1.4, 1.9, 2.0, 3.3]) == [0.0, 1.4, 2.0, 3.3]


def test_times_due_lists_every_scheduled_time_a_step_passed():
    # a dense-output writer (write_at) is given each time, even several in one step
    schedule = TimeInterval(0.1, align=False) | SpecifiedTimes(0.25, 0.5)
    schedule.initialize(state(0.0, 0))
    assert schedule.times_due(state(0.0, 0)) == [0.0]
    assert schedule.upcoming_time(None) == 0.1  # not landed on (next_time), but upcoming
    assert schedule.next_time(None) == 0.25
    assert schedule.times_due(state(0.05, 1)) == []
    assert schedule.times_due(state(0.37, 2)) == [0.1, 0.2, 0.25, 0.30000000000000004]
    # 0.5 from both schedules (5 * 0.1 = 0.5 exactly; within TIME_EPSILON it would be too)
    assert schedule.times_due(state(0.5, 3)) == [0.4, 0.5]
    assert schedule.upcoming_time(None) == 0.6000000000000001


def test_specified_iteration_wall_time_and_end_schedules():
    assert due_times(SpecifiedTimes(2.0, 0.5), [0.0, 0.5, 1.0, 2.5, 3.0]) == [0.5, 2.5]
    assert due_times(IterationInterval(3), [float(n) for n in range(8)]) == [0.0, 3.0, 6.0]
    wall = WallTimeInterval(3600.0)
    assert due_times(wall, [0.0, 1.0, 2.0]) == []  # no hour has passed
    wall.last -= 3600.0
    assert wall(state(3.0, 3)) and not wall(state(4.0, 4))
    assert not AtEnd()(state(1.0, 1)) and AtEnd()(state(1.0, 1, ending=True))
    either = SpecifiedTimes(0.5) | IterationInterval(2)
    assert due_times(either, [0.0, 0.3, 0.5, 0.8]) == [0.0, 0.5]
    assert either.next_time(None) == math.inf  # both actuated: no time left to land on


def small_model(**params):
    case = billow.get_case("shear_layer")
    resolved = case.make_params(
        nx=32, nz=16, Lx=14.0, perturbation="sinusoid", noise=1e-3, **params
    )
    return case.build(resolved)


class TimesWriter:
    """A user's output writer: records the time whenever its schedule is due."""

    def __init__(self, schedule):
        self.schedule = schedule
        self.times: list[float] = []
        self.closed = False

    def write(self, sim) -> None:
        self.times.append(sim.model.time)

    def close(self, sim) -> None:
        self.closed = True


def test_steps_land_exactly_on_every_time_schedule_and_t_end():
    model = small_model()
    sim = billow.Simulation(model, t_end=2.0, save_every=1.0)
    steps: list[tuple[float, float]] = []  # (time, dt) after every step
    sim.callbacks["steps"] = Callback(lambda s: steps.append((s.model.time, s.dt)))
    sim.output_writers["user"] = writer = TimesWriter(TimeInterval(0.3) | SpecifiedTimes(1.234))
    sim.run()
    times = [t for t, _ in steps]
    expected = sorted({*(k * 0.3 for k in range(7)), 1.234})
    # exact equality: each step is shortened to land on the scheduled time itself; the
    # snapshots (save_every = 1) are taken by dense output and do not shorten dt
    assert writer.times == expected and writer.closed
    assert {1.234, 2.0, *expected} <= set(times)
    assert times[-1] == 2.0 and model.time == 2.0
    assert sim.output_writers["fields"].written == 3  # t = 0, 1, 2


def test_user_callback_and_writer_from_python(tmp_path):
    # the README's example: a callback every 10 iterations, and a writer of ke every 0.5
    model = small_model()
    printed: list[tuple[int, float]] = []

    def print_max_w(sim) -> None:
        printed.append((sim.model.iteration, float(np.abs(sim.model.interior("w")).max())))

    class KineticEnergyWriter:
        def __init__(self, path):
            self.schedule = TimeInterval(0.5)
            self.file = open(path, "w")  # noqa: SIM115  (closed by close)

        def write(self, sim) -> None:
            ke = sim.evaluate_diagnostics()["ke"]
            print(f"{sim.model.time},{ke}", file=self.file)

        def close(self, sim) -> None:
            self.file.close()

    sim = billow.Simulation(model, t_end=2.0, save_every=1.0)
    sim.callbacks["max_w"] = Callback(print_max_w, IterationInterval(10))
    sim.output_writers["ke"] = KineticEnergyWriter(tmp_path / "ke.csv")
    sim.run()
    assert [iteration for iteration, _ in printed] == list(range(0, model.iteration + 1, 10))
    rows = np.loadtxt(tmp_path / "ke.csv", delimiter=",")
    assert rows[:, 0].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert np.all(rows[:, 1] > 0)


def test_callbacks_given_as_a_sequence_run_after_every_step():
    model = small_model()
    seen: list[int] = []
    sim = billow.Simulation(
        model, t_end=1.0, save_every=1.0, callbacks=(lambda s: seen.append(s.model.iteration),)
    )
    sim.run()
    assert list(sim.callbacks) == ["blow_up", "callback_0"]
    assert seen == list(range(model.iteration + 1))  # t = 0 (fresh start), then each step
    sim.callbacks["bare"] = print  # a function put in the dict has no schedule: say so
    sim.t_end = 2.0
    with pytest.raises(TypeError, match="callback 'bare' has no schedule.*Callback"):
        sim.run()


SMALL = dict(nx=32, nz=32, save_every=1.0)


@pytest.mark.parametrize("case", list(CASES))
def test_checkpoint_between_snapshots_then_restart_is_bitwise_identical(case, tmp_path):
    # checkpoint_every = 1.3 is no multiple of save_every = 1: checkpoints fall between
    # snapshot times (at the first step past each 1.3 k), and a restart from one must
    # resume the snapshot, diagnostics and checkpoint schedules exactly there
    params = dict(t_end=6.0, **SMALL, **CASES[case])
    billow.run(case, out=tmp_path / "whole", checkpoint_every=6.0, **params)
    billow.run(case, out=tmp_path / "cut", checkpoint_every=1.3, **params)
    checkpoints = sorted((tmp_path / "cut" / "checkpoints").glob("checkpoint_*.h5"))
    checkpoints[-1].unlink()  # the one at t_end: continue from the one before it
    middle = read_checkpoint(checkpoints[-2])
    assert 1.3 <= middle.time < 6.0 and middle.time % 1.0 > 0.0  # between snapshots
    snapshots = math.floor(middle.time) + 1  # at t = 0, 1, ..., all before the checkpoint
    every = 10  # diagnostics_every: the dye's diagnostics at steps 0, 10, 20, ...
    assert middle.records == {
        "fields": snapshots,
        "diagnostics": middle.iteration + 1,
        "tracer_diagnostics": middle.iteration // every + 1,
    }
    restart_run(tmp_path / "cut")
    # also: how often a run checkpoints never changes its results (dt is not shortened)
    assert_identical_runs(tmp_path / "whole", tmp_path / "cut")


def test_checkpoint_without_records_reads_as_one_at_a_snapshot(tmp_path):
    # checkpoints of earlier versions were taken at snapshot times and stored only the
    # number of snapshots: the diagnostics then held one record per step plus t = 0
    import h5py

    from billow.io.checkpoint import capture_checkpoint, write_checkpoint

    model = small_model()
    model.iteration = 12
    path = write_checkpoint(tmp_path, capture_checkpoint(model, {"fields": 4, "diagnostics": 13}))
    assert read_checkpoint(path).records == {"fields": 4, "diagnostics": 13}
    with h5py.File(path, "r+") as checkpoint:
        del checkpoint.attrs["records"]
        checkpoint.attrs["snapshots_written"] = 4
    assert read_checkpoint(path).records == {"fields": 4, "diagnostics": 13}


def test_a_captured_checkpoint_is_the_state_when_captured(tmp_path):
    # the checkpointer queues a captured state on the writer thread while the run steps on
    from billow.io.checkpoint import capture_checkpoint, write_checkpoint

    model = small_model()
    before = {name: values.copy() for name, values in model.state.items()}
    captured = capture_checkpoint(model, {"fields": 1})
    sim = billow.Simulation(model, t_end=1.0)
    sim.step()  # the state changes before the checkpoint is written
    path = write_checkpoint(tmp_path, captured)
    assert path.name == "checkpoint_000000000.h5"
    written = read_checkpoint(path)
    assert written.iteration == 0 and written.time == 0.0
    assert not np.array_equal(model.state["u"], before["u"])
    for name, values in before.items():
        np.testing.assert_array_equal(written.fields[name], values)


def test_the_old_hooks_say_what_replaces_them():
    # setting sim.on_diagnostics used to attach a function; now it would be silently unused
    sim = billow.Simulation(small_model(), t_end=1.0, save_every=1.0)
    with pytest.raises(AttributeError, match="on_diagnostics was removed.*Callback"):
        sim.on_diagnostics = lambda t, values: None
    with pytest.raises(AttributeError, match="on_snapshot was removed.*output_writers"):
        sim.on_snapshot = lambda sim: None


def test_tracer_diagnostics_every_n_steps_are_the_every_step_values_there(tmp_path):
    """diagnostics_every = n records the dye's integral and entropy at steps 0, n, 2n, ...
    and at t_end: the very numbers that n = 1 records at those steps; n is in the file."""
    params = dict(nx=32, nz=32, Lx=14.0, t_end=4.0, save_every=1.0, noise=1e-2, seed=1)
    billow.run("shear_layer", out=tmp_path / "every", diagnostics_every=1, **params)
    billow.run("shear_layer", out=tmp_path / "third", diagnostics_every=3, **params)
    with (
        billow.open_run(tmp_path / "every", "tracer_diagnostics") as every,
        billow.open_run(tmp_path / "third", "tracer_diagnostics") as third,
        billow.open_run(tmp_path / "third", "diagnostics") as steps,
    ):
        assert (every.attrs["every_n_steps"], third.attrs["every_n_steps"]) == (1, 3)
        assert np.array_equal(every["time"].values, steps["time"].values)
        last = steps.sizes["time"] - 1
        assert last % 3 != 0  # so that t_end is a record of its own
        chosen = [*range(0, last + 1, 3), last]
        assert np.array_equal(third["time"].values, steps["time"].values[chosen])
        for name in ("c_integral", "dye_entropy"):
            assert np.array_equal(third[name].values, every[name].values[chosen]), name
