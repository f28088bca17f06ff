"""The five reduction methods applied to the system of a DSS layer, channel by channel, in the form a
layer is rebuilt from.

==========  ==========================================================  ===========================
reducer     method (:mod:`mor`)                                         bound per channel
==========  ==========================================================  ===========================
``bt``      balanced truncation (:func:`mor.balanced_truncation`)       ``2 sum(hsv[r:])``
``bsp``     balanced singular perturbation (``match_dc=True``): DC      ``2 sum(hsv[r:])``
            gain kept exactly
``modal``   modal truncation (:func:`mor.modal_truncation`): the        none
            channel's own poles of largest H-infinity (or H2) score
``h2``      IRKA (:func:`mor.irka`): a stationary point of the H2       none (the H2 error is
            error                                                       locally minimal)
``kernel``  least-squares fit of the layer's length-``L`` kernel        none (its kernel error over
            (:func:`mor.finite_length_reduction`) from balanced         ``L`` samples is never above
            truncation; poles ``|z| < 1`` by construction               balanced truncation's)
==========  ==========================================================  ===========================

The input is the layer's system as :func:`mor_torch.reduce.reduce_layer` builds it (continuous
``(diag(lambda), 1, W)`` or the zero-order-hold system ``(diag(z), Bbar, W)`` of
:func:`mor_torch.to_lti`, whose Markov parameters ``h[k+1]`` are the kernel ``K_k``), with the
layer's skip ``D`` left out.  The output is a system of that same form plus a real correction of
the skip ``D`` per channel:

* balanced singular perturbation gives a feedthrough ``D_r``.  Continuous time: the layer's skip
  becomes ``D + Re(D_r)`` (a feedthrough of the continuous system is one of the zero-order-hold
  system too).  Discrete time: the shifted convention ``K_k = h[k+1]`` has no place for a
  feedthrough of ``G`` (it would be a one-step-ahead term), so the method reduces the kernel's own
  system ``K(z) = sum_k K_k z^-k``, realised as ``(diag(z), Bbar, W diag(z), W Bbar)``
  (:func:`kernel_system`); its reduction ``(z_r, b, c, D_r)`` has the kernel ``K_r[0] = D_r``,
  ``K_r[k] = sum_i c_i b_i z_i^(k-1)``, which a DSS layer holds as the residues ``c_i b_i / z_i``
  and the skip correction ``Re(D_r - sum_i c_i b_i / z_i)``.  Its Hankel singular values (and so
  its bound, on ``||K - K_r||_inf``) are those of ``K``, close to but not the same as those of the
  shifted system.
* the other methods keep ``D`` (correction zero).

``kernel`` needs the kernel length ``L`` (``length=``) and the discrete (zero-order-hold) system:
it minimises ``sum_{k<L} (K_k - K_r[k])^2`` with ``K_k = Re(h[k+1])``, the layer's own kernel,
and every reduced pole has ``|z| < 1`` (see :mod:`mor.reduction.finite_length`).
For the MIMO layers (LRU, S5; :func:`reduce_mimo`) it fits all ``p x m`` kernels of the one
system at once; :func:`mor.finite_length_reduction` refuses (:class:`~mor.errors.MemoryLimitError`) a
system whose Jacobian would pass its size limit.

Channels may get different orders (``orders (H,)``): channels of equal order are reduced in one
batched call, a channel of order ``N`` is kept as it is, a channel of order 0 keeps no state (for
``bsp`` its static DC gain goes to the skip).  The layer's tensor shape is ``(H, max(orders))``;
a channel with fewer states is padded with decoupled modes (residue 0, one of its own poles), which
leave its kernel unchanged and are not counted in :attr:`ChannelReduction.states`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from mor import (
    DiagonalLTI,
    balanced_truncation,
    finite_length_reduction,
    hankel_singular_values,
    irka,
    modal_dc_gain,
    modal_truncation,
    truncation_bound,
)
from mor.errors import AccuracyWarning, ArgumentConflictError, DimensionError, OrderError, SystemTypeError
from mor.validation import check_choice

__all__ = [
    "REDUCERS",
    "ChannelReduction",
    "kernel_system",
    "reduce_channels",
    "reduce_mimo",
    "reduction_hsv",
    "reduction_system",
]

#: Reduction methods (see the module docstring).
REDUCERS = ("bt", "bsp", "modal", "h2", "kernel")
#: Reducers that report convergence per channel.
ITERATIVE = ("h2", "kernel")
#: Reducers with the a-priori bound ``2 sum(hsv[r:])``.
BOUNDED = ("bt", "bsp")


@dataclass(frozen=True)
class ChannelReduction:
    """What :func:`reduce_channels` returns.

    Attributes
    ----------
    system : DiagonalLTI
        The reduced system in the form of the input (a layer is rebuilt from it with
        :func:`mor_torch.from_lti`), ``max(orders)`` states, ``D = 0``.
    skip : (H,) ndarray, or (p, m) for :func:`reduce_mimo`
        Real correction of each channel's skip ``D`` (of the feedthrough matrix of a MIMO layer);
        non-zero for ``bsp`` only.
    states : (H,) ndarray of int
        States per channel that are not padding.
    hsv : (H, N) ndarray
        Hankel singular values of each channel's system (for discrete ``bsp``: of the kernel
        system).
    error_bound : (H,) ndarray or None
        ``2 * sum(hsv[h, r_h:])`` for ``bt`` and ``bsp``; ``None`` otherwise.
    scores : (H, N) ndarray or None
        ``modal``: the score of every mode.
    converged : (H,) ndarray of bool or None
        ``h2`` and ``kernel``: whether IRKA (the kernel fit) converged for the channel (channels
        of order 0 or ``N`` count as converged).
    """

    system: DiagonalLTI
    skip: np.ndarray
    states: np.ndarray
    hsv: np.ndarray
    error_bound: np.ndarray | None
    scores: np.ndarray | None
    converged: np.ndarray | None


def kernel_system(sys: DiagonalLTI) -> DiagonalLTI:
    """The kernel's system ``K(z) = sum_k h[k+1] z^-k`` of a discrete diagonal system ``G``.

    Parameters
    ----------
    sys : DiagonalLTI
        Discrete, ``(diag(z), B, C, D)``; ``D`` is ignored.

    Returns
    -------
    DiagonalLTI
        ``(diag(z), B, C diag(z), C B)``: Markov parameters ``C B, C z B, C z^2 B, ...``, i.e.
        ``h[1], h[2], ...`` of ``sys``; the same log-poles.
    """
    C = sys.C * sys.poles[..., None, :]
    return DiagonalLTI.from_log_poles(sys.log_poles, sys.B, C, sys.C @ sys.B, sys.dt)


def reduction_system(sys: DiagonalLTI, reducer: str) -> DiagonalLTI:
    """The system whose Hankel singular values ``reducer`` truncates (and whose bound it reports).

    :func:`kernel_system` of ``sys`` for ``"bsp"`` in discrete time (see the module docstring),
    ``sys`` itself otherwise.  The one place this is decided: the reduction, its order choice and
    the ``"hsv"`` allocation of :func:`mor_torch.compress` all use it.

    Parameters
    ----------
    sys : DiagonalLTI
        A layer's system in the form of the module docstring.
    reducer : {"bt", "bsp", "modal", "h2"}
        The method.

    Returns
    -------
    DiagonalLTI
    """
    return kernel_system(sys) if reducer == "bsp" and sys.dt is not None else sys


def reduction_hsv(sys: DiagonalLTI, reducer: str, horizon: int | None = None) -> np.ndarray:
    """Hankel singular values of :func:`reduction_system`, ``(H, N)`` (``(1, N)`` for shared poles).

    Parameters
    ----------
    sys : DiagonalLTI
        A layer's system in the form of the module docstring.
    reducer : {"bt", "bsp", "modal", "h2"}
        The method.
    horizon : int, optional
        Time-limited values over that many steps (:func:`mor.hankel_singular_values`).

    Returns
    -------
    (H, N) ndarray
    """
    return np.atleast_2d(hankel_singular_values(reduction_system(sys, reducer), horizon=horizon))


@dataclass
class _Group:
    """One batched reduction: reduced systems (input form), skip corrections, padding, extras."""

    system: DiagonalLTI
    skip: np.ndarray  # (..., p, m)
    padded: np.ndarray  # (..., k) bool
    scores: np.ndarray | None = None
    converged: np.ndarray | None = None


#: ``1 / |z|`` of a reduced pole above which the residues ``c b / z`` cancel against the skip.
_MAX_INVERSE_POLE = 1e6


def _from_kernel_form(red: DiagonalLTI) -> tuple[DiagonalLTI, np.ndarray]:
    """A reduced kernel system ``(z, b, c, D_r)`` as residues ``c b / z`` plus a skip correction."""
    inverse = np.exp(-red.log_poles)
    if np.any(np.abs(inverse) > _MAX_INVERSE_POLE):
        warnings.warn(
            AccuracyWarning(
                "bsp: a reduced pole is within 1e-6 of z = 0; its residue c b / z and the skip correction cancel, "
                "and the layer's first kernel tap loses accuracy accordingly"
            ),
            stacklevel=5,
        )
    C = red.C * inverse[..., None, :]
    skip = np.real(red.D - C @ red.B)
    return DiagonalLTI.from_log_poles(red.log_poles, red.B, C, np.zeros_like(skip), red.dt), skip


def _zero_skip(sys: DiagonalLTI) -> np.ndarray:
    return np.zeros(sys.batch_shape + (sys.p, sys.m))


def _bsp(sys: DiagonalLTI, k: int, method: str) -> _Group:
    res = balanced_truncation(reduction_system(sys, "bsp"), k, method=method, match_dc=True)
    if sys.dt is not None:
        red, skip = _from_kernel_form(res.reduced)
    else:
        red, skip = res.reduced, np.real(res.reduced.D)
    return _Group(red, skip, res.padded)


def _kernel_fit(sys: DiagonalLTI, k: int, length: int) -> _Group:
    """``kernel``: the least-squares fit of the layer's kernel ``Re(h[1..L])``, from balanced truncation."""
    with warnings.catch_warnings():  # non-convergence is counted per channel and reported once
        warnings.filterwarnings("ignore", message="finite_length_reduction: .* converge", category=AccuracyWarning)
        res = finite_length_reduction(sys, k, length=length, real_output=True)
    return _Group(res.reduced, _zero_skip(sys), np.zeros(res.reduced.poles.shape, bool), converged=res.converged)


