"""Several runs side by side (``billow compare``): the kh2d study's cross-run table, its
statistical tests and comparison figures (README: "Comparing runs").

For every run directory :func:`~billow.analysis.report.analyze_run` is run, or its
``analysis.nc`` reused when it is newer than the run's config.toml and every other
netCDF file under it. From the per-snapshot series of analysis.nc (:func:`study_metrics`):

- H_rho, CI_rho and CI_omega at the snapshots i = floor(q n), q = 0, 1/4, 1/2, 3/4,
  of the n snapshots (the study's "0 / 25 / 50 / 75 % of the run");
- mean Gamma = <std(rho) rms(omega)>_t, the entropy growth rates
  (H_last - H_first) / (t_last - t_first) of rho and omega, the stage complexity of
  (CI_rho + CI_omega)/2, and its normalised value: divided by the largest stage mean
  over all compared runs, as the study does;
- the physical scalars of analysis.nc (:data:`PHYSICAL`).

One pass over each run's snapshots (:func:`scan_fields`) draws ``samples`` space-time
points of rho and omega with one generator seeded with ``seed`` (runs in the order
given) and records max |omega| everywhere and away from walls. Kruskal-Wallis and
pairwise two-sided Mann-Whitney U with Holm correction
(:func:`billow.analysis.kh2d.compare_groups`) compare the runs' samples (rank tests:
unchanged by one increasing map of all runs' values, but not by per-run changes of units).

Everything is in billow's units (lengths d, velocities U0) with the density of
:mod:`billow.analysis.report`; Gamma and the published CI's gradient term depend on
those units (see :mod:`billow.analysis.kh2d`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BillowError
from ..io.atomic import write_netcdf_atomically, write_text_atomically
from ..io.rundir import open_run, require_run_directory
from ..viz.compare_plots import plot_compare_bars, plot_compare_timeseries
from . import kh2d
from .report import GRAVITY, RHO0, analyze_run, background_n2

QUARTILES = (0.0, 0.25, 0.5, 0.75)
SERIES = (  # analysis.nc series behind the study's metrics, in study_metrics' order
    "shannon_entropy_rho",
    "shannon_entropy_vorticity",
    "complexity_rho",
    "complexity_vorticity",
    "gamma",
)
STAGES = ("early", "growth", "mature", "late")
FIELDS = ("rho", "vorticity")
WALL_MARGIN = 0.1  # max |omega| "away from walls": at least this fraction of Lz from them
PARAMETERS = ("nx", "nz", "Lx", "Lz", "Re", "Ri", "t_end")
PHYSICAL = {  # analysis.nc scalar -> label
    "cumulative_mixing_efficiency": "cumulative mixing efficiency E_c",
    "growth_rate": "growth rate σ (U0/d)",
    "max_ape": "max APE",
    "dye_entropy_initial": "dye entropy S, initial",
    "dye_entropy_final": "dye entropy S, final",
    "vorticity_thickness_final": "vorticity thickness δ_ω, final",
    "buoyancy_thickness_final": "buoyancy thickness δ_b, final",
}


@dataclass(frozen=True)
class StudyMetrics:
    """The kh2d study's table for one run."""

    entropy_rho: np.ndarray  # H_rho at QUARTILES
    complexity_rho: np.ndarray  # CI_rho at QUARTILES
    complexity_vorticity: np.ndarray  # CI_omega at QUARTILES
    mean_gamma: float
    entropy_growth_rate_rho: float
    entropy_growth_rate_vorticity: float
    stages: kh2d.StageComplexity  # of (CI_rho + CI_omega)/2


def quartile_indices(n: int) -> np.ndarray:
    """Snapshot indices floor(q n) for q in QUARTILES."""
    return np.array([int(q * n) for q in QUARTILES])


