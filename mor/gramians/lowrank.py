"""Low-rank Gramian factors of large sparse systems: the low-rank ADI iteration.

Equations solved, for ``P ~= Z Z^H`` and ``Q ~= Y Y^H`` with ``Z``, ``Y`` of few columns::

    continuous:  A P + P A^H + B B^H = 0          A^H Q + Q A + C^H C = 0
    discrete:    A P A^H - P + B B^H = 0          A^H Q A - Q + C^H C = 0
    descriptor (continuous, E non-singular):
                 A P E^H + E P A^H + B B^H = 0    A^H Q E + E^H Q A + C^H C = 0

Algorithm (each step a named helper below):

1. *Low-rank ADI* (Penzl; Li & White) in the residual-factor form of Benner, Kuerschner & Saak
   (2013): with ``W_0 = B`` and shifts ``p_j`` (``Re p_j < 0``)::

       V_j = (A + p_j I)^-1 W_{j-1},   W_j = W_{j-1} - 2 Re(p_j) V_j,   Z <- [Z, sqrt(-2 Re p_j) V_j]

   so that ``A Z Z^H + Z Z^H A^H + B B^H = W_j W_j^H`` (in exact arithmetic): the residual norm is
   ``||W_j||_2^2``, computed at every step.  Descriptor systems (the generalised ADI):
   ``V_j = (A + p_j E)^-1 W_{j-1}``, ``W_j = W_{j-1} - 2 Re(p_j) E V_j``, and
   ``A Z Z^H E^H + E Z Z^H A^H + B B^H = W_j W_j^H``.  Real systems process a complex shift and its conjugate
   together in real arithmetic (one complex solve, two real blocks).  Discrete systems run the
   same iteration on the Cayley transform ``(A - I)(A + I)^-1``, which has the same Gramians
   (:mod:`mor.linalg._shifted`).
2. *One factorisation for both Gramians.*  The observability iteration uses the conjugate shifts
   on ``A^H``: ``A^H + conj(p) I = (A + p I)^H``, so both equations advance in lockstep on one
   sparse LU per shift (``scipy.sparse.linalg.splu``).
3. *Self-generated shifts, reused.*  Ritz values of ``A`` on the span of the last iterates
   (projection shifts, Kuerschner 2016) estimate where the residual lives.  Each cycle picks its
   shifts greedily (Penzl's heuristic): at the Ritz value where the ADI rational function of the
   cycle, ``prod_j |(theta - conj(p_j)) / (theta + p_j)|``, is largest, it takes an already
   factorised shift if one damps that point by at least 2, else a new shift there (at most
   :data:`NEW_SHIFTS_PER_CYCLE` a cycle), until the function is below :data:`CYCLE_TARGET` on
   every Ritz value.  A factorisation costs ~25-30 solves at n = 10^5, so reuse is what makes
   the iteration fast (measured on a 2-D convection-diffusion model: 8-10 factorisations for both
   Gramians where the plain projection-shift ADI needs ~40 per Gramian).
4. *Certified residuals.*  Every solve's residual ``delta_j = (A + p_j I) V_j - W_{j-1}`` is
   computed with products by ``A``; then exactly ``R = W W^H + Delta Z^H + Z Delta^H`` with
   ``Delta`` the scaled ``delta_j``, so ``||R|| <= ||W||^2 + 2 ||Delta||_F ||Z||_2`` bounds the
   true residual of the returned factor, rounding of the solves included.  Descriptor systems:
   ``delta_j = (A + p_j E) V_j - W_{j-1}``, ``R = W W^H + Delta Z^H E^H + E Z Delta^H`` and
   ``||E Z||_2`` replaces ``||Z||_2``.
5. *Gramian error bounds.*  ``P - Z Z^H`` solves a Lyapunov equation with right-hand side ``R``,
   so ``||P - Z Z^H|| <= kappa ||R||`` with ``kappa = 1 / (2 omega)`` when the Hermitian part of
   ``A`` satisfies ``(A + A^H)/2 <= -omega I`` (continuous), ``kappa = 1 / (1 - ||A||_2^2)`` when
   ``||A||_2 < 1`` (discrete).  ``omega`` is estimated by shift-invert Lanczos and *certified* by
   an inertia count (a symmetric, non-pivoted sparse LDL^T of ``-(A + A^H)/2 - sigma I`` with every
   pivot positive).  Without such a certificate the error bounds are ``None`` (always for
   descriptor systems, whose residuals are certified but not turned into Gramian error bounds).
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla

from .._display import compact_repr
from ..errors import AccuracyWarning, ConvergenceError, NumericalError, SystemTypeError
from ..linalg._arrays import binary_exponent
from ..linalg._shifted import ShiftedOperator
from ..systems.descriptor import eliminate_algebraic
from ..systems.sparse import SparseLTI, as_sparse_system
from ..validation import check_bool, check_int, check_real

__all__ = ["LowRankGramians", "adi_system", "low_rank_gramians", "lyapunov_inverse_bound"]

logger = logging.getLogger(__name__)

#: A cycle's shifts are chosen until the ADI rational function is below this on every Ritz value.
CYCLE_TARGET = 0.1
#: A factorised shift is reused at a Ritz value when it damps it at least this much.
REUSE_FACTOR = 0.5
#: New shifts (new factorisations) allowed per cycle, and the longest cycle.
NEW_SHIFTS_PER_CYCLE = 3
MAX_CYCLE = 32
#: Projection shifts come from the span of the iterates of this many trailing steps.
RITZ_STEPS = 6
#: Once the cached factorisations hold this many entries (``nnz(L + U)`` summed), no new
#: shifts are factorised (about 3 GiB of complex factors).
MAX_FACTOR_ENTRIES = 2 * 10**8

_EPS = np.finfo(float).eps


@dataclass(frozen=True)
class LowRankGramians:
    """Low-rank Gramian factors and what qualifies them (see :func:`low_rank_gramians`).

    Attributes
    ----------
    Z : (n, kP) ndarray
        Factor of the controllability Gramian: ``P ~= Z Z^H`` (real for real systems).
    Y : (n, kQ) ndarray
        Factor of the observability Gramian: ``Q ~= Y Y^H``.
    residuals : tuple of float
        Certified relative residuals ``(||R_P||_2 / ||B||_2^2, ||R_Q||_2 / ||C||_2^2)``, with
        ``R_P = A Z Z^H + Z Z^H A^H + B B^H`` (discrete: ``A Z Z^H A^H - Z Z^H + B B^H``) and
        ``R_Q`` likewise: upper bounds that include the rounding errors of the solves (``0`` for
        a zero ``B`` or ``C``).
    residual_history : tuple of ndarray
        The residual norms ``||W_j||_2^2`` of the iteration (relative, as above but without the
        rounding term), one per step, for ``P`` and for ``Q``.
    shifts : ndarray
        The ADI shifts in the order they were applied (discrete systems: shifts of the Cayley
        transform).  For real systems a complex shift stands for itself and its conjugate.
    factorizations : int
        Sparse LU factorisations of shifted matrices (shared by both Gramians).
    steps : int
        ADI steps (a complex shift of a real system counts twice: the degree of the rational
        function), the larger of the two equations.
    discrete : bool
        Whether the Gramians are the discrete-time ones.
    gramian_errors : tuple of float or None
        Certified bounds ``(||P - Z Z^H||_2, ||Q - Y Y^H||_2)`` (absolute), ``None`` when no
        certificate of the decay of ``A`` was found (see ``lyapunov_bound``).
    lyapunov_bound : float or None
        ``kappa`` with ``||X||_2 <= kappa ||R||_2`` for the solution of the Lyapunov (Stein)
        equation with right-hand side ``R``: ``1 / (2 omega)`` (continuous,
        ``(A + A^H)/2 <= -omega I``) or ``1 / (1 - ||A||_2^2)`` (discrete); ``None`` when not
        certified.
    note : str
        How ``lyapunov_bound`` was obtained, or why it is ``None``.
    norms : tuple of float
        ``(||Z||_2^2, ||Y||_2^2)``, the norms of the approximate Gramians.
    seconds : float
        Wall time of the computation.
    """

    __repr__ = compact_repr  # fits a screen: arrays by shape (mor._display)

    Z: np.ndarray
    Y: np.ndarray
    residuals: tuple[float, float]
    residual_history: tuple[np.ndarray, np.ndarray]
    shifts: np.ndarray
    factorizations: int
    steps: int
    discrete: bool
    gramian_errors: tuple[float, float] | None
    lyapunov_bound: float | None
    note: str
    norms: tuple[float, float]
    seconds: float


# --------------------------------------------------------------------------- one ADI equation
class _Equation:
    """State of one low-rank ADI iteration: residual factor, factor blocks, residual bookkeeping."""

    def __init__(self, op: ShiftedOperator, G: np.ndarray, adjoint: bool, scale: float):
        self.adjoint = adjoint
        self.W, G_exact = op.start(G, adjoint)
        self.gnorm2 = float(np.linalg.norm(G, 2) ** 2) if G.size else 0.0
        # discrete: W_0 represents G_exact exactly; ||G G^H - G_exact G_exact^H|| adds to the residual
        self.start_error = float(np.linalg.norm(G_exact - G, 2) * (np.linalg.norm(G_exact, 2) + np.linalg.norm(G, 2)))
        self.scale = scale  # ||R_original|| <= scale * ||R_transformed|| (1 continuous, ||A + I||^2 / 2 discrete)
        self.blocks: list[np.ndarray] = []
        self.delta_fro2 = 0.0
        self.degree = 0
        self.history: list[float] = []
        self.done = self.gnorm2 == 0.0

    @property
    def rank(self) -> int:
        return sum(b.shape[1] for b in self.blocks)

    def estimate(self) -> float:
        """Relative residual estimate ``scale ||W||^2 / ||G||^2`` (exact-arithmetic residual)."""
        if self.gnorm2 == 0.0:
            return 0.0
        return self.scale * float(np.linalg.norm(self.W, 2) ** 2) / self.gnorm2

    def step(self, op: ShiftedOperator, p: complex) -> None:
        """One ADI step with shift ``p`` (a conjugate pair in real arithmetic when ``p`` is complex)."""
        V, d = op.solve(p, self.W, self.adjoint)
        if op.complex_mode or p.imag == 0:
            g2 = -2.0 * p.real
            if not op.complex_mode:
                V, d = V.real, d.real
            self.W = self.W + g2 * op.mass(V, self.adjoint)
            self.blocks.append(np.sqrt(g2) * V)
            self.delta_fro2 += g2 * float(np.linalg.norm(d) ** 2)
            self.degree += 1
        else:  # real system, complex pair (p, conj(p)): Benner, Kuerschner & Saak (2013)
            gs = -4.0 * p.real
            ratio = p.real / p.imag
            Vr = V.real + ratio * V.imag
            self.W = self.W + gs * op.mass(Vr, self.adjoint)
            g = np.sqrt(gs)
            self.blocks.append(np.concatenate([g * Vr, (g * np.hypot(ratio, 1.0)) * V.imag], axis=1))
            dr = d.real + ratio * d.imag
            self.delta_fro2 += gs * float(np.linalg.norm(dr) ** 2 + (ratio**2 + 1) * np.linalg.norm(d.imag) ** 2)
            self.degree += 2
        self.history.append(self.estimate())

    def factor(self, n: int, dtype: type) -> np.ndarray:
        return np.concatenate(self.blocks, axis=1) if self.blocks else np.zeros((n, 0), dtype=dtype)

    def certified_residual(self, Z: np.ndarray) -> float:
        """Relative bound ``(scale (||W||^2 + 2 ||Delta||_F ||Z||_2) + start_error) / ||G||^2``
        (descriptor systems: called with ``E Z``)."""
        if self.gnorm2 == 0.0:
            return 0.0
        znorm = np.sqrt(_norm2(Z))
        wnorm2 = float(np.linalg.norm(self.W, 2) ** 2)
        bound = self.scale * (wnorm2 + 2.0 * np.sqrt(self.delta_fro2) * znorm) + self.start_error
        return bound / self.gnorm2


def _norm2(Z: np.ndarray) -> float:
    """``||Z||_2^2`` from the Gram matrix (the largest eigenvalue: no cancellation)."""
    return float(max(np.linalg.eigvalsh(Z.conj().T @ Z)[-1], 0.0)) if Z.shape[1] else 0.0


# --------------------------------------------------------------------------- shifts
def _log_factor(p: complex, theta: np.ndarray, complex_mode: bool) -> np.ndarray:
    """``log |(theta - conj(p)) / (theta + p)|`` (times the conjugate factor for a real-mode pair)."""
    with np.errstate(divide="ignore"):
        out = np.log(np.abs(theta - np.conj(p))) - np.log(np.abs(theta + p))
        if not complex_mode and p.imag != 0:
            out += np.log(np.abs(theta - p)) - np.log(np.abs(theta + np.conj(p)))
    return out


def _shift_from(theta: complex, complex_mode: bool) -> complex:
    """The shift that annihilates the Ritz value ``theta``: ``conj(theta)`` (real mode: the pair)."""
    if complex_mode:
        return complex(np.conj(theta))
    if abs(theta.imag) <= 1e-8 * abs(theta.real):
        return complex(theta.real, 0.0)
    return complex(theta.real, abs(theta.imag))


def _select_shifts(cached: list[complex], ritz: np.ndarray, complex_mode: bool, allow_new: int) -> list[complex]:
    """One cycle of shifts by Penzl's greedy heuristic, preferring factorised shifts (see module notes)."""
    chosen: list[complex] = []
    log_r = np.zeros(len(ritz))
    fresh = 0
    while len(chosen) < MAX_CYCLE:
        j = int(np.argmax(log_r))
        if chosen and log_r[j] < np.log(CYCLE_TARGET):
            break
        theta = ritz[j]
        pick = None
        if cached:
            damp = np.array([_log_factor(p, np.array([theta]), complex_mode)[0] for p in cached])
            if damp.min() < np.log(REUSE_FACTOR):
                pick = cached[int(np.argmin(damp))]
        if pick is None:
            if fresh >= allow_new:
                break
            pick = _shift_from(theta, complex_mode)
            cached = [*cached, pick]
            fresh += 1
        chosen.append(pick)
        log_r = log_r + _log_factor(pick, ritz, complex_mode)
    return chosen


