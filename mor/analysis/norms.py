"""System norms.

H-infinity norm (:func:`hinf_norm`)::

    continuous:  ||G||_inf = sup_{w in R}          sigma_max(G(j w))
    discrete:    ||G||_inf = sup_{theta in [-pi, pi]} sigma_max(G(exp(j theta)))

computed by the level-set (Hamiltonian) method of Boyd & Balakrishnan (1990) and
Bruinsma & Steinbuch (1990), started from a seeded, locally refined lower bound.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._guard import guarded
from ..errors import AccuracyWarning
from ..gramians.batched_modal import modal_form
from ..linalg._arrays import eigenvalues, fro_norm
from ..linalg._exact import accurate_log
from ..linalg.schur import complex_schur
from ..systems.batched import BatchedLTI, as_batch, map_members
from ..systems.convert import as_system
from ..systems.lti import LTI, DiagonalLTI
from ..systems.stability import check_stable
from ..validation import check_bool, check_real
from ._frequency import DenseTransfer, DiagonalTransfer, log_resolvent, resolvent

__all__ = ["hinf_norm"]

log = logging.getLogger(__name__)

_WHAT = "the H-infinity norm"

# An eigenvalue lam of the Hamiltonian counts as "on the imaginary axis" when
# |Re lam| <= _AXIS_RTOL * ||H||_1.  Deliberately generous: spurious candidates only
# add evaluation points (every candidate and every midpoint is checked by evaluating
# sigma_max), while a missed crossing could end the iteration early.
_AXIS_RTOL = 1e-6
_MAX_LEVEL_SET_ITER = 40
_N_REFINE = 3  # local maxima of the seeded sweep refined on a grid
_GRID_POINTS = 33  # grid refinement (small problems): bracket / 16 per round ...
_GRID_ROUNDS = 3  # ... spacing bracket / 8192 in the last round, whose parabolic vertex is then within
# ~(1/8192)^2 of the bracket of a smooth peak: value error ~(1/8192)^4 ~ 2e-16 relative
_GRID_FEW_CALLS = 4096  # members x brackets x n up to which the evaluations cost their calls, not their points
_GRID_POINTS_BATCH = 9  # larger problems: bracket / 4 per round ...
_GRID_ROUNDS_BATCH = 6  # ... the same final spacing, bracket / 8192, from 54 points instead of 99
_GRID_MAX_WORK = 2**17  # members x brackets x n of one chunk of the batch grid (its resolvents: ~20 MB)
_MIN_TOL = 4 * np.finfo(float).eps
_MODAL_RCOND = 1e-8  # dense systems: locate peaks in modal form when cond(V) < 1e8
_EPS = np.finfo(float).eps
_ZGEEV = sla.lapack.zgeev
_THETA33 = np.linspace(-np.pi, np.pi, 33)  # seeds of discrete systems
_GEOM12 = np.arange(12) / 11.0  # exponents of the geometric seed grid of continuous systems
_TRUST = 1e-4  # AccuracyWarning when the estimated rounding error of the norm exceeds max(tol, this) ...
_AMPLIFIED = 1e-8  # the message blames the resolvent when the bound exceeds this share of the terms' size


@guarded("hinf_norm", select=lambda out: out[0] if isinstance(out, tuple) else out)  # peak may be inf
def hinf_norm(sys: Any, *, return_peak: bool = False, tol: float = 1e-10) -> Any:
    r"""H-infinity norm of a stable system, with the frequency where it is attained.

    Computes

    .. math::

        \|G\|_\infty = \sup_{\omega \in \mathbb R} \sigma_{\max}(G(j\omega))
        \quad\text{(continuous)}, \qquad
        \|G\|_\infty = \sup_{\theta \in [-\pi, \pi]} \sigma_{\max}(G(e^{j\theta}))
        \quad\text{(discrete)},

    with ``G(s) = C (sI - A)^{-1} B + D``.

    Parameters
    ----------
    sys : LTI, DiagonalLTI, BatchedLTI, list of systems, or anything :func:`mor.as_system` accepts
        An asymptotically stable system, real or complex, continuous or
        discrete; a batched :class:`~mor.DiagonalLTI` is handled member-wise
        in one call.  A :class:`~mor.systems.batched.BatchedLTI` (or a list of dense systems
        of one size) gives the norm (and peak) of every member, each certified to ``tol`` as for
        the member alone ("Batches" in the Notes).
    return_peak : bool, optional
        Also return the peak frequency.
    tol : float, optional
        Relative tolerance of the level-set test, ``4 eps <= tol < 1``; what it
        guarantees, and under which conditions, is stated in the Notes
        ("Guarantee").

    Returns
    -------
    norm : float or (*batch_shape,) ndarray
        The H-infinity norm; an array of the batch shape for batched
        systems.
    peak : float or (*batch_shape,) ndarray
        Only with ``return_peak=True``: a frequency in rad per time unit
        where the norm is attained (``theta / dt`` for discrete systems, in
        ``[-pi/dt, pi/dt]``; ``inf`` when the supremum is only approached as
        ``omega -> inf`` for a continuous system, ``0`` for constant and zero
        systems).  Complex systems are searched over the whole real line, so
        the peak may be negative; for real systems it is ``>= 0``.

    Raises
    ------
    UnstableSystemError
        When a pole has ``Re(lambda) >= 0`` (continuous) or ``|z| >= 1``
        (discrete); the exception lists the offending poles.
    ArgumentTypeError
        When ``return_peak`` is not a bool or ``tol`` not a real number.
    InvalidArgumentError
        When ``tol`` is outside ``[4 eps, 1)``.

    Warns
    -----
    AccuracyWarning
        When ``sigma_max(G)`` cannot be evaluated accurately at the peak (see
        "Guarantee" below): the norm and the peak frequency may then be wrong.

    Notes
    -----
    Guarantee.  The returned ``g`` is ``sigma_max(G)`` evaluated at the returned peak
    (attained), and the Hamiltonian ``H(g (1 + tol))`` has no eigenvalue on the imaginary
    axis whose frequency carries a singular value above that level, which in exact
    arithmetic certifies ``g <= ||G||_inf <= g (1 + tol)``.  In floating point both parts
    hold up to the rounding error of evaluating ``G`` (and of the Hamiltonian's
    eigenvalues).  That error is estimated at the peak from the resolvent
    ``R = (s I - A)^-1`` of the Schur form: ``n eps || |C R| |s I - T| |R B| ||`` for the
    triangular solve, plus ``n eps ||A|| ||C R|| ||R B||`` for the Schur form of a dense
    ``A`` that is not already triangular; for a diagonal system ``n eps`` times the sum of
    its modal terms.  For normal, well-damped systems it is ~1e-14 relative.  Where it
    exceeds ``max(tol, 1e-4)`` of the norm, an :class:`~mor.errors.AccuracyWarning` gives
    the estimate and its cause: a strongly non-normal ``A`` (eigenvector condition above
    ~1e8) or a dense ``A`` with a pole within rounding of the stability boundary (neither the
    value nor the peak can then be trusted: on such a system a 50-digit evaluation at the
    returned peak differed by 40%, and no double-precision method, SLICOT's ``AB13DD``
    included, does better), or a small difference of much larger terms, such as ``G - G_r``
    of a close reduction (then accurate in absolute terms only).  Poles given as a
    :class:`~mor.DiagonalLTI` (log-poles for discrete time) are exact data: only
    cancellation between modal terms limits them.

    1. Lower bound: ``sigma_max`` at ``omega = 0``, at infinity (continuous;
       ``sigma_max(D)``) or ``theta = pi`` (discrete), at every pole's
       resonance ``Im(lambda)`` (discrete: ``angle(z)``), at
       ``Im(lambda) +- |Re(lambda)|`` and ``|lambda|``, and on a coarse
       grid; the largest few local maxima are refined on a grid (three rounds of
       33 points, then the vertex of the parabola through the best three samples;
       nine points a round, six rounds, for batches).  One accurate evaluation at
       the best refined maximum gives the bound.
    2. Level set: for ``gamma = g (1 + tol)`` the Hamiltonian

       .. math::

           H(\gamma) = \begin{bmatrix} F & \gamma B R^{-1} B^H \\
                       -\gamma C^H S^{-1} C & -F^H \end{bmatrix},\quad
           F = A + B R^{-1} D^H C,\ R = \gamma^2 I - D^H D,\ S = \gamma^2 I - D D^H

       has an eigenvalue ``j omega`` exactly when ``gamma`` is a singular
       value of ``G(j omega)``.  Without such eigenvalues the bound is
       certified.  Otherwise ``sigma_max`` is evaluated (accurately) at the
       crossings and the midpoints between consecutive crossings; if none
       exceeds ``gamma`` the crossings are numerical ones (near-tangent at the
       peak) and the bound is certified as well; if one does, the best
       interval is refined and the test is repeated (quadratic convergence).
       The refined lower bound of step 1 usually makes one eigenvalue test
       enough.
       Discrete systems go through the bilinear map ``s = (z - 1)/(z + 1)``
       (which preserves the norm; ``theta = 2 arctan(omega)``) for the
       eigenvalue test only: every ``sigma_max`` is evaluated on the
       original system, dense ones through a Schur form ``A = Z T Z^H``,
       diagonal ones in closed form (discrete: ``z - z_i =
       -z expm1(mu_i - j theta)`` with ``mu = log z``).

    Batches.  The continuous-time members of a :class:`~mor.systems.batched.BatchedLTI` whose
    modal form is well conditioned (:func:`mor.gramians.batched_modal.modal_form`: stable with a
    margin, eigenvector condition ``<= 1e3``) run the same level-set iteration together: peaks
    located in the modal form, ``sigma_max`` evaluated by LU solves of ``(j omega I - A)`` on the
    original data, one batched eigenvalue computation of the members' Hamiltonians per step (the
    members still active).  A member keeps that answer only where the normwise bound ``U`` of the
    rounding error at its peak (``_BatchedEvaluator.trusted``: at least the estimate above, and
    the error of the LU values up to the solve's constant) is below ``tol / (8 n)`` of its norm, so
    that the norm agrees with the one-system call to ``tol`` and that call would not warn; every
    other member, and every member of a discrete-time batch, is computed by the one-system call
    (its warnings and errors name the member).  Peaks of the two routes may differ where the
    maximum is flat (both attain the norm).

    References
    ----------
    S. Boyd, V. Balakrishnan (1990), Systems & Control Letters 15, 1-7.
    N. A. Bruinsma, M. Steinbuch (1990), Systems & Control Letters 14, 287-293.

    Examples
    --------
    >>> from mor import LTI
    >>> from mor.analysis.norms import hinf_norm
    >>> sys = LTI([[-2.0]], [[1.0]], [[1.0]])      # 1 / (s + 2)
    >>> hinf_norm(sys, return_peak=True)
    (0.5, 0.0)
    """
    return_peak = check_bool(return_peak, "return_peak")
    tol = check_real(tol, "tol", minimum=_MIN_TOL, maximum=1.0, include_max=False)
    batch = as_batch(sys)
    if batch is not None:
        norm, peak = _hinf_batch(batch, tol)
        return (norm, peak) if return_peak else norm
    sys = as_system(sys)
    if sys.m == 0 or sys.p == 0:  # no inputs or no outputs: G is an empty matrix, norm 0
        check_stable(sys, _WHAT)
        shape = sys.batch_shape if isinstance(sys, DiagonalLTI) else ()
        zero = np.zeros(shape) if shape else 0.0
        return (zero, np.zeros(shape) if shape else 0.0) if return_peak else zero
    if isinstance(sys, DiagonalLTI):
        ev: _Evaluator = _DiagonalEvaluator(sys)
        shape = sys.batch_shape
    else:
        ev = DenseEvaluator(sys)
        shape = ()
    norm, peak = _hinf(ev, tol)
    _warn_inaccurate(ev, norm, peak, tol)
    if sys.dt is not None:
        peak = peak / sys.dt
    if shape:
        norm, peak = norm.reshape(shape), peak.reshape(shape)
    else:
        norm, peak = float(norm[0]), float(peak[0])
    return (norm, peak) if return_peak else norm


# -- evaluators --------------------------------------------------------------------------------
class _Evaluator:
    """What the level-set driver needs from a (batch of) system(s).

    Frequencies ``x`` are ``omega`` (continuous) or ``theta = omega dt`` (discrete).
    """

    size: int  # number of (flattened) members
    n: int
    discrete: bool
    real: bool  # frequency response symmetric: search x >= 0 only
    const: np.ndarray  # (size,) bool: constant response G == D (B == 0 or C == 0)
    sigma_d: np.ndarray  # (size,) sigma_max(D)
    cpoles: np.ndarray  # (size, n) poles of the continuous-time (bilinear) model

    def sigma(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:  # (a,) (a,k) -> (a,k)
        """Accurate ``sigma_max(G)`` at frequencies ``x`` of members ``idx``."""
        raise NotImplementedError

    def sigma_fast(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Cheap ``sigma_max(G)`` used to locate peaks (values that count are re-evaluated)."""
        return self.sigma(idx, x)

    def rounding(self, idx: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # (a,) (a,) -> (a,), (a,)
        """First-order bound of the rounding error of ``sigma_max(G)`` at ``x`` (absolute), and the size
        of the terms ``G`` is computed from (see the transfer evaluators' ``rounding``)."""
        raise NotImplementedError

    def hamiltonian(self, idx: np.ndarray, gamma: np.ndarray) -> np.ndarray:  # -> (a, 2n, 2n)
        raise NotImplementedError

    def seeds(self) -> np.ndarray:
        """(size, P) frequencies for the initial sweep (finite, inside the search domain)."""
        raise NotImplementedError


def _sigma_max(G: np.ndarray) -> np.ndarray:
    """Largest singular value over the last two axes."""
    if G.shape[-1] == 1 and G.shape[-2] == 1:  # a scalar: its modulus (hypot: no overflow)
        return np.abs(G[..., 0, 0])
    if G.shape[-1] == 1 or G.shape[-2] == 1:  # a vector: its 2-norm, scaled (no overflow near 1e308)
        return fro_norm(G)
    return np.linalg.svd(G, compute_uv=False)[..., 0]


def _hamiltonian(A, B, C, D, gamma) -> np.ndarray:
    """Stacked ``H(gamma)`` for continuous data ``A (a,n,n)``, ``B (a,n,m)``, ``C (a,p,n)``, ``D (a,p,m)``.

    Formed from the data normalised to the level ``gamma`` (``B, C -> B, C / sqrt(gamma)``,
    ``D -> D / gamma``, level one): the same matrix, but ``gamma^2 I - D^H D`` cannot overflow
    for ``D`` near the floating-point range limit.  The ``D = 0`` form is taken only when the
    continuous-time ``D`` given here is zero (a discrete system with ``D = 0`` has a non-zero
    ``D`` after the bilinear map).
    """
    root = np.sqrt(gamma)[:, None, None]
    # B 2^k, C 2^-k (k per member, exact) leaves G and the eigenvalues of H unchanged and B B^H, C^H C of
    # one size: B 1e140, C 1e-140 would give entries 1e280 and 1e-280, whose eigenvalues are rounding noise
    eB = np.frexp(np.abs(B).max(axis=(-2, -1), initial=0.0))[1]
    eC = np.frexp(np.abs(C).max(axis=(-2, -1), initial=0.0))[1]
    t = np.ldexp(1.0, (eC - eB) // 2)[:, None, None]
    B, C = B * (t / root), C / (t * root)
    Bh = np.conj(np.swapaxes(B, -1, -2))
    Ch = np.conj(np.swapaxes(C, -1, -2))
    if not D.any():
        F = A
        G1 = B @ Bh
        G2 = Ch @ C
    else:
        D = D / gamma[:, None, None]
        Dh = np.conj(np.swapaxes(D, -1, -2))
        m, p = B.shape[-1], C.shape[-2]
        R = np.eye(m) - Dh @ D
        S = np.eye(p) - D @ Dh
        F = A + B @ np.linalg.solve(R, Dh @ C)
        G1 = B @ np.linalg.solve(R, Bh)  # B R^-1 B^H
        G2 = Ch @ np.linalg.solve(S, C)  # C^H S^-1 C
    n = A.shape[-1]
    H = np.empty(A.shape[:-2] + (2 * n, 2 * n), dtype=np.result_type(A, B, C, D, gamma))
    H[..., :n, :n] = F
    H[..., :n, n:] = G1
    H[..., n:, :n] = -G2
    H[..., n:, n:] = -np.conj(np.swapaxes(F, -1, -2))
    return H


def _seed_points(
    cpoles_x: np.ndarray, halfwidth: np.ndarray, extra: np.ndarray, lo: float, hi: np.ndarray, real: bool
) -> np.ndarray:
    """Sorted sweep frequencies: resonances, half-power points, extra points, domain ends."""
    pts = [cpoles_x, cpoles_x - halfwidth, cpoles_x + halfwidth, extra]
    P = np.concatenate(pts, axis=-1)
    if real:
        P = np.abs(P)
    P = np.clip(P, lo if real else -hi[:, None], hi[:, None])
    ends = np.stack([np.zeros_like(hi) if real else -hi, hi], axis=-1)
    P = np.concatenate([P, ends], axis=-1)
    return np.sort(P, axis=-1)


class _DiagonalEvaluator(_Evaluator):
    def __init__(self, sys: DiagonalLTI):
        self.discrete = sys.dt is not None
        self.real = False
        n, m, p = sys.n, sys.m, sys.p
        self.n = n
        self.size = int(np.prod(sys.batch_shape, dtype=int))
        check_stable(sys, _WHAT)
        self.transfer = DiagonalTransfer(sys)
        lam = sys.poles.reshape(self.size, n)
        B = sys.B.reshape(self.size, n, m)
        C = sys.C.reshape(self.size, p, n)
        D = sys.D.reshape(self.size, p, m)
        self.sigma_d = _sigma_max(D) if D.size else np.zeros(self.size)
        self.const = ~np.any(B, axis=(-2, -1)) | ~np.any(C, axis=(-2, -1))
        if self.discrete:
            mu = sys.log_poles.reshape(self.size, n)
            zp1 = lam + 1.0
            self.cpoles = np.tanh(mu / 2)  # (z - 1)/(z + 1), accurate near z = 1
            sq2 = np.sqrt(2.0)
            self.cB = sq2 * B / zp1[..., :, None]
            self.cC = sq2 * C / zp1[..., None, :]
            self.cD = D - np.einsum("apn,an,anm->apm", C, 1.0 / zp1, B)
            centre, half = mu.imag, np.abs(mu.real)
            extra = np.broadcast_to(np.linspace(-np.pi, np.pi, 33), (self.size, 33))
            hi = np.full(self.size, np.pi)
        else:
            self.cpoles = lam
            self.cB, self.cC, self.cD = B, C, D
            centre, half = lam.imag, np.abs(lam.real)
            amax = np.abs(lam).max(axis=-1) if n else np.ones(self.size)
            amin = np.abs(lam).min(axis=-1) if n else np.ones(self.size)
            amin = np.maximum(amin, 1e-300)
            grid = np.geomspace(amin / 10, amax * 10, 12, axis=-1)
            extra = np.concatenate(
                [np.abs(lam) * np.sign(lam.imag + (lam.imag == 0)), grid, -grid, np.zeros((self.size, 1))],
                axis=-1,
            )
            hi = 20 * amax + 1.0
        self._seeds = _seed_points(centre, np.minimum(half, 1e300), extra, -np.pi, hi, False)

    def seeds(self) -> np.ndarray:
        return self._seeds

    def sigma(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        # discrete: the log-point j x is exact (1/(z - z_i) from the log-poles, no exp(j x) - z_i)
        if self.discrete:
            G = self.transfer(log_points=1j * x, idx=idx)
        else:
            G = self.transfer(1j * x, idx=idx)
        return _sigma_max(G)

    def rounding(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        x = x[:, None]
        if self.discrete:
            bound, size = self.transfer.rounding(log_points=1j * x, idx=idx)
        else:
            bound, size = self.transfer.rounding(1j * x, idx=idx)
        return bound[:, 0], size[:, 0]

    def hamiltonian(self, idx: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        lam = self.cpoles[idx]
        A = np.zeros(lam.shape + (self.n,), dtype=complex)
        A[:, np.arange(self.n), np.arange(self.n)] = lam
        return _hamiltonian(A, self.cB[idx], self.cC[idx], self.cD[idx], gamma)


class DenseEvaluator(_Evaluator):
    """One dense system; sigma_max through the complex Schur form ``A = Z T Z^H``.

    A named internal entry (not in ``__all__``): :func:`hinf_norm` uses it, and so do the
    H-infinity benchmark (its Hamiltonian at a level ``gamma``) and the reliability harness (its
    rounding estimate at a frequency), which must measure exactly what :func:`hinf_norm` computes.

    Parameters
    ----------
    sys : LTI
        A stable dense system.
    """

    def __init__(self, sys: LTI):
        self.discrete = sys.dt is not None
        self.real = not sys.is_complex
        self.size = 1
        n, m, p = sys.n, sys.m, sys.p
        self.n, self.p, self.m = n, p, m
        A, B, C, D = sys.A, sys.B, sys.C, sys.D
        self.D = D
        self.sigma_d = np.array([_sigma_max(D) if D.size else 0.0])
        self.const = np.array([not B.any() or not C.any()])
        if n == 0:
            self.transfer = DenseTransfer(sys)
            self.cpoles = np.zeros((1, 0), complex)
            self._seeds = np.zeros((1, 2))
            return
        schur = complex_schur(A)
        poles = schur.eigenvalues.copy()
        check_stable(sys, _WHAT, poles=poles)
        self.transfer = DenseTransfer(sys, schur)
        self._modal_form(poles)
        if self.discrete:
            self._bilinear(A, B, C, D)
            mu = accurate_log(poles)
            self.mu = mu[None]
            self.near_circle = bool((mu.real > -1e-6).any())
            self.cpoles = np.tanh(mu / 2)[None]
            centre, half = mu.imag, np.abs(mu.real)
            extra = _THETA33
            hi = np.pi
        else:
            self.cA, self.cB, self.cC, self.cD = A, B, C, D
            self.cpoles = poles[None]
            centre, half = poles.imag, np.abs(poles.real)
            mag = np.abs(poles)
            amax, amin = mag.max(), max(mag.min(), 1e-300)
            grid = (amin / 10) * (100 * amax / amin) ** _GEOM12  # geometric, 12 points
            extra = np.concatenate([mag * np.sign(poles.imag + (poles.imag == 0)), grid, -grid])
            hi = 20 * amax + 1.0
        # the sweep of _seed_points (resonances, half-power points, extra points, domain ends) for one
        # system, sorted; conjugate pairs of real systems give duplicates, dropped by unique
        half = np.minimum(half, 1e300)
        P = np.concatenate([centre, centre - half, centre + half, extra, [0.0, -hi, hi]])
        if self.real:
            P = np.abs(P)
        self._seeds = np.unique(np.clip(P, -hi, hi))[None]

    def _modal_form(self, poles: np.ndarray) -> None:
        """``T = V diag(poles) V^-1`` (V upper triangular) for cheap peak location, when well conditioned."""
        tf = self.transfer
        _, _, V, info = _ZGEEV(tf.T, compute_vl=0, compute_vr=1)  # as numpy's eig, without its wrapper
        if info != 0:
            raise np.linalg.LinAlgError(f"eigenvectors of the Schur form not found (LAPACK zgeev info = {info})")
        rcond, _ = sla.lapack.ztrcon(V, norm="1")
        self.modal = bool(rcond > _MODAL_RCOND)
        if self.modal:
            left = tf.Ct @ V  # (p, n)
            right, _ = sla.lapack.ztrtrs(V, tf.Bt)  # (n, m), V^-1 Bt (V non-singular: rcond checked)
            self.res = (left.T[:, :, None] * right[:, None, :]).reshape(1, self.n, self.p * self.m)
            self.poles = poles[None]
            self._poles3 = poles[None, None, :]
            self._d = self.D.reshape(1, 1, -1)

    def _bilinear(self, A, B, C, D) -> None:
        """Continuous-time data of ``s = (z - 1)/(z + 1)`` for the Hamiltonian eigenvalue test."""
        n = self.n
        lu = sla.lu_factor(A + np.eye(n), check_finite=False)
        X = sla.lu_solve(lu, np.concatenate([A - np.eye(n), B], axis=1), check_finite=False)
        self.cA = X[:, :n]
        self.cB = np.sqrt(2.0) * X[:, n:]
        self.cC = np.sqrt(2.0) * sla.lu_solve(lu, C.conj().T, trans=2, check_finite=False).conj().T
        self.cD = D - C @ X[:, n:]

    def seeds(self) -> np.ndarray:
        return self._seeds

    def sigma(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        # discrete: the log-point j x is exact; z - t_ii is formed without cancellation
        G = self.transfer(log_points=1j * x) if self.discrete else self.transfer(1j * x)
        return _sigma_max(G)

    def sigma_fast(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        if self.n == 0 or not self.modal:
            return self.sigma(idx, x)
        if self.discrete and self.near_circle:  # z - z_i from the log-poles: no cancellation
            r = log_resolvent(self.mu[:, None, :], 1j * x[..., None])
        elif self.discrete:  # every pole 1e-6 inside the circle: z - z_i to 1e-10, plenty to locate peaks
            r = resolvent(self.poles[:, None, :], np.exp(1j * x)[..., None])
        else:  # (the resolvent of a stable system on the axis is finite)
            r = 1.0 / (1j * x[..., None] - self._poles3)
        G = r @ self.res
        G += self._d
        if self.p * self.m == 1:  # SISO: |G|
            return np.abs(G[..., 0])
        return _sigma_max(G.reshape(*x.shape, self.p, self.m))

    def rounding(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        if not np.isfinite(x[0]):  # at infinity G = D exactly
            return self.sigma_d * _EPS, self.sigma_d
        return self.transfer.rounding(log_points=1j * x) if self.discrete else self.transfer.rounding(1j * x)

    def hamiltonian(self, idx: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        return _hamiltonian(self.cA[None], self.cB[None], self.cC[None], self.cD[None], gamma)


class _BatchedEvaluator(_Evaluator):
    """Continuous-time members of a :class:`~mor.systems.batched.BatchedLTI` with a well-conditioned modal
    form (:func:`mor.gramians.batched_modal.modal_form`), all at once.

    Peaks are located in the modal form ``(lambda, X^-1 B, C X, D)`` (``sigma_fast``); the values that
    count are computed from the original data, ``G(j omega) = C (j omega I - A)^-1 B + D`` by one LU
    solve per point (batched LAPACK ``gesv``); the Hamiltonian is that of the original data, as on the
    one-system path.
    """

    def __init__(self, A, B, C, D, modal: DiagonalLTI, real: bool):
        self.discrete = False
        self.real = real
        self.size, self.n = A.shape[0], A.shape[-1]
        self.p, self.m = C.shape[-2], B.shape[-1]
        self.A, self.B, self.C, self.D = A, B, C, D
        self.sigma_d = _sigma_max(D)
        self.const = ~B.any(axis=(-2, -1)) | ~C.any(axis=(-2, -1))
        self.fast = DiagonalTransfer(modal)
        lam = modal.poles
        self.cpoles = lam
        mag = np.abs(lam)
        amax, amin = mag.max(axis=-1), np.maximum(mag.min(axis=-1), 1e-300)
        grid = (amin / 10)[:, None] * (100 * amax / amin)[:, None] ** _GEOM12  # geometric, 12 points
        extra = np.concatenate([mag * np.sign(lam.imag + (lam.imag == 0)), grid, -grid], axis=-1)
        hi = 20 * amax + 1.0
        P = _seed_points(lam.imag, np.minimum(np.abs(lam.real), 1e300), extra, 0.0, hi, real)
        # each row's distinct points in order, padded with its last (conjugate pairs of real members give
        # repeats): a local maximum's neighbours are then distinct points (_initial_bound skips the padding)
        P[:, 1:][P[:, 1:] == P[:, :-1]] = np.inf
        P.sort(axis=-1)
        width = int(np.isfinite(P).sum(axis=-1).max())
        self._seeds = np.minimum(P[:, :width], hi[:, None])

    def seeds(self) -> np.ndarray:
        return self._seeds

    def sigma_fast(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        return _sigma_max(self.fast(1j * x, idx=idx))

    def sigma(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        M = (1j * x)[..., None, None] * np.eye(self.n) - self.A[idx][:, None]  # (a, k, n, n)
        X = np.linalg.solve(M, self.B[idx][:, None])
        return _sigma_max(self.C[idx][:, None] @ X + self.D[idx][:, None])

    def hamiltonian(self, idx: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        return _hamiltonian(self.A[idx], self.B[idx], self.C[idx], self.D[idx], gamma)

    def trusted(self, norm: np.ndarray, peak: np.ndarray, tol: float) -> np.ndarray:
        r"""Members whose values are as accurate as on the one-system path, to well within ``tol``.

        At the peak ``s = j omega``, with ``X = (s I - A)^-1 B``, ``Y = (s I - A)^-H C^H`` (LU solves):

        .. math::

            U = \epsilon \sqrt n \big(\|Y\| \|X\| (\|s I - A\| + \|A\|) + \|C\| \|X\|
                + \|Y\| \|B\|\big) + \epsilon \|D\|

        (Frobenius norms) bounds the one-system path's rounding estimate (``DenseTransfer.rounding``:
        the Schur basis is unitary, so its ``X``, ``Y``, ``T``, ``B``, ``C`` have these norms, and
        ``|| |Y|^T |s I - T| |X| || <= ||Y|| ||s I - T|| ||X||``), and, up to the constant and growth
        factor of the LU solve, the error of the values computed here.  A member is trusted where
        ``U <= tol g / (8 n)``: its norm then agrees with the one-system path's to ``tol`` and that path
        would not warn.  A constant response, a zero norm and a peak at infinity (``G = D`` there)
        are exact.
        """
        ok = np.ones(self.size, bool)
        sel = np.flatnonzero(~self.const & (norm > 0) & np.isfinite(peak))
        if sel.size:
            ok[sel] = self.rounding_bound(sel, peak[sel]) <= tol * norm[sel] / (8 * self.n)  # NaN: not trusted
        return ok

    def rounding_bound(self, idx: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``U`` (see :meth:`trusted`) of members ``idx`` at the frequencies ``x`` ``(a,)``."""
        A, B, C, D = self.A[idx], self.B[idx], self.C[idx], self.D[idx]
        M = (1j * x)[:, None, None] * np.eye(self.n) - A
        X = np.linalg.solve(M, B)
        Y = np.linalg.solve(np.conj(np.swapaxes(M, -1, -2)), np.conj(np.swapaxes(C, -1, -2)))
        nx, ny, nM, nA, nB, nC, nD = (fro_norm(Z) for Z in (X, Y, M, A, B, C, D))
        return _EPS * (np.sqrt(self.n) * (ny * nx * (nM + nA) + nC * nx + ny * nB) + nD)


def _hinf_batch(batch: BatchedLTI, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Norms and peaks of every member of a batch, each as :func:`hinf_norm` gives it for the member alone.

    Continuous-time members with a well-conditioned modal form (:func:`mor.gramians.batched_modal.modal_form`:
    stable with a margin, eigenvector condition ``<= 1e3``, moderate scales) go through the level-set
    driver together (:class:`_BatchedEvaluator`: one batched Hamiltonian ``eigvals`` per step for all
    members still active); those whose rounding bound at the peak is not well below ``tol``
    (:meth:`_BatchedEvaluator.trusted`), all others, and discrete-time batches run one by one
    (:func:`mor.systems.batched.map_members`).
    """
    size = batch.size
    norm, peak = np.zeros(size), np.zeros(size)
    done = np.zeros(size, bool)
    if batch.dt is None and batch.n and batch.m and batch.p:
        modal = modal_form(batch, gramians=False)  # (the values are checked on the original data)
        sel = np.flatnonzero(modal.ok)
        if sel.size:
            flat = [x.reshape((size,) + x.shape[-2:])[sel] for x in (batch.A, batch.B, batch.C, batch.D)]
            try:
                ev = _BatchedEvaluator(*flat, modal.diagonal, not batch.is_complex)
                g, w = _hinf(ev, tol)
                ok = ev.trusted(g, w, tol)
            except np.linalg.LinAlgError:  # a singular solve (not for stable members) or no eigenvalues: one by one
                ok = np.zeros(sel.size, bool)
                g = w = np.zeros(sel.size)
            norm[sel[ok]], peak[sel[ok]] = g[ok], w[ok]
            done[sel[ok]] = True
    rest = np.flatnonzero(~done)
    if rest.size:
        out = map_members(batch, lambda s: hinf_norm(s, return_peak=True, tol=tol), "hinf_norm", rest)
        norm[rest], peak[rest] = ([o[i] for o in out] for i in (0, 1))
    return norm.reshape(batch.batch_shape), peak.reshape(batch.batch_shape)


# -- driver ------------------------------------------------------------------------------------
def _warn_inaccurate(ev: _Evaluator, norm: np.ndarray, peak: np.ndarray, tol: float) -> None:
    """:class:`AccuracyWarning` where ``sigma_max`` at the peak may be wrong by more than ``max(tol, 1e-4)``.

    The estimate is the first-order rounding bound of the evaluation (the evaluators'
    ``rounding``).  It is large relative to the norm where the resolvent ``(j omega I - A)^-1``
    amplifies rounding errors (a strongly non-normal ``A``; for a dense ``A`` that is not
    triangular, a pole within rounding of the stability boundary) or where ``G`` is a small
    difference of large terms (``G - G_r`` of a good reduction: accurate in absolute terms, not
    relative ones).  Then neither the value nor the level-set certificate can be trusted to
    ``tol``; the message gives the absolute size of the possible error as well.
    """
    ok = (norm > 0) & np.isfinite(peak)
    if ev.n == 0 or not ok.any():
        return
    idx = np.flatnonzero(ok)
    bound, size = ev.rounding(idx, peak[idx])
    rel = bound / norm[idx]
    bad = ~(rel <= max(tol, _TRUST))  # NaN counts as bad
    if bad.any():
        j = int(np.argmax(np.where(np.isnan(rel), np.inf, rel) * bad))
        amplified = bound[j] > _AMPLIFIED * size[j]
        cause = (
            "the resolvent (sI - A)^-1 is ill-conditioned there: a strongly non-normal A, or a pole within "
            "rounding of the stability boundary"
            if amplified
            else "G is a small difference of much larger terms there, e.g. G - G_r of a close reduction, "
            "accurate in absolute terms only"
        )
        warnings.warn(
            AccuracyWarning(
                f"hinf_norm: sigma_max(G) cannot be evaluated to the requested accuracy at the peak of "
                f"{int(bad.sum())} system(s): there the estimated rounding error is up to {bound[j]:.2g}, which is "
                f"{rel[j]:.2g} times the norm {norm[idx][j]:.6g} ({cause}); the norm and the peak frequency may be "
                "wrong by that much"
            ),
            stacklevel=4,
        )


def _maximise(ev: _Evaluator, idx, lo, hi, best_f, best_x):
    """Maximise sigma_max (cheap evaluation) on the brackets ``[lo, hi]`` (a, K), all at once.

    Returns the best value/location seen (including the given ``best_f``, ``best_x``).  Every bracket
    is refined on a grid (one vectorised evaluation a round, :func:`_grid`): small problems
    (evaluations dominated by per-call overhead) in ``_GRID_ROUNDS`` rounds of ``_GRID_POINTS`` points,
    batches (dominated by the evaluations themselves) in ``_GRID_ROUNDS_BATCH`` rounds of
    ``_GRID_POINTS_BATCH`` points, to the same final spacing with fewer points, in chunks of members
    of at most ``_GRID_MAX_WORK`` (members x brackets x n) to bound the memory.
    """
    a, K = lo.shape
    n = max(ev.n, 1)
    if a * K * n <= _GRID_FEW_CALLS:
        return _grid(ev, idx, lo, hi, best_f, best_x, _GRID_POINTS, _GRID_ROUNDS)
    step = max(1, _GRID_MAX_WORK // (K * n))
    parts = [
        _grid(ev, idx[c : c + step], lo[c : c + step], hi[c : c + step], best_f[c : c + step],
              best_x[c : c + step], _GRID_POINTS_BATCH, _GRID_ROUNDS_BATCH)
        for c in range(0, a, step)
    ]  # fmt: skip
    return np.concatenate([f for f, _ in parts]), np.concatenate([x for _, x in parts])


def _grid(ev: _Evaluator, idx, lo, hi, best_f, best_x, points: int, rounds: int):
    """Grid refinement: each of ``rounds`` rounds samples ``[lo, hi]`` at ``points`` points and keeps the
    two cells around the best sample (the bracket shrinks by ``(points - 1) / 2`` a round);
    a last sample at the vertex of the parabola through the best sample of the last round and its
    two neighbours, ``x_j + h (f_{j-1} - f_{j+1}) / (2 (f_{j-1} - 2 f_j + f_{j+1}))`` (``h`` the
    spacing; used where ``f_j`` is an interior maximum), takes the location error from ``O(h)``
    to ``O(h^2)`` (the value error of a smooth peak to ``O(h^4)``)."""
    a, K = lo.shape
    rows = np.arange(a * K)
    lo, hi = lo.ravel(), hi.ravel()
    for _ in range(rounds):  # each bracket holds the previous round's best sample
        h = (hi - lo) / (points - 1)
        x = lo[:, None] + h[:, None] * np.arange(points)  # (a K, points)
        f = ev.sigma_fast(idx, x.reshape(a, K * points)).reshape(x.shape)
        f[np.isnan(f)] = -np.inf
        j = f.argmax(axis=-1)
        jm, jp = np.maximum(j - 1, 0), np.minimum(j + 1, points - 1)
        lo, hi = x[rows, jm], x[rows, jp]
    fj, xj, fm, fp = f[rows, j], x[rows, j], f[rows, jm], f[rows, jp]
    curv = fm - 2.0 * fj + fp
    vertex = (j > 0) & (j < points - 1) & (curv < 0) & np.isfinite(curv)
    if vertex.any():
        step = np.where(vertex, 0.5 * (fm - fp) / np.where(vertex, curv, -1.0), 0.0)
        xv = np.clip(xj + h * step, lo, hi)
        fv = ev.sigma_fast(idx, xv.reshape(a, K)).ravel()
        better = vertex & (fv > fj)
        fj, xj = np.where(better, fv, fj), np.where(better, xv, xj)
    fj, xj = fj.reshape(a, K), xj.reshape(a, K)
    better = fj > best_f
    return np.where(better, fj, best_f), np.where(better, xj, best_x)


def _initial_bound(ev: _Evaluator) -> tuple[np.ndarray, np.ndarray]:
    """Seeded sweep plus grid refinement of the largest local maxima.

    Peaks are located with the cheap evaluation; the returned bound is an accurate
    ``sigma_max`` value at the returned frequency.
    """
    idx = np.arange(ev.size)
    P = ev.seeds()
    v = ev.sigma_fast(idx, P)
    rows = idx[:, None]
    if P.shape[-1] >= 3:
        # local maxima of the sampled curve; refine the largest few inside their neighbours
        left = np.concatenate([np.full((ev.size, 1), -np.inf), v[:, :-1]], axis=-1)
        right = np.concatenate([v[:, 1:], np.full((ev.size, 1), -np.inf)], axis=-1)
        score = np.where((v >= left) & (v >= right), v, -np.inf)
        if ev.size > 1:  # repeated seeds (a batch's rows padded to one length): one local maximum each
            score[:, 1:][P[:, 1:] == P[:, :-1]] = -np.inf
        K = min(_N_REFINE, P.shape[-1])
        top = np.argsort(-score, axis=-1)[:, :K]
        lo = P[rows, np.maximum(top - 1, 0)]
        hi = P[rows, np.minimum(top + 1, P.shape[-1] - 1)]
        bf, bx = _maximise(ev, idx, lo, hi, v[rows, top], P[rows, top])
        bf[np.isnan(bf)] = -np.inf
        X = bx[idx, bf.argmax(axis=-1)][:, None]  # the best refined maximum (its seed value included)
    else:
        X = P[idx, v.argmax(axis=-1)][:, None]
    lb, xpk = ev.sigma(idx, X)[:, 0], X[:, 0]  # accurate there
    if not ev.discrete:  # omega -> infinity
        at_inf = ev.sigma_d > lb
        lb = np.where(at_inf, ev.sigma_d, lb)
        xpk = np.where(at_inf, np.inf, xpk)
    return lb, xpk


def _crossings(ev: _Evaluator, idx: np.ndarray, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies ``x`` where ``gamma`` is (numerically) a singular value of ``G``, per member.

    Returns ``x (a, L)``, each row's distinct crossings in increasing order padded with NaN, and
    ``count (a,)``, how many each row has.
    """
    H = ev.hamiltonian(idx, gamma)
    lam = _eigvals(H, ev.real and np.isrealobj(H))
    scale = np.abs(H).sum(axis=-2).max(axis=-1)
    on_axis = np.abs(lam.real) <= _AXIS_RTOL * scale[:, None]
    w = np.where(on_axis, np.abs(lam.imag) if ev.real else lam.imag, np.nan)
    x = 2.0 * np.arctan(w) if ev.discrete else w
    x.sort(axis=-1)  # NaN last
    repeat = x[:, 1:] == x[:, :-1]
    if repeat.any():
        x[:, 1:][repeat] = np.nan
        x.sort(axis=-1)
    count = on_axis.sum(axis=-1) - repeat.sum(axis=-1)
    return x[:, : max(int(count.max(initial=0)), 1)], count


def _eigvals(H: np.ndarray, real: bool) -> np.ndarray:
    """Eigenvalues of the stacked ``H (a, k, k)``: ``(a, k)``.  One matrix by
    :func:`mor.linalg._arrays.eigenvalues` (LAPACK ``geev`` directly: numpy's wrapper costs more than the
    eigenvalues at small ``k``; numpy's own outside ``GEEV_RANGE``, where scipy's ``geev`` returned the
    eigenvalues of a scaled copy, or zeros, read as no crossing), a stack by numpy."""
    H = H if real else H.astype(complex, copy=False)
    if H.shape[0] != 1:
        return np.linalg.eigvals(H)
    return eigenvalues(H[0]).astype(complex, copy=False)[None]


def _crossing_grid(cross: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every crossing and every midpoint between consecutive crossings, one row per member.

    ``cross (a, L)``, ``count (a,)`` as :func:`_crossings` returns them (every ``count >= 1``).
    Returns ``pts (a, 2 L - 1)`` (short rows padded with their first point) and ``valid``.
    """
    a, L = cross.shape
    pts = np.empty((a, 2 * L - 1))
    pts[:, 0::2] = cross
    pts[:, 1::2] = 0.5 * (cross[:, :-1] + cross[:, 1:])
    valid = np.arange(2 * L - 1) < (2 * count - 1)[:, None]
    pts = np.where(valid, pts, cross[:, :1])
    return pts, valid


def _refine_best(ev: _Evaluator, idx, pts, val, valid) -> tuple[np.ndarray, np.ndarray]:
    """Golden-section search between the neighbours of each member's best grid point.

    ``val`` is already accurate at the grid points; only the refined point is evaluated
    accurately again.  Returns the best value and its frequency per member.
    """
    j = val.argmax(axis=-1)
    rows = np.arange(idx.size)
    last = valid.sum(axis=-1) - 1
    lo = pts[rows, np.maximum(j - 1, 0)]
    hi = pts[rows, np.minimum(j + 1, last)]
    _, bx = _maximise(ev, idx, lo[:, None], hi[:, None], val[rows, j][:, None], pts[rows, j][:, None])
    acc = ev.sigma(idx, bx)[:, 0]
    refined = acc > val[rows, j]
    return np.where(refined, acc, val[rows, j]), np.where(refined, bx[:, 0], pts[rows, j])


def _hinf(ev: _Evaluator, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Level-set iteration from the seeded lower bound (see :func:`hinf_norm`, Notes)."""
    if ev.n == 0:
        return ev.sigma_d.copy(), np.zeros(ev.size)
    lb, xpk = _initial_bound(ev)
    # constant response (B == 0 or C == 0): sigma_max(D) everywhere, reported at 0;
    # lb == 0: G vanishes at every seed (more than n distinct points), so G == 0
    const = ev.const | (lb == 0)
    lb[const], xpk[const] = ev.sigma_d[const], 0.0
    active = np.flatnonzero(~const)
    for it in range(_MAX_LEVEL_SET_ITER):
        if active.size == 0:
            break
        gamma = lb[active] * (1.0 + tol)
        cross, count = _crossings(ev, active, gamma)
        has = count > 0
        if not has.any():
            break
        sub = active[has]
        pts, valid = _crossing_grid(cross[has], count[has])
        # accurate values here (few points): they decide convergence
        val = np.where(valid, ev.sigma(sub, pts), -np.inf)
        # no crossing or midpoint above gamma: the crossings are numerical (near-tangent) ones
        # at the current peak, and the member has converged (a genuine interval above gamma
        # would put its midpoint above gamma)
        above = val.max(axis=-1) > gamma[has]
        if not above.any():
            break
        sub, gamma_sub = sub[above], gamma[has][above]
        best, xbest = _refine_best(ev, sub, pts[above], val[above], valid[above])
        improved = best > gamma_sub
        upd = best > lb[sub]
        lb[sub[upd]], xpk[sub[upd]] = best[upd], xbest[upd]
        # members without crossings are certified; crossings with no point above gamma are
        # numerical (near-tangent) ones: those members have converged as well
        active = sub[improved]
        log.debug("hinf level set iteration %d: %d member(s) still active", it + 1, active.size)
    else:
        log.warning(
            "hinf_norm: level-set iteration did not converge in %d steps for %d member(s); "
            "returning the best lower bound",
            _MAX_LEVEL_SET_ITER,
            active.size,
        )
    return lb, xpk
