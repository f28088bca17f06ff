"""Reduction of DSS layers and of whole models: balanced truncation, balanced singular perturbation,
modal truncation or H2-optimal reduction, to one order, one order per channel, or a model-wide
budget of states.

Every layer is reduced by batched calls of :mod:`mor` (:mod:`mor_torch.reducers`): one call for
one order, one per distinct order for per-channel orders -- no Python loop over channels.
``reducer`` is ``"bt"`` (balanced truncation, the default), ``"bsp"`` (balanced singular
perturbation: the DC gain kept exactly, the same bound), ``"modal"`` (per channel the ``r`` modes
whose single-mode subsystems have the largest H-infinity -- or with ``score="h2"`` H2 -- norm, the
layer's own poles; no error bound), ``"h2"`` (IRKA: H2-optimal; no a-priori bound) or ``"kernel"``
(the least-squares fit of the layer's kernel over its length ``L``, started from balanced truncation
and never worse than it there; stable by construction; no a-priori bound).
:func:`compress` with ``budget=S`` allocates ``S`` states across all layers and channels
(:mod:`mor_torch.allocate`) and reduces every layer to its allocated per-channel orders.  Options:

``structure="channel"`` (default; the choice of Ezoe & Sato)
    The ``H`` channels as ``H`` SISO systems (batch shape ``(H,)``).  The reduced layer has
    per-channel poles ``(H, r)`` (``shared_poles=False``).
``structure="shared"``
    The layer as one single-input, ``H``-output system (``B = 1``, row ``h`` of ``C`` is channel
    ``h``); the reduced layer keeps shared poles ``(r,)``.  Needs a shared-pole layer.  Because
    the channels have different steps ``Delta_h``, their discrete systems have different poles:
    ``gramians="discrete"`` and ``"finite"`` are accepted only when all steps are equal
    (:class:`~mor.errors.MethodError` otherwise); ``"continuous"`` always works.

``gramians="discrete"`` (default)
    Infinite-horizon Gramians of the zero-order-hold system the layer computes (the reduced
    kernel error then obeys the bound: ``||y - y_r||_2 <= bound_h ||u||_2`` per channel, for any
    input, and in particular the l2 norm of the kernel error is at most ``bound_h``).
``gramians="continuous"``
    Gramians of ``(diag(lambda), 1, C)``, independent of ``Delta``; the bound holds for the
    continuous transfer functions.
``gramians="finite"``
    Time-limited discrete Gramians over the kernel length ``L`` (``horizon=L``): matched to the
    length-``L`` kernel and defined for the growing modes DSS_SOFTMAX may learn; no a-priori
    error bound (``error_bound`` is ``None``).

Infinite-horizon Gramians of a layer with a growing mode (``Re lambda >= 0``) raise
:class:`LayerUnstableError`, naming the layer, channel and mode.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from mor import DiagonalLTI, check_stable, hankel_singular_values
from mor.errors import InvalidArgumentError, MethodError, OrderError, SystemTypeError, UnstableSystemError
from mor.modal import modal_scores
from mor.validation import check_choice, check_int, check_real

from ._tensors import to_numpy
from .allocate import ALLOCATIONS, allocate_states, normalise_scores
from .convert import from_lti, to_lti
from .dss import DSS
from .errors import LayerUnstableError
from .reducers import REDUCERS, kernel_system, reduce_channels

__all__ = [
    "ALLOCATIONS",
    "DEFAULT_METHOD",
    "GRAMIANS",
    "METHODS",
    "REDUCERS",
    "SCORES",
    "STRUCTURES",
    "CompressionReport",
    "LayerReduction",
    "compress",
    "reduce_layer",
]

log = logging.getLogger(__name__)

#: Gramian choices (see the module docstring).
GRAMIANS = ("discrete", "continuous", "finite")
#: System structures of a layer (see the module docstring).
STRUCTURES = ("channel", "shared")
#: Projection methods of :func:`mor.balanced_truncation`.
METHODS = ("bfsr", "sr")
#: Mode scores of the modal reducer: H-infinity or H2 norm of each mode's subsystem.
SCORES = ("hinf", "h2")
#: The adapter's default projection.  ``mor.balanced_truncation`` defaults to ``"sr"``, which returns
#: a balanced realisation; a reduced layer is re-diagonalised, so the balancing is lost anyway, and
#: the balancing-free projection's better conditioning gives better-conditioned eigenvectors.
DEFAULT_METHOD = "bfsr"


@dataclass(frozen=True)
class LayerReduction:
    """What :func:`reduce_layer` did to one layer.

    Attributes
    ----------
    name : str
        Layer name.
    order, original_order : int
        New and old state size ``r`` and ``N``.
    hsv : (H, N) ndarray, or (1, N) for ``structure="shared"``
        Hankel singular values (per channel, decreasing).
    error_bound : (H,) ndarray, (1,) for ``"shared"``, or None
        ``2 * sum(hsv[..., r:])``: bound of the H-infinity norm of each channel's error system
        (for ``"shared"`` of the whole ``H``-output error system, so of every channel).
        ``None`` for ``gramians="finite"``.
    gramians, structure, method, mode : str
    length : int or None
        Kernel length used (softmax conversion, finite horizon).
    shared_poles : bool
        Layout of the new layer.
    reducer : str
        One of :data:`REDUCERS`.
    scores : (H, N) ndarray or None
        ``reducer="modal"``: the score of every mode (see :mod:`mor.modal`).
    orders : (H,) ndarray of int or None
        States per channel that are not padding (a channel of lower order than the layer's
        ``order`` is padded with decoupled zero-weight modes, see :mod:`mor_torch.reducers`).
    converged : (H,) ndarray of bool or None
        ``reducer="h2"`` or ``"kernel"``: whether IRKA (the kernel fit) converged for each channel.
    score : str or None
        ``reducer="modal"``: ``"hinf"`` or ``"h2"``.

    Notes
    -----
    The bound covers one channel's linear map (its kernel plus skip: ``||y_h - y_r,h||_2 <=
    bound_h ||u_h||_2`` for every input of that layer); it does not cover the whole nonlinear
    model.  For ``reducer="bsp"`` with discrete Gramians it is the bound of the kernel's own
    system (:func:`mor_torch.reducers.kernel_system`), whose Hankel singular values ``hsv`` holds.
    """

    name: str
    order: int
    original_order: int
    hsv: np.ndarray
    error_bound: np.ndarray | None
    gramians: str
    structure: str
    method: str
    mode: str
    length: int | None
    shared_poles: bool
    reducer: str = "bt"
    scores: np.ndarray | None = None
    orders: np.ndarray | None = None
    converged: np.ndarray | None = None
    score: str | None = None

    @property
    def states(self) -> int:
        """Real (non-padding) states of the layer, summed over its channels."""
        return int(np.sum(self.orders)) if self.orders is not None else self.order * self.hsv.shape[0]


@dataclass
class CompressionReport:
    """Per-layer reports of :func:`compress` (``layers[name]``) and the options used.

    Parameters
    ----------
    layers : dict of str to LayerReduction
        One report per reduced DSS layer, keyed by the module name.
    options : dict
        The reduction options that were used.
    """

    layers: dict[str, LayerReduction] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, name: str) -> LayerReduction:
        return self.layers[name]

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def states(self) -> int:
        """Real states of all reduced layers (per-channel states summed over channels and layers)."""
        return sum(rep.states for rep in self.layers.values())

    def summary(self) -> str:
        """A plain-text table: layer, N -> r, states kept, largest bound, sigma_1, sigma_{r+1}."""
        rows = [f"{'layer':<32} {'N':>5} {'r':>5} {'states':>7} {'max bound':>11} {'sigma_1':>11} {'sigma_r+1':>11}"]
        for name, rep in self.layers.items():
            bound = "-" if rep.error_bound is None else f"{np.max(rep.error_bound):.3e}"
            nxt = rep.hsv[:, rep.order] if rep.order < rep.hsv.shape[1] else np.zeros(1)
            rows.append(
                f"{name:<32} {rep.original_order:>5} {rep.order:>5} {rep.states:>7} {bound:>11} "
                f"{np.max(rep.hsv[:, 0]):>11.3e} {np.max(nxt):>11.3e}"
            )
        return "\n".join(rows)


def _check_layer_stable(layer: DSS, name: str, gramians: str) -> None:
    """Infinite-horizon Gramians need ``Re(lambda) < 0``: :func:`mor.check_stable`, re-raised naming the layer."""
    lam = to_numpy(layer.poles()).astype(np.complex128)
    ones = np.ones(lam.shape + (1,))
    try:
        check_stable(DiagonalLTI(lam, ones, np.swapaxes(ones, -1, -2)), f"{gramians} Gramians (infinite horizon)")
    except UnstableSystemError as exc:
        first = exc.index[0]
        channel, mode = (None, first[0]) if layer.shared_poles else first
        where = "every channel (shared poles)" if channel is None else f"channel {channel}"
        raise LayerUnstableError(
            f"layer {name!r}: {where}, mode {mode}: lambda = {lam[first]:.6g} has Re(lambda) >= 0 "
            f"({len(exc.index)} growing mode(s) in total); {gramians} Gramians (infinite horizon) need a "
            "stable layer: use gramians='finite' (time-limited over the kernel length)",
            layer=name,
            channel=channel,
            mode=mode,
            poles=exc.poles,
            index=exc.index,
        ) from None


def _shared_system(layer: DSS, gramians: str, length: int | None, name: str) -> DiagonalLTI:
    """The layer as one single-input, ``H``-output system (``structure="shared"``)."""
    if not layer.shared_poles:
        raise MethodError(
            f"layer {name!r}: structure='shared' needs a shared-pole layer (this one has per-channel poles)"
        )
    time = "continuous" if gramians == "continuous" else "discrete"
    sys = to_lti(layer, time=time, length=length)
    H = layer.d_model
    if time == "discrete":
        step = to_numpy(layer.step())
        if not np.all(step == step[0]):
            raise MethodError(
                f"layer {name!r}: structure='shared' with {gramians!r} Gramians needs one step Delta for "
                "all channels (different steps give different discrete poles); use gramians='continuous' "
                "or structure='channel'"
            )
        return DiagonalLTI.from_log_poles(sys.log_poles[0], sys.B[0], sys.C[:, 0, :], np.zeros((H, 1)), dt=1.0)
    return DiagonalLTI(sys.poles[0], sys.B[0], sys.C[:, 0, :], np.zeros((H, 1)))


def _layer_system(layer: DSS, gramians: str, structure: str, length: int | None, name: str) -> DiagonalLTI:
    """The system whose Gramians the reduction uses (see the module docstring)."""
    if structure == "shared":
        return _shared_system(layer, gramians, length, name)
    return to_lti(layer, time="continuous" if gramians == "continuous" else "discrete", length=length)


def _energy_order(hsv: np.ndarray, energy: float) -> int:
    """Smallest ``r >= 1`` with ``sum(hsv[:r]) >= energy * sum(hsv)`` for every row."""
    total = hsv.sum(axis=-1, keepdims=True)
    cum = np.cumsum(hsv, axis=-1)
    ok = np.all(cum >= energy * total * (1 - 1e-12), axis=0)  # (N,): order j+1 suffices
    return int(np.argmax(ok)) + 1 if np.any(ok) else hsv.shape[-1]


def _check_order_request(order, tol, energy, gramians: str, length: int | None, reducer: str) -> None:
    if sum(x is not None for x in (order, tol, energy)) != 1:
        raise OrderError("give exactly one of order, tol, energy")
    if reducer != "bt" and gramians == "finite":
        raise InvalidArgumentError(f"reducer={reducer!r} needs infinite-horizon (discrete or continuous) Gramians")
    if reducer == "kernel" and (gramians != "discrete" or length is None):
        raise InvalidArgumentError(
            "reducer='kernel' fits the layer's discrete kernel over its length: it needs gramians='discrete' and "
            f"length= (got gramians={gramians!r}, length={length!r})"
        )
    if tol is not None and reducer not in ("bt", "bsp"):
        raise InvalidArgumentError(f"reducer={reducer!r} has no error bound: choose the order with order= or energy=")
    if energy is not None:
        check_real(energy, "energy", minimum=0.0, maximum=1.0, include_min=False)
    if gramians == "finite" and length is None:
        raise InvalidArgumentError("gramians='finite' needs length= (the kernel length, the Gramians' horizon)")


def _reduced_layer(reduced: Any, layer: DSS, length: int | None, name: str, skip: np.ndarray) -> DSS:
    """The reduced system back as a DSS layer of ``layer``'s mode, steps, device and dtype; its skip is
    ``layer.D + skip``."""
    D = to_numpy(layer.D).astype(np.float64) + skip if np.any(skip) else None
    try:
        new = from_lti(reduced, mode=layer.mode, length=length, template=layer, D=D)
    except UnstableSystemError as exc:
        first = exc.index[0] if exc.index else (-1,)
        raise LayerUnstableError(
            f"layer {name!r}: the reduced system has growing modes, which DSS_EXP cannot represent "
            f"({exc}); lower the order, use gramians='discrete' or a softmax layer",
            layer=name,
            channel=first[0] if len(first) == 2 else None,
            mode=first[-1],
            poles=exc.poles,
            index=exc.index,
        ) from exc
    old = dict(layer.named_parameters())
    for pname, p in new.named_parameters():
        if pname in old:
            p.requires_grad_(old[pname].requires_grad)
    return new.train(layer.training)


def _order_choice(sys: DiagonalLTI, reducer: str, horizon: int | None, tol, energy) -> int:
    """The one order meeting ``tol`` (bound per channel) or ``energy`` (fraction of ``sum(hsv)``)."""
    target = kernel_system(sys) if reducer == "bsp" and sys.dt is not None else sys
    hsv = np.atleast_2d(hankel_singular_values(target, horizon=horizon))
    if energy is not None:
        return _energy_order(hsv, float(energy))
    tails = 2 * np.cumsum(hsv[:, ::-1], axis=-1)[:, ::-1]  # tails[:, r] = 2 sum(hsv[:, r:])
    tails = np.concatenate([tails, np.zeros((hsv.shape[0], 1))], axis=1)  # order N: no error
    ok = np.all(tails <= check_real(tol, "tol", minimum=0.0), axis=0)
    ok[0] = False  # at least one state
    return int(np.argmax(ok))


def reduce_layer(
    layer: DSS,
    order: int | np.ndarray | None = None,
    *,
    tol: float | None = None,
    energy: float | None = None,
    gramians: str = "discrete",
    structure: str = "channel",
    length: int | None = None,
    method: str = DEFAULT_METHOD,
    reducer: str = "bt",
    score: str = "hinf",
    name: str = "layer",
) -> tuple[DSS, LayerReduction]:
    """Reduce one DSS layer (balanced truncation by default) to state size ``order``.

    Parameters
    ----------
    layer : DSS
        Left untouched.
    order : int or (H,) array of int, optional
        New state size ``r``, or one order per channel in ``[0, N]`` (``structure="channel"``;
        the layer gets ``max(order)`` states per channel, channels with fewer are padded with
        decoupled zero-weight modes, see :mod:`mor_torch.reducers`).  Exactly one of ``order``,
        ``tol``, ``energy``.
    tol : float, optional
        ``reducer="bt"`` or ``"bsp"``: the smallest ``r`` with ``2 * sum(hsv[h, r:]) <= tol``
        for every channel (the H-infinity error bound; for ``gramians="finite"`` the same formula
        on the time-limited values, without guarantee).
    energy : float in (0, 1], optional
        Smallest ``r`` keeping the fraction ``energy`` of ``sum(hsv)`` in every channel.
    gramians : {"discrete", "continuous", "finite"}
        See the module docstring; ``"finite"`` with ``reducer="bt"`` only.
    structure : {"channel", "shared"}
        See the module docstring.
    length : int, optional
        Kernel length ``L``: required for DSS_SOFTMAX, for ``gramians="finite"`` and for
        ``reducer="kernel"``.
    method : {"bfsr", "sr"}
        Balancing-free square root (:data:`DEFAULT_METHOD`, see there why it differs from
        :func:`mor.balanced_truncation`'s default) or square root, for ``"bt"`` and ``"bsp"``.
    reducer : {"bt", "bsp", "modal", "h2", "kernel"}
        Balanced truncation, balanced singular perturbation (DC gain kept; the layer's ``D``
        absorbs the reduced feedthrough), modal truncation (:func:`mor.modal_truncation`, the
        layer's own poles), IRKA (:func:`mor.irka`) or the least-squares fit of the layer's
        kernel over ``length`` samples from balanced truncation
        (:func:`mor.finite_length_reduction`; needs ``length`` and ``gramians="discrete"``); see
        :mod:`mor_torch.reducers`.
    score : {"hinf", "h2"}
        ``reducer="modal"``: rank the modes by the H-infinity or the H2 norm of their subsystems.
    name : str
        Used in reports and error messages.

    Returns
    -------
    new_layer : DSS
        State size ``r``; ``log_step`` and ``eps`` copied from ``layer``, ``D`` copied (plus the
        singular perturbation's correction for ``"bsp"``), same mode, device and dtype;
        per-channel poles for ``structure="channel"``.
    report : LayerReduction
    """
    if not isinstance(layer, DSS):
        raise SystemTypeError(f"reduce_layer expects a mor_torch.DSS layer, got {type(layer).__name__}")
    check_choice(gramians, "gramians", GRAMIANS)
    check_choice(structure, "structure", STRUCTURES)
    check_choice(method, "method", METHODS)
    check_choice(reducer, "reducer", REDUCERS)
    check_choice(score, "score", SCORES)
    _check_order_request(order, tol, energy, gramians, length, reducer)
    if np.ndim(order) == 1 and structure != "channel":
        raise MethodError("per-channel orders need structure='channel'")
    if gramians != "finite":
        _check_layer_stable(layer, name, gramians)
    horizon = length if gramians == "finite" else None
    sys = _layer_system(layer, gramians, structure, length, name)
    if order is None:
        order = _order_choice(sys, reducer, horizon, tol, energy)
    elif np.ndim(order) == 0:
        order = check_int(order, f"order (N = {layer.d_state})", minimum=1, maximum=layer.d_state, error=OrderError)
    red = reduce_channels(
        sys, order, reducer, method=method, horizon=horizon, score=score, length=length if reducer == "kernel" else None
    )
    new = _reduced_layer(red.system, layer, length, name, red.skip)
    report = LayerReduction(
        name=name, order=new.d_state, original_order=layer.d_state, hsv=red.hsv, error_bound=red.error_bound,
        gramians=gramians, structure=structure, method=method, mode=layer.mode, length=length,
        shared_poles=new.shared_poles, reducer=reducer, scores=red.scores, orders=red.states,
        converged=red.converged, score=score if reducer == "modal" else None,
    )  # fmt: skip
    log.info("reduced %s (%s): N=%d -> r=%d, %d states (%s, %s)", name, reducer, layer.d_state, new.d_state,
             report.states, gramians, structure)  # fmt: skip
    return new, report


def _replace_module(model: nn.Module, name: str, new: nn.Module) -> nn.Module:
    """``model`` with its submodule ``name`` replaced (the new module itself for ``name == ""``)."""
    if name == "":
        return new
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
    return model


_OPTIONS = ("gramians", "structure", "length", "method", "reducer", "score")


def _raw_scores(layer: DSS, name: str, allocation: str, options: dict[str, Any]) -> np.ndarray:
    """``(H, N)`` scores of one layer's states for an allocation (see :mod:`mor_torch.allocate`)."""
    gramians, length = options.get("gramians", "discrete"), options.get("length")
    if gramians == "finite":
        raise MethodError("a budget needs infinite-horizon Gramians (gramians='discrete' or 'continuous')")
    _check_layer_stable(layer, name, gramians)
    sys = _layer_system(layer, gramians, "channel", length, name)
    if allocation == "hsv":
        target = kernel_system(sys) if options.get("reducer", "bt") == "bsp" and sys.dt is not None else sys
        return np.atleast_2d(hankel_singular_values(target))
    discrete = sys.dt is not None
    return modal_scores(sys.poles, sys.B, sys.C, discrete=discrete, score="hinf" if allocation == "last" else "h2",
                        log_poles=sys.log_poles if discrete else None)  # fmt: skip


def _budget_orders(layers: list[tuple[str, DSS]], budget: Any, allocation: str, options: dict) -> dict[str, np.ndarray]:
    """Per-channel orders of every layer: the ``budget`` states of largest normalised score."""
    if options.get("structure", "channel") != "channel":
        raise MethodError("a budget allocates per-channel orders: it needs structure='channel'")
    scores = [normalise_scores(_raw_scores(layer, name or "<model>", allocation, options), allocation)
              for name, layer in layers]  # fmt: skip
    orders = allocate_states(scores, budget)
    return {name: r for (name, _), r in zip(layers, orders, strict=True)}


def compress(
    model: nn.Module,
    order: int | dict[str, Any] | None = None,
    *,
    tol: float | None = None,
    energy: float | None = None,
    budget: int | None = None,
    allocation: str = "hsv",
    **options: Any,
) -> tuple[nn.Module, CompressionReport]:
    """Reduce every DSS layer of a model (balanced truncation by default).

    Parameters
    ----------
    model : nn.Module
        Left untouched; the result is a deep copy whose DSS layers (found with
        ``named_modules``) are replaced by their reduced versions.  A model that describes
        itself from its layers (as :class:`mor_torch.lra.model.SequenceClassifier` does) then
        describes the reduced sizes, so saving and loading it needs nothing else.
    order : int or dict {layer name: int or (H,) array}, optional
        One order for all layers, or per layer (an order or per-channel orders; layers missing
        from the dict stay as they are; unknown names raise :class:`~mor.errors.OrderError`).
    tol, energy : float, optional
        Choose each layer's order instead (see :func:`reduce_layer`).
    budget : int, optional
        ``S``: keep ``S`` states in all, counted per channel and summed over channels and layers
        (the model has ``sum_l H_l N_l``).  The states of largest normalised score are kept
        (:func:`mor_torch.allocate.allocate_states`); every layer is then reduced to its
        per-channel orders (padded to the layer's largest, see :func:`reduce_layer`).  Exactly one
        of ``order``, ``tol``, ``energy``, ``budget``.
    allocation : {"hsv", "last", "aire"}
        With ``budget``: the scores that share it out (:mod:`mor_torch.allocate`): Hankel singular
        values normalised by the layer's sum (balanced truncation's own ranking, default), or the
        published scores of LAST (H-infinity norms of the modes) or AIRE-Prune (their
        impulse-response energies).  With ``reducer="modal"`` the same score ranks the modes
        kept within a channel (``score`` defaults to ``"hinf"`` for ``"last"`` and ``"hsv"``,
        ``"h2"`` for ``"aire"``).
    **options
        ``gramians``, ``structure``, ``length``, ``method``, ``reducer``, ``score`` for
        :func:`reduce_layer`.

    Returns
    -------
    new_model : nn.Module
    report : CompressionReport
        Per layer the orders (:attr:`LayerReduction.orders`) and error bounds;
        :attr:`CompressionReport.states` the states kept in all.
    """
    if sum(x is not None for x in (order, tol, energy, budget)) != 1:
        raise OrderError("give exactly one of order, tol, energy, budget")
    check_choice(allocation, "allocation", ALLOCATIONS)
    bad = set(options) - set(_OPTIONS)
    if bad:
        raise MethodError(f"unknown compress option(s) {sorted(bad)}; known: {', '.join(_OPTIONS)}")
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, DSS)]
    if isinstance(order, dict):
        unknown = set(order) - {n for n, _ in layers}
        if unknown:
            raise OrderError(f"order names unknown DSS layers {sorted(unknown)}; known: {[n for n, _ in layers]}")
    if not layers:
        log.warning("compress: the model has no DSS layers; returning a copy")
    report = CompressionReport(options=dict(options, order=order, tol=tol, energy=energy, budget=budget,
                                            allocation=allocation if budget is not None else None))  # fmt: skip
    if budget is not None:
        order = _budget_orders(layers, budget, allocation, options)
        if options.get("reducer") == "modal":
            options = {"score": "h2" if allocation == "aire" else "hinf", **options}
    new_model = copy.deepcopy(model)
    for name, layer in layers:
        if isinstance(order, dict) and name not in order:
            continue
        kw = {"order": order[name]} if isinstance(order, dict) else {"order": order, "tol": tol, "energy": energy}
        new_layer, report.layers[name] = reduce_layer(layer, name=name or "<model>", **kw, **options)
        new_model = _replace_module(new_model, name, new_layer)
    return new_model, report
