"""Validation report: billow against linear stability theory and published numbers.

Writes docs/validation.md and docs/figures/*.png. Run by `make validate`
(a few minutes on 2 cores):

    python examples/validation_report.py [--out docs]

1. The linear stability solver against published growth rates.
2. The nonlinear solver (shear_layer, hold_base = true, eigenmode seeding) against
   the eigenvalue for the same domain, Re, Ri, Pr, and its grid convergence.
3. The solver's growth rate over k against the theoretical curve sigma(k).
4. Lecoanet et al. (2016): growth of the k = 2 pi mode and the initial dye entropy.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from billow.analysis import simulate_growth
from billow.cases import get_case
from billow.linear import stability
from billow.viz.stability_plots import plot_growth_curve, plot_stability_diagram, pyplot

INVISCID = {  # Ri: (k_max, sigma_max), walls at +-15
    0.0: (0.445, 0.1897),
    0.05: (0.442, 0.1593),
    0.10: (0.444, 0.1259),
    0.15: (0.452, 0.0889),
    0.20: (0.471, 0.0471),
    0.22: (0.479, 0.0288),
}
VISCOUS = {  # (Re, Ri): sigma_max, Pr = 1, free-slip walls at +-15
    (1000, 0.0): 0.18809,
    (1000, 0.05): 0.15759,
    (1000, 0.10): 0.12412,
    (1000, 0.15): 0.08690,
    (1000, 0.20): 0.04504,
    (1000, 0.22): 0.02682,
    (5000, 0.0): 0.18937,
    (5000, 0.05): 0.15895,
    (5000, 0.10): 0.12557,
    (5000, 0.15): 0.08846,
    (5000, 0.20): 0.04671,
    (5000, 0.22): 0.02852,
}
RE, LZ, K = 1000.0, 10.0, 0.44


def stability_tables() -> list[str]:
    lines = [
        "## 1. Linear stability solver vs published values",
        "",
        "Inviscid tanh layer, N² = Ri sech² z, walls at ±15 (Michalke 1964 for Ri = 0):",
        "",
        "| Ri | k_max ref | k_max billow | σ_max ref | σ_max billow |",
        "|---|---|---|---|---|",
    ]
    for Ri, (k_ref, sigma_ref) in INVISCID.items():
        mode = stability.fastest_growing(*stability.tanh_profiles(Ri), Lz=30.0)
        lines.append(f"| {Ri:.2f} | {k_ref} | {mode.k:.4f} | {sigma_ref} | {mode.sigma.real:.5f} |")
    lines += [
        "",
        "Viscous, Pr = 1, free-slip walls at ±15, σ_max:",
        "",
        "| Re | Ri | reference | billow | difference |",
        "|---|---|---|---|---|",
    ]
    for (Re, Ri), reference in VISCOUS.items():
        mode = stability.fastest_growing(*stability.tanh_profiles(Ri), Re=Re, Lz=30.0)
        sigma = mode.sigma.real
        lines.append(
            f"| {Re} | {Ri:.2f} | {reference:.5f} | {sigma:.6f} | {sigma - reference:+.1e} |"
        )
    figures = Path(__file__).resolve().parents[1] / "docs" / "figures"
    lines += stability_figures(figures)
    mode = stability.most_unstable_mode(*stability.tanh_profiles(0.1), 0.44, Re=1000, Lz=10.0)
    lines += [
        "",
        "Walls at ±5, Re = 1000, Ri = 0.1, k = 0.44: "
        f"reference 0.12045, billow {mode.sigma.real:.6f}.",
        "",
    ]
    return lines


def stability_figures(figures: Path) -> list[str]:
    """sigma(k) for Re = 1000, Ri = 0.1 and the (k, Ri) stability diagram, walls at +-15."""
    figures.mkdir(parents=True, exist_ok=True)
    ks = np.linspace(0.02, 1.0, 50)
    U, B = stability.tanh_profiles(0.1)
    mode = stability.fastest_growing(U, B, Re=1000, Lz=30.0)
    rates = stability.growth_rate_curve(U, B, ks, Re=1000, Lz=30.0)
    title = "Re = 1000, Pr = 1, free-slip walls at ±15"
    plot_growth_curve(
        ks,
        rates,
        mode.k,
        mode.sigma.real,
        title + ", Ri = 0.1",
        figures / "stability_growth_rate.png",
    )
    richardson = np.linspace(0.0, 0.3, 13)
    diagram_ks = np.linspace(0.02, 1.0, 30)
    grid = np.array(
        [
            stability.growth_rate_curve(*stability.tanh_profiles(Ri), diagram_ks, Re=1000, Lz=30.0)
            for Ri in richardson
        ]
    )
    plot_stability_diagram(diagram_ks, richardson, grid, title, figures / "stability_diagram.png")
    return [
        "",
        "![σ(k)](figures/stability_growth_rate.png) "
        "![stability diagram](figures/stability_diagram.png)",
        "",
    ]


def theory(Ri: float, k: float = K) -> float:
    U, B = stability.tanh_profiles(Ri)
    return stability.most_unstable_mode(U, B, k, Re=RE, Lz=LZ).sigma.real


def solver_growth(Ri: float, n: int, k: float = K) -> float:
    fit, _, _ = simulate_growth(
        "shear_layer",
        nx=n,
        nz=n,
        Lx=2 * np.pi / k,
        Lz=LZ,
        Ri=Ri,
        Re=RE,
        amplitude=1e-5,
        t_end=30.0,
        hold_base=True,
        perturbation="eigenmode",
    )
    return fit.rate


def solver_vs_theory() -> list[str]:
    lines = [
        "## 2. Nonlinear solver vs linear theory",
        "",
        f"shear_layer, hold_base = true, eigenmode seeding (amplitude 1e-5), Re = {RE:g}, Pr = 1, "
        f"free-slip walls at ±{LZ / 2:g}, Lx = 2π/{K}, t = 0–30, upwind5, fitted over the "
        "automatically detected exponential phase:",
        "",
        "| Ri | theory σ | 32² | 64² | 128² | 256² | error at 256² |",
        "|---|---|---|---|---|---|---|",
    ]
    for Ri in (0.0, 0.05, 0.1, 0.15, 0.2):
        sigma = theory(Ri)
        rates = [solver_growth(Ri, n) for n in (32, 64, 128, 256)]
        cells = " | ".join(f"{rate:.5f}" for rate in rates)
        lines.append(f"| {Ri:.2f} | {sigma:.5f} | {cells} | {rates[-1] / sigma - 1:+.2%} |")
    _, times, amplitudes = simulate_growth(
        "shear_layer",
        nx=64,
        nz=64,
        Lx=2 * np.pi / K,
        Lz=LZ,
        Ri=0.3,
        Re=RE,
        amplitude=1e-5,
        t_end=60.0,
        hold_base=True,
        perturbation="sinusoid",
    )
    lines += [
        "",
        f"Ri = 0.3 (> 1/4): max|ŵ| falls from {amplitudes[0]:.2e} to {amplitudes[-1]:.2e} "
        "by t = 60 (decay, no growth).",
        "",
    ]
    return lines


def growth_curve_figure(figures: Path) -> list[str]:
    Ri = 0.1
    ks = np.linspace(0.1, 0.95, 40)
    U, B = stability.tanh_profiles(Ri)
    curve = stability.growth_rate_curve(U, B, ks, Re=RE, Lz=LZ)
    sample_ks = np.array([0.2, 0.3, 0.44, 0.6, 0.75])
    rates = [solver_growth(Ri, 128, k) for k in sample_ks]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    ax.plot(ks, curve, "k-", label="linear theory")
    ax.plot(sample_ks, rates, "o", color="C3", label="billow, 128², fitted")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set(xlabel="k d", ylabel="σ d/U0", title=f"Re = {RE:g}, Ri = {Ri}, walls at ±{LZ / 2:g}")
    ax.legend()
    path = figures / "growth_rate_vs_theory.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    table = ["| k | theory | billow 128² |", "|---|---|---|"]
    for k, rate in zip(sample_ks, rates):
        table.append(f"| {k:.2f} | {theory(Ri, k):.5f} | {rate:.5f} |")
    return [
        "## 3. Growth rate over k",
        "",
        f"![growth rate vs theory](figures/{path.name})",
        "",
        *table,
        "",
    ]


def lecoanet() -> list[str]:
    lines = [
        "## 4. Lecoanet et al. (2016) benchmark",
        "",
        "Growth of the k = 2π mode from the published sinusoidal perturbation (amplitude 1e-4), "
        "ν = 2e-5; with hold_base the base flow does not thicken by viscosity, as in the "
        "eigenvalue problem:",
        "",
        "| grid (nx × nz) | hold_base | σ(k = 2π) | error vs 3.5228 |",
        "|---|---|---|---|",
    ]
    for nx, nz in ((64, 128), (128, 256), (256, 512)):
        for hold_base in (False, True):
            fit, _, _ = simulate_growth(
                "lecoanet2016", nx=nx, nz=nz, amplitude=1e-4, t_end=1.6, hold_base=hold_base
            )
            lines.append(
                f"| {nx} × {nz} | {hold_base} | {fit.rate:.4f} | {fit.rate / 3.5228 - 1:+.2%} |"
            )
    spec = get_case("lecoanet2016")
    model = spec.build(spec.make_params(nx=16, nz=256))
    c = model.interior("c")
    entropy = float(np.sum(-c * np.log(np.where(c > 0, c, 1.0)))) * model.grid.cell_area
    lines += [
        "",
        f"Initial dye entropy S(0) = {entropy:.7f} (exact a π²/6 = {0.05 * np.pi**2 / 6:.7f}).",
        "",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    figures = args.out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    sections = [stability_tables(), solver_vs_theory(), growth_curve_figure(figures), lecoanet()]
    header = [
        "# billow validation",
        "",
        "Generated by `make validate` (`examples/validation_report.py`); "
        f"took {time.perf_counter() - start:.0f} s.",
        "",
    ]
    text = "\n".join(header + [line for section in sections for line in section])
    (args.out / "validation.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
