"""Square-root balanced truncation (Moore 1981; Laub et al. 1987; Varga 1991).

With Gramian factors ``P = R R^H``, ``Q = S S^H`` and the SVD
``S^H R = U diag(sigma) V^H`` (the Hankel singular values ``sigma``), the
reduced model of order ``r`` is the Petrov-Galerkin projection::

    A_r = W^H A V,   B_r = W^H B,   C_r = C V,   D_r = D,     W^H V = I_r

square root (``"sr"``):             V = R V_r sigma_r^(-1/2),   W = S U_r sigma_r^(-1/2)
balancing-free square root (``"bfsr"``):  V = orth(R V_r),  W = orth(S U_r) (W^H V)^(-H)

For stable systems the reduced model is stable and
``sigma_{r+1} <= ||G - G_r||_inf <= 2 (sigma_{r+1} + ... + sigma_n)``.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arrays import pad_hsv
from ._guard import guarded
from .errors import InvalidArgumentError, OrderError, RankWarning
from .gramians import gramians
from .hankel import factor_svd
from .stability import unstable_mask
from .systems import LTI, DiagonalLTI, as_system
from .validation import check_choice, check_int, check_real

__all__ = ["BalancedTruncationResult", "balanced_truncation"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BalancedTruncationResult:
    """Outcome of :func:`balanced_truncation`.

    Attributes
    ----------
    reduced : LTI or DiagonalLTI
        The reduced model: dense for an :class:`LTI`, and for a (batched)
        :class:`DiagonalLTI` a diagonal model of the same batch shape
        (re-diagonalised; discrete ones keep ``log_poles``).
    hsv : (..., n) ndarray
        Hankel singular values of the original system(s), decreasing.
    error_bound : float or (...,) ndarray or None
        ``2 * sum(hsv[..., order:])``, an upper bound of ``||G - G_r||_inf``
        (``None`` for finite-horizon Gramians, where no such bound holds).
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
    """

    reduced: LTI | DiagonalLTI
    hsv: np.ndarray
    error_bound: float | np.ndarray | None
    order: int
    V: np.ndarray
    W: np.ndarray
    method: str
    padded: np.ndarray


@guarded("balanced_truncation")
def balanced_truncation(
    sys: Any,
    order: int | None = None,
    *,
    tol: float | None = None,
    method: str = "sr",
    horizon: int | None = None,
    rank_tol: float = 1e-12,
    gramian_method: str | None = None,
) -> BalancedTruncationResult:
    """Reduce a stable system by square-root balanced truncation.

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
        Both ``order`` and ``tol`` given, ``tol < 0``, ``rank_tol`` outside ``[0, 1)``.
    MethodError
        Unknown ``method``.

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
    sys = as_system(sys)
    order, tol, rank_tol = _check_arguments(sys.n, order, tol, method, rank_tol)
    n = sys.n

    R, S = gramians(sys, factor=True, method=gramian_method, horizon=horizon)
    U, s, Vh = factor_svd(R, S)
    hsv = pad_hsv(s, n)
    batch = hsv.shape[:-1]

    s0 = hsv[..., :1]
    numerically_nonzero = hsv > rank_tol * s0
    numerically_nonzero &= hsv > 0
    rank = numerically_nonzero.sum(axis=-1)
    max_rank = int(rank.max()) if rank.size else 0

    if order is None and tol is None:
        r = max_rank
    elif order is not None:
        r = int(order)
    else:
        tails = 2 * np.cumsum(hsv[..., ::-1], axis=-1)[..., ::-1]  # tails[..., r] = 2 sum(hsv[r:])
        tails = np.concatenate([tails, np.zeros(batch + (1,))], axis=-1)
        ok = np.all(tails <= tol, axis=tuple(range(len(batch))))  # (n + 1,)
        r = max(int(np.argmax(ok)), 1)
    if r > max_rank:
        warnings.warn(
            RankWarning(
                f"order {r} exceeds the numerical rank {max_rank} (Hankel singular values "
                f"<= {rank_tol:g} * sigma_1 count as zero); using order {max_rank}"
            ),
            stacklevel=2,
        )
        r = max_rank
    valid = numerically_nonzero[..., :r]
    padded = ~valid
    if np.any(padded):
        members = int(padded.any(axis=-1).sum())
        warnings.warn(
            RankWarning(
                f"{members} batch member(s) have numerical rank below order {r}; their extra modes are "
                "decoupled padding (b = c = 0), see BalancedTruncationResult.padded"
            ),
            stacklevel=2,
        )

    Ur = U[..., :, :r]
    Vr = np.conj(np.swapaxes(Vh, -1, -2))[..., :, :r]
    vmask = valid[..., None, :]
    if method == "sr":
        scale = 1.0 / np.sqrt(np.where(valid, hsv[..., :r], 1.0))
        V = np.where(vmask, (R @ Vr) * scale[..., None, :], 0)
        W = np.where(vmask, (S @ Ur) * scale[..., None, :], 0)
    else:
        V = np.where(vmask, np.linalg.qr(np.where(vmask, R @ Vr, 0))[0], 0) if r else R[..., :, :0]
        W = np.where(vmask, np.linalg.qr(np.where(vmask, S @ Ur, 0))[0], 0) if r else S[..., :, :0]
        E = np.conj(np.swapaxes(W, -1, -2)) @ V
        eye = np.eye(r, dtype=E.dtype)
        both = valid[..., :, None] & valid[..., None, :]
        E = np.where(both, E, eye)
        W = W @ np.conj(np.swapaxes(np.linalg.inv(E), -1, -2)) if r else W
    Wh = np.conj(np.swapaxes(W, -1, -2))

    if isinstance(sys, LTI):
        reduced = LTI(Wh @ sys.A @ V, Wh @ sys.B, sys.C @ V, sys.D, sys.dt)
        _warn_unstable(reduced, horizon)
        bound = float(2 * hsv[r:].sum()) if horizon is None else None
        return BalancedTruncationResult(reduced, hsv, bound, r, V, W, method, padded)

    Ar = (Wh * sys.poles[..., None, :]) @ V
    Br = Wh @ sys.B
    Cr = sys.C @ V
    if np.any(padded):
        Ar = Ar + _pad_poles(sys, padded)
    if r:
        lam, X = np.linalg.eig(Ar)
        Br = np.linalg.solve(X, Br)
        Cr = Cr @ X
        V = V @ X
        W = W @ np.conj(np.swapaxes(np.linalg.inv(X), -1, -2))
    else:
        lam = Ar[..., :, 0] if Ar.shape[-1] else np.zeros(batch + (0,), complex)
    if sys.dt is None:
        reduced = DiagonalLTI(lam, Br, Cr, sys.D)
    else:
        with np.errstate(divide="ignore"):
            mu = np.log(lam)
        reduced = DiagonalLTI.from_log_poles(mu, Br, Cr, sys.D, sys.dt)
    _warn_unstable(reduced, horizon)
    bound = None
    if horizon is None:
        b = 2 * hsv[..., r:].sum(axis=-1)
        bound = float(b) if b.ndim == 0 else b
    return BalancedTruncationResult(reduced, hsv, bound, r, V, W, method, padded)


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


def _warn_unstable(reduced: LTI | DiagonalLTI, horizon: int | None) -> None:
    if horizon is not None:
        return
    bad = unstable_mask(reduced)
    if np.any(bad):
        warnings.warn(
            RankWarning(
                f"{int(bad.sum())} reduced pole(s) lie outside the stability region: the "
                "truncation went below the accuracy of the Hankel singular values; lower the order "
                "or raise rank_tol"
            ),
            stacklevel=3,
        )
