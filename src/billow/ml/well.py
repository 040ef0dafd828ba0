"""The Well's HDF5 layout (PolymathicAI/the_well, ``docs/data_format.md``) and its
``stats.yaml``, written with h5py alone.

One file holds the trajectories of one parameter point (different seeds), fields as
float32 arrays (trajectory, time, x, z) with the spatial axes in the order of
``dimensions/@spatial_dims = ["x", "z"]``:

- ``t0_fields``: buoyancy (``b``), dye (``c``), spanwise_velocity (``v``), pressure
  (``p``) and vorticity, each as selected;
- ``t1_fields``: velocity (``u``, ``w``) with a last axis of 2 (x and z components);
- ``t2_fields``: empty;
- ``scalars``: the physical parameters (Re, Ri, Pr, ...), constant in a file;
- ``boundary_conditions``: x PERIODIC; z WALL (free-slip and no-slip alike) or PERIODIC,
  with a mask that is true on the first and last grid point of the axis.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import h5py
import numpy as np

from .._version import __version__
from ..config import attribute_value
from ..errors import BillowError, ConfigError
from .samples import RunSamples

SPATIAL_DIMS = ("x", "z")
VELOCITY = ("u", "w")  # billow's components of The Well's t1 field "velocity"
WELL_NAMES = {"b": "buoyancy", "c": "dye", "v": "spanwise_velocity", "p": "pressure"}
# run-control parameters: attributes of the file, not scalars a model is conditioned on
RUN_CONTROL = ("nx", "nz", "t_end", "save_every", "cfl", "checkpoint_every", "seed")
STATISTICS = ("mean", "std", "mean_delta", "std_delta", "rms", "rms_delta")


def well_name(name: str) -> str:
    """The Well's name of a billow scalar field (unchanged where there is no rename)."""
    return WELL_NAMES.get(name, name)


def field_layout(fields: Sequence[str]) -> tuple[list[tuple[str, str]], bool]:
    """(Well name, billow name) of each t0 field, and whether velocity is a t1 field."""
    velocity = [name for name in VELOCITY if name in fields]
    if len(velocity) == 1:
        raise ConfigError(
            "The Well stores velocity as one vector field (velocity_x, velocity_z): "
            "select both u and w, or neither"
        )
    scalars = [(well_name(name), name) for name in fields if name not in VELOCITY]
    return scalars, bool(velocity)


def physical_parameters(params: dict) -> dict[str, float]:
    """The numeric parameters that define the physics (not the run control)."""
    return {
        key: float(value)
        for key, value in params.items()
        if key not in RUN_CONTROL
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    }


def _strings(values: Iterable[str]) -> np.ndarray:
    return np.array(list(values), dtype=h5py.string_dtype())


def _flags(dataset, sample_varying: bool, time_varying: bool) -> None:
    dataset.attrs["sample_varying"] = sample_varying
    dataset.attrs["time_varying"] = time_varying


def _boundary(group, name: str, bc_type: str, dim: str, size: int) -> None:
    boundary = group.create_group(name)
    boundary.attrs["bc_type"] = bc_type
    boundary.attrs["associated_dims"] = _strings([dim])
    boundary.attrs["associated_fields"] = _strings([])
    _flags(boundary, False, False)
    mask = np.zeros(size, dtype=bool)
    mask[[0, -1]] = True
    boundary.create_dataset("mask", data=mask)


def _check_same_point(runs: Sequence[RunSamples]) -> None:
    """All trajectories of a file share case, parameters (but the seed), grid and times."""
    first = runs[0]
    shared = {k: v for k, v in first.params.model_dump().items() if k != "seed"}
    for run in runs[1:]:
        other = {k: v for k, v in run.params.model_dump().items() if k != "seed"}
        same = (
            run.case == first.case
            and other == shared
            and run.fields == first.fields
            and np.array_equal(run.times, first.times)
        )
        if not same:
            raise BillowError(
                f"runs '{first.run_dir}' and '{run.run_dir}' differ in more than their "
                "seed: they cannot share one Well file"
            )


def write_well(path: str | Path, runs: Sequence[RunSamples], dataset_name: str) -> Path:
    """Write the trajectories ``runs`` (one parameter point) as one Well-layout file."""
    if not runs:
        raise BillowError("no trajectories to write")
    _check_same_point(runs)
    t0_fields, has_velocity = field_layout(runs[0].fields)
    with h5py.File(path, "w") as out:
        _write_metadata(out, runs, dataset_name)
        _write_fields(out, runs, t0_fields, has_velocity)
    return Path(path)


def _write_metadata(out: h5py.File, runs: Sequence[RunSamples], dataset_name: str) -> None:
    """Root attributes, dimensions, boundary conditions and scalars."""

    first = runs[0]
    params = first.params.model_dump()
    scalars = physical_parameters(params)
    out.attrs["dataset_name"] = dataset_name
    out.attrs["grid_type"] = "cartesian"
    out.attrs["n_spatial_dims"] = len(SPATIAL_DIMS)
    out.attrs["n_trajectories"] = len(runs)
    out.attrs["simulation_parameters"] = _strings(scalars)
    for key, value in params.items():
        if key != "seed" and value is not None:
            out.attrs[key] = attribute_value(value)
    out.attrs["seeds"] = np.array([run.params.seed for run in runs], dtype=np.int64)
    out.attrs["case"] = first.case
    out.attrs["source"] = f"billow {__version__}"

    dimensions = out.create_group("dimensions")
    dimensions.attrs["spatial_dims"] = _strings(SPATIAL_DIMS)
    for name, values, time_varying in (
        ("time", first.times, True),
        ("x", first.x, False),
        ("z", first.z, False),
    ):
        coordinate = dimensions.create_dataset(name, data=values.astype(np.float32))
        _flags(coordinate, False, time_varying)

    boundaries = out.create_group("boundary_conditions")
    _boundary(boundaries, "x_periodic", "PERIODIC", "x", first.x.size)
    if first.params.bc_z == "periodic":
        _boundary(boundaries, "z_periodic", "PERIODIC", "z", first.z.size)
    else:
        _boundary(boundaries, "z_wall", "WALL", "z", first.z.size)

    group = out.create_group("scalars")
    group.attrs["field_names"] = _strings(scalars)
    for key, value in scalars.items():
        _flags(group.create_dataset(key, data=np.float32(value)), False, False)


