"""Square-root balanced truncation (Moore 1981; Laub et al. 1987; Varga 1991).

With Gramian factors ``P = R R^H``, ``Q = S S^H`` and the SVD
``S^H R = U diag(sigma) V^H`` (the Hankel singular values ``sigma``), the
reduced model of order ``r`` is the Petrov-Galerkin projection::

    A_r = W^H A V,   B_r = W^H B,   C_r = C V,   D_r = D,     W^H V = I_r

square root (``"sr"``):             V = R V_r sigma_r^(-1/2),   W = S U_r sigma_r^(-1/2)
balancing-free square root (``"bfsr"``):  V = orth(R V_r),  W = orth(S U_r) (W^H V)^(-H)

For stable systems the reduced model is stable and
``sigma_{r+1} <= ||G - G_r||_inf <= 2 (sigma_{r+1} + ... + sigma_n)``.

Balanced singular perturbation (``match_dc=True``): instead of truncating the balanced states
``r+1 .. n_r`` (``n_r`` the numerical rank), residualise them (:func:`mor.spa.residualize`): the
DC gain is matched exactly (``G_r(0) = G(0)``, discrete ``G_r(1) = G(1)``) and the same bound
holds.  The two blocks of states get separate bases (the formulas are invariant under
block-diagonal changes of coordinates only).

Large sparse systems (:class:`mor.SparseLTI`) take the low-rank route: the same projection on
low-rank Gramian factors (:func:`mor.low_rank_gramians`), qualified by a certificate
(:mod:`mor.lowrank_bt`).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arrays import fro_norm, pad_hsv
from ._diagonal_form import to_diagonal
from ._exact import one_minus_abs2
from ._frequency import rounding_floor
from ._guard import guarded
from .errors import AccuracyWarning, InvalidArgumentError, OrderError, RankWarning
from .gramians import factors_and_schur
from .hankel import factor_svd, leading_factor_svd
from .lowrank_bt import LowRankCertificate, certify, choose_route, project_sparse
from .schur import complex_schur
from .spa import residualize
from .sparse import SparseLTI
from .stability import unstable_mask
from .systems import LTI, DiagonalLTI, as_system
from .validation import check_bool, check_choice, check_int, check_real

__all__ = ["BalancedTruncationResult", "balanced_truncation"]

_USER = 4  # warnings point at the caller: helper -> balanced_truncation -> guard wrapper -> caller
#: AccuracyWarning when the rounding floor of G exceeds this share of the error bound ...
BOUND_SHARE = 0.05
#: ... and this fraction of sigma_1 (rounding-level bounds, e.g. order = n, stay quiet).
FLOOR_RTOL = 1e-10


@dataclass(frozen=True)
class BalancedTruncationResult:
    """Outcome of :func:`balanced_truncation`.

    Attributes
    ----------
    reduced : LTI or DiagonalLTI
        The reduced model: dense for an :class:`LTI` and a :class:`mor.SparseLTI` (a plain
        ``(A, B, C, D)`` model, no descriptor matrix), and for a (batched)
        :class:`DiagonalLTI` a diagonal model of the same batch shape
        (re-diagonalised; discrete ones keep ``log_poles``).
    hsv : (..., n) ndarray
        Hankel singular values of the original system(s), decreasing.  Low-rank route:
        the ``k`` values the factors resolve, shape ``(k,)`` (see ``certificate``).
    error_bound : float or (...,) ndarray or None
        ``2 * sum(hsv[..., order:])``, an upper bound of ``||G - G_r||_inf``
        (``None`` for finite-horizon Gramians, where no such bound holds; on the
        low-rank route the bound of the approximate Gramians, qualified by ``certificate``).
    order : int
        Order of the reduced model(s).
    V, W : (..., n, order) ndarray
        Projection matrices: ``A_r = W^H A V``, ``B_r = W^H B``, ``C_r = C V``,
        ``W^H V = I``.
    method : str
        ``"sr"`` or ``"bfsr"``.
    padded : (..., order) ndarray of bool
        Batched diagonal input only: reduced modes that are decoupled padding
        (``b = c = 0``) for members whose numerical rank is below ``order``.
    route : str
        How the Gramians were computed: ``"dense"``, ``"low-rank"``, or
        ``"dense (low-rank did not converge)"`` (the automatic fallback).
    certificate : LowRankCertificate or None
        Low-rank route only: the Gramian residuals and errors, the certified enclosures
        of the Hankel singular values and what they make of ``error_bound``.
    rounding : float or (...,) ndarray or None
        Estimated rounding floor ``delta``: how far the transfer function of this system, and
        hence any reduced model computed in floating point, can be from exact, in the
        H-infinity norm (a first-order estimate sampled at the resonances of the least damped
        poles and on a grid; see :func:`balanced_truncation`, Notes).  To that order
        ``||G - G_r||_inf <= error_bound + rounding``.  ``None`` for finite-horizon Gramians and
        on the low-rank route (whose ``certificate`` qualifies the bound instead).
    match_dc : bool
        ``True``: balanced singular perturbation (the reduced model is the residualisation, not
        ``W^H A V``; ``V``, ``W`` are the bases of the kept balanced states).
    """

    reduced: LTI | DiagonalLTI
    hsv: np.ndarray
    error_bound: float | np.ndarray | None
    order: int
    V: np.ndarray
    W: np.ndarray
    method: str
    padded: np.ndarray
    route: str = "dense"
    certificate: LowRankCertificate | None = None
    rounding: float | np.ndarray | None = None
    match_dc: bool = False


@guarded("balanced_truncation", select=lambda res: dataclasses.replace(res, rounding=None))
def balanced_truncation(
    sys: Any,
    order: int | None = None,
    *,
    tol: float | None = None,
    method: str = "sr",
    horizon: int | None = None,
    rank_tol: float = 1e-12,
    gramian_method: str | None = None,
    route: str | None = None,
    low_rank: dict | None = None,
    match_dc: bool = False,
) -> BalancedTruncationResult:
    """Reduce a stable system by square-root balanced truncation (or singular perturbation).

    Parameters
    ----------
    sys : LTI, DiagonalLTI or convertible
        A stable system; a batched :class:`DiagonalLTI` is reduced member-wise
        in one vectorised call.
    order : int, optional
        Reduced order ``r`` with ``1 <= r <= n``.
    tol : float, optional
        Instead of ``order``: the smallest order whose bound
        ``2 * sum(hsv[r:])`` is ``<= tol`` (for a batch: for every member).
        With neither ``order`` nor ``tol``, the numerical rank (a minimal
        balanced realisation).
    method : {"sr", "bfsr"}
        Square root or balancing-free square root.  Both give the same
        transfer function; ``"bfsr"`` has better-conditioned projections.
        The default ``"sr"`` returns a *balanced* realisation (both Gramians of
        the reduced model equal ``diag(hsv[:r])``), which is what a user of a
        dense model usually wants.  The PyTorch adapter's ``reduce_layer`` defaults
        to ``"bfsr"`` instead: a DSS layer is re-diagonalised after the
        projection, so the balancing is lost anyway, and the better-conditioned
        ``"bfsr"`` projection gives better-conditioned eigenvectors (measured:
        condition numbers <= 18; ``"sr"`` produced an unstable pole once
        ``sigma_r / sigma_1 < 1e-16``).
    horizon : int, optional
        Discrete systems: use the finite Gramians over ``horizon`` steps
        (time-limited balanced truncation; no a-priori error bound).
    rank_tol : float
        Hankel singular values ``<= rank_tol * sigma_1`` count as zero: an
        ``order`` above that numerical rank is capped (with a
        :class:`RankWarning`), never producing a non-finite model.  In a batch
        the order is capped at the largest member rank; members of lower rank
        are padded with decoupled modes (``b = c = 0``, an original pole), which
        leave their transfer function unchanged.
    gramian_method : str, optional
        Passed to :func:`mor.gramians` as ``method``.
    route : {None, "dense", "low-rank"}
        How to compute the Gramians.  ``None`` (automatic): the dense route, except for a
        :class:`mor.SparseLTI` (or a tuple with a sparse ``A``) with
        ``n >= mor.lowrank_bt.LOW_RANK_MIN_ORDER`` states, which takes the low-rank route
        (:func:`mor.low_rank_gramians`; falling back to the dense route when that does not
        converge and ``n <= DENSIFY_LIMIT``).  ``"low-rank"`` forces it (a dense system is
        converted to sparse), ``"dense"`` densifies a sparse system.  ``result.route`` says
        which route was taken.
    low_rank : dict, optional
        Options of the low-rank route: ``tol``, ``max_steps``, ``max_rank``, ``certify``
        (of :func:`mor.low_rank_gramians`) and ``hsv_rtol`` (relative accuracy of the
        certified Hankel singular values, default ``1e-3``).  Without ``tol`` the residual
        tolerance starts at ``1e-10`` and is tightened (to ``1e-12``, ``1e-14``, continuing
        the same iteration) while the certificate does not resolve the first truncated
        Hankel singular value (:func:`mor.lowrank_bt.choose_route`).
    match_dc : bool
        Balanced singular perturbation instead of truncation: the balanced states ``r+1`` up to
        the numerical rank are residualised (:func:`mor.spa.residualize`), so the DC gain
        (``s = 0``; discrete ``z = 1``) is matched exactly and ``D_r != D`` in general; the
        bound ``2 * sum(hsv[r:])`` is the same.  A diagonal batch is re-diagonalised (its
        ``D`` becomes per member and complex).  Infinite horizon only.

    Returns
    -------
    BalancedTruncationResult

    Raises
    ------
    UnstableSystemError
        For unstable systems (infinite horizon).
    OrderError
        ``order`` outside ``[1, n]``.
    ArgumentTypeError
        ``order`` not an integer, ``tol`` or ``rank_tol`` not a real number.
    InvalidArgumentError
        Both ``order`` and ``tol`` given, ``tol < 0``, ``rank_tol`` outside ``[0, 1)``,
        ``match_dc`` with ``horizon``.
    MethodError
        Unknown ``method`` or ``route``; ``horizon`` or ``gramian_method`` on the low-rank route.
    ConvergenceError
        ``route="low-rank"`` (or a sparse system above ``DENSIFY_LIMIT``) whose low-rank
        iteration did not reach its tolerance.

    Warns
    -----
    RankWarning
        ``order`` above the numerical rank (capped), padded batch members, or a reduced pole
        outside the stability region.
    AccuracyWarning
        The error bound may not hold because the transfer function of the given system cannot
        be computed to the bound's accuracy (see "Guarantee").

    Notes
    -----
    Guarantee.  For a stable system, in exact arithmetic,
    ``hsv[order] <= ||G - G_r||_inf <= error_bound = 2 sum(hsv[order:])``.  In floating point
    the reduced model is, to first order, the exact truncation of a system whose transfer
    function lies within ``rounding`` of ``G``, so ``||G - G_r||_inf <= error_bound + rounding``.
    ``rounding`` is estimated from the resolvent of the Schur form at the resonances of the least
    damped poles and on a grid (for a diagonal system, from the size of its modal terms); for
    normal, well-damped systems it is ~1e-14 of ``sigma_1``.  An
    :class:`~mor.errors.AccuracyWarning` names the conditioning (eigenvector condition of ``A``,
    stability margin of the least damped pole) when ``rounding`` exceeds 5% of the bound and
    ``1e-10 (sigma_1 + ||D||)``: strongly non-normal systems (eigenvector condition ~1e8 and
    above) or poles within rounding of the stability boundary.  Measured against an oracle on
    non-normal systems with condition up to 1e12, no unwarned case exceeded the bound, and SLICOT's
    ``AB09AD`` models violated it in the warned ones as well (see the reliability page of the
    documentation).  Diagonal systems keep the bound down to Hankel singular values many orders
    below ``sigma_1``, fast discrete poles (``z`` underflowing) included.

    The steps, each a named helper: check the arguments; Gramian factors
    ``P = R R^H``, ``Q = S S^H`` (:func:`mor.gramians`) and the SVD of ``S^H R``
    (:func:`mor.hankel.factor_svd`; for a diagonal batch every value but only the ``r`` leading
    vectors, :func:`mor.hankel.leading_factor_svd`); choose the order (``order``, ``tol`` or
    the numerical rank, capped at it); the projection matrices ``V``, ``W``
    (``"sr"`` or ``"bfsr"``); project (dense) or project and re-diagonalise
    (diagonal batch); warn when a reduced pole left the stability region.

    Examples
    --------
    >>> import numpy as np
    >>> from mor import LTI, balanced_truncation, hinf_norm
    >>> A = np.array([[-1.0, 2.0, 0.0], [0.0, -2.0, 1.0], [0.0, 0.0, -50.0]])
    >>> sys = LTI(A, np.ones((3, 1)), [[1.0, -1.0, 2.0]])
    >>> res = balanced_truncation(sys, order=1)
    >>> err = hinf_norm(sys - res.reduced)
    >>> bool(res.hsv[1] <= err <= res.error_bound)
    True

    The bound can be attained (``order = n - 1`` of a SISO system, or systems with
    ``A = A^T``, ``B = C^T``), so floating-point comparisons with it need a rounding margin.
    """
    sys = as_system(sys, keep_sparse=True)
    order, tol, rank_tol = _check_arguments(sys.n, order, tol, method, rank_tol)
    if check_bool(match_dc, "match_dc") and horizon is not None:
        raise InvalidArgumentError("match_dc (singular perturbation) needs infinite-horizon Gramians, not horizon=")
    if isinstance(sys, DiagonalLTI) and 0 in sys.batch_shape:
        return _empty_batch(sys, order, tol, rank_tol, method, horizon)
    route, sys, low, hsv_rtol = choose_route(sys, route, low_rank, horizon, gramian_method, order, tol)
    if low is None:
        R, S, schur = factors_and_schur(sys, method=gramian_method, horizon=horizon)
    else:
        R, S, schur = low.Z, low.Y, None
    # a diagonal batch (truncation) needs the leading r singular vectors only
    leading = leading_factor_svd(R, S) if isinstance(sys, DiagonalLTI) and not match_dc else None
    if leading is None:
        U, s, Vh = factor_svd(R, S)
    else:
        s = leading.s
    hsv = pad_hsv(s, sys.n) if low is None else s
    nonzero = (hsv > rank_tol * hsv[..., :1]) & (hsv > 0)  # numerically non-zero HSVs
    r = _choose_order(hsv, nonzero, order, tol, rank_tol)
    if leading is not None:  # bfsr orthonormalises S U_r: only the span of U_r matters
        U, Vh = leading.leading(r, left="span" if method == "bfsr" else "vectors")
    valid = nonzero[..., :r]  # False: padding of a member whose rank is below r
    V, W = _projections(R, S, U, Vh, hsv[..., :r], valid, method)
    if match_dc:
        reduced, V, W = _singular_perturbation(sys, R, S, U, Vh, hsv, nonzero, V, W, method)
    elif isinstance(sys, LTI):
        reduced = LTI(_ct(W) @ sys.A @ V, _ct(W) @ sys.B, sys.C @ V, sys.D, sys.dt)
    elif isinstance(sys, SparseLTI):
        reduced = project_sparse(sys, V, W)
    else:
        reduced, V, W = _reduce_diagonal(sys, V, W, ~valid)
    bound = floor = None
    if horizon is None:
        _warn_unstable(reduced)
        bound = 2 * hsv[..., r:].sum(axis=-1)
        floor = None if low is not None else _rounding(sys, schur, bound, hsv)
        bound = float(bound) if bound.ndim == 0 else bound
    cert = None if low is None else certify(low, hsv, r, hsv_rtol, bound)
    return BalancedTruncationResult(
        reduced, hsv, bound, r, V, W, method, ~valid, route=route, certificate=cert, rounding=floor,
        match_dc=bool(match_dc),
    )  # fmt: skip


def _check_arguments(n: int, order: Any, tol: Any, method: Any, rank_tol: Any) -> tuple:
    """Validated ``(order, tol, rank_tol)``; ``method`` must be ``"sr"`` or ``"bfsr"``."""
    check_choice(method, "method", ("sr", "bfsr"))
    rank_tol = check_real(rank_tol, "rank_tol", minimum=0.0, maximum=1.0, include_max=False)
    if order is not None and tol is not None:
        raise InvalidArgumentError("give either order or tol, not both")
    if order is not None:
        order = check_int(order, f"order (n = {n})", minimum=1, maximum=n, error=OrderError)
    if tol is not None:
        tol = check_real(tol, "tol", minimum=0.0)
    return order, tol, rank_tol


def _choose_order(hsv: np.ndarray, nonzero: np.ndarray, order: int | None, tol: float | None, rank_tol: float) -> int:
    """The reduced order: ``order``, the smallest order meeting ``tol``, or the numerical rank.

    An order above the largest numerical rank in the batch is capped at it (``RankWarning``);
    members whose own rank is below the order are padded later (``RankWarning`` too).
    """
    rank = nonzero.sum(axis=-1)
    max_rank = int(rank.max()) if rank.size else 0
    if order is not None:
        r = order
    elif tol is not None:
        batch = hsv.shape[:-1]
        tails = 2 * np.cumsum(hsv[..., ::-1], axis=-1)[..., ::-1]  # tails[..., r] = 2 sum(hsv[r:])
        tails = np.concatenate([tails, np.zeros(batch + (1,))], axis=-1)
        ok = np.all(tails <= tol, axis=tuple(range(len(batch))))  # (n + 1,)
        r = max(int(np.argmax(ok)), 1)
    else:
        r = max_rank
    if r > max_rank and rank.size:  # (an empty batch has no rank to cap at: the order stands)
        warnings.warn(
            RankWarning(
                f"order {r} exceeds the numerical rank {max_rank} (Hankel singular values "
                f"<= {rank_tol:g} * sigma_1 count as zero); using order {max_rank}"
            ),
            stacklevel=_USER,
        )
        r = max_rank
    members = int((~nonzero[..., :r]).any(axis=-1).sum())
    if members:
        warnings.warn(
            RankWarning(
                f"{members} batch member(s) have numerical rank below order {r}; their extra modes are "
                "decoupled padding (b = c = 0), see BalancedTruncationResult.padded"
            ),
            stacklevel=_USER,
        )
    return r


def _empty_batch(sys: DiagonalLTI, order, tol, rank_tol, method: str, horizon) -> BalancedTruncationResult:
    """The result for a batch without members: every array has a zero-sized batch dimension."""
    batch, n = sys.batch_shape, sys.n
    hsv = np.zeros(batch + (n,))
    r = _choose_order(hsv, hsv > 0, order, tol, rank_tol)
    poles = np.broadcast_to(sys.poles[..., :1], batch + (r,)) if n else np.zeros(batch + (r,), complex)
    reduced = DiagonalLTI(poles, np.zeros(batch + (r, sys.m)), np.zeros(batch + (sys.p, r)), sys.D, sys.dt)
    V = np.zeros(batch + (n, r), complex)
    none = None if horizon is not None else np.zeros(batch)
    padded = np.zeros(batch + (r,), bool)
    return BalancedTruncationResult(reduced, hsv, none, r, V, V.copy(), method, padded, rounding=none)


def _ct(X: np.ndarray) -> np.ndarray:
    """Conjugate transpose over the last two axes."""
    return np.conj(np.swapaxes(X, -1, -2))


def _projections(R, S, U, Vh, hsv_r, valid, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``V, W`` with ``W^H V = I`` from the SVD ``S^H R = U diag(hsv) V^H``, truncated to ``r``.

    ``"sr"``: ``V = R V_r hsv_r^(-1/2)``, ``W = S U_r hsv_r^(-1/2)`` (a balanced realisation).
    ``"bfsr"``: orthonormal bases of ``R V_r`` and ``S U_r``, then ``W <- W (W^H V)^(-H)``.
    Columns of padded modes (``valid`` False) are zero (an identity block in ``W^H V``).
    """
    r = valid.shape[-1]
    Ur = U[..., :, :r]
    Vr = _ct(Vh)[..., :, :r]
    vmask = valid[..., None, :]
    if method == "sr":
        scale = 1.0 / np.sqrt(np.where(valid, hsv_r, 1.0))
        V = np.where(vmask, (R @ Vr) * scale[..., None, :], 0)
        W = np.where(vmask, (S @ Ur) * scale[..., None, :], 0)
        return V, W
    if r == 0:
        return R[..., :, :0], S[..., :, :0]
    if valid.all():  # no padding
        V, W = np.linalg.qr(R @ Vr)[0], np.linalg.qr(S @ Ur)[0]
        return V, W @ _ct(np.linalg.inv(_ct(W) @ V))
    V = np.where(vmask, np.linalg.qr(np.where(vmask, R @ Vr, 0))[0], 0)
    W = np.where(vmask, np.linalg.qr(np.where(vmask, S @ Ur, 0))[0], 0)
    both = valid[..., :, None] & valid[..., None, :]
    E = np.where(both, _ct(W) @ V, np.eye(r))
    return V, W @ _ct(np.linalg.inv(E))


