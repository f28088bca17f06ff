"""Controllability and observability Gramians (infinite and finite horizon).

Equations solved (``^H`` is the conjugate transpose)::

    continuous:  A P + P A^H + B B^H = 0          A^H Q + Q A + C^H C = 0
    discrete:    A P A^H - P + B B^H = 0          A^H Q A - Q + C^H C = 0
    finite horizon L (discrete):  P_L = sum_{k<L} A^k B B^H (A^H)^k,
                                  Q_L = sum_{k<L} (A^H)^k C^H C A^k

Descriptor systems (``E x' = A x + B u``, :mod:`mor.systems.descriptor`) get the generalised Gramians::

    continuous:  A P E^H + E P A^H + B B^H = 0          A^H Q E + E^H Q A + C^H C = 0
    discrete:    A P A^H - E P E^H + B B^H = 0          A^H Q A - E^H Q E + C^H C = 0

from the generalised Schur form and a generalised Hammarling factor (infinite horizon only).

Dense systems use a Bartels-Stewart solver (:func:`mor.linalg.lyapunov.solve_lyapunov`);
diagonal systems use the closed forms of their Cauchy-like Gramians and, for
factors, a pivoted Cholesky factorisation computed from the generators
(:func:`mor.linalg.cauchy.cauchy_cholesky`), accurate to small relative error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.linalg.blas import ztrmm

from .._guard import guarded
from ..errors import ArgumentConflictError, NumericalError, SystemTypeError, UnstableSystemError
from ..linalg._arrays import r_factor, reverse
from ..linalg._expm1 import complex_expm1
from ..linalg.cauchy import cauchy_cholesky, cauchy_cholesky_pair
from ..linalg.hammarling import triangular_lyapunov_factor
from ..linalg.lyapunov import solve_lyapunov, sylvester_lyapunov_factor
from ..linalg.schur import SchurForm, complex_schur
from ..systems.convert import as_system
from ..systems.descriptor import eliminate_algebraic
from ..systems.lti import LTI, DiagonalLTI
from ..systems.stability import check_stable
from ..validation import check_choice, check_int
from .descriptor import descriptor_gramian_factors

__all__ = ["controllability_gramian", "gramians", "observability_gramian"]

_DENSE_METHODS = (None, "recursive", "scipy", "slycot")
#: Appended to the UnstableSystemError of the infinite-horizon Gramians (issue 22).
UNSTABLE_HINT = (
    "for an unstable or marginally stable system, mor.balanced_truncation(sys, order) keeps the unstable part "
    "exactly and reduces the stable part (its hsv are inf for the unstable states, MATLAB's hsvd convention), "
    "and mor.stable_split(sys).stable is the stable part, whose Gramians and Hankel singular values exist"
)
_DIAG_METHODS = (None, "cauchy", "dense")


def _check_horizon(sys: LTI | DiagonalLTI, horizon: Any) -> int | None:
    if horizon is None:
        return None
    if sys.dt is None:
        raise SystemTypeError("horizon (finite Gramians) is defined for discrete-time systems only")
    return check_int(horizon, "horizon (number of terms of the finite Gramian)")


def _check_method(sys: LTI | DiagonalLTI, method: Any) -> None:
    if isinstance(sys, DiagonalLTI):
        check_choice(method, "method for diagonal systems", _DIAG_METHODS)
    else:
        check_choice(method, "method for dense systems", _DENSE_METHODS)


@guarded("controllability_gramian")
def controllability_gramian(
    sys: Any, *, factor: bool = False, method: str | None = None, horizon: int | None = None
) -> np.ndarray:
    """Controllability Gramian ``P`` (or a factor ``R`` with ``P = R R^H``).

    Solves ``A P + P A^H + B B^H = 0`` (continuous), ``A P A^H - P + B B^H = 0``
    (discrete), or sums ``P_L = sum_{k<L} A^k B B^H (A^H)^k`` (``horizon=L``).

    Parameters
    ----------
    sys : LTI, DiagonalLTI or convertible
    factor : bool
        Return a factor ``R`` (``P = R R^H``) instead of ``P``.  Dense systems,
        infinite horizon, default solver: computed directly by Hammarling's
        method on the Schur form, without forming ``P`` (:mod:`mor.linalg.hammarling`;
        small singular values of ``R`` stay accurate to about ``eps ||R||``; real
        systems get a real factor).  Other solvers and finite horizons: from the
        eigendecomposition of ``P`` with rounding-level eigenvalues
        (``<= n eps lambda_max``) set to zero.  Diagonal systems:
        the pivoted Cholesky factor of the Cauchy-like Gramian, accurate to
        small relative error, rows in the original order, columns in pivot
        order.
    method : str, optional
        Dense: ``None``/``"recursive"`` (blocked Bartels-Stewart), ``"scipy"``,
        ``"slycot"``.  Diagonal: ``None``/``"cauchy"`` (closed form), ``"dense"``
        (the dense solver on ``to_dense()``: a reference, unbatched only).
    horizon : int, optional
        Discrete systems: number of terms ``L`` of the finite Gramian (defined
        for unstable systems too).

    Returns
    -------
    P : (..., n, n) ndarray, or R : (..., n, r) ndarray

    Raises
    ------
    UnstableSystemError
        Infinite horizon and a pole outside the stability region.

    Examples
    --------
    >>> import numpy as np
    >>> from mor import LTI, controllability_gramian
    >>> sys = LTI([[-1.0, 1.0], [0.0, -2.0]], [[1.0], [1.0]], [[1.0, 0.0]])
    >>> P = controllability_gramian(sys)
    >>> bool(np.allclose(sys.A @ P + P @ sys.A.T + sys.B @ sys.B.T, 0))
    True
    """
    sys = as_system(sys, descriptor=True)
    if _is_descriptor(sys):
        return _descriptor_gramians(sys, "c", factor, method, horizon)[0]
    return _gramian(sys, "c", factor, method, _check_horizon(sys, horizon))


@guarded("observability_gramian")
def observability_gramian(
    sys: Any, *, factor: bool = False, method: str | None = None, horizon: int | None = None
) -> np.ndarray:
    """Observability Gramian ``Q`` (or a factor ``S`` with ``Q = S S^H``).

    Solves ``A^H Q + Q A + C^H C = 0`` (continuous), ``A^H Q A - Q + C^H C = 0``
    (discrete), or sums ``Q_L = sum_{k<L} (A^H)^k C^H C A^k`` (``horizon=L``).

    Parameters
    ----------
    sys : LTI, DiagonalLTI or convertible
        The system.
    factor : bool
        Return a factor (see :func:`controllability_gramian`) instead of the matrix.
    method : str, optional
        Solver (see :func:`controllability_gramian`).
    horizon : int, optional
        Discrete systems: number of terms of the finite Gramian.

    Returns
    -------
    Q : (..., n, n) ndarray, or S : (..., n, r) ndarray
    """
    sys = as_system(sys, descriptor=True)
    if _is_descriptor(sys):
        return _descriptor_gramians(sys, "o", factor, method, horizon)[1]
    return _gramian(sys, "o", factor, method, _check_horizon(sys, horizon))


@guarded("gramians")
def gramians(
    sys: Any, *, factor: bool = False, method: str | None = None, horizon: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Both Gramians ``(P, Q)`` (or factors ``(R, S)``), sharing one Schur form for dense systems.

    See :func:`controllability_gramian` and :func:`observability_gramian` for the equations.

    Parameters
    ----------
    sys : LTI, DiagonalLTI or convertible
        The system.
    factor : bool
        Return a factor (see :func:`controllability_gramian`) instead of the matrix.
    method : str, optional
        Solver (see :func:`controllability_gramian`).
    horizon : int, optional
        Discrete systems: number of terms of the finite Gramian.

    Returns
    -------
    (P, Q) or (R, S) : tuple of ndarray
    """
    sys = as_system(sys, descriptor=True)
    if _is_descriptor(sys):
        return _descriptor_gramians(sys, "both", factor, method, horizon)
    if factor:
        return factors_and_schur(sys, method=method, horizon=horizon)[:2]
    horizon = _check_horizon(sys, horizon)
    _check_method(sys, method)
    if isinstance(sys, LTI) and horizon is None and method in (None, "recursive") and sys.n:
        schur = _stable_schur(sys)
        return _dense_infinite(sys, "c", method, schur), _dense_infinite(sys, "o", method, schur)
    return _gramian(sys, "c", False, method, horizon), _gramian(sys, "o", False, method, horizon)


