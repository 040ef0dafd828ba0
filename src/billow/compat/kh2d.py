"""kh2d-solver configuration files mapped onto billow cases (``billow run --from-kh2d``).

kh2d-solver 0.1.6 (Herho et al. 2025) reads ``key = value`` lines (``#`` starts a
comment line). Its units: the box is lx x lz, the shear layer
u = u_bot + (u_top - u_bot)(1 + tanh((z - lz/2)/delta))/2 has thickness
delta = shear_thickness, nu = kappa = 1/reynolds, and the buoyancy force is
-g' (rho - 1) with g' = 9.81 richardson (so "richardson" is a gravity scale).
billow is scaled by d = delta and U0 = (u_top - u_bot)/2 (u_max for double_shear;
:mod:`billow.cases.double_shear`), so

    Re = U0 d reynolds,   Pr = 1,   Lx = lx/d,   Lz = lz/d,   t_end = t_final U0/d
    Ri = N^2 / S^2 at the centre = [g' (rho_bot - rho_top) / (2 d)] / (U0/d + Omega)^2

with Omega the linear shear kh2d's "rotating" adds to u (0 otherwise). The
double-shear density is a step 1.5 / 1.0 / 1.5 (statically unstable at the upper
interface); billow's double_shear gets the same buoyancy jump at each interface,
spread as a tanh over the shear thickness and stable at both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, did_you_mean

GRAVITY = 9.81  # kh2d's g' = GRAVITY * richardson
DOUBLE_SHEAR_DENSITY = (1.0, 1.5)  # kh2d's double shear: rho inside / outside the jet

# every key kh2d-solver 0.1.6 reads, with its type and kh2d's default
KEYS: dict[str, tuple[type, object]] = {
    "scenario_name": (str, "simulation"),
    "initial_condition": (str, "shear_layer"),
    "nx": (int, 256),
    "nz": (int, 128),
    "lx": (float, 2.0),
    "lz": (float, 1.0),
    "t_final": (float, 10.0),
    "n_snapshots": (int, 100),
    "dt": (float, None),
    "reynolds": (float, 1000.0),
    "richardson": (float, 0.25),
    "shear_thickness": (float, 0.05),
    "u_top": (float, 1.0),
    "u_bot": (float, -1.0),
    "rho_top": (float, 1.0),
    "rho_bot": (float, 2.0),
    "noise_amplitude": (float, 0.01),
    "separation": (float, 0.3),
    "u_max": (float, 1.0),
    "rotation_rate": (float, 0.5),
    "n_forcing_modes": (int, 5),
    "forcing_amplitude": (float, 0.1),
    "save_netcdf": (bool, True),
    "save_animation": (bool, True),
    "fps": (int, 20),
    "dpi": (int, 100),
    "n_cores": (int, None),
}

CASES = {  # kh2d initial_condition -> billow case
    "shear_layer": "shear_layer",
    "double_shear": "double_shear",
    "rotating": "rotating",
    "forced": "forced",
}

_SHEAR = ("shear_thickness", "u_top", "u_bot", "rho_top", "rho_bot", "noise_amplitude")
USED = {  # the physical keys each kh2d initial condition reads
    "shear_layer": _SHEAR,
    "double_shear": ("shear_thickness", "separation", "u_max", "noise_amplitude"),
    "rotating": (*_SHEAR, "rotation_rate"),
    "forced": (*_SHEAR, "n_forcing_modes", "forcing_amplitude"),
}
COMMON = ("initial_condition", "nx", "nz", "lx", "lz", "t_final", "n_snapshots", "reynolds")
OUTPUT_ONLY = {
    "scenario_name": "a label",
    "save_netcdf": "billow always writes fields.nc and diagnostics.nc",
    "save_animation": "use `billow movie DIR`",
    "fps": "use `billow movie DIR --fps N`",
    "dpi": "figure resolution",
    "n_cores": "numba uses every core",
    "dt": "billow adapts dt to the CFL and diffusive limits",
}


@dataclass(frozen=True)
class MappingRow:
    key: str  # kh2d key ("(...)" for kh2d behaviour that no key controls)
    value: str  # kh2d value, "(default)" marked
    billow: str  # billow parameter(s) it becomes, or "ignored"
    note: str = ""


@dataclass(frozen=True)
class Kh2dUnits:
    """Back from billow's units to kh2d's: lengths d, velocities U0, b -> rho with g'."""

    d: float
    U0: float
    g: float  # g' = 9.81 richardson
    rho_centre: float  # kh2d's density where billow's b = 0

    def time(self, t: np.ndarray | float) -> np.ndarray | float:
        """t_kh2d = t d/U0."""
        return t * self.d / self.U0

    def density(self, b: np.ndarray) -> np.ndarray:
        """rho = rho_centre - b U0^2 / (d g'), from kh2d's b = -g' (rho - 1)."""
        return self.rho_centre - b * self.U0**2 / (self.d * self.g)

    def vorticity(self, omega: np.ndarray) -> np.ndarray:
        """kh2d's dw/dx - du/dz = -(billow's du/dz - dw/dx) U0/d."""
        return -omega * self.U0 / self.d