def study_metrics(
    t: np.ndarray,
    entropy_rho: np.ndarray,
    entropy_vorticity: np.ndarray,
    complexity_rho: np.ndarray,
    complexity_vorticity: np.ndarray,
    gamma: np.ndarray,
) -> StudyMetrics:
    """The study's metrics from per-snapshot series (at least 4 snapshots)."""
    if len(t) < 4:
        raise BillowError(f"need at least 4 snapshots for the study's metrics, got {len(t)}")
    picks = quartile_indices(len(t))
    return StudyMetrics(
        entropy_rho=np.asarray(entropy_rho)[picks],
        complexity_rho=np.asarray(complexity_rho)[picks],
        complexity_vorticity=np.asarray(complexity_vorticity)[picks],
        mean_gamma=float(np.mean(gamma)),
        entropy_growth_rate_rho=kh2d.entropy_growth_rate(t, entropy_rho),
        entropy_growth_rate_vorticity=kh2d.entropy_growth_rate(t, entropy_vorticity),
        stages=kh2d.stage_complexity(
            0.5 * (np.asarray(complexity_rho) + np.asarray(complexity_vorticity))
        ),
    )


def normalised_complexity(metrics: Sequence[StudyMetrics]) -> np.ndarray:
    """Overall stage complexity of each run / the largest stage mean of all runs."""
    largest = max(max(m.stages.stages) for m in metrics)
    return np.array([m.stages.overall / largest for m in metrics])


def report_density(b: np.ndarray) -> np.ndarray:
    """rho of :mod:`billow.analysis.report`: rho0 (1 - b/g), rho0 = RHO0, g = GRAVITY."""
    return kh2d.density_from_buoyancy(b, RHO0, GRAVITY)


@dataclass(frozen=True)
class FieldScan:
    samples: dict[str, np.ndarray]  # FIELDS -> seeded space-time sample
    max_vorticity: float
    max_vorticity_interior: float  # at least WALL_MARGIN Lz from walls (everywhere if periodic)


def scan_fields(
    run_dir: Path,
    samples: int,
    rng: np.random.Generator,
    density: Callable[[np.ndarray], np.ndarray] = report_density,
    vorticity: Callable[[np.ndarray], np.ndarray] = np.asarray,
) -> FieldScan:
    """One pass over the snapshots: ``samples`` points of rho = density(b) (b the total
    buoyancy) and of vorticity(omega), drawn without replacement from all (time, z, x),
    and max |omega| (billow's omega)."""

    with open_run(run_dir) as fields:
        n2, _ = background_n2(dict(fields.attrs))
        z = fields["z"].values.astype(float)
        nt, nz, nx = (fields.sizes[name] for name in ("time", "z", "x"))
        dz = float(z[1] - z[0]) if nz > 1 else float(fields.attrs["Lz"])
        from_walls = np.minimum(z - (z[0] - dz / 2), (z[-1] + dz / 2) - z)
        periodic = str(fields.attrs.get("bc_z", "")) == "periodic"
        interior = periodic | (from_walls >= WALL_MARGIN * nz * dz)
        picks = np.sort(rng.choice(nt * nz * nx, size=min(samples, nt * nz * nx), replace=False))
        bounds = np.searchsorted(picks, np.arange(nt + 1) * nz * nx)
        drawn: dict[str, list[np.ndarray]] = {name: [] for name in FIELDS}
        largest = largest_interior = 0.0
        for i in range(nt):  # one snapshot in memory at a time
            b = fields["b"].isel(time=i).values + n2 * z[:, None]
            omega = fields["vorticity"].isel(time=i).values
            largest = max(largest, float(np.max(np.abs(omega))))
            if interior.any():
                largest_interior = max(largest_interior, float(np.max(np.abs(omega[interior]))))
            cells = picks[bounds[i] : bounds[i + 1]] - i * nz * nx
            drawn["rho"].append(density(b.ravel()[cells]))
            drawn["vorticity"].append(vorticity(omega.ravel()[cells]))
    return FieldScan(
        {name: np.concatenate(parts) for name, parts in drawn.items()}, largest, largest_interior
    )


@dataclass
class RunRecord:
    label: str
    run_dir: Path
    analysis: object  # xarray.Dataset: analysis.nc, loaded
    metrics: StudyMetrics
    scan: FieldScan


