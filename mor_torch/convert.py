"""Exact conversion between DSS layers and :mod:`mor` systems.

Layer -> system (:func:`dss_to_lti`; :func:`mor_torch.to_lti` takes a layer of any family): the ``H``
channels become one batched SISO :class:`mor.DiagonalLTI` of batch shape ``(H,)``
(float64/complex128).  The ``mor`` system is the *complex* system; the layer takes the real part of its
output:

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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mor.errors import DimensionError, SystemTypeError
from mor.systems import LTI, DiagonalLTI, as_system
from mor.systems.discretize import complex_expm1, expm1_ratio
from mor.validation import check_choice, check_int

from . import kernels
from ._tensors import to_numpy
from .dss import DEFAULT_MODE, DSS, MODES
from .errors import LayerConversionError

__all__ = ["TIMES", "dss_to_lti", "from_lti"]

#: The two readings of a layer as a system (see the module docstring).
TIMES = ("continuous", "discrete")

# expm1 overflows float64 beyond ~709.78; stay clear of it.
_MAX_EXPONENT = 700.0


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
    return check_int(length, "length")


def dss_to_lti(layer: DSS, *, time: str = "continuous", length: int | None = None) -> DiagonalLTI:
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
        raise SystemTypeError(f"dss_to_lti expects a mor_torch.DSS layer, got {type(layer).__name__}")
    time = check_choice(time, "time", TIMES)
    what = f"to_lti({layer.mode} layer)"
    length = _length(length, layer.mode, what)
    H, N = layer.d_model, layer.d_state
    lam = np.broadcast_to(to_numpy(layer.poles()).astype(np.complex128), (H, N))
    W = to_numpy(layer.weights()).astype(np.complex128)
    step = to_numpy(layer.delta()).astype(np.float64)
    D = to_numpy(layer.D).astype(np.float64)
    mu = lam * step[:, None]
    if layer.mode == "exp":
        C = W
    else:
        C = W * _ratio_r(lam, layer.eps) / _softmax_expm1(lam, mu, length, what)
    C = C[:, None, :]
    D = D[:, None, None]
    if time == "continuous":
        return DiagonalLTI(lam, np.ones((H, N, 1)), C, D)
    Bbar = expm1_ratio(lam, step[:, None])[..., None]
    return DiagonalLTI.from_log_poles(mu, Bbar, C, D, dt=1.0)


# ---------------------------------------------------------------------------------------------
def _eig_residues(sys: LTI) -> tuple[np.ndarray, np.ndarray]:
    """Poles ``(n,)`` and residues ``(p, n)`` of a dense single-input system (Proposition 1)."""
    if sys.m != 1:
        raise DimensionError(f"a DSS layer has one input per channel; the system has m = {sys.m} inputs")
    lam, V = np.linalg.eig(sys.A)
    cond = np.linalg.cond(V)
    if not np.isfinite(cond) or cond > 1e12:
        raise LayerConversionError(f"A is not (numerically) diagonalisable: eigenvector condition number {cond:.3g}")
    b = np.linalg.solve(V, sys.B)[:, 0]  # V^-1 B
    CV = sys.C @ V
    return lam.astype(np.complex128), CV * b[None, :]


def _diag_residues(sys: DiagonalLTI) -> tuple[np.ndarray, np.ndarray, bool]:
    """(log-)poles, residues ``(H, N)`` and whether the poles are shared."""
    nodes = sys.poles if sys.dt is None else sys.log_poles
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


@dataclass(frozen=True)
class _SystemParts:
    """What a layer needs from a system: (log-)poles, residues ``(H, N)``, layout, time base, ``D``."""

    nodes: np.ndarray  # poles (continuous) or log-poles (discrete)
    residues: np.ndarray  # (H, N)
    shared: bool  # one set of poles for all channels
    dt: float | None
    D: np.ndarray  # (H,)


def _system_parts(system: Any) -> _SystemParts:
    """Split ``system`` (see :func:`from_lti`) into poles and residues per channel."""
    if isinstance(system, Sequence) and not isinstance(system, (tuple, str, bytes)):
        return _channel_list_parts(system)
    return _one_system_parts(system)


def _one_system_parts(system: Any) -> _SystemParts:
    """Poles and residues of one system (a string is refused here: it is a sequence of strings)."""
    system = as_system(system)
    if isinstance(system, DiagonalLTI):
        nodes, res, shared = _diag_residues(system)
        D = system.D[..., 0].reshape(-1) if shared else system.D[:, 0, 0]
        return _SystemParts(nodes, res, shared, system.dt, np.real(D))
    lam, res = _eig_residues(system)
    if system.dt is not None:
        with np.errstate(divide="ignore"):
            lam = np.log(lam)
    return _SystemParts(lam, res, True, system.dt, np.real(system.D[:, 0]))


def _channel_list_parts(systems: Sequence[Any]) -> _SystemParts:
    """A list of ``H`` SISO systems of equal order, one per channel."""
    parts = [_one_system_parts(s) for s in systems]
    if not parts:
        raise DimensionError("from_lti got an empty sequence of systems")
    if any(p.residues.shape[0] != 1 for p in parts):
        raise DimensionError("a sequence of systems must hold one SISO system per channel")
    orders = {p.nodes.shape[-1] for p in parts}
    times = {p.dt for p in parts}
    if len(orders) != 1 or len(times) != 1:
        raise DimensionError(f"channel systems differ in order {sorted(orders)} or time base {times}")
    nodes = np.stack([np.reshape(p.nodes, (-1,)) for p in parts])
    residues = np.concatenate([p.residues for p in parts])
    return _SystemParts(nodes, residues, False, parts[0].dt, np.concatenate([p.D for p in parts]))


@dataclass(frozen=True)
class _LayerSettings:
    """Settings of the new layer: explicit arguments first, then the template's, then defaults."""

    mode: str
    eps: float
    log_step: np.ndarray | None
    D: np.ndarray | None
    device: Any
    dtype: torch.dtype


