"""The kh2d-solver study (Herho et al. 2025) redone with billow; writes docs/kh2d_study.md.

The four shipped kh2d-solver configurations (examples/kh2d_configs/) are mapped onto
billow cases by billow.kh2d_config (as `billow run --from-kh2d` does), run at the
study's grids and times, compared with billow.analysis.compare (the study's metrics in
billow's units, the physical metrics, the rank tests), and the study's metrics are also
computed in kh2d's own units (its rho, omega = dw/dx - du/dz and time) so that they
stand beside the published numbers. Run by `make validate`:

    python examples/kh2d_study.py [--runs runs/kh2d_study] [--out docs] [--reuse]

--reuse keeps finished runs in --runs (their wall times come from timings.json).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import billow
from billow.analysis import kh2d
from billow.analysis.compare import compare_runs, normalised_complexity, study_metrics
from billow.cases import get_case
from billow.kh2d_config import Kh2dMapping, load_kh2d

CONFIGS = Path(__file__).parent / "kh2d_configs"
SCENARIOS = {  # label -> kh2d config file
    "basic": "basic_shear.txt",
    "double": "double_shear.txt",
    "rotating": "rotating.txt",
    "forced": "forced.txt",
}
# /work/shared/kh2d_study_values.md: the study's supplementary statistics (snapshots at
# 0 / 25 / 50 / 75 % of each run) and abstracts (arXiv 2509.16080 v1; ACM 2025)
PUBLISHED = {
    "entropy_rho": {
        "basic": (1.667, 2.306, 2.222, 2.340),
        "double": (0.608, 2.515, 2.224, 1.982),
        "rotating": (1.644, 2.211, 2.177, 2.160),
        "forced": (1.678, 1.955, 2.177, 2.091),
    },
    "complexity_rho": {
        "basic": (0.811, 0.794, 0.883, 0.945),
        "double": (0.445, 0.978, 0.829, 0.842),
        "rotating": (0.805, 0.875, 0.851, 0.845),
        "forced": (0.814, 0.825, 0.944, 0.923),
    },
    "complexity_vorticity": {
        "basic": (1.473, 2.520, 2.315, 2.341),
        "double": (1.495, 2.543, 2.737, 2.403),
        "rotating": (1.474, 2.659, 2.714, 2.750),
        "forced": (1.521, 2.609, 2.738, 2.695),
    },
    "mean_gamma": {"basic": 0.456, "double": 1.287, "rotating": 0.761, "forced": 0.302},
    "entropy_growth_rate": {
        "basic": (0.067, -0.064),
        "double": (0.090, -0.036),
        "rotating": (0.026, -0.030),
        "forced": (0.012, -0.041),
    },
    "normalised_complexity": {"basic": 0.800, "double": 0.845, "rotating": 0.881, "forced": 0.907},
    "realised_Ri": {"basic": 0.012, "rotating": 0.021, "forced": 0.0037},
}
SAMPLES, SEED = 10000, 0  # the study's sample size; billow seeds it


def run_scenarios(runs: Path, reuse: bool) -> tuple[dict[str, Kh2dMapping], dict[str, float]]:
    """Map and run the four configurations; returns the mappings and wall times (s)."""
    timings_path = runs / "timings.json"
    timings = json.loads(timings_path.read_text()) if reuse and timings_path.is_file() else {}
    mappings = {}
    for label, name in SCENARIOS.items():
        mapping = load_kh2d(CONFIGS / name)
        mappings[label] = mapping
        run_dir = runs / label
        if reuse and label in timings and (run_dir / "fields.nc").is_file():
            continue
        params = get_case(mapping.case).make_params(**mapping.params)
        print(f"running {label}: {mapping.case} {params.nx}x{params.nz} to t = {params.t_end:g}")
        start = time.perf_counter()
        billow.run_case(mapping.case, params, run_dir, overwrite=True)
        timings[label] = time.perf_counter() - start
        runs.mkdir(parents=True, exist_ok=True)
        timings_path.write_text(json.dumps(timings, indent=1))
    return mappings, timings


def kh2d_unit_metrics(run_dir: Path, mapping: Kh2dMapping):
    """The study's metrics of a run in kh2d's units (rho, omega, time as kh2d has them)."""
    units = mapping.units
    names = ("entropy_rho", "entropy_vorticity", "complexity_rho", "complexity_vorticity")
    series: dict[str, list[float]] = {name: [] for name in (*names, "gamma")}
    with billow.open_run(run_dir) as fields:
        t = units.time(fields["time"].values)
        for i in range(t.size):
            rho = units.density(fields["b"].isel(time=i).values)
            omega = units.vorticity(fields["vorticity"].isel(time=i).values)
            series["entropy_rho"].append(kh2d.shannon_entropy(rho))
            series["entropy_vorticity"].append(kh2d.shannon_entropy(omega))
            series["complexity_rho"].append(kh2d.complexity_index(rho))
            series["complexity_vorticity"].append(kh2d.complexity_index(omega))
            series["gamma"].append(kh2d.gamma_mixing(rho, omega))
    metrics = study_metrics(t, *(np.array(series[name]) for name in (*names, "gamma")))
    return metrics, np.array(series["gamma"])


def fmt(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if np.isfinite(value) else "n/a"


def quad(values) -> str:
    return " / ".join(f"{v:.3f}" for v in values)


def report(mappings, timings, comparison, kh2d_metrics, gammas) -> str:
    ds = comparison.dataset
    labels = list(SCENARIOS)
    normalised = dict(zip(labels, normalised_complexity([kh2d_metrics[k] for k in labels])))
    total = sum(timings.values())

    def physical(name: str, label: str) -> float:
        return float(ds[name].sel(run=label))

    def table(rows: list[tuple[str, str, list[str]]]) -> list[str]:
        lines = ["| metric | | " + " | ".join(labels) + " |", "|---|---|" + "---|" * len(labels)]
        for name, source, cells in rows:
            lines.append(f"| {name} | {source} | " + " | ".join(cells) + " |")
        return lines

    m = kh2d_metrics
    p = PUBLISHED
    study_rows = []
    for key, name in (
        ("entropy_rho", "Shannon entropy H_ρ"),
        ("complexity_rho", "complexity CI_ρ"),
        ("complexity_vorticity", "complexity CI_ω"),
    ):
        study_rows += [
            (name, "published", [quad(p[key][k]) for k in labels]),
            ("", "billow", [quad(getattr(m[k], key)) for k in labels]),
        ]
    study_rows += [
        ("mean Γ = std(ρ)·rms(ω)", "published", [f"{p['mean_gamma'][k]:.3f}" for k in labels]),
        ("", "billow", [f"{m[k].mean_gamma:.3f}" for k in labels]),
        (
            "entropy growth rate (ρ, ω) per kh2d time unit",
            "published",
            [", ".join(f"{v:.3f}" for v in p["entropy_growth_rate"][k]) for k in labels],
        ),
        (
            "",
            "billow",
            [
                f"{m[k].entropy_growth_rate_rho:.3f}, {m[k].entropy_growth_rate_vorticity:.3f}"
                for k in labels
            ],
        ),
        (
            "normalised overall complexity",
            "published",
            [f"{p['normalised_complexity'][k]:.3f}" for k in labels],
        ),
        ("", "billow", [f"{normalised[k]:.3f}" for k in labels]),
    ]
    gamma_ratio = m["double"].mean_gamma / m["forced"].mean_gamma
    gamma0_ratio = gammas["double"][0] / gammas["forced"][0]
    efficiency = {k: physical("cumulative_mixing_efficiency", k) for k in labels}
    speed = {k: mappings[k].units.U0 / mappings[k].units.d for k in labels}  # omega: U0/d
    lines = [
        "# The kh2d-solver study redone with billow",
        "",
        "Generated by `python examples/kh2d_study.py` (part of `make validate`). The four",
        "configurations kh2d-solver 0.1.6 ships (`examples/kh2d_configs/`) are mapped onto",
        "billow cases by `billow run --from-kh2d` (`billow.kh2d_config`), run at the study's",
        "grids and durations, and analysed with `billow compare`. Published values: Herho et",
        "al. (2025), supplementary statistics and abstracts (arXiv 2509.16080 v1; Applied and",
        "Computational Mechanics, doi 10.24132/acm.2025.1040).",
        "",
        f"Run time: {total:.0f} s for the four runs on this 2-core machine "
        + "("
        + ", ".join(f"{k} {timings[k]:.0f} s" for k in labels)
        + "); kh2d-solver's forced case alone took 477 s here (31 min reported).",
        "",
        "## The runs as billow sees them",
        "",
        "kh2d-solver is scaled by its box (2 × 1) and velocity jump, with ν = 1/reynolds and a",
        "buoyancy force −9.81·richardson·(ρ − 1). In billow's units (shear-layer half-thickness",
        "d, half the velocity jump U0) its scenarios are:",
        "",
        "| | basic | double | rotating | forced |",
        "|---|---|---|---|---|",
    ]
    rows = (
        ("billow case", lambda k: mappings[k].case),
        ("grid nx × nz", lambda k: f"{mappings[k].params['nx']} × {mappings[k].params['nz']}"),
        (
            "Lx × Lz (units of d)",
            lambda k: f"{mappings[k].params['Lx']:g} × {mappings[k].params['Lz']:g}",
        ),
        ("Re = U0 d/ν", lambda k: f"{mappings[k].params['Re']:g}"),
        (
            'study\'s "Ri" (gravity scale)',
            lambda k: {"basic": "0.25", "double": "0.1", "rotating": "0.3", "forced": "0.15"}[k],
        ),
        ("true centre Ri = N²/S²", lambda k: f"{mappings[k].params['Ri']:.4f}"),
        ("published realised Ri", lambda k: str(p["realised_Ri"].get(k, "—"))),
        ("t_end (units of d/U0)", lambda k: f"{mappings[k].params['t_end']:g}"),
    )
    for name, cell in rows:
        lines.append(f"| {name} | " + " | ".join(cell(k) for k in labels) + " |")
    lines += [
        "",
        'The study\'s "Ri 0.1–0.3" is a gravity scale: the gradient Richardson number at the',
        "interfaces is 0.004–0.02, far below the 1/4 of Miles–Howard, so every scenario is",
        "practically unstratified shear (Ri is a hundredth of what would damp the instability),",
        "and the Reynolds numbers of the shear layers are 50–250, not 1000–5000. Walls are",
        "no-slip as in kh2d-solver (the base flow, ±U0 at the walls, is stopped there); billow's",
        "double shear is stably stratified at both interfaces (kh2d-solver's density step is",
        "heavy-over-light at the upper one); billow's rotating case has a Coriolis force",
        "(f = 2Ω, Ro = 20), kh2d-solver's only adds a linear shear Ω(z − lz/2) to u; billow's",
        "forced case forces all along, with the band and total energy of kh2d-solver's t = 0",
        "kick. Advection is billow's fifth-order upwind scheme, not first-order upwind.",
        "",
        "## The study's metrics: published vs billow",
        "",
        "billow's values here are computed in kh2d-solver's units (ρ with its densities and",
        "g' = 9.81·richardson, ω = ∂w/∂x − ∂u/∂z in 1/s, time in its seconds) from billow's",
        "snapshots, at 0 / 25 / 50 / 75 % of each run.",
        "",
        *table(study_rows),
        "",
        "## Physical metrics (billow's units)",
        "",
        *table(
            [
                (
                    "cumulative mixing efficiency E_c",
                    "∫M/(∫M+∫ε)",
                    [fmt(efficiency[k]) for k in labels],
                ),
                ("growth rate σ (U0/d)", "fit", [fmt(physical("growth_rate", k)) for k in labels]),
                ("max APE", "", [fmt(physical("max_ape", k)) for k in labels]),
                (
                    "dye entropy S initial → final",
                    "",
                    [
                        f"{fmt(physical('dye_entropy_initial', k))} → "
                        f"{fmt(physical('dye_entropy_final', k))}"
                        for k in labels
                    ],
                ),
                (
                    "vorticity thickness δ_ω final (d)",
                    "",
                    [fmt(physical("vorticity_thickness_final", k)) for k in labels],
                ),
                (
                    "max \\|ω\\| (1/s, kh2d units)",
                    "everywhere",
                    [fmt(physical("max_vorticity", k) * speed[k]) for k in labels],
                ),
                (
                    "",
                    "≥ 0.1 Lz from walls",
                    [fmt(physical("max_vorticity_interior", k) * speed[k]) for k in labels],
                ),
            ]
        ),
        "",
        "## Where and why a correct solver disagrees",
        "",
        '- **"Mixing rates" (Γ).** The headline "double shear layers mix 4.3× (2.8×) more',
        '  than forced turbulence" is the ratio of mean Γ = std(ρ)·rms(ω): published 4.26,',
        f"  billow {gamma_ratio:.2f}. But Γ is not a mixing rate: std(ρ) is set by the density",
        "  contrast (0.5 in the double shear, 0.1 in the forced case) and rms(ω) by U0/d and",
        "  the number of shear layers. At t = 0, before anything has mixed, Γ's ratio is",
        f"  already {gamma0_ratio:.2f} in billow. The energetic mixing efficiency",
        f"  E_c = ∫M/(∫M+∫ε) (Winters et al. 1995) is {fmt(efficiency['double'])} (double) vs",
        f"  {fmt(efficiency['forced'])} (forced): with Ri ≈ 0.004–0.02 hardly any kinetic",
        "  energy goes into mixing in any scenario.",
        "- **Maximum vorticity.** With no-slip walls and ±U0 at the walls the largest |ω| sits",
        "  in the wall boundary layers from the first step (the base flow is stopped there); it",
        "  measures the wall, not the billows. Away from the walls (≥ 0.1 Lz) |ω| is bounded by",
        "  the initial U0/d.",
        "- **Entropy trends.** The Shannon entropy of a 50-bin histogram measures the shape of",
        "  the value distribution, not mixing: it rises when the two-layer density histogram",
        "  fills in and falls again as the mixed layer homogenises or the walls' boundary layers",
        '  take over the vorticity histogram; its "growth rate" (last − first)/Δt depends on',
        "  where the run stops. The vorticity entropy (and CI_ω) also depend on the wall",
        "  boundary layers.",
        '- **True Ri.** See the table above: the "Ri = 0.1–0.3" scenarios are not near the',
        "  Ri = 1/4 threshold; kh2d-solver's growth rates are those of a nearly unstratified",
        "  layer at Re = 50–250 damped by its first-order upwind scheme (4–13× the physical",
        "  viscosity).",
        "- **Statistics.** Rank tests on 10 000 space-time points per run; billow seeds the",
        "  sample and corrects for multiple comparisons (Holm). See below.",
        "",
        "## Statistical tests (billow, seeded, Holm-corrected)",
        "",
        "Published: all rejected at p ≈ 0 except vorticity basic-vs-double (p = 0.144) and",
        "basic-vs-forced (p = 0.195), unseeded and uncorrected.",
        "",
        "| field | Kruskal–Wallis H | p |",
        "|---|---|---|",
    ]
    for field in ("rho", "vorticity"):
        lines.append(
            f"| {field} | {float(ds['kruskal_statistic'].sel(field=field)):.4g} | "
            f"{float(ds['kruskal_pvalue'].sel(field=field)):.3g} |"
        )
    lines += ["", "| pair | field | p | p (Holm) |", "|---|---|---|---|"]
    for pair in ds["pair"].values:
        for field in ("rho", "vorticity"):
            selected = {"field": field, "pair": pair}
            lines.append(
                f"| {pair} | {field} | {float(ds['mannwhitney_pvalue'].sel(selected)):.3g} | "
                f"{float(ds['mannwhitney_pvalue_holm'].sel(selected)):.3g} |"
            )
    lines += [
        "",
        "The cross-run table in billow's own units is in `runs/kh2d_study/compare/compare.md`.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs/kh2d_study"))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--reuse", action="store_true", help="keep finished runs in --runs")
    args = parser.parse_args()
    mappings, timings = run_scenarios(args.runs, args.reuse)
    run_dirs = [args.runs / label for label in SCENARIOS]
    comparison = compare_runs(run_dirs, out=args.runs / "compare", samples=SAMPLES, seed=SEED)
    metrics, gammas = {}, {}
    for label, run_dir in zip(SCENARIOS, run_dirs):
        metrics[label], gammas[label] = kh2d_unit_metrics(run_dir, mappings[label])
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "kh2d_study.md"
    path.write_text(report(mappings, timings, comparison, metrics, gammas))
    print(f"wrote {path} (runs: {sum(timings.values()):.0f} s)")


if __name__ == "__main__":
    main()