def _singular_perturbation(sys, R, S, U, Vh, hsv, nonzero, V1, W1, method: str):
    """Balanced singular perturbation: ``(reduced, V1, W1)`` (see :func:`mor.spa.residualize`).

    The kept block ``V1``, ``W1`` (order ``r``) and the residualised block (states ``r+1`` up to
    the largest numerical rank) get separate bases, so the projected realisation is the balanced
    one up to a block-diagonal change of coordinates.  Padded states (members of lower rank) are
    decoupled: those of the kept block get an original pole (as in truncation), those of the
    residualised block ``A22 - zeta I = -I``.
    """
    r, nr = V1.shape[-1], int(nonzero.sum(axis=-1).max(initial=0))
    valid2 = nonzero[..., r:nr]
    V2, W2 = _projections(R, S, U[..., :, r:], Vh[..., r:, :], hsv[..., r:nr], valid2, method)
    V, W = np.concatenate([V1, V2], axis=-1), np.concatenate([W1, W2], axis=-1)
    Wh = _ct(W)
    A = (Wh * sys.poles[..., None, :]) @ V if isinstance(sys, DiagonalLTI) else Wh @ (sys.A @ V)
    discrete = sys.dt is not None
    fill = np.where(valid2, 0.0, (1.0 if discrete else 0.0) - 1.0)  # decoupled padding: K = -I there
    idx = np.arange(r, nr)
    A[..., idx, idx] += fill
    if isinstance(sys, DiagonalLTI) and r:
        A[..., :r, :r] += _pad_poles(sys, ~nonzero[..., :r])  # padding of the kept block, as in truncation
    D = np.broadcast_to(sys.D, A.shape[:-2] + sys.D.shape[-2:]).astype(complex if sys.is_complex else float)
    Ar, Br, Cr, Dr = residualize(A, Wh @ sys.B, sys.C @ V, D, r, discrete=discrete, stacklevel=_USER + 1)
    if not isinstance(sys, DiagonalLTI):  # dense, or sparse (the low-rank route): a dense model
        return LTI(Ar, Br, Cr, Dr, sys.dt), V1, W1
    reduced, X = to_diagonal(Ar, Br, Cr, Dr, sys.dt, what="balanced singular perturbation", stacklevel=_USER + 1)
    return reduced, V1 @ X, W1 @ _ct(np.linalg.inv(X)) if r else W1