@dataclass(frozen=True)
class Comparison:
    runs: list[RunRecord]
    tests: dict[str, kh2d.GroupComparison]  # FIELDS -> Kruskal-Wallis and pairwise tests
    dataset: object  # xarray.Dataset: the content of compare.nc
    paths: list[Path]  # compare.md, compare.nc, compare.csv and the figures


def _check_run_directories(run_dirs: Sequence[str | Path]) -> list[Path]:
    run_dirs = [Path(d) for d in run_dirs]
    if len(run_dirs) < 2:
        raise BillowError(f"compare needs at least 2 run directories, got {len(run_dirs)}")
    seen: set[Path] = set()
    for run_dir in run_dirs:
        require_run_directory(run_dir, containing="fields.nc")
        if run_dir.resolve() in seen:
            raise BillowError(f"run directory '{run_dir}' is given twice")
        seen.add(run_dir.resolve())
    return run_dirs


def _labels(run_dirs: list[Path]) -> list[str]:
    """Directory names, or the paths as given where names repeat."""
    names = [d.name for d in run_dirs]
    return names if len(set(names)) == len(names) else [str(d) for d in run_dirs]


def analysis_is_current(run_dir: Path) -> bool:
    """analysis.nc exists and is newer than config.toml and every other .nc of the run."""
    analysis = run_dir / "analysis.nc"
    if not analysis.is_file():
        return False
    outputs = [run_dir / "config.toml", *run_dir.rglob("*.nc")]
    newest = max(p.stat().st_mtime_ns for p in outputs if p.is_file() and p != analysis)
    return analysis.stat().st_mtime_ns > newest


def load_analysis(run_dir: Path):
    """analysis.nc of a run (loaded), made afresh by analyze_run unless it is current."""
    import xarray as xr  # on use: billow run does not need xarray

    if not analysis_is_current(run_dir):
        analyze_run(run_dir)
    with xr.open_dataset(run_dir / "analysis.nc", engine="h5netcdf") as dataset:
        return dataset.load()


def compare_runs(
    run_dirs: Sequence[str | Path],
    out: str | Path = "compare",
    samples: int = 10000,
    seed: int = 0,
) -> Comparison:
    """Compare runs; write compare.md, compare.nc, compare.csv and figures/ into ``out``."""
    run_dirs = _check_run_directories(run_dirs)
    if samples < 2:
        raise BillowError(f"samples must be at least 2, got {samples}")
    out = Path(out)
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BillowError(f"cannot create output directory {out}: {error.strerror}") from None
    rng = np.random.default_rng(seed)
    runs = []
    for label, run_dir in zip(_labels(run_dirs), run_dirs):
        analysis = load_analysis(run_dir)
        try:
            metrics = study_metrics(analysis["time"].values, *(analysis[n].values for n in SERIES))
        except BillowError as error:
            raise BillowError(f"{run_dir}: {error}") from None
        runs.append(
            RunRecord(label, run_dir, analysis, metrics, scan_fields(run_dir, samples, rng))
        )
    tests = {
        name: kh2d.compare_groups(
            {run.label: run.scan.samples[name] for run in runs}, n=samples, seed=seed
        )
        for name in FIELDS
    }
    dataset = comparison_dataset(runs, tests, samples, seed)
    write_netcdf_atomically(dataset, out / "compare.nc")
    write_text_atomically(out / "compare.csv", comparison_table(dataset).to_csv())
    write_text_atomically(out / "compare.md", comparison_markdown(dataset))

    paths = [
        out / "compare.md",
        out / "compare.nc",
        out / "compare.csv",
        plot_compare_timeseries(runs, out / "figures" / "compare_timeseries.png"),
        plot_compare_bars(dataset, out / "figures" / "compare_bars.png"),
    ]
    return Comparison(runs, tests, dataset, paths)


def _scalar(attrs: dict, name: str) -> float:
    try:
        return float(attrs[name])
    except (KeyError, TypeError, ValueError):
        return math.nan


