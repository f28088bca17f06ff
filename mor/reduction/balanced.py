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
``r+1 .. n_r`` (``n_r`` the numerical rank), residualise them (:func:`mor.reduction.spa.residualize`): the
DC gain is matched exactly (``G_r(0) = G(0)``, discrete ``G_r(1) = G(1)``) and the same bound
holds.  The two blocks of states get separate bases (the formulas are invariant under
block-diagonal changes of coordinates only).

Large sparse systems (:class:`mor.SparseLTI`) take the low-rank route: the same projection on
low-rank Gramian factors (:func:`mor.low_rank_gramians`), qualified by a certificate
(:mod:`mor.reduction.lowrank_bt`).
"""

from __future__ import annotations

import dataclasses
import inspect
import threading
import warnings
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .._display import compact_repr
from .._guard import guarded
from ..analysis._frequency import rounding_floor
from ..errors import (
    AccuracyWarning,
    ArgumentConflictError,
    ArgumentTypeError,
    OrderError,
    RankWarning,
    UnstableSystemError,
)
from ..gramians.dense import factors_and_schur
from ..gramians.frequency_limited import check_band, frequency_limited_factors
from ..gramians.hankel import factor_svd, leading_factor_svd, order_for_tolerance, truncation_bound
from ..linalg._arrays import conj_transpose, fro_norm, pad_hsv
from ..linalg._exact import one_minus_abs2
from ..linalg.schur import complex_schur
from ..systems._diagonal_form import to_diagonal
from ..systems.batched import as_batch
from ..systems.convert import as_system
from ..systems.lti import LTI, DiagonalLTI
from ..systems.sparse import SparseLTI
from ..systems.stability import unstable_mask
from ..systems.stable_split import DEFAULT_MARGIN, stable_split
from ..validation import check_bool, check_choice, check_int, check_real
from .batched_bt import BatchedBalancedTruncationResult, reduce_batch
from .lowrank_bt import LowRankCertificate, certify, choose_route, project_sparse, route_gramians
from .spa import residualize
from .unstable_bt import reduce_unstable

__all__ = ["BalancedTruncationResult", "balanced_truncation"]

_USER = 6  # warnings point at the caller: helper -> _truncate -> _reduce -> balanced_truncation -> guard -> caller
#: AccuracyWarning when the rounding floor of G exceeds this share of the error bound ...
BOUND_SHARE = 0.05
#: ... and this fraction of sigma_1 (rounding-level bounds, e.g. order = n, stay quiet).
FLOOR_RTOL = 1e-10
#: The fields of a dense result settled at the first read of either (with the floor's AccuracyWarning).
ON_FIRST_READ = ("error_bound", "rounding")
#: Up to this order the floor of a dense G is also computed at that read; above it, at the call (only
#: its warning waits for the read): there it costs <= 5% of the call, and an unread result would keep
#: the Schur form alive (40 n^2 bytes, 42 MB at n = 1024).
DEFER_MAX_ORDER = 256


class _PendingFloor(NamedTuple):
    """The rounding floor of a dense ``G`` and its :class:`AccuracyWarning`, due at the first read of
    ``error_bound`` or ``rounding``: ``rounding_floor(sys, schur)``, the value an eager call gives."""

    sys: LTI
    schur: Any  # the SchurForm of sys.A the Gramians used (None: computed when read, as the eager call did)
    bound: float  # error_bound, known at the call
    sigma_1: float  # of G (the size of G is sigma_1 + ||D||)

    def settle(self) -> tuple[float, AccuracyWarning | None]:
        """The floor, and the warning it calls for (``None``: none)."""
        return _settle(self.sys, self.schur, self.bound, self.sigma_1)


class _PendingWarning(NamedTuple):
    """The rounding floor of a dense ``G`` of more than ``DEFER_MAX_ORDER`` states, computed at the
    call; its warning is due at the first read of ``error_bound`` or ``rounding``."""

    bound: float
    floor: float
    warning: AccuracyWarning | None

    def settle(self) -> tuple[float, AccuracyWarning | None]:
        """The floor, and the warning it calls for (``None``: none)."""
        return self.floor, self.warning


_PENDING = (_PendingFloor, _PendingWarning)


@guarded("balanced_truncation (the rounding floor, at the first read of error_bound or rounding)",
         select=lambda out: None)  # fmt: skip
def _settle(sys: LTI, schur: Any, bound: float, sigma_1: float) -> tuple[float, AccuracyWarning | None]:
    """:meth:`_PendingFloor.settle` under the guard of the call (floating-point warnings silenced,
    LAPACK failures typed; the floor itself may be ``inf``, as at the call)."""
    schur = complex_schur(sys.A) if schur is None else schur
    floor = rounding_floor(sys, schur)[0]
    return float(floor), _floor_warning(sys, schur, floor, bound, sigma_1)


_SETTLING = threading.RLock()  # held while a pending floor is settled (re-entrant: a warning hook may read another)


class _OnFirstRead:
    """A field of :class:`BalancedTruncationResult` whose value may be pending (:data:`_PENDING`).

    The first read of either field of :data:`ON_FIRST_READ` settles it: the floor is computed, its
    ``AccuracyWarning`` (if any) issued at the reader's line, and both fields take their values.
    The result stays immutable to its users: every read gives the same number, and warns at most
    once (a warning turned into an error leaves the floor pending, so each read raises it).
    """

    def __init__(self, name: str) -> None:
        self.slot = f"_{name}_value"

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.slot]
        if isinstance(value, _PENDING):
            with _SETTLING:  # concurrent first reads: one settles (and warns), the others get its value
                value = obj.__dict__[self.slot]
                if isinstance(value, _PENDING):
                    floor, warning = value.settle()
                    if warning is not None:
                        warnings.warn(warning, stacklevel=_reader_stacklevel())
                    obj.__dict__.update(_error_bound_value=value.bound, _rounding_value=floor)
                    value = obj.__dict__[self.slot]
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value


def _reader_stacklevel() -> int:
    """``stacklevel`` of a warning issued by the caller of this function: the first frame outside
    ``mor`` and :mod:`dataclasses`, the user's line that read the field (directly, or through
    ``repr``, ``==``, ``dataclasses.replace`` or a ``mor`` routine)."""
    here = inspect.currentframe()  # (None where Python keeps no frames: the caller's caller then)
    frame, level = None if here is None else here.f_back.f_back, 2
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] in ("mor", "dataclasses"):
        frame, level = frame.f_back, level + 1
    return level


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
        Hankel singular values of the original system(s), decreasing (``inf`` for kept unstable
        poles, see ``n_unstable``).  Low-rank route:
        the ``k`` values the factors resolve, shape ``(k,)`` (see ``certificate``).
    error_bound : float or (...,) ndarray or None
        ``2 * sum(hsv[..., order:])``, an upper bound of ``||G - G_r||_inf``
        (``None`` for finite-horizon Gramians, where no such bound holds; on the
        low-rank route the bound of the approximate Gramians, qualified by ``certificate``).
        Dense systems (:class:`LTI`): the first read of ``error_bound`` or ``rounding`` computes the
        rounding floor and issues its ``AccuracyWarning`` where the bound may not hold (see
        ``rounding``).
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
        on the low-rank route (whose ``certificate`` qualifies the bound instead).  Dense systems
        (:class:`LTI`): settled at the first read of ``rounding`` or ``error_bound``: the floor is
        computed then (the same value as at the call, then kept; above
        ``mor.reduction.balanced.DEFER_MAX_ORDER = 256`` states at the call, where it costs a few
        percent of it) and the :class:`~mor.errors.AccuracyWarning` of :func:`balanced_truncation`
        is issued then, pointing at the line that read it, once per result (a copy or an unpickled
        result that was not read yet warns at its own first read).  Diagonal systems and the
        members of a batch: computed, and warned about, at the call.
    match_dc : bool
        ``True``: balanced singular perturbation (the reduced model is the residualisation, not
        ``W^H A V``; ``V``, ``W`` are the bases of the kept balanced states).
    n_unstable : int
        Number of kept unstable (and marginal) poles, ``nu`` (0 for a stable system).  They lead the
        reduced model, ``A_r = diag(T11, A_s,r)`` with ``T11`` in (real) Schur form, ``hsv[:nu]`` is
        ``inf`` and ``error_bound`` bounds the error of the stable part, which is the whole error
        (:mod:`mor.reduction.unstable_bt`); ``rounding`` is that of the stable part.
    frequency_band : (float, float) or None
        The band of frequency-limited balanced truncation: ``hsv`` are then the singular values of
        the frequency-limited Gramian factors (``"modified"``: of the modified ones), ``rounding``
        is ``None`` and ``error_bound`` is ``None`` (``"plain"``) or the modified variant's bound.
    """

    __repr__ = compact_repr  # fits a screen: arrays by shape (mor._display)

    reduced: LTI | DiagonalLTI
    hsv: np.ndarray
    error_bound: float | np.ndarray | None  # (dense: on first read, see ON_FIRST_READ)
    order: int
    V: np.ndarray
    W: np.ndarray
    method: str
    padded: np.ndarray
    route: str = "dense"
    certificate: LowRankCertificate | None = None
    rounding: float | np.ndarray | None = None
    match_dc: bool = False
    n_unstable: int = 0
    frequency_band: tuple[float, float] | None = None

    def __setstate__(self, state: dict) -> None:
        """Unpickling (and copies): a result pickled before ``error_bound`` and ``rounding`` were settled on
        first read holds them as plain entries, moved here to the fields' slots."""
        moved = {f"_{name}_value": state[name] for name in ON_FIRST_READ if name in state}
        self.__dict__.update({k: v for k, v in state.items() if k not in ON_FIRST_READ}, **moved)


