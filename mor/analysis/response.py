"""Transfer functions, frequency responses and impulse responses.

Conventions::

    G(s) = C (s I - A)^-1 B + D          (continuous; s is the Laplace variable)
    G(z) = C (z I - A)^-1 B + D          (discrete;  z is the z-transform variable)
    h[0] = D,  h[k] = C A^(k-1) B        (discrete impulse response, k >= 1)

Descriptor systems: ``G(s) = C (s E - A)^-1 B + D``.  Importing this module registers
:func:`transfer_function` as the ``"transfer"`` operation of the system types
(:data:`mor.systems.lti.OPERATIONS`): ``sys(s)`` is ``transfer_function(sys, s)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla

from .._guard import guarded
from ..errors import ArgumentTypeError, DimensionError, NonFiniteError, SystemTypeError
from ..systems.convert import as_system
from ..systems.lti import LTI, OPERATIONS, DiagonalLTI
from ..systems.sparse import SparseLTI, sparse_transfer
from ..validation import check_int, check_memory, check_real
from ._frequency import transfer_evaluator

__all__ = ["transfer_function", "frequency_response", "impulse_response"]


def _asarray(value: Any, name: str) -> np.ndarray:
    """``np.asarray(value)``, with a typed error for objects numpy cannot read (a tensor that requires grad)."""
    try:
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ArgumentTypeError(f"{name} could not be converted to an array: {exc}") from exc


def _points(s: Any, name: str) -> tuple[np.ndarray, bool]:
    """``s`` as a 1-D complex128 array of finite points, and whether it was a scalar."""
    arr = _asarray(s, name)
    scalar = arr.ndim == 0
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ArgumentTypeError(f"{name} must be a number or an array of numbers, got dtype {arr.dtype}")
    arr = np.atleast_1d(arr).astype(np.complex128)
    if arr.ndim != 1:
        raise DimensionError(f"{name} must be a scalar or a 1-D array of points, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise NonFiniteError(f"{name} contains non-finite points")
    return arr, scalar


def transfer_function(sys: Any, s: Any) -> np.ndarray:
    """Evaluate the transfer function at complex points.

    Computes ``G(s) = C (s I - A)^-1 B + D`` (for discrete systems ``s`` plays
    the role of ``z``).

    Parameters
    ----------
    sys : LTI, DiagonalLTI, SparseLTI or anything :func:`mor.as_system` accepts
        The system (a batched :class:`DiagonalLTI` is evaluated member-wise; a large
        :class:`mor.SparseLTI` keeps its sparsity).
    s : complex or (k,) array_like
        Evaluation points.

    Returns
    -------
    G : (..., k, p, m) ndarray, complex
        Batch dimensions first; the ``k`` axis is dropped when ``s`` is a scalar.
        Points that coincide with a pole give ``inf``/``nan`` entries.

    Raises
    ------
    MemoryLimitError
        The result (``16 k p m`` bytes per member) does not fit in the memory available.

    Notes
    -----
    Dense systems are reduced once to complex Schur form ``A = Z T Z^H``
    (:func:`mor.complex_schur`); each point then costs one triangular solve,
    ``O(n^2 m)``.  Discrete diagonal systems are evaluated from their log-poles
    ``mu_i`` and ``log z`` as ``1 / (z - z_i) = -exp(-log z) / expm1(mu_i - log z)``,
    which stays accurate for poles close to the unit circle (``z = 0`` is allowed).
    Sparse systems cost one sparse LU factorisation of ``s I - A`` per point
    (:func:`mor.systems.sparse.sparse_transfer`).

    Examples
    --------
    >>> import numpy as np
    >>> from mor import LTI, transfer_function
    >>> sys = LTI([[-2.0]], [[1.0]], [[3.0]])
    >>> complex(transfer_function(sys, 0.0)[0, 0])
    (1.5+0j)
    """
    sys = as_system(sys, keep_sparse=True)
    pts, scalar = _points(s, "s")
    G = _evaluate(sys, pts, None)
    return G[..., 0, :, :] if scalar else G


def frequency_response(sys: Any, omega: Any) -> np.ndarray:
    """Frequency response at real angular frequencies.

    Evaluates ``G(j omega)`` for continuous systems and ``G(exp(j omega dt))``
    for discrete ones (``omega`` in rad per time unit; the Nyquist frequency is
    ``pi / dt``).  Discrete diagonal systems are evaluated from the log-point
    ``j omega dt`` itself (see :func:`transfer_function`).

    Parameters
    ----------
    sys : LTI, DiagonalLTI, SparseLTI or convertible
        The system; a large :class:`mor.SparseLTI` costs one sparse LU factorisation per
        frequency (see :func:`transfer_function`).
    omega : float or (k,) array_like of float
        Angular frequencies.

    Returns
    -------
    G : (..., k, p, m) ndarray, complex
        Batch dimensions first; the ``k`` axis is dropped when ``omega`` is a scalar.
    """
    sys = as_system(sys, keep_sparse=True)
    w = _asarray(omega, "omega")
    if np.iscomplexobj(w):
        raise ArgumentTypeError("omega must be real (angular frequency); use transfer_function for complex s")
    w, scalar = _points(w, "omega")
    w = w.real
    if sys.dt is None:
        G = _evaluate(sys, 1j * w, None)
    else:
        log_z = 1j * (w * sys.dt)
        G = _evaluate(sys, np.exp(log_z), log_z)
    return G[..., 0, :, :] if scalar else G


def _evaluate(sys: LTI | DiagonalLTI, pts: np.ndarray, log_pts: np.ndarray | None) -> np.ndarray:
    """``G`` at the points ``pts`` (``s`` or ``z``; discrete: ``log z`` too when known): ``(..., k, p, m)``."""
    members = float(np.prod(sys.batch_shape)) if isinstance(sys, DiagonalLTI) else 1.0
    check_memory(
        16.0 * members * pts.size * sys.p * sys.m, f"the transfer function at {pts.size} points",
        "evaluate fewer points at a time",
    )  # fmt: skip
    if isinstance(sys, SparseLTI):
        return sparse_transfer(sys, pts)
    ev = transfer_evaluator(sys)
    size = ev.size
    pts = np.broadcast_to(pts, (size, pts.size))
    if log_pts is not None:
        log_pts = np.broadcast_to(log_pts, (size, log_pts.size))
    G = ev(pts, log_points=log_pts)
    batch = sys.batch_shape if isinstance(sys, DiagonalLTI) else ()
    return G.reshape(*batch, *G.shape[1:])


@guarded("impulse_response")
def impulse_response(sys: Any, length: int, *, dt: float | None = None) -> np.ndarray:
    """Impulse response (Markov parameters).

    Discrete systems: ``h[0] = D``, ``h[k] = C A^(k-1) B`` for ``k = 1 .. length-1``:
    the response ``y[k]`` to the unit pulse ``u[0] = 1``.  A DSS-style
    convolution kernel ``K_k = C A^k B`` (``k = 0 .. L-1``) is therefore
    ``impulse_response(sys, L + 1)[..., 1:, :, :]``.

    Continuous systems need ``dt`` and return samples of
    ``g(t) = C exp(A t) B`` at ``t = k dt`` (``k = 0 .. length-1``); the
    ``D delta(t)`` term is not sampled.

    Parameters
    ----------
    sys : LTI, DiagonalLTI or convertible
        The system.
    length : int
        Number of samples (>= 1).
    dt : float, optional
        Sampling step for continuous systems (positive); must be omitted for discrete ones.

    Returns
    -------
    h : (..., length, p, m) ndarray
        Real for real dense systems, complex otherwise.

    Raises
    ------
    ArgumentTypeError
        ``length`` is not an integer or ``dt`` not a real number.
    InvalidArgumentError
        ``length < 1`` or ``dt`` not positive and finite.
    SystemTypeError
        ``dt`` given for a discrete system, or missing for a continuous one.
    MemoryLimitError
        The response (``16 length (p m + n)`` bytes per member, with its workspace) would not fit
        in the memory available; checked before allocating.
    """
    sys = as_system(sys)
    length = check_int(length, "length (number of samples)")
    if sys.dt is not None and dt is not None:
        raise SystemTypeError("dt is only for continuous systems; a discrete system has its own dt")
    if sys.dt is None:
        if dt is None:
            raise SystemTypeError("continuous systems need dt= (the sampling step of the response)")
        dt = check_real(dt, "dt", minimum=0.0, include_min=False)
    members = float(np.prod(sys.batch_shape)) if isinstance(sys, DiagonalLTI) else 1.0
    check_memory(
        16.0 * members * length * (sys.p * sys.m + sys.n), f"impulse_response with length = {length}",
        "ask for fewer samples (or compute the response in pieces)",
    )  # fmt: skip
    if isinstance(sys, DiagonalLTI):
        return _diag_impulse(sys, length, dt)
    return _dense_impulse(sys, length, dt)


def _diag_impulse(sys: DiagonalLTI, length: int, dt: float | None) -> np.ndarray:
    k = np.arange(length)
    if sys.dt is None:
        lam = sys.poles
        powers = np.exp(lam[..., None, :] * (k[:, None] * dt))  # (..., L, n)
        h = np.einsum("...pn,...kn,...nm->...kpm", sys.C, powers, sys.B, optimize=True)
        return h
    mu = sys.log_poles
    with np.errstate(invalid="ignore"):
        powers = np.exp(mu[..., None, :] * k[:, None])  # z^k computed from mu: accurate for |z| ~ 1
    powers = np.where(np.isnan(powers), 0.0, powers)  # 0^0 handled below; -inf*0 -> nan
    powers[..., 0, :] = 1.0  # length >= 1
    h = np.empty(sys.batch_shape + (length, sys.p, sys.m), dtype=np.complex128)
    h[..., 0, :, :] = sys.D
    if length > 1:
        h[..., 1:, :, :] = np.einsum(
            "...pn,...kn,...nm->...kpm", sys.C, powers[..., : length - 1, :], sys.B, optimize=True
        )
    return h


def _dense_impulse(sys: LTI, length: int, dt: float | None) -> np.ndarray:
    dtype = sys.dtype
    h = np.empty((length, sys.p, sys.m), dtype=dtype)
    if sys.dt is None:
        step = sla.expm(sys.A * dt)
        X = sys.B.copy()
        for k in range(length):
            h[k] = sys.C @ X
            X = step @ X
        return h
    h[0] = sys.D
    X = sys.B.copy()
    for k in range(1, length):
        h[k] = sys.C @ X
        X = sys.A @ X
    return h


OPERATIONS["transfer"] = transfer_function