def _reduce_diagonal(sys: DiagonalLTI, V: np.ndarray, W: np.ndarray, padded: np.ndarray):
    """Project a diagonal batch and re-diagonalise: ``(reduced DiagonalLTI, V, W)``.

    ``A_r = W^H diag(poles) V`` (padded modes get a distinct original pole), then
    ``A_r = X diag(lambda_r) X^-1`` with ``X`` folded into ``B_r``, ``C_r``, ``V`` and ``W``.
    Discrete systems get ``log_poles = log(lambda_r)`` (``-inf`` for a pole at zero).
    """
    Wh = _ct(W)
    Ar = (Wh * sys.poles[..., None, :]) @ V
    Br = Wh @ sys.B
    Cr = sys.C @ V
    if np.any(padded):
        Ar = Ar + _pad_poles(sys, padded)
    if Ar.shape[-1]:
        lam, X = np.linalg.eig(Ar)
        Br = np.linalg.solve(X, Br)
        Cr = Cr @ X
        V = V @ X
        W = W @ _ct(np.linalg.inv(X))
    else:
        lam = np.zeros(Ar.shape[:-1], complex)
    # discrete: log_poles = log(lam) on demand (-inf for a reduced pole at z = 0, which fast poles give)
    return DiagonalLTI(lam, Br, Cr, sys.D, sys.dt), V, W


