"""``billow dataset``: an ML-ready dataset in The Well's layout from a sweep-like spec.

The spec is a sweep spec (:mod:`billow.sweep`: ``case``, ``[parameters]``, ``[vary]``,
``seeds``) plus::

    name = "kh_small"               # The Well's dataset_name (default "billow_<case>")
    trajectories = 4                # seeds 0..3 at every parameter point (or: seeds = [...])

    [output]
    dt = 1.0                        # uniform output interval, a multiple of save_every
    spin_up = 10.0                  # snapshots before this time are left out
    fields = ["u", "w", "b", "c"]   # billow names (default: all but the vorticity)

    [split]                         # fractions of all trajectories; the rest is train
    valid = 0.1
    test = 0.1
    seed = 0                        # the split is a random permutation with this seed

Every trajectory (parameter point x seed) is one member of a sweep run in
``DIR/runs`` by :func:`billow.sweep.run_members` (Dask; finished members are skipped,
interrupted ones continued). Then, following The Well's conventions (a file per
parameter set whose trajectories differ in their initial conditions), each split
gets one file per parameter point holding that point's trajectories of the split:
``DIR/data/{train,valid,test}/<name>[_<point>].hdf5``. ``DIR/stats.yaml`` holds the
statistics of the training split, ``DIR/README.md`` the dataset card, and
``DIR/dataset.toml`` the spec (a rerun must use the same one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import PrivateAttr, ValidationInfo, field_validator, model_validator

from ..cases import get_case
from ..config import RunParams, Spec, read_toml, spec_field
from ..errors import ConfigError
from ..simulation import Simulation
from ..sweep import (
    Member,
    SweepSpec,
    member_names,
)
from .samples import DERIVED, TIME_TOLERANCE, check_interval
from .well import field_layout

SPEC_FILE = "dataset.toml"
RUNS = "runs"
DATA = "data"
SPLITS = ("train", "valid", "test")
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # The Well's dataset_name
DATASET_KEYS = ("name", "trajectories", "output", "split")  # the others are the sweep's


@dataclass(frozen=True)
class Point:
    """One parameter point: its file stem and its trajectories (members), by seed."""

    stem: str
    members: list[Member]


class OutputOptions(Spec):
    """``[output]``: the stored interval, the spin-up left out, the fields (billow names)."""

    dt: float | None = spec_field(
        None, "[output] dt must be a finite number", allow_inf_nan=False
    )  # default: save_every
    spin_up: float = spec_field(
        0.0, "[output] spin_up must be a finite number >= 0", ge=0, allow_inf_nan=False
    )
    fields: list[str] | None = spec_field(
        None, "[output] fields must be a non-empty list of names", min_length=1
    )  # default: all but the derived ones


class SplitOptions(Spec):
    """``[split]``: fractions of all trajectories for valid and test, and the seed of the
    random permutation that assigns them; the rest is train."""

    valid: float = spec_field(0.1, "[split] valid must be a finite number", allow_inf_nan=False)
    test: float = spec_field(0.1, "[split] test must be a finite number", allow_inf_nan=False)
    seed: int = spec_field(0, "[split] seed must be an integer >= 0", ge=0)

    @model_validator(mode="after")
    def _fractions(self) -> SplitOptions:
        if min(self.valid, self.test) < 0 or self.valid + self.test >= 1:
            raise ValueError("[split] valid and test must be >= 0 and add up to < 1")
        return self


class DatasetSpec(Spec):
    """A dataset spec: a sweep spec (:class:`billow.sweep.SweepSpec`, whose keys sit at
    the top level) plus the dataset's name, trajectories, ``[output]`` and ``[split]``.
    Validating it checks every trajectory's parameters, grid, seeds and stored times."""

    name: str = spec_field(
        "", "'name' must be letters, digits, '_', '.' or '-'", pattern=NAME_PATTERN
    )  # default: billow_<case>
    trajectories: int | None = spec_field(
        None, "'trajectories' must be an integer >= 1", ge=1
    )  # seeds 0..trajectories-1
    output: OutputOptions = spec_field(OutputOptions(), "[output] must be a table")
    split: SplitOptions = spec_field(SplitOptions(), "[split] must be a table")
    sweep: SweepSpec
    _source: dict[str, Any] = PrivateAttr(default_factory=dict)
    _fields: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _keep_source(cls, data: Any, handler: Any) -> DatasetSpec:
        spec = handler(data)
        if isinstance(data, dict):
            spec._source = dict(data)
        return spec

    @model_validator(mode="before")
    @classmethod
    def _sweep_keys(cls, data: Any) -> Any:
        """Every key that is not the dataset's own is the sweep's (a key named "sweep"
        too: a fixed parameter to the sweep, which refuses it)."""
        if not isinstance(data, dict):
            return data
        own = {key: value for key, value in data.items() if key in DATASET_KEYS}
        sweep = {key: value for key, value in data.items() if key not in DATASET_KEYS}
        return {**own, "sweep": sweep}

    @field_validator("sweep", mode="before")
    @classmethod
    def _trajectories_as_seeds(cls, sweep: Any, info: ValidationInfo) -> Any:
        trajectories = info.data.get("trajectories")
        if isinstance(sweep, dict) and trajectories is not None:
            if "seeds" in sweep:
                raise ValueError("give 'trajectories' or 'seeds', not both")
            sweep = {**sweep, "seeds": list(range(trajectories))}
        return sweep

    @model_validator(mode="after")
    def _check(self) -> DatasetSpec:
        if not self.name:
            self.name = f"billow_{self.sweep.case}"
        _check_members(self.sweep)
        self._fields = _selected_fields(self.output.fields, self.sweep)
        for member in self.sweep.members:
            try:
                check_interval(self.dt, member.params.save_every)
            except ConfigError as error:
                raise ValueError(f"[output] dt: {error}") from None
            if self.output_times(member.params).size < 2:
                raise ValueError(
                    f"member '{member.name}' stores fewer than 2 snapshots every {self.dt:g} "
                    f"between spin_up = {self.spin_up:g} and t_end = {member.params.t_end:g}"
                )
        if not self.splits()["train"]:
            raise ValueError("[split] leaves no trajectory for training")
        return self

    @property
    def dt(self) -> float:
        """The stored interval ([output] dt, default the runs' save_every)."""
        if self.output.dt is not None:
            return self.output.dt
        return self.sweep.members[0].params.save_every

    @property
    def spin_up(self) -> float:
        return self.output.spin_up

    @property
    def fields(self) -> tuple[str, ...]:
        """The stored fields (billow names), in the order a run writes them."""
        return self._fields

    @property
    def fractions(self) -> dict[str, float]:
        return {"valid": self.split.valid, "test": self.split.test}

    @property
    def split_seed(self) -> int:
        return self.split.seed

    @property
    def source(self) -> dict[str, Any]:
        """The spec as written to DIR/dataset.toml."""
        return self._source

    @property
    def points(self) -> list[Point]:
        """Parameter points (combinations of the varied parameters other than the seed)."""
        keys: dict[tuple, list[Member]] = {}
        for member in self.sweep.members:
            key = tuple((k, repr(v)) for k, v in member.values.items() if k != "seed")
            keys.setdefault(key, []).append(member)
        combos = [
            {k: v for k, v in group[0].values.items() if k != "seed"} for group in keys.values()
        ]
        names = member_names(combos) if combos[0] else [""]
        return [
            Point(f"{self.name}_{name}" if name else self.name, group)
            for name, group in zip(names, keys.values(), strict=True)
        ]

    def splits(self) -> dict[str, set[str]]:
        """Member names in each split: a seeded permutation of all trajectories, the first
        ones to test, then valid, the rest to train (a positive fraction gets at least one)."""
        names = [m.name for m in self.sweep.members]
        order = np.random.default_rng(self.split_seed).permutation(len(names))
        counts = {
            split: max(1, round(fraction * len(names))) if fraction > 0 else 0
            for split, fraction in self.fractions.items()
        }
        test = order[: counts["test"]]
        valid = order[counts["test"] : counts["test"] + counts["valid"]]
        train = order[counts["test"] + counts["valid"] :]
        return {
            split: {names[i] for i in indices}
            for split, indices in (("train", train), ("valid", valid), ("test", test))
        }

    def output_times(self, params: RunParams) -> np.ndarray:
        """The stored times of a trajectory: multiples of dt from spin_up to t_end."""
        first = math.ceil(self.spin_up / self.dt - TIME_TOLERANCE)
        last = math.floor(params.t_end / self.dt + TIME_TOLERANCE)
        return self.dt * np.arange(first, last + 1)