@dataclass(frozen=True)
class Kh2dMapping:
    case: str  # the billow case
    params: dict  # billow parameters (for Case.make_params)
    rows: list[MappingRow]
    units: Kh2dUnits


def parse_kh2d(text: str, source: str = "kh2d config") -> dict[str, object]:
    """``key = value`` lines (blank lines and ``#`` comment lines skipped), values typed
    by :data:`KEYS`; an unknown key, a line without ``=``, a repeated key or a value of
    the wrong type is a one-line ConfigError naming the line."""
    values: dict[str, object] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}, line {number}"
        if "=" not in line:
            raise ConfigError(f"{where}: cannot parse '{line}' (expected key = value)")
        key, raw = (part.strip() for part in line.split("=", 1))
        if key not in KEYS:
            suggestion = did_you_mean(key, KEYS)
            raise ConfigError(f"{where}: unknown kh2d-solver key '{key}'{suggestion}")
        if key in values:
            raise ConfigError(f"{where}: '{key}' is given twice")
        values[key] = _typed(key, raw, where)
    return values


def _typed(key: str, raw: str, where: str) -> object:
    kind = KEYS[key][0]
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return raw.lower() == "true"
        if kind is str:
            if not raw:
                raise ValueError
            return raw
        value = kind(raw)
        if kind is float and not math.isfinite(value):
            raise ValueError
        return value
    except ValueError:
        expected = {bool: "true or false", str: "a value", int: "an integer", float: "a number"}
        raise ConfigError(f"{where}: {key} = '{raw}' is not {expected[kind]}") from None


def map_kh2d(values: dict[str, object], source: str = "kh2d config") -> Kh2dMapping:
    """The billow case and parameters equivalent to a parsed kh2d-solver configuration:
    kh2d's defaults filled in and checked, its scales (d, U0, g') found, its values turned
    into billow parameters, and the table of how each key maps, for the user to read."""
    v = {key: values.get(key, default) for key, (_, default) in KEYS.items()}
    scenario = _check_values(v, source)
    units = _units(v, scenario)
    params = _billow_params(v, scenario, units)
    rows = _mapping_rows(v, set(values), scenario, params, units)
    return Kh2dMapping(CASES[scenario], params, rows, units)


def _check_values(v: dict, source: str) -> str:
    """The kh2d scenario, once the values that billow cannot map are refused."""
    scenario = v["initial_condition"]
    if scenario not in CASES:
        raise ConfigError(
            f"{source}: initial_condition = '{scenario}' is none of {', '.join(CASES)}"
        )
    double = scenario == "double_shear"
    checks = (
        ("shear_thickness", v["shear_thickness"]),
        ("u_max" if double else "u_top - u_bot", _velocity_scale(v, scenario)),
        ("lx", v["lx"]),
        ("lz", v["lz"]),
    )
    for name, value in checks:
        if value <= 0:
            raise ConfigError(f"{source}: {name} must be positive")
    if v["rotation_rate"] < 0 or v["richardson"] < 0:
        raise ConfigError(f"{source}: rotation_rate and richardson must not be negative")
    if v["n_snapshots"] < 2:
        raise ConfigError(f"{source}: n_snapshots must be at least 2")
    if not double and v["rho_bot"] < v["rho_top"]:
        raise ConfigError(
            f"{source}: rho_top > rho_bot is statically unstable; billow's cases need "
            "light fluid on top"
        )
    if scenario == "forced" and v["n_forcing_modes"] < 1:
        raise ConfigError("n_forcing_modes must be at least 1")
    return scenario


def _velocity_scale(v: dict, scenario: str) -> float:
    """U0: u_max for the double shear, half the velocity jump otherwise."""
    return v["u_max"] if scenario == "double_shear" else (v["u_top"] - v["u_bot"]) / 2