def _reduce_group(
    sys: DiagonalLTI, k: int, reducer: str, method: str, horizon: int | None, score: str, length: int | None
) -> _Group:
    """Reduce every member of ``sys`` (``D = 0``) to order ``k`` (``1 <= k < n``)."""
    if reducer == "kernel":
        return _kernel_fit(sys, k, length)
    if reducer == "bt":
        res = balanced_truncation(sys, k, method=method, horizon=horizon)
        return _Group(res.reduced, _zero_skip(sys), res.padded)
    if reducer == "bsp":
        return _bsp(sys, k, method)
    if reducer == "modal":
        res = modal_truncation(sys, k, score=score)
        return _Group(res.reduced, _zero_skip(sys), np.zeros(res.kept.shape, bool), scores=res.scores)
    with warnings.catch_warnings():  # non-convergence is counted per channel and reported once
        warnings.filterwarnings("ignore", message="IRKA: .* did not converge", category=AccuracyWarning)
        res = irka(sys, k)
    return _Group(res.reduced, _zero_skip(sys), res.padded, converged=np.asarray(res.converged))


_ITERATION = {"h2": "h2 (IRKA)", "kernel": "kernel (the least-squares fit)"}


def _check_kernel_request(sys: DiagonalLTI, reducer: str, length: int | None) -> None:
    if reducer != "kernel":
        return
    if length is None:
        raise ArgumentConflictError("reducer='kernel' needs length= (the kernel length L the fit covers)")
    if sys.dt is None:
        raise SystemTypeError("reducer='kernel' fits the discrete (zero-order-hold) kernel; got a continuous system")