def _stable_ritz(op: ShiftedOperator, X: np.ndarray, complex_mode: bool) -> np.ndarray:
    theta = op.ritz_values(X)
    theta = theta[np.isfinite(theta) & (theta.real < 0)]
    return theta if complex_mode else theta[theta.imag >= 0]


def _initial_ritz(op: ShiftedOperator, eqs: list[_Equation], complex_mode: bool) -> np.ndarray:
    """Ritz values on ``span{W, F W, F^2 W}`` of both equations' right-hand sides (random if unstable)."""
    blocks = []
    for eq in eqs:
        X = eq.W
        for _ in range(3):
            blocks.append(X)
            X = op.apply(X, eq.adjoint)
    theta = _stable_ritz(op, np.concatenate(blocks, axis=1), complex_mode)
    if theta.size:
        return theta
    rng = np.random.default_rng(0)
    X = rng.standard_normal((op.n, max(8, sum(b.shape[1] for b in blocks))))
    theta = _stable_ritz(op, X, complex_mode)
    if not theta.size:
        raise NumericalError(
            "no stable Ritz value of A on the Krylov and on a random subspace: A is probably unstable "
            "(or its field of values lies far in the right half-plane); the low-rank ADI needs shifts with "
            "Re p < 0"
        )
    return theta