for _name in ON_FIRST_READ:  # installed after the dataclass is made: error_bound has no default
    setattr(BalancedTruncationResult, _name, _OnFirstRead(_name))

_CHECKED_FIELDS = [
    f.name for f in dataclasses.fields(BalancedTruncationResult) if f.name not in ("hsv", "rounding", "reduced")
]


def _finite_part(res: Any) -> Any:
    """What must be finite in a result (or a list of results): not ``rounding``, not the ``inf``
    Hankel singular values that stand for kept unstable poles (the reduced model is checked by
    its own fields)."""
    if isinstance(res, BatchedBalancedTruncationResult):  # every member was checked by its own call
        return None
    if isinstance(res, list):
        return [_finite_part(x) for x in res]
    reduced = res.reduced
    model = (reduced.A, reduced.B, reduced.C, reduced.D) if isinstance(reduced, LTI) else ()
    return (res.hsv[..., res.n_unstable :], *model, *(_unread(res, name) for name in _CHECKED_FIELDS))


def _unread(res: BalancedTruncationResult, name: str) -> Any:
    """A field of ``res`` without settling a pending floor (whose bound is known at the call)."""
    if name not in ON_FIRST_READ:
        return getattr(res, name)
    value = res.__dict__[f"_{name}_value"]
    return (value.bound if name == "error_bound" else None) if isinstance(value, _PENDING) else value