def _warn_unconverged(converged: np.ndarray | None, reducer: str, mimo: bool) -> None:
    """One :class:`~mor.errors.AccuracyWarning` for the members an iterative reducer left unconverged."""
    if converged is None or converged.all():
        return
    what = "the layer's MIMO system" if mimo else f"{int((~converged).sum())} of {converged.size} channels"
    warnings.warn(AccuracyWarning(f"{_ITERATION[reducer]} did not converge for {what}"), stacklevel=4)


def _dc_skip(sys: DiagonalLTI, reducer: str) -> np.ndarray:
    """The skip correction of order 0, ``(..., p, m)``: for ``bsp`` the DC gain, real part (discrete
    time: the kernel's, ``K(1) = sum C B / (1 - z)``); zero for the other reducers."""
    if reducer != "bsp":
        return _zero_skip(sys)
    return np.real(modal_dc_gain(sys))


def _check_orders(orders: Any, sys: DiagonalLTI) -> np.ndarray:
    """Per-channel orders as an ``(H,)`` int array in ``[0, N]``."""
    arr = np.asarray(orders)
    if arr.shape != sys.batch_shape or len(sys.batch_shape) != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise DimensionError(
            f"per-channel orders must be an integer array of shape {sys.batch_shape} (one per channel), got "
            f"{arr.dtype} {arr.shape}"
        )
    if np.any(arr < 0) or np.any(arr > sys.n):
        raise OrderError(f"per-channel orders must lie in [0, {sys.n}], got {arr.min()} .. {arr.max()}")
    return arr.astype(int)


