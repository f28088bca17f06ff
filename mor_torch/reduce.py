"""Reduction of layers and of whole models: balanced truncation, balanced singular perturbation,
modal truncation, H2-optimal reduction or the fit of the length-``L`` kernel, to one order, one
order per channel, or a model-wide budget of states.

The layers are those of :mod:`mor_torch.families` (DSS, and S4D, LRU, S5 modules trained elsewhere,
recognised by their parameter names): each family converts its layer to a ``mor`` system and writes
the reduced system back into a module of its own class.  The options below are described for DSS;
S4D layers take the same (``structure="channel"`` only), the MIMO families LRU and S5 are one system
each (discrete or finite-horizon Gramians).

Every layer is reduced by batched calls of :mod:`mor` (:mod:`mor_torch.reducers`): one call for
one order, one per distinct order for per-channel orders -- no Python loop over channels.
``reducer`` is ``"bt"`` (balanced truncation, the default), ``"bsp"`` (balanced singular
perturbation: the DC gain kept exactly, the same bound), ``"modal"`` (per channel the ``r`` modes
whose single-mode subsystems have the largest H-infinity -- or with ``score="h2"`` H2 -- norm, the
layer's own poles; no error bound), ``"h2"`` (IRKA: H2-optimal; no a-priori bound) or ``"kernel"``
(the least-squares fit of the layer's kernel over its length ``L``, started from balanced truncation
and never worse than it there; stable by construction; no a-priori bound).
:func:`compress` with ``budget=S`` allocates ``S`` states across all layers and channels
(:mod:`mor_torch.allocate`) and reduces every layer to its allocated per-channel orders.  A layer's
reduction system (chosen by its family and :func:`mor_torch.reducers.reduction_system`) and its Hankel
singular values are computed once per layer and shared by the budget's scores, the order choice
(:func:`mor.order_for_tolerance`), the reduction and its bound (:func:`mor.truncation_bound`).  Options:

``structure="channel"`` (default; the choice of Ezoe & Sato)
    The ``H`` channels as ``H`` SISO systems (batch shape ``(H,)``).  The reduced layer has
    per-channel poles ``(H, r)`` (``shared_poles=False``).
``structure="shared"``
    The layer as one single-input, ``H``-output system (``B = 1``, row ``h`` of ``C`` is channel
    ``h``); the reduced layer keeps shared poles ``(r,)``.  Needs a shared-pole layer.  Because
    the channels have different steps ``Delta_h``, their discrete systems have different poles:
    ``gramians="discrete"`` and ``"finite"`` are accepted only when all steps are equal
    (:class:`~mor.errors.ArgumentConflictError` otherwise); ``"continuous"`` always works.

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
from functools import cached_property
from typing import Any

import numpy as np
from torch import nn

from mor import DiagonalLTI, order_for_tolerance
from mor.errors import ArgumentConflictError, DimensionError, MethodError, NonFiniteError, OrderError
from mor.reduction.modal import modal_scores
from mor.validation import check_choice, check_int, check_real

from .allocate import ALLOCATIONS, allocate_states, normalise_scores
from .errors import LayerConversionError, NoReducibleLayerError, SharedParameterError, UnknownLayerError
from .families import FAMILIES, Family, family_of, near_miss, recognise
from .reducers import REDUCERS, reduce_channels, reduce_mimo, reduction_hsv

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
        ``reducer="modal"``: the score of every mode (see :mod:`mor.reduction.modal`).
    orders : (H,) ndarray of int or None
        States per channel that are not padding (a channel of lower order than the layer's
        ``order`` is padded with decoupled zero-weight modes, see :mod:`mor_torch.reducers`).
    converged : (H,) ndarray of bool or None
        ``reducer="h2"`` or ``"kernel"``: whether IRKA (the kernel fit) converged for each channel.
    score : str or None
        ``reducer="modal"``: ``"hinf"`` or ``"h2"``.
    family : str
        The layer's family (:mod:`mor_torch.families`): ``"dss"``, ``"s4d"``, ``"lru"`` or ``"s5"``.
        For the MIMO families (LRU, S5) ``hsv``, ``error_bound`` and ``orders`` have one row / entry
        (the layer is one system), ``shared_poles`` is ``True`` and ``mode`` is the discretisation.

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
    family: str = "dss"

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


def _energy_order(hsv: np.ndarray, energy: float) -> int:
    """Smallest ``r >= 1`` with ``sum(hsv[:r]) >= energy * sum(hsv)`` for every row."""
    total = hsv.sum(axis=-1, keepdims=True)
    cum = np.cumsum(hsv, axis=-1)
    ok = np.all(cum >= energy * total * (1 - 1e-12), axis=0)  # (N,): order j+1 suffices
    return int(np.argmax(ok)) + 1 if np.any(ok) else hsv.shape[-1]


def _check_kernel_options(reducer: str, gramians: str, length: int | None) -> None:
    if reducer == "kernel" and (gramians != "discrete" or length is None):
        raise ArgumentConflictError(
            "reducer='kernel' fits the layer's discrete kernel over its length: it needs gramians='discrete' and "
            f"length= (got gramians={gramians!r}, length={length!r})"
        )


def _check_order_request(order, tol, energy, gramians: str, length: int | None, reducer: str) -> None:
    if sum(x is not None for x in (order, tol, energy)) != 1:
        raise ArgumentConflictError("give exactly one of order, tol, energy")
    if reducer != "bt" and gramians == "finite":
        raise ArgumentConflictError(f"reducer={reducer!r} needs infinite-horizon (discrete or continuous) Gramians")
    _check_kernel_options(reducer, gramians, length)
    if tol is not None and reducer not in ("bt", "bsp"):
        raise ArgumentConflictError(f"reducer={reducer!r} has no error bound: choose the order with order= or energy=")
    if energy is not None:
        check_real(energy, "energy", minimum=0.0, maximum=1.0, include_min=False)
    if gramians == "finite" and length is None:
        raise ArgumentConflictError("gramians='finite' needs length= (the kernel length, the Gramians' horizon)")


def _family_call(fn, family: Family, layer: nn.Module, name: str, *args, **kwargs):
    """``fn(*args, **kwargs)``; a conversion failure is re-raised (same type) naming the layer."""
    try:
        return fn(*args, **kwargs)
    except (LayerConversionError, NonFiniteError, DimensionError) as exc:
        raise type(exc)(f"layer {name!r} ({family.name}, {type(layer).__name__}): {exc}") from exc


def _check_family_options(family: Family, gramians: str, structure: str, order: Any, name: str) -> None:
    """Options that the family of a layer cannot take (:class:`~mor.errors.ArgumentConflictError`)."""
    if gramians not in family.gramians:
        raise ArgumentConflictError(f"layer {name!r} ({family.name}): gramians={gramians!r} is not defined for this "
                                    f"family; choose one of {family.gramians}")  # fmt: skip
    if structure == "shared" and family.name != "dss":
        raise ArgumentConflictError(f"layer {name!r} ({family.name}): structure='shared' is for DSS layers only")
    if np.ndim(order) == 1 and structure != "channel":
        raise ArgumentConflictError("per-channel orders need structure='channel'")
    if family.layout == "mimo" and np.ndim(order) == 1 and np.size(order) != 1:
        raise OrderError(f"layer {name!r} ({family.name}) is one MIMO system: give one order, not {np.size(order)}")


def _checked_order(order: Any, n: int, layout: str) -> Any:
    """One order in ``[1, n]``; per-channel orders as they are; a MIMO layer's one-entry array (from a
    budget) as its int in ``[0, n]`` (a budget may leave a layer no state)."""
    if np.ndim(order) == 0:
        return check_int(order, f"order (N = {n})", minimum=1, maximum=n, error=OrderError)
    if layout == "mimo":
        return check_int(int(np.reshape(order, -1)[0]), f"order (N = {n})", minimum=0, maximum=n, error=OrderError)
    return order


@dataclass(frozen=True)
class _LayerTarget:
    """One layer as the system its reduction works on (its family's :meth:`~mor_torch.families.Family.
    reduction_system`, see the module docstring); its Hankel singular values
    (:func:`mor_torch.reducers.reduction_hsv`) are computed once, on first use, and shared by the scores of
    a budget, the order choice, the reduction and its bound."""

    name: str
    layer: nn.Module
    family: Family
    system: DiagonalLTI
    reducer: str
    gramians: str
    structure: str
    length: int | None

    @property
    def horizon(self) -> int | None:
        return self.length if self.gramians == "finite" else None

    @cached_property
    def hsv(self) -> np.ndarray:
        return reduction_hsv(self.system, self.reducer, self.horizon)


def _target(layer: nn.Module, family: Family, name: str, gramians: str, structure: str, length: int | None,
            reducer: str) -> _LayerTarget:  # fmt: skip
    """The layer's :class:`_LayerTarget` (family options checked; stability for infinite-horizon Gramians)."""
    _check_family_options(family, gramians, structure, None, name)
    if gramians != "finite":
        _family_call(family.check_stable, family, layer, name, layer, name, gramians)
    system = _family_call(family.reduction_system, family, layer, name, layer, gramians, structure, length, name)
    return _LayerTarget(name, layer, family, system, reducer, gramians, structure, length)


def _order_choice(hsv: np.ndarray, tol, energy) -> int:
    """The one order meeting ``tol`` (bound per channel) or ``energy`` (fraction of ``sum(hsv)``)."""
    if energy is not None:
        return _energy_order(hsv, float(energy))
    return order_for_tolerance(hsv, tol)


def reduce_layer(
    layer: nn.Module,
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
) -> tuple[nn.Module, LayerReduction]:
    """Reduce one layer (balanced truncation by default) to state size ``order``.

    Parameters
    ----------
    layer : nn.Module
        A layer of a supported family (:mod:`mor_torch.families`: DSS, S4D, LRU, S5).  Left untouched.
    order : int or (H,) array of int, optional
        New state size ``r`` (stored complex modes: per channel for DSS and S4D, of the whole layer for
        the MIMO families LRU and S5), or one order per channel in ``[0, N]`` (``structure="channel"``;
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
        See the module docstring; ``"finite"`` with ``reducer="bt"`` only; ``"continuous"`` for the
        continuous families (DSS, S4D) only.
    structure : {"channel", "shared"}
        See the module docstring; ``"shared"`` for DSS only.  The MIMO families are always reduced as
        one system.
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
    new_layer : nn.Module
        Of ``layer``'s class and family with state size ``r`` (new parameter tensors of the reduced
        shapes, same dtype, device and ``requires_grad``).  DSS: ``log_step`` and ``eps`` copied, ``D``
        copied (plus the singular perturbation's correction for ``"bsp"``), same mode; per-channel
        poles for ``structure="channel"``.  Other families: see their modules.
    report : LayerReduction

    Raises
    ------
    SystemTypeError
        ``layer`` belongs to no supported family.
    LayerUnstableError
        Infinite-horizon Gramians of a layer with non-decaying modes, or a reduced system the family
        cannot hold; names the layer, channel and mode.
    LayerConversionError, NonFiniteError, DimensionError
        A recognised layer whose parameters do not form a diagonal system (wrong shapes, NaN); the
        message names the layer.
    ArgumentConflictError
        Options that cannot be combined (with each other or with the layer's family).
    """
    family = family_of(layer, "reduce_layer")
    check_choice(gramians, "gramians", GRAMIANS)
    check_choice(structure, "structure", STRUCTURES)
    check_choice(method, "method", METHODS)
    check_choice(reducer, "reducer", REDUCERS)
    check_choice(score, "score", SCORES)
    _check_order_request(order, tol, energy, gramians, length, reducer)
    _check_family_options(family, gramians, structure, order, name)
    target = _target(layer, family, name, gramians, structure, length, reducer)
    return _reduce(target, order, tol, energy, method, score)


def _reduce(target: _LayerTarget, order, tol, energy, method: str, score: str) -> tuple[nn.Module, LayerReduction]:
    """:func:`reduce_layer` on a validated request: one reduction of the target's system, written back."""
    layer, family, name = target.layer, target.family, target.name
    n = family.state_size(layer)
    order = _order_choice(target.hsv, tol, energy) if order is None else _checked_order(order, n, family.layout)
    reduce = reduce_mimo if family.layout == "mimo" else reduce_channels
    length = target.length if target.reducer == "kernel" else None
    red = reduce(target.system, order, target.reducer, method=method, horizon=target.horizon, score=score,
                 length=length, hsv=target.hsv)  # fmt: skip
    new = family.rebuild(layer, red.system, red.skip, length=target.length, name=name)
    mode, shared = family.describe(new)
    report = LayerReduction(
        name=name, order=family.state_size(new), original_order=n, hsv=red.hsv, error_bound=red.error_bound,
        gramians=target.gramians, structure=target.structure, method=method, mode=mode, length=target.length,
        shared_poles=shared, reducer=target.reducer, scores=red.scores, orders=red.states,
        converged=red.converged, score=score if target.reducer == "modal" else None, family=family.name,
    )  # fmt: skip
    log.info("reduced %s (%s, %s): N=%d -> r=%d, %d states (%s, %s)", name, family.name, target.reducer, n,
             report.order, report.states, target.gramians, target.structure)  # fmt: skip
    return new, report


_OPTIONS = ("gramians", "structure", "length", "method", "reducer", "score")


@dataclass(frozen=True)
class _Layer:
    """A layer of a model to reduce: every name it has (a shared module has several), module, family."""

    names: tuple[str, ...]
    module: nn.Module
    family: Family

    @property
    def name(self) -> str:
        return self.names[0]


def _find_layers(model: nn.Module) -> list[_Layer]:
    """The layers of supported families, each once with all its names; a layer's submodules are not searched."""
    found: dict[int, _Layer] = {}
    inside: list[str] = []
    for name, module in model.named_modules(remove_duplicate=False):
        if any(p == "" or name.startswith(p + ".") for p in inside):
            continue
        if id(module) in found:
            layer = found[id(module)]
            found[id(module)] = _Layer(layer.names + (name,), module, layer.family)
            inside.append(name)
            continue
        family = recognise(module)
        if family is not None:
            found[id(module)] = _Layer((name,), module, family)
            inside.append(name)
    return list(found.values())


def _check_no_shared_parameters(model: nn.Module, layers: list[_Layer]) -> None:
    """:class:`SharedParameterError` when a layer's parameter is used outside every name of that layer."""
    uses: dict[int, list[str]] = {}
    for pname, p in model.named_parameters(remove_duplicate=False):
        uses.setdefault(id(p), []).append(pname)
    for layer in layers:
        prefixes = tuple(n + "." if n else "" for n in layer.names)
        for pname, p in layer.module.named_parameters():
            outside = [u for u in uses.get(id(p), []) if not u.startswith(prefixes)]
            if outside:
                raise SharedParameterError(
                    f"layer {layer.name!r} ({layer.family.name}): its parameter {pname!r} is also used as "
                    f"{', '.join(repr(u) for u in outside)}; reducing the layer would leave that use with the old "
                    "state size. Share whole modules (they are reduced once and stay shared) or untie the parameter"
                )


def _nothing_to_reduce(model: nn.Module) -> NoReducibleLayerError:
    types = sorted({type(m).__name__ for m in model.modules()})
    hints = [f"{n or '<model>'}: {h}" for n, m in model.named_modules() if (h := near_miss(m))]
    return NoReducibleLayerError(
        f"compress found no layer it can reduce (families: {', '.join(f.name for f in FAMILIES)}); the model holds "
        f"modules of type {', '.join(types)}" + (f"; near misses: {'; '.join(hints)}" if hints else "")
    )


def _replace_module(model: nn.Module, name: str, new: nn.Module) -> nn.Module:
    """``model`` with its submodule ``name`` replaced (the new module itself for ``name == ""``)."""
    if name == "":
        return new
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
    return model


def _raw_scores(target: _LayerTarget, allocation: str) -> np.ndarray:
    """``(H, N)`` scores of one layer's states (``(1, N)`` for a MIMO layer) for an allocation
    (see :mod:`mor_torch.allocate`)."""
    if allocation == "hsv":
        return target.hsv
    sys = target.system
    discrete = sys.dt is not None
    return np.atleast_2d(modal_scores(sys.poles, sys.B, sys.C, discrete=discrete,
                                      score="hinf" if allocation == "last" else "h2",
                                      log_poles=sys.log_poles if discrete else None))  # fmt: skip


def _budget_targets(layers: list[_Layer], options: dict[str, Any]) -> list[_LayerTarget]:
    """Every layer's target for a budget: per-channel systems with infinite-horizon Gramians."""
    if options.get("structure", "channel") != "channel":
        raise ArgumentConflictError("a budget allocates per-channel orders: it needs structure='channel'")
    gramians = check_choice(options.get("gramians", "discrete"), "gramians", GRAMIANS)
    if gramians == "finite":
        raise ArgumentConflictError("a budget needs infinite-horizon Gramians (gramians='discrete' or 'continuous')")
    reducer = check_choice(options.get("reducer", "bt"), "reducer", REDUCERS)
    check_choice(options.get("method", DEFAULT_METHOD), "method", METHODS)
    check_choice(options.get("score", "hinf"), "score", SCORES)
    length = options.get("length")
    _check_kernel_options(reducer, gramians, length)
    return [_target(layer.module, layer.family, layer.name or "<model>", gramians, "channel", length, reducer)
            for layer in layers]  # fmt: skip


def _budget_orders(targets: list[_LayerTarget], budget: Any, allocation: str) -> list[np.ndarray]:
    """Per-channel orders of every layer (one entry for a MIMO layer): the ``budget`` states of largest
    normalised score."""
    scores = [normalise_scores(_raw_scores(target, allocation), allocation) for target in targets]
    return allocate_states(scores, budget)


def _orders_by_first_name(order: dict[str, Any], layers: list[_Layer]) -> dict[str, Any]:
    """An order dict keyed by any name of a layer, re-keyed by its first name."""
    alias = {n: layer.name for layer in layers for n in layer.names}
    unknown = set(order) - set(alias)
    if unknown:
        raise UnknownLayerError(f"order names unknown layers {sorted(unknown)}; known: {sorted(alias)}")
    out: dict[str, Any] = {}
    for n, r in order.items():
        if alias[n] in out:
            raise ArgumentConflictError(f"order names the shared layer {alias[n]!r} twice (as {n!r})")
        out[alias[n]] = r
    return out


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
    """Reduce every layer of a model that belongs to a supported family (balanced truncation by default).

    Parameters
    ----------
    model : nn.Module
        Left untouched; the result is a deep copy whose layers of the families of
        :mod:`mor_torch.families` (DSS, S4D, LRU, S5; found with ``named_modules``, a recognised
        layer's submodules are not searched) are replaced by their reduced versions.  A model that
        describes itself from its layers (as :class:`mor_torch.lra.model.SequenceClassifier` does)
        then describes the reduced sizes, so saving and loading it needs nothing else.  A module used
        at several places (weight tying) is reduced once and stays one shared module; its states
        count once (in :attr:`CompressionReport.states` and against ``budget``), and its report is
        under its first name.
    order : int or dict {layer name: int or (H,) array}, optional
        One order for all layers, or per layer (an order or per-channel orders; layers missing
        from the dict stay as they are; unknown names raise :class:`~mor_torch.errors.UnknownLayerError`;
        any name of a shared module may be used).
    tol, energy : float, optional
        Choose each layer's order instead (see :func:`reduce_layer`).
    budget : int, optional
        ``S``: keep ``S`` states in all, counted per channel and summed over channels and layers
        (the model has ``sum_l H_l N_l``; a MIMO layer counts its ``N`` states once).  The states of
        largest normalised score are kept (:func:`mor_torch.allocate.allocate_states`); every layer is
        then reduced to its per-channel orders (padded to the layer's largest, see
        :func:`reduce_layer`).  Exactly one of ``order``, ``tol``, ``energy``, ``budget``.
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

    Raises
    ------
    NoReducibleLayerError
        The model holds no layer of a supported family (the message names the module types seen).
    SharedParameterError
        A parameter of a layer is also used outside it (tying short of whole modules).
    UnknownLayerError
        A key of ``order`` names no layer of the model.
    ArgumentConflictError
        Options that cannot be combined (more than one of ``order``, ``tol``, ``energy``, ``budget``;
        options a layer's family does not take; a shared layer named twice in ``order``).
    """
    if sum(x is not None for x in (order, tol, energy, budget)) != 1:
        raise ArgumentConflictError("give exactly one of order, tol, energy, budget")
    check_choice(allocation, "allocation", ALLOCATIONS)
    bad = set(options) - set(_OPTIONS)
    if bad:
        raise MethodError(f"unknown compress option(s) {sorted(bad)}; known: {', '.join(_OPTIONS)}")
    layers = _model_layers(model)
    if isinstance(order, dict):
        order = _orders_by_first_name(order, layers)
        layers = [layer for layer in layers if layer.name in order]  # the others stay as they are
    report = CompressionReport(options=dict(options, order=order, tol=tol, energy=energy, budget=budget,
                                            allocation=allocation if budget is not None else None))  # fmt: skip
    if budget is not None:
        reductions = _budget_reductions(layers, budget, allocation, options)
    else:
        reductions = [reduce_layer(layer.module, name=layer.name or "<model>", **options,
                                   **({"order": order[layer.name]} if isinstance(order, dict) else
                                      {"order": order, "tol": tol, "energy": energy}))
                      for layer in layers]  # fmt: skip
    new_model = copy.deepcopy(model)
    for layer, (new_layer, report.layers[layer.name]) in zip(layers, reductions, strict=True):
        for name in layer.names:
            new_model = _replace_module(new_model, name, new_layer)
    return new_model, report


def _model_layers(model: nn.Module) -> list[_Layer]:
    """The model's layers of supported families (:class:`NoReducibleLayerError` if none), checked for tied
    parameters."""
    layers = _find_layers(model)
    if not layers:
        raise _nothing_to_reduce(model)
    _check_no_shared_parameters(model, layers)
    return layers


def _budget_reductions(layers: list[_Layer], budget: Any, allocation: str, options: dict[str, Any]) -> list:
    """Every layer reduced to its share of ``budget``; one target (one set of HSVs) per layer throughout."""
    targets = _budget_targets(layers, options)
    orders = _budget_orders(targets, budget, allocation)
    score = options.get("score", "h2" if allocation == "aire" else "hinf")  # the allocation's own score
    method = options.get("method", DEFAULT_METHOD)
    return [_reduce(target, r, None, None, method, score) for target, r in zip(targets, orders, strict=True)]