def _replace_unread(res: BalancedTruncationResult, **changes: Any) -> BalancedTruncationResult:
    """``dataclasses.replace(res, **changes)`` carrying a pending floor over unread (the new result
    settles it, and warns, at its own first read)."""
    return dataclasses.replace(res, **{name: res.__dict__[f"_{name}_value"] for name in ON_FIRST_READ}, **changes)


def _settled(res: Any) -> Any:
    """``res`` (a result or a list of them) with its floor settled: its warning comes now."""
    for x in res if isinstance(res, list) else [res]:
        _ = x.error_bound
    return res


@guarded("balanced_truncation", select=_finite_part)
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
    stability_margin: float | None = None,
    frequency_band: tuple[float, float] | None = None,
    frequency_variant: str = "plain",
) -> Any:
    """Reduce a system by square-root balanced truncation (or singular perturbation).

    Parameters
    ----------
    sys : LTI, DiagonalLTI, BatchedLTI, list of systems, or convertible
        A system; a batched :class:`DiagonalLTI` is reduced member-wise in one vectorised call.
        A :class:`~mor.systems.batched.BatchedLTI` (or a list of dense systems of one size) is
        reduced to one common order, each member as alone to 1e-12 (the well-conditioned ones
        vectorised through their modal form, the others one by one; :mod:`mor.reduction.batched_bt`),
        giving a :class:`~mor.reduction.batched_bt.BatchedBalancedTruncationResult`.
        A dense system that is not asymptotically stable keeps its unstable part exactly (see
        ``stability_margin``).
    order : int or list of int, optional
        Reduced order ``r`` with ``1 <= r <= n`` (with kept unstable poles: ``n_unstable <= r``;
        the order counts them, as in SLICOT and MATLAB).  A list of orders returns a list of
        results, one per order, from one set of Gramian factors and one SVD.
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
        ``n >= mor.reduction.lowrank_bt.LOW_RANK_MIN_ORDER`` states, which takes the low-rank route
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
        Hankel singular value (:func:`mor.reduction.lowrank_bt.route_gramians`).
    match_dc : bool
        Balanced singular perturbation instead of truncation: the balanced states ``r+1`` up to
        the numerical rank are residualised (:func:`mor.reduction.spa.residualize`), so the DC gain
        (``s = 0``; discrete ``z = 1``) is matched exactly and ``D_r != D`` in general; the
        bound ``2 * sum(hsv[r:])`` is the same.  A diagonal batch is re-diagonalised (its
        ``D`` becomes per member and complex).  Infinite horizon only.
    stability_margin : float, optional
        ``delta >= 0``: keep every pole with ``Re(lambda) >= -delta`` (discrete ``|z| >= 1 - delta``)
        exactly and reduce the rest (:func:`mor.stable_split`, :mod:`mor.reduction.unstable_bt`); SLICOT
        AB09MD's ``ALPHA = -delta`` (discrete ``1 - delta``), MATLAB ``balred``'s ``Offset``.
        ``None`` (default): a dense system that is not asymptotically stable is split with
        ``delta = mor.systems.stable_split.DEFAULT_MARGIN = 1e-8``; a stable one is reduced as a whole.
        Dense systems, infinite horizon only.
    frequency_band : (float, float), optional
        ``(w1, w2)``, rad per time unit (discrete: up to the Nyquist frequency ``pi / dt``):
        frequency-limited balanced truncation (Gawronski-Juang) on the Gramians of the band
        (:mod:`mor.gramians.frequency_limited`; real systems: the band and its mirror ``[-w2, -w1]``, so
        ``0 <= w1``).  Dense systems only.
    frequency_variant : {"plain", "modified"}
        With ``frequency_band``: ``"plain"`` (Gawronski-Juang; the smaller error in the band, but
        no a-priori bound, ``error_bound`` is ``None``, and the reduced model need not be stable:
        warned) or ``"modified"`` (Gugercin-Antoulas; stable, with the loose global bound
        ``error_bound = 2 ||K|| ||L|| sum(hsv[r:])``).  See :mod:`mor.gramians.frequency_limited`.

    Returns
    -------
    BalancedTruncationResult or list of BalancedTruncationResult
        A list when ``order`` is a list; a ``BatchedBalancedTruncationResult`` (or a list of
        them) for a batch of dense systems.

    Raises
    ------
    UnstableSystemError
        An unstable diagonal or sparse system (infinite horizon): only dense systems keep their
        unstable part; a frequency band on an unstable system's stable part is fine.
    OrderError
        ``order`` outside ``[1, n]``, below the number of kept unstable poles, or an empty list.
    ArgumentTypeError
        ``order`` not an integer (or a tuple or array instead of a list), ``tol`` or ``rank_tol``
        not a real number, ``frequency_band`` not a pair.
    InvalidArgumentError
        ``tol < 0``, ``rank_tol`` outside ``[0, 1)``, ``stability_margin < 0``, a band with
        ``w1 >= w2`` (real systems: ``w1 < 0``; discrete: beyond ``pi / dt``).
    ArgumentConflictError
        Both ``order`` and ``tol`` given; ``tol`` with the plain frequency-limited variant (no
        bound); ``match_dc`` with ``horizon``; ``stability_margin`` with
        ``horizon`` or for a system that is not dense; a band with ``horizon``, ``match_dc`` or
        ``route="low-rank"``; ``frequency_variant="modified"`` without a band; ``horizon`` or
        ``gramian_method`` on the low-rank route; ``match_dc`` on the low-rank route of a sparse
        descriptor system.
    MethodError
        Unknown ``method``, ``route`` or ``frequency_variant``.
    SystemTypeError
        ``frequency_band`` for a diagonal system (use ``to_dense()``).
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
        be computed to the bound's accuracy (see "Guarantee").  For a dense system it is issued at
        the first read of the result's ``error_bound`` or ``rounding``, where the rounding floor
        is computed, pointing at the line that read it; for a diagonal system and for each
        member of a batch of dense systems, at the call.

    Notes
    -----
    Guarantee.  For a stable system, in exact arithmetic,
    ``hsv[order] <= ||G - G_r||_inf <= error_bound = 2 sum(hsv[order:])``.  In floating point
    the reduced model is, to first order, the exact truncation of a system whose transfer
    function lies within ``rounding`` of ``G``, so ``||G - G_r||_inf <= error_bound + rounding``.
    ``rounding`` is estimated from the resolvent of the Schur form at the resonances of the least
    damped poles and on a grid (for a diagonal system, from the size of its modal terms); for
    normal, well-damped systems it is ~1e-14 of ``sigma_1``.  For a dense system of up to
    ``DEFER_MAX_ORDER = 256`` states it is computed at the first read of ``error_bound`` or
    ``rounding`` (the same value the call would give; a caller that only wants the reduced model
    does not pay for it).  An
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
    (:func:`mor.gramians.hankel.factor_svd`; for a diagonal batch every value but only the ``r`` leading
    vectors, :func:`mor.gramians.hankel.leading_factor_svd`); choose the order (``order``, ``tol`` or
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

    Unstable and marginal systems keep their unstable part; ``hsv`` lists ``inf`` for each kept
    state (MATLAB's ``hsvd`` convention), so the bound still reads ``2 sum(hsv[order:])``, now of
    the error ``G - G_r = G_s - G_s,r`` of the stable part:

    >>> sys = LTI(np.diag([1.0, -2.0, -3.0]), [[1.0], [1.0], [1.0]], [[1.0, 1.0, 1.0]])
    >>> res = balanced_truncation(sys, order=2)
    >>> res.n_unstable, float(res.hsv[0]), res.reduced.n
    (1, inf, 2)
    """
    batch = as_batch(sys)
    if batch is not None:  # a stack of dense systems: each member as alone, one common order
        options = {
            "method": method, "horizon": horizon, "rank_tol": rank_tol, "gramian_method": gramian_method,
            "route": route, "low_rank": low_rank, "match_dc": match_dc, "stability_margin": stability_margin,
            "frequency_band": frequency_band, "frequency_variant": frequency_variant,
        }  # fmt: skip
        vectorised = all(options[k] is None for k in options if k not in ("method", "rank_tol", "match_dc",
                                                                         "frequency_variant", "route"))
        vectorised &= match_dc is False and route in (None, "dense") and frequency_variant == "plain"
        # members one by one: settled at once, so that their warnings name the member (map_members)
        return reduce_batch(batch, order, tol, lambda s, o, t: _settled(balanced_truncation(s, o, tol=t, **options)),
                            method=method, rank_tol=rank_tol, vectorised=vectorised)
    sys = as_system(sys, keep_sparse=True)
    orders = _order_list(order)
    checked = [_check_arguments(sys.n, o, tol, method, rank_tol) for o in orders]
    tol, rank_tol = checked[0][1:]
    orders = [c[0] for c in checked]
    if check_bool(match_dc, "match_dc") and horizon is not None:
        raise ArgumentConflictError("match_dc (singular perturbation) needs infinite-horizon Gramians, not horizon=")
    band = check_band(frequency_band, sys, horizon=horizon, match_dc=match_dc, route=route, variant=frequency_variant)
    if band is not None and frequency_variant == "plain" and tol is not None:
        raise ArgumentConflictError(
            "tol chooses the order by the error bound, and plain frequency-limited BT has none: give order=, "
            "or frequency_variant='modified' (whose bound is 2 ||K|| ||L|| sum(hsv[order:]))"
        )
    if isinstance(sys, DiagonalLTI) and 0 in sys.batch_shape:
        results = [_empty_batch(sys, o, tol, rank_tol, method, horizon) for o in orders]
        return results if isinstance(order, list) else results[0]
    given = [o for o in orders if o is not None]
    plan = choose_route(sys, route, low_rank, horizon, gramian_method)
    if match_dc and plan.route != "dense" and getattr(sys, "E", None) is not None:
        raise ArgumentConflictError(
            "match_dc is not available on the low-rank route of a sparse descriptor system: give route='dense'"
        )
    route, sys, low = route_gramians(plan, sys, max(given) if given else None, tol)
    steps = _Steps(
        tol, method, horizon, rank_tol, gramian_method, bool(match_dc), band, frequency_variant, route, low,
        plan.hsv_rtol,
    )  # fmt: skip
    if stability_margin is not None:
        results = _reduce_with_split(sys, orders, steps, stability_margin, horizon)
    else:
        try:
            results = _reduce(sys, orders, steps)
        except UnstableSystemError as exc:  # not asymptotically stable: keep the unstable part
            if horizon is not None:
                raise
            results = _reduce_with_split(sys, orders, steps, DEFAULT_MARGIN, horizon, exc)
    return results if isinstance(order, list) else results[0]


