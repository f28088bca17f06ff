"""Discretisation of continuous-time systems (zero-order hold and bilinear).

:func:`complex_expm1` and :func:`expm1_ratio` (``exp(x) - 1`` for complex ``x`` and
``(exp(lam dt) - 1) / lam`` without cancellation) are re-exported here from the internal
module that holds the expm1 formulas.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla

from ._expm1 import complex_expm1, expm1_ratio
from .errors import DimensionError, MethodError, SystemTypeError
from .systems import LTI, DiagonalLTI, as_system

__all__ = ["complex_expm1", "discretize", "expm1_ratio"]


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
