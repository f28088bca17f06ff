"""Balanced truncation of a stack of dense systems (:class:`~mor.systems.batched.BatchedLTI`) in one call.

:func:`mor.balanced_truncation` hands a :class:`~mor.systems.batched.BatchedLTI` (or a list of
systems of one size) to :func:`reduce_batch`.  Every member is reduced exactly as it would be
alone (:func:`mor.systems.batched.map_members`), so each keeps its own guarantee: its Hankel
singular values, its bound ``2 sum(hsv[order:])`` and its rounding floor are those of the
one-system call.  What the batch adds is one order for all members, so that the reduced models
stack into one :class:`~mor.systems.batched.BatchedLTI`:

- ``order=r``: every member is reduced to ``r``; a member whose numerical rank is below ``r``
  (the one-system call caps its order, with a :class:`~mor.errors.RankWarning`) is padded with
  decoupled states (``b = c = 0``; pole ``-||A||_F`` in continuous time, ``0`` in discrete time),
  which leave its transfer function unchanged (``padded`` marks them);
- ``tol``: the largest of the members' orders (the smallest order meeting ``tol`` for every
  member); members that would stop earlier are reduced again at that order;
- neither: the largest numerical rank, the others padded.

Why member by member and not one vectorised pass: at small ``n`` the time of a balanced
truncation is the per-matrix LAPACK work (a Schur or eigenvalue decomposition and an SVD of
``n x n`` matrices), and numpy's batched ``eig``, ``svd`` and ``qr`` call LAPACK once per matrix at
the same cost; the measured floors are in the user guide ("Many systems in one call").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._display import compact_repr
from ..linalg._arrays import fro_norm
from ..systems.batched import BatchedLTI, map_members

__all__ = ["BatchedBalancedTruncationResult", "reduce_batch"]


@dataclass(frozen=True)
class BatchedBalancedTruncationResult:
    """Outcome of :func:`mor.balanced_truncation` for a :class:`~mor.systems.batched.BatchedLTI`.

    Attributes
    ----------
    reduced : BatchedLTI
        The reduced models, batch shape of the input, ``order`` states each.
    hsv : (..., n) ndarray
        Hankel singular values of every member (``inf`` for kept unstable poles).
    error_bound : (...,) ndarray or None
        ``2 * sum(hsv[..., order:])`` of every member's own reduction (``None`` with ``horizon``).
    order : int
        The common order of the reduced models.
    rounding : (...,) ndarray or None
        Every member's rounding floor (see :class:`~mor.reduction.balanced.BalancedTruncationResult`).
    n_unstable : (...,) ndarray of int
        Kept unstable poles per member.
    padded : (..., order) ndarray of bool
        Decoupled padding states of members whose numerical rank is below ``order``.
    members : tuple of BalancedTruncationResult
        The one-system results (C order of the batch axes), with the projections ``V``, ``W``;
        a padded member's ``reduced`` there is its unpadded model.
    method : str
        ``"sr"`` or ``"bfsr"``.
    """

    __repr__ = compact_repr

    reduced: BatchedLTI
    hsv: np.ndarray
    error_bound: np.ndarray | None
    order: int
    rounding: np.ndarray | None
    n_unstable: np.ndarray
    padded: np.ndarray
    members: tuple
    method: str


def reduce_batch(
    batch: BatchedLTI, order: Any, tol: Any, reduce: Any
) -> BatchedBalancedTruncationResult | list[BatchedBalancedTruncationResult]:
    """Reduce every member with ``reduce(member, order, tol)`` (the one-system call) to one common order.

    Parameters
    ----------
    batch : BatchedLTI
    order : int, list of int or None
        As for :func:`mor.balanced_truncation`; a list gives a list of batched results.
    tol : float or None
        As for :func:`mor.balanced_truncation` (the common order meets it for every member).
    reduce : callable
        ``reduce(sys, order, tol)``: :func:`mor.balanced_truncation` with the caller's other options.

    Returns
    -------
    BatchedBalancedTruncationResult or list of them
    """
    runs = map_members(batch, lambda s: reduce(s, order, tol), "balanced_truncation")
    if isinstance(order, list):
        return [_stack(batch, [r[j] for r in runs], None, reduce) for j in range(len(order))]
    return _stack(batch, runs, tol, reduce)


def _stack(batch: BatchedLTI, runs: list, tol: Any, reduce: Any) -> BatchedBalancedTruncationResult:
    """One batched result from the members' results (re-run at the common order where ``tol`` chose it)."""
    order = max(r.order for r in runs)
    if tol is not None and any(r.order < order for r in runs):
        redo = [k for k, r in enumerate(runs) if r.order < order]
        again = map_members(batch, lambda s: reduce(s, order, None), "balanced_truncation", redo)
        for k, r in zip(redo, again, strict=True):
            runs[k] = r
    shape = batch.batch_shape
    mats, padded = zip(*(_padded(r.reduced, order) for r in runs), strict=True)
    A, B, C, D = (np.stack([m[i] for m in mats]).reshape(shape + mats[0][i].shape) for i in range(4))
    bound = None if runs[0].error_bound is None else np.array([r.error_bound for r in runs]).reshape(shape)
    rounding = None if runs[0].rounding is None else np.array([r.rounding for r in runs]).reshape(shape)
    return BatchedBalancedTruncationResult(
        reduced=BatchedLTI(A, B, C, D, batch.dt),
        hsv=np.stack([r.hsv for r in runs]).reshape(shape + (batch.n,)),
        error_bound=bound,
        order=order,
        rounding=rounding,
        n_unstable=np.array([r.n_unstable for r in runs], dtype=int).reshape(shape),
        padded=np.stack(padded).reshape(shape + (order,)),
        members=tuple(runs),
        method=runs[0].method,
    )


def _padded(reduced: Any, order: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """``(A, B, C, D)`` of a reduced model padded to ``order`` states with decoupled ones, and the padding mask.

    Padding states have ``b = c = 0`` and the pole ``-||A||_F`` (continuous; ``-1`` for ``A = 0``)
    or ``0`` (discrete): stable, and invisible in the transfer function.
    """
    r, m, p = reduced.n, reduced.m, reduced.p
    mask = np.arange(order) >= r
    if r == order:
        return (reduced.A, reduced.B, reduced.C, reduced.D), mask
    pole = 0.0 if reduced.dt is not None else -(float(fro_norm(reduced.A)) or 1.0)
    A = np.zeros((order, order), dtype=reduced.A.dtype)
    A[:r, :r] = reduced.A
    A[np.arange(r, order), np.arange(r, order)] = pole
    B = np.zeros((order, m), dtype=reduced.B.dtype)
    B[:r] = reduced.B
    C = np.zeros((p, order), dtype=reduced.C.dtype)
    C[:, :r] = reduced.C
    return (A, B, C, reduced.D), mask
