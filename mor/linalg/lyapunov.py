"""Dense Lyapunov and Stein equations, solved through one complex Schur form.

The four equations (``Q`` Hermitian, ``^H`` the conjugate transpose)::

    continuous, adjoint=False:   A X + X A^H + Q = 0
    continuous, adjoint=True:    A^H X + X A + Q = 0
    discrete,   adjoint=False:   A X A^H - X + Q = 0
    discrete,   adjoint=True:    A^H X A - X + Q = 0

The default solver reduces ``A = Z T Z^H`` to complex Schur form and solves the
triangular equation with a recursive blocked algorithm (after Jonsson and
Kagstrom's RECSY): the triangular matrices are split in halves, the diagonal
blocks are solved recursively and the off-diagonal right-hand sides are updated
with matrix products, so almost all the work is level-3 BLAS.  Small blocks go
to LAPACK ``ztrsyl`` (continuous) or a column substitution (discrete).  LAPACK's
own ``trsyl`` (used by scipy and SLICOT) is level-2 and several times slower on
large matrices.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

from ..errors import (
    ArgumentConflictError,
    ArgumentTypeError,
    BackendUnavailableError,
    DimensionError,
    InvalidArgumentError,
    NumericalError,
    UnstableSystemError,
)
from ..validation import check_choice
from ._arrays import as_array, lower_indices, reverse
from .schur import SchurForm, complex_schur, quasi_triangular_eigvals

__all__ = ["SchurForm", "complex_schur", "solve_lyapunov", "sylvester_lyapunov_factor"]

logger = logging.getLogger(__name__)

_EPS = np.finfo(np.float64).eps
_METHODS = ("recursive", "scipy", "slycot")

#: Largest block handed to LAPACK ``ztrsyl`` (continuous equations); chosen by
#: measurement (benchmarks/bench_lyapunov.py, one BLAS thread).
BLOCK_CONTINUOUS = 32
#: Largest block solved by column substitution (discrete equations).
BLOCK_DISCRETE = 64


# --------------------------------------------------------------------------- input checks


def _as_matrix(value: Any, name: str) -> np.ndarray:
    """Convert ``value`` to a float64 or complex128 2-D square array, rejecting bad input."""
    return as_array(value, name, square=True, copy=False)


def _herm(X: np.ndarray) -> np.ndarray:
    """Hermitian part ``(X + X^H) / 2``."""
    return 0.5 * (X + X.conj().T)


def _is_hermitian(Q: np.ndarray) -> bool:
    scale = np.max(np.abs(Q)) if Q.size else 0.0
    return bool(np.max(np.abs(Q - Q.conj().T), initial=0.0) <= 100 * _EPS * scale)


# --------------------------------------------------------------------------- singularity check


def _check_nonsingular(t: np.ndarray, discrete: bool) -> None:
    """Raise :class:`UnstableSystemError` when the triangular equation is (numerically) singular.

    ``t`` are the eigenvalues of ``A``.  Continuous: ``t_i + conj(t_j) = 0``; discrete:
    ``t_i conj(t_j) = 1``.  The threshold mirrors LAPACK ``trsyl`` (which silently perturbs
    such pivots), scaled up slightly for the rounding errors of the Schur form.  The error's
    ``index`` lists positions in ``t`` (the diagonal of the Schur factor).
    """
    if t.size == 0:
        return
    n = t.size
    scale = float(np.max(np.abs(t)))
    if discrete:
        tol = 10 * n * _EPS * max(1.0, scale * scale)
    else:
        tol = 10 * n * _EPS * max(scale, np.finfo(np.float64).tiny)
    hits = []
    for r0 in range(0, n, 512):  # row chunks: O(512 n) memory
        ti = t[r0 : r0 + 512, None]
        gap = np.abs(1.0 - ti * t.conj()[None, :]) if discrete else np.abs(ti + t.conj()[None, :])
        ii, jj = np.nonzero(gap <= tol)
        if ii.size:
            hits.append((ii + r0, jj))
    bad = bool(hits)
    if bad:
        ii = np.concatenate([h[0] for h in hits])
        jj = np.concatenate([h[1] for h in hits])
        poles = np.unique(np.concatenate([t[ii], t[jj]]))
        if discrete:
            what = "eigenvalues with lambda_i * conj(lambda_j) = 1 (e.g. on the unit circle)"
        else:
            what = "eigenvalues with lambda_i + conj(lambda_j) = 0 (e.g. on the imaginary axis)"
        raise UnstableSystemError(
            f"the {'discrete' if discrete else 'continuous'} Lyapunov equation is singular: A has "
            f"{what}; offending eigenvalues {poles[:8]}{' ...' if poles.size > 8 else ''}",
            poles=poles,
            index=sorted({int(k) for k in np.concatenate([ii, jj])}),
        )


# --------------------------------------------------------------------------- triangular solvers


def _trsyl(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> np.ndarray:
    """LAPACK ``ztrsyl``: ``A X + X B^H = C`` with A, B upper triangular."""
    X, scale, info = lapack.ztrsyl(A, B, C, trana="N", tranb="C", isgn=1)
    if info < 0:  # pragma: no cover - argument error inside the wrapper
        raise RuntimeError(f"ztrsyl: illegal value in argument {-info}")
    if info == 1:
        raise UnstableSystemError(
            "the continuous Lyapunov/Sylvester equation is numerically singular "
            "(LAPACK ztrsyl found eigenvalues lambda_i + conj(lambda_j) ~ 0)"
        )
    if scale != 1.0:
        X = X / scale
    return X


def _sylv_c(A: np.ndarray, B: np.ndarray, C: np.ndarray, nb: int) -> np.ndarray:
    """Recursive ``A X + X B^H = C``; A (m, m), B (n, n) upper triangular."""
    m, n = C.shape
    if m <= nb and n <= nb:
        return _trsyl(A, B, C)
    X = np.empty((m, n), dtype=np.complex128)
    if m >= n:  # split rows of X
        k = m // 2
        X[k:] = X2 = _sylv_c(A[k:, k:], B, C[k:], nb)
        X[:k] = _sylv_c(A[:k, :k], B, C[:k] - A[:k, k:] @ X2, nb)
    else:  # split columns of X
        k = n // 2
        X[:, k:] = X2 = _sylv_c(A, B[k:, k:], C[:, k:], nb)
        X[:, :k] = _sylv_c(A, B[:k, :k], C[:, :k] - X2 @ B[:k, k:].conj().T, nb)
    return X


def _lyap_c(T: np.ndarray, C: np.ndarray, nb: int) -> np.ndarray:
    """Recursive ``T X + X T^H = C`` for Hermitian C; returns Hermitian X."""
    n = T.shape[0]
    if n <= nb:
        return _herm(_trsyl(T, T, C))
    k = n // 2
    T11, T12, T22 = T[:k, :k], T[:k, k:], T[k:, k:]
    X = np.empty((n, n), dtype=np.complex128)
    X[k:, k:] = X22 = _lyap_c(T22, C[k:, k:], nb)
    X[:k, k:] = X12 = _sylv_c(T11, T22, C[:k, k:] - T12 @ X22, nb)
    X[k:, :k] = X12.conj().T
    M = X12 @ T12.conj().T
    X[:k, :k] = _lyap_c(T11, C[:k, :k] - (M + M.conj().T), nb)
    return X


def sylvester_lyapunov_factor(T: np.ndarray, B: np.ndarray, *, nb: int | None = None) -> np.ndarray:
    """Hammarling's factor of ``T X + X T^H + B B^H = 0`` from one triangular Sylvester equation.

    Hammarling's recurrence (:mod:`mor.linalg.hammarling`, continuous time) is the ADI
    iteration with the eigenvalues ``tau_k = t_kk`` as shifts, last first: with
    ``rho_k = sqrt(-2 Re tau_k)`` and the running right-hand side ``B^(k)`` (``B^(n-1) = B``)::

        u_k = rho_k (T + conj(tau_k) I)^-1 B^(k),      B^(k-1) = B^(k) + rho_k u_k   (row k: 0)

    and ``X = sum_k u_k u_k^H`` exactly (the product of the Cayley factors vanishes at ``T``).
    Substituting ``B^(k) = B + sum_{j>k} rho_j u_j``, all the columns ``U = [u_0, ..., u_{n-1}]``
    (blocks of ``m``) solve one triangular Sylvester equation::

        T U + U (K kron I_m)^H = rho^T kron B,      K = diag(tau) - triu(rho rho^T, 1)

