"""Sequence classifier with DSS layers (the DSS Long Range Arena recipe).

::

    x (B, L) tokens or (B, L, d_input) reals
      -> encoder (embedding or linear)                                 (B, L, H)
      -> n_layers x [ DSS conv + D skip -> GELU -> dropout -> linear -> dropout,
                      residual, LayerNorm ]                            (B, L, H)
      -> masked mean pooling over the true lengths                     (B, H)
      -> linear decoder                                                (B, n_classes)

Normalisation is post-norm by default (``x <- norm(x + f(x))``, as in the DSS
and S4 LRA configurations); ``prenorm=True`` gives ``x <- x + f(norm(x))`` with a
final norm after the last block.  The DSS convolution is causal, so padded
positions at the end of a sequence never influence the valid ones, and the
pooling ignores them.

DSS_SOFTMAX kernels depend on the kernel length (the softmax normalises over it), so with
``length`` given every block computes its kernel at that length and uses the first ``L`` taps
for a batch of length ``L`` (:meth:`mor_torch.DSS.forward`): an example's output then does not
depend on the batch it is padded in, and the layer is exactly the LTI system that
:func:`mor_torch.compress` reduces with ``length=length``.  For dual-input (retrieval) tasks both
sequences go through the same encoder and the decoder sees ``[u, v, u*v, u-v]``.

Streaming: :meth:`SequenceClassifier.initial_state` and :meth:`SequenceClassifier.step` read one token
at a time and return the logits of the prefix read so far (:mod:`mor_torch.lra.streaming`);
:meth:`SequenceClassifier.recurrent` is the streaming module itself, which
:func:`mor_torch.streaming.export_streaming` exports.

A classifier describes itself from its layers: :attr:`SequenceClassifier.hparams` reads the
state sizes and pole layouts of the DSS layers it holds, so after :func:`mor_torch.compress`
(which replaces the layers) :func:`save_model` and :func:`load_model` round-trip the reduced
model with nothing else to patch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from mor.errors import DimensionError
from mor.validation import check_int

from ..dss import DEFAULT_MODE, DEFAULT_STEP_RANGE, DSS
from ..init import DEFAULT_INIT
from .checkpoint import load_checkpoint, save_checkpoint
from .errors import CheckpointError
from .streaming import BlockStream, ClassifierStream

__all__ = [
    "DSSBlock",
    "SequenceClassifier",
    "build_model",
    "count_parameters",
    "load_model",
    "save_model",
    "ssm_parameters",
]


class DSSBlock(nn.Module):
    """One residual block: DSS convolution (with D skip), GELU, dropout, linear, residual, LayerNorm.

    Post-norm (default): ``x <- norm(x + f(x))``; pre-norm: ``x <- x + f(norm(x))``, where
    ``f(z) = dropout(linear(dropout(gelu(K * z + D z))))``.

    Parameters
    ----------
    d_model : int
        Number of channels ``H``.
    d_state : int
        Number of complex modes ``N`` of the DSS layer.
    mode : {"exp", "softmax"}
        DSS kernel parametrisation.
    init : {"skew-hippo", "s4d-lin", "s4d-inv", "random"}
        Pole initialisation.
    shared_poles : bool
        One set of ``N`` poles for all channels (``True``) or ``(H, N)`` poles.
    dropout : float
        Dropout probability after the GELU and after the output linear.
    prenorm : bool
        Pre-norm instead of post-norm.
    step_min, step_max : float
        Range of the initial DSS step ``Delta`` (log-uniform).
    length : int or None
        Kernel length (see :meth:`mor_torch.DSS.forward`); ``None``: the input length.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int,
        *,
        mode: str = DEFAULT_MODE,
        init: str = DEFAULT_INIT,
        shared_poles: bool = True,
        dropout: float = 0.0,
        prenorm: bool = False,
        step_min: float = DEFAULT_STEP_RANGE[0],
        step_max: float = DEFAULT_STEP_RANGE[1],
        length: int | None = None,
    ):
        super().__init__()
        self.prenorm = prenorm
        self.length = length
        self.dss = DSS(
            d_model, d_state, mode=mode, init=init, shared_poles=shared_poles, step_min=step_min, step_max=step_max
        )
        self.dropout = nn.Dropout(dropout)
        self.output_linear = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block.

        Parameters
        ----------
        x : (batch, L, d_model) Tensor
            Input sequence; ``L <= length`` when ``length`` is set.

        Returns
        -------
        (batch, L, d_model) Tensor
        """
        z = self.norm(x) if self.prenorm else x
        z = self.dss(z, length=self.length)
        z = self.dropout(nn.functional.gelu(z))
        z = self.dropout(self.output_linear(z))
        x = x + z
        return x if self.prenorm else self.norm(x)

    # -- streaming -------------------------------------------------------------------------
    def recurrent(self) -> BlockStream:
        """The block at one position (:class:`mor_torch.lra.streaming.BlockStream`), cached.

        Built on the DSS layer's recurrent form at the block's ``length``
        (:meth:`mor_torch.DSS.recurrent`); the same object comes back until that form changes.

        Returns
        -------
        BlockStream
        """
        modules = self._modules  # the dict itself: nn.Module.__getattr__ is slow, and this runs every step
        ssm = modules["dss"].recurrent(self.length)
        key = (id(ssm), *map(id, modules.values()), self.prenorm)
        cached = getattr(self, "_stream", None)
        if cached is None or cached[0] != key:
            cached = self._stream = (key, BlockStream(self, ssm))
        return cached[1]

    def initial_state(self, batch_size: int) -> Tensor:
        """The zero state of :meth:`step`: the DSS layer's, ``(batch_size, H, N, 2)``.

        Parameters
        ----------
        batch_size : int
            Number of sequences streamed side by side.

        Returns
        -------
        (batch_size, H, N, 2) Tensor
        """
        return self.dss.initial_state(batch_size)

    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """The block on one position: ``forward`` of a sequence, token by token.

        Parameters
        ----------
        x_t : (batch, d_model) Tensor
            The block's input at this position.
        state : (batch, d_model, d_state, 2) Tensor
            The DSS state after the previous positions.

        Returns
        -------
        x_out : (batch, d_model) Tensor
        new_state : (batch, d_model, d_state, 2) Tensor
        """
        return self.recurrent()(x_t, state)


def _per_layer(value: Any, n_layers: int, name: str) -> list:
    """A scalar repeated per layer, or a sequence with one entry per layer."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n_layers:
            raise DimensionError(f"{name} has {len(value)} entries for {n_layers} layers")
        return list(value)
    return [value] * n_layers


