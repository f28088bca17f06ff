"""Discretisation of continuous-time systems (zero-order hold and bilinear)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla

from .errors import DimensionError, MethodError, SystemTypeError
from .systems import LTI, DiagonalLTI, as_system

__all__ = ["complex_expm1", "discretize", "expm1_ratio"]


def expm1_ratio(lam: np.ndarray, dt: Any) -> np.ndarray:
    """``(exp(lam * dt) - 1) / lam`` evaluated without cancellation; ``dt`` where ``lam = 0``.

    Parameters
    ----------
    lam : (...,) array_like, complex
    dt : float or array broadcastable against ``lam``

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


def complex_expm1(x: np.ndarray) -> np.ndarray:
    """``exp(x) - 1`` for complex ``x`` without cancellation near ``x = 0``.

    With ``x = a + ib``, ``e = expm1(a)``, ``s = sin(b/2)``, ``c = cos(b/2)``::

        exp(x) - 1 = (e - 2 s^2 (1 + e)) + i 2 s c (1 + e)

    (numpy's ``expm1`` is real-only); three transcendental evaluations per entry.
    """
    x = np.asarray(x, dtype=np.complex128)
    half = 0.5 * x.imag
    s, c = np.sin(half), np.cos(half)
    return _expm1_half_angle(x.real, 2.0 * s * s, 2.0 * s * c)


def _expm1_half_angle(a: np.ndarray, ss: np.ndarray, sc: np.ndarray) -> np.ndarray:
    """``exp(a + jb) - 1`` from ``a`` and ``ss = 2 sin(b/2)^2``, ``sc = 2 sin(b/2) cos(b/2)``.

    Split out of :func:`complex_expm1` so that callers with several ``a`` for one ``b``
    (:func:`mor.cauchy._stein_factors`) evaluate the trigonometric part once.
    """
    e = np.expm1(a)
    e1 = 1.0 + e
    out = np.empty(np.shape(a), dtype=np.complex128)
    out.real = e - ss * e1
    out.imag = sc * e1
    return out


def discretize(sys: Any, dt: float, method: str = "zoh") -> LTI | DiagonalLTI:
    """Discretise a continuous-time system with sampling period ``dt``.

    Zero-order hold (``method="zoh"``)::

        Abar = exp(A dt),   Bbar = (integral_0^dt exp(A t) dt) B,   Cbar = C,  Dbar = D

    For a diagonal system ``Abar = diag(z)``, ``z = exp(lambda dt)`` and
    ``Bbar = (exp(lambda dt) - 1) / lambda * B`` (``dt * B`` where
    ``lambda = 0``); the result stores ``log_poles = lambda * dt`` exactly, so
    later Gramians keep full accuracy.

    Bilinear / Tustin (``method="bilinear"``), dense systems::

        Abar = (I - A dt/2)^-1 (I + A dt/2),  Bbar = sqrt(dt) (I - A dt/2)^-1 B,
        Cbar = sqrt(dt) C (I - A dt/2)^-1,    Dbar = D + C (I - A dt/2)^-1 B dt/2

    which preserves the H-infinity norm and the Hankel singular values.

    Parameters
    ----------
    sys : LTI or DiagonalLTI (continuous time)
    dt : float or (...,) array_like
        Sampling period.  A :class:`DiagonalLTI` accepts one step per batch
        member (an array broadcast against the batch shape); the result then
        has ``dt = 1`` and the per-member steps folded into the poles.
    method : {"zoh", "bilinear"}

    Returns
    -------
    LTI or DiagonalLTI (discrete time)
    """
    sys = as_system(sys)
    if sys.dt is not None:
        raise SystemTypeError(f"system is already discrete (dt={sys.dt}); discretize needs a continuous one")
    if method not in ("zoh", "bilinear"):
        raise MethodError(f"method must be 'zoh' or 'bilinear', got {method!r}")
    dt_arr = np.asarray(dt, dtype=np.float64)
    if not np.all(np.isfinite(dt_arr)) or np.any(dt_arr <= 0):
        raise DimensionError(f"dt must be positive and finite, got {dt!r}")
    if isinstance(sys, DiagonalLTI):
        if method != "zoh":
            raise MethodError("diagonal systems support method='zoh' only (bilinear breaks diagonality)")
        per_member = dt_arr.ndim > 0
        if per_member:
            try:
                np.broadcast_shapes(dt_arr.shape, sys.batch_shape)
            except ValueError as exc:
                raise DimensionError(
                    f"dt of shape {dt_arr.shape} does not broadcast against batch shape {sys.batch_shape}"
                ) from exc
            step = dt_arr[..., None]
        else:
            step = float(dt_arr)
        mu = sys.poles * step
        Bbar = expm1_ratio(sys.poles, step)[..., None] * sys.B
        return DiagonalLTI.from_log_poles(mu, Bbar, sys.C, sys.D, dt=1.0 if per_member else float(dt_arr))
    if dt_arr.ndim:
        raise DimensionError("a dense LTI takes a scalar dt")
    dt = float(dt_arr)
    n, m = sys.n, sys.m
    A, B, C, D = sys.A, sys.B, sys.C, sys.D
    if method == "zoh":
        M = np.zeros((n + m, n + m), dtype=A.dtype)
        M[:n, :n] = A * dt
        M[:n, n:] = B * dt
        E = sla.expm(M)
        return LTI(E[:n, :n], E[:n, n:], C, D, dt)
    eye = np.eye(n)
    F = sla.lu_factor(eye - A * dt / 2)
    Ad = sla.lu_solve(F, eye + A * dt / 2)
    X = sla.lu_solve(F, B)
    Bd = np.sqrt(dt) * X
    Cd = np.sqrt(dt) * sla.lu_solve(F, C.conj().T, trans=2).conj().T
    Dd = D + C @ X * (dt / 2)
    return LTI(Ad, Bd, Cd, Dd, dt)