def comparison_dataset(
    runs: list[RunRecord], tests: dict[str, kh2d.GroupComparison], samples: int, seed: int
):
    """compare.nc: per-run metrics on (run[, quartile | stage]), tests on (field[, pair])."""
    import xarray as xr  # on use: billow run does not need xarray

    pairs = list(tests[FIELDS[0]].pairwise)
    per_run = {
        "case": ("run", [str(r.analysis.attrs.get("case", "unknown")) for r in runs]),
        "run_dir": ("run", [str(r.run_dir) for r in runs]),
        **{p: ("run", [_scalar(r.analysis.attrs, p) for r in runs]) for p in PARAMETERS},
        "entropy_rho": (("run", "quartile"), [r.metrics.entropy_rho for r in runs]),
        "complexity_rho": (("run", "quartile"), [r.metrics.complexity_rho for r in runs]),
        "complexity_vorticity": (
            ("run", "quartile"),
            [r.metrics.complexity_vorticity for r in runs],
        ),
        "mean_gamma": ("run", [r.metrics.mean_gamma for r in runs]),
        "entropy_growth_rate_rho": ("run", [r.metrics.entropy_growth_rate_rho for r in runs]),
        "entropy_growth_rate_vorticity": (
            "run",
            [r.metrics.entropy_growth_rate_vorticity for r in runs],
        ),
        "stage_complexity": (("run", "stage"), [r.metrics.stages.stages for r in runs]),
        "overall_complexity": ("run", [r.metrics.stages.overall for r in runs]),
        "normalised_complexity": ("run", normalised_complexity([r.metrics for r in runs])),
        **{p: ("run", [_scalar(r.analysis.attrs, p) for r in runs]) for p in PHYSICAL},
        "max_vorticity": ("run", [r.scan.max_vorticity for r in runs]),
        "max_vorticity_interior": ("run", [r.scan.max_vorticity_interior for r in runs]),
    }
    statistics = {
        "kruskal_statistic": ("field", [tests[f].kruskal.statistic for f in FIELDS]),
        "kruskal_pvalue": ("field", [tests[f].kruskal.pvalue for f in FIELDS]),
        "mannwhitney_statistic": (
            ("field", "pair"),
            [[tests[f].pairwise[p].statistic for p in pairs] for f in FIELDS],
        ),
        "mannwhitney_pvalue": (
            ("field", "pair"),
            [[tests[f].pairwise[p].pvalue for p in pairs] for f in FIELDS],
        ),
        "mannwhitney_pvalue_holm": (
            ("field", "pair"),
            [[tests[f].pairwise[p].pvalue_holm for p in pairs] for f in FIELDS],
        ),
    }
    return xr.Dataset(
        {**per_run, **statistics},
        coords={
            "run": [r.label for r in runs],
            "quartile": ("quartile", list(QUARTILES), {"long_name": "fraction of the run"}),
            "stage": list(STAGES),
            "field": list(FIELDS),
            "pair": [f"{a} vs {b}" for a, b in pairs],
        },
        attrs={
            "title": "billow comparison of runs",
            "Conventions": "CF-1.8",
            "samples": samples,
            "seed": seed,
            "density_mapping": f"rho = rho0 (1 - b/g), rho0 = {RHO0}, g = {GRAVITY}",
            "normalised_complexity": "overall complexity / largest stage mean over all runs",
        },
    )


def comparison_table(dataset):
    """compare.csv: one row per run, quartile and stage values as separate columns."""
    import pandas as pd  # on use: billow run does not need pandas

    columns = {}
    for name, variable in dataset.data_vars.items():
        if variable.dims == ("run",):
            columns[name] = variable.values
        elif variable.dims == ("run", "quartile"):
            for j, q in enumerate(QUARTILES):
                columns[f"{name}_{round(100 * q)}pct"] = variable.values[:, j]
        elif variable.dims == ("run", "stage"):
            for j, stage in enumerate(STAGES):
                columns[f"{name}_{stage}"] = variable.values[:, j]
    return pd.DataFrame(columns, index=pd.Index(dataset["run"].values, name="run"))