class _Steps(NamedTuple):
    """The options of one :func:`balanced_truncation` call, shared by every order of a list."""

    tol: float | None
    method: str
    horizon: int | None
    rank_tol: float
    gramian_method: str | None
    match_dc: bool
    band: tuple[float, float] | None
    variant: str
    route: str
    low: Any
    hsv_rtol: float
    band_scale: float | None = None  # frequency_variant="modified": ||K|| ||L|| of the bound


def _order_list(order: Any) -> list:
    """``order`` as a list of orders: a list as given (each checked later), anything else as ``[order]``."""
    if isinstance(order, (tuple, np.ndarray)):
        raise ArgumentTypeError(f"several orders are given as a list, got {type(order).__name__}")
    if isinstance(order, list):
        if not order:
            raise OrderError("order=[] asks for no reduced model; give at least one order")
        return order
    return [order]


def _reduce_with_split(sys: Any, orders: list, steps: _Steps, margin: float, horizon: Any, cause=None) -> list:
    """Keep the poles outside the margin exactly and reduce the stable part (:mod:`mor.reduction.unstable_bt`)."""
    if horizon is not None:
        raise ArgumentConflictError("stability_margin (keeping the unstable part) needs infinite-horizon Gramians")
    if not isinstance(sys, LTI) and cause is None:
        raise ArgumentConflictError(f"stability_margin applies to dense systems (LTI), got {type(sys).__name__}")
    if not isinstance(sys, LTI):
        raise UnstableSystemError(
            f"balanced truncation keeps the unstable part of dense systems only, got {type(sys).__name__} "
            "(a diagonal system's split is a selection of modes: reduce its stable modes, or use to_dense() "
            f"member by member){'' if cause is None else f'; {cause}'}",
            poles=getattr(cause, "poles", None),
            index=getattr(cause, "index", None),
        ) from cause
    split = stable_split(sys, margin)
    if split.unstable.n == 0:
        return _reduce(sys, orders, steps)
    return reduce_unstable(split, orders, steps.tol, lambda stable, r: _reduce(stable, r, steps),
                           replace=_replace_unread)


