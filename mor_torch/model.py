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

DSS_SOFTMAX kernels depend on the kernel length ``L`` (the softmax normalises
over ``L`` steps), so with ``l_max`` given the softmax blocks always compute the
length-``l_max`` kernel and use its first ``L`` taps for a batch of length ``L``:
an example's output then does not depend on the batch it is padded in, and the
layer is exactly the LTI system that :func:`mor_torch.compress` reduces with
``length=l_max``.  DSS_EXP kernels do not depend on ``L``; their blocks call the
layer directly.  For dual-input (retrieval) tasks both sequences go through
the same encoder and the decoder sees ``[u, v, u*v, u-v]``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor, nn

from mor.errors import DimensionError

from . import kernels
from .dss import DSS

logger = logging.getLogger(__name__)

__all__ = ["DSSBlock", "SequenceClassifier", "build_model", "count_parameters", "ssm_parameters"]


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
    dt_min, dt_max : float
        Range of the initial DSS step ``Delta`` (log-uniform).
    l_max : int or None
        Softmax mode: the kernel is computed at length ``l_max`` and truncated to the
        input length (see the module doc); ``None``: at the input length.
    """

    def __init__(
        self,
        d_model: int,
        d_state: int,
        *,
        mode: str = "softmax",
        init: str = "skew-hippo",
        shared_poles: bool = True,
        dropout: float = 0.0,
        prenorm: bool = False,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        l_max: int | None = None,
    ):
        super().__init__()
        self.prenorm = prenorm
        self.l_max = l_max
        self.dss = DSS(d_model, d_state, mode=mode, init=init, shared_poles=shared_poles, dt_min=dt_min, dt_max=dt_max)
        self.dropout = nn.Dropout(dropout)
        self.output_linear = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block.

        Parameters
        ----------
        x : (batch, L, d_model) Tensor
            Input sequence.

        Returns
        -------
        (batch, L, d_model) Tensor
        """
        z = self.norm(x) if self.prenorm else x
        z = self.conv(z)
        z = self.dropout(nn.functional.gelu(z))
        z = self.dropout(self.output_linear(z))
        x = x + z
        return x if self.prenorm else self.norm(x)

    def conv(self, u: Tensor) -> Tensor:
        """The DSS layer's ``y_k = sum_{j<=k} K_j u_{k-j} + D u_k``.

        Softmax kernels are computed at the fixed length ``l_max`` and truncated to ``L`` (see
        the module doc); other kernels at length ``L``.

        Parameters
        ----------
        u : (batch, L, d_model) Tensor
            Input sequence; ``L <= l_max`` when ``l_max`` is set.

        Returns
        -------
        (batch, L, d_model) Tensor

        Raises
        ------
        DimensionError
            ``L > l_max`` (softmax mode with ``l_max`` set).
        """
        dss = self.dss
        if dss.mode != "softmax" or self.l_max is None:
            return dss(u)
        L = u.shape[-2]
        if L > self.l_max:
            raise DimensionError(f"input length {L} exceeds the model's l_max = {self.l_max}")
        K = dss.kernel(self.l_max)[:, :L]
        return kernels.causal_conv(u, K.to(u.dtype)) + u * dss.D.to(u.dtype)


