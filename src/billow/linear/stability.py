"""Temporal linear stability of 2-D parallel stratified shear flows.

Non-dimensional Boussinesq equations linearised about U(z), B(z), N² = B', for perturbations
∝ exp(ikx + σt) (growth rate Re σ, phase speed -Im σ / k). With streamfunction ψ
(u = ψ_z, w = -ikψ), buoyancy b and L = d²/dz² - k²:

    σ Lψ = -ikU Lψ + ikU''ψ - ik b + Re⁻¹ L²ψ          (viscous Orr–Sommerfeld with buoyancy)
    σ b  = -ikU b + ikN²ψ + (Re Pr)⁻¹ L b

which is the Taylor–Goldstein problem when Re = ∞. Walls at z = ±Lz/2 (free-slip: ψ = ψ'' = 0,
no-slip: ψ = ψ' = 0; viscous b has no flux, b' = 0) use Chebyshev collocation on the map
z = (Lz/2) sinh(aξ)/sinh(a), which clusters points near z = 0; bc_z = "periodic" uses Fourier
collocation. Boundary conditions are eliminated from the unknowns q = (ψ, b), leaving the
generalized eigenproblem A q = σ B q, solved with scipy.linalg.eig. Each eigenvalue is compared
with the nearest one of the same problem at about 1.5n points and a slightly different map (by
inverse iteration, or from its whole spectrum when many need checking):
spurious eigenvalues, which move with the grid, are skipped, and Mode.converged reports whether
the chosen one agrees to CONVERGENCE_TOL.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import CubicSpline
from scipy.optimize import brentq, minimize_scalar
from threadpoolctl import threadpool_limits

from ..errors import ConfigError
from .modes import K_BOUNDS, Mode
from .modes import is_unstable as is_unstable  # re-exported: billow.stability's API
from .modes import recommended_Lx as recommended_Lx

Profile = Callable[[NDArray[np.float64]], ArrayLike] | tuple[ArrayLike, ArrayLike]
"""A base-state profile: a vectorised callable of z, or (z, values) samples (cubic spline)."""

BOUNDARY_CONDITIONS = ("free-slip", "no-slip", "periodic")
CONVERGENCE_TOL = 1e-6  # |σ(n) - σ(1.5n)| / max(1, |σ|) below which an eigenvalue is converged
# A growing eigenvalue is physical when its two-resolution difference is below this fraction of
# its growth rate (spurious, continuous-spectrum ones move by 0.5% or more of theirs); it is
# reported, with converged=False if that difference exceeds CONVERGENCE_TOL.
GROWTH_AGREEMENT = 1e-3
NEUTRAL_TOL = 1e-6  # inviscid: |Re σ| below this is neutral (continuous spectrum, round-off)
DEFAULT_N_WALLS = 96  # Chebyshev points; converges KH modes to ~1e-9 for Lz = 30
CLUSTER_WIDTH = 0.2  # dz/dξ of the sinh map at z = 0, in units of the shear-layer half-depth
# The check grid also changes the map: spurious modes tied to the log-like spacing near z = 0
# (stationary modes at Ri ≈ 1/4) then move by ~1e-3, while real ones agree to ~1e-10.
CHECK_CLUSTER_WIDTH = 0.25
PERIODIC_DENSITY = 6  # default Fourier points per unit length (4 leaves ~1e-5 errors in σ)
_HUGE = 1e8  # larger |σ| are numerical artefacts (never physical in these units)
_ITERATIONS = 10  # inverse-iteration steps (3 suffice when the shift is within 1e-6)
_QUICK_CHECKS = 4  # candidates verified one by one before the whole check spectrum is computed
# fastest_growing's scan estimates growth rates from the standard eigenproblem (B⁻¹A) q = σ q;
# an estimate counts as within max(SCAN_SAFETY δ, SCAN_FLOOR max(1, |σ|)) of the exact rate,
# δ its eigenvalue's own round-off (~1e-9; the refined rates agree to ~1e-10, measured).
SCAN_SAFETY = 1000.0
SCAN_FLOOR = 1e-7


def tanh_profiles(Ri: float, R: float = 1.0) -> tuple[Callable, Callable]:
    """The stratified tanh shear layer U = tanh z, B = (Ri/R) tanh(Rz), so N²(0)/U'(0)² = Ri.

    Parameters
    ----------
    Ri : float
        Gradient Richardson number at z = 0.
    R : float
        Ratio d/h of the shear to the density layer thickness (> 0).

    Returns
    -------
    (U, B) : tuple of callables
        Vectorised functions of z (an array of any shape, units of d) returning arrays of
        the same shape; pass them to :func:`most_unstable_mode` and friends.
    """
    if R <= 0:
        raise ConfigError(f"R must be positive, got {R}")

    def velocity(z: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.tanh(z)

    def buoyancy(z: NDArray[np.float64]) -> NDArray[np.float64]:
        return Ri / R * np.tanh(R * z)

    return velocity, buoyancy


def most_unstable_mode(
    U: Profile,
    B: Profile,
    k: float,
    *,
    Re: float = math.inf,
    Pr: float = 1.0,
    Lz: float = 30.0,
    bc_z: str = "free-slip",
    n: int | None = None,
) -> Mode:
    """The converged mode of largest growth rate at wavenumber k.

    Parameters
    ----------
    U, B : Profile
        Base velocity U(z) and buoyancy B(z): vectorised callables of z, or (z, values)
        samples (interpolated with cubic splines) spanning the domain.
    k : float
        Horizontal wavenumber (> 0, units of 1/d).
    Re, Pr : float
        Reynolds and Prandtl numbers (``Re = inf``: inviscid Taylor–Goldstein).
    Lz : float
        Distance between the walls (or the period in z), centred on z = 0.
    bc_z : str
        ``"free-slip"``, ``"no-slip"`` or ``"periodic"``.
    n : int, optional
        Collocation points (default DEFAULT_N_WALLS between walls, PERIODIC_DENSITY per
        unit length for periodic z).

    Returns
    -------
    Mode
        ``mode.sigma`` is complex (growth rate + i·frequency); ``mode.growth_rate``,
        ``mode.phase_speed`` and the eigenfunctions ``mode.u``, ``mode.w``, ``mode.b``
        on ``mode.z`` (shape (n,)).

    Eigenvalues are tried in order of growth rate. The first growing one whose values at n and
    1.5n points differ by less than GROWTH_AGREEMENT of its growth rate is returned, or failing
    that the first converged non-growing one (inviscid: |Re σ| < NEUTRAL_TOL counts as neutral
    and is reported as exactly 0). If none qualifies, the eigenvalue that agrees best is
    returned. ``converged`` says whether the returned one agrees to CONVERGENCE_TOL.
    """
    with _one_blas_thread():
        return _Solver(U, B, Re=Re, Pr=Pr, Lz=Lz, bc_z=bc_z, n=n).mode(k)


def growth_rate_curve(
    U: Profile,
    B: Profile,
    ks: ArrayLike,
    *,
    Re: float = math.inf,
    Pr: float = 1.0,
    Lz: float = 30.0,
    bc_z: str = "free-slip",
    n: int | None = None,
    estimate: bool = False,
) -> np.ndarray:
    """Growth rate Re σ of the most unstable mode at each wavenumber in ks.

    Parameters
    ----------
    U, B, Re, Pr, Lz, bc_z, n
        As for :func:`most_unstable_mode`.
    ks : array_like
        Wavenumbers (> 0), any shape (flattened).
    estimate : bool
        Take each rate from the standard eigenproblem (B⁻¹A) q = σ q where its estimate
        settles the choice of mode (QR instead of QZ: about half the time), within
        max(SCAN_SAFETY δ, SCAN_FLOOR max(1, |σ|)) of the exact rate, δ the eigenvalue's own
        round-off (about 1e-9); elsewhere, and by default, the exact solve. For figures.

    Returns
    -------
    ndarray, shape (ks.size,)
        The growth rates (units of U0/d), in the order of ``ks``.
    """
    with _one_blas_thread():
        solver = _Solver(U, B, Re=Re, Pr=Pr, Lz=Lz, bc_z=bc_z, n=n)
        return np.array([_growth_rate(solver, float(k), estimate) for k in np.ravel(ks)])


def _growth_rate(solver: _Solver, k: float, estimate: bool) -> float:
    """Re σ of solver.mode(k), or its estimate where one decides (``estimate``)."""
    settled = solver.growth_rate_estimate(k) if estimate else None
    return settled[0] if settled is not None else solver.mode(k).sigma.real


def fastest_growing(
    U: Profile,
    B: Profile,
    *,
    k_bounds: tuple[float, float] = K_BOUNDS,
    Re: float = math.inf,
    Pr: float = 1.0,
    Lz: float = 30.0,
    bc_z: str = "free-slip",
    n: int | None = None,
) -> Mode:
    """The mode of largest growth rate over k in k_bounds (coarse scan, then bounded search).

    Parameters
    ----------
    U, B, Re, Pr, Lz, bc_z, n
        As for :func:`most_unstable_mode`.
    k_bounds : (float, float)
        The wavenumber range searched, 0 < k_min < k_max.

    Returns
    -------
    Mode
        The fastest-growing mode; ``mode.k`` is k_max, ``mode.growth_rate`` σ_max.

    The scan takes 12 equispaced k and brackets the largest growth rate by its neighbours; its
    rates are estimated without QZ where that settles which is largest (_fastest_of_scan), and
    the search solves exactly, so k is the one that exact solves throughout find, to the bit.
    """
    k_lo, k_hi = k_bounds
    if not 0 < k_lo < k_hi:
        raise ConfigError(f"k_bounds must satisfy 0 < k_min < k_max, got {k_bounds}")
    with _one_blas_thread():
        solver = _Solver(U, B, Re=Re, Pr=Pr, Lz=Lz, bc_z=bc_z, n=n)
        ks = np.linspace(k_lo, k_hi, 12)
        k = _search_around(solver, ks, _fastest_of_scan(solver, ks))
        return solver.mode(k)  # evaluated by the search: remembered


def _search_around(solver: _Solver, ks: NDArray[np.float64], best: int) -> float:
    """k of the largest exact growth rate between the scan's neighbours of ks[best]
    (bounded search to 1e-4 in k)."""
    bracket = (float(ks[max(best - 1, 0)]), float(ks[min(best + 1, ks.size - 1)]))
    result = minimize_scalar(
        lambda k: -solver.mode(k).sigma.real,
        bounds=bracket,
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(result.x)


# --- discretisation -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    z: NDArray[np.float64]
    D1: NDArray[np.float64]
    D2: NDArray[np.float64]
    periodic: bool


def _chebyshev_grid(n: int, Lz: float, width: float = CLUSTER_WIDTH) -> _Grid:
    """Gauss–Lobatto points mapped by z = (Lz/2) sinh(aξ)/sinh(a), ascending in z."""
    j = np.arange(n)
    x = np.cos(np.pi * j / (n - 1))
    c = np.where((j == 0) | (j == n - 1), 2.0, 1.0) * (-1.0) ** j
    D = np.outer(c, 1 / c) / (x[:, None] - x[None, :] + np.eye(n))
    D -= np.diag(D.sum(axis=1))
    xi, D = x[::-1], D[::-1, ::-1]
    half = Lz / 2
    # a sets dz/dξ(0) = half a / sinh(a) to width (mild map for narrow channels)
    ratio = min(width / half, 0.9)
    a = brentq(lambda s: s / math.sinh(s) - ratio, 1e-3, 60.0)
    z = half * np.sinh(a * xi) / math.sinh(a)
    D1 = D / (half * a * np.cosh(a * xi) / math.sinh(a))[:, None]
    return _Grid(z, D1, D1 @ D1, periodic=False)


def _fourier_grid(n: int, Lz: float) -> _Grid:
    """n equispaced points on [-Lz/2, Lz/2) with Fourier differentiation (n even)."""
    h = 2 * math.pi / n
    j = np.arange(1, n)
    col1 = np.concatenate([[0.0], 0.5 * (-1.0) ** j / np.tan(j * h / 2)])
    col2 = np.concatenate(
        [[-(math.pi**2) / (3 * h**2) - 1 / 6], -0.5 * (-1.0) ** j / np.sin(j * h / 2) ** 2]
    )
    scale = 2 * math.pi / Lz
    D1 = sla.toeplitz(col1, np.concatenate([[0.0], col1[:0:-1]])) * scale
    D2 = sla.toeplitz(col2) * scale**2
    return _Grid(-Lz / 2 + Lz * np.arange(n) / n, D1, D2, periodic=True)


def _sample(
    profile: Profile, grid: _Grid, Lz: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], float]:
    """Values, first and second derivatives of a profile on the grid, and f(Lz/2) - f(-Lz/2).

    Callables are differentiated spectrally (with the mean gradient removed first on a periodic
    grid, so a periodic N² may come from a non-periodic B); samples use their cubic spline.
    """
    ends = np.array([-Lz / 2, Lz / 2])
    if callable(profile):

        def f(z: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.broadcast_to(np.asarray(profile(z), dtype=float), z.shape)

        jump = float(np.diff(f(ends))[0])
        slope = jump / Lz if grid.periodic else 0.0
        values = f(grid.z)
        rest = values - slope * grid.z
        return values, grid.D1 @ rest + slope, grid.D2 @ rest, jump
    z_data, v_data = (np.asarray(a, dtype=float) for a in profile)
    if z_data.min() > ends[0] + 1e-9 * Lz or z_data.max() < ends[1] - 1e-9 * Lz:
        raise ConfigError(f"profile samples span [{z_data.min()}, {z_data.max()}], not ±Lz/2")
    spline = CubicSpline(z_data, v_data)
    jump = float(spline(ends[1]) - spline(ends[0]))
    return spline(grid.z), spline(grid.z, 1), spline(grid.z, 2), jump


def _eliminate(constraints: NDArray[np.float64], boundary: list[int]) -> tuple[NDArray, NDArray]:
    """Basis T (full = T @ reduced) satisfying constraints @ full = 0, and the interior rows."""
    n = constraints.shape[1]
    interior = np.setdiff1d(np.arange(n), boundary)
    T = np.zeros((n, interior.size))
    T[interior, np.arange(interior.size)] = 1.0
    T[boundary] = -np.linalg.solve(constraints[:, boundary], constraints[:, interior])
    return T, interior


class _Discretisation:
    """Base state and boundary-condition bases at one resolution; assembles A, B for any k."""

    def __init__(
        self,
        U: Profile,
        B: Profile,
        Re: float,
        Pr: float,
        Lz: float,
        bc_z: str,
        n: int,
        width: float,
    ):
        grid = _fourier_grid(n, Lz) if bc_z == "periodic" else _chebyshev_grid(n, Lz, width)
        self.grid = grid
        self.U, _, self.Uzz, jump = _sample(U, grid, Lz)
        if grid.periodic and abs(jump) > 1e-8 * max(1.0, float(np.abs(self.U).max())):
            raise ConfigError(f"bc_z='periodic' needs a periodic U; U(Lz/2) - U(-Lz/2) = {jump}")
        self.N2 = _sample(B, grid, Lz)[1]
        self.stratified = bool(np.any(self.N2 != 0))
        self.nu = 0.0 if math.isinf(Re) else 1 / Re
        self.kappa = self.nu / Pr
        self.D4 = grid.D2 @ grid.D2
        eye = np.eye(n)
        if grid.periodic:
            self.T_psi, self.rows_psi = eye, np.arange(n)
            self.T_b, self.rows_b = eye, np.arange(n)
        elif self.nu == 0:
            self.T_psi, self.rows_psi = _eliminate(eye[[0, -1]], [0, n - 1])
            self.T_b, self.rows_b = self.T_psi, self.rows_psi
        else:
            slip = grid.D2 if bc_z == "free-slip" else grid.D1
            walls = np.vstack([eye[[0, -1]], slip[[0, -1]]])
            self.T_psi, self.rows_psi = _eliminate(walls, [0, 1, n - 2, n - 1])
            self.T_b, self.rows_b = _eliminate(grid.D1[[0, -1]], [0, n - 1])
        # the k-independent parts of matrices(), on the rows it keeps
        rp, rb = self.rows_psi, self.rows_b
        self._psi_rows = {
            "D2": grid.D2[rp],
            "D4": self.D4[rp],
            "eye": eye[rp],
            "U": self.U[rp, None],
            "diag_Uzz": np.diag(self.Uzz)[rp],
        }
        self._b_rows = {"D2": grid.D2[rb], "eye": eye[rb], "diag_U": np.diag(self.U)[rb]}

    def matrices(self, k: float) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
        """A and B of A q = σ B q at wavenumber k, for the reduced unknowns q = (ψ, b).

        Only the rows that are kept (rows_psi, rows_b) are computed, each entry as in the
        full operators L = D2 - k², A_ψψ = -ikU L + ikU'' + Re⁻¹(D4 - 2k²D2 + k⁴), so the
        matrices are the same to the bit; assembled in place (np.block cost a third).
        """
        Tp, rp = self.T_psi, self.rows_psi
        rows = self._psi_rows
        L = rows["D2"] - k**2 * rows["eye"]
        A_pp = -1j * k * rows["U"] * L + 1j * k * rows["diag_Uzz"]
        if self.nu:
            A_pp = A_pp + self.nu * (rows["D4"] - 2 * k**2 * rows["D2"] + k**4 * rows["eye"])
        if not self.stratified:
            return A_pp @ Tp, (L @ Tp).astype(complex)
        Tb, rb = self.T_b, self.rows_b
        m, size = Tp.shape[1], Tp.shape[1] + Tb.shape[1]
        rows_b = self._b_rows
        A_bb = -1j * k * rows_b["diag_U"] + self.kappa * (rows_b["D2"] - k**2 * rows_b["eye"])
        A = np.empty((size, size), dtype=complex)
        A[:m, :m] = A_pp @ Tp
        A[:m, m:] = -1j * k * Tb[rp]
        A[m:, :m] = 1j * k * self.N2[rb, None] * Tp[rb]
        A[m:, m:] = A_bb @ Tb
        B = np.zeros((size, size), dtype=complex)
        B[:m, :m] = L @ Tp
        B[m:, m:] = Tb[rb]
        return A, B

    def standard_matrix(
        self, A: NDArray[np.complex128], B: NDArray[np.complex128]
    ) -> NDArray[np.complex128]:
        """B⁻¹A for matrices()' A, B. B is block-diagonal, L on the ψ rows and the identity
        on the b rows, so only the ψ rows need a solve."""
        m = self.T_psi.shape[1]
        standard = A.copy()
        standard[:m] = np.linalg.solve(B[:m, :m], A[:m])
        return standard

    def fields(self, k: float, q: NDArray[np.complex128]) -> tuple[NDArray[np.complex128], ...]:
        """(u, w, b) on the grid from a reduced eigenvector q, normalised by
        :func:`mode_scale`."""
        m = self.T_psi.shape[1]
        psi = self.T_psi @ q[:m]
        b = self.T_b @ q[m:] if self.stratified else np.zeros_like(psi)
        u, w = self.grid.D1 @ psi, -1j * k * psi
        scale = mode_scale(w)
        return u / scale, w / scale, b / scale


def mode_scale(w: NDArray[np.complex128]) -> complex:
    """max|w| exp(i arg sum_j |w_j| w_j): dividing by it gives max|w| = 1 and makes the
    |w|-weighted sum of w real and positive. Not w at its largest |w|: a symmetric layer's
    |w| peaks twice, at +-z, with other phases, and which of the two is the larger is up to
    round-off (seen between two machines' BLAS: a 62 degree turn of the seeded mode)."""
    magnitude = np.abs(w)
    weighted = np.sum(magnitude * w)
    return magnitude.max() * weighted / abs(weighted)


def _one_blas_thread() -> threadpool_limits:
    """The dense solves (n ~ 100-300) and their set-up on one BLAS thread: faster than
    several (the set-up took 60 ms on two threads, 6 ms on one), the same bits on any
    machine (D2 @ D2 at n = 126 differed in the last bits between 1 and 2 threads), and a
    multithreaded BLAS pool would keep competing with the solver's own threads for the rest
    of the process."""
    return threadpool_limits(limits=1, user_api="blas")


def _nearest_eigenpair(
    A: NDArray[np.complex128], B: NDArray[np.complex128], shift: complex
) -> tuple[complex, NDArray[np.complex128], int | None]:
    """Eigenpair of A q = σ B q nearest to shift by inverse iteration, and the step at which
    it settled (None: not within _ITERATIONS).

    The factorised matrix is offset from shift by a relative 1e-10 so that it is never exactly
    singular when shift is itself an eigenvalue.
    """
    pole = shift + 1e-10 * max(1.0, abs(shift))
    lu = sla.lu_factor(A - pole * B, check_finite=False)
    rng = np.random.default_rng(0)
    q = rng.standard_normal(A.shape[0]) + 1j * rng.standard_normal(A.shape[0])
    q /= np.linalg.norm(q)
    sigma = complex(np.inf)
    for step in range(1, _ITERATIONS + 1):
        y = sla.lu_solve(lu, B @ q, check_finite=False)
        new = pole + 1 / np.vdot(q, y)  # q' (A - pole B)⁻¹ B q → 1 / (σ - pole)
        q = y / np.linalg.norm(y)
        if abs(new - sigma) <= 1e-12 * max(1.0, abs(new)):
            return new, q, step
        sigma = new
    return sigma, q, None


def _agreements(
    A: NDArray[np.complex128],
    B: NDArray[np.complex128],
    candidates: NDArray[np.complex128],
    spectrum: Callable[[], NDArray[np.complex128]],
) -> Iterator[tuple[complex, float, int | None]]:
    """(candidate, distance to the nearest eigenvalue of A q = σ B q, steps): the inverse
    iteration steps that found that eigenvalue, 0 from the whole spectrum, None if it did not
    settle (then the distance is unreliable).

    The first _QUICK_CHECKS candidates use inverse iteration; when more are needed (many
    spurious ones, e.g. a stable inviscid flow) the whole (finite) spectrum() is used.
    """
    for candidate in candidates[:_QUICK_CHECKS]:
        match, _, steps = _nearest_eigenpair(A, B, candidate)
        yield candidate, abs(match - candidate), steps
    if candidates.size > _QUICK_CHECKS:
        eigenvalues = spectrum()
        for candidate in candidates[_QUICK_CHECKS:]:
            yield candidate, float(np.abs(eigenvalues - candidate).min()), 0


@dataclass(frozen=True)
class _Choice:
    """The eigenvalue that _Solver.mode reports at one k, and how firmly its rules chose it."""

    sigma: complex  # an eigenvalue of the n-point problem, before refinement
    error: float  # its distance to the nearest one at the check resolution
    converged: bool  # settled and error <= CONVERGENCE_TOL
    by_rule: bool  # accepted by a rule, not the best-agreeing fallback
    margin: float  # smallest |value - threshold| of the decisions that led to it
    steady: bool  # every inverse iteration behind those decisions settled in half its steps


class _Solver:
    """Eigen solves at n and about 1.5n points for a fixed base state and parameters.

    Call its methods on one BLAS thread (inside _one_blas_thread()).
    """

    def __init__(
        self, U: Profile, B: Profile, *, Re: float, Pr: float, Lz: float, bc_z: str, n: int | None
    ):
        if bc_z not in BOUNDARY_CONDITIONS:
            raise ConfigError(f"bc_z must be one of {BOUNDARY_CONDITIONS}, got {bc_z!r}")
        if not (Re > 0 and 0 < Pr < math.inf and 0 < Lz < math.inf):
            raise ConfigError(f"need Re > 0, 0 < Pr < inf and 0 < Lz < inf; got {Re}, {Pr}, {Lz}")
        periodic = bc_z == "periodic"
        if n is None:
            n = 2 * math.ceil(PERIODIC_DENSITY * Lz / 2) if periodic else DEFAULT_N_WALLS
        if n < 16 or (periodic and n % 2):
            raise ConfigError(f"n must be >= 16 (and even for bc_z='periodic'), got {n}")
        check = 2 * round(0.75 * n) if periodic else round(1.5 * n)
        self.inviscid = math.isinf(Re)
        self.Re, self.Lz = Re, Lz
        self.fine = _Discretisation(U, B, Re, Pr, Lz, bc_z, n, CLUSTER_WIDTH)
        self.check = _Discretisation(U, B, Re, Pr, Lz, bc_z, check, CHECK_CLUSTER_WIDTH)
        self._modes: dict[float, Mode] = {}  # by k: a search asks again for its best k
        self._check_spectra: dict[float, NDArray[np.complex128]] = {}  # by k

    def mode(self, k: float) -> Mode:
        """The most unstable converged mode at wavenumber k (see most_unstable_mode)."""
        if not k > 0:
            raise ConfigError(f"wavenumber k must be positive, got {k}")
        if k in self._modes:
            return self._modes[k]
        A, B = self.fine.matrices(k)
        sigmas = sla.eigvals(A, B, check_finite=False)
        sigmas = sigmas[np.isfinite(sigmas) & (np.abs(sigmas) < _HUGE)]
        if sigmas.size == 0:
            raise ConfigError(
                f"linear stability: no usable eigenvalue at k = {k:.4g} (every one is beyond "
                f"{_HUGE:.0e} or not finite): Re = {self.Re:g} or Lz = {self.Lz:g} "
                "is far outside the range the solver (and a simulation) can resolve"
            )
        choice = self._choose(k, sigmas)
        sigma, q, _ = _nearest_eigenpair(A, B, choice.sigma)
        if self.inviscid and abs(sigma.real) < NEUTRAL_TOL:
            sigma = complex(0.0, sigma.imag)
        u, w, b = self.fine.fields(k, q)
        self._modes[k] = Mode(
            k=float(k),
            sigma=complex(sigma),
            z=self.fine.grid.z.copy(),
            u=u,
            w=w,
            b=b,
            converged=choice.converged,
            error_estimate=choice.error,
        )
        return self._modes[k]

    def growth_rate_estimate(self, k: float) -> tuple[float, float] | None:
        """(rate, bound) with |mode(k).sigma.real - rate| <= bound, without mode's QZ solve.

        The eigenvalues come from the standard problem (B⁻¹A) q = σ q (QR, about 2.5x cheaper
        than QZ on A q = σ B q), mode's rules choose among them, and inverse iteration on A, B
        refines the chosen one. Both spectra are the same up to round-off, which the QR one
        carries as δ = |refined - chosen|: so ``bound`` = max(SCAN_SAFETY δ, SCAN_FLOOR |σ|).
        None where that choice might not be mode's: a decision closer to its threshold than
        the bound, an inverse iteration slow to settle, or no eigenvalue accepted by a rule.
        """
        A, B = self.fine.matrices(k)
        try:
            standard = self.fine.standard_matrix(A, B)
            sigmas = sla.eigvals(standard, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:  # B singular (infinite eigenvalues) or QR failed: QZ's job
            return None
        sigmas = sigmas[np.isfinite(sigmas) & (np.abs(sigmas) < _HUGE)]
        if sigmas.size == 0:
            return None
        choice = self._choose(k, sigmas)
        if not (choice.by_rule and choice.steady):
            return None
        sigma, _, steps = _nearest_eigenpair(A, B, choice.sigma)
        bound = max(SCAN_SAFETY * abs(sigma - choice.sigma), SCAN_FLOOR * max(1.0, abs(sigma)))
        if steps is None or choice.margin <= bound:
            return None
        if self.inviscid and abs(sigma.real) < NEUTRAL_TOL:  # mode reports exactly 0
            return (0.0, 0.0) if abs(sigma.real) + bound < NEUTRAL_TOL else None
        return float(sigma.real), bound

    def _choose(self, k: float, sigmas: NDArray[np.complex128]) -> _Choice:
        """mode's choice among the eigenvalues sigmas of the n-point problem at k.

        In order of growth rate: the first growing one that agrees with the check resolution
        to GROWTH_AGREEMENT of its growth rate, else the first converged non-growing one,
        else (no rule met) the one that agrees best.
        """
        A2, B2 = self.check.matrices(k)
        ordered = sigmas[np.argsort(-sigmas.real)]
        neutral = NEUTRAL_TOL if self.inviscid else 0.0
        best, best_error, converged = ordered[0], math.inf, False
        margin, steady = math.inf, True
        spectrum = functools.partial(self._check_spectrum, k, A2, B2)
        for candidate, error, steps in _agreements(A2, B2, ordered, spectrum):
            settled = steps is not None
            steady = steady and settled and steps <= _ITERATIONS // 2
            tolerance = CONVERGENCE_TOL * max(1.0, abs(candidate))
            agrees = settled and error <= tolerance
            if candidate.real > neutral:
                threshold = GROWTH_AGREEMENT * candidate.real
                accept = error <= threshold
            else:
                threshold = tolerance
                accept = agrees
            margin = min(margin, abs(candidate.real - neutral), abs(error - threshold))
            if accept or error < best_error:
                best, best_error, converged = candidate, error, agrees
            if accept:
                return _Choice(best, best_error, converged, True, margin, steady)
        return _Choice(best, best_error, converged, False, margin, steady)

    def _check_spectrum(
        self, k: float, A2: NDArray[np.complex128], B2: NDArray[np.complex128]
    ) -> NDArray[np.complex128]:
        """The finite eigenvalues of the check problem A2 q = σ B2 q at k, kept for a second
        choice at the same k (mode after growth_rate_estimate)."""
        if k not in self._check_spectra:
            spectrum = sla.eigvals(A2, B2, check_finite=False)
            self._check_spectra[k] = spectrum[np.isfinite(spectrum)]
        return self._check_spectra[k]


def _fastest_of_scan(solver: _Solver, ks: NDArray[np.float64]) -> int:
    """argmax over ks of solver.mode(k).sigma.real, the same index, from the cheaper
    growth_rate_estimate where it decides: mode itself runs only where an estimate is
    undecided or, within the bounds, may be the largest.

    With estimates r ± b the largest rate is at least max(r - b); only ks with
    r + b >= max(r - b) can hold it, and among them the exact rates pick the first largest,
    as np.argmax of all exact rates would.
    """
    rates, bounds = np.empty(ks.size), np.empty(ks.size)
    for i, k in enumerate(ks):
        estimate = solver.growth_rate_estimate(float(k))
        if estimate is None:
            estimate = (solver.mode(float(k)).sigma.real, 0.0)
        rates[i], bounds[i] = estimate
    contenders = np.flatnonzero(rates + bounds >= np.max(rates - bounds))
    if contenders.size > 1:
        for i in contenders:
            rates[i] = solver.mode(float(ks[i])).sigma.real
    return int(np.argmax(rates))
