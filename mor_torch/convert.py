"""Exact conversion between DSS layers and :mod:`mor` systems.

Layer -> system (:func:`to_lti`): the ``H`` channels become one batched SISO
:class:`mor.DiagonalLTI` of batch shape ``(H,)`` (float64/complex128).  The ``mor`` system is the
*complex* system; the layer takes the real part of its output:

continuous (``time="continuous"``)::

    x' = diag(lambda) x + B u,   y_layer = Re(C x) + D u          (B = 1)

discrete (``time="discrete"``; the zero-order hold with the channel's step ``Delta_h``, one
sample per unit time, ``dt = 1``, built with ``DiagonalLTI.from_log_poles(lambda Delta, ...)``)::

    x[k+1] = diag(z) x[k] + Bbar u[k],   z = exp(lambda Delta),  Bbar = expm1(lambda Delta) / lambda
    K_k = Re(sum_n C_n Bbar_n z_n^k) = Re(h[k+1])                 (h: mor's Markov parameters)
    y_layer[k] = Re(C x[k+1]) + D u[k]   (the kernel is the Markov sequence shifted by one sample)

``C`` per mode: DSS_EXP ``C = W``; DSS_SOFTMAX ``C = W r(lambda) / expm1(L lambda Delta)`` with
``r(lambda) = lambda s(lambda) = |lambda|^2 / (|lambda|^2 + eps)`` (``s`` the layer's safe
reciprocal; ``r = 1`` for ``eps = 0``), so the kernel length ``L`` is required.  ``D`` is the
layer's skip term.

System -> layer (:func:`from_lti`): DSS Proposition 1.  For ``A = V diag(lambda) V^-1`` the residues
are ``w~ = (C V)^T * (V^-1 B)`` (one row per channel).  Continuous systems: DSS_EXP ``W = w~``,
DSS_SOFTMAX ``W = w~ expm1(L lambda Delta) / r(lambda)``.  Discrete systems with residues ``g`` and
log-poles ``mu``: ``lambda = mu / Delta``, ``w~ = g lambda / expm1(mu)`` and ``W`` as above.  Since
``exp(lambda Delta k) = exp(mu k) = z^k`` for every integer ``k`` on any branch of the logarithm,
the kernel is exact even when ``Im(mu)`` aliases beyond ``pi``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from mor.discretize import complex_expm1, expm1_ratio
from mor.errors import DimensionError, MethodError, MorError, SystemTypeError
from mor.systems import LTI, DiagonalLTI, as_system

from . import kernels
from .dss import DSS, _check_mode, _check_positive_int

__all__ = ["LayerConversionError", "from_lti", "to_lti"]

# expm1 overflows float64 beyond ~709.78; stay clear of it.
_MAX_EXPONENT = 700.0


class LayerConversionError(MorError, ValueError):
    """A DSS layer and a system cannot be converted into each other as asked."""


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().to("cpu").resolve_conj().numpy()


def _check_time(time: str) -> str:
    if time not in ("continuous", "discrete"):
        raise MethodError(f"time must be 'continuous' or 'discrete', got {time!r}")
    return time


def _ratio_r(lam: np.ndarray, eps: float) -> np.ndarray:
    """``r(lambda) = lambda s(lambda) = |lambda|^2 / (|lambda|^2 + eps)``."""
    a2 = lam.real**2 + lam.imag**2
    return a2 / (a2 + eps)


def _softmax_expm1(lam: np.ndarray, mu: np.ndarray, length: int, what: str) -> np.ndarray:
    """``expm1(L mu)`` with a clear error where it overflows or vanishes."""
    big = length * mu.real > _MAX_EXPONENT
    if np.any(big):
        h, n = (int(i) for i in np.argwhere(big)[0])
        raise LayerConversionError(
            f"{what}: channel {h}, mode {n}: Re(L lambda Delta) = {length * mu[h, n].real:.4g} is too "
            f"large for float64 (lambda = {lam[h, n]:.6g}); the LTI form of this growing softmax mode "
            "overflows"
        )
    e = complex_expm1(length * mu)
    if np.any(e == 0):
        h, n = (int(i) for i in np.argwhere(e == 0)[0])
        raise LayerConversionError(f"{what}: channel {h}, mode {n}: exp(L lambda Delta) = 1 (lambda = 0)")
    return e


def _length(length: Any, mode: str, what: str) -> int | None:
    if length is None:
        if mode == "softmax":
            raise LayerConversionError(
                f"{what}: DSS_SOFTMAX depends on the kernel length; pass length=L "
                "(C = W r(lambda) / expm1(L lambda Delta))"
            )
        return None
    return _check_positive_int(length, "length")


def to_lti(layer: DSS, *, time: str = "continuous", length: int | None = None) -> DiagonalLTI:
    """The channels of a DSS layer as one batched SISO :class:`mor.DiagonalLTI`.

    Parameters
    ----------
    layer : DSS
    time : {"continuous", "discrete"}
        Continuous ``(diag(lambda), 1, C)`` (``dt=None``) or the zero-order-hold system the
        layer computes, ``(diag(exp(lambda Delta)), expm1(lambda Delta)/lambda, C)`` with ``dt=1``
        (see the module docstring for the exact output conventions).
    length : int, optional
        Kernel length ``L``; required for DSS_SOFTMAX.

    Returns
    -------
    DiagonalLTI
        Batch shape ``(H,)``, ``n = N``, ``m = p = 1``; ``D`` holds the layer's skip ``D``.
        For ``time="continuous"``, ``mor.discretize(sys, layer.delta())`` reproduces the
        discrete one.

    Raises
    ------
    LayerConversionError
        Softmax mode without ``length``, or a growing softmax mode whose LTI form overflows.
    """
    if not isinstance(layer, DSS):
        raise SystemTypeError(f"to_lti expects a mor_torch.DSS layer, got {type(layer).__name__}")
    time = _check_time(time)
    what = f"to_lti({layer.mode} layer)"
    length = _length(length, layer.mode, what)
    H, N = layer.d_model, layer.d_state
    with torch.no_grad():
        lam = np.broadcast_to(_np(layer.poles()).astype(np.complex128), (H, N))
        W = _np(layer.weights()).astype(np.complex128)
        dt = _np(layer.delta()).astype(np.float64)
        D = _np(layer.D).astype(np.float64)
    mu = lam * dt[:, None]
    if layer.mode == "exp":
        C = W
    else:
        C = W * _ratio_r(lam, layer.eps) / _softmax_expm1(lam, mu, length, what)
    C = C[:, None, :]
    D = D[:, None, None]
    if time == "continuous":
        return DiagonalLTI(lam, np.ones((H, N, 1)), C, D)
    Bbar = expm1_ratio(lam, dt[:, None])[..., None]
    return DiagonalLTI.from_log_poles(mu, Bbar, C, D, dt=1.0)


# ---------------------------------------------------------------------------------------------
def _eig_residues(sys: LTI) -> tuple[np.ndarray, np.ndarray]:
    """Poles ``(n,)`` and residues ``(p, n)`` of a dense single-input system (Proposition 1)."""
    if sys.m != 1:
        raise DimensionError(f"a DSS layer has one input per channel; the system has m = {sys.m} inputs")
    lam, V = np.linalg.eig(sys.A)
    cond = np.linalg.cond(V)
    if not np.isfinite(cond) or cond > 1e12:
        raise LayerConversionError(
            f"A is not (numerically) diagonalisable: eigenvector condition number {cond:.3g}"
        )
    b = np.linalg.solve(V, sys.B)[:, 0]  # V^-1 B
    CV = sys.C @ V
    return lam.astype(np.complex128), CV * b[None, :]


def _diag_residues(sys: DiagonalLTI) -> tuple[np.ndarray, np.ndarray, bool]:
    """(log-)poles, residues ``(H, N)`` and whether the poles are shared."""
    nodes = sys.poles if sys.dt is None else sys.mu
    if sys.batch_shape == ():
        if sys.m != 1:
            raise DimensionError(f"a DSS layer has one input per channel; the system has m = {sys.m} inputs")
        return nodes, sys.C * sys.B[:, 0][None, :], True
    if len(sys.batch_shape) != 1 or sys.m != 1 or sys.p != 1:
        raise DimensionError(
            "expected a DiagonalLTI of batch shape (H,) with SISO members (one per channel), or an "
            f"unbatched single-input system with H outputs; got {sys!r}"
        )
    return nodes, sys.C[:, 0, :] * sys.B[:, :, 0], False


def _system_parts(system: Any) -> tuple[np.ndarray, np.ndarray, bool, float | None, np.ndarray]:
    """``(nodes, residues (H, N), shared, dt, D (H,))``; nodes are poles or log-poles."""
    if isinstance(system, Sequence) and not isinstance(system, tuple):
        parts = [_system_parts(s) for s in system]
        if not parts:
            raise DimensionError("from_lti got an empty sequence of systems")
        if any(p[1].shape[0] != 1 for p in parts):
            raise DimensionError("a sequence of systems must hold one SISO system per channel")
        ns = {p[0].shape[-1] for p in parts}
        dts = {p[3] for p in parts}
        if len(ns) != 1 or len(dts) != 1:
            raise DimensionError(f"channel systems differ in order {sorted(ns)} or time base {dts}")
        nodes = np.stack([np.reshape(p[0], (-1,)) for p in parts])
        res = np.concatenate([p[1] for p in parts])
        return nodes, res, False, parts[0][3], np.concatenate([p[4] for p in parts])
    system = as_system(system)
    if isinstance(system, DiagonalLTI):
        nodes, res, shared = _diag_residues(system)
        D = system.D[..., 0].reshape(-1) if shared else system.D[:, 0, 0]
        return nodes, res, shared, system.dt, np.real(D)
    lam, res = _eig_residues(system)
    if system.dt is not None:
        with np.errstate(divide="ignore"):
            lam = np.log(lam)
    return lam, res, True, system.dt, np.real(system.D[:, 0])


def from_lti(
    system: Any,
    *,
    mode: str | None = None,
    length: int | None = None,
    time: str | None = None,
    log_dt: Any = None,
    D: Any = None,
    template: DSS | None = None,
    shared_poles: bool | None = None,
    eps: float | None = None,
    device: Any = None,
    dtype: torch.dtype | None = None,
) -> DSS:
    """Build a DSS layer whose kernel is that of ``system`` (DSS Proposition 1).

    Parameters
    ----------
    system : DiagonalLTI, LTI, convertible, or a list of SISO systems
        * batched :class:`~mor.DiagonalLTI`, batch ``(H,)``, SISO members: channel ``h`` is member
          ``h`` (per-channel poles; the layout of :func:`to_lti` and of a per-channel reduction);
        * unbatched single-input system with ``H`` outputs (diagonal or dense): one set of poles
          for all channels, output ``h`` is channel ``h``; dense ``A`` is eigendecomposed;
        * a list of ``H`` SISO systems of equal order (dense ones are eigendecomposed).
        Continuous systems are read as ``y = Re(C x)``; discrete ones as sample-indexed
        (the value of ``dt`` is ignored) with kernel ``K_k = Re(h[k+1])``.
    mode : {"exp", "softmax"}, optional
        Layer mode; the template's, else ``"exp"``.  DSS_EXP needs stable poles.
    length : int, optional
        Kernel length ``L`` (required for softmax).
    time : {"continuous", "discrete"}, optional
        Checked against ``system.dt`` when given.
    log_dt : (H,) array_like, optional
        Steps of the new layer; the template's when omitted (one of them is required).
        For discrete systems ``lambda = mu / Delta``.
    D : (H,) array_like, optional
        Skip term: given, else the template's, else the real part of the system's ``D``.
    template : DSS, optional
        A layer to take ``mode``, ``log_dt``, ``D``, ``eps``, device and dtype from.
    shared_poles : bool, optional
        Force the layout.  ``None``: shared when the system has one set of poles, or when
        the per-channel poles agree to a few ulps; ``True`` fails (``LayerConversionError``)
        when they do not.
    eps : float, optional
        Softmax safe-reciprocal ``eps``; template's or the default ``1e-7``.
    device, dtype
        Of the new layer; the template's, else CPU and float64.

    Returns
    -------
    DSS
    """
    if template is not None and not isinstance(template, DSS):
        raise SystemTypeError(f"template must be a DSS layer, got {type(template).__name__}")
    mode = _check_mode(mode if mode is not None else (template.mode if template is not None else "exp"))
    what = f"from_lti(mode={mode!r})"
    length = _length(length, mode, what)
    eps = float(eps if eps is not None else (template.eps if template is not None else kernels.DEFAULT_EPS))
    if dtype is None:
        dtype = template.W.dtype if template is not None else torch.float64
    if device is None and template is not None:
        device = template.W.device

    nodes, res, shared, sys_dt, sys_D = _system_parts(system)
    H, N = res.shape
    if time is not None:
        want = _check_time(time)
        have = "continuous" if sys_dt is None else "discrete"
        if want != have:
            raise SystemTypeError(f"time={want!r} but the system is {have}")

    if log_dt is None:
        if template is None:
            raise LayerConversionError(f"{what}: give log_dt (the channel steps) or a template layer")
        log_dt = template.log_dt
    log_dt = _np(log_dt) if isinstance(log_dt, torch.Tensor) else np.asarray(log_dt, dtype=np.float64)
    log_dt = np.broadcast_to(log_dt, (H,)).astype(np.float64) if log_dt.ndim == 0 else log_dt
    if log_dt.shape != (H,):
        raise DimensionError(f"log_dt must have shape ({H},), got {log_dt.shape}")
    if D is None:
        D = template.D if template is not None else sys_D
    D = _np(D) if isinstance(D, torch.Tensor) else np.asarray(D, dtype=np.float64)
    if template is not None and template.d_model != H:
        raise DimensionError(f"template has d_model={template.d_model}, the system has {H} channels")
    # the steps exactly as the new layer will compute them
    dt = _np(torch.exp(torch.as_tensor(log_dt, dtype=dtype))).astype(np.float64)

    nodes = np.broadcast_to(nodes, (H, N))
    if sys_dt is None:
        lam = nodes
        mu = lam * dt[:, None]
        wt = res
    else:
        mu = nodes
        if np.any(~np.isfinite(mu)):
            raise LayerConversionError(f"{what}: the discrete system has a pole at z = 0 (log z = -inf)")
        lam = mu / dt[:, None]
        wt = res / expm1_ratio(lam, dt[:, None])  # g lambda / expm1(mu)
    if mode == "softmax":
        r = _ratio_r(lam, eps)
        if np.any(r == 0):
            raise LayerConversionError(f"{what}: a pole lambda = 0 cannot be expressed in softmax form")
        W = wt * _softmax_expm1(lam, mu, length, what) / r
    else:
        W = wt

    rows_equal = bool(np.all(np.abs(lam - lam[:1]) <= 8 * np.finfo(float).eps * np.abs(lam[:1])))
    if shared_poles is None:
        shared_poles = (shared and sys_dt is None) or rows_equal
    elif shared_poles and not rows_equal:
        raise LayerConversionError(
            f"{what}: shared_poles=True but the channels have different poles "
            "(discrete systems give lambda = mu / Delta_h, which differ when the steps differ)"
        )
    poles = lam[0] if shared_poles else lam
    if not math.isfinite(float(np.max(np.abs(W)))):
        raise LayerConversionError(f"{what}: the weights W are not finite")
    return DSS.from_parameters(poles, W, log_dt, D, mode=mode, eps=eps, device=device, dtype=dtype)