def _layer_settings(template: DSS | None, mode, eps, log_step, D, device, dtype) -> _LayerSettings:
    if template is not None and not isinstance(template, DSS):
        raise SystemTypeError(f"template must be a DSS layer, got {type(template).__name__}")

    def pick(given, attr, default):
        if given is not None:
            return given
        return getattr(template, attr) if template is not None else default

    tensor_or_none = lambda x: None if x is None else to_numpy(x).astype(np.float64)
    return _LayerSettings(
        mode=check_choice(pick(mode, "mode", DEFAULT_MODE), "mode", MODES),
        eps=float(pick(eps, "eps", kernels.DEFAULT_EPS)),
        log_step=tensor_or_none(pick(log_step, "log_step", None)),
        D=tensor_or_none(pick(D, "D", None)),
        device=device if device is not None else (template.W.device if template is not None else None),
        dtype=dtype if dtype is not None else (template.W.dtype if template is not None else torch.float64),
    )


def _channel_steps(log_step: np.ndarray | None, H: int, dtype: torch.dtype, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(log_step (H,), Delta (H,))``, ``Delta`` exactly as the new layer (of ``dtype``) computes it."""
    if log_step is None:
        raise LayerConversionError(f"{what}: give log_step (the channel steps) or a template layer")
    log_step = np.broadcast_to(log_step, (H,)).astype(np.float64) if log_step.ndim == 0 else log_step
    if log_step.shape != (H,):
        raise DimensionError(f"log_step must have shape ({H},), got {log_step.shape}")
    return log_step, to_numpy(torch.exp(torch.as_tensor(log_step, dtype=dtype))).astype(np.float64)


def _continuous_weights(parts: _SystemParts, step: np.ndarray, what: str):
    """Poles ``lambda``, ``mu = lambda Delta`` and the DSS_EXP weights ``w~`` of the system."""
    H, N = parts.residues.shape
    nodes = np.broadcast_to(parts.nodes, (H, N))
    if parts.dt is None:
        return nodes, nodes * step[:, None], parts.residues
    if np.any(~np.isfinite(nodes)):
        raise LayerConversionError(f"{what}: the discrete system has a pole at z = 0 (log z = -inf)")
    lam = nodes / step[:, None]
    return lam, nodes, parts.residues / expm1_ratio(lam, step[:, None])  # g lambda / expm1(mu)


def _pole_layout(lam: np.ndarray, parts: _SystemParts, shared_poles: bool | None, what: str) -> np.ndarray:
    """``(N,)`` shared poles or ``(H, N)`` per-channel poles, as asked or as the poles allow."""
    rows_equal = bool(np.all(np.abs(lam - lam[:1]) <= 8 * np.finfo(float).eps * np.abs(lam[:1])))
    if shared_poles is None:
        shared_poles = (parts.shared and parts.dt is None) or rows_equal
    elif shared_poles and not rows_equal:
        raise LayerConversionError(
            f"{what}: shared_poles=True but the channels have different poles "
            "(discrete systems give lambda = mu / Delta_h, which differ when the steps differ)"
        )
    return lam[0] if shared_poles else lam


def from_lti(
    system: Any,
    *,
    mode: str | None = None,
    length: int | None = None,
    time: str | None = None,
    log_step: Any = None,
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
          ``h`` (per-channel poles; the layout of :func:`dss_to_lti` and of a per-channel reduction);
        * unbatched single-input system with ``H`` outputs (diagonal or dense): one set of poles
          for all channels, output ``h`` is channel ``h``; dense ``A`` is eigendecomposed;
        * a list of ``H`` SISO systems of equal order (dense ones are eigendecomposed).
        Continuous systems are read as ``y = Re(C x)``; discrete ones as sample-indexed
        (the value of ``dt`` is ignored) with kernel ``K_k = Re(h[k+1])``.
    mode : {"exp", "softmax"}, optional
        Layer mode; the template's, else :data:`~mor_torch.dss.DEFAULT_MODE`.  DSS_EXP needs
        stable poles.
    length : int, optional
        Kernel length ``L`` (required for softmax).
    time : {"continuous", "discrete"}, optional
        Checked against ``system.dt`` when given.
    log_step : (H,) array_like, optional
        ``log Delta`` of the new layer's channels; the template's when omitted (one of them is
        required).  For discrete systems ``lambda = mu / Delta``.
    D : (H,) array_like, optional
        Skip term: given, else the template's, else the real part of the system's ``D``.
    template : DSS, optional
        A layer to take ``mode``, ``log_step``, ``D``, ``eps``, device and dtype from.
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
    settings = _layer_settings(template, mode, eps, log_step, D, device, dtype)
    what = f"from_lti(mode={settings.mode!r})"
    length = _length(length, settings.mode, what)
    parts = _system_parts(system)
    H = parts.residues.shape[0]
    if time is not None:
        have = "continuous" if parts.dt is None else "discrete"
        if check_choice(time, "time", TIMES) != have:
            raise SystemTypeError(f"time={time!r} but the system is {have}")
    if template is not None and template.d_model != H:
        raise DimensionError(f"template has d_model={template.d_model}, the system has {H} channels")
    log_step, step = _channel_steps(settings.log_step, H, settings.dtype, what)
    lam, mu, W = _continuous_weights(parts, step, what)
    if settings.mode == "softmax":
        r = _ratio_r(lam, settings.eps)
        if np.any(r == 0):
            raise LayerConversionError(f"{what}: a pole lambda = 0 cannot be expressed in softmax form")
        W = W * _softmax_expm1(lam, mu, length, what) / r
    if not np.all(np.isfinite(W)):
        raise LayerConversionError(f"{what}: the weights W are not finite")
    return DSS.from_parameters(
        _pole_layout(lam, parts, shared_poles, what),
        W,
        log_step,
        parts.D if settings.D is None else settings.D,
        mode=settings.mode,
        eps=settings.eps,
        device=settings.device,
        dtype=settings.dtype,
    )