def _reduce(sys: Any, orders: list, steps: _Steps) -> list[BalancedTruncationResult]:
    """One set of Gramian factors and one SVD, then one reduced model per order."""
    if steps.band is not None:
        R, S, scale = frequency_limited_factors(sys, steps.band, steps.variant)
        schur, steps = None, steps._replace(band_scale=scale)
    elif steps.low is None:
        R, S, schur = factors_and_schur(sys, method=steps.gramian_method, horizon=steps.horizon)
    else:
        R, S, schur = steps.low.Z, steps.low.Y, None
    # a diagonal batch (truncation) needs the leading r singular vectors only
    leading = leading_factor_svd(R, S) if isinstance(sys, DiagonalLTI) and not steps.match_dc else None
    if leading is None:
        U, s, Vh = factor_svd(R, S)
    else:
        s, U, Vh = leading.s, None, None
    hsv = pad_hsv(s, sys.n) if steps.low is None else s
    return [_truncate(sys, (R, S, schur), (U, hsv, Vh), leading, order, steps) for order in orders]


def _truncate(sys, factors, svd, leading, order, steps: _Steps) -> BalancedTruncationResult:
    """The reduced model of one order from the Gramian factors and their SVD."""
    (R, S, schur), (U, hsv, Vh), method, low = factors, svd, steps.method, steps.low
    nonzero = (hsv > steps.rank_tol * hsv[..., :1]) & (hsv > 0)  # numerically non-zero HSVs
    tol = steps.tol if steps.tol is None or steps.band_scale is None else steps.tol / steps.band_scale
    r = _choose_order(hsv, nonzero, order, tol, steps.rank_tol)  # modified band: bound 2 ||K|| ||L|| tail
    if leading is not None:  # bfsr orthonormalises S U_r: only the span of U_r matters
        U, Vh = leading.leading(r, left="span" if method == "bfsr" else "vectors")
    valid = nonzero[..., :r]  # False: padding of a member whose rank is below r
    V, W = _projections(R, S, U, Vh, hsv[..., :r], valid, method)
    if steps.match_dc:
        reduced, V, W = _singular_perturbation(sys, R, S, U, Vh, hsv, nonzero, V, W, method)
    elif isinstance(sys, LTI):
        Wh = conj_transpose(W)
        reduced = LTI.from_checked(Wh @ sys.A @ V, Wh @ sys.B, sys.C @ V, sys.D, sys.dt)
    elif isinstance(sys, SparseLTI):
        reduced = project_sparse(sys, V, W)
    else:
        reduced, V, W = _reduce_diagonal(sys, V, W, ~valid)
    bound = floor = None
    if steps.horizon is None:
        _warn_unstable(reduced, steps.band)
    if steps.band is not None and steps.band_scale is not None:  # modified frequency-limited BT
        bound = 2 * steps.band_scale * float(hsv[r:].sum())
    if steps.horizon is None and steps.band is None:
        bound = truncation_bound(hsv, r)
        floor = None if low is not None else _rounding(sys, schur, bound, hsv)
        bound = floor if isinstance(floor, _PENDING) else float(bound) if bound.ndim == 0 else bound
    cert = None if low is None else certify(low, hsv, r, steps.hsv_rtol, bound)
    return BalancedTruncationResult(
        reduced, hsv, bound, r, V, W, method, ~valid, route=steps.route, certificate=cert, rounding=floor,
        match_dc=steps.match_dc, frequency_band=steps.band,
    )  # fmt: skip