def factors_and_schur(sys: LTI | DiagonalLTI, *, method: str | None = None, horizon: int | None = None):
    """Gramian factors ``(R, S)`` and the complex Schur form of ``A`` they were computed from.

    Internal (not exported): :func:`mor.balanced_truncation` reuses the Schur form for its
    rounding estimate.  The Schur form is ``None`` unless ``sys`` is a dense system on the default
    infinite-horizon path.
    """
    horizon = _check_horizon(sys, horizon)
    _check_method(sys, method)
    if isinstance(sys, LTI) and horizon is None and method in (None, "recursive") and sys.n:
        schur = _stable_schur(sys)
        return _dense_factor(sys, "c", schur), _dense_factor(sys, "o", schur), schur
    if isinstance(sys, DiagonalLTI) and horizon is None and method is None:
        check_stable(sys, "the infinite-horizon Gramians", hint=UNSTABLE_HINT)
        return (*_diag_factor_pair(sys), None)
    return _gramian(sys, "c", True, method, horizon), _gramian(sys, "o", True, method, horizon), None


def _diag_factor_pair(sys: DiagonalLTI) -> tuple[np.ndarray, np.ndarray]:
    """Both pivoted Cauchy factors of a (batched) diagonal system in one pass
    (:func:`mor.linalg.cauchy.cauchy_cholesky_pair`: the pairwise factors are shared)."""
    nodes, Gc = _diag_nodes(sys, "c")
    Go = _diag_nodes(sys, "o")[1]
    batch, n = sys.batch_shape, sys.n
    if n == 0:  # nothing to factor (and reshape cannot infer a width from zero entries)
        empty = np.zeros((*batch, 0, 0), dtype=complex)
        return empty, empty.copy()
    size = int(np.prod(batch, dtype=int))
    flat = np.broadcast_to(nodes, (*batch, n)).reshape(size, n)
    Gc = np.broadcast_to(Gc, (*batch, n, Gc.shape[-1])).reshape(size, n, -1)
    Go = np.broadcast_to(Go, (*batch, n, Go.shape[-1])).reshape(size, n, -1)
    R, S = cauchy_cholesky_pair(flat, Gc, Go, discrete=sys.dt is not None)
    return R.reshape(*batch, n, R.shape[-1]), S.reshape(*batch, n, S.shape[-1])