def _projection_ritz(op: ShiftedOperator, eqs: list[_Equation], complex_mode: bool) -> np.ndarray:
    """Ritz values on the span of the trailing iterates of the unfinished equations."""
    blocks = [b for eq in eqs if not eq.done for b in eq.blocks[-RITZ_STEPS:]]
    if not blocks:
        return np.zeros(0, complex)
    return _stable_ritz(op, np.concatenate(blocks, axis=1), complex_mode)


# --------------------------------------------------------------------------- the iteration
def _iterate(solver: ADISolver, tol: float) -> None:
    """Cycles of shared-shift ADI steps until both relative residual estimates are ``<= tol``."""
    op, eqs = solver.op, solver.eqs
    for eq in eqs:
        eq.done = eq.gnorm2 == 0.0 or eq.estimate() <= tol
    if not all(eq.done for eq in eqs) and solver.ritz is None:
        solver.ritz = _initial_ritz(op, eqs, op.complex_mode)
    while not all(eq.done for eq in eqs):
        allow = NEW_SHIFTS_PER_CYCLE if op.factor_entries < MAX_FACTOR_ENTRIES else 0
        cycle = _select_shifts(op.shifts, solver.ritz, op.complex_mode, allow)
        if not cycle:
            cycle = op.shifts  # memory cap reached and nothing selected: cycle through the cached shifts
        for p in cycle:
            _check_budget(eqs, solver.max_steps, solver.max_rank, tol)
            for eq in eqs:
                if not eq.done:
                    eq.step(op, p)
                    eq.done = eq.history[-1] <= tol
            solver.applied.append(p)
            if all(eq.done for eq in eqs):
                break
        fresh = _projection_ritz(op, eqs, op.complex_mode)
        if fresh.size:
            solver.ritz = fresh


