"""Low-rank square-root balanced truncation: the route choice and the certificate of its results.

:func:`mor.balanced_truncation` reduces a large sparse system through low-rank Gramian factors
``P ~= Z Z^H``, ``Q ~= Y Y^H`` (:func:`mor.low_rank_gramians`) with the same square-root
projection as the dense route (``W^H V = I``: a plain ``(A_r, B_r, C_r, D)`` model, no descriptor
matrix).  The Hankel singular values are those of ``Y^H Z``; how far they can be trusted follows
from the certified Gramian errors ``||P - Z Z^H|| <= d_P``, ``||Q - Y Y^H|| <= d_Q``
(:class:`mor.LowRankGramians`):

* Weyl's inequality on ``sigma_i^2 = lambda_i(Q^(1/2) P Q^(1/2))``, perturbing ``P`` then ``Q``,
  gives ``|sigma_i^2 - sigma~_i^2| <= eta = d_P (||Q~|| + d_Q) + d_Q ||P~||`` for every ``i``
  (``sigma~_i = 0`` beyond the factor rank), so every true value lies in
  ``[sqrt(sigma~_i^2 - eta), sqrt(sigma~_i^2 + eta)]``, widened by the rounding of the SVD of
  ``Y^H Z`` (``e = 4 sqrt(n k) eps ||Y|| ||Z||``, a probabilistic rounding model);
* the leading values whose interval lies within ``hsv_rtol`` (relative) are *certified*;
* the truncation bound ``2 sum_{i > r} sigma~_i`` is that of the approximate Gramians; it is
  *meaningful* when the first truncated value is resolved, ``sqrt(eta) + e <= sigma~_{r+1}``
  (else an :class:`~mor.errors.AccuracyWarning`), and ``error_bound_upper`` replaces every
  truncated ``sigma~_i`` by its upper end.  True values beyond the factor rank are at most
  ``unresolved_hsv = sqrt(eta) + e`` each.

Route choice (``route=None``): dense and diagonal systems take the dense route; a
:class:`mor.SparseLTI` with ``n < LOW_RANK_MIN_ORDER`` is densified; a larger one takes the
low-rank route, and if its iteration does not converge (slowly decaying Hankel singular values)
and ``n <= DENSIFY_LIMIT`` it falls back to the dense route (logged, and ``route`` says so).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla

from .._display import compact_repr
from ..errors import AccuracyWarning, ArgumentConflictError, ConvergenceError, InvalidArgumentError, MethodError
from ..gramians.hankel import order_for_tolerance, truncation_bound
from ..gramians.lowrank import ADISolver, LowRankGramians, adi_system, check_options
from ..systems import lti as systems
from ..systems.convert import as_system
from ..systems.lti import LTI
from ..systems.sparse import SparseLTI
from ..validation import check_choice, check_real

__all__ = [
    "LOW_RANK_MIN_ORDER",
    "LowRankCertificate",
    "RoutePlan",
    "certify",
    "choose_route",
    "project_sparse",
    "route_gramians",
]

logger = logging.getLogger(__name__)

#: Sparse systems with at least this many states take the low-rank route by default.
LOW_RANK_MIN_ORDER = 1000
#: Relative accuracy to which Hankel singular values are certified by default.
HSV_RTOL = 1e-3
#: Residual tolerances of the low-rank route without ``low_rank["tol"]``: the first, then the
#: refinements while the certificate does not resolve the truncation (see :func:`route_gramians`).
REFINE_TOLS = (1e-10, 1e-12, 1e-14)
#: No refinement is tried when the residual it would need is below this (double precision floor).
RESIDUAL_FLOOR = 1e-15

_EPS = np.finfo(float).eps
_ROUTES = (None, "dense", "low-rank")


@dataclass(frozen=True)
class LowRankCertificate:
    """What the Gramian residuals of the low-rank route guarantee (see the module notes).

    Attributes
    ----------
    gramians : LowRankGramians
        The factors, their certified residuals, the residual histories, the shifts.
    hsv_lower, hsv_upper : (k,) ndarray or None
        Certified enclosures of the first ``k`` true Hankel singular values; ``None`` when the
        Gramian errors are not certified (``gramians.note`` says why).
    certified : int
        Number of leading Hankel singular values known to relative accuracy ``rtol``
        (``0`` when not certified).
    rtol : float
        The relative accuracy of ``certified``.
    unresolved_hsv : float or None
        Upper bound of every true Hankel singular value beyond the ``k`` computed ones.
    error_bound_upper : float or None
        ``2 sum_{i > r} hsv_upper[i]``: the truncation bound with every computed truncated value
        replaced by its certified upper end.
    meaningful : bool or None
        Whether the first truncated value is resolved by the residuals
        (``unresolved_hsv <= hsv[order]``); ``None`` when not certified.
    note : str
        A one-line summary.
    """

    __repr__ = compact_repr  # fits a screen: arrays by shape (mor._display)

    gramians: LowRankGramians
    hsv_lower: np.ndarray | None
    hsv_upper: np.ndarray | None
    certified: int
    rtol: float
    unresolved_hsv: float | None
    error_bound_upper: float | None
    meaningful: bool | None
    note: str


def _dense(sys: Any) -> Any:
    """The dense system of the dense route (a descriptor system in its standard form)."""
    return as_system(sys.to_dense()) if isinstance(sys, SparseLTI) else sys


def _options(low_rank: Any) -> tuple[dict, float]:
    """Keyword arguments for :func:`mor.low_rank_gramians` and the certification ``hsv_rtol``."""
    if low_rank is None:
        return {}, HSV_RTOL
    if not isinstance(low_rank, dict):
        raise InvalidArgumentError(f"low_rank must be a dict of options or None, got {type(low_rank).__name__}")
    options = dict(low_rank)
    allowed = ("tol", "max_steps", "max_rank", "certify", "hsv_rtol")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise MethodError(f"unknown low_rank option(s) {unknown}; valid: {', '.join(allowed)}")
    rtol = check_real(options.pop("hsv_rtol", HSV_RTOL), "low_rank['hsv_rtol']", minimum=0.0, maximum=1.0,
                      include_min=False, include_max=False)
    return options, rtol


@dataclass(frozen=True)
class RoutePlan:
    """The route :func:`mor.balanced_truncation` takes, as :func:`choose_route` decided it.

    Attributes
    ----------
    route : {"dense", "low-rank"}
        The route chosen.
    requested : {None, "dense", "low-rank"}
        The route asked for (``None``: automatic; only then may the low-rank route fall back to
        the dense one).
    options : dict
        Options of :func:`mor.low_rank_gramians` (``tol``, ``max_steps``, ``max_rank``,
        ``certify``) as given.
    hsv_rtol : float
        Relative accuracy of the certified Hankel singular values.
    """

    route: str
    requested: str | None
    options: dict
    hsv_rtol: float


def choose_route(sys: Any, route: Any, low_rank: Any, horizon: Any, gramian_method: Any) -> RoutePlan:
    """The route of :func:`mor.balanced_truncation`: dense, or low-rank Gramians of a large sparse system.

    Only decides (and checks the options of the route chosen); :func:`route_gramians` computes.

    Parameters
    ----------
    sys : LTI, DiagonalLTI or SparseLTI
        The system (from ``as_system(..., keep_sparse=True)``).
    route : {None, "dense", "low-rank"}
        The requested route; ``None``: low-rank for a :class:`~mor.SparseLTI` of order
        ``>= LOW_RANK_MIN_ORDER``, dense otherwise.
    low_rank : dict or None
        Options of :func:`mor.low_rank_gramians`, and ``hsv_rtol``.
    horizon, gramian_method : object
        The dense-only options of :func:`mor.balanced_truncation` (refused on the low-rank route).

    Returns
    -------
    RoutePlan
    """
    check_choice(route, "route", _ROUTES)
    options, rtol = _options(low_rank)
    automatic_low_rank = route is None and isinstance(sys, SparseLTI) and sys.n >= LOW_RANK_MIN_ORDER
    if route != "low-rank" and not automatic_low_rank:
        return RoutePlan("dense", route, options, rtol)
    if horizon is not None or gramian_method is not None:
        raise ArgumentConflictError(
            "horizon and gramian_method belong to the dense route; the low-rank route takes neither"
        )
    return RoutePlan("low-rank", route, options, rtol)


def route_gramians(plan: RoutePlan, sys: Any, order: int | None, tol: float | None) -> tuple[str, Any, Any]:
    """``(route taken, system, low-rank Gramians or None)`` on the route of ``plan``.

    Parameters
    ----------
    plan : RoutePlan
        From :func:`choose_route`.
    sys : LTI, DiagonalLTI or SparseLTI
        The system.
    order, tol : int or float or None
        The requested order or bound tolerance of :func:`mor.balanced_truncation` (validated):
        the target of the certificate's refinement.

    Returns
    -------
    route : str
        ``"dense"``, ``"low-rank"`` or ``"dense (low-rank did not converge)"``.
    system : LTI, DiagonalLTI or SparseLTI
        Dense for the dense routes.
    gramians : LowRankGramians or None
        The low-rank factors (low-rank route only).

    Raises
    ------
    ConvergenceError
        The low-rank iteration did not converge and the route was asked for (or the system is
        above ``DENSIFY_LIMIT``); otherwise the dense route is taken instead.

    Notes
    -----
    Without an explicit ``low_rank["tol"]``, the low-rank route iterates to ``1e-10`` and then,
    while the certificate does not resolve the first truncated Hankel singular value, continues
    the same iteration (on the factorisations it already has: solves only) to ``1e-12`` and
    ``1e-14``, stopping early at the rounding floor of the residual, and not trying at all when the
    residual needed (the uncertainty scales like its square root) is below ``RESIDUAL_FLOOR``.
    """
    if plan.route == "dense":
        return "dense", _dense(sys), None
    options = plan.options
    sparse = adi_system(sys)
    tol_r, max_steps, max_rank, certify_, _ = check_options(
        sparse, options.get("tol", REFINE_TOLS[0]), options.get("max_steps", 500), options.get("max_rank"),
        options.get("certify", True), False,
    )  # fmt: skip
    solver = ADISolver(sparse, max_steps, max_rank)
    try:
        solver.run(tol_r)
    except ConvergenceError as exc:
        if plan.requested is not None or sys.n > systems.DENSIFY_LIMIT:
            raise
        logger.info("low-rank route did not converge (%s); falling back to the dense route", exc)
        return "dense (low-rank did not converge)", _dense(sys), None
    g = solver.result(tol_r, certify=certify_, compress=False)
    if "tol" not in options and certify_:  # adaptive: refine while the certificate does not resolve
        g = _refine(solver, g, order, tol)
    if sparse.E is not None:  # the projection works on the standard form: its observability factor is E^H Y
        g = dataclasses.replace(g, Y=sparse.E.conj().T @ g.Y)
    return "low-rank", sys, g


def _refine(solver: ADISolver, g: LowRankGramians, order: int | None, tol: float | None) -> LowRankGramians:
    """Continue the iteration while the certificate does not resolve the first truncated value."""
    for tighter in REFINE_TOLS[1:]:
        hsv = np.linalg.svd(g.Y.conj().T @ g.Z, compute_uv=False)
        r = _target_order(hsv, order, tol)
        if g.gramian_errors is None or r is None or r >= len(hsv):
            return g
        uncertainty = _uncertainty(g, len(hsv))
        if uncertainty <= hsv[r]:
            return g
        # the uncertainty scales like sqrt(residual): give up when the residual this needs is out of reach
        if max(g.residuals) * (hsv[r] / uncertainty) ** 2 < RESIDUAL_FLOOR:
            return g
        try:
            solver.run(tighter)
        except ConvergenceError:
            return g
        with warnings.catch_warnings():  # the rounding floor may stop short of `tighter`: judged below
            warnings.simplefilter("ignore", AccuracyWarning)
            refined = solver.result(tighter, compress=False)
        logger.info("low-rank route: residual tolerance %.0e for the certificate (residuals %.1e, %.1e)",
                    tighter, *refined.residuals)
        if max(refined.residuals) > 0.5 * max(g.residuals):  # rounding floor reached
            return refined
        g = refined
    return g


def _target_order(hsv: np.ndarray, order: int | None, tol: float | None) -> int | None:
    """``order``, or :func:`mor.order_for_tolerance` for ``tol`` (``None``: the numerical rank, no target)."""
    if order is not None:
        return order
    return None if tol is None else order_for_tolerance(hsv, tol)


def _uncertainty(g: LowRankGramians, k: int) -> float:
    """``sqrt(eta) + e``: the certified uncertainty of every Hankel singular value (module notes)."""
    (dP, dQ), (nP, nQ) = g.gramian_errors, g.norms
    eta = dP * (nQ + dQ) + dQ * nP
    return float(np.sqrt(eta) + _svd_rounding(g, k))


def _svd_rounding(g: LowRankGramians, k: int) -> float:
    return float(4 * np.sqrt(g.Z.shape[0] * max(k, 1)) * _EPS * np.sqrt(g.norms[0] * g.norms[1]))


def certify(g: LowRankGramians, hsv: np.ndarray, order: int, rtol: float, bound: float) -> LowRankCertificate:
    """The certificate of a low-rank truncation to ``order`` (see the module notes).

    Parameters
    ----------
    g : LowRankGramians
        The factors and their certified errors.
    hsv : (k,) ndarray
        The singular values of ``Y^H Z``, decreasing.
    order : int
        The reduced order.
    rtol : float
        Relative accuracy for the count of certified values.
    bound : float
        The truncation bound ``2 sum(hsv[order:])``.

    Returns
    -------
    LowRankCertificate
    """
    if g.gramian_errors is None:
        note = f"Hankel singular values not certified ({g.note}); residuals {g.residuals[0]:.2e}, {g.residuals[1]:.2e}"
        return LowRankCertificate(g, None, None, 0, rtol, None, None, None, note)
    (dP, dQ), (nP, nQ) = g.gramian_errors, g.norms
    k = len(hsv)
    eta = dP * (nQ + dQ) + dQ * nP
    e = _svd_rounding(g, k)
    lower = np.sqrt(np.maximum(np.maximum(hsv - e, 0.0) ** 2 - eta, 0.0))
    upper = np.sqrt((hsv + e) ** 2 + eta)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.where(hsv > 0, np.maximum(upper / hsv - 1, 1 - lower / hsv), np.inf)
    certified = int(np.argmin(spread <= rtol)) if not np.all(spread <= rtol) else k
    unresolved = float(np.sqrt(eta) + e)
    first_cut = float(hsv[order]) if order < k else 0.0
    meaningful = unresolved <= first_cut
    upper_bound = float(truncation_bound(upper, order))
    note = (
        f"{certified} leading Hankel singular values certified to {rtol:g} relative; values beyond the {k} "
        f"computed are <= {unresolved:.2e}; bound {bound:.3e} (at most {upper_bound:.3e} from the residuals)"
    )
    if not meaningful:
        warnings.warn(
            AccuracyWarning(
                f"the Gramian residuals ({g.residuals[0]:.1e}, {g.residuals[1]:.1e}) make the truncation bound "
                f"{bound:.3e} meaningless: the first truncated Hankel singular value {first_cut:.3e} is below their "
                f"uncertainty {unresolved:.3e}; lower low_rank['tol'] or the order"
            ),
            stacklevel=4,
        )
    return LowRankCertificate(g, lower, upper, certified, rtol, unresolved, upper_bound, meaningful, note)


def project_sparse(sys: SparseLTI, V: np.ndarray, W: np.ndarray) -> LTI:
    """``(W^H A V, W^H B, C V, D)`` of a sparse system: a plain dense state-space model.

    Parameters
    ----------
    sys : SparseLTI
        The system.
    V, W : (n, r) ndarray
        Projection matrices with ``W^H V = I``.

    Returns
    -------
    LTI
        Without a descriptor matrix: for a descriptor system ``V``, ``W`` are those of its
        standard form (``W^H V = I``, ``A_r = W^H E^-1 A V``, ``B_r = W^H E^-1 B``), computed as
        ``A_r = W_E^H A V`` with ``W_E = E^-H W`` (one sparse LU of ``E``).
    """
    if sys.E is not None:
        lu = spla.splu(sps.csc_matrix(sys.E))
        W = lu.solve(np.ascontiguousarray(W, dtype=np.result_type(W, sys.E.dtype)), trans="H")
    Wh = W.conj().T
    return LTI(Wh @ (sys.A @ V), Wh @ sys.B, sys.C @ V, sys.D, sys.dt)