(``K`` upper triangular; column block ``k`` of the right-hand side is ``rho_k B``),

    solved by the recursive blocked solver (:func:`_sylv_c`, LAPACK ``ztrsyl`` on small blocks):
    a few LAPACK calls instead of ``n`` Python-level steps.  Column ``k`` is zero below row
    ``k`` in exact arithmetic and is set so; each column is then turned so that its entry in
    row ``k`` is real and non-negative (``U U^H`` does not change).

    Parameters
    ----------
    T : (n, n) complex ndarray
        Upper triangular with ``Re t_kk < 0`` (the caller checks stability).
    B : (n, m) ndarray
        Right-hand-side factor.
    nb : int, optional
        Largest block handed to ``ztrsyl`` (default ``BLOCK_CONTINUOUS``).

    Returns
    -------
    U : (n, n m) complex ndarray
        ``U U^H = X``; for ``m = 1`` upper triangular with a real non-negative diagonal, as the
        recurrence's.

    Raises
    ------
    UnstableSystemError
        ``ztrsyl`` found the equation numerically singular (``tau_i + conj(tau_k) ~ 0``): the
        caller falls back to the recurrence.
    """
    n, m = B.shape
    if n == 0 or m == 0:
        return np.zeros((n, n * m), dtype=np.complex128)
    tau = np.diagonal(T)
    rho = np.sqrt(-2.0 * tau.real)
    K = np.multiply.outer(-rho, rho.astype(np.complex128))
    K[lower_indices(n)] = 0.0
    K.flat[:: n + 1] = tau
    nb = BLOCK_CONTINUOUS if nb is None else nb
    if m == 1:
        U = _sylv_c(np.asarray(T, dtype=np.complex128), K, np.multiply.outer(B[:, 0], rho.astype(np.complex128)), nb)
        U[lower_indices(n)] = 0.0  # zero below row k (rounding residue)
        d = U.diagonal().copy()
    else:
        C = (rho[None, :, None] * np.asarray(B, dtype=np.complex128)[:, None, :]).reshape(n, n * m)
        U = _sylv_c(np.asarray(T, dtype=np.complex128), np.kron(K, np.eye(m)), C, nb)
        rows, cols = np.repeat(np.arange(n), m), np.arange(n * m)  # entry (k, column k of block k)
        U[np.arange(n)[:, None] > rows[None, :]] = 0.0
        d = U[rows, cols]
    a = np.abs(d)
    zero = a == 0
    U *= np.conj(d) / np.where(zero, 1.0, a) + zero  # the phase that makes entry (k, column k) real
    if m == 1:
        np.fill_diagonal(U, a)  # exactly real
    else:
        U[rows, cols] = a
    return U


def _stein_base(A: np.ndarray, B: np.ndarray, C: np.ndarray) -> np.ndarray:
    """``X - A X B^H = C`` by column substitution; A (m, m), B (n, n) upper triangular.

    Column ``j`` (last first): ``(I - conj(B_jj) A) x_j = c_j + A sum_{k>j} conj(B_jk) x_k``,
    one small triangular solve each; ``A x_k`` is accumulated as the columns appear.
    """
    m, n = C.shape
    if n > m:  # (X^H) - B (X^H) A^H = C^H has fewer columns
        return _stein_base(B, A, C.conj().T).conj().T
    Af = np.asfortranarray(A)
    Bc = B.conj()
    X = np.empty((m, n), dtype=np.complex128, order="F")
    Y = np.empty((m, n), dtype=np.complex128, order="F")  # Y = A X
    diag = np.arange(m)
    trtrs = lapack.ztrtrs
    for j in range(n - 1, -1, -1):
        r = C[:, j] + Y[:, j + 1 :] @ Bc[j, j + 1 :]
        M = -Bc[j, j] * Af
        M[diag, diag] += 1.0
        x, info = trtrs(M, r)
        if info != 0:
            raise UnstableSystemError(
                "the discrete Lyapunov/Stein equation is singular "
                "(eigenvalues with lambda_i * conj(lambda_j) = 1)"
            )
        X[:, j] = x
        Y[:, j] = Af @ x
    return X


def _stein_sylv(A: np.ndarray, B: np.ndarray, C: np.ndarray, nb: int) -> np.ndarray:
    """Recursive ``X - A X B^H = C``; A (m, m), B (n, n) upper triangular."""
    m, n = C.shape
    if m <= nb and n <= nb:
        return _stein_base(A, B, C)
    X = np.empty((m, n), dtype=np.complex128)
    if m >= n:  # rows: X2 - A22 X2 B^H = C2;  X1 - A11 X1 B^H = C1 + A12 X2 B^H
        k = m // 2
        X[k:] = X2 = _stein_sylv(A[k:, k:], B, C[k:], nb)
        X[:k] = _stein_sylv(A[:k, :k], B, C[:k] + (A[:k, k:] @ X2) @ B.conj().T, nb)
    else:  # columns: X2 - A X2 B22^H = C2;  X1 - A X1 B11^H = C1 + A X2 B12^H
        k = n // 2
        X[:, k:] = X2 = _stein_sylv(A, B[k:, k:], C[:, k:], nb)
        X[:, :k] = _stein_sylv(A, B[:k, :k], C[:, :k] + A @ (X2 @ B[:k, k:].conj().T), nb)
    return X


def _stein_c(T: np.ndarray, C: np.ndarray, nb: int) -> np.ndarray:
    """Recursive ``X - T X T^H = C`` for Hermitian C; returns Hermitian X."""
    n = T.shape[0]
    if n <= nb:
        return _herm(_stein_base(T, T, C))
    k = n // 2
    T11, T12, T22 = T[:k, :k], T[:k, k:], T[k:, k:]
    X = np.empty((n, n), dtype=np.complex128)
    X[k:, k:] = X22 = _stein_c(T22, C[k:, k:], nb)
    P = T12 @ X22
    X[:k, k:] = X12 = _stein_sylv(T11, T22, C[:k, k:] + P @ T22.conj().T, nb)
    X[k:, :k] = X12.conj().T
    # (1,1): C11 + T11 X12 T12^H + T12 X12^H T11^H + T12 X22 T12^H = C11 + G + G^H
    G = (T11 @ X12 + 0.5 * P) @ T12.conj().T
    X[:k, :k] = _stein_c(T11, C[:k, :k] + (G + G.conj().T), nb)
    return X


def _solve_triangular_lyap(
    T: np.ndarray, C: np.ndarray, *, discrete: bool, hermitian: bool, nb: int | None = None
) -> np.ndarray:
    """Solve ``T Y + Y T^H + C = 0`` or ``T Y T^H - Y + C = 0`` for upper triangular T."""
    if discrete:
        nb = BLOCK_DISCRETE if nb is None else nb
        if hermitian:
            return _stein_c(T, C, nb)
        return _stein_sylv(T, T, C, nb)
    nb = BLOCK_CONTINUOUS if nb is None else nb
    if hermitian:
        return _lyap_c(T, -C, nb)
    return _sylv_c(T, T, -C, nb)


def _solve_schur(
    form: SchurForm, Q: np.ndarray, *, discrete: bool, adjoint: bool, hermitian: bool, real_out: bool
) -> np.ndarray:
    """Solve through ``A = Z T Z^H``: ``C = Z^H Q Z``, the triangular equation, ``X = Z Y Z^H``."""
    T = form.T
    C = form.to_schur_basis(Q)
    if hermitian:
        C = _herm(C)
    if adjoint:
        # T^H Y + Y T + C = 0  <=>  U Y' + Y' U^H + J C J = 0,  U = J T^H J upper, Y' = J Y J
        Y = reverse(_solve_triangular_lyap(reverse(T.conj().T), reverse(C), discrete=discrete, hermitian=hermitian))
    else:
        Y = _solve_triangular_lyap(T, C, discrete=discrete, hermitian=hermitian)
    X = form.from_schur_basis(Y, real=real_out)
    return _herm(X) if hermitian else X


# --------------------------------------------------------------------------- other backends


def _solve_scipy(A, Q, *, discrete, adjoint):
    Aop = A.conj().T if adjoint else A
    with warnings.catch_warnings():
        # scipy warns (trsyl perturbed a pivot, ill-conditioned bilinear transform) or fails
        # on singular equations; both mean the equation has no unique solution
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("error", sla.LinAlgWarning)
        try:
            if discrete:
                return sla.solve_discrete_lyapunov(Aop, Q)  # Aop X Aop^H - X + Q = 0
            return sla.solve_continuous_lyapunov(Aop, -Q)  # Aop X + X Aop^H = -Q
        except (RuntimeWarning, sla.LinAlgWarning, np.linalg.LinAlgError) as exc:
            raise UnstableSystemError(
                f"the {'discrete' if discrete else 'continuous'} Lyapunov equation is singular "
                f"or numerically singular (scipy: {exc})"
            ) from exc


def _solve_slycot(A, Q, *, discrete, adjoint, hermitian):
    if np.iscomplexobj(A) or np.iscomplexobj(Q):
        raise ArgumentConflictError(
            "method='slycot' supports real A and Q only: slycot silently drops imaginary parts; "
            "use method='recursive' or 'scipy' for complex input"
        )
    if not hermitian:
        raise ArgumentConflictError("method='slycot' (SB03MD) needs a symmetric Q")
    try:
        import slycot  # optional dependency
    except ImportError as exc:
        raise BackendUnavailableError(
            "method='slycot' needs the optional package slycot (pip install slycot)"
        ) from exc
    n = A.shape[0]
    # SB03MD: op(A)^T X + X op(A) = scale C  or  op(A)^T X op(A) - X = scale C
    trana = "N" if adjoint else "T"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", slycot.exceptions.SlycotResultWarning)
            Ts, _, X, scale, *_ = slycot.sb03md57(
                np.array(A, order="F"), np.zeros((n, n), order="F"), np.array(-Q, order="F"),
                dico="D" if discrete else "C", job="X", fact="N", trana=trana,
            )
    except (slycot.exceptions.SlycotError, slycot.exceptions.SlycotResultWarning) as exc:
        raise UnstableSystemError(f"slycot sb03md failed: the Lyapunov equation is singular ({exc})") from exc
    # SB03MD perturbs singular pivots silently: check the eigenvalues of its Schur form
    _check_nonsingular(quasi_triangular_eigvals(Ts), discrete)
    return np.asarray(X, dtype=np.float64) / scale


# --------------------------------------------------------------------------- public solver


def solve_lyapunov(
    A: Any,
    Q: Any,
    *,
    discrete: bool = False,
    adjoint: bool = False,
    method: str | None = None,
    schur: tuple[Any, Any] | None = None,
) -> np.ndarray:
    """Solve a continuous or discrete Lyapunov equation.

    The equations solved for ``X`` (``^H`` the conjugate transpose)::

        continuous, adjoint=False:   A X + X A^H + Q = 0
        continuous, adjoint=True:    A^H X + X A + Q = 0
        discrete,   adjoint=False:   A X A^H - X + Q = 0
        discrete,   adjoint=True:    A^H X A - X + Q = 0

    Parameters
    ----------
    A : (n, n) array_like
        Real or complex state matrix.
    Q : (n, n) array_like
        Right-hand side, normally Hermitian (then ``X`` is Hermitian and is returned
        exactly Hermitian).  A non-Hermitian ``Q`` is solved as a Sylvester equation
        (methods ``"recursive"`` and ``"scipy"``).
    discrete : bool, optional
        Discrete-time (Stein) equation instead of the continuous-time one.
    adjoint : bool, optional
        Solve the adjoint equation (observability Gramian form).
    method : {None, "recursive", "scipy", "slycot"}, optional
        ``None`` or ``"recursive"``: complex Schur form and a recursive blocked triangular
        solver (level-3 BLAS; the default).  ``"scipy"``: ``scipy.linalg.solve_continuous_lyapunov``
        or ``solve_discrete_lyapunov``.  ``"slycot"``: SLICOT ``SB03MD`` (real input only).
    schur : tuple of (n, n) ndarray, optional
        ``(T, Z)`` from :func:`complex_schur` of ``A`` (``A = Z T Z^H``, T upper
        triangular, Z unitary), to reuse one Schur form for several equations (both
        Gramians: the adjoint equation is solved from the same T and Z).  Only with
        ``method="recursive"``.

    Returns
    -------
    X : (n, n) ndarray
        float64 when ``A`` and ``Q`` are real, complex128 otherwise.

    Raises
    ------
    DimensionError
        Non-square or mismatched ``A``, ``Q`` or ``schur`` factors.
    NonFiniteError
        NaN or infinite entries.
    UnstableSystemError
        The equation is singular: ``lambda_i + conj(lambda_j) = 0`` (continuous) or
        ``lambda_i conj(lambda_j) = 1`` (discrete) for eigenvalues of ``A`` (then some
        eigenvalue is not strictly stable).
    MethodError
        Unknown ``method``.
    ArgumentTypeError
        ``schur`` is not a pair.
    InvalidArgumentError
        ``schur`` that is not a triangular Schur form of ``A``.
    ArgumentConflictError
        ``schur`` with a method other than ``"recursive"``, or complex input or a non-symmetric
        ``Q`` with ``method="slycot"`` (slycot drops imaginary parts).
    NumericalError
        The solution overflowed.
    BackendUnavailableError
        ``method="slycot"`` without slycot installed.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.array([[-1.0, 2.0], [0.0, -3.0]])
    >>> B = np.array([[1.0], [1.0]])
    >>> P = solve_lyapunov(A, B @ B.T)
    >>> np.allclose(A @ P + P @ A.T + B @ B.T, 0)
    True
    """
    A = _as_matrix(A, "A")
    Q = _as_matrix(Q, "Q")
    n = A.shape[0]
    if Q.shape != A.shape:
        raise DimensionError(f"Q must have the shape of A, ({n}, {n}), got {Q.shape}")
    method = check_choice(method, "method", (None, *_METHODS)) or "recursive"
    if schur is not None and method != "recursive":
        raise ArgumentConflictError(f"schur= is used by method='recursive' only, not method={method!r}")
    real_out = not (np.iscomplexobj(A) or np.iscomplexobj(Q))
    hermitian = _is_hermitian(Q)
    if hermitian:
        Q = _herm(Q)
    if n == 0:
        return np.zeros((0, 0), dtype=np.float64 if real_out else np.complex128)
    logger.debug(
        "solve_lyapunov: n=%d, %s, adjoint=%s, method=%s, %s, %s Q, schur %s",
        n, "discrete" if discrete else "continuous", adjoint, method,
        "real" if real_out else "complex", "Hermitian" if hermitian else "general",
        "given" if schur is not None else "computed",
    )

    if method == "scipy":
        X = _solve_scipy(A, Q, discrete=discrete, adjoint=adjoint)
        if not np.all(np.isfinite(X)):
            raise NumericalError("scipy returned a non-finite solution: the equation is singular or badly scaled")
    elif method == "slycot":
        X = _solve_slycot(A, Q, discrete=discrete, adjoint=adjoint, hermitian=hermitian)
    else:
        form = complex_schur(A) if schur is None else _check_schur(A, schur)
        _check_nonsingular(form.eigenvalues, discrete)
        X = _solve_schur(form, Q, discrete=discrete, adjoint=adjoint, hermitian=hermitian, real_out=real_out)
    if not np.all(np.isfinite(X)):
        raise NumericalError(
            "the solution of the Lyapunov equation overflowed: the equation is too close to singular "
            "or Q is near the floating-point range limit"
        )
    X = X.real.astype(np.float64) if real_out else X.astype(np.complex128, copy=False)
    return _herm(X) if hermitian else X


def _check_schur(A: np.ndarray, schur: Any) -> SchurForm:
    """Validate ``schur=(T, Z)``: shapes, triangularity, and ``A Z v = Z T v`` for a probe v."""
    try:
        T, Z = schur
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError("schur must be a pair (T, Z) from complex_schur(A)") from exc
    T = _as_matrix(T, "schur T").astype(np.complex128, copy=False)
    Z = _as_matrix(Z, "schur Z").astype(np.complex128, copy=False)
    n = A.shape[0]
    if T.shape != A.shape or Z.shape != A.shape:
        raise DimensionError(
            f"schur factors must have the shape of A, ({n}, {n}); got T {T.shape}, Z {Z.shape}"
        )
    if np.any(np.tril(T, -1) != 0):
        raise InvalidArgumentError(
            "schur T must be upper triangular (complex Schur form from complex_schur, "
            "not a real quasi-triangular one)"
        )
    # residual of a probe, on A and T scaled to unit size (no overflow for huge entries)
    scale = max(float(np.max(np.abs(A), initial=0.0)), float(np.max(np.abs(T), initial=0.0)))
    scale = scale if scale > 0 else 1.0
    v = np.cos(np.arange(1, n + 1) * 0.7) + 1j * np.sin(np.arange(1, n + 1) * 1.3)
    v /= np.linalg.norm(v)
    w = Z @ v
    res = np.linalg.norm((A / scale) @ w - Z @ ((T / scale) @ v))
    unit = abs(np.linalg.norm(w) - 1.0)
    size = np.linalg.norm(A / scale) + np.linalg.norm(T / scale)
    if res > 1e3 * n * _EPS * size or unit > 1e3 * n * _EPS:
        raise InvalidArgumentError(
            f"schur=(T, Z) is not a Schur form of A (||A Z v - Z T v|| / max|A| = {res:.3g}, "
            f"| ||Z v|| - 1 | = {unit:.3g} for a probe v)"
        )
    if isinstance(schur, SchurForm) and not np.iscomplexobj(A):
        return schur  # keeps its real Schur vectors: real transformations
    return SchurForm(T, Z)