# --------------------------------------------------------------------------- internals
def _is_descriptor(sys: Any) -> bool:
    return isinstance(sys, LTI) and sys.E is not None


def _descriptor_gramians(sys: LTI, which: str, factor: bool, method: Any, horizon: Any) -> tuple:
    """Generalised Gramians (or factors) of a dense descriptor system (:mod:`mor.gramians.descriptor`)."""
    if horizon is not None or method not in (None, "recursive"):
        raise ArgumentConflictError(
            "descriptor systems (E given) have infinite-horizon generalised Gramians by the generalised Schur "
            "method only: horizon= and method= are not available"
        )
    sys = eliminate_algebraic(sys)
    if sys.E is None:  # every algebraic state eliminated and E11 = I
        return tuple(_gramian(sys, w, factor, None, None) if which in ("both", w) else None for w in "co")
    R, S = descriptor_gramian_factors(sys, which)
    if factor:
        return R, S
    return tuple(None if X is None else X @ X.conj().T for X in (R, S))


def _gramian(sys, which: str, factor: bool, method, horizon: int | None) -> np.ndarray:
    _check_method(sys, method)
    schur = None
    if horizon is None:
        if isinstance(sys, LTI) and method in (None, "recursive") and sys.n:
            schur = _stable_schur(sys)
        else:
            check_stable(sys, "the infinite-horizon Gramians", hint=UNSTABLE_HINT)
    if isinstance(sys, DiagonalLTI):
        if method == "dense":
            if sys.batch_shape:
                raise ArgumentConflictError("method='dense' is a reference path for unbatched systems only")
            return _gramian(sys.to_dense(), which, factor, None, horizon)
        return _diag_gramian(sys, which, factor, horizon)
    if sys.n == 0:
        return np.zeros((0, 0), dtype=sys.dtype)
    if horizon is not None:
        X = _dense_finite(sys, which, horizon)
    elif factor and schur is not None:
        return _dense_factor(sys, which, schur)
    else:
        X = _dense_infinite(sys, which, method, schur)
    return psd_factor(X) if factor else X


def _stable_schur(sys: LTI):
    """Complex Schur form of ``A``, after checking stability on its diagonal."""
    schur = complex_schur(sys.A)
    check_stable(sys, "the infinite-horizon Gramians", poles=schur.eigenvalues, hint=UNSTABLE_HINT)
    return schur


