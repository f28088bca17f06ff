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

The route.  With the default options (infinite horizon, no ``match_dc``, band or margin, dense
Gramians) the well-conditioned members are reduced together, vectorised over the batch: Gramian
factors ``R~``, ``S~`` of their modal form (:mod:`mor.gramians.batched_modal`), one batched SVD of
``S^H R = S~^H R~`` (no product by the eigenvector matrices), the ``r`` columns ``R V_r = X R~ V_r``
and ``S U_r = X^-H S~ U_r`` mapped back to the original coordinates, the ``"sr"``/``"bfsr"``
projections and ``A_r = W^H A V``, ``B_r = W^H B``, ``C_r = C V`` (a balanced realisation for
``"sr"``, as alone).  The factors of a real member are complex, so its ``r`` columns are made real
by removing each column's phase (:func:`_real_columns`; the columns of a simple singular value are
a real vector times one phase).  A member goes the one-system way instead when the modal route
could not promise the one-system answer: eigenvector condition above
:data:`~mor.gramians.batched_modal.KAPPA_MAX` or poles near the stability boundary, numerical rank
below the order, a relative gap ``(sigma_r - sigma_{r+1}) / sigma_r`` below :data:`GAP` (the reduced
model is then ill-determined), a rounding estimate (``kappa_F`` times that of the modal form) above
:data:`ROUNDING_SHARE` of its bound and :data:`QUIET` of ``sigma_1 + ||D||`` (near the one-system
path's warning), a real member's columns left with an imaginary share above :data:`IMAG_TOL` after
the phase is removed, or a reduced pole outside the stability region (which the one-system path
warns about).  ``result.modal`` says which members took the vectorised route.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._display import compact_repr
from ..analysis._frequency import rounding_floor
from ..errors import ArgumentConflictError, OrderError
from ..gramians.batched_modal import modal_factors, modal_form
from ..gramians.hankel import factor_svd, order_for_tolerance, truncation_bound
from ..linalg._arrays import conj_transpose, fro_norm, pad_hsv
from ..systems.batched import BatchedLTI, map_members
from ..systems.stability import unstable_mask
from ..validation import check_choice, check_int, check_real

__all__ = ["GAP", "IMAG_TOL", "QUIET", "ROUNDING_SHARE", "BatchedBalancedTruncationResult", "reduce_batch"]

#: Smallest relative gap ``(sigma_r - sigma_{r+1}) / sigma_r`` for the vectorised route.
GAP = 1e-2
#: Largest imaginary share of a real member's projection columns after their phase is removed
#: (:func:`_real_columns`); rounding leaves 1e-15 .. 1e-12 (measured on 300 random members of n = 16).
IMAG_TOL = 1e-10
#: Largest share of the error bound that the rounding estimate of a member may reach on the vectorised route ...
ROUNDING_SHARE = 1e-3
#: ... unless it is below this share of ``sigma_1 + ||D||`` (1/1000 of the one-system path's ``FLOOR_RTOL``,
#: below which it never warns: rounding-level bounds such as ``order = n``).
QUIET = 1e-13


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
        ``2 * sum(hsv[..., order:])`` of every member (``None`` with ``horizon``).
    order : int
        The common order of the reduced models.
    rounding : (...,) ndarray or None
        Every member's rounding floor (see :class:`~mor.reduction.balanced.BalancedTruncationResult`);
        on the vectorised route ``kappa_F`` times that of the member's modal form.
    n_unstable : (...,) ndarray of int
        Kept unstable poles per member.
    padded : (..., order) ndarray of bool
        Decoupled padding states of members whose numerical rank is below ``order``.
    modal : (...,) ndarray of bool
        Members reduced on the vectorised (modal) route; the others were reduced one by one.
    members : dict
        The one-system results (with the projections ``V``, ``W``) of the members reduced one by
        one, by flat index (C order of the batch axes); a padded member's ``reduced`` there is its
        unpadded model.
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
    modal: np.ndarray
    members: dict
    method: str


def reduce_batch(
    batch: BatchedLTI,
    order: Any,
    tol: Any,
    reduce: Any,
    *,
    method: str = "sr",
    rank_tol: float = 1e-12,
    vectorised: bool = True,
) -> BatchedBalancedTruncationResult | list[BatchedBalancedTruncationResult]:
    """Reduce every member to one common order: the vectorised route where it applies, else ``reduce``.

    Parameters
    ----------
    batch : BatchedLTI
    order : int, list of int or None
        As for :func:`mor.balanced_truncation`; a list gives a list of batched results (one by one).
    tol : float or None
        As for :func:`mor.balanced_truncation` (the common order meets it for every member).
    reduce : callable
        ``reduce(sys, order, tol)``: :func:`mor.balanced_truncation` with the caller's other options.
    method : {"sr", "bfsr"}
        The projection.
    rank_tol : float
        As for :func:`mor.balanced_truncation`.
    vectorised : bool
        Whether the caller's options allow the vectorised route (the defaults of the options other
        than ``method`` and ``rank_tol``).

    Returns
    -------
    BatchedBalancedTruncationResult or list of them
    """
    if isinstance(order, list) or not vectorised:
        runs = map_members(batch, lambda s: reduce(s, order, tol), "balanced_truncation")
        if isinstance(order, list):
            return [_assemble(batch, dict(enumerate(r[j] for r in runs)), None) for j in range(len(order))]
        return _assemble(batch, _common_order(batch, dict(enumerate(runs)), 1, tol, reduce), None)
    method = check_choice(method, "method", ("sr", "bfsr"))
    rank_tol = check_real(rank_tol, "rank_tol", minimum=0.0, maximum=1.0, include_max=False)
    if order is not None and tol is not None:
        raise ArgumentConflictError("give either order or tol, not both")
    order = None if order is None else check_int(order, f"order (n = {batch.n})", minimum=1, maximum=batch.n,
                                                 error=OrderError)  # fmt: skip
    tol = None if tol is None else check_real(tol, "tol", minimum=0.0)
    fast = _Vectorised(batch, method, rank_tol) if batch.n else None
    ok = fast.ok.copy() if fast is not None else np.zeros(batch.size, bool)
    runs = dict(zip(np.flatnonzero(~ok).tolist(), map_members(
        batch, lambda s: reduce(s, order, tol), "balanced_truncation", np.flatnonzero(~ok)), strict=True))  # fmt: skip
    wanted = order if order is not None else fast.order(tol) if ok.any() else 1
    runs = _common_order(batch, runs, wanted, tol, reduce)
    r = max([wanted, *(x.order for x in runs.values())])
    if ok.any():
        late = fast.truncate(r)  # flat members the vectorised route hands back
        if late.size:
            runs.update(zip(late.tolist(), map_members(
                batch, lambda s: reduce(s, r, None), "balanced_truncation", late), strict=True))  # fmt: skip
            runs = _common_order(batch, runs, r, tol, reduce)
    return _assemble(batch, runs, fast)


def _common_order(batch: BatchedLTI, runs: dict, wanted: int, tol: Any, reduce: Any) -> dict:
    """With ``tol``, reduce again at the common order the members whose own order is lower."""
    if tol is None or not runs:
        return runs
    r = max([wanted, *(x.order for x in runs.values())])
    redo = [k for k, x in runs.items() if x.order < r]
    if redo:
        runs = dict(runs)
        runs.update(zip(redo, map_members(batch, lambda s: reduce(s, r, None), "balanced_truncation", redo),
                        strict=True))  # fmt: skip
    return runs


class _Vectorised:
    """The vectorised route over the members that take it (see the module notes)."""

    def __init__(self, batch: BatchedLTI, method: str, rank_tol: float):
        self.batch, self.method, self.rank_tol = batch, method, rank_tol
        self.modal = modal_form(batch)
        self.ok = self.modal.ok.copy()
        if self.ok.any():
            self.R, self.S = modal_factors(self.modal)  # modal coordinates: S^H R = S~^H R~
            self.U, s, self.Vh = factor_svd(self.R, self.S)
            self.hsv = pad_hsv(s, batch.n)
            self.nonzero = (self.hsv > rank_tol * self.hsv[:, :1]) & (self.hsv > 0)

    def order(self, tol: float | None) -> int:
        """The order the vectorised members need: ``tol``'s, else the largest numerical rank."""
        if tol is not None:
            return order_for_tolerance(self.hsv, tol)
        return int(self.nonzero.sum(axis=-1).max())

    def truncate(self, r: int) -> np.ndarray:
        """Reduce the vectorised members to order ``r``; return the flat members handed back (see the notes)."""
        hsv, n, flat = self.hsv, self.batch.n, np.flatnonzero(self.modal.ok)
        keep = self.nonzero[:, r - 1]
        if r < n:
            keep &= hsv[:, r - 1] - hsv[:, r] >= GAP * hsv[:, r - 1]
        bound = truncation_bound(hsv, r)
        rounding = self.modal.kappa * rounding_floor(self.modal.diagonal)
        size = hsv[:, 0] + fro_norm(self.modal.diagonal.D)  # of G, as on the one-system path
        keep &= (rounding <= ROUNDING_SHARE * bound) | (rounding <= QUIET * size)
        # R V_r, S U_r in the original coordinates, of every modal member (no gathers of n x n stacks)
        RV = self.modal.X @ (self.R @ conj_transpose(self.Vh[:, :r]))
        SU = conj_transpose(self.modal.Xi) @ (self.S @ self.U[..., :r])
        sel = np.flatnonzero(keep)  # among the modal members
        take = _taker(sel, keep.size)
        RV, SU = take(RV), take(SU)
        real = np.ones(sel.size, bool)
        if not self.batch.is_complex:
            RV, SU, real = _real_columns(RV, SU)
        V, W = _projections(RV, SU, take(hsv[:, :r]), self.method)
        A, B, C, D = (_members(x, flat[sel], self.batch.size) for x in (self.batch.A, self.batch.B, self.batch.C,
                                                                          self.batch.D))  # fmt: skip
        Wh = conj_transpose(W)
        Ar = Wh @ A @ V
        stable = ~np.any(unstable_mask(self.batch, poles=np.linalg.eigvals(Ar)), axis=-1)  # reads dt only
        stable &= real
        sel = sel[stable]
        again = _taker(np.flatnonzero(stable), stable.size)
        self.idx = flat[sel]  # the flat members reduced here
        self.Ar, self.Br, self.Cr, self.Dr = again(Ar), again(Wh @ B), again(C @ V), again(D)
        self.hsv_kept, self.bound, self.rounding = hsv[sel], bound[sel], rounding[sel]
        self.ok[:] = False
        self.ok[self.idx] = True
        return flat[np.setdiff1d(np.arange(flat.size), sel)]


def _taker(sel: np.ndarray, size: int):
    """``x -> x[sel]`` along the first axis, without a copy when ``sel`` is every index of ``size``."""
    return (lambda x: x) if sel.size == size else (lambda x: x[sel])


def _members(x: np.ndarray, idx: np.ndarray, size: int) -> np.ndarray:
    """Flat members ``idx`` of a batched array ``(..., a, b)`` of ``size`` members, as ``(k, a, b)``;
    no copy when ``idx`` is every member."""
    x = x.reshape((size,) + x.shape[-2:])
    return x if idx.size == size else x[idx]


def _real_columns(RV: np.ndarray, SU: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real ``R V_r``, ``S U_r`` of real members from the complex ones, and which members they are exact for.

    The factors of a real member are complex (:func:`mor.gramians.batched_modal.modal_factors`),
    but ``P`` and ``Q`` are real, so for a simple singular value ``R v_i = e^(j theta_i) x_i`` with
    ``x_i`` real, and ``S u_i = Q R v_i / sigma_i`` has the same phase.  ``theta_i`` is half the
    angle of ``sum_k (R v_i)_k^2``; both columns are turned by ``e^(-j theta_i)`` and their real
    parts kept (``W^H V = I`` is kept, the phases cancel).  A member whose imaginary parts after the
    turn exceed :data:`IMAG_TOL` of the column norms is marked false (it goes the one-system way).
    """
    ones = np.ones(RV.shape[-2])  # column sums as products (numpy's sum over the middle axis is ~10x slower)
    t = ones @ (RV * RV)
    turn = np.exp(-0.5j * np.angle(t))[..., None, :]
    RV, SU = RV * turn, SU * turn
    imag = np.maximum(_imag_share(RV, ones), _imag_share(SU, ones))
    return np.ascontiguousarray(RV.real), np.ascontiguousarray(SU.real), imag <= IMAG_TOL


def _imag_share(F: np.ndarray, ones: np.ndarray) -> np.ndarray:
    """``max_i ||Im F_:i|| / ||F_:i||`` per member (0 for a zero column); ``ones`` of length ``n``."""
    re, im = ones @ np.square(F.real), ones @ np.square(F.imag)
    den = re + im
    return np.sqrt(np.max(im / np.where(den > 0, den, 1.0), axis=-1, initial=0.0))


def _projections(RV, SU, hsv_r, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``V, W`` with ``W^H V = I`` from ``R V_r`` and ``S U_r``: ``"sr"`` ``V = R V_r hsv_r^(-1/2)``,
    ``W = S U_r hsv_r^(-1/2)``; ``"bfsr"`` orthonormal bases of ``R V_r`` and ``S U_r``, then
    ``W <- W (W^H V)^(-H)``."""
    if method == "sr":
        scale = 1.0 / np.sqrt(hsv_r)[..., None, :]
        return RV * scale, SU * scale
    V, W = np.linalg.qr(RV)[0], np.linalg.qr(SU)[0]
    return V, W @ conj_transpose(np.linalg.inv(conj_transpose(W) @ V))


def _assemble(batch: BatchedLTI, runs: dict, fast: _Vectorised | None) -> BatchedBalancedTruncationResult:
    """One batched result from the members reduced one by one (``runs``) and the vectorised ones (``fast``)."""
    size, n = batch.size, batch.n
    vec = fast is not None and fast.ok.any()
    r = max([x.order for x in runs.values()] + ([fast.Ar.shape[-1]] if vec else []))
    dtype = batch.A.dtype
    A, B = np.zeros((size, r, r), dtype), np.zeros((size, r, batch.m), dtype)
    C, D = np.zeros((size, batch.p, r), dtype), np.zeros((size, batch.p, batch.m), dtype)
    hsv, bound, rounding = np.zeros((size, n)), np.zeros(size), np.zeros(size)
    n_unstable, padded = np.zeros(size, int), np.zeros((size, r), bool)
    for k, x in runs.items():
        (A[k], B[k], C[k], D[k]), padded[k] = _padded(x.reduced, r)
        hsv[k], n_unstable[k] = x.hsv, x.n_unstable
        bound[k] = np.nan if x.error_bound is None else x.error_bound
        rounding[k] = np.nan if x.rounding is None else x.rounding
    modal = np.zeros(size, bool)
    if vec:
        idx = fast.idx
        A[idx], B[idx], C[idx], D[idx] = fast.Ar, fast.Br, fast.Cr, fast.Dr
        hsv[idx], bound[idx], rounding[idx] = fast.hsv_kept, fast.bound, fast.rounding
        modal[idx] = True
    shape = batch.batch_shape
    finite = not np.isnan(bound).any()
    return BatchedBalancedTruncationResult(
        reduced=BatchedLTI(*(x.reshape(shape + x.shape[1:]) for x in (A, B, C, D)), dt=batch.dt),
        hsv=hsv.reshape(shape + (n,)),
        error_bound=bound.reshape(shape) if finite else None,
        order=r,
        rounding=rounding.reshape(shape) if finite else None,
        n_unstable=n_unstable.reshape(shape),
        padded=padded.reshape(shape + (r,)),
        modal=modal.reshape(shape),
        members=runs,
        method=next(iter(runs.values())).method if runs else fast.method,
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
