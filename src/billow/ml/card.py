"""The dataset card (README.md) of a ``billow dataset``: physics, parameters, resolution,
files and how to load them."""

from __future__ import annotations

from pathlib import Path

from .._version import __version__
from ..cases import get_case
from ..sweep import Member
from .spec import DATA, SPEC_FILE, DatasetSpec
from .well import VELOCITY, physical_parameters, well_name

EQUATIONS = """\
    ∂u/∂t + (u·∇)u = −∇p + b ẑ + (1/Re) ∇²u + F
    ∂b/∂t + (u·∇)b = (1/(Re·Pr)) ∇²b
    ∂c/∂t + (u·∇)c = (1/(Re·Sc)) ∇²c
    ∇·u = 0"""

MEANINGS = {
    "velocity": "velocity (u, w): x and z components, units of U0",
    "buoyancy": "buoyancy b = −g ρ′/ρ0, units of U0²/d",
    "dye": "passive dye concentration c",
    "spanwise_velocity": "spanwise velocity v (2.5-D rotating case), units of U0",
    "vorticity": "spanwise vorticity ∂u/∂z − ∂w/∂x, units of U0/d",
    "pressure": "pressure p, units of ρ0 U0²",
}

BOUNDARIES = {
    "free-slip": "free-slip, no-flux walls at z = ±Lz/2 (WALL)",
    "no-slip": "no-slip, no-flux walls at z = ±Lz/2 (WALL)",
    "periodic": "periodic (PERIODIC)",
}


def _value(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _parameter_rows(spec: DatasetSpec) -> list[str]:
    case = get_case(spec.sweep.case)
    params = spec.sweep.members[0].params.model_dump()
    rows = ["| parameter | value | meaning |", "|---|---|---|"]
    for key, value in params.items():
        if key in spec.sweep.axes:
            shown = ", ".join(_value(v) for v in spec.sweep.axes[key])
        else:
            values = {_value(m.params.model_dump()[key]) for m in spec.sweep.members}
            shown = " / ".join(sorted(values))  # e.g. a default Lx that depends on Ri
        description = (case.params.model_fields[key].description or "").replace("|", "\\|")
        rows.append(f"| `{key}` | {shown} | {description} |")
    return rows


def dataset_card(
    spec: DatasetSpec, files: dict[str, list[tuple[Path, list[Member]]]], out: Path
) -> str:
    """The README.md of the dataset ``spec`` written to ``out`` as ``files``."""
    case = get_case(spec.sweep.case)
    first = spec.sweep.members[0].params
    times = spec.output_times(first)
    well_fields = [well_name(f) for f in spec.fields if f not in VELOCITY]
    if any(f in VELOCITY for f in spec.fields):
        well_fields.append("velocity")
    n_trajectories = len(spec.sweep.members)
    n_input = min(4, times.size - 1)  # a window that fits every trajectory
    summary = case.summary.rstrip(".")
    lines = [
        f"# {spec.name}",
        "",
        f"{n_trajectories} trajectories of two-dimensional stratified shear flow simulated with "
        f"billow {__version__}, case `{case.name}`: {summary}. Stored in The Well's "
        "HDF5 layout (float32 arrays (trajectory, time, x, z), velocity with a last axis of "
        "2), one file per parameter point and split.",
        "",
        "## Equations",
        "",
        "Non-dimensional Boussinesq equations in the x–z plane (x horizontal and periodic, z "
        "up), lengths in units of the shear-layer half-thickness d, velocities of half the "
        "velocity jump U0, time of d/U0 (F: the case's body force, if any; c: passive dye):",
        "",
        EQUATIONS,
        "",
        "`Ri` is the gradient Richardson number N²/S² at the centre of the shear layer "
        "(no linear instability when Ri ≥ 1/4).",
        "",
        "## Parameters",
        "",
        *_parameter_rows(spec),
        "",
        f"Varied: {', '.join(spec.sweep.varied) or 'nothing'}. The scalars group of every "
        f"file holds {', '.join(physical_parameters(first.model_dump()))}; the root "
        "attributes hold every parameter and `seeds`, the seed of each trajectory.",
        "",
        "## Resolution and time",
        "",
        f"- grid: {first.nx} × {first.nz} cells (x × z), values at cell centres "
        f"(u and w interpolated from the staggered C-grid faces); domain Lx × Lz as above",
        f"- boundaries: x periodic (PERIODIC); z {BOUNDARIES[first.bc_z]}",
        f"- time: {times.size} steps per trajectory, every Δt = {spec.dt:g} from "
        f"t = {times[0]:g} to {times[-1]:g} (the spin-up before t = {spec.spin_up:g} is "
        f"left out); adaptive solver steps at CFL {first.cfl:g}, advection `{first.advection}`",
        "",
        "## Fields",
        "",
        "| name | meaning |",
        "|---|---|",
        *[f"| `{name}` | {MEANINGS.get(name, 'passive tracer')} |" for name in well_fields],
        "",
        "## Files",
        "",
        "| split | files | trajectories |",
        "|---|---|---|",
        *[
            f"| {split} | {len(entries)} | {sum(len(m) for _, m in entries)} |"
            for split, entries in files.items()
        ],
        "",
        f"- `data/{{train,valid,test}}/*.hdf5`: trajectories split at random by trajectory "
        f"(seed {spec.split_seed}; valid {spec.fractions['valid']:g}, test "
        f"{spec.fractions['test']:g} of all)",
        "- `stats.yaml`: mean, std, rms of each field and of its change over one step "
        "(`*_delta`), over the training split, per component for velocity",
        "- `dataset.toml`: the spec; `runs/`: the billow run directories (needed to resume "
        "or extend the dataset, not to use it)",
        "",
        "## Loading",
        "",
        "Without extra packages (numpy arrays of shape (time, x, z, channel); paths as generated):",
        "",
        "```python",
        "from billow.datasets import WellWindows",
        "",
        f'train = WellWindows("{out / DATA / "train"}", n_steps_input={n_input}, n_steps_output=1)',
        "x, y = train[0]          # input and output windows",
        "print(train.channel_names)",
        "```",
        "",
        "With The Well's loader (needs PyTorch: `pip install the_well`):",
        "",
        "```python",
        "from the_well.data import WellDataset",
        "",
        f'train = WellDataset(path="{out}", well_split_name="train",',
        f"                     n_steps_input={n_input}, n_steps_output=1)",
        "```",
        "",
        "## Regenerating",
        "",
        f"    billow dataset {out / SPEC_FILE} --out {out}",
        "",
        "(the same command resumes an interrupted generation: finished trajectories are "
        f"not recomputed). Total size of the data files: {_size(files)}.",
        "",
    ]
    return "\n".join(lines)


def _size(files: dict[str, list[tuple[Path, list]]]) -> str:
    total = sum(path.stat().st_size for entries in files.values() for path, _ in entries)
    return f"{total / 2**20:.1f} MiB" if total >= 2**20 else f"{total / 2**10:.1f} KiB"
