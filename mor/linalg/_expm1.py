"""``exp(x) - 1`` for complex ``x`` and the formulas built on it (internal).

numpy's ``expm1`` is accurate for real arguments only.  With ``x = a + jb``,
``e = expm1(a)``, ``s = sin(b/2)`` and ``c = cos(b/2)``::

    exp(x) - 1 = (e - 2 s^2 (1 + e)) + j 2 s c (1 + e)

has no cancellation near ``x = 0``.  Discrete-time formulas of :mod:`mor` use it to keep
full accuracy when poles are close to the unit circle (``z = exp(mu)``, ``|mu|`` small or
``mu`` near ``j theta``)::

    1 - z_i conj(z_j) = -expm1(mu_i + conj(mu_j))        (Stein Gramians, Cauchy factors)
    z - z_i           = -z expm1(mu_i - log z)            (transfer functions)
    (exp(lam dt) - 1) / lam                               (zero-order hold)

:mod:`mor.discretize` re-exports :func:`complex_expm1` and :func:`expm1_ratio`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["complex_expm1", "expm1_half_angle", "expm1_ratio"]


def complex_expm1(x: Any) -> np.ndarray:
    """``exp(x) - 1`` for complex ``x`` without cancellation near ``x = 0``.

    With ``x = a + ib``, ``e = expm1(a)``, ``s = sin(b/2)``, ``c = cos(b/2)``::

        exp(x) - 1 = (e - 2 s^2 (1 + e)) + i 2 s c (1 + e)

    (numpy's ``expm1`` is real-only); three transcendental evaluations per entry.

    Parameters
    ----------
    x : array_like, complex
        Arguments.

    Returns
    -------
    ndarray, complex128
        ``exp(x) - 1``, same shape as ``x``.
    """
    x = np.asarray(x, dtype=np.complex128)
    half = 0.5 * x.imag
    s, c = np.sin(half), np.cos(half)
    return expm1_half_angle(x.real, 2.0 * s * s, 2.0 * s * c)


def expm1_half_angle(a: np.ndarray, ss: np.ndarray, sc: np.ndarray) -> np.ndarray:
    """``exp(a + jb) - 1`` from ``a`` and ``ss = 2 sin(b/2)^2``, ``sc = 2 sin(b/2) cos(b/2)``.

    The trigonometric part is an argument so that callers with several ``a`` for one ``b``
    (the Cauchy factor updates of :mod:`mor.linalg.cauchy`) evaluate it once.
    """
    e = np.expm1(a)
    e1 = 1.0 + e
    out = np.empty(np.shape(a), dtype=np.complex128)
    out.real = e - ss * e1
    out.imag = sc * e1
    return out


def expm1_ratio(lam: Any, dt: Any) -> np.ndarray:
    """``(exp(lam * dt) - 1) / lam`` evaluated without cancellation; ``dt`` where ``lam = 0``.

    Parameters
    ----------
    lam : (...,) array_like, complex
        Continuous-time poles.
    dt : float or array broadcastable against ``lam``
        Step.

    Returns
    -------
    (...,) ndarray, complex
    """
    lam = np.asarray(lam, dtype=np.complex128)
    x = lam * dt
    out = np.empty(np.broadcast(lam, x).shape, dtype=np.complex128)
    small = np.abs(x) < 1e-8
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = complex_expm1(x) / lam
    dt_b = np.broadcast_to(np.asarray(dt, dtype=np.float64), out.shape)
    x_b = np.broadcast_to(x, out.shape)
    out[...] = ratio
    out[small] = dt_b[small] * (1 + x_b[small] / 2)
    return out