def _check_hsv(hsv: Any, sys: DiagonalLTI) -> np.ndarray:
    """Given Hankel singular values: ``(H, N)`` for a batch, ``(1, N)`` for one system."""
    hsv = np.asarray(hsv)
    shape = ((sys.batch_shape[0] if sys.batch_shape else 1), sys.n)
    if hsv.shape != shape:
        raise DimensionError(f"hsv must have shape {shape} (one row per channel), got {hsv.shape}")
    return hsv


def _without_skip(sys: DiagonalLTI) -> DiagonalLTI:
    zero = np.zeros(sys.batch_shape + (sys.p, sys.m))
    if sys.dt is None:
        return DiagonalLTI(sys.poles, sys.B, sys.C, zero)
    return DiagonalLTI.from_log_poles(sys.log_poles, sys.B, sys.C, zero, sys.dt)


def _nodes(sys: DiagonalLTI) -> np.ndarray:
    return sys.poles if sys.dt is None else sys.log_poles


def _assemble(sys: DiagonalLTI, orders: np.ndarray, groups: dict[int, tuple[np.ndarray, _Group | None]]) -> tuple:
    """One ``(H, max(orders))`` system from the groups, padded; ``(system, skip, states)``."""
    H, width = orders.size, max(1, int(orders.max()))
    nodes = np.repeat(_nodes(sys)[:, :1], width, axis=1)  # padding: each channel's first pole
    residues = np.zeros((H, width), complex)
    skip, states = np.zeros(H), np.zeros(H, int)
    for k, (idx, group) in groups.items():
        if group is None:  # order 0 (nothing) or N (the channel itself)
            if k:
                nodes[idx, :k], residues[idx, :k] = _nodes(sys)[idx], sys.C[idx, 0, :] * sys.B[idx, :, 0]
            states[idx] = k
            continue
        red = group.system
        kk = red.n  # balanced truncation may cap the order at the numerical rank
        nodes[idx, :kk], residues[idx, :kk] = _nodes(red), red.C[:, 0, :] * red.B[:, :, 0]
        skip[idx] = group.skip[:, 0, 0]
        states[idx] = kk - group.padded.sum(axis=-1)
    B, C = np.ones((H, width, 1)), residues[:, None, :]
    if sys.dt is None:
        return DiagonalLTI(nodes, B, C), skip, states
    return DiagonalLTI.from_log_poles(nodes, B, C, None, sys.dt), skip, states


