"""``1 - |z|^2`` and ``log z`` without cancellation near the unit circle (internal).

A discrete-time pole ``z = x + jy`` close to the unit circle is stable by a margin
``1 - |z|^2`` that can be far below the rounding error of ``x^2 + y^2``: ``z = exp(0.3j)``
rounded to float64 has ``|z|^2 = 1 - 9.1e-17``, while ``abs(z)`` and ``1 - (x*x + y*y)`` round to
``1`` and ``0``.  The margin is computed exactly here with error-free transformations
(Dekker's product, Knuth's sum)::

    x^2 = px + ex,  y^2 = py + ey   (exactly)
    1 - |z|^2 = (1 - px - py) - ex - ey       (summed in double-double)

to full relative accuracy, and ``log z = 0.5 log1p(-(1 - |z|^2)) + j angle(z)`` keeps a tiny
``Re log z`` exact.  Used for the stability test of dense discrete systems, Hammarling's
Stein factor and the resolvent of dense discrete systems (the same accuracy the log-poles of
a :class:`mor.DiagonalLTI` give).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["accurate_log", "one_minus_abs2"]

_SPLIT = 134217729.0  # 2^27 + 1 (Veltkamp splitting of a float64 into two 26-bit halves)
_SAFE = 2.0**500  # splitting overflows beyond ~2^996: larger |z| take the plain formula


def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a + b = s + e`` exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _square(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a^2 = p + e`` exactly (Dekker), for ``|a| < 2^500``."""
    p = a * a
    c = _SPLIT * a
    hi = c - (c - a)
    lo = a - hi
    return p, (((hi * hi - p) + hi * lo) + hi * lo) + lo * lo


def one_minus_abs2(z: Any) -> np.ndarray:
    """``1 - |z|^2`` to full relative accuracy (float64 array of the shape of ``z``)."""
    z = np.asarray(z, dtype=np.complex128)
    x, y = z.real, z.imag
    with np.errstate(over="ignore", invalid="ignore"):
        px, ex = _square(x)
        py, ey = _square(y)
        s1, t1 = _two_sum(np.ones_like(px), -px)
        s2, t2 = _two_sum(s1, -py)
        exact = s2 + ((t1 + t2) - (ex + ey))
        plain = (1.0 - np.abs(z)) * (1.0 + np.abs(z))
    return np.where((np.abs(x) < _SAFE) & (np.abs(y) < _SAFE), exact, plain)


def accurate_log(z: Any) -> np.ndarray:
    """``log z`` with ``Re log z = log|z|`` accurate near the unit circle (``-inf`` at ``z = 0``)."""
    z = np.asarray(z, dtype=np.complex128)
    margin = one_minus_abs2(z)
    with np.errstate(divide="ignore", invalid="ignore"):
        near = np.abs(margin) < 0.5
        re = np.where(near, 0.5 * np.log1p(-np.where(near, margin, 0.0)), np.log(np.abs(z)))
    return re + 1j * np.angle(z)
