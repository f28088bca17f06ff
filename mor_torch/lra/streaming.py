"""Streaming inference of the classifier: one token in, the class logits of the prefix out.

A :class:`~mor_torch.lra.SequenceClassifier` of ``n`` blocks streams with the state::

    [ x_1 | ... | x_n | p | t | pad ]        one real row per sequence, (batch, state_size)

``x_l`` the state of block ``l``'s DSS recurrence (``H N_l`` complex numbers as real pairs,
:mod:`mor_torch.streaming`), ``p`` the running sum of the last block's outputs (``H`` reals), ``t`` the
number of tokens seen (exact up to ``2^24`` tokens in float32) and one zero of padding when needed to
make the row length even (the complex views of the states need even strides).  A step (:class:`ClassifierStream`):

1. the encoder on the token (embedding or linear), ``(batch, H)``;
2. every block on that one position: (pre-norm) -> DSS recurrence -> GELU -> dropout -> linear ->
   dropout -> residual -> (post-norm) -- the same modules as the block's ``forward``; dropout is the
   identity in evaluation mode (streaming is inference);
3. the final norm (pre-norm models), ``p <- p + h``, ``t <- t + 1``;
4. the logits ``decoder(p / t)``.

After ``t`` tokens the logits equal ``model(x[:, :t], lengths=t)`` (the mean pooling over the first
``t`` positions; the convolution is causal).  DSS_SOFTMAX layers use the model's kernel length
``length``: tokens beyond it follow the same recurrence (the LTI system that
:func:`mor_torch.to_lti` gives for that length), which ``forward`` does not define.

Cost per token (:func:`streaming_cost`), in real multiply-adds:

* DSS recurrence, per block: ``7 H N_l`` (per channel and mode: 6 for the complex ``z x + c u``,
  1 for the output sum) and ``H`` for the skip ``D u``;
* the block's output linear: ``H^2``;
* a linear encoder ``d_input H`` (an embedding is a look-up: 0); the pooling sum ``H``; the decoder
  ``H n_classes``.

GELU, LayerNorm, residual additions and dropout are left out: elementwise, of order ``10 H`` per
block and the same for every state size.  The state holds ``2 H sum_l N_l`` reals for the SSMs
(``state_size`` below) and ``H + 1`` for the pooling.
"""

from __future__ import annotations

import copy
import statistics
import time
from typing import Any

import torch
from torch import Tensor, nn

from mor.errors import DimensionError, MethodError
from mor.validation import check_int

from ..streaming import DSSRecurrence, real_state_size

__all__ = ["BlockStream", "ClassifierStream", "measure_latency", "streaming_cost"]


class BlockStream(nn.Module):
    """One :class:`~mor_torch.lra.model.DSSBlock` at one position, ``(x_t, state) -> (x_t', state')``.

    Parameters
    ----------
    block : DSSBlock
        The block; its norm, dropout and output linear are used as they are (not copied).
    recurrence : DSSRecurrence
        The recurrent form of its DSS layer (``block.dss.recurrent(block.length)``).
    """

    def __init__(self, block: nn.Module, recurrence: DSSRecurrence):
        super().__init__()
        self.prenorm = bool(block.prenorm)
        self.norm = block.norm
        self.dropout = block.dropout
        self.output_linear = block.output_linear
        self.ssm = recurrence

    def initial_state(self, batch_size: int) -> Tensor:
        """The zero state of the block's DSS recurrence, ``(batch_size, H, N, 2)``.

        Parameters
        ----------
        batch_size : int
            Number of sequences.

        Returns
        -------
        (batch_size, H, N, 2) Tensor
        """
        return self.ssm.initial_state(batch_size)

    def example_input(self, batch_size: int) -> Tensor:
        """A zero input, ``(batch_size, H)`` (for :func:`mor_torch.streaming.export_streaming`).

        Parameters
        ----------
        batch_size : int
            Batch size.

        Returns
        -------
        (batch_size, H) Tensor
        """
        return self.ssm.example_input(batch_size)

    def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """The block on one position.

        Parameters
        ----------
        x : (batch, H) Tensor
            The block's input at this position.
        state : (batch, H, N, 2) Tensor
            The DSS state.

        Returns
        -------
        x_out : (batch, H) Tensor
        new_state : (batch, H, N, 2) Tensor
        """
        z = self.norm(x) if self.prenorm else x
        z, state = self.ssm(z, state)
        z = nn.functional.gelu(z)
        drop = self.dropout.training  # in evaluation mode dropout is the identity: skip its two calls
        z = self.dropout(z) if drop else z
        z = self.output_linear(z)
        z = self.dropout(z) if drop else z
        x = x + z
        return (x if self.prenorm else self.norm(x)), state

    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """The same as calling the module (the streaming protocol's name).

        Parameters
        ----------
        x_t : (batch, H) Tensor
            The block's input.
        state : (batch, H, N, 2) Tensor
            The DSS state.

        Returns
        -------
        x_out : (batch, H) Tensor
        new_state : (batch, H, N, 2) Tensor
        """
        return self(x_t, state)


