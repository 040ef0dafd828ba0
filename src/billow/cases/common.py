"""Helpers shared by the cases: grids, streamfunction perturbations, seeded noise."""

from __future__ import annotations

import hashlib

import numpy as np

from ..config import RunParams
from ..core.grid import Grid
from ..core.model import Model
from ..core.operators import velocity_from_streamfunction
from ..errors import ConfigError
from ..linear import modes
from ..linear.cache import cached_arrays, cached_mode

SOLVER = "billow.linear.stability"  # imported (with scipy) only when a result is not cached


def make_grid(params: RunParams, z_bottom: float | None = None) -> Grid:
    return Grid(
        params.nx,
        params.nz,
        params.Lx,
        params.Lz,
        periodic_z=params.bc_z == "periodic",
        z_bottom=z_bottom,
    )


def make_model(params: RunParams, grid: Grid, **options) -> Model:
    """A Model on ``grid`` with the parameters' Re, Pr, Sc, advection and bc_z, plus options
    (tracers, spanwise_velocity, background_N2)."""
    return Model(
        grid,
        Re=params.Re,
        Pr=getattr(params, "Pr", 1.0),
        Sc=params.Sc,
        advection=params.advection,
        bc_z=params.bc_z,
        **options,
    )


def corner_coordinates(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(x, z) meshes of the cell corners (x_face, z_face)."""
    return np.meshgrid(grid.x_face, grid.z_face)


def smooth_noise(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """Seeded random field with a Gaussian spectral cut-off at 1/8 of the grid wavenumber,
    normalised to unit maximum."""
    import scipy.fft  # on use: a run without noise needs no scipy

    rng = np.random.default_rng(seed)
    spectrum = scipy.fft.rfft2(rng.standard_normal(shape))
    kz = scipy.fft.fftfreq(shape[0])[:, None]
    kx = scipy.fft.rfftfreq(shape[1])[None, :]
    spectrum *= np.exp(-((kx**2 + kz**2) / (1.0 / 16) ** 2))
    field = scipy.fft.irfft2(spectrum, s=shape)
    return field / np.max(np.abs(field))


def noise_velocity(grid: Grid, params: RunParams, envelope) -> tuple[np.ndarray, np.ndarray]:
    """Seeded smooth noise from psi = envelope(z) * noise field, scaled to max|w| = ``noise``.

    psi is periodic in z for periodic z (so the noise carries no mean flow) and zero
    on walls (no normal flow through them).
    """
    x, z = corner_coordinates(grid)
    noise = smooth_noise(params.seed, (grid.nz, grid.nx))
    psi = envelope(z) * np.vstack([noise, noise[:1]])
    if not grid.periodic_z:
        psi[[0, -1]] = 0.0
    u, w = velocity_from_streamfunction(grid, psi)
    scale = params.noise / max(np.max(np.abs(w)), np.finfo(float).tiny)
    return scale * u, scale * w


_FASTEST_MODES: dict[str, modes.Mode] = {}


def _linear_theory_key(params) -> str:
    """What defines a case's base state U, B and its linear problem: the case (its profiles)
    and the parameters they and the domain depend on."""
    fields = {"Ri", "R", "separation", "Re", "Pr", "Lz", "bc_z"}
    return f"{type(params).__module__}:{params.model_dump_json(include=fields)}"


def _mode_key(params, k: float) -> str:
    """The key of the case's mode at wavenumber k (its bits, exactly)."""
    return f"{_linear_theory_key(params)}:k={float(k).hex()}"


def _linear_theory_modules(params, U, B) -> set[str]:
    """The modules whose source a mode of the case's linear theory depends on: the solver,
    this module, the case's, and billow's modules of the profiles U and B."""
    modules = {SOLVER, modes.__name__, __name__, type(params).__module__}
    profile_modules = {getattr(profile, "__module__", None) or "" for profile in (U, B)}
    return modules | {name for name in profile_modules if name.startswith("billow.")}


def fastest_growing_wavenumber(params, U, B) -> float:
    """k of the fastest-growing mode of linear theory for the base state U, B and the domain.

    Raises a ConfigError when linear theory finds no unstable mode (a stable flow: no
    wavelength to size the domain by), asking for an explicit Lx. Cached per case and
    parameter set, in memory and on disk (:mod:`billow.linear.cache`): the profiles are
    closures over the parameters, so the case and the parameters that define them and the
    domain form the key, with the source of the modules that compute the mode.
    """
    key = _linear_theory_key(params)
    if key not in _FASTEST_MODES:
        _FASTEST_MODES[key] = cached_mode(
            key,
            _linear_theory_modules(params, U, B),
            lambda: _solver().fastest_growing(
                U, B, Re=params.Re, Pr=params.Pr, Lz=params.Lz, bc_z=params.bc_z
            ),
        )
    mode = _FASTEST_MODES[key]
    if not modes.is_unstable(mode):
        k_lo, k_hi = modes.K_BOUNDS
        given = ", ".join(
            f"{name} = {getattr(params, name):g}"
            for name in ("Ri", "Re", "Pr", "Lz")
            if hasattr(params, name)
        )
        raise ConfigError(
            f"linear theory finds no unstable mode for {given} (no growing mode with "
            f"{k_lo:g} < k < {k_hi:g}), so there is no fastest-growing wavelength to size Lx: "
            "set Lx explicitly (e.g. --set Lx=14) to run this stable flow"
        )
    return mode.k


def _solver():
    """The linear-stability solver (:mod:`billow.linear.stability`; imports scipy)."""
    from ..linear import stability

    return stability


def most_unstable_mode(params, U, B, k: float) -> modes.Mode:
    """stability.most_unstable_mode at k for the case's U, B; the fastest-growing mode itself
    when the default Lx holds one of its wavelengths (2π/(2π/k) is k again to the bit in 9
    of 10 cases): the same solve, already done. Any other k (an explicit Lx, or several
    wavelengths) is kept on disk like the fastest mode (:mod:`billow.linear.cache`)."""
    key = _linear_theory_key(params)
    fastest = _FASTEST_MODES.get(key)
    if fastest is not None and fastest.k == k:
        return fastest
    return cached_mode(
        _mode_key(params, k),
        _linear_theory_modules(params, U, B),
        lambda: _solver().most_unstable_mode(
            U, B, k, Re=params.Re, Pr=params.Pr, Lz=params.Lz, bc_z=params.bc_z
        ),
    )


def eigenmode_on_grid(params, U, B, k: float, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """The mode at k interpolated onto the grid: (psi_hat = i w_hat / k at the z-faces,
    b_hat at the cell centres). Kept on disk with the grid's heights in the key, so that a
    run whose seed is cached loads neither the solver nor scipy."""
    heights = np.concatenate([grid.z_face, grid.z_centre])
    key = f"{_mode_key(params, k)}:z={hashlib.sha256(heights).hexdigest()}"
    expected = {"psi_hat": ((grid.nz + 1,), np.complex128), "b_hat": ((grid.nz,), np.complex128)}

    def interpolate() -> dict[str, np.ndarray]:
        mode = most_unstable_mode(params, U, B, k)
        return {
            "psi_hat": _interpolate(mode.z, 1j * mode.w / k, grid.z_face),
            "b_hat": _interpolate(mode.z, mode.b, grid.z_centre),
        }

    profiles = cached_arrays(key, _linear_theory_modules(params, U, B), expected, interpolate)
    return profiles["psi_hat"], profiles["b_hat"]


def seed_perturbation(grid: Grid, params, U, B, envelope) -> dict[str, np.ndarray]:
    """The initial perturbation (u, w, b) selected by ``params.perturbation``, plus noise.

    - eigenmode: Re[q_hat(z) exp(i k x)] of the most unstable linear mode at k = 2 pi/Lx,
      from its streamfunction psi_hat = i w_hat / k (discretely divergence-free),
      scaled so that max|w| = amplitude;
    - sinusoid: psi = (amplitude / k) envelope(z) sin(k x);
    - noise: none besides the noise.
    ``noise`` > 0 adds seeded smooth noise of max|w| = noise under the same envelope.
    """
    x, z = corner_coordinates(grid)
    k = 2 * np.pi / grid.Lx
    b = np.zeros((grid.nz, grid.nx))
    if params.perturbation == "eigenmode":
        psi_hat, b_hat = eigenmode_on_grid(params, U, B, k, grid)
        psi = params.amplitude * np.real(psi_hat[:, None] * np.exp(1j * k * x))
        x_centre = grid.x_centre[None, :]
        b = params.amplitude * np.real(b_hat[:, None] * np.exp(1j * k * x_centre))
    elif params.perturbation == "sinusoid":
        psi = params.amplitude / k * envelope(z) * np.sin(k * x)
    else:
        psi = np.zeros_like(x)
    if not grid.periodic_z:
        psi[[0, -1]] = 0.0  # no normal flow through the walls
    u, w = velocity_from_streamfunction(grid, psi)
    if params.noise > 0:
        noise_u, noise_w = noise_velocity(grid, params, envelope)
        u, w = u + noise_u, w + noise_w
    return {"u": u, "w": w, "b": b}


def _interpolate(z_nodes: np.ndarray, values: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Complex cubic-spline interpolation of an eigenfunction onto grid points."""
    from scipy.interpolate import CubicSpline  # on use: a cached seed needs no scipy

    order = np.argsort(z_nodes)
    spline = CubicSpline(z_nodes[order], values[order])
    return spline(np.clip(z, z_nodes.min(), z_nodes.max()))