def _per_channel(sys, orders, reducer, method, horizon, score, length):
    """Group the channels by order; ``(system, skip, states, scores, converged)``."""
    H, n = orders.size, sys.n
    groups: dict[int, tuple[np.ndarray, _Group | None]] = {}
    scores = np.full((H, n), np.nan) if reducer == "modal" else None
    converged = np.ones(H, bool) if reducer in ITERATIVE else None
    extra_skip = np.zeros(H)
    for k in np.unique(orders):
        idx = np.flatnonzero(orders == k)
        k = int(k)
        if k in (0, n):
            groups[k] = (idx, None)
            if k == 0:
                extra_skip[idx] = _dc_skip(sys[idx], reducer)[:, 0, 0]
            continue
        group = _reduce_group(sys[idx], k, reducer, method, horizon, score, length)
        groups[k] = (idx, group)
        if group.scores is not None:
            scores[idx] = group.scores
        if group.converged is not None:
            converged[idx] = group.converged
    system, skip, states = _assemble(sys, orders, groups)
    return system, skip + extra_skip, states, scores, converged


def reduce_channels(
    sys: DiagonalLTI, orders: Any, reducer: str = "bt", *, method: str = "bfsr", horizon: int | None = None,
    score: str = "hinf", length: int | None = None, hsv: np.ndarray | None = None,
) -> ChannelReduction:  # fmt: skip
    """Reduce a layer's system with one method, to one order or one order per channel.

    Parameters
    ----------
    sys : DiagonalLTI
        The layer's system in the form of the module docstring: a batch ``(H,)`` of SISO systems,
        or one single-input ``H``-output system (shared poles).  Its ``D`` is ignored.
    orders : int or (H,) array of int
        One order ``1 <= r <= N`` for every channel, or (batch input only) one per channel in
        ``[0, N]``.
    reducer : {"bt", "bsp", "modal", "h2", "kernel"}
        The method (see the module docstring).
    method : {"bfsr", "sr"}
        Projection of ``bt`` and ``bsp``.
    horizon : int, optional
        ``bt`` only: finite-horizon Gramians over that many steps (no bound).
    score : {"hinf", "h2"}
        ``modal`` only: the score that ranks the modes.
    length : int, optional
        ``kernel`` only (and required there): the kernel length ``L`` the fit covers.
    hsv : (H, N) ndarray, optional
        :func:`reduction_hsv` of ``sys`` for ``reducer`` and ``horizon`` when the caller has them
        already (they are computed otherwise).

    Returns
    -------
    ChannelReduction

    Raises
    ------
    ArgumentConflictError
        ``kernel`` without ``length``.
    SystemTypeError
        ``kernel`` on a continuous-time system (the kernel is the zero-order-hold system's).
    """
    check_choice(reducer, "reducer", REDUCERS)
    _check_kernel_request(sys, reducer, length)
    sys = _without_skip(sys)
    hsv = reduction_hsv(sys, reducer, horizon) if hsv is None else _check_hsv(hsv, sys)
    channels = sys.batch_shape[0] if sys.batch_shape else sys.p
    if np.ndim(orders) == 0:  # one order: one batched call (also for shared poles)
        k = int(orders)
        if k == sys.n:
            system, skip, states = sys, _zero_skip(sys), np.full(channels, k)
            scores, converged = None, None
        else:
            group = _reduce_group(sys, k, reducer, method, horizon, score, length)
            system, skip, scores = group.system, group.skip, group.scores
            states = np.broadcast_to(group.system.n - group.padded.sum(axis=-1), (channels,)).copy()
            converged = None if group.converged is None else np.atleast_1d(group.converged)
        orders_arr = np.full(hsv.shape[0], k)
        skip = np.reshape(skip, -1)
    else:
        orders_arr = _check_orders(orders, sys)
        system, skip, states, scores, converged = _per_channel(sys, orders_arr, reducer, method, horizon, score, length)
    _warn_unconverged(converged, reducer, mimo=False)
    bound = None
    if reducer in BOUNDED and horizon is None:
        bound = truncation_bound(hsv, np.broadcast_to(orders_arr, hsv.shape[:1]))
    return ChannelReduction(system, skip, states, hsv, bound, scores, converged)