class SequenceClassifier(nn.Module):
    """DSS sequence classifier (single or dual input).

    Parameters
    ----------
    n_classes : int
        Number of output classes.
    vocab_size : int or None
        Token vocabulary size (embedding encoder); ``None`` for real-valued inputs
        of width ``d_input`` (linear encoder).
    d_input : int
        Input width for real-valued inputs (ignored for tokens).
    d_model, n_layers, d_state : int
        Width H, depth and DSS state size N.
    mode : {"exp", "softmax"}
        DSS kernel parametrisation, passed to every :class:`mor_torch.DSS` layer.
    init : {"skew-hippo", "s4d-lin", "s4d-inv", "random"}
        Pole initialisation of every DSS layer.
    shared_poles : bool
        One set of ``N`` poles per layer for all channels (``True``) or ``(H, N)`` poles.
    dt_min, dt_max : float
        Range of the initial DSS step ``Delta`` (log-uniform), per layer.
    dropout : float
        Dropout after the GELU and after the output linear of each block.
    prenorm : bool
        Pre-norm instead of the default post-norm residual blocks.
    dual : bool
        Two inputs sharing the encoder, decoder on ``[u, v, u*v, u-v]`` (AAN retrieval).
    l_max : int or None
        Longest input; DSS_SOFTMAX kernels are computed at this length (see the module doc).
        ``None``: at the length of each batch.
    """

    def __init__(
        self,
        *,
        n_classes: int,
        vocab_size: int | None = None,
        d_input: int = 1,
        d_model: int = 64,
        n_layers: int = 4,
        d_state: int = 64,
        mode: str = "softmax",
        init: str = "skew-hippo",
        shared_poles: bool = True,
        dropout: float = 0.0,
        prenorm: bool = False,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dual: bool = False,
        l_max: int | None = None,
    ):
        super().__init__()
        if n_classes < 2:
            raise DimensionError(f"n_classes must be >= 2, got {n_classes}")
        if vocab_size is not None and vocab_size < 1:
            raise DimensionError(f"vocab_size must be >= 1 or None, got {vocab_size}")
        if n_layers < 1 or d_model < 1 or d_state < 1 or d_input < 1:
            raise DimensionError(
                f"n_layers, d_model, d_state, d_input must be >= 1, got {n_layers}, {d_model}, {d_state}, {d_input}"
            )
        self.hparams: dict[str, Any] = dict(
            n_classes=n_classes,
            vocab_size=vocab_size,
            d_input=d_input,
            d_model=d_model,
            n_layers=n_layers,
            d_state=d_state,
            mode=mode,
            init=init,
            shared_poles=shared_poles,
            dropout=dropout,
            prenorm=prenorm,
            dt_min=dt_min,
            dt_max=dt_max,
            dual=dual,
            l_max=l_max,
        )
        self.dual = dual
        self.tokens = vocab_size is not None
        self.encoder = nn.Embedding(vocab_size, d_model) if self.tokens else nn.Linear(d_input, d_model)
        self.blocks = nn.ModuleList(
            DSSBlock(
                d_model,
                d_state,
                mode=mode,
                init=init,
                shared_poles=shared_poles,
                dropout=dropout,
                prenorm=prenorm,
                dt_min=dt_min,
                dt_max=dt_max,
                l_max=l_max,
            )
            for _ in range(n_layers)
        )
        self.final_norm = nn.LayerNorm(d_model) if prenorm else nn.Identity()
        if dual:
            self.decoder: nn.Module = nn.Sequential(
                nn.Linear(4 * d_model, d_model), nn.GELU(), nn.Linear(d_model, n_classes)
            )
        else:
            self.decoder = nn.Linear(d_model, n_classes)

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
            ``x`` or ``lengths`` has the wrong shape, or ``L > l_max`` (softmax mode).
        """
        if self.tokens:
            if x.dim() != 2:
                raise DimensionError(f"token input must have shape (B, L), got {tuple(x.shape)}")
        elif x.dim() != 3 or x.shape[-1] != self.hparams["d_input"]:
            raise DimensionError(
                f"real-valued input must have shape (B, L, {self.hparams['d_input']}), got {tuple(x.shape)}"
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


def build_model(model_config: dict[str, Any], task: Any, **overrides: Any) -> SequenceClassifier:
    """A classifier for ``task`` (a :class:`mor_torch.data.TaskData`) from the ``[model]`` config section.

    The task fixes ``n_classes``, ``vocab_size``, ``d_input`` (1 for token tasks), ``dual`` and
    ``l_max = task.max_length``; the config gives the architecture.

    Parameters
    ----------
    model_config : dict
        The ``[model]`` section: ``d_model``, ``n_layers``, ``d_state``, ``mode``, ``init``,
        ``shared_poles``, ``dropout``, ``prenorm``, ``dt_min``, ``dt_max`` (other keys are ignored).
    task : TaskData
        Anything with the attributes ``n_classes``, ``vocab_size``, ``d_input``, ``dual`` and
        ``max_length``.
    **overrides
        Replace config entries (for example ``d_state=8, shared_poles=False``).

    Returns
    -------
    SequenceClassifier
        Freshly initialised (from torch's global generator).
    """
    cfg = {**model_config, **overrides}
    return SequenceClassifier(
        n_classes=task.n_classes,
        vocab_size=task.vocab_size,
        d_input=task.d_input if task.vocab_size is None else 1,
        d_model=cfg["d_model"],
        n_layers=cfg["n_layers"],
        d_state=cfg["d_state"],
        mode=cfg["mode"],
        init=cfg["init"],
        shared_poles=cfg["shared_poles"],
        dropout=cfg["dropout"],
        prenorm=cfg["prenorm"],
        dt_min=cfg["dt_min"],
        dt_max=cfg["dt_max"],
        dual=bool(task.dual),
        l_max=int(task.max_length),
    )