# ---------------------------------------------------------------------------- the spec


def _snapshot_fields(member: Member, case: str) -> list[str]:
    """The fields a run of this case writes (building its model once)."""
    model = get_case(case).build(member.params)
    simulation = Simulation(
        model,
        t_end=member.params.t_end,
        save_every=member.params.save_every,
        cfl=member.params.cfl,
    )
    return list(simulation.snapshot())


def _seeds_matter(params: RunParams) -> bool:
    """Whether the seed changes a run: through its noise, or its random forcing."""
    return params.noise > 0 or hasattr(params, "forcing_rate")


def _check_members(sweep: SweepSpec) -> None:
    """One grid for all trajectories, and seeds that make different trajectories."""
    first = sweep.members[0].params
    for member in sweep.members:
        grid = (member.params.nx, member.params.nz)
        if grid != (first.nx, first.nz):
            raise ValueError(
                f"every trajectory needs the same grid; member '{member.name}' has "
                f"nx, nz = {grid}, not {(first.nx, first.nz)}"
            )
    if len(sweep.axes.get("seed", [])) > 1 and not all(
        _seeds_matter(m.params) for m in sweep.members
    ):
        raise ValueError(
            f"the seeds only change a {sweep.case} run through its noise: "
            "set noise > 0 in [parameters]"
        )


def _selected_fields(requested: list[str] | None, sweep: SweepSpec) -> tuple[str, ...]:
    """[output] fields (billow names) in the order a run writes them; default all but the
    derived ones. Velocity must be whole (u and w) for The Well."""
    available = _snapshot_fields(sweep.members[0], sweep.case)
    if requested is None:
        fields = tuple(f for f in available if f not in DERIVED)
    else:
        unknown = [f for f in requested if f not in available]
        if unknown:
            raise ValueError(
                f"unknown field '{unknown[0]}' in [output] fields "
                f"(a {sweep.case} run has {', '.join(available)})"
            )
        fields = tuple(f for f in available if f in requested)
    field_layout(fields)
    return fields


def parse_dataset_spec(data: dict[str, Any], where: str = "dataset spec") -> DatasetSpec:
    """Build and validate a :class:`DatasetSpec` from a parsed TOML table (one-line
    ConfigError naming the problem; nothing is written)."""
    return DatasetSpec.parse(data, where)


def load_dataset_spec(path: str | Path) -> DatasetSpec:
    """Read and validate a dataset spec (TOML)."""
    return parse_dataset_spec(read_toml(path, "dataset spec"), f"dataset spec '{path}'")