def _fmt(value: float, digits: int = 4) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}g}"


def _joined(values: Sequence[float]) -> str:
    return " / ".join(_fmt(v) for v in values)


def comparison_markdown(ds) -> str:
    """compare.md: the study's table (runs as columns), physical metrics and the tests."""
    labels = list(ds["run"].values)

    def row(name: str, cells: Sequence[str]) -> str:
        return f"| {name} | " + " | ".join(cells) + " |"

    def per_run(name: str) -> list[str]:
        return [_fmt(float(v)) for v in ds[name].values]

    header = [row("", labels), row("---", ["---"] * len(labels))]
    lines = [
        "# billow compare",
        "",
        "Runs: " + ", ".join(f"`{label}` ({d})" for label, d in zip(labels, ds["run_dir"].values)),
        "",
        "## Runs",
        *header,
        row("case", [str(c) for c in ds["case"].values]),
        *(row(p, per_run(p)) for p in PARAMETERS),
        "",
        "## kh2d-study metrics",
        "Snapshots at 0 / 25 / 50 / 75 % of each run. ρ = ρ0 (1 − b/g) with "
        f"ρ0 = {RHO0}, g = {GRAVITY}, b in units of U0²/d, ω in U0/d: Γ and the published CI's "
        "gradient term depend on these units, H and the normalised terms do not.",
        "",
        *header,
        row("Shannon entropy H_ρ", [_joined(v) for v in ds["entropy_rho"].values]),
        row("complexity CI_ρ", [_joined(v) for v in ds["complexity_rho"].values]),
        row("complexity CI_ω", [_joined(v) for v in ds["complexity_vorticity"].values]),
        row("mean Γ = std(ρ)·rms(ω)", per_run("mean_gamma")),
        row(
            "entropy growth rate (ρ, ω)",
            [
                f"{_fmt(float(a))}, {_fmt(float(b))}"
                for a, b in zip(
                    ds["entropy_growth_rate_rho"].values,
                    ds["entropy_growth_rate_vorticity"].values,
                )
            ],
        ),
        row(
            "stage complexity (early/growth/mature/late)",
            [_joined(v) for v in ds["stage_complexity"].values],
        ),
        row("overall complexity", per_run("overall_complexity")),
        row("normalised overall complexity", per_run("normalised_complexity")),
        "",
        "## Physical metrics",
        *header,
        *(row(label, per_run(name)) for name, label in PHYSICAL.items()),
        row("max \\|ω\\|", per_run("max_vorticity")),
        row(
            f"max \\|ω\\| at least {WALL_MARGIN:g} Lz from walls", per_run("max_vorticity_interior")
        ),
        "",
        "## Statistical tests",
        f"{ds.attrs['samples']} space-time points of ρ and ω per run, drawn without "
        f"replacement (seed {ds.attrs['seed']}); Kruskal–Wallis across all runs, pairwise "
        "two-sided Mann–Whitney U with Holm correction.",
        "",
        "| field | Kruskal–Wallis H | p |",
        "| --- | --- | --- |",
        *(
            f"| {f} | {_fmt(float(ds['kruskal_statistic'].sel(field=f)))} | "
            f"{_fmt(float(ds['kruskal_pvalue'].sel(field=f)), 3)} |"
            for f in FIELDS
        ),
        "",
        "| pair | field | U | p | p (Holm) |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {pair} | {f} | {_fmt(float(ds['mannwhitney_statistic'].sel(field=f, pair=pair)))}"
            f" | {_fmt(float(ds['mannwhitney_pvalue'].sel(field=f, pair=pair)), 3)}"
            f" | {_fmt(float(ds['mannwhitney_pvalue_holm'].sel(field=f, pair=pair)), 3)} |"
            for pair in ds["pair"].values
            for f in FIELDS
        ),
        "",
        "Files: `compare.nc`, `compare.csv`, `figures/compare_timeseries.png`, "
        "`figures/compare_bars.png`.",
    ]
    return "\n".join(lines) + "\n"