def _write_fields(
    out: h5py.File,
    runs: Sequence[RunSamples],
    t0_fields: list[tuple[str, str]],
    has_velocity: bool,
) -> None:
    """t0, t1 and t2 field groups, filled trajectory by trajectory, block by block."""
    first = runs[0]
    shape = (len(runs), first.times.size, first.x.size, first.z.size)
    groups = {order: out.create_group(f"t{order}_fields") for order in range(3)}
    groups[0].attrs["field_names"] = _strings(name for name, _ in t0_fields)
    groups[1].attrs["field_names"] = _strings(["velocity"] if has_velocity else [])
    groups[2].attrs["field_names"] = _strings([])
    arrays = {
        name: groups[0].create_dataset(name, shape, np.float32, chunks=(1, 1, *shape[2:]))
        for name, _ in t0_fields
    }
    if has_velocity:
        arrays["velocity"] = groups[1].create_dataset(
            "velocity", (*shape, 2), np.float32, chunks=(1, 1, *shape[2:], 2)
        )
    for array in arrays.values():
        array.attrs["dim_varying"] = np.array([True, True])
        _flags(array, True, True)
    for i, run in enumerate(runs):
        for start, block in run.blocks():
            times = slice(start, start + next(iter(block.values())).shape[0])
            for name, source in t0_fields:
                arrays[name][i, times] = block[source].transpose(0, 2, 1)
            if has_velocity:
                velocity = np.stack([block["u"], block["w"]], axis=-1)
                arrays["velocity"][i, times] = velocity.transpose(0, 2, 1, 3)


class _Moments:
    """Count, mean and sum of squared deviations per component, merged batch by batch
    (Chan, Golub & LeVeque 1979), so any amount of data is reduced in one pass."""

    def __init__(self, components: int):
        self.components = components
        self.count = 0
        self.mean = np.zeros(components)
        self.m2 = np.zeros(components)

    def add(self, values: np.ndarray) -> None:
        values = values.reshape(-1, self.components)
        n = values.shape[0]
        if n == 0:
            return
        mean = values.mean(axis=0)
        m2 = ((values - mean) ** 2).sum(axis=0)
        delta = mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        self.m2 = self.m2 + m2 + delta**2 * self.count * n / total
        self.count = total

    def summary(self) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(self.m2 / self.count)
        return {"mean": self.mean, "std": std, "rms": np.sqrt(std**2 + self.mean**2)}


def field_statistics(paths: Iterable[str | Path]) -> dict[str, dict[str, float | list[float]]]:
    """The contents of The Well's ``stats.yaml``: mean, std and rms of every field over
    all trajectories, times and points of ``paths``, and the same of its change between
    consecutive times (``mean_delta``, ``std_delta``, ``rms_delta``); one value per
    component for vector fields (std with ddof = 0, as numpy's)."""
    moments: dict[str, tuple[int, _Moments, _Moments]] = {}
    for path in paths:
        with h5py.File(path, "r") as source:
            for order in (0, 1):
                group = source[f"t{order}_fields"]
                for name in group.attrs["field_names"]:
                    data = group[name]
                    components = 2**order
                    _, values, deltas = moments.setdefault(
                        name, (order, _Moments(components), _Moments(components))
                    )
                    for trajectory in range(data.shape[0]):
                        array = data[trajectory].astype(np.float64)
                        values.add(array)
                        deltas.add(np.diff(array, axis=0))
    stats: dict[str, dict[str, float | list[float]]] = {key: {} for key in STATISTICS}
    for name, (order, values, deltas) in moments.items():
        for suffix, source in (("", values), ("_delta", deltas)):
            for key, value in source.summary().items():
                stats[key + suffix][name] = float(value[0]) if order == 0 else value.tolist()
    return stats


def _yaml_float(value: float) -> str:
    """A float that YAML 1.1 readers (PyYAML) read back as a float: '1.0e-05', not '1e-05'."""
    if not np.isfinite(value):
        return ".nan" if np.isnan(value) else (".inf" if value > 0 else "-.inf")
    text = repr(float(value))
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


def stats_yaml(stats: dict[str, dict[str, float | list[float]]]) -> str:
    """``stats`` as The Well's stats.yaml (a fixed two-level mapping; lists for vectors)."""
    lines = []
    for key in STATISTICS:
        lines.append(f"{key}:")
        for name, value in stats[key].items():
            if isinstance(value, list):
                lines.append(f"  {name}:")
                lines.extend(f"  - {_yaml_float(v)}" for v in value)
            else:
                lines.append(f"  {name}: {_yaml_float(value)}")
    return "\n".join(lines) + "\n"
