"""Hankel singular values from the SVD of the product of Gramian factors."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg import lapack

from .._guard import guarded
from ..errors import ArgumentTypeError, DimensionError, InvalidArgumentError, OrderError, UnstableSystemError
from ..linalg._arrays import as_array, binary_exponent, pad_hsv
from ..linalg._leading_svd import BidiagonalSVD
from ..systems.batched import as_batch, map_members
from ..systems.convert import as_system
from ..systems.descriptor import eliminate_algebraic
from ..systems.lti import LTI
from ..systems.stability import check_stable
from ..validation import check_real
from .batched_modal import modal_factors, modal_form
from .dense import UNSTABLE_HINT, gramians

__all__ = ["hankel_singular_values", "factor_svd", "leading_factor_svd", "order_for_tolerance", "truncation_bound"]


def factor_svd(R: np.ndarray, S: np.ndarray, *, compute_uv: bool = True):
    """SVD of ``S^H R`` for Gramian factors ``P = R R^H``, ``Q = S S^H``.

    The singular values are the Hankel singular values ``sigma_i = sqrt(eig(P Q))``,
    computed without forming ``P Q``.  The factors are used in the order they
    come (pivot order for diagonal systems), which keeps the graded structure
    that LAPACK's ``gesdd`` resolves to high relative accuracy.

    Parameters
    ----------
    R : (..., n, kP) ndarray
    S : (..., n, kQ) ndarray

    Returns
    -------
    U : (..., kQ, k) ndarray, s : (..., k) ndarray, Vh : (..., k, kP) ndarray
        With ``k = min(kP, kQ)``; only ``s`` when ``compute_uv`` is false.

    Raises
    ------
    numpy.linalg.LinAlgError
        With ``compute_uv``: ``S^H R`` has non-finite entries (it overflowed; LAPACK's ``gesdd`` may
        never return on them), or the SVD did not converge.
    """
    M = np.conj(np.swapaxes(S, -1, -2)) @ R
    if M.shape[-1] == 0 or M.shape[-2] == 0:
        k = 0
        s = np.zeros(M.shape[:-2] + (k,))
        if not compute_uv:
            return s
        return (
            np.zeros(M.shape[:-2] + (M.shape[-2], k), M.dtype),
            s,
            np.zeros(M.shape[:-2] + (k, M.shape[-1]), M.dtype),
        )
    if compute_uv and not np.isfinite(M).all():  # (gesdd with vectors may never return on inf entries)
        raise np.linalg.LinAlgError("S^H R has non-finite entries (overflow)")
    if M.ndim == 2 and compute_uv:  # one matrix: LAPACK gesdd called directly (numpy's is the same routine)
        gesdd = lapack.zgesdd if np.iscomplexobj(M) else lapack.dgesdd
        U, s, Vh, info = gesdd(M, compute_uv=1, full_matrices=0)
        if info == 0:
            return U, s, Vh
    return np.linalg.svd(M, full_matrices=False, compute_uv=compute_uv)


class LeadingFactorSVD:
    """The SVD of ``S^H R`` with every singular value and the leading vectors on demand.

    Attributes
    ----------
    s : (..., k) ndarray
        The singular values (decreasing), those of ``factor_svd(R, S, compute_uv=False)``.

    Methods
    -------
    leading(r, left="vectors")
        ``(U_r (..., kQ, r), Vh_r (..., r, kP))``: the ``r`` leading singular vectors,
        ``S^H R V_r = U_r diag(s[..., :r])``; ``left="span"``: ``U_r`` computed as
        ``S^H R V_r diag(s_r)^-1``, accurate as a basis of the left singular subspace only
        (see :meth:`mor.linalg._leading_svd.BidiagonalSVD.leading`).
    """

    def __init__(self, R: np.ndarray, S: np.ndarray):
        M = np.conj(np.swapaxes(S, -1, -2)) @ R
        self._batch, self._shape = M.shape[:-2], M.shape[-2:]
        size = int(np.prod(self._batch, dtype=int))
        self._svd = BidiagonalSVD(M.reshape((size, *self._shape)))
        self.s = self._svd.s.reshape(*self._batch, self._svd.s.shape[-1])

    def leading(self, r: int, *, left: str = "vectors") -> tuple[np.ndarray, np.ndarray]:
        U, Vh = self._svd.leading(r, left=left)
        return U.reshape(*self._batch, *U.shape[-2:]), Vh.reshape(*self._batch, *Vh.shape[-2:])


def leading_factor_svd(R: np.ndarray, S: np.ndarray) -> LeadingFactorSVD:
    """SVD of ``S^H R`` (Gramian factors ``P = R R^H``, ``Q = S S^H``), its leading vectors on demand.

    Every singular value as :func:`factor_svd` with ``compute_uv=False`` (the Hankel singular
    values, to the same relative accuracy), and only the ``r`` leading singular vectors, at a
    backward-stable SVD's accuracy, when :meth:`LeadingFactorSVD.leading` asks for them
    (:mod:`mor.linalg._leading_svd`: one bidiagonalisation shared by the values and the vectors).

    Parameters
    ----------
    R : (..., n, kP) ndarray
    S : (..., n, kQ) ndarray

    Returns
    -------
    LeadingFactorSVD
    """
    return LeadingFactorSVD(R, S)


@guarded("hankel_singular_values")
def hankel_singular_values(sys: Any, *, method: str | None = None, horizon: int | None = None) -> np.ndarray:
    """Hankel singular values of a stable system.

    ``sigma_i = sqrt(lambda_i(P Q))`` in decreasing order, computed as the
    singular values of ``S^H R`` where ``P = R R^H`` and ``Q = S S^H`` are the
    Gramians (:func:`mor.gramians`), never as ``sqrt(eig(P Q))``.  For diagonal
    systems the factors are pivoted Cholesky factors of the Cauchy-like
    Gramians, so even values many orders of magnitude below ``sigma_1`` keep
    high relative accuracy.  With ``horizon=L`` (discrete time) the finite
    Gramians over ``L`` steps are used (time-limited Hankel singular values).

    Parameters
    ----------
    sys : LTI, DiagonalLTI, BatchedLTI, list of systems, or convertible
        The system.  Descriptor systems: ``sigma_i = sqrt(lambda_i(P E^H Q E))`` with the
        generalised Gramians (:mod:`mor.gramians.descriptor`).  A
        :class:`~mor.systems.batched.BatchedLTI` (or a list of systems of one size) gives the
        values of every member: those of the one-system call to ``1e-12 sigma_1`` (the
        well-conditioned members through their modal form, vectorised,
        :mod:`mor.gramians.batched_modal`; the others one by one, :mod:`mor.systems.batched`).
    method : str, optional
        Gramian method (see :func:`mor.controllability_gramian`).
    horizon : int, optional
        Finite horizon for discrete systems.

    Returns
    -------
    hsv : (..., n) ndarray, float
        Decreasing (the leading axes: the batch shape); padded with zeros beyond the numerical rank of the factors.

    Raises
    ------
    UnstableSystemError
        For unstable systems (infinite horizon).  The Hankel singular values of an unstable
        system are not defined; the message points to :func:`mor.balanced_truncation`, which
        keeps the unstable part and reports ``inf`` for each unstable state followed by the values
        of the stable part (MATLAB's ``hsvd`` convention), and to :func:`mor.stable_split`.

    Notes
    -----
    Accuracy, and its conditions.  Diagonal systems: every value keeps a small *relative*
    error (~1e-14 measured against 250-digit references down to 1e-40 of ``sigma_1``), for
    continuous poles and for discrete log-poles of any size (``z = exp(mu)`` may be subnormal or
    zero: the Blaschke factors are formed from ``mu`` without under- or overflow).  Dense
    systems: the factors come from Hammarling's method on the complex Schur form, so the values
    are exact for a system within ``~n eps ||A||`` of the given one; that gives an absolute error
    of about ``eps sigma_1`` times the conditioning of the Gramians (agreement with SLICOT to
    ~1e-8 of ``sigma_1`` for eigenvector conditions up to 1e12).  Time scaling
    (``A -> a A``, ``B, C -> sqrt(a) B, C``, ``a`` from 1e-250 to 1e250) leaves them unchanged
    to ~1e-14.  A discrete pole within rounding of the unit circle is handled with the exact
    margin ``1 - |z|^2``.

    Examples
    --------
    >>> import numpy as np
    >>> from mor import DiagonalLTI, hankel_singular_values
    >>> sys = DiagonalLTI([-1.0], [[1.0]], [[1.0]])      # 1/(s+1): sigma = 1/2
    >>> hankel_singular_values(sys)
    array([0.5])
    """
    batch = as_batch(sys)
    if batch is not None:  # a stack of dense systems: the modal route, or member by member
        return _batch_hsv(batch, method, horizon)
    sys = as_system(sys, descriptor=True)
    if getattr(sys, "E", None) is not None:  # descriptor: sigma = sv(S^H E R), see mor.gramians.descriptor
        sys = eliminate_algebraic(sys)
    given = sys
    sys, exponent = _unit_scaled(sys)
    try:
        R, S = gramians(sys, factor=True, method=method, horizon=horizon)
    except UnstableSystemError:  # name the poles of the system as given, not of its scaled copy
        if getattr(given, "E", None) is None:
            check_stable(given, "the infinite-horizon Gramians", hint=UNSTABLE_HINT)
        raise
    if getattr(sys, "E", None) is not None:
        S = sys.E.conj().T @ S
    s = factor_svd(R, S, compute_uv=False)
    return pad_hsv(np.ldexp(s, exponent), sys.n)


def _batch_hsv(batch: Any, method: Any, horizon: Any) -> np.ndarray:
    """Hankel singular values of a :class:`~mor.systems.batched.BatchedLTI`: the well-conditioned members
    through their modal form, vectorised (:mod:`mor.gramians.batched_modal`), the others (and every
    member with ``method`` or ``horizon``) one by one."""
    hsv = np.zeros((batch.size, batch.n))
    ok = np.zeros(batch.size, bool)
    if method is None and horizon is None:
        modal = modal_form(batch)
        ok = modal.ok
        if ok.any():
            hsv[ok] = pad_hsv(factor_svd(*modal_factors(modal), compute_uv=False), batch.n)
    rest = np.flatnonzero(~ok)
    if rest.size:
        one = lambda s: hankel_singular_values(s, method=method, horizon=horizon)
        hsv[rest] = map_members(batch, one, "hankel_singular_values", rest)
    return hsv.reshape(batch.batch_shape + (batch.n,))


def _unit_scaled(sys: Any) -> tuple[Any, int]:
    """A dense ``sys`` scaled by powers of two to entries near 1, and the exponent ``e`` with ``hsv = 2^e hsv'``.

    ``A' = A / 2^a`` (continuous time only), ``B' = B / 2^b``, ``C' = C / 2^c`` has Gramians
    ``P = 2^(2b - a) P'`` and ``Q = 2^(2c - a) Q'``, so ``sigma = 2^(b + c - a) sigma'`` exactly: a
    system like ``(1e300 A, 1e300 B, C)``, whose ``B B^H`` overflows, has the values of ``(A, B, C)``.
    Diagonal systems keep their own (already scale-free) route.
    """
    if not isinstance(sys, LTI) or sys.n == 0:
        return sys, 0

    a = 0 if sys.dt is not None else binary_exponent(sys.A)
    b, c = binary_exponent(sys.B), binary_exponent(sys.C)
    A, B, C = sys.A * np.ldexp(1.0, -a), sys.B * np.ldexp(1.0, -b), sys.C * np.ldexp(1.0, -c)
    scaled = LTI(A, B, C, sys.D, sys.dt, E=sys.E)  # descriptor: E stays (the equations are linear in A)
    return scaled, b + c - a



def _checked_hsv(hsv: Any) -> np.ndarray:
    if np.iscomplexobj(hsv):
        raise ArgumentTypeError("hsv must be real (Hankel singular values), got a complex array")
    hsv = as_array(hsv, "hsv", complex_=False, copy=False)
    if hsv.ndim < 1:
        raise DimensionError(f"hsv must have at least one dimension (..., n), got shape {hsv.shape}")
    if (hsv < 0).any():
        raise InvalidArgumentError("hsv must be non-negative (Hankel singular values)")
    return hsv


def truncation_bound(hsv: Any, order: Any) -> np.ndarray:
    """The error bound of balanced truncation (and singular perturbation) to ``order`` states.

    ``2 * sum(hsv[..., order:])``: an upper bound of ``||G - G_r||_inf`` for a stable system ``G``
    with Hankel singular values ``hsv`` and its balanced truncation ``G_r`` of order ``order``
    (Glover 1984; Enns 1984).  :func:`mor.balanced_truncation`, :func:`order_for_tolerance` and
    the adapter's layer reductions (:mod:`mor_torch.reducers`) use this one formula.

    Parameters
    ----------
    hsv : (..., n) array_like
        Hankel singular values, decreasing along the last axis (:func:`hankel_singular_values`).
    order : int or (...) array_like of int
        One order in ``0 .. n`` for every member, or one per member (shape ``hsv.shape[:-1]``).

    Returns
    -------
    bound : (...) ndarray
        ``2 * sum(hsv[..., order:])`` per member (a 0-d array for 1-D ``hsv``).

    Raises
    ------
    DimensionError
        ``hsv`` is 0-d, or per-member orders of another shape than ``hsv.shape[:-1]``.
    OrderError
        An order outside ``0 .. n``.
    ArgumentTypeError
        Complex ``hsv`` or non-integer orders.

    Examples
    --------
    >>> from mor import truncation_bound
    >>> float(truncation_bound([3.0, 1.0, 0.5, 0.25], 2))
    1.5
    """
    hsv = _checked_hsv(hsv)
    if isinstance(order, (int, np.integer)) and not isinstance(order, bool):  # one order (the common case)
        if not 0 <= order <= hsv.shape[-1]:
            raise OrderError(f"order must lie in 0 .. {hsv.shape[-1]}, got {order!r}")
        return 2 * hsv[..., int(order) :].sum(axis=-1)
    cut = np.asarray(order)
    if not np.issubdtype(cut.dtype, np.integer):
        raise ArgumentTypeError(f"order must be an integer or an integer array, got {order!r}")
    if np.any(cut < 0) or np.any(cut > hsv.shape[-1]):
        raise OrderError(f"order must lie in 0 .. {hsv.shape[-1]}, got {order!r}")
    if cut.ndim == 0:
        return 2 * hsv[..., int(cut) :].sum(axis=-1)
    if cut.shape != hsv.shape[:-1]:
        raise DimensionError(f"per-member orders must have shape {hsv.shape[:-1]}, got {cut.shape}")
    rows, cuts = hsv.reshape(-1, hsv.shape[-1]), cut.ravel()
    return 2 * np.array([h[c:].sum() for h, c in zip(rows, cuts, strict=True)]).reshape(cut.shape)


def order_for_tolerance(hsv: Any, tol: float) -> int:
    """The smallest order ``r >= 1`` whose truncation bound meets ``tol`` for every member.

    ``min {r >= 1 : 2 * sum(hsv[..., r:]) <= tol}`` over the members of a batch (``r = n`` when
    only the full order does): the order :func:`mor.balanced_truncation` chooses for ``tol``, on
    the dense and the low-rank route, and :func:`mor_torch.reduce_layer` for a layer's channels.
    The tails are cumulative sums from the smallest value up.

    Parameters
    ----------
    hsv : (..., n) array_like
        Hankel singular values, decreasing along the last axis.
    tol : float
        Bound on the H-infinity error, ``>= 0``.

    Returns
    -------
    int
        In ``1 .. max(n, 1)``.

    Raises
    ------
    InvalidArgumentError
        ``tol < 0`` or negative ``hsv``.
    ArgumentTypeError
        Complex ``hsv``, or ``tol`` not a real number.

    Examples
    --------
    >>> from mor import order_for_tolerance
    >>> order_for_tolerance([3.0, 1.0, 0.5, 0.25], 1.5)
    2
    """
    hsv = _checked_hsv(hsv)
    tol = check_real(tol, "tol", minimum=0.0)
    batch = hsv.shape[:-1]
    tails = 2 * np.cumsum(hsv[..., ::-1], axis=-1)[..., ::-1]  # tails[..., r] = 2 sum(hsv[..., r:])
    tails = np.concatenate([tails, np.zeros(batch + (1,))], axis=-1)  # order n: no error
    ok = np.all(tails <= tol, axis=tuple(range(len(batch))))  # (n + 1,), monotone
    return max(int(np.argmax(ok)), 1)