def _pad_poles(sys: DiagonalLTI, padded: np.ndarray) -> np.ndarray:
    """Diagonal matrix placing distinct original poles (fastest decaying first) on padded modes."""
    decay = sys.poles.real if sys.dt is None else sys.log_poles.real
    order = np.argsort(decay, axis=-1)  # most negative first
    fastest = np.take_along_axis(sys.poles, order, axis=-1)
    r = padded.shape[-1]
    # k-th padded mode of a member gets its k-th fastest pole
    k = np.cumsum(padded, axis=-1) - 1
    k = np.clip(k, 0, sys.n - 1)
    vals = np.take_along_axis(fastest, k, axis=-1)
    diag = np.where(padded, vals, 0)
    out = np.zeros(padded.shape + (r,), dtype=complex)
    idx = np.arange(r)
    out[..., idx, idx] = diag
    return out


def _rounding(sys: LTI | DiagonalLTI, schur, bound: np.ndarray, hsv: np.ndarray) -> float | np.ndarray:
    """The rounding floor of ``G`` (:func:`mor._frequency.rounding_floor`), with an
    :class:`AccuracyWarning` where it may invalidate the error bound.

    Warned: ``floor > BOUND_SHARE * bound`` and ``floor > FLOOR_RTOL * (sigma_1 + ||D||)`` (a bound far
    below the accuracy of ``G`` itself; the second condition keeps rounding-level bounds, such
    as ``order = n``, quiet).
    """
    if sys.n == 0:
        return 0.0 if bound.ndim == 0 else np.zeros(bound.shape)
    if isinstance(sys, LTI) and schur is None:
        schur = complex_schur(sys.A)
    floor = rounding_floor(sys, schur).reshape(bound.shape)
    size = hsv[..., 0] + fro_norm(sys.D)  # of G: sigma_1 <= ||G - D||_inf
    bad = (floor > BOUND_SHARE * bound) & (floor > FLOOR_RTOL * size)
    if np.any(bad):
        worst = np.argmax(np.where(bad, floor / np.maximum(bound, np.finfo(float).tiny), -np.inf))
        f, b, s1 = (float(np.ravel(x)[worst]) for x in (floor, bound, size))
        where = f"{int(bad.sum())} of {bad.size} systems; worst: " if bad.ndim else ""
        share = f / max(s1, 1e-300)
        warnings.warn(
            AccuracyWarning(
                f"balanced_truncation: the error bound may not hold ({where}the bound is {b:.3g}, but the rounding "
                f"errors of the transfer function itself are estimated at up to {f:.3g}, which is {share:.2g} times "
                "sigma_1 + ||D||). "
                f"{_conditioning(sys, schur)} No floating-point method reduces such a system to the bound's "
                "accuracy; ||G - G_r|| <= error_bound + rounding (BalancedTruncationResult.rounding)"
            ),
            stacklevel=_USER,
        )
    return float(floor) if floor.ndim == 0 else floor