def _dense_infinite(sys: LTI, which: str, method, schur) -> np.ndarray:
    if which == "c":
        rhs = sys.B @ sys.B.conj().T
        adjoint = False
    else:
        rhs = sys.C.conj().T @ sys.C
        adjoint = True
    kwargs = {"schur": schur} if schur is not None else {}
    return solve_lyapunov(sys.A, rhs, discrete=sys.dt is not None, adjoint=adjoint, method=method, **kwargs)


def _dense_factor(sys: LTI, which: str, schur) -> np.ndarray:
    """Factor of an infinite-horizon Gramian by Hammarling's method on the shared Schur form.

    ``A = Z T Z^H``.  Controllability: ``P = (Z U)(Z U)^H`` with ``U`` from
    ``T Y + Y T^H + (Z^H B)(Z^H B)^H = 0``.  Observability: ``T^H Y + Y T + (C Z)^H (C Z) = 0``;
    ``J T^H J`` (``J`` the reversal) is upper triangular, so ``J Y J = U U^H`` is solved the same
    way and ``Q = (Z J U)(Z J U)^H``.  Discrete time likewise with the Stein equations.  Columns
    that are exactly zero are dropped; real systems get a real factor (see :func:`_real_factor`).

    Real ``A`` (``Z = Zr G^H``, ``Zr`` the real Schur vectors, ``G`` the 2x2 block rotations):
    ``Z U = Zr (G^H U)``, so the real factor is ``Zr`` times the real factor of ``G^H U``
    (``O(n^2)`` rotations, then real products only, instead of a complex ``Z U``).
    """
    T, Z = schur
    discrete = sys.dt is not None
    if which == "c":
        U = _triangular_factor(T, Z.conj().T @ sys.B, discrete)
    else:
        Ct = sys.C @ Z
        U = _triangular_factor(reverse(T.conj().T), Ct.conj().T[::-1], discrete)[::-1]
    keep = U.any(axis=0)
    kept = U if keep.all() else U[:, keep]
    real = schur.real_basis(kept) if not sys.is_complex and isinstance(schur, SchurForm) else None
    if real is not None:
        Zr, Ut = real  # Z U = Zr (G^H U)
        return Zr @ _real_factor(Ut)
    if which == "c" and U.shape[1] == U.shape[0] and np.all(keep):
        R = ztrmm(1.0, U, Z, side=1)  # Z U, U upper triangular
    else:
        R = Z @ U[:, keep]
    if not sys.is_complex:
        return _real_factor(R)
    if R.shape[1] > R.shape[0]:  # several inputs (the Sylvester form): compact to n columns, R R^H = L L^H
        return r_factor(R.conj().T).conj().T
    return R


#: Continuous time, ``n m`` up to this: Hammarling's factor from one triangular Sylvester equation
#: (:func:`mor.linalg.lyapunov.sylvester_lyapunov_factor`, a few LAPACK calls); above it the
#: recurrence (``n`` Python-level steps, but fewer flops), measured faster from ``n m ~ 80`` on.
SYLVESTER_MAX = 64


def _triangular_factor(T: np.ndarray, B: np.ndarray, discrete: bool) -> np.ndarray:
    """``U`` with ``U U^H`` solving the triangular Lyapunov (Stein) equation of ``T`` and ``B``.

    Small continuous problems take the Sylvester form of Hammarling's recurrence (the same
    factor up to column phases and rounding, tested to agree); the rest, and a Sylvester
    solve that LAPACK finds numerically singular, the recurrence itself.
    """
    if not discrete and T.shape[0] * B.shape[1] <= SYLVESTER_MAX:
        try:
            return sylvester_lyapunov_factor(T, B)
        except UnstableSystemError:  # ztrsyl perturbed a tiny pivot: the recurrence divides as it is
            pass
    return triangular_lyapunov_factor(T, B, discrete=discrete)


def _real_factor(R: np.ndarray) -> np.ndarray:
    """A real factor of the real matrix ``R R^H`` (``R`` complex, ``(n, k)``).

    ``R R^H = (Re R Re R^T + Im R Im R^T) + j (...)``; for a real Gramian the imaginary part is
    rounding, so ``Y = [Re R, Im R]`` has ``Y Y^T = Re(R R^H)``.  When ``2k > n`` the factor is
    compacted to ``n`` columns by a QR factorisation of ``Y^T`` (``Y Y^T = L L^T``, ``L = R_qr^T``).
    """
    Y = np.concatenate([R.real, R.imag], axis=1)
    if Y.shape[1] <= Y.shape[0]:
        return Y
    return r_factor(Y.T).T


