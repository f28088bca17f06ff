"""Eliminate chosen states of a realisation: truncation or residualisation (python-control's ``modred``).

With ``x_1`` the kept states (in their original order) and ``x_2`` the eliminated ones::

    "truncate":  A_r = A11,   B_r = B1,   C_r = C1,   D_r = D
    "matchdc":   the singular perturbation of :func:`mor.reduction.spa.residualize` (x_2 at its steady
                 state; discrete time x_2[k+1] = x_2[k]), which keeps the DC gain G(0)
                 (discrete G(1)) exactly

No balancing is involved: the result depends on the coordinates of the given realisation, and
no error bound holds in general (for one, apply it to a balanced realisation, which is what
:func:`mor.balanced_truncation` does).  A :class:`~mor.DiagonalLTI` (batched too) stays diagonal:
its eliminated modes are decoupled, so residualising them only adds their DC gains to ``D``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .._guard import guarded
from ..errors import ArgumentTypeError, InvalidArgumentError, NumericalError, SystemTypeError
from ..linalg._expm1 import complex_expm1
from ..systems.convert import as_system
from ..systems.lti import LTI, DiagonalLTI
from ..validation import check_choice
from .spa import residualize

__all__ = ["modal_dc_gain", "modred"]


@guarded("modred")
def modred(sys: Any, elim: Any, method: str = "matchdc") -> LTI | DiagonalLTI:
    """Remove the states ``elim`` of a realisation by truncation or by matching the DC gain.

    Parameters
    ----------
    sys : LTI, DiagonalLTI or convertible
        The system; any stability (the formulas need only ``A22 - zeta I`` non-singular).
    elim : int or sequence of int
        Indices ``0 <= i < n`` of the states to eliminate (as python-control's ``modred``);
        duplicates are refused, the order does not matter.
    method : {"matchdc", "truncate"}
        Residualise the eliminated states (``"matchdc"``, python-control's default) or drop them.

    Returns
    -------
    LTI or DiagonalLTI
        ``n - len(elim)`` states, the kept ones in their original order.  ``"matchdc"`` changes
        ``D`` (``D_r = D - C2 (A22 - zeta I)^-1 B2``).

    Raises
    ------
    ArgumentTypeError
        ``elim`` not integers.
    InvalidArgumentError
        An index out of range or repeated.
    MethodError
        Unknown ``method``.
    NumericalError
        ``"matchdc"`` with a singular ``A22 - zeta I`` (an eliminated state has a pole at DC).
    SystemTypeError
        A descriptor system with singular ``E`` (its algebraic states would be eliminated first, and
        the indices would then name other states).

    Warns
    -----
    AccuracyWarning
        ``"matchdc"`` with a nearly singular ``A22 - zeta I`` (see :func:`mor.reduction.spa.residualize`).

    Examples
    --------
    >>> import numpy as np
    >>> from mor import LTI, modred, transfer_function
    >>> sys = LTI([[-1.0, 0.5], [0.2, -10.0]], [[1.0], [1.0]], [[1.0, 2.0]])
    >>> red = modred(sys, [1])                     # method="matchdc"
    >>> red.n, bool(np.isclose(transfer_function(red, 0.0), transfer_function(sys, 0.0)))
    (1, True)
    """
    given = as_system(sys, descriptor=True)
    sys = as_system(sys)
    if sys.n != given.n:
        raise SystemTypeError(
            f"modred of a descriptor system with singular E: its {given.n - sys.n} algebraic states are "
            "eliminated first, so state indices would not name the states given; eliminate them with "
            "mor.eliminate_algebraic and index the states of that system"
        )
    check_choice(method, "method", ("matchdc", "truncate"))
    elim = _indices(elim, sys.n)
    keep = np.setdiff1d(np.arange(sys.n), elim)
    if isinstance(sys, DiagonalLTI):
        return _diagonal(sys, keep, elim, method)
    perm = np.concatenate([keep, elim])
    A, B, C = sys.A[np.ix_(perm, perm)], sys.B[perm], sys.C[:, perm]
    r = keep.size
    if method == "truncate":
        return LTI(A[:r, :r], B[:r], C[:, :r], sys.D, sys.dt)
    return LTI(*residualize(A, B, C, sys.D, r, discrete=sys.dt is not None, stacklevel=4), sys.dt)


def _indices(elim: Any, n: int) -> np.ndarray:
    """``elim`` as a sorted integer array, every index in ``[0, n)`` and none repeated."""
    items = [elim] if isinstance(elim, numbers.Integral) else list(np.ravel(np.asarray(elim, dtype=object)))
    if any(isinstance(i, bool) or not isinstance(i, numbers.Integral) for i in items):
        raise ArgumentTypeError(f"elim must be state indices (integers), got {elim!r}")
    idx = np.array([int(i) for i in items], dtype=int)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise InvalidArgumentError(f"elim holds state indices outside [0, {n}): {sorted(set(idx.tolist()))}")
    if np.unique(idx).size != idx.size:
        raise InvalidArgumentError(f"elim repeats state indices: {idx.tolist()}")
    return np.sort(idx)


def _diagonal(sys: DiagonalLTI, keep: np.ndarray, elim: np.ndarray, method: str) -> DiagonalLTI:
    """Drop modes; ``"matchdc"`` adds their DC gains ``C_i B_i / (zeta - lambda_i)`` to ``D``."""
    D = sys.D
    if method == "matchdc" and elim.size:
        D = D + modal_dc_gain(sys, elim)
    log_poles = sys.log_poles[..., keep] if sys.dt is not None else None
    if log_poles is not None:
        return DiagonalLTI.from_log_poles(log_poles, sys.B[..., keep, :], sys.C[..., :, keep], D, sys.dt)
    return DiagonalLTI(sys.poles[..., keep], sys.B[..., keep, :], sys.C[..., :, keep], D, sys.dt)


@guarded("modal_dc_gain")
def modal_dc_gain(sys: DiagonalLTI, modes: Any = None) -> np.ndarray:
    """The DC gain of chosen modes of a diagonal system, without its feedthrough.

    ``sum_{i in modes} C[:, i] B[i, :] / (zeta - lambda_i)`` with ``zeta = 0`` (continuous time) or
    ``zeta = 1`` (discrete time, where ``1 - lambda_i = -expm1(log lambda_i)`` is formed without
    cancellation for poles near 1): the steady-state contribution of those modes, which is what
    residualising them adds to ``D`` (:func:`modred` with ``"matchdc"``).

    Parameters
    ----------
    sys : DiagonalLTI
        Poles ``(..., n)``, ``B (..., n, m)``, ``C (..., p, n)``; any batch shape.
    modes : int or sequence of int, optional
        Mode indices ``0 <= i < n`` (no repeats); all modes when omitted.

    Returns
    -------
    (..., p, m) complex ndarray
        The modes' DC gain, per batch member.

    Raises
    ------
    SystemTypeError
        ``sys`` is not a :class:`~mor.DiagonalLTI`.
    ArgumentTypeError, InvalidArgumentError
        ``modes`` not integers, out of range or repeated.
    NumericalError
        A chosen mode sits at DC (``lambda = 0``; discrete ``lambda = 1``).

    Examples
    --------
    >>> import numpy as np
    >>> from mor import DiagonalLTI, modal_dc_gain
    >>> sys = DiagonalLTI([-1.0, -4.0], [[1.0], [2.0]], [[1.0, 1.0]])
    >>> modal_dc_gain(sys).real                    # 1/1 + 2/4
    array([[1.5]])
    """
    if not isinstance(sys, DiagonalLTI):
        raise SystemTypeError(f"modal_dc_gain needs a DiagonalLTI, got {type(sys).__name__}")
    idx = np.arange(sys.n) if modes is None else _indices(modes, sys.n)
    gap = -sys.poles[..., idx] if sys.dt is None else -complex_expm1(sys.log_poles[..., idx])  # zeta - lambda
    if np.any(gap == 0):
        raise NumericalError("a chosen mode has a pole at DC (lambda = 0, discrete lambda = 1): infinite DC gain")
    return (sys.C[..., :, idx] / gap[..., None, :]) @ sys.B[..., idx, :]