def _check_budget(eqs: list[_Equation], max_steps: int, max_rank: int, tol: float) -> None:
    """Raise :class:`ConvergenceError` once an unfinished equation exhausted its step or rank budget."""
    for eq, name in zip(eqs, ("controllability (P)", "observability (Q)"), strict=True):
        if eq.done or (eq.degree < max_steps and eq.rank < max_rank):
            continue
        raise ConvergenceError(
            f"low-rank ADI did not reach the relative residual {tol:.2g} for the {name} Gramian: "
            f"{eq.history[-1] if eq.history else 1.0:.2e} after {eq.degree} steps with a factor of rank {eq.rank} "
            f"(limits: max_steps={max_steps}, max_rank={max_rank}).  The Hankel singular values probably decay "
            "slowly (lightly damped modes, many inputs/outputs): use the dense route (n <= DENSIFY_LIMIT), "
            "or raise max_rank / max_steps, or loosen tol"
        )


# --------------------------------------------------------------------------- certification of kappa
def _ldl_if_positive(M: sps.spmatrix) -> spla.SuperLU | None:
    """A factorisation of the Hermitian sparse ``M`` if ``M`` is positive definite, else ``None``.

    SuperLU in symmetric mode with ``diag_pivot_thresh=0`` factorises ``P M P^T = L U`` with the
    same permutation on both sides; then ``U = D L^H`` and, by Sylvester's law of inertia, ``M`` is
    positive definite exactly when every diagonal entry of ``U`` is positive.
    """
    try:
        lu = spla.splu(
            sps.csc_matrix(M), permc_spec=_PD_ORDERING, diag_pivot_thresh=0.0, options={"SymmetricMode": True}
        )
    except RuntimeError:  # a zero pivot: singular
        return None
    if not np.array_equal(lu.perm_r, lu.perm_c):
        return None
    d = lu.U.diagonal()
    return lu if bool(np.all(d.real > 0) and np.all(np.abs(d.imag) <= 1e-8 * np.abs(d.real))) else None