def _conditioning(sys: LTI | DiagonalLTI, schur) -> str:
    """What makes ``G`` ill-conditioned, for the warning: the margin of the least damped pole, and
    the eigenvector condition (dense) or cancelling modal terms (diagonal)."""
    if isinstance(sys, DiagonalLTI):
        margin = -(sys.poles.real / np.abs(sys.poles) if sys.dt is None else sys.log_poles.real)
        return (
            f"The least damped pole has relative stability margin {float(np.min(margin)):.2g}, or the modal "
            "terms C[:, i] B[i, :] / (s - lambda_i) cancel (large residues, small G)."
        )
    lam = np.diag(schur.T)
    margin = -lam.real / np.abs(lam).max() if sys.dt is None else one_minus_abs2(lam) / 2
    _, X = np.linalg.eig(schur.T)
    return (
        f"The eigenvector matrix of A has condition number {np.linalg.cond(X):.1e} (non-normality) and the "
        f"least damped pole has relative stability margin {float(np.min(margin)):.2g}."
    )


def _warn_unstable(reduced: LTI | DiagonalLTI) -> None:
    """``RankWarning`` when a reduced pole left the stability region (the same test as
    :func:`mor.check_stable`)."""
    bad = unstable_mask(reduced)
    if np.any(bad):
        warnings.warn(
            RankWarning(
                f"{int(bad.sum())} reduced pole(s) lie outside the stability region: the "
                "truncation went below the accuracy of the Hankel singular values; lower the order "
                "or raise rank_tol"
            ),
            stacklevel=_USER,
        )
