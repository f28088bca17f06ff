"""Time responses on a uniform time grid: forced (simulation) and step responses.

Exact zero-order hold: the input is held constant on each step ``[t_k, t_k+1)``, ``h = t_k+1 - t_k``::

    x[k+1] = Phi x[k] + Gamma u[k],   y[k] = C x[k] + D u[k]
    continuous:  [[Phi, Gamma], [0, I]] = expm([[A, B], [0, 0]] h)   (Van Loan's block exponential)
    discrete:    Phi = A, Gamma = B, h = dt (the grid must be the system's sampling grid)

so a continuous system driven by a piecewise-constant input (a step, a sampled-and-held signal) is
simulated without discretisation error; other inputs are approximated by their zero-order hold
(``scipy.signal.lsim(..., interp=False)``; python-control's ``forced_response`` interpolates
linearly instead).  Descriptor systems are simulated in their standard form
(:func:`mor.systems.descriptor.standard_form`); a :class:`mor.DiagonalLTI` must be unbatched.
The impulse response (Markov parameters, or samples of ``C exp(A t) B``) is
:func:`mor.impulse_response`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._guard import guarded
from ..errors import ArgumentConflictError, DimensionError, InvalidArgumentError
from ..linalg._arrays import as_array
from ..systems.convert import as_system
from ..systems.lti import LTI, DiagonalLTI

__all__ = ["TimeResponse", "forced_response", "step_response"]


@dataclass(frozen=True)
class TimeResponse:
    """A simulated response.

    Attributes
    ----------
    t : (N,) ndarray
        The time grid.
    y : ndarray
        Outputs: ``(N, p)`` for :func:`forced_response`; ``(N, p, m)`` for :func:`step_response`
        (``y[:, i, j]``: output ``i`` for a unit step on input ``j``).
    x : ndarray or None
        States ``(N, n)`` for :func:`forced_response` (``None`` for :func:`step_response`).
    """

    t: np.ndarray
    y: np.ndarray
    x: np.ndarray | None

    def __repr__(self) -> str:
        return f"TimeResponse(t: {self.t.shape[0]} points in [{self.t[0]:g}, {self.t[-1]:g}], y: {self.y.shape})"


def _dense(sys: Any) -> LTI:
    sys = as_system(sys)
    if isinstance(sys, DiagonalLTI):
        if sys.batch_shape:
            raise DimensionError(f"time responses take one system; {sys!r} is a batch (index it first)")
        sys = sys.to_dense()
    return sys


def _grid(sys: LTI, T: Any) -> tuple[np.ndarray, float]:
    """The time grid as a float array and its step (uniform; the sampling period in discrete time)."""
    t = as_array(T, "T (time grid)")
    if np.iscomplexobj(t) or t.ndim != 1 or t.size < 2:
        raise DimensionError(f"T must be a 1-D real array of at least 2 times, got shape {t.shape}")
    steps = np.diff(t)
    h = float(steps.mean())
    if h <= 0 or np.abs(steps - h).max() > 1e-9 * max(abs(h), np.abs(t).max()):
        raise InvalidArgumentError("T must be increasing and uniformly spaced (exact zero-order hold)")
    if sys.dt is not None and abs(h - sys.dt) > 1e-9 * sys.dt:
        raise ArgumentConflictError(f"a discrete system is simulated on its own grid: T must have step dt = {sys.dt:g}")
    return t, h


def _zoh(sys: LTI, h: float) -> tuple[np.ndarray, np.ndarray]:
    """``(Phi, Gamma)`` of the zero-order hold over one step (the system itself in discrete time)."""
    if sys.dt is not None:
        return sys.A, sys.B
    n, m = sys.n, sys.m
    M = np.zeros((n + m, n + m), dtype=sys.dtype)
    M[:n, :n] = sys.A * h
    M[:n, n:] = sys.B * h
    F = sla.expm(M)
    return F[:n, :n], F[:n, n:]


def _simulate(sys: LTI, h: float, U: np.ndarray, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """States ``(N, n)`` and outputs ``(N, p)`` for the held input ``U`` ``(N, m)``."""
    Phi, Gamma = _zoh(sys, h)
    N = U.shape[0]
    X = np.empty((N, sys.n), dtype=np.result_type(Phi, Gamma, U, x0))
    x = x0.astype(X.dtype)
    drive = U @ Gamma.T  # Gamma u[k] for every k
    PhiT = Phi.T
    for k in range(N):
        X[k] = x
        x = x @ PhiT + drive[k]
    return X, X @ sys.C.T + U @ sys.D.T


@guarded("forced_response")
def forced_response(sys: Any, T: Any, U: Any = 0.0, x0: Any = None) -> TimeResponse:
    """Response to the input ``U`` on the uniform grid ``T`` (exact zero-order hold).

    ``x[k+1] = Phi x[k] + Gamma u[k]``, ``y[k] = C x[k] + D u[k]`` with the ZOH matrices of the
    module notes (for continuous systems the input is held constant on each step).

    Parameters
    ----------
    sys : LTI, DiagonalLTI (unbatched) or anything :func:`mor.as_system` accepts
        The system (descriptor systems in their standard form).
    T : (N,) array_like
        Uniformly spaced increasing times; for a discrete system its step must be ``sys.dt``.
    U : float or (N,) or (N, m) array_like
        Input samples (a scalar is constant on every input; ``(N,)`` for a single input).
    x0 : (n,) array_like, optional
        Initial state (zero by default).

    Returns
    -------
    TimeResponse
        ``t = T``, ``y (N, p)``, ``x (N, n)``.

    Raises
    ------
    DimensionError
        ``T``, ``U`` or ``x0`` of the wrong shape; a batched diagonal system.
    InvalidArgumentError
        A non-uniform grid.
    ArgumentConflictError
        A step other than ``dt`` for a discrete system.

    Examples
    --------
    >>> import numpy as np
    >>> from mor import LTI
    >>> from mor import forced_response
    >>> r = forced_response(LTI([[-1.0]], [[1.0]], [[1.0]]), np.linspace(0, 1, 3), 1.0)
    >>> np.round(r.y[:, 0], 6)                # 1 - exp(-t) at t = 0, 0.5, 1
    array([0.      , 0.393469, 0.632121])
    """
    sys = _dense(sys)
    t, h = _grid(sys, T)
    N = t.size
    Uarr = as_array(U, "U")
    if Uarr.ndim == 0:
        Uarr = np.full((N, sys.m), Uarr, dtype=Uarr.dtype)
    elif Uarr.ndim == 1 and sys.m == 1 and Uarr.shape[0] == N:
        Uarr = Uarr[:, None]
    if Uarr.shape != (N, sys.m):
        raise DimensionError(
            f"U must have shape (N,) (one input), (N, m) = ({N}, {sys.m}) or be a scalar, got {Uarr.shape}"
        )
    x = np.zeros(sys.n, dtype=sys.dtype) if x0 is None else as_array(x0, "x0")
    if x.shape != (sys.n,):
        raise DimensionError(f"x0 must have shape (n,) = ({sys.n},), got {x.shape}")
    X, Y = _simulate(sys, h, Uarr, x)
    return TimeResponse(t, Y, X)


@guarded("step_response")
def step_response(sys: Any, T: Any) -> TimeResponse:
    """Unit-step responses from a zero initial state, one per input (exact: a step is piecewise constant).

    Parameters
    ----------
    sys : LTI, DiagonalLTI (unbatched) or anything :func:`mor.as_system` accepts
        The system.
    T : (N,) array_like
        Uniformly spaced times starting at the step (``T[0]``); discrete systems: step ``dt``.

    Returns
    -------
    TimeResponse
        ``y (N, p, m)``: ``y[:, i, j]`` is output ``i`` for a unit step on input ``j``; ``x`` is ``None``.

    Raises
    ------
    DimensionError
        ``T`` not a 1-D array of at least two times; a batched diagonal system.
    InvalidArgumentError
        A non-uniform grid.
    ArgumentConflictError
        A step other than ``dt`` for a discrete system.

    Examples
    --------
    >>> import numpy as np
    >>> from mor import LTI, step_response
    >>> r = step_response(LTI([[-2.0]], [[2.0]], [[1.0]]), [0.0, 1.0, 2.0])
    >>> np.round(r.y[:, 0, 0], 6)             # 1 - exp(-2 t)
    array([0.      , 0.864665, 0.981684])
    """
    sys = _dense(sys)
    t, h = _grid(sys, T)
    Phi, Gamma = _zoh(sys, h)
    N = t.size
    Y = np.empty((N, sys.p, sys.m), dtype=np.result_type(Phi, Gamma, sys.C, sys.D))
    X = np.zeros((sys.n, sys.m), dtype=Y.dtype)  # one state column per input
    for k in range(N):
        Y[k] = sys.C @ X + sys.D
        X = Phi @ X + Gamma
    return TimeResponse(t, Y, None)