def _density_step(v: dict, scenario: str) -> tuple[float, float]:
    """kh2d's density where billow's b = 0, and its jump across a shear layer."""
    if scenario == "double_shear":
        inside, outside = DOUBLE_SHEAR_DENSITY
        return inside, outside - inside
    return (v["rho_top"] + v["rho_bot"]) / 2, v["rho_bot"] - v["rho_top"]


def _rotation(v: dict, scenario: str) -> float:
    """Omega: the linear shear kh2d's rotating scenario adds to u (0 otherwise)."""
    return v["rotation_rate"] if scenario == "rotating" else 0.0


def _units(v: dict, scenario: str) -> Kh2dUnits:
    d = v["shear_thickness"]
    rho_centre, _ = _density_step(v, scenario)
    return Kh2dUnits(
        d=d, U0=_velocity_scale(v, scenario), g=GRAVITY * v["richardson"], rho_centre=rho_centre
    )


def _richardson(v: dict, scenario: str, units: Kh2dUnits) -> float:
    """Ri = [g' delta_rho / (2 d)] / (U0/d + Omega)^2, the centre N^2/S^2."""
    _, delta_rho = _density_step(v, scenario)
    shear = units.U0 / units.d + _rotation(v, scenario)
    return units.g * delta_rho / (2 * units.d) / shear**2


def _billow_params(v: dict, scenario: str, units: Kh2dUnits) -> dict:
    """billow's parameters (for Case.make_params), in billow's units d and U0."""
    d, U0 = units.d, units.U0
    t_end = v["t_final"] * U0 / d
    params = {
        "nx": v["nx"],
        "nz": v["nz"],
        "Lx": v["lx"] / d,
        "Lz": v["lz"] / d,
        "Re": U0 * d * v["reynolds"],
        "Ri": _richardson(v, scenario, units),
        "Pr": 1.0,
        "bc_z": "no-slip",
        "t_end": t_end,
        "save_every": t_end / (v["n_snapshots"] - 1),
        "dye": False,  # kh2d-solver carries u, w and rho only
    }
    noise = v["noise_amplitude"] / U0
    params.update(
        {"perturbation": "noise", "noise": noise}
        if noise > 0
        else {"perturbation": "sinusoid", "amplitude": 0.0}
    )
    if scenario == "double_shear":
        params["separation"] = v["separation"] / d
    if scenario == "rotating":
        omega = _rotation(v, scenario)
        params["Ro"] = U0 / (2 * omega * d) if omega else math.inf
    if scenario == "forced":
        params.update(_forcing(v, d, U0, t_end))
    return params