_PD_ORDERING = "MMD_AT_PLUS_A"


_DENSE_EIGVAL_MAX_N = 64  # up to this size lambda_min is computed densely (ARPACK needs k < n - 1)


def _smallest_eigenvalue(M: sps.spmatrix, lu: spla.SuperLU, n: int, dtype: type) -> float | None:
    """Estimate of ``lambda_min`` of a positive definite ``M`` from its factorisation: Lanczos on ``M^-1``.

    Small ``M`` (``n <= 64``) is solved densely instead: ARPACK cannot run Lanczos with ``k >= n - 1``.
    """
    if n <= _DENSE_EIGVAL_MAX_N:
        return float(np.linalg.eigvalsh(M.toarray())[0])
    op = spla.LinearOperator((n, n), matvec=lambda x: lu.solve(np.asarray(x, dtype=dtype)), dtype=dtype)
    try:
        mu = spla.eigsh(op, k=1, which="LA", tol=1e-8, maxiter=2000, return_eigenvectors=False)[0]
    except spla.ArpackNoConvergence:
        return None
    return 1.0 / float(np.real(mu)) if np.real(mu) > 0 else None


def lyapunov_inverse_bound(A: sps.spmatrix, discrete: bool) -> tuple[float | None, str]:
    """``kappa`` with ``||X||_2 <= kappa ||R||_2`` for ``A X + X A^H + R = 0`` (or ``A X A^H - X + R = 0``).

    Parameters
    ----------
    A : (n, n) scipy.sparse matrix
        The state matrix.
    discrete : bool
        Stein equation (discrete time) instead of Lyapunov.

    Returns
    -------
    kappa : float or None
        ``1 / (2 omega)`` when ``(A + A^H)/2 <= -omega I`` (continuous), ``1 / omega`` with
        ``omega = 1 - ||A||_2^2`` (discrete); ``None`` when no such ``omega > 0`` is certified.
    note : str
        What was certified, or why not.

    Notes
    -----
    With ``M = -(A + A^H)/2`` (continuous) or ``M = I - A^H A`` (discrete): ``M`` must be
    positive definite (inertia count of a non-pivoted sparse LDL^T); its smallest eigenvalue is
    estimated by Lanczos on ``M^-1`` (with that factorisation), and ``omega`` is certified as
    ``(1 - 1e-3)`` times the estimate by a second inertia count of ``M - omega I``.  Costs two
    sparse factorisations.
    Continuous: ``||e^{At}|| <= e^{-omega t}`` gives ``||X|| <= ||R|| / (2 omega)``; discrete:
    ``||A^k|| <= ||A||^k`` gives ``||X|| <= ||R|| / (1 - ||A||^2)``.
    """
    A = sps.csr_matrix(A)
    eye = sps.identity(A.shape[0], format="csr", dtype=A.dtype)
    M = eye - A.conj().T @ A if discrete else -(A + A.conj().T) / 2
    what = "I - A^H A (||A||_2 < 1)" if discrete else "-(A + A^H)/2 (a strictly dissipative A)"
    lu = _ldl_if_positive(M)
    if lu is None:
        return None, f"not certified: {what} is not positive definite, so no residual-to-error bound is available"
    estimate = _smallest_eigenvalue(M, lu, A.shape[0], np.complex128 if np.iscomplexobj(M.data) else np.float64)
    if estimate is None or estimate <= 0:
        return None, f"not certified: the smallest eigenvalue of {what} could not be estimated (Lanczos)"
    omega = (1 - 1e-3) * estimate
    if _ldl_if_positive(M - omega * eye) is None:
        return None, f"not certified: the estimate {estimate:.6g} of lambda_min({what}) failed the inertia check"
    kappa = 1.0 / omega if discrete else 1.0 / (2.0 * omega)
    return kappa, f"certified: lambda_min({what}) > {omega:.6g} (inertia count), kappa = {kappa:.6g}"