def _check_arguments(n: int, order: Any, tol: Any, method: Any, rank_tol: Any) -> tuple:
    """Validated ``(order, tol, rank_tol)``; ``method`` must be ``"sr"`` or ``"bfsr"``."""
    check_choice(method, "method", ("sr", "bfsr"))
    rank_tol = check_real(rank_tol, "rank_tol", minimum=0.0, maximum=1.0, include_max=False)
    if order is not None and tol is not None:
        raise ArgumentConflictError("give either order or tol, not both")
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
        r = order_for_tolerance(hsv, tol)
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


def _projections(R, S, U, Vh, hsv_r, valid, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``V, W`` with ``W^H V = I`` from the SVD ``S^H R = U diag(hsv) V^H``, truncated to ``r``.

    ``"sr"``: ``V = R V_r hsv_r^(-1/2)``, ``W = S U_r hsv_r^(-1/2)`` (a balanced realisation).
    ``"bfsr"``: orthonormal bases of ``R V_r`` and ``S U_r``, then ``W <- W (W^H V)^(-H)``.
    Columns of padded modes (``valid`` False) are zero (an identity block in ``W^H V``).
    """
    r = valid.shape[-1]
    Ur = U[..., :, :r]
    Vr = conj_transpose(Vh)[..., :, :r]
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
        return V, W @ conj_transpose(np.linalg.inv(conj_transpose(W) @ V))
    V = np.where(vmask, np.linalg.qr(np.where(vmask, R @ Vr, 0))[0], 0)
    W = np.where(vmask, np.linalg.qr(np.where(vmask, S @ Ur, 0))[0], 0)
    both = valid[..., :, None] & valid[..., None, :]
    E = np.where(both, conj_transpose(W) @ V, np.eye(r))
    return V, W @ conj_transpose(np.linalg.inv(E))


def _singular_perturbation(sys, R, S, U, Vh, hsv, nonzero, V1, W1, method: str):
    """Balanced singular perturbation: ``(reduced, V1, W1)`` (see :func:`mor.reduction.spa.residualize`).

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
    Wh = conj_transpose(W)
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
    return reduced, V1 @ X, W1 @ conj_transpose(np.linalg.inv(X)) if r else W1


def _reduce_diagonal(sys: DiagonalLTI, V: np.ndarray, W: np.ndarray, padded: np.ndarray):
    """Project a diagonal batch and re-diagonalise: ``(reduced DiagonalLTI, V, W)``.

    ``A_r = W^H diag(poles) V`` (padded modes get a distinct original pole), then
    ``A_r = X diag(lambda_r) X^-1`` with ``X`` folded into ``B_r``, ``C_r``, ``V`` and ``W``.
    Discrete systems get ``log_poles = log(lambda_r)`` (``-inf`` for a pole at zero).
    """
    Wh = conj_transpose(W)
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
        W = W @ conj_transpose(np.linalg.inv(X))
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


def _rounding(sys: LTI | DiagonalLTI, schur, bound: np.ndarray, hsv: np.ndarray) -> Any:
    """The rounding floor of ``G`` (:func:`mor.analysis._frequency.rounding_floor`), with an
    :class:`AccuracyWarning` where it may invalidate the error bound (:func:`_floor_warning`).

    A dense ``G`` (:class:`LTI`) gets a :class:`_PendingFloor` (up to ``DEFER_MAX_ORDER`` states) or
    a :class:`_PendingWarning`: the floor (or only its warning) comes at the first read of
    ``error_bound`` or ``rounding`` of the result.
    """
    if sys.n == 0:
        return 0.0 if bound.ndim == 0 else np.zeros(bound.shape)
    if isinstance(sys, LTI):
        pending = _PendingFloor(sys, schur, float(bound), float(hsv[0]))
        return pending if sys.n <= DEFER_MAX_ORDER else _PendingWarning(pending.bound, *pending.settle())
    floor = rounding_floor(sys, schur).reshape(bound.shape)
    warning = _floor_warning(sys, schur, floor, bound, hsv[..., 0])
    if warning is not None:
        warnings.warn(warning, stacklevel=_USER)
    return float(floor) if floor.ndim == 0 else floor


def _floor_warning(sys: LTI | DiagonalLTI, schur, floor: Any, bound: Any, sigma_1: Any) -> AccuracyWarning | None:
    """The :class:`AccuracyWarning` for a rounding floor that may invalidate the error bound, or ``None``.

    Warned: ``floor > BOUND_SHARE * bound`` and ``floor > FLOOR_RTOL * (sigma_1 + ||D||)`` (a bound far
    below the accuracy of ``G`` itself, of size ``sigma_1 + ||D|| >= ||G - D||_inf``; the second
    condition keeps rounding-level bounds, such as ``order = n``, quiet).
    """
    floor, bound = np.asarray(floor), np.asarray(bound)
    size = np.asarray(sigma_1 + fro_norm(sys.D))
    bad = _may_warn(floor, bound, size)
    if not np.any(bad):
        return None
    worst = np.argmax(np.where(bad, floor / np.maximum(bound, np.finfo(float).tiny), -np.inf))
    f, b, s1 = (float(np.ravel(x)[worst]) for x in (floor, bound, size))
    where = f"{int(bad.sum())} of {bad.size} systems; worst: " if bad.ndim else ""
    share = f / max(s1, 1e-300)
    return AccuracyWarning(
        f"balanced_truncation: the error bound may not hold ({where}the bound is {b:.3g}, but the rounding "
        f"errors of the transfer function itself are estimated at up to {f:.3g}, which is {share:.2g} times "
        "sigma_1 + ||D||). "
        f"{_conditioning(sys, schur)} No floating-point method reduces such a system to the bound's "
        "accuracy; ||G - G_r|| <= error_bound + rounding (BalancedTruncationResult.rounding)"
    )


def _may_warn(floor: Any, bound: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Where a rounding floor makes :func:`_rounding` warn (``size > 0``: for ``G = 0`` nothing is lost)."""
    return (floor > BOUND_SHARE * bound) & (floor > FLOOR_RTOL * size) & (size > 0)


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


def _warn_unstable(reduced: LTI | DiagonalLTI, band: tuple | None = None) -> None:
    """``RankWarning`` when a reduced pole left the stability region (the same test as
    :func:`mor.check_stable`)."""
    bad = unstable_mask(reduced)
    if np.any(bad):
        why = (
            "the truncation went below the accuracy of the Hankel singular values; lower the order or raise rank_tol"
            if band is None
            else "frequency-limited balanced truncation (variant 'plain') does not preserve stability; "
            "frequency_variant='modified' does"
        )
        warnings.warn(RankWarning(f"{int(bad.sum())} reduced pole(s) lie outside the stability region: {why}"),
                      stacklevel=_USER)  # fmt: skip