def _mapping_rows(
    v: dict, given: set[str], scenario: str, params: dict, units: Kh2dUnits
) -> list[MappingRow]:
    """The table ``billow run --from-kh2d`` prints: each kh2d key (given ones as written,
    the others marked "(default)"), the billow parameter it becomes, and why."""
    double = scenario == "double_shear"

    def shown(key: str) -> str:
        return f"{v[key]}" if key in given else f"{v[key]} (default)"

    ri_inputs = ["richardson", *([] if double else ["rho_top", "rho_bot"])]
    ri_inputs += ["rotation_rate"] if _rotation(v, scenario) else []
    rows = [
        MappingRow("initial_condition", shown("initial_condition"), f"case {CASES[scenario]}"),
        MappingRow("shear_thickness", shown("shear_thickness"), f"length unit d = {units.d:g}"),
        MappingRow(
            "u_max" if double else "u_top, u_bot",
            shown("u_max") if double else f"{v['u_top']}, {v['u_bot']}",
            f"velocity unit U0 = {units.U0:g}",
            "" if double or v["u_top"] + v["u_bot"] == 0 else "mean flow dropped (Galilean shift)",
        ),
        MappingRow(
            "nx, nz",
            f"{v['nx']}, {v['nz']}",
            f"nx = {v['nx']}, nz = {v['nz']}",
            "kh2d: nodes incl. walls (dx = lx/(nx-1)); billow: cells",
        ),
        MappingRow(
            "lx, lz",
            f"{v['lx']}, {v['lz']}",
            f"Lx = {params['Lx']:.6g}, Lz = {params['Lz']:.6g}",
            "in units of d",
        ),
        MappingRow(
            "t_final", shown("t_final"), f"t_end = {params['t_end']:.6g}", "in units of d/U0"
        ),
        MappingRow(
            "n_snapshots",
            shown("n_snapshots"),
            f"save_every = {params['save_every']:.6g}",
            "snapshots at 0, save_every, ..., t_end",
        ),
        MappingRow(
            "reynolds",
            shown("reynolds"),
            f"Re = {params['Re']:.6g}",
            "kh2d: nu = 1/reynolds; billow: Re = U0 d / nu",
        ),
        MappingRow(
            ", ".join(ri_inputs),
            ", ".join(str(v[key]) for key in ri_inputs),
            f"Ri = {params['Ri']:.4g}",
            f"true centre N^2/S^2 (richardson is a gravity scale g' = {units.g:.4g})"
            + (", density step spread over d, stable at both interfaces" if double else ""),
        ),
        MappingRow(
            "noise_amplitude",
            shown("noise_amplitude"),
            f"perturbation = {params['perturbation']}, noise = {v['noise_amplitude'] / units.U0:g}",
            "kh2d: unseeded white w noise and a mode-2 u bump; billow: seeded smooth "
            "noise (max |w|)",
        ),
        *_scenario_rows(v, scenario, params, shown),
        MappingRow("(walls)", "u = w = 0 at z = 0, lz", "bc_z = no-slip"),
        MappingRow("(kappa = nu)", "", "Pr = 1"),
        MappingRow(
            "(advection)",
            "first-order upwind",
            "advection = upwind5 (default)",
            "upwind1 adds 4-13x the physical viscosity; --set advection=upwind1 to imitate it",
        ),
        MappingRow("(random numbers)", "unseeded", "seed = 0"),
        MappingRow(
            "(passive dye)",
            "none",
            "dye = false",
            "the same fields as kh2d (u, w, rho); --set dye=true adds billow's dye and its entropy",
        ),
    ]
    used = set(COMMON) | {"richardson"} | set(USED[scenario])
    for key in sorted(given - used):
        reason = OUTPUT_ONLY.get(key, f"not read by kh2d's {scenario}")
        rows.append(MappingRow(key, shown(key), "ignored", reason))
    return rows


def _scenario_rows(
    v: dict, scenario: str, params: dict, shown: Callable[[str], str]
) -> list[MappingRow]:
    """The rows of the keys only one kh2d scenario reads."""
    if scenario == "double_shear":
        return [
            MappingRow(
                "separation",
                shown("separation"),
                f"separation = {params['separation']:.6g}",
                "in units of d",
            )
        ]
    if scenario == "rotating":
        return [
            MappingRow(
                "rotation_rate",
                shown("rotation_rate"),
                f"Ro = {params['Ro']:.6g}",
                "kh2d: only a linear shear added to u, no Coriolis force; "
                "billow: Coriolis f = 2 Omega, Ro = U0/(f d)",
            )
        ]
    if scenario == "forced":
        return [
            MappingRow(
                "n_forcing_modes, forcing_amplitude",
                f"{v['n_forcing_modes']}, {v['forcing_amplitude']}",
                f"forcing_k_min = {params['forcing_k_min']:.4g}, "
                f"forcing_k_max = {params['forcing_k_max']:.4g}, "
                f"forcing_rate = {params['forcing_rate']:.4g}",
                "kh2d kicks once at t = 0; billow forces continuously with the same band and "
                "the kick's energy spread over the run",
            )
        ]
    return []


def _forcing(v: dict, d: float, U0: float, t_end: float) -> dict[str, float]:
    """kh2d's kick sum_{kx,kz=1..N} A/|k| (sin, cos) modes of wavenumbers
    2 pi (kx/lx, kz/lz) as billow's band [k(1,1), k(N,N)] d and the rate that injects its
    energy per unit area E = (A/U0)^2/4 sum 1/(kx^2 + kz^2) over t_end."""
    n = v["n_forcing_modes"]
    k_min = 2 * np.pi * d * math.hypot(1 / v["lx"], 1 / v["lz"])
    modes = np.arange(1, n + 1)
    energy = (
        (v["forcing_amplitude"] / U0) ** 2
        / 4
        * np.sum(1.0 / (modes[:, None] ** 2 + modes[None, :] ** 2))
    )
    return {
        "base": "shear_layer",
        "forcing_k_min": k_min,
        "forcing_k_max": n * k_min,
        "forcing_rate": float(energy) / t_end,
    }


def load_kh2d(path: str | Path) -> Kh2dMapping:
    """Read and map a kh2d-solver configuration file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"kh2d config '{path}' does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read kh2d config '{path}': {error}") from None
    return map_kh2d(parse_kh2d(text, str(path)), str(path))
