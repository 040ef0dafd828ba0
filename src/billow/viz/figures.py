"""Summary figures of ``billow analyze``: snapshot panels, energetics and mixing series,
the Ri_g(z, t) Hovmöller diagram and the growth-rate fit (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io.atomic import save_figure_atomically
from . import import_cmocean
from .stability_plots import pyplot

SNAPSHOT_PANELS = 4
RICHARDSON_RANGE = (-1.0, 1.0)


def save_figure(fig, path: Path) -> Path:
    """Save as PNG under a temporary name, then rename (atomic), and close the figure."""
    try:
        save_figure_atomically(fig, path)
    finally:
        pyplot().close(fig)
    return path


def snapshot_indices(n: int, panels: int = SNAPSHOT_PANELS) -> list[int]:
    """``panels`` evenly spread snapshot indices including the first and last (fewer if n is)."""
    return sorted(set(np.linspace(0, n - 1, min(panels, n)).round().astype(int).tolist()))


def plot_snapshots(fields, path: Path) -> Path:
    """Vorticity (balance), buoyancy (thermal) and dye (dense) at 4 times, one row per field."""
    cmocean = import_cmocean()

    plt = pyplot()
    names = [n for n in ("vorticity", "b", "c") if n in fields.data_vars]
    cmaps = {"vorticity": cmocean.cm.balance, "b": cmocean.cm.thermal, "c": cmocean.cm.dense}
    labels = {"vorticity": "vorticity ω", "b": "buoyancy b", "c": "dye c"}
    indices = snapshot_indices(fields.sizes["time"])
    x, z = fields["x"].values, fields["z"].values
    aspect = (z[-1] - z[0]) / max(x[-1] - x[0], 1e-12)
    fig, axes = plt.subplots(
        len(names),
        len(indices),
        figsize=(3.2 * len(indices) + 1, (3.2 * aspect + 0.6) * len(names)),
        squeeze=False,
        layout="constrained",
    )
    for row, name in enumerate(names):
        frames = [fields[name].isel(time=i).values for i in indices]
        if name == "vorticity":
            limit = max(float(np.max(np.abs(f))) for f in frames) or 1.0
            vmin, vmax = -limit, limit
        else:
            vmin = min(float(np.min(f)) for f in frames)
            vmax = max(float(np.max(f)) for f in frames)
        for col, (i, frame) in enumerate(zip(indices, frames)):
            ax = axes[row, col]
            mesh = ax.pcolormesh(
                x, z, frame, cmap=cmaps[name], vmin=vmin, vmax=vmax, shading="auto"
            )
            ax.set_aspect("equal")
            if row == 0:
                ax.set_title(f"t = {float(fields['time'].values[i]):.3g}")
            if col == 0:
                ax.set_ylabel("z")
            if row == len(names) - 1:
                ax.set_xlabel("x")
        fig.colorbar(mesh, ax=axes[row, :], label=labels[name], shrink=0.9)
    return save_figure(fig, path)


def plot_energetics(diagnostics, analysis, path: Path) -> Path:
    """Changes of KE, PE, BPE since t = 0 and APE; epsilon and M; the mixing efficiency."""
    plt = pyplot()
    fig, (top, middle, bottom) = plt.subplots(
        3, 1, figsize=(7, 8), sharex=True, layout="constrained"
    )
    t = analysis["time"].values
    pe = analysis["pe"].values
    if diagnostics is not None and "ke" in diagnostics:
        ke = diagnostics["ke"].values
        top.plot(diagnostics["time"].values, ke - ke[0], "k-", label="KE − KE(0)")
    top.plot(t, pe - pe[0], "C0o-", ms=3, label="PE − PE(0)")
    if np.isfinite(analysis["bpe"].values).any():
        bpe = analysis["bpe"].values
        top.plot(t, bpe - bpe[0], "C1s-", ms=3, label="BPE − BPE(0)")
        top.plot(t, analysis["ape"].values, "C3^-", ms=3, label="APE")
    top.set(ylabel="energy change since t = 0")
    top.legend(fontsize=8)
    if diagnostics is not None and "epsilon" in diagnostics:
        middle.plot(diagnostics["time"].values, diagnostics["epsilon"].values, "k-", label="ε")
    middle.plot(t, analysis["mixing_rate"].values, "C2o-", ms=3, label="M = dBPE/dt − Φ_i")
    middle.set(ylabel="rate")
    middle.legend(fontsize=8)
    bottom.plot(t, analysis["mixing_efficiency"].values, "C4o-", ms=3)
    bottom.axhline(0, color="0.6", lw=0.8)
    cumulative = analysis.attrs.get("cumulative_mixing_efficiency", np.nan)
    bottom.set(
        xlabel="time t",
        ylabel="η = M/(M + ε)",
        title=f"cumulative mixing efficiency E_c = {float(cumulative):.3g}",
    )
    finite = analysis["mixing_efficiency"].values[np.isfinite(analysis["mixing_efficiency"].values)]
    if finite.size:
        bottom.set_ylim(max(finite.min(), -1.0) - 0.05, min(finite.max(), 2.0) + 0.05)
    return save_figure(fig, path)


def plot_richardson(analysis, path: Path) -> Path:
    """Hovmöller Ri_g(z, t), colours clipped to [-1, 1], with the Ri_g = 1/4 contour."""
    cmocean = import_cmocean()

    plt = pyplot()
    t, z = analysis["time"].values, analysis["z"].values
    ri = np.clip(analysis["richardson"].values.T, *RICHARDSON_RANGE)
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    mesh = ax.pcolormesh(
        t,
        z,
        ri,
        cmap=cmocean.cm.balance,
        vmin=RICHARDSON_RANGE[0],
        vmax=RICHARDSON_RANGE[1],
        shading="auto",
    )
    if t.size > 1 and np.nanmin(ri) < 0.25 < np.nanmax(ri):
        ax.contour(t, z, np.nan_to_num(ri, nan=1.0), levels=[0.25], colors="k", linewidths=1)
    fig.colorbar(mesh, ax=ax, label="Ri_g (clipped to [−1, 1]); contour: 1/4")
    ax.set(xlabel="time t", ylabel="z", title="gradient Richardson number of the mean profiles")
    return save_figure(fig, path)


def plot_growth_fit(diagnostics, fit, path: Path) -> Path:
    """ln(mode_amplitude) against time with the fitted line over the linear-phase window."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    if diagnostics is not None and "mode_amplitude" in diagnostics:
        t = diagnostics["time"].values
        amplitude = diagnostics["mode_amplitude"].values
        keep = amplitude > 0
        ax.semilogy(t[keep], amplitude[keep], "k-", label="mode amplitude")
        if fit is not None and np.isfinite(fit.rate):
            window = (t >= fit.t_start) & (t <= fit.t_end) & keep
            tw = t[window]
            log_a = np.log(amplitude[window])
            intercept = float(np.mean(log_a - fit.rate * tw))
            ax.semilogy(
                tw,
                np.exp(intercept + fit.rate * tw),
                "C3--",
                lw=2,
                label=f"σ = {fit.rate:.4g} on [{fit.t_start:.3g}, {fit.t_end:.3g}]",
            )
            ax.axvspan(fit.t_start, fit.t_end, color="C3", alpha=0.1)
        elif fit is not None:
            ax.set_title(fit.reason, fontsize=7, wrap=True)
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no mode_amplitude in diagnostics", ha="center", transform=ax.transAxes)
    ax.set(xlabel="time t", ylabel="max_z |ŵ(2π/Lx)|", title="growth of the fundamental mode")
    return save_figure(fig, path)


def write_figures(fields, diagnostics, analysis, fit, directory: Path) -> list[Path]:
    """The four summary figures into ``directory``; returns their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return [
        plot_snapshots(fields, directory / "snapshots.png"),
        plot_energetics(diagnostics, analysis, directory / "energetics.png"),
        plot_richardson(analysis, directory / "richardson.png"),
        plot_growth_fit(diagnostics, fit, directory / "growth_fit.png"),
    ]
