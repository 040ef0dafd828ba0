"""Figures of ``billow compare``: metric time series of several runs overlaid (against the
fraction of each run, as the study's quartiles) and bar charts of Gamma and E_c."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .figures import save_figure
from .stability_plots import pyplot

SERIES = {  # analysis.nc variable -> axis label
    "shannon_entropy_rho": "Shannon entropy H_ρ",
    "complexity_vorticity": "complexity CI_ω (published)",
    "gamma": "Γ = std(ρ)·rms(ω)",
    "dye_entropy": "dye entropy S − S(0)",
}


def plot_compare_timeseries(runs, path: Path) -> Path:
    """One panel per :data:`SERIES` entry, one line per run that has the series (a run
    without a dye has no dye entropy: NaN), against t / t_last; a panel that no run has
    says so."""
    plt = pyplot()
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True, layout="constrained")
    for ax, (name, label) in zip(axes.flat, SERIES.items()):
        for number, run in enumerate(runs):  # a run's colour is the same in every panel
            t = run.analysis["time"].values
            values = run.analysis[name].values
            if not np.isfinite(values).any():
                continue
            if name == "dye_entropy":
                values = values - values[0]
            ax.plot(t / t[-1], values, color=f"C{number}", label=run.label)
        ax.set(ylabel=label)
        if not ax.lines:
            missing = "no run has a dye" if name == "dye_entropy" else "no run has this series"
            ax.text(0.5, 0.5, missing, transform=ax.transAxes, ha="center", va="center")
    for ax in axes[-1]:
        ax.set(xlabel="fraction of the run t / t_end")
    axes.flat[0].legend(fontsize=8)
    return save_figure(fig, path)


def plot_compare_bars(dataset, path: Path) -> Path:
    """Bars of the time-mean Gamma and of the cumulative mixing efficiency, one per run."""
    plt = pyplot()
    labels = [str(label) for label in dataset["run"].values]
    positions = np.arange(len(labels))
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(max(7, 1.6 * len(labels) + 3), 4), layout="constrained"
    )
    left.bar(positions, dataset["mean_gamma"].values, color="C0")
    left.set(ylabel="mean Γ = std(ρ)·rms(ω)", title="kh2d 'mixing efficiency' Γ")
    efficiency = np.nan_to_num(dataset["cumulative_mixing_efficiency"].values, nan=0.0)
    right.bar(positions, efficiency, color="C2")
    right.set(ylabel="E_c = ∫M / (∫M + ∫ε)", title="cumulative mixing efficiency")
    for ax in (left, right):
        ax.set_xticks(positions, labels, rotation=20, ha="right")
    return save_figure(fig, path)