class ClassifierStream(nn.Module):
    """A single-input classifier token by token, ``(x_t, state) -> (logits, state')`` (module doc).

    Parameters
    ----------
    model : SequenceClassifier
        The classifier; its encoder, norms, linears and decoder are used as they are (not copied).
    blocks : list of BlockStream
        The streaming form of each of its blocks.

    Raises
    ------
    MethodError
        A dual-input (retrieval) model: its decoder needs both sequences' pooled features.
    """

    def __init__(self, model: nn.Module, blocks: list[BlockStream]):
        super().__init__()
        if model.dual:
            raise MethodError(
                "streaming is defined for single-input classifiers; a dual-input model's decoder needs "
                "both sequences' pooled features (stream each through its blocks instead)"
            )
        hp = model.hparams
        self.tokens, self.d_input, self.d_model = model.tokens, hp["d_input"], hp["d_model"]
        self.encoder, self.final_norm, self.decoder = model.encoder, model.final_norm, model.decoder
        self.blocks = nn.ModuleList(blocks)
        self.d_states = [b.ssm.d_state for b in blocks]
        sizes = [real_state_size(self.d_model, n) for n in self.d_states]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes) + 1)]
        self.pool = self.offsets[-1]
        used = self.pool + self.d_model + 1
        self.state_size = used + used % 2
        self.dtype = model.decoder.weight.dtype

    def initial_state(self, batch_size: int) -> Tensor:
        """The zero state, ``(batch_size, state_size)`` in the model's dtype.

        Parameters
        ----------
        batch_size : int
            Number of sequences streamed side by side.

        Returns
        -------
        (batch_size, state_size) Tensor
        """
        B = check_int(batch_size, "batch_size")
        return torch.zeros(B, self.state_size, dtype=self.dtype, device=self.decoder.weight.device)

    def example_input(self, batch_size: int) -> Tensor:
        """A token of zeros: ``(batch_size,)`` int64 ids, or ``(batch_size, d_input)`` reals.

        Parameters
        ----------
        batch_size : int
            Batch size.

        Returns
        -------
        Tensor
        """
        B = check_int(batch_size, "batch_size")
        device = self.decoder.weight.device
        if self.tokens:
            return torch.zeros(B, dtype=torch.int64, device=device)
        return torch.zeros(B, self.d_input, dtype=self.dtype, device=device)

    def forward(self, x: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One token: the logits of the prefix read so far, and the new state.

        Parameters
        ----------
        x : (batch,) int64 Tensor or (batch, d_input) Tensor
            The token ids (token models) or the real-valued inputs at this position.
        state : (batch, state_size) Tensor
            The state after the previous tokens (:meth:`initial_state` before the first).

        Returns
        -------
        logits : (batch, n_classes) Tensor
            ``decoder(mean of the last block's outputs so far)``.
        new_state : (batch, state_size) Tensor
        """
        if state.ndim != 2 or state.shape[-1] != self.state_size:
            raise DimensionError(f"the state must have shape (batch, {self.state_size}), got {tuple(state.shape)}")
        B, H = state.shape[0], self.d_model
        h = self.encoder(x)
        new = []
        for i, block in enumerate(self.blocks):
            x_i = state[:, self.offsets[i] : self.offsets[i + 1]].view(B, H, self.d_states[i], 2)
            h, x_i = block(h, x_i)
            new.append(x_i.reshape(B, -1))
        h = self.final_norm(h)
        pooled = state[:, self.pool : self.pool + H] + h
        count = state[:, self.pool + H : self.pool + H + 1] + 1
        logits = self.decoder(pooled / count)
        return logits, torch.cat([*new, pooled, count, state[:, self.pool + H + 1 :]], dim=1)

    def step(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """The same as calling the module (the streaming protocol's name).

        Parameters
        ----------
        x_t : (batch,) int64 Tensor or (batch, d_input) Tensor
            The token.
        state : (batch, state_size) Tensor
            The state.

        Returns
        -------
        logits : (batch, n_classes) Tensor
        new_state : (batch, state_size) Tensor
        """
        return self(x_t, state)


def streaming_cost(model: nn.Module) -> dict[str, int]:
    """State size and multiply-adds per token of a classifier's recurrent form (module doc).

    Parameters
    ----------
    model : SequenceClassifier
        Any classifier, also a reduced one (layers of different ``N_l``).

    Returns
    -------
    dict
        ``state_size``: reals in the SSM states, ``2 H sum_l N_l``; ``ssm_macs_per_token``:
        ``sum_l (7 H N_l + H)``; ``macs_per_token``: those plus the linear layers
        (``n H^2`` + encoder + ``H`` pooling + decoder).
    """
    hp = model.hparams
    H = hp["d_model"]
    states = [layer.d_state for layer in model.dss_layers()]
    ssm = sum(7 * H * n + H for n in states)
    encoder = 0 if hp["vocab_size"] is not None else hp["d_input"] * H
    decoder = sum(m.in_features * m.out_features for m in model.decoder.modules() if isinstance(m, nn.Linear))
    dense = len(states) * H * H + encoder + H + decoder
    return {
        "state_size": sum(real_state_size(H, n) for n in states),
        "ssm_macs_per_token": ssm,
        "macs_per_token": ssm + dense,
    }


def _example_tokens(stream: ClassifierStream, n: int, vocab_size: int | None) -> list[Tensor]:
    """``n`` batch-1 tokens from a fixed generator (the values do not change the cost)."""
    gen = torch.Generator().manual_seed(0)
    if vocab_size is not None:
        ids = torch.randint(0, vocab_size, (n, 1), generator=gen)
        return list(ids)
    return list(torch.randn(n, 1, stream.d_input, generator=gen, dtype=stream.dtype))


def measure_latency(models: dict[str, Any], *, tokens: int = 256, warmup: int = 32) -> dict[str, float]:
    """Median seconds per streamed token of each model: batch 1, CPU, one thread, interleaved.

    Each model is copied to the CPU, put in evaluation mode and streamed through its recurrent
    form (:meth:`~mor_torch.lra.SequenceClassifier.recurrent`) under :func:`torch.inference_mode`.
    After ``warmup`` tokens each, the models take turns token by token, so a change of machine
    load hits them alike (on a shared machine, rounds of even a few milliseconds per model gave
    ratios off by 30% between copies of one model); every token is timed on its own and the
    median is reported.  The thread count is restored on return.

    Parameters
    ----------
    models : dict
        ``{name: SequenceClassifier}`` (single-input models).
    tokens : int
        Timed tokens per model.
    warmup : int
        Untimed tokens per model first.

    Returns
    -------
    dict
        ``{name: median seconds per token}``.
    """
    tokens = check_int(tokens, "tokens")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        streams, inputs, states = {}, {}, {}
        for name, model in models.items():
            streams[name] = copy.deepcopy(model).to("cpu").eval().recurrent()
            inputs[name] = _example_tokens(streams[name], warmup + tokens, model.hparams["vocab_size"])
            states[name] = streams[name].initial_state(1)
        times: dict[str, list[float]] = {name: [] for name in models}
        with torch.inference_mode():
            for name, stream in streams.items():
                for x in inputs[name][:warmup]:
                    _, states[name] = stream(x, states[name])
            for t in range(warmup, warmup + tokens):
                for name, stream in streams.items():
                    t0 = time.perf_counter()
                    _, states[name] = stream(inputs[name][t], states[name])
                    times[name].append(time.perf_counter() - t0)
    finally:
        torch.set_num_threads(threads)
    return {name: statistics.median(ts) for name, ts in times.items()}
