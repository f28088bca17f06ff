"""Reduction of DSS layers and of whole models: balanced truncation, or modal truncation.

Every layer is reduced with **one** batched call of :func:`mor.balanced_truncation`
(``reducer="bt"``, the default) or :func:`mor.modal_truncation` (``reducer="modal"``: per channel
the ``r`` modes whose single-mode subsystems have the largest H-infinity norm, the layer's own
poles; no error bound) -- no Python loop over channels.  Options:

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

from mor import DiagonalLTI, balanced_truncation, check_stable, hankel_singular_values, modal_truncation
from mor.errors import InvalidArgumentError, MethodError, OrderError, SystemTypeError, UnstableSystemError
from mor.validation import check_choice, check_real

from ._tensors import to_numpy
from .convert import from_lti, to_lti
from .dss import DSS
from .errors import LayerUnstableError

__all__ = [
    "DEFAULT_METHOD",
    "GRAMIANS",
    "METHODS",
    "REDUCERS",
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
#: Reduction methods: balanced truncation, modal truncation (H-infinity scores).
REDUCERS = ("bt", "modal")
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
        ``"bt"`` or ``"modal"``.
    scores : (H, N) ndarray or None
        ``reducer="modal"``: the H-infinity score of every mode (see :mod:`mor.modal`).
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

    def summary(self) -> str:
        """A plain-text table: layer, N -> r, largest bound, sigma_1, sigma_{r+1}."""
        rows = [f"{'layer':<32} {'N':>5} {'r':>5} {'max bound':>11} {'sigma_1':>11} {'sigma_r+1':>11}"]
        for name, rep in self.layers.items():
            bound = "-" if rep.error_bound is None else f"{np.max(rep.error_bound):.3e}"
            nxt = rep.hsv[:, rep.order] if rep.order < rep.hsv.shape[1] else np.zeros(1)
            rows.append(
                f"{name:<32} {rep.original_order:>5} {rep.order:>5} {bound:>11} "
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
    if reducer == "modal" and (order is None or gramians == "finite"):
        raise InvalidArgumentError(
            "reducer='modal' needs order= and infinite-horizon (discrete or continuous) Gramians"
        )
    if energy is not None:
        check_real(energy, "energy", minimum=0.0, maximum=1.0, include_min=False)
    if gramians == "finite" and length is None:
        raise InvalidArgumentError("gramians='finite' needs length= (the kernel length, the Gramians' horizon)")


def _reduced_layer(reduced: Any, layer: DSS, length: int | None, name: str) -> DSS:
    """The reduced system back as a DSS layer of ``layer``'s mode, steps, ``D``, device and dtype."""
    try:
        new = from_lti(reduced, mode=layer.mode, length=length, template=layer)
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


