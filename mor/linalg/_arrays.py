"""Array helpers shared by several modules of :mod:`mor` (internal).

``as_array``   input conversion with typed errors (dtype, squareness, finiteness)
``pad_hsv``    Hankel singular values padded with zeros (or cut) to ``n`` entries
``reverse``    ``J M J`` with ``J`` the reversal permutation (upper <-> lower triangular)
``fro_norm``   Frobenius norm over the last two axes that neither overflows nor underflows
``binary_exponent``  the power of two of an array's largest entry (exact rescaling)
``lower_indices``    the (cached) indices of the strictly lower triangle of an ``n x n`` matrix
``r_factor``   the triangular factor of a QR factorisation (LAPACK ``geqrf``, no numpy overhead)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from scipy.linalg import lapack

from ..errors import ArgumentTypeError, DimensionError, NonFiniteError

__all__ = [
    "GEEV_RANGE", "as_array", "binary_exponent", "conj_transpose", "eigenvalues", "fro_norm", "lower_indices",
    "matrix_fro_norm", "pad_hsv", "r_factor", "reverse",
]

#: Largest entries ``max |A_ij|`` for which LAPACK ``geev`` may be called directly through scipy: outside
#: ``~[7e-139, 1.5e138]`` geev works on a scaled copy, and scipy's LAPACK returned the eigenvalues of that
#: copy unscaled (1.4e138 for 2.6e150); numpy's eigvals (its own LAPACK) returns the right ones there.
GEEV_RANGE = (1e-130, 1e130)


def as_array(
    value: Any, name: str, *, complex_: bool | None = None, square: bool = False, copy: bool = True
) -> np.ndarray:
    """Convert ``value`` to a float64 or complex128 array, rejecting bad input.

    ``complex_=True`` forces complex128, ``False`` float64, ``None`` keeps the kind of the
    input.  ``square=True`` also requires a square 2-D array (checked before finiteness);
    ``copy=False`` returns ``value`` itself when it already has the target dtype.
    """
    kind = value.dtype.char if type(value) is np.ndarray and value.dtype.isnative else ""  # ('>f8' is 'd' too)
    if kind in ("d", "D") and (complex_ is None or complex_ == (kind == "D")):
        arr = value.copy() if copy else value  # already the target dtype (the common internal case)
    else:
        arr = _converted(value, name, complex_, copy)
    if square and (arr.ndim != 2 or arr.shape[0] != arr.shape[1]):
        raise DimensionError(f"{name} must be a square 2-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))
        raise NonFiniteError(
            f"{name} contains {len(bad)} non-finite entr{'y' if len(bad) == 1 else 'ies'} "
            f"(first at index {tuple(int(i) for i in bad[0])})"
        )
    return arr


def _converted(value: Any, name: str, complex_: bool | None, copy: bool) -> np.ndarray:
    """``value`` as a float64 or complex128 array (:func:`as_array`'s conversion)."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - numpy raises many types
        raise ArgumentTypeError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ArgumentTypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if complex_ is True or (complex_ is None and np.iscomplexobj(arr)):
        return arr.astype(np.complex128, copy=copy)
    return arr.astype(np.float64, copy=copy)


def pad_hsv(s: np.ndarray, n: int) -> np.ndarray:
    """``s (..., k)`` as ``(..., n)``: cut to ``n`` values or padded with zeros."""
    k = s.shape[-1]
    if k >= n:
        return np.ascontiguousarray(s[..., :n])
    out = np.zeros(s.shape[:-1] + (n,))
    out[..., :k] = s
    return out


def reverse(M: np.ndarray) -> np.ndarray:
    """``J M J`` with ``J`` the reversal permutation (maps upper to lower triangular and back)."""
    return np.ascontiguousarray(M[::-1, ::-1])


_SQ_MIN, _SQ_MAX = 2.0**-900, 2.0**1000  # sums of squares safely inside the normal range


def matrix_fro_norm(X: np.ndarray) -> float:
    """``||X||_F`` of one matrix ``(n, m)`` from one dot product (cheaper than :func:`fro_norm` for
    small matrices), and by :func:`fro_norm` where the sum of squares under- or overflows."""
    sq = float(np.vdot(X, X).real) if X.size else 0.0
    return float(np.sqrt(sq)) if _SQ_MIN < sq < _SQ_MAX or (sq == 0.0 and not np.any(X)) else float(fro_norm(X))


def fro_norm(X: np.ndarray) -> np.ndarray:
    """Frobenius norm over the last two axes, ``(...)``, scaled by the largest entry first.

    ``np.linalg.norm`` squares the entries: it overflows from ``1e154`` and underflows below
    ``1e-154``; here the entries are divided by the largest modulus before squaring, unless every
    sum of squares lies safely inside the normal range (then the plain sum is exact to rounding).
    Non-finite entries give ``inf``/``nan``.
    """
    X = np.asarray(X)
    if X.shape[-1] == 0 or X.shape[-2] == 0:
        return np.zeros(X.shape[:-2])
    a = np.abs(X)
    sq = np.square(a).sum(axis=(-2, -1))
    if np.all((sq > _SQ_MIN) & (sq < _SQ_MAX)):  # no under- or overflow in the squares: plain 2-norm
        return np.sqrt(sq)
    big = a.max(axis=(-2, -1), keepdims=True)
    big[~((big > 0) & (big < np.inf))] = 1.0  # zero, inf or nan: unscaled
    a /= big
    a *= a
    return np.sqrt(a.sum(axis=(-2, -1))) * big[..., 0, 0]


def conj_transpose(X: np.ndarray) -> np.ndarray:
    """Conjugate transpose over the last two axes, ``X^H`` of every member of a batch."""
    return np.conj(np.swapaxes(X, -1, -2))


def binary_exponent(values: np.ndarray) -> int:
    """``e`` with ``max |values|`` in ``[2^(e-1), 2^e)`` (0 for an empty or all-zero array).

    Dividing by ``2^e`` brings the entries near unit size exactly (powers of two round nothing):
    the scaling of badly scaled systems before their Gramians are solved.
    """
    big = float(np.max(np.abs(values))) if np.size(values) else 0.0
    return int(np.frexp(big)[1]) if big > 0 else 0


@functools.lru_cache(maxsize=128)
def lower_indices(n: int, m: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``np.tril_indices(n, -1, m)``, cached and read-only: ``M[lower_indices(n)] = 0`` keeps the upper triangle."""
    rows, cols = np.tril_indices(n, -1, m)
    rows.setflags(write=False)
    cols.setflags(write=False)
    return rows, cols


def eigenvalues(A: np.ndarray) -> np.ndarray:
    """``numpy.linalg.eigvals(A)`` for one square float64 or complex128 matrix, by LAPACK ``dgeev`` /
    ``zgeev`` called directly (numpy's routine without its wrapper; numpy's own on failure, for
    non-finite entries, which it rejects, and for entries outside :data:`GEEV_RANGE`).  The same dtype
    rule: real when ``A`` and every eigenvalue are real.

    Parameters
    ----------
    A : (n, n) ndarray

    Returns
    -------
    (n,) ndarray, float64 or complex128
    """
    kind = A.dtype.char
    if A.ndim == 2 and A.size and kind in ("d", "D") and GEEV_RANGE[0] < np.abs(A).max() < GEEV_RANGE[1]:
        if kind == "d":
            wr, wi, _, _, info = lapack.dgeev(A, compute_vl=0, compute_vr=0)
            if info == 0:
                return wr + 1j * wi if wi.any() else wr
        else:
            w, _, _, info = lapack.zgeev(A, compute_vl=0, compute_vr=0)
            if info == 0:
                return w
    return np.linalg.eigvals(A)


def r_factor(M: np.ndarray) -> np.ndarray:
    """The ``(min(k, n), n)`` upper triangular ``R`` of ``M = Q R`` for a ``(k, n)`` matrix ``M``.

    LAPACK ``dgeqrf``/``zgeqrf`` (Householder, as ``np.linalg.qr(M, mode="r")``) called directly.
    """
    geqrf = lapack.zgeqrf if np.iscomplexobj(M) else lapack.dgeqrf
    qr, _, _, info = geqrf(M)
    if info != 0:  # pragma: no cover - argument error inside the wrapper
        raise RuntimeError(f"geqrf: illegal value in argument {-info}")
    R = qr[: min(M.shape)]
    R[lower_indices(*R.shape)] = 0.0
    return R