def reduce_mimo(
    sys: DiagonalLTI, order: int, reducer: str = "bt", *, method: str = "bfsr", horizon: int | None = None,
    score: str = "hinf", length: int | None = None, hsv: np.ndarray | None = None,
) -> ChannelReduction:  # fmt: skip
    """Reduce one MIMO layer system (the S5 and LRU layers: ``m`` inputs, ``p`` outputs, shared modes).

    Parameters
    ----------
    sys : DiagonalLTI
        Unbatched, ``(diag(z), B, C)`` in the form of the module docstring; its ``D`` is ignored.
    order : int
        ``0 <= r <= n`` states for the whole layer (``0``: no state; for ``bsp`` the DC gain goes to
        the skip).
    reducer, method, horizon, score, length
        As for :func:`reduce_channels`; ``kernel`` fits the real part of all ``p x m`` kernels
        ``Re(h[1..L])`` at once (one member of :func:`mor.finite_length_reduction`, which refuses a
        system whose Jacobian would be too large with :class:`~mor.errors.MemoryLimitError`).
    hsv : (1, N) ndarray, optional
        :func:`reduction_hsv` of ``sys`` for ``reducer`` and ``horizon`` when the caller has them
        already (they are computed otherwise).

    Returns
    -------
    ChannelReduction
        ``skip`` is the real ``(p, m)`` correction of the layer's feedthrough; ``states``,
        ``error_bound`` and ``converged`` have one entry (the layer is one system), ``hsv`` and
        ``scores`` one row.
    """
    check_choice(reducer, "reducer", REDUCERS)
    if sys.batch_shape != ():
        raise DimensionError(f"reduce_mimo takes one unbatched system, got batch shape {sys.batch_shape}")
    _check_kernel_request(sys, reducer, length)
    sys = _without_skip(sys)
    hsv = reduction_hsv(sys, reducer, horizon) if hsv is None else _check_hsv(hsv, sys)
    order = int(order)
    scores = converged = None
    if order == sys.n:
        system, skip, states = sys, _zero_skip(sys), sys.n
    elif order == 0:
        system = _empty_system(sys)
        skip = _dc_skip(sys, reducer)
        states = 0
    else:
        group = _reduce_group(sys, order, reducer, method, horizon, score, length)
        system, skip = group.system, group.skip
        states = group.system.n - int(np.sum(group.padded))
        scores = None if group.scores is None else np.atleast_2d(group.scores)
        converged = None if group.converged is None else np.atleast_1d(group.converged)
    _warn_unconverged(converged, reducer, mimo=True)
    bound = truncation_bound(hsv, np.array([order])) if reducer in BOUNDED and horizon is None else None
    return ChannelReduction(system, skip, np.array([states]), hsv, bound, scores, converged)


def _empty_system(sys: DiagonalLTI) -> DiagonalLTI:
    """The system with no state (the same inputs, outputs and time base)."""
    B, C = np.zeros((0, sys.m), complex), np.zeros((sys.p, 0), complex)
    if sys.dt is None:
        return DiagonalLTI(np.zeros(0, complex), B, C)
    return DiagonalLTI.from_log_poles(np.zeros(0, complex), B, C, None, sys.dt)