def _uniform(values: list) -> Any:
    """One value when all layers agree, else the per-layer list."""
    return values[0] if all(v == values[0] for v in values) else list(values)


class SequenceClassifier(nn.Module):
    """DSS sequence classifier (single or dual input).

    Parameters
    ----------
    n_classes : int
        Number of output classes (>= 2).
    vocab_size : int or None
        Token vocabulary size (embedding encoder); ``None`` for real-valued inputs
        of width ``d_input`` (linear encoder).
    d_input : int
        Input width for real-valued inputs (ignored for tokens).
    d_model, n_layers : int
        Width ``H`` and depth.
    d_state : int or sequence of int
        DSS state size ``N``, one for all layers or one per layer (a reduced model's layers may
        differ).
    mode : {"exp", "softmax"}
        DSS kernel parametrisation, passed to every :class:`mor_torch.DSS` layer.
    init : {"skew-hippo", "s4d-lin", "s4d-inv", "random"}
        Pole initialisation of every DSS layer.
    shared_poles : bool or sequence of bool
        One set of ``N`` poles per layer for all channels (``True``) or ``(H, N)`` poles; one for
        all layers or one per layer.
    dropout : float
        Dropout after the GELU and after the output linear of each block.
    prenorm : bool
        Pre-norm instead of the default post-norm residual blocks.
    step_min, step_max : float
        Range of the initial DSS step ``Delta`` (log-uniform), per layer.
    dual : bool
        Two inputs sharing the encoder, decoder on ``[u, v, u*v, u-v]`` (AAN retrieval).
    length : int or None
        Kernel length: the longest input (see the module doc).  ``None``: the length of each batch.
    """

    def __init__(
        self,
        *,
        n_classes: int,
        vocab_size: int | None = None,
        d_input: int = 1,
        d_model: int = 64,
        n_layers: int = 4,
        d_state: int | Sequence[int] = 64,
        mode: str = DEFAULT_MODE,
        init: str = DEFAULT_INIT,
        shared_poles: bool | Sequence[bool] = True,
        dropout: float = 0.0,
        prenorm: bool = False,
        step_min: float = DEFAULT_STEP_RANGE[0],
        step_max: float = DEFAULT_STEP_RANGE[1],
        dual: bool = False,
        length: int | None = None,
    ):
        super().__init__()
        check_int(n_classes, "n_classes", minimum=2)
        if vocab_size is not None:
            check_int(vocab_size, "vocab_size")
        for value, name in ((d_input, "d_input"), (d_model, "d_model"), (n_layers, "n_layers")):
            check_int(value, name)
        states = _per_layer(d_state, n_layers, "d_state")
        shared = _per_layer(shared_poles, n_layers, "shared_poles")
        self._fixed = dict(
            n_classes=n_classes,
            vocab_size=vocab_size,
            d_input=d_input,
            d_model=d_model,
            n_layers=n_layers,
            mode=mode,
            init=init,
            dropout=dropout,
            prenorm=prenorm,
            step_min=step_min,
            step_max=step_max,
            dual=dual,
            length=length,
        )
        self.dual = dual
        self.tokens = vocab_size is not None
        self.encoder = nn.Embedding(vocab_size, d_model) if self.tokens else nn.Linear(d_input, d_model)
        self.blocks = nn.ModuleList(
            DSSBlock(
                d_model,
                n,
                mode=mode,
                init=init,
                shared_poles=sp,
                dropout=dropout,
                prenorm=prenorm,
                step_min=step_min,
                step_max=step_max,
                length=length,
            )
            for n, sp in zip(states, shared, strict=True)
        )
        self.final_norm = nn.LayerNorm(d_model) if prenorm else nn.Identity()
        if dual:
            self.decoder: nn.Module = nn.Sequential(
                nn.Linear(4 * d_model, d_model), nn.GELU(), nn.Linear(d_model, n_classes)
            )
        else:
            self.decoder = nn.Linear(d_model, n_classes)

    @property
    def hparams(self) -> dict[str, Any]:
        """The keyword arguments that rebuild a model of this shape: ``SequenceClassifier(**hparams)``.

        ``d_state`` and ``shared_poles`` are read from the DSS layers the model holds now (an int
        and a bool when every layer agrees, per-layer lists otherwise), so they describe a model
        whose layers :func:`mor_torch.compress` replaced.
        """
        layers = self.dss_layers()
        return {
            **self._fixed,
            "d_state": _uniform([m.d_state for m in layers]),
            "shared_poles": _uniform([m.shared_poles for m in layers]),
        }

    # -- streaming -------------------------------------------------------------------------
    def recurrent(self) -> ClassifierStream:
        """The classifier token by token (:class:`mor_torch.lra.streaming.ClassifierStream`), cached.

        The module maps ``(x_t, state)`` to ``(logits, new_state)``; it shares this model's encoder,
        norms, linears and decoder, and holds the DSS layers' recurrent forms (snapshots of their
        parameters).  The same object comes back until a layer's form changes; take it once for a
        long loop or for :func:`mor_torch.streaming.export_streaming`.

        Returns
        -------
        ClassifierStream

        Raises
        ------
        MethodError
            A dual-input model.
        LayerConversionError
            A DSS_SOFTMAX model without a kernel ``length``.
        """
        modules = self._modules  # the dict itself: nn.Module.__getattr__ is slow, and this runs every step
        blocks = [block.recurrent() for block in modules["blocks"]]
        key = (*map(id, blocks), *map(id, modules.values()))
        cached = getattr(self, "_stream", None)
        if cached is None or cached[0] != key:
            cached = self._stream = (key, ClassifierStream(self, blocks))
        return cached[1]

    def initial_state(self, batch_size: int) -> Tensor:
        """The zero state of :meth:`step`, ``(batch_size, state_size)`` (layout in :mod:`mor_torch.lra.streaming`).

        Parameters
        ----------
        batch_size : int
            Number of sequences streamed side by side.

        Returns
        -------
        (batch_size, state_size) Tensor
        """
        return self.recurrent().initial_state(batch_size)

    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One token: the class logits of the prefix read so far, and the new state.

        After ``t`` tokens the logits equal ``self(x[:, :t], lengths=t)`` (evaluation mode: dropout
        is the identity).  Single-input models only.

        Parameters
        ----------
        x_t : (batch,) int64 Tensor or (batch, d_input) Tensor
            Token ids (token models) or real-valued inputs at this position.
        state : (batch, state_size) Tensor
            The state after the previous tokens (:meth:`initial_state` before the first).

        Returns
        -------
        logits : (batch, n_classes) Tensor
        new_state : (batch, state_size) Tensor
        """
        return self.recurrent()(x_t, state)

    def dss_layers(self) -> list[DSS]:
        """The DSS layers, in depth order."""
        return [m for m in self.modules() if isinstance(m, DSS)]

    def encode(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Encoder, blocks and masked mean pooling over the true lengths.

        ``out[b] = (1 / max(lengths[b], 1)) * sum_{t < lengths[b]} h[b, t]``, with ``h`` the
        output of the last block (after the final norm in pre-norm models).  Positions
        ``t >= lengths[b]`` are padding: the causal convolution keeps them from influencing
        the valid positions, and the pooling ignores them.

        Parameters
        ----------
        x : (batch, L) Tensor of int64 or (batch, L, d_input) Tensor
            Token ids in ``[0, vocab_size)`` (token models) or real-valued inputs in the
            parameters' dtype (real-valued models), padded at the end.
        lengths : (batch,) Tensor of int64
            True length of every sequence, ``0 <= lengths[b] <= L``; an example of length 0
            pools to zeros.

        Returns
        -------
        (batch, d_model) Tensor
            The pooled features.

        Raises
        ------
        DimensionError
            ``x`` or ``lengths`` has the wrong shape, or ``L > length``.
        """
        if self.tokens:
            if x.dim() != 2:
                raise DimensionError(f"token input must have shape (B, L), got {tuple(x.shape)}")
        elif x.dim() != 3 or x.shape[-1] != self._fixed["d_input"]:
            raise DimensionError(
                f"real-valued input must have shape (B, L, {self._fixed['d_input']}), got {tuple(x.shape)}"
            )
        if lengths.shape != (x.shape[0],):
            raise DimensionError(f"lengths must have shape ({x.shape[0]},), got {tuple(lengths.shape)}")
        h = self.encoder(x)
        for block in self.blocks:
            h = block(h)
        h = self.final_norm(h)
        L = h.shape[1]
        lengths = lengths.to(h.device)
        mask = (torch.arange(L, device=h.device)[None, :] < lengths[:, None]).to(h.dtype)
        return (h * mask[..., None]).sum(1) / lengths.clamp(min=1).to(h.dtype)[:, None]

    def forward(self, x: Tensor, lengths: Tensor, x2: Tensor | None = None, lengths2: Tensor | None = None) -> Tensor:
        """Class logits (unnormalised log-probabilities).

        Single input: ``decoder(encode(x, lengths))``.  Dual input: ``u = encode(x, lengths)``,
        ``v = encode(x2, lengths2)`` (same encoder and blocks) and ``decoder([u, v, u*v, u-v])``.

        Parameters
        ----------
        x : (batch, L) Tensor of int64 or (batch, L, d_input) Tensor
            Token ids or real-valued inputs, padded at the end (see :meth:`encode`).
        lengths : (batch,) Tensor of int64
            True lengths of ``x``.
        x2 : (batch, L2) Tensor of int64 or (batch, L2, d_input) Tensor, optional
            Second input of a dual-input model (required there; ignored by a single-input model).
        lengths2 : (batch,) Tensor of int64, optional
            True lengths of ``x2`` (required with ``x2``).

        Returns
        -------
        (batch, n_classes) Tensor
            The logits.

        Raises
        ------
        DimensionError
            Inputs of the wrong shape, or a dual-input model called without ``x2``/``lengths2``.
        """
        u = self.encode(x, lengths)
        if not self.dual:
            return self.decoder(u)
        if x2 is None or lengths2 is None:
            raise DimensionError("a dual-input classifier needs x2 and lengths2")
        v = self.encode(x2, lengths2)
        return self.decoder(torch.cat([u, v, u * v, u - v], dim=-1))


