"""Post-processing of a run directory: ``billow analyze DIR`` (README: "Analysis").

:func:`analyze_run` streams ``fields.nc`` one snapshot at a time and computes, per
snapshot time,

- energetics (:mod:`billow.analysis.energetics`): PE, and with walls BPE (sorting)
  and APE = PE - BPE; with periodic z the sorting energies are undefined (nan);
- dye entropy, vorticity and buoyancy thickness of the horizontal means, the
  horizontally averaged profiles u_mean(z, t), b_mean(z, t) and Ri_g(z, t);
- the kh2d study's statistics (:mod:`billow.analysis.kh2d`) of density and
  vorticity: Shannon entropy, complexity index (published and physical) and
  Gamma = std(rho) rms(omega).

b is the *total* buoyancy throughout: a model's b plus N0^2 z where the case carries a
uniform background (periodic ``double_shear``: N0^2 from its profile parameters;
``kolmogorov``: the ``N2`` parameter). Density is rho = density_from_buoyancy(b)
= rho0 (1 - b/g) with rho0 = 1, g = 9.81 (the study's convention).

From the series and ``diagnostics.nc`` it derives the irreversible mixing rate
M = dBPE/dt - Phi_i (epsilon and Phi_i interpolated linearly from the per-step
diagnostics onto the snapshot times), the instantaneous and cumulative mixing
efficiency (nan where b has a source besides diffusion: ``hold_base``, rotation),
the exponential growth rate of ``mode_amplitude``, entropy growth rates and the
stage complexity. It writes ``analysis.nc`` (atomically),
``summary.md`` and ``figures/*.png`` into ``out`` (default: the run directory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BillowError
from ..io.atomic import write_netcdf_atomically, write_text_atomically
from ..io.rundir import open_run, require_run_directory
from ..viz import INSTALL_HINT, missing_viz
from ..viz.figures import write_figures
from . import energetics, kh2d
from .growth import GrowthFit, fit_growth_rate, linear_theory_rate

RHO0 = 1.0  # reference density of the b -> rho map
GRAVITY = 9.81  # g of the b -> rho map (the kh2d study's value)
RICHARDSON_CLIP = 1e6  # |Ri_g| stored in analysis.nc is clipped here (inf where shear vanishes)

DENSITY_MAPPING = (
    f"rho = density_from_buoyancy(b) = rho0 (1 - b/g), rho0 = {RHO0}, g = {GRAVITY}, "
    "b the total buoyancy"
)

# name -> (dims, long_name, units)
VARIABLES = {
    "pe": (("time",), "potential energy -sum(b z dA)", "1"),
    "bpe": (("time",), "background potential energy (adiabatic sorting)", "1"),
    "ape": (("time",), "available potential energy PE - BPE", "1"),
    "epsilon": (("time",), "viscous dissipation rate (interpolated from diagnostics)", "1"),
    "phi_i": (("time",), "reversible diffusive conversion kappa int db/dz dV (interpolated)", "1"),
    "mixing_rate": (("time",), "irreversible mixing rate M = dBPE/dt - phi_i", "1"),
    "mixing_efficiency": (("time",), "instantaneous mixing efficiency M / (M + epsilon)", "1"),
    "dye_entropy": (("time",), "dye entropy sum(-c ln c dA)", "1"),
    "vorticity_thickness": (
        ("time",),
        "vorticity thickness (max - min u_mean) / max|du_mean/dz|",
        "1",
    ),
    "buoyancy_thickness": (
        ("time",),
        "buoyancy thickness (max - min b_mean) / max|db_mean/dz|",
        "1",
    ),
    "u_mean": (("time", "z"), "horizontally averaged horizontal velocity", "1"),
    "b_mean": (("time", "z"), "horizontally averaged total buoyancy", "1"),
    "richardson": (("time", "z"), "gradient Richardson number of the horizontal means", "1"),
    "shannon_entropy_rho": (("time",), "Shannon entropy of density (50-bin histogram)", "1"),
    "shannon_entropy_vorticity": (
        ("time",),
        "Shannon entropy of vorticity (50-bin histogram)",
        "1",
    ),
    "complexity_rho": (
        ("time",),
        "complexity index of density (published, grid-index gradient)",
        "1",
    ),
    "complexity_vorticity": (("time",), "complexity index of vorticity (published)", "1"),
    "complexity_rho_physical": (("time",), "complexity index of density (physical gradient)", "1"),
    "complexity_vorticity_physical": (("time",), "complexity index of vorticity (physical)", "1"),
    "gamma": (("time",), "kh2d 'mixing efficiency' Gamma = std(rho) rms(vorticity)", "1"),
}


@dataclass
class AnalysisResult:
    dataset: object  # xarray.Dataset, the content of analysis.nc (loaded in memory)
    scalars: dict[str, float | int | str]  # also the global attributes of analysis.nc
    analysis_path: Path
    summary_path: Path
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def background_n2(attrs: dict) -> tuple[float, str]:
    """N0^2 of the uniform background the model's b excludes, and how it was obtained
    (the run's ``background_N2`` attribute, written from the model)."""
    if "background_N2" not in attrs:
        return 0.0, "background N0^2 unknown (no background_N2 attribute): b used as is"
    n2 = float(attrs["background_N2"])
    return n2, "background N0^2 from the run" if n2 else "no background stratification"


def buoyancy_source(attrs: dict) -> str | None:
    """What adds buoyancy inside the domain besides diffusion, if anything (the run's
    ``buoyancy_source`` attribute, written from the model's forcings).

    M = dBPE/dt - Phi_i is the irreversible mixing rate only when b is conserved
    up to diffusion; ``hold_base`` and the rotating case's thermal-wind term
    db/dt += -M^2 v supply buoyancy.
    """
    return str(attrs.get("buoyancy_source", "")) or None


def cumulative_mixing_efficiency(run_dir: str | Path) -> float:
    """E_c of a run, from the background potential energy of its snapshots and its
    diagnostics' epsilon and Phi_i (see :func:`energetics.mixing_from_series`); nan
    where undefined: periodic z, a buoyancy source, fewer than 3 snapshots, no epsilon.

    Reads one snapshot at a time (what a sweep summary needs without a full analysis).
    """
    with _open(Path(run_dir), "diagnostics") as diagnostics:
        t_steps = diagnostics["time"].values.astype(float)
        series = {
            name: diagnostics[name].values.astype(float)
            for name in ("epsilon", "phi_i")
            if name in diagnostics
        }
    with _open(Path(run_dir), "fields") as fields:
        attrs = dict(fields.attrs)
        walls = str(attrs.get("bc_z", "")) != "periodic"
        t = fields["time"].values.astype(float)
        if not walls or "epsilon" not in series or buoyancy_source(attrs) or t.size < 3:
            return math.nan
        z = fields["z"].values.astype(float)
        x = fields["x"].values.astype(float)
        dA = float(np.mean(np.diff(x))) * float(np.mean(np.diff(z)))
        n2, _ = background_n2(attrs)
        bpe = np.array(
            [
                energetics.background_potential_energy(
                    fields["b"].isel(time=i).values + n2 * z[:, None], z, dA
                )
                for i in range(t.size)
            ]
        )
    epsilon = np.interp(t, t_steps, series["epsilon"])
    phi_i = np.interp(t, t_steps, series["phi_i"]) if "phi_i" in series else 0.0
    with np.errstate(all="ignore"):
        return energetics.mixing_from_series(t, bpe, epsilon, phi_i).cumulative_efficiency


def _safe(function, *args, **kwargs) -> float:
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(function(*args, **kwargs))
    except (ValueError, ZeroDivisionError, FloatingPointError):
        return math.nan


def _interpolate(diagnostics, name: str, t: np.ndarray) -> np.ndarray | None:
    if diagnostics is None or name not in diagnostics:
        return None
    return np.interp(t, diagnostics["time"].values, diagnostics[name].values)


def _snapshot_metrics(data: dict[str, np.ndarray], z, dx, dz, n2, walls) -> dict:
    dA = dx * dz
    b = data["b"] + n2 * z[:, None]
    u_mean = energetics.horizontal_mean(data["u"])
    b_mean = energetics.horizontal_mean(b)
    rho = kh2d.density_from_buoyancy(b, RHO0, GRAVITY)
    omega = data["vorticity"]
    richardson = energetics.gradient_richardson(u_mean, b_mean, z)
    out = {
        "pe": energetics.potential_energy(b, z, dA),
        "bpe": energetics.background_potential_energy(b, z, dA) if walls else math.nan,
        "ape": energetics.available_potential_energy(b, z, dA) if walls else math.nan,
        "dye_entropy": energetics.dye_entropy(data["c"], dA) if "c" in data else math.nan,
        "vorticity_thickness": _safe(energetics.mixing_layer_thickness, u_mean, z),
        "buoyancy_thickness": _safe(energetics.mixing_layer_thickness, b_mean, z),
        "u_mean": u_mean,
        "b_mean": b_mean,
        "richardson": np.clip(richardson, -RICHARDSON_CLIP, RICHARDSON_CLIP),
        "shannon_entropy_rho": kh2d.shannon_entropy(rho),
        "shannon_entropy_vorticity": kh2d.shannon_entropy(omega),
        "complexity_rho": _safe(kh2d.complexity_index, rho),
        "complexity_vorticity": _safe(kh2d.complexity_index, omega),
        "complexity_rho_physical": _safe(kh2d.complexity_index_physical, rho, dx, dz),
        "complexity_vorticity_physical": _safe(kh2d.complexity_index_physical, omega, dx, dz),
        "gamma": kh2d.gamma_mixing(rho, omega),
    }
    return out


def _open(run_dir: Path, which: str):
    try:
        return open_run(run_dir, which)
    except (OSError, ValueError) as error:
        raise BillowError(f"cannot read {run_dir / (which + '.nc')}: {error}") from None


def analyze_run(run_dir: str | Path, out: str | Path | None = None) -> AnalysisResult:
    """Analyse a run directory; write analysis.nc, summary.md and figures/ into ``out``."""
    import xarray as xr  # on use: billow run does not need xarray

    run_dir = require_run_directory(run_dir, containing="fields.nc")
    out = Path(out) if out is not None else run_dir
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BillowError(f"cannot create output directory {out}: {error.strerror}") from None

    notes: list[str] = []
    no_viz = missing_viz(("matplotlib", "cmocean"))
    if no_viz:
        notes.append(f"no figures: {no_viz} is not installed ({INSTALL_HINT})")
    diagnostics = None
    if (run_dir / "diagnostics.nc").is_file():
        diagnostics = _open(run_dir, "diagnostics").load()
        diagnostics.close()
    else:
        notes.append("no diagnostics.nc: epsilon, mixing rate and growth rate unavailable")

    with _open(run_dir, "fields") as fields:
        attrs = dict(fields.attrs)
        t = fields["time"].values.astype(float)
        z = fields["z"].values.astype(float)
        x = fields["x"].values.astype(float)
        missing = {"u", "b", "vorticity"} - set(fields.data_vars)
        if missing:
            raise BillowError(f"fields.nc lacks {', '.join(sorted(missing))}")
        if t.size == 0:
            raise BillowError(f"{run_dir / 'fields.nc'} holds no snapshots")
        dx = float(np.mean(np.diff(x))) if x.size > 1 else float(attrs["Lx"])
        dz = float(np.mean(np.diff(z))) if z.size > 1 else float(attrs["Lz"])
        walls = str(attrs.get("bc_z", "")) != "periodic"
        n2, n2_note = background_n2(attrs)
        notes.append(n2_note)
        if not walls:
            notes.append("periodic z: BPE, APE and the mixing rate/efficiency are undefined (nan)")
        names = [n for n in ("u", "b", "c", "vorticity") if n in fields.data_vars]
        rows = []
        for i in range(t.size):  # one snapshot in memory at a time
            snapshot = {n: fields[n].isel(time=i).values.astype(float) for n in names}
            rows.append(_snapshot_metrics(snapshot, z, dx, dz, n2, walls))
    series = {name: np.array([row[name] for row in rows]) for name in VARIABLES if name in rows[0]}

    # mixing (Winters et al. 1995; Caulfield & Peltier 2000)
    epsilon = _interpolate(diagnostics, "epsilon", t)
    phi_i = _interpolate(diagnostics, "phi_i", t)
    if phi_i is None and walls:
        kappa = 1.0 / (float(attrs.get("Re", math.inf)) * float(attrs.get("Pr", 1.0)))
        phi_i = kappa * dx * (series["b_mean"][:, -1] - series["b_mean"][:, 0]) * x.size
        notes.append("phi_i computed from the snapshots (absent from diagnostics.nc)")
    series["epsilon"] = epsilon if epsilon is not None else np.full(t.size, math.nan)
    series["phi_i"] = phi_i if phi_i is not None else np.full(t.size, math.nan)
    cumulative = math.nan
    source = buoyancy_source(attrs)
    if walls and epsilon is not None and t.size >= 3 and source is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            mixing = energetics.mixing_from_series(t, series["bpe"], epsilon, phi_i)
        series["mixing_rate"], series["mixing_efficiency"] = mixing.rate, mixing.efficiency
        cumulative = mixing.cumulative_efficiency
    else:
        series["mixing_rate"] = series["mixing_efficiency"] = np.full(t.size, math.nan)
        if t.size < 3:
            notes.append("fewer than 3 snapshots: no mixing rate")
        if source is not None:
            notes.append(
                f"{source}: BPE also changes reversibly, so the mixing rate and efficiency "
                "are not computed (nan)"
            )

    # growth of the fundamental mode
    fit: GrowthFit | None = None
    if diagnostics is not None and "mode_amplitude" in diagnostics:
        try:
            fit = fit_growth_rate(diagnostics["time"].values, diagnostics["mode_amplitude"].values)
        except (ValueError, np.linalg.LinAlgError) as error:
            notes.append(f"growth-rate fit failed: {error}")
        if fit is not None and fit.reason:
            notes.append(f"growth rate not measured: {fit.reason}")
    theory = linear_theory_rate(str(attrs.get("case", "")), attrs)

    ci_mean = 0.5 * (series["complexity_rho"] + series["complexity_vorticity"])
    ci_mean_physical = 0.5 * (
        series["complexity_rho_physical"] + series["complexity_vorticity_physical"]
    )
    scalars: dict[str, float | int | str] = {
        "case": str(attrs.get("case", "unknown")),
        "cumulative_mixing_efficiency": cumulative,
        "growth_rate": fit.rate if fit else math.nan,
        "growth_window_start": fit.t_start if fit else math.nan,
        "growth_window_end": fit.t_end if fit else math.nan,
        "growth_fit_points": fit.points if fit else 0,
        "growth_fit_r2": fit.r_squared if fit else math.nan,
        "linear_growth_rate": theory,
        "max_ape": float(np.nanmax(series["ape"])) if walls else math.nan,
        "time_of_max_ape": float(t[np.nanargmax(series["ape"])]) if walls else math.nan,
        "dye_entropy_initial": float(series["dye_entropy"][0]),
        "dye_entropy_final": float(series["dye_entropy"][-1]),
        "vorticity_thickness_initial": float(series["vorticity_thickness"][0]),
        "vorticity_thickness_final": float(series["vorticity_thickness"][-1]),
        "vorticity_thickness_max": float(np.nanmax(series["vorticity_thickness"])),
        "buoyancy_thickness_initial": float(series["buoyancy_thickness"][0]),
        "buoyancy_thickness_final": float(series["buoyancy_thickness"][-1]),
        "mean_gamma": float(np.mean(series["gamma"])),
        "entropy_growth_rate_rho": math.nan,
        "entropy_growth_rate_vorticity": math.nan,
        "stage_complexity": math.nan,
        "stage_complexity_physical": math.nan,
        "background_N2": n2,
        "density_mapping": DENSITY_MAPPING,
        "notes": "; ".join(notes),
    }
    if t.size >= 2:
        scalars["entropy_growth_rate_rho"] = kh2d.entropy_growth_rate(
            t, series["shannon_entropy_rho"]
        )
        scalars["entropy_growth_rate_vorticity"] = kh2d.entropy_growth_rate(
            t, series["shannon_entropy_vorticity"]
        )
    if t.size >= 4:
        stages = kh2d.stage_complexity(ci_mean)
        scalars["stage_complexity"] = stages.overall
        scalars["stage_complexity_stages"] = np.array(stages.stages)
        physical = kh2d.stage_complexity(ci_mean_physical)
        scalars["stage_complexity_physical"] = physical.overall
        scalars["stage_complexity_physical_stages"] = np.array(physical.stages)

    dataset = xr.Dataset(
        {
            name: xr.DataArray(series[name], dims=dims, attrs={"long_name": long, "units": units})
            for name, (dims, long, units) in VARIABLES.items()
        },
        coords={
            "time": ("time", t, {"long_name": "time", "units": "1", "axis": "T"}),
            "z": ("z", z, {"long_name": "height of cell centres", "units": "1", "axis": "Z"}),
        },
    )
    dataset["richardson"].attrs["comment"] = (
        f"clipped to +-{RICHARDSON_CLIP:g}; +-{RICHARDSON_CLIP:g} where the mean shear vanishes"
    )
    dataset["b_mean"].attrs["comment"] = f"includes the background N0^2 z, N0^2 = {n2:g}"
    global_attrs = {k: v for k, v in attrs.items() if k not in ("title", "staggering")}
    global_attrs.update(
        {
            "title": f"billow analysis of {run_dir.name}",
            "Conventions": "CF-1.8",
            **scalars,
        }
    )
    dataset.attrs.update(global_attrs)

    analysis_path = out / "analysis.nc"
    write_netcdf_atomically(dataset, analysis_path)
    summary_path = out / "summary.md"
    write_text_atomically(summary_path, summary_markdown(run_dir, attrs, scalars, t, notes))

    figures: list[Path] = []
    if not no_viz:
        with _open(run_dir, "fields") as fields:
            figures = write_figures(fields, diagnostics, dataset, fit, out / "figures")
    return AnalysisResult(dataset, scalars, analysis_path, summary_path, figures, notes)


def _fmt(value, digits: int = 4) -> str:
    if isinstance(value, (int, np.integer)):
        return str(value)
    value = float(value)
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}g}"


