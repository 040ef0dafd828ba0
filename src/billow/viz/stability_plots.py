"""Figures of linear stability: the growth-rate curve sigma(k) and the stability
diagram sigma(k, Ri) with the Miles-Howard line Ri = 1/4."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import import_cmocean


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib  # viz extra, on use

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # viz extra, on use

    return plt


def plot_growth_curve(
    ks: np.ndarray, rates: np.ndarray, k_max: float, sigma_max: float, title: str, path: Path
) -> Path:
    """sigma(k) with the fastest-growing mode marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    ax.plot(ks, rates, "k-")
    ax.plot([k_max], [sigma_max], "o", color="C3", label=f"k = {k_max:.4f}, σ = {sigma_max:.5f}")
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set(xlabel="wavenumber k d", ylabel="growth rate σ d/U0", title=title)
    ax.legend()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_stability_diagram(
    ks: np.ndarray, richardson: np.ndarray, rates: np.ndarray, title: str, path: Path
) -> Path:
    """Filled contours of max(sigma, 0) over (k, Ri), with Ri = 1/4 marked.

    (Above Ri = 1/4 viscous runs keep a weak gravity-wave mode, sigma ~ 1/Re, that is not
    shear instability; it shows as the palest level.)"""
    cmocean = import_cmocean()

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5), layout="constrained")
    levels = np.linspace(0, max(rates.max(), 1e-6), 15)
    filled = ax.contourf(ks, richardson, np.maximum(rates, 0), levels=levels, cmap=cmocean.cm.amp)
    ax.axhline(0.25, color="C0", ls="--", label="Ri = 1/4 (Miles–Howard)")
    fig.colorbar(filled, ax=ax, label="growth rate σ d/U0")
    ax.set(xlabel="wavenumber k d", ylabel="centre Richardson number Ri", title=title)
    ax.legend(loc="upper right")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