# --------------------------------------------------------------------------- public entry point
def check_options(sys: SparseLTI, tol: Any, max_steps: Any, max_rank: Any, certify: Any, compress: Any) -> tuple:
    """Validated ``(tol, max_steps, max_rank, certify, compress)`` of :func:`low_rank_gramians`.

    ``max_rank=None`` becomes ``min(n, max(100, n // 4), 1000)``.
    """
    tol = check_real(tol, "tol (relative residual)", minimum=0.0, maximum=1.0, include_min=False, include_max=False)
    max_steps = check_int(max_steps, "max_steps")
    if max_rank is None:
        max_rank = min(sys.n, max(100, sys.n // 4), 1000)
    max_rank = check_int(max_rank, "max_rank")
    return tol, max_steps, max_rank, check_bool(certify, "certify"), check_bool(compress, "compress")


def adi_system(sys: Any) -> SparseLTI:
    """``sys`` as the one :class:`SparseLTI` the ADI iteration runs on.

    Dense and unbatched diagonal systems are converted (:func:`mor.systems.sparse.as_sparse_system`);
    a descriptor system keeps ``E``, with the algebraic states of a semi-explicit index-1 system
    eliminated (:func:`mor.systems.descriptor.eliminate_algebraic`).

    Parameters
    ----------
    sys : SparseLTI or anything :func:`mor.as_system` accepts
        The system.

    Returns
    -------
    SparseLTI

    Raises
    ------
    SystemTypeError
        A discrete-time descriptor system (no low-rank route), or an ``E`` that is singular but not
        of semi-explicit index 1.
    InvalidArgumentError
        A batch of diagonal systems.
    """
    sys = eliminate_algebraic(as_sparse_system(sys))
    if sys.E is not None and sys.dt is not None:
        raise SystemTypeError(
            "discrete-time descriptor systems have no low-rank route; use the dense route (route='dense') "
            "or the standard form"
        )
    return sys


def _compress(Z: np.ndarray) -> np.ndarray:
    """``Z`` with the columns of its numerical null space removed: ``Z Z^H`` changes by ``<= k eps ||Z||^2``."""
    if Z.shape[1] == 0:
        return Z
    Q, R = np.linalg.qr(Z)
    U, s, _ = np.linalg.svd(R)
    keep = s > Z.shape[1] * _EPS * s[0]
    return Q @ (U[:, keep] * s[keep])


def low_rank_gramians(
    sys: Any,
    *,
    tol: float = 1e-10,
    max_steps: int = 500,
    max_rank: int | None = None,
    certify: bool = True,
    compress: bool = True,
) -> LowRankGramians:
    """Low-rank factors ``P ~= Z Z^H``, ``Q ~= Y Y^H`` of the Gramians of a large sparse stable system.

    Solves ``A P + P A^H + B B^H = 0`` and ``A^H Q + Q A + C^H C = 0`` (discrete:
    ``A P A^H - P + B B^H = 0`` and ``A^H Q A - Q + C^H C = 0``) by the low-rank ADI iteration
    with self-generated, reused shifts; see the module notes for the algorithm.

    Parameters
    ----------
    sys : SparseLTI or anything :func:`mor.as_system` accepts
        A stable system with few inputs and outputs; dense systems are converted to sparse.
        Continuous descriptor systems (``E`` given, non-singular) get the generalised Gramians
        ``A P E^H + E P A^H + B B^H = 0``, ``A^H Q E + E^H Q A + C^H C = 0`` (shifted solves with
        ``A + p E``; semi-explicit index-1 systems have their algebraic states eliminated first);
        their residuals are certified, their Gramian errors are not (``gramian_errors`` is ``None``).
    tol : float
        Relative residual ``||R||_2 / ||B||_2^2`` (and ``/ ||C||_2^2``) at which the iteration
        stops, ``0 < tol < 1``.
    max_steps : int
        Most ADI steps per Gramian (a complex shift of a real system counts twice).
    max_rank : int, optional
        Most columns per factor; default ``min(n, max(100, n // 4), 1000)``.
    certify : bool
        Also certify ``kappa`` (the Lyapunov operator's inverse bound; two sparse
        factorisations) and return the Gramian error bounds.
    compress : bool
        Remove the numerically dependent columns of the factors (a QR and an SVD of each).

    Returns
    -------
    LowRankGramians

    Raises
    ------
    ConvergenceError
        ``tol`` not reached within ``max_steps`` or ``max_rank`` (slowly decaying Hankel singular
        values: lightly damped modes); the message gives the residuals reached.
    NumericalError
        No stable shift could be generated (an unstable ``A``), or a shifted matrix is singular.
    InvalidArgumentError
        Bad ``tol``, ``max_steps``, ``max_rank``; a batch of diagonal systems.

    Notes
    -----
    Stability of a large sparse ``A`` is not checked (it would need its rightmost eigenvalues):
    an unstable ``A`` shows as an iteration that does not converge, or as unstable Ritz values.
    The returned ``residuals`` are certified upper bounds (see the module notes, step 4); if
    they exceed ``tol`` (rounding errors of the solves, ill-conditioned shifted matrices) an
    :class:`~mor.errors.AccuracyWarning` says so.

    Examples
    --------
    >>> from mor import low_rank_gramians
    >>> from mor.models import heat_1d
    >>> g = low_rank_gramians(heat_1d(4000))
    >>> bool(g.Z.shape[1] < 60 and max(g.residuals) < 1e-9)
    True
    """
    sys = adi_system(sys)
    tol, max_steps, max_rank, certify, compress = check_options(sys, tol, max_steps, max_rank, certify, compress)
    solver = ADISolver(sys, max_steps, max_rank)
    solver.run(tol)
    return solver.result(tol, certify=certify, compress=compress)


class ADISolver:
    """The resumable engine of :func:`low_rank_gramians`: both ADI iterations of one system.

    ``run(tol)`` iterates until both residual estimates are ``<= tol``; a later ``run`` with a
    smaller ``tol`` continues from there on the cached factorisations (only solves).
    ``result()`` assembles a :class:`LowRankGramians` (the dissipativity certificate is computed
    once and cached).

    Parameters
    ----------
    sys : SparseLTI
        The system.
    max_steps, max_rank : int
        The budgets of :func:`low_rank_gramians` (validated there).
    """

    def __init__(self, sys: SparseLTI, max_steps: int, max_rank: int):
        self.t0 = time.perf_counter()
        self.sys, self.max_steps, self.max_rank = sys, max_steps, max_rank
        self.scaling = _Scaling.of(sys)
        A, B, C = self.scaling.apply(sys)
        self.op = ShiftedOperator(A, sys.dt is not None, sys.is_complex, E=sys.E)
        scale = self.op.plus_norm_bound() ** 2 / 2 if sys.dt is not None else 1.0
        self.eqs = [_Equation(self.op, B, False, scale), _Equation(self.op, C.conj().T, True, scale)]
        self.ritz: np.ndarray | None = None
        self.applied: list[complex] = []
        self._kappa: tuple[float | None, str] | None = None

    def run(self, tol: float) -> None:
        """Iterate until both relative residual estimates are ``<= tol`` (or raise ``ConvergenceError``).

        Parameters
        ----------
        tol : float
            Relative residual.
        """
        _iterate(self, tol)

    def result(self, tol: float, *, certify: bool = True, compress: bool = True) -> LowRankGramians:
        """The factors so far, with their certified residuals and (``certify``) Gramian error bounds.

        Parameters
        ----------
        tol : float
            The tolerance of the last ``run`` (for the :class:`~mor.errors.AccuracyWarning` when
            the certified residual exceeds ``10 * tol``).
        certify : bool
            Certify the dissipativity constant and return Gramian error bounds.
        compress : bool
            Remove numerically dependent columns of the factors.

        Returns
        -------
        LowRankGramians
        """
        sys, eqs, sc = self.sys, self.eqs, self.scaling
        Z, Y = (eq.factor(sys.n, sys.dtype) for eq in eqs)
        residuals = tuple(
            float(eq.certified_residual(self.op.mass(X, eq.adjoint))) for eq, X in zip(eqs, (Z, Y), strict=True)
        )
        _warn_residuals(residuals, tol)
        dropped = (0.0, 0.0)
        if compress:  # dropping singular values below k eps ||Z|| changes Z Z^H by at most (k eps ||Z||)^2
            dropped = tuple((X.shape[1] * _EPS) ** 2 * _norm2(X) for X in (Z, Y))
            Z, Y = _compress(Z), _compress(Y)
        if certify and self._kappa is None:
            self._kappa = (
                lyapunov_inverse_bound(self.op.A, sys.dt is not None) if sys.E is None
                else (None, "not certified: descriptor system (no residual-to-error bound for A - lambda E here)")
            )
        kappa, note = self._kappa if certify else (None, "not requested")
        errors = None
        if kappa is not None:
            errors = tuple(float(kappa * r * eq.gnorm2 + d) for r, eq, d in zip(residuals, eqs, dropped, strict=True))
            errors = (_times_square(errors[0], sc.p_factor), _times_square(errors[1], sc.q_factor))
            kappa, note = kappa / sc.time, note + sc.note(kappa / sc.time)
        norms = (_times_square(_norm2(Z), sc.p_factor), _times_square(_norm2(Y), sc.q_factor))  # inf beyond range
        Z, Y = Z * sc.p_factor, Y * sc.q_factor
        seconds = time.perf_counter() - self.t0
        steps = max(eq.degree for eq in eqs)
        logger.info(
            "low-rank Gramians: n = %d, %d steps, %d factorisations, ranks %d/%d, residuals %.2e/%.2e, %.2f s",
            sys.n, steps, self.op.factorizations, Z.shape[1], Y.shape[1], *residuals, seconds,
        )
        history = tuple(np.asarray(eq.history) for eq in eqs)
        shifts = np.asarray(self.applied, complex) * sc.shift_factor
        return LowRankGramians(
            Z, Y, residuals, history, shifts, self.op.factorizations, steps,
            sys.dt is not None, errors, kappa, note, norms, seconds,
        )


def _times_square(x: float, factor: float) -> float:
    """``x factor^2`` of the scaled problem's Gramian quantities; ``inf`` when the true value overflows."""
    with np.errstate(over="ignore"):
        return float(np.float64(x) * np.float64(factor) * np.float64(factor))


@dataclass(frozen=True)
class _Scaling:
    """Powers of two that bring ``A``, ``B``, ``C`` near unit size before the iteration.

    Continuous time: ``A' = A / 4^k``, ``B' = B / 2^i``, ``C' = C / 2^j`` has Gramians
    ``P = (2^i / 2^k)^2 P'`` and ``Q = (2^j / 2^k)^2 Q'`` (divide the Lyapunov equation by ``4^k``),
    so ``Z = 2^(i-k) Z'`` and ``Y = 2^(j-k) Y'`` exactly, and the shifts are ``4^k`` times those of
    ``A'``.  Discrete time: ``A`` stays (``k = 0``).  Powers of two make the rescaling exact, and
    systems such as ``(1e300 A, 1e300 B, C)`` (finite Gramians, overflowing ``B B^H``) solvable.
    """

    k: int
    i: int
    j: int

    @staticmethod
    def of(sys: SparseLTI) -> _Scaling:
        """The scaling of ``sys`` (exponents of the largest entries of ``A``, ``B``, ``C``)."""

        k = 0 if sys.dt is not None else int(np.clip(binary_exponent(sys.A.data) // 2, -511, 511))  # 4^k finite
        return _Scaling(k, binary_exponent(sys.B), binary_exponent(sys.C))

    def apply(self, sys: SparseLTI) -> tuple[sps.csr_matrix, np.ndarray, np.ndarray]:
        """``(A', B', C')``."""
        return sys.A * np.ldexp(1.0, -2 * self.k), sys.B * np.ldexp(1.0, -self.i), sys.C * np.ldexp(1.0, -self.j)

    @property
    def time(self) -> float:
        """``4^k``: the factor between ``A`` and ``A'``."""
        return float(np.ldexp(1.0, 2 * self.k))

    @property
    def shift_factor(self) -> float:
        """Factor from the shifts of ``A'`` to those of ``A`` (discrete: Cayley shifts, unchanged)."""
        return self.time

    @property
    def p_factor(self) -> float:
        """``Z = p_factor Z'``."""
        return float(np.ldexp(1.0, self.i - self.k))

    @property
    def q_factor(self) -> float:
        """``Y = q_factor Y'``."""
        return float(np.ldexp(1.0, self.j - self.k))

    def note(self, kappa: float) -> str:
        """What the certificate refers to when ``A`` was scaled (``kappa``: the bound for ``A`` itself)."""
        if self.k == 0:
            return ""
        return f", for A / 4^{self.k} (the scaled matrix the iteration ran on); for A itself kappa = {kappa:.6g}"


def _warn_residuals(residuals: tuple[float, float], tol: float) -> None:
    worst = max(residuals)
    if worst > 10 * tol:
        warnings.warn(
            AccuracyWarning(
                f"the certified Gramian residual {worst:.2e} exceeds 10 times tol ({10 * tol:.1e}) although the ADI "
                "residual estimate reached tol: rounding errors of the sparse solves dominate (ill-conditioned "
                "shifted matrices); the Gramian factors are less accurate than asked"
            ),
            stacklevel=3,
        )