def _dye_line(s: dict) -> str:
    if not math.isfinite(s["dye_entropy_initial"]):
        return "- **dye entropy**: no dye in this run (`dye = false`, or a case without one)."
    return (
        f"- **dye entropy** S = ∫ −c ln c dV: {_fmt(s['dye_entropy_initial'])} → "
        f"{_fmt(s['dye_entropy_final'])} (grows as the dye is irreversibly mixed)."
    )


def summary_markdown(run_dir: Path, attrs: dict, s: dict, t: np.ndarray, notes: list[str]) -> str:
    """The human summary: key numbers with their meaning."""
    keys = [k for k in ("nx", "nz", "Lx", "Lz", "Re", "Ri", "Pr", "bc_z", "t_end") if k in attrs]
    params = ", ".join(f"{k} = {attrs[k]}" for k in keys)
    lines = [
        f"# billow analysis: {run_dir.name}",
        "",
        f"- **case**: {s['case']} ({params})",
        f"- **snapshots**: {t.size}, t = {_fmt(t[0])} … {_fmt(t[-1])} (units of d/U0)",
        "",
        "All quantities are non-dimensional (lengths d, velocities U0, b in U0²/d).",
        "",
        "## Instability",
        f"- **growth rate** σ = {_fmt(s['growth_rate'])} (U0/d), fitted to ln(mode_amplitude) over "
        f"t = {_fmt(s['growth_window_start'])} … {_fmt(s['growth_window_end'])} "
        f"(R² = {_fmt(s['growth_fit_r2'])}): exponential growth A ~ exp(σ t) of the "
        "fundamental mode, over the longest window of near-constant rate (after start-up "
        f"transients, before saturation); linear theory at k = 2π/Lx: "
        f"σ = {_fmt(s['linear_growth_rate'])}.",
        f"- **max APE** = {_fmt(s['max_ape'])} at t = {_fmt(s['time_of_max_ape'])}: the largest "
        "potential energy released by adiabatic restacking (billow overturning).",
        "",
        "## Mixing",
        f"- **cumulative mixing efficiency** E_c = {_fmt(s['cumulative_mixing_efficiency'])}: "
        "∫M dt / (∫M dt + ∫ε dt), the fraction of the energy lost by the flow that went into "
        "irreversible mixing (M = dBPE/dt − Φ_i).",
        _dye_line(s),
        "- **vorticity thickness** δ_ω = ΔU / max|dU/dz|: "
        f"{_fmt(s['vorticity_thickness_initial'])} → "
        f"{_fmt(s['vorticity_thickness_final'])} (max {_fmt(s['vorticity_thickness_max'])}).",
        "- **buoyancy thickness** δ_b = Δb / max|db/dz|: "
        f"{_fmt(s['buoyancy_thickness_initial'])} → "
        f"{_fmt(s['buoyancy_thickness_final'])}.",
        "",
        "## kh2d-study statistics",
        f"Density mapping: {DENSITY_MAPPING}.",
        "",
        f"- **mean Γ** = {_fmt(s['mean_gamma'])}: time mean of std(ρ)·rms(ω), the study's "
        "'mixing efficiency' (not an energetic efficiency; scales with g).",
        f"- **entropy growth rate** (H_last − H_first)/Δt of the 50-bin Shannon entropy: "
        f"ρ {_fmt(s['entropy_growth_rate_rho'])}, "
        f"ω {_fmt(s['entropy_growth_rate_vorticity'])} (per unit time).",
        f"- **stage complexity** (weights 0.15/0.25/0.35/0.25 over time quartiles of "
        f"(CI_ρ + CI_ω)/2): published {_fmt(s['stage_complexity'])}, "
        f"physical-gradient variant {_fmt(s['stage_complexity_physical'])}.",
        "",
        "Files: `analysis.nc` (time series and profiles), `figures/` (snapshots, energetics, "
        "Richardson Hovmöller, growth fit).",
    ]
    if notes:
        lines += ["", "## Notes", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"
