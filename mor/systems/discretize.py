"""Discretisation of continuous-time systems (zero-order hold and bilinear).

:func:`complex_expm1` and :func:`expm1_ratio` (``exp(x) - 1`` for complex ``x`` and
``(exp(lam dt) - 1) / lam`` without cancellation) are re-exported here from the internal
module that holds the expm1 formulas.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._guard import check_finite
from ..errors import (
    ArgumentConflictError,
    ArgumentTypeError,
    DimensionError,
    InvalidArgumentError,
    NumericalError,
    SystemTypeError,
)
from ..linalg._expm1 import complex_expm1, expm1_ratio
from ..validation import check_choice, check_real
from .convert import as_system
from .lti import LTI, DiagonalLTI

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
        The system.
    dt : float or (...,) array_like
        Sampling period (positive, finite).  A :class:`DiagonalLTI` accepts one step per batch
        member (an array broadcast against the batch shape); the result then
        has ``dt = 1`` and the per-member steps folded into the poles.
    method : {"zoh", "bilinear"}
        Zero-order hold or bilinear transform (dense systems only).

    Returns
    -------
    LTI or DiagonalLTI (discrete time)

    Raises
    ------
    SystemTypeError
        ``sys`` is already discrete.
    MethodError
        Unknown ``method``.
    ArgumentConflictError
        ``"bilinear"`` for a diagonal system.
    ArgumentTypeError
        ``dt`` is not a (real) number or array of numbers.
    InvalidArgumentError
        A step that is not positive and finite.
    DimensionError
        An array ``dt`` for a dense system, or one that does not broadcast against the batch.
    NumericalError
        The discretised matrices overflow (``exp(A dt)`` beyond the float range: strongly unstable
        poles times ``dt``), or the bilinear map is singular (an eigenvalue of ``A`` at ``2/dt``).
    """
    sys = as_system(sys)
    if sys.dt is not None:
        raise SystemTypeError(f"system is already discrete (dt={sys.dt}); discretize needs a continuous one")
    check_choice(method, "method", ("zoh", "bilinear"))
    steps = _steps(dt)
    if isinstance(sys, DiagonalLTI):
        if method != "zoh":
            raise ArgumentConflictError("diagonal systems support method='zoh' only (bilinear breaks diagonality)")
        return _zoh_diagonal(sys, steps)
    if steps.ndim:
        raise DimensionError("a dense LTI takes a scalar dt")
    return (_zoh_dense if method == "zoh" else _bilinear_dense)(sys, float(steps))


def _steps(dt: Any) -> np.ndarray:
    """``dt`` as a float64 array of positive, finite steps (a 0-d array for a scalar)."""
    if np.ndim(dt) == 0:
        value = dt.item() if isinstance(dt, np.ndarray) else dt
        return np.asarray(check_real(value, "dt", minimum=0.0, include_min=False))
    try:
        steps = np.asarray(dt, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"dt must be a number or an array of numbers, got {dt!r}") from exc
    if not np.all(np.isfinite(steps)) or np.any(steps <= 0):
        raise InvalidArgumentError(f"every step in dt must be positive and finite, got {dt!r}")
    return steps


def _zoh_diagonal(sys: DiagonalLTI, steps: np.ndarray) -> DiagonalLTI:
    """``z = exp(lambda dt)`` (log-poles ``lambda dt`` kept), ``Bbar = expm1(lambda dt) / lambda B``."""
    per_member = steps.ndim > 0
    if per_member:
        try:
            np.broadcast_shapes(steps.shape, sys.batch_shape)
        except ValueError as exc:
            raise DimensionError(
                f"dt of shape {steps.shape} does not broadcast against batch shape {sys.batch_shape}"
            ) from exc
        step = steps[..., None]
    else:
        step = float(steps)
    with np.errstate(over="ignore", invalid="ignore"):
        mu = sys.poles * step
        Bbar = expm1_ratio(sys.poles, step)[..., None] * sys.B
    _check_overflow("lambda dt", mu)
    _check_overflow("Bbar = (exp(lambda dt) - 1) / lambda B", Bbar)
    return DiagonalLTI.from_log_poles(mu, Bbar, sys.C, sys.D, dt=1.0 if per_member else step)


def _check_overflow(what: str, value: np.ndarray) -> None:
    """:class:`NumericalError` naming the cause when a discretised matrix left the float range."""
    check_finite(
        value, f"the discretisation overflowed: {what}",
        "poles with a large positive real part times dt, or entries near the floating-point range limit; "
        "use a smaller dt or rescale the system",
    )  # fmt: skip


def _zoh_dense(sys: LTI, dt: float) -> LTI:
    """``expm([[A, B], [0, 0]] dt) = [[Abar, Bbar], [0, I]]``."""
    n, m = sys.n, sys.m
    M = np.zeros((n + m, n + m), dtype=sys.dtype)
    M[:n, :n] = sys.A * dt
    M[:n, n:] = sys.B * dt
    with np.errstate(over="ignore", invalid="ignore"):
        E = sla.expm(M)
    _check_overflow("exp(A dt)", E)
    return LTI(E[:n, :n], E[:n, n:], sys.C, sys.D, dt)


def _bilinear_dense(sys: LTI, dt: float) -> LTI:
    """Tustin with the sqrt(dt) scaling that preserves the H-infinity norm and the HSVs."""
    A, B, C, D = sys.A, sys.B, sys.C, sys.D
    eye = np.eye(sys.n)
    M = eye - A * dt / 2
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", sla.LinAlgWarning)  # an exactly singular M: reported below
        F = sla.lu_factor(M, check_finite=False)
        gecon = sla.lapack.get_lapack_funcs("gecon", (M,))
        rcond = gecon(F[0], np.abs(M).sum(axis=0).max(), norm="1")[0] if sys.n else 1.0
        if not rcond > np.finfo(float).eps:  # (NaN included)
            raise NumericalError(
                f"the bilinear map is singular: I - A dt/2 is (numerically) singular (A has an eigenvalue "
                f"near 2/dt = {2 / dt:g}); use another dt or method='zoh'"
            )
        Ad = sla.lu_solve(F, eye + A * dt / 2, check_finite=False)
        X = sla.lu_solve(F, B, check_finite=False)
        Bd = np.sqrt(dt) * X
        Cd = np.sqrt(dt) * sla.lu_solve(F, C.conj().T, trans=2, check_finite=False).conj().T
        Dd = D + C @ X * (dt / 2)
    for what, value in (("Abar", Ad), ("Bbar", Bd), ("Cbar", Cd), ("Dbar", Dd)):
        _check_overflow(what, value)
    return LTI(Ad, Bd, Cd, Dd, dt)
