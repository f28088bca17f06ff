"""Batching: pad variable-length items into one tensor and record the true lengths."""

from __future__ import annotations

import torch

from ..errors import DatasetFormatError

__all__ = ["collate", "pad_sequences"]


def pad_sequences(seqs: list[torch.Tensor], length: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack sequences along a new batch axis, padding with zeros at the end.

    Parameters
    ----------
    seqs : list of torch.Tensor
        All ``(L_i,)`` int64 token ids, or all ``(L_i, d)`` float32 features with one ``d``.
    length : int or None
        Padded length; ``None`` uses ``max(L_i)``.  Must be at least ``max(L_i)``.

    Returns
    -------
    x : torch.Tensor, shape (B, length) or (B, length, d)
        ``x[b, :L_b]`` is ``seqs[b]``, the rest is 0.
    lengths : torch.Tensor of int64, shape (B,)
    """
    if not seqs:
        raise DatasetFormatError("cannot collate an empty batch")
    first = seqs[0]
    if first.ndim not in (1, 2):
        raise DatasetFormatError(f"items must be (L,) token ids or (L, d_input) features, got {tuple(first.shape)}")
    for s in seqs:
        if s.ndim != first.ndim or s.shape[1:] != first.shape[1:] or s.dtype != first.dtype:
            raise DatasetFormatError(
                f"items of one batch must agree in trailing shape and dtype: {tuple(first.shape)} "
                f"{first.dtype} vs {tuple(s.shape)} {s.dtype}"
            )
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.int64)
    longest = int(lengths.max())
    if length is None:
        length = longest
    elif length < longest:
        raise DatasetFormatError(f"padded length {length} is shorter than the longest item ({longest})")
    x = first.new_zeros((len(seqs), length, *first.shape[1:]))
    for b, s in enumerate(seqs):
        x[b, : s.shape[0]] = s
    return x, lengths


def _labels(ys) -> torch.Tensor:
    return torch.as_tensor([int(y) for y in ys], dtype=torch.int64)


def collate(batch: list) -> dict[str, torch.Tensor]:
    """Collate dataset items into a padded batch (the ``collate_fn`` of a DataLoader).

    Parameters
    ----------
    batch : list
        Items ``(x, y)`` or, for dual tasks, ``(x1, x2, y)``; ``x`` is a ``(L,)``
        int64 tensor of token ids or a ``(L, d_input)`` float32 tensor.

    Returns
    -------
    dict of str to torch.Tensor
        ``"x"``: (B, L) int64 padded with 0, or (B, L, d_input) float32 padded with 0;
        ``"lengths"``: (B,) int64 true lengths; ``"y"``: (B,) int64.  Dual items add
        ``"x2"`` and ``"lengths2"``; ``x`` and ``x2`` are padded to the same ``L``
        (the longer of the two), so they can be concatenated along the batch axis.
    """
    if not batch:
        raise DatasetFormatError("cannot collate an empty batch")
    arity = len(batch[0])
    if arity not in (2, 3) or any(len(item) != arity for item in batch):
        raise DatasetFormatError("every item must be (x, y) or, for dual tasks, (x1, x2, y)")
    if arity == 2:
        xs, ys = zip(*batch, strict=True)
        x, lengths = pad_sequences(list(xs))
        return {"x": x, "lengths": lengths, "y": _labels(ys)}
    xs1, xs2, ys = zip(*batch, strict=True)
    length = max(max(s.shape[0] for s in xs1), max(s.shape[0] for s in xs2))
    x1, lengths1 = pad_sequences(list(xs1), length)
    x2, lengths2 = pad_sequences(list(xs2), length)
    return {"x": x1, "lengths": lengths1, "x2": x2, "lengths2": lengths2, "y": _labels(ys)}