def _dense_finite(sys: LTI, which: str, L: int) -> np.ndarray:
    """``sum_{k<L} A^k X0 (A^H)^k`` by doubling: ``O(log L)`` matrix products."""
    A = sys.A if which == "c" else sys.A.conj().T
    X0 = sys.B @ sys.B.conj().T if which == "c" else sys.C.conj().T @ sys.C
    total = np.zeros_like(X0)
    offset = np.eye(sys.n, dtype=A.dtype)  # A^(terms summed so far)
    block, Ak = X0, A  # block = sum_{k<2^j} A^k X0 A^kH, Ak = A^(2^j)
    bits = L
    while bits:
        if bits & 1:
            total = total + offset @ block @ offset.conj().T
            offset = offset @ Ak
        bits >>= 1
        if bits:
            block = block + Ak @ block @ Ak.conj().T
            Ak = Ak @ Ak
    if not np.all(np.isfinite(total)):
        raise NumericalError(
            f"the finite Gramian over horizon {L} overflows (poles far outside the unit circle)"
        )
    return (total + total.conj().T) / 2


def psd_factor(X: np.ndarray) -> np.ndarray:
    """Factor ``R`` with ``X ~= R R^H`` of a Hermitian positive semi-definite ``X``.

    Eigenvalues at rounding level (``<= n eps lambda_max``, negative ones
    included) are set to zero: their eigenvectors are noise, and keeping them
    as ``sqrt(n eps lambda_max)``-sized columns would put spurious values of
    order ``sqrt(eps)`` into the Hankel singular values.  Columns that are zero
    in every batch member are dropped; the rest are ordered by decreasing
    eigenvalue.  Shared with :mod:`mor.gramians.frequency_limited` (internal, not exported).

    Parameters
    ----------
    X : (..., n, n) ndarray
        Hermitian, positive semi-definite up to rounding.

    Returns
    -------
    R : (..., n, k) ndarray
        ``X ~= R R^H``, ``k <= n`` columns.
    """
    w, V = np.linalg.eigh(X)
    w = w[..., ::-1]
    V = V[..., ::-1]
    floor = max(X.shape[-1], 1) * np.finfo(float).eps * np.clip(w[..., :1], 0.0, None)
    w = np.where(w > floor, w, 0.0)
    keep = np.any(w > 0, axis=tuple(range(w.ndim - 1))) if w.ndim > 1 else w > 0
    return V[..., keep] * np.sqrt(w[..., keep])[..., None, :]


def _diag_nodes(sys: DiagonalLTI, which: str) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and generator of the Cauchy-like Gramian of a diagonal system."""
    if which == "c":
        G = sys.B
        nodes = -sys.poles if sys.dt is None else sys.log_poles
    else:
        G = np.conj(np.swapaxes(sys.C, -1, -2))  # (..., n, p)
        nodes = -np.conj(sys.poles) if sys.dt is None else np.conj(sys.log_poles)
    return nodes, G


def _diag_gramian(sys: DiagonalLTI, which: str, factor: bool, horizon: int | None) -> np.ndarray:
    nodes, G = _diag_nodes(sys, which)
    if horizon is None and factor:
        return cauchy_cholesky(nodes, G, discrete=sys.dt is not None)
    GG = G @ np.conj(np.swapaxes(G, -1, -2))
    s = nodes[..., :, None] + np.conj(nodes)[..., None, :]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if sys.dt is None:
            X = GG / s
        elif horizon is None:
            X = GG / -complex_expm1(s)
        else:
            X = GG * _geometric_sum(s, horizon)
    if not np.all(np.isfinite(X)):
        raise NumericalError(
            "the Gramian is not finite"
            + (f" over horizon {horizon} (poles far outside the unit circle)" if horizon else "")
        )
    X = (X + np.conj(np.swapaxes(X, -1, -2))) / 2
    return psd_factor(X) if factor else X


def _geometric_sum(s: np.ndarray, L: int) -> np.ndarray:
    """``sum_{k<L} exp(k s) = expm1(L s) / expm1(s)``, equal to ``L`` at ``s = 0``."""
    num = complex_expm1(L * s)
    den = complex_expm1(s)
    small = np.abs(s) * L < 1e-6
    out = np.where(small, 1.0, num / np.where(small, 1.0, den))
    # near s = 0: sum exp(k s) = L (1 + (L-1) s / 2 + ...)
    return np.where(small, L * (1 + (L - 1) * s / 2), out)