def ssm_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The SSM parameters (poles, W, log step) of every DSS layer in ``model``.

    Parameters
    ----------
    model : nn.Module
        Any module; its :class:`mor_torch.DSS` submodules are searched in ``model.modules()`` order.

    Returns
    -------
    list of nn.Parameter
        Each parameter once, even when several layers share it.
    """
    params: list[nn.Parameter] = []
    seen: set[int] = set()
    for m in model.modules():
        if isinstance(m, DSS):
            for p in m.ssm_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
    return params


def _n_real(p: Tensor) -> int:
    return p.numel() * (2 if p.is_complex() else 1)


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Trainable parameter counts in real scalars (a complex entry counts 2).

    Parameters
    ----------
    model : nn.Module
        Any module.

    Returns
    -------
    dict of str to int
        ``params``: all parameters with ``requires_grad``; ``ssm_params``: those returned by
        :func:`ssm_parameters`.
    """
    ssm = sum(_n_real(p) for p in ssm_parameters(model))
    total = sum(_n_real(p) for p in model.parameters() if p.requires_grad)
    return {"params": total, "ssm_params": ssm}


def build_model(config: Any, task: Any, **overrides: Any) -> SequenceClassifier:
    """A classifier for ``task`` from a model configuration.

    The task fixes ``n_classes``, ``vocab_size``, ``d_input`` (1 for token tasks), ``dual`` and
    the kernel ``length = task.max_length``; the configuration gives the architecture.

    Parameters
    ----------
    config : ModelConfig
        The ``[model]`` section (:class:`mor_torch.lra.config.ModelConfig`), whose keys are
        :class:`SequenceClassifier` arguments.
    task : TaskData
        Anything with the attributes ``n_classes``, ``vocab_size``, ``d_input``, ``dual`` and
        ``max_length``.
    **overrides
        Replace configuration entries (for example ``d_state=8, shared_poles=False``).

    Returns
    -------
    SequenceClassifier
        Freshly initialised (from torch's global generator).
    """
    cfg = {**dataclasses.asdict(config), **overrides}  # the section's keys are the model's arguments
    return SequenceClassifier(
        n_classes=task.n_classes,
        vocab_size=task.vocab_size,
        d_input=task.d_input if task.vocab_size is None else 1,
        dual=bool(task.dual),
        length=int(task.max_length),
        **cfg,
    )


def save_model(path: str | Path, model: SequenceClassifier) -> None:
    """Write ``model``'s shape (:attr:`SequenceClassifier.hparams`) and weights to ``path`` atomically.

    Parameters
    ----------
    path : str or Path
        Destination (conventionally ``model.pt``).
    model : SequenceClassifier
        Any classifier, also one returned by :func:`mor_torch.compress`.
    """
    save_checkpoint(path, {"hparams": model.hparams, "model": model.state_dict()})


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> SequenceClassifier:
    """The classifier saved by :func:`save_model`.

    Parameters
    ----------
    path : str or Path
        The file.
    map_location : str or torch.device
        Where the weights go.

    Returns
    -------
    SequenceClassifier

    Raises
    ------
    CheckpointError
        The file is unreadable or does not hold a saved model.
    """
    state = load_checkpoint(path, map_location=map_location)
    try:
        model = SequenceClassifier(**state["hparams"])
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        message = f"{path} does not hold a saved model: {type(exc).__name__}: {exc}"
        raise CheckpointError(message, path=str(path)) from None
    return model.to(map_location)