def reduce_layer(
    layer: DSS,
    order: int | None = None,
    *,
    tol: float | None = None,
    energy: float | None = None,
    gramians: str = "discrete",
    structure: str = "channel",
    length: int | None = None,
    method: str = DEFAULT_METHOD,
    reducer: str = "bt",
    name: str = "layer",
) -> tuple[DSS, LayerReduction]:
    """Balanced (or modal) truncation of one DSS layer to state size ``order``.

    Parameters
    ----------
    layer : DSS
        Left untouched.
    order : int, optional
        New state size ``r``.  Exactly one of ``order``, ``tol``, ``energy``.
    tol : float, optional
        Smallest ``r`` with ``2 * sum(hsv[h, r:]) <= tol`` for every channel (the H-infinity
        error bound; for ``gramians="finite"`` the same formula on the time-limited values,
        without guarantee).
    energy : float in (0, 1], optional
        Smallest ``r`` keeping the fraction ``energy`` of ``sum(hsv)`` in every channel.
    gramians : {"discrete", "continuous", "finite"}
    structure : {"channel", "shared"}
        See the module docstring.
    length : int, optional
        Kernel length ``L``: required for DSS_SOFTMAX and for ``gramians="finite"``.
    method : {"bfsr", "sr"}
        Balancing-free square root (:data:`DEFAULT_METHOD`, see there why it differs from
        :func:`mor.balanced_truncation`'s default) or square root.
    reducer : {"bt", "modal"}
        Balanced truncation, or modal truncation (:func:`mor.modal_truncation`; ``order`` only,
        infinite-horizon Gramians only: the ``gramians`` choice then selects continuous or
        discrete scores).
    name : str
        Used in reports and error messages.

    Returns
    -------
    new_layer : DSS
        State size ``r``; ``log_step``, ``D`` and ``eps`` copied from ``layer``, same mode, device
        and dtype; per-channel poles for ``structure="channel"``.
    report : LayerReduction
    """
    if not isinstance(layer, DSS):
        raise SystemTypeError(f"reduce_layer expects a mor_torch.DSS layer, got {type(layer).__name__}")
    check_choice(gramians, "gramians", GRAMIANS)
    check_choice(structure, "structure", STRUCTURES)
    check_choice(method, "method", METHODS)
    check_choice(reducer, "reducer", REDUCERS)
    _check_order_request(order, tol, energy, gramians, length, reducer)
    if gramians != "finite":
        _check_layer_stable(layer, name, gramians)
    horizon = length if gramians == "finite" else None
    sys = _layer_system(layer, gramians, structure, length, name)
    hsv = np.atleast_2d(hankel_singular_values(sys, horizon=horizon)) if reducer == "modal" or energy else None
    if energy is not None:
        order = _energy_order(hsv, float(energy))
    if reducer == "modal":
        res = modal_truncation(sys, order)
        scores, bound = np.atleast_2d(res.scores), None
    else:
        res = balanced_truncation(sys, order, tol=tol, method=method, horizon=horizon)
        hsv, scores = np.atleast_2d(res.hsv), None
        bound = None if res.error_bound is None else np.atleast_1d(np.asarray(res.error_bound, dtype=float))
    new = _reduced_layer(res.reduced, layer, length, name)
    report = LayerReduction(
        name=name, order=int(res.order), original_order=layer.d_state, hsv=hsv, error_bound=bound,
        gramians=gramians, structure=structure, method=method, mode=layer.mode, length=length,
        shared_poles=new.shared_poles, reducer=reducer, scores=scores,
    )  # fmt: skip
    log.info("reduced %s (%s): N=%d -> r=%d (%s, %s)", name, reducer, layer.d_state, res.order, gramians, structure)
    return new, report


def _replace_module(model: nn.Module, name: str, new: nn.Module) -> nn.Module:
    """``model`` with its submodule ``name`` replaced (the new module itself for ``name == ""``)."""
    if name == "":
        return new
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
    return model


def compress(
    model: nn.Module,
    order: int | dict[str, int] | None = None,
    *,
    tol: float | None = None,
    energy: float | None = None,
    **options: Any,
) -> tuple[nn.Module, CompressionReport]:
    """Reduce every DSS layer of a model by balanced truncation.

    Parameters
    ----------
    model : nn.Module
        Left untouched; the result is a deep copy whose DSS layers (found with
        ``named_modules``) are replaced by their reduced versions.  A model that describes
        itself from its layers (as :class:`mor_torch.lra.model.SequenceClassifier` does) then
        describes the reduced sizes, so saving and loading it needs nothing else.
    order : int or dict {layer name: int}, optional
        One order for all layers, or per layer (layers missing from the dict stay as they
        are; unknown names raise :class:`~mor.errors.OrderError`).
    tol, energy : float, optional
        Choose each layer's order instead (see :func:`reduce_layer`).
    **options
        ``gramians``, ``structure``, ``length``, ``method``, ``reducer`` for :func:`reduce_layer`.

    Returns
    -------
    new_model : nn.Module
    report : CompressionReport
    """
    if sum(x is not None for x in (order, tol, energy)) != 1:
        raise OrderError("give exactly one of order, tol, energy")
    bad = set(options) - {"gramians", "structure", "length", "method", "reducer"}
    if bad:
        raise MethodError(
            f"unknown compress option(s) {sorted(bad)}; known: gramians, structure, length, method, reducer"
        )
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, DSS)]
    if isinstance(order, dict):
        unknown = set(order) - {n for n, _ in layers}
        if unknown:
            raise OrderError(f"order names unknown DSS layers {sorted(unknown)}; known: {[n for n, _ in layers]}")
    if not layers:
        log.warning("compress: the model has no DSS layers; returning a copy")
    new_model = copy.deepcopy(model)
    report = CompressionReport(options=dict(options, order=order, tol=tol, energy=energy))
    for name, layer in layers:
        if isinstance(order, dict) and name not in order:
            continue
        kw = {"order": order[name]} if isinstance(order, dict) else {"order": order, "tol": tol, "energy": energy}
        new_layer, report.layers[name] = reduce_layer(layer, name=name or "<model>", **kw, **options)
        new_model = _replace_module(new_model, name, new_layer)
    return new_model, report
