"""Array helpers shared by several modules of :mod:`mor` (internal).

``as_array``   input conversion with typed errors (dtype, squareness, finiteness)
``pad_hsv``    Hankel singular values padded with zeros (or cut) to ``n`` entries
``reverse``    ``J M J`` with ``J`` the reversal permutation (upper <-> lower triangular)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ArgumentTypeError, DimensionError, NonFiniteError

__all__ = ["as_array", "pad_hsv", "reverse"]


def as_array(
    value: Any, name: str, *, complex_: bool | None = None, square: bool = False, copy: bool = True
) -> np.ndarray:
    """Convert ``value`` to a float64 or complex128 array, rejecting bad input.

    ``complex_=True`` forces complex128, ``False`` float64, ``None`` keeps the kind of the
    input.  ``square=True`` also requires a square 2-D array (checked before finiteness);
    ``copy=False`` returns ``value`` itself when it already has the target dtype.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - numpy raises many types
        raise ArgumentTypeError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ArgumentTypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if complex_ is True or (complex_ is None and np.iscomplexobj(arr)):
        arr = arr.astype(np.complex128, copy=copy)
    else:
        arr = arr.astype(np.float64, copy=copy)
    if square and (arr.ndim != 2 or arr.shape[0] != arr.shape[1]):
        raise DimensionError(f"{name} must be a square 2-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))
        raise NonFiniteError(
            f"{name} contains {len(bad)} non-finite entr{'y' if len(bad) == 1 else 'ies'} "
            f"(first at index {tuple(int(i) for i in bad[0])})"
        )
    return arr


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
