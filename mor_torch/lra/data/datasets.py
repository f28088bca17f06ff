"""Dataset containers handed to ``torch.utils.data.DataLoader`` and the task record.

Token sequences are stored as one flat ``uint8`` array plus offsets (a few
bytes per token instead of eight), and turned into ``int64`` tensors item by
item.  Items are ``(x, y)`` with ``y`` a Python ``int``; dual datasets give
``(x1, x2, y)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DataOptionError, DatasetFormatError

__all__ = [
    "ImageDataset",
    "split_indices",
    "PairTokenDataset",
    "TaskData",
    "TokenDataset",
    "pack_sequences",
]


@dataclass(frozen=True)
class TaskData:
    """A loaded task: three splits and what a model needs to know about them.

    Attributes
    ----------
    name : str
        Task name (one of :data:`mor_torch.lra.choices.TASKS`).
    train, val, test : torch.utils.data.Dataset
        The splits.  Items are ``(x, y)`` (``(x1, x2, y)`` when ``dual``).
    n_classes : int
        Number of classes; labels lie in ``[0, n_classes)``.
    vocab_size : int or None
        Token tasks: ids lie in ``[0, vocab_size)``, 0 is padding.  ``None`` for
        real-valued inputs.
    d_input : int
        Feature size of real-valued inputs (1 for grayscale); 1 for token tasks.
    max_length : int
        The longest sequence the task produces (over all three splits).
    dual : bool
        ``True`` for AAN retrieval, whose items hold two documents.
    """

    name: str
    train: torch.utils.data.Dataset
    val: torch.utils.data.Dataset
    test: torch.utils.data.Dataset
    n_classes: int
    vocab_size: int | None
    d_input: int
    max_length: int
    dual: bool = False


def pack_sequences(seqs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate 1-D ``uint8`` arrays into ``(flat, offsets)``.

    Returns
    -------
    flat : ndarray of uint8, shape (sum of lengths,)
    offsets : ndarray of int64, shape (len(seqs) + 1,)
        Sequence ``i`` is ``flat[offsets[i]:offsets[i + 1]]``.
    """
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate(seqs).astype(np.uint8, copy=False) if seqs else np.zeros(0, np.uint8)
    return flat, offsets


class TokenDataset(torch.utils.data.Dataset):
    """Variable-length token sequences with integer labels.

    Parameters
    ----------
    flat : ndarray of uint8, shape (T,)
        All sequences concatenated (stored ids minus ``shift``).
    offsets : ndarray of int64, shape (n + 1,)
        Sequence boundaries.
    labels : ndarray of int64, shape (n,)
    shift : int
        Added to every stored value when an item is handed out (1 for byte-level
        text, so byte ``b`` becomes id ``b + 1``; 0 for ListOps).
    """

    def __init__(self, flat: np.ndarray, offsets: np.ndarray, labels: np.ndarray, shift: int = 0):
        if offsets.ndim != 1 or len(offsets) != len(labels) + 1:
            raise DatasetFormatError(
                f"offsets must have len(labels) + 1 = {len(labels) + 1} entries, got shape {offsets.shape}"
            )
        self.flat = flat
        self.offsets = offsets
        self.labels = np.asarray(labels, dtype=np.int64)
        self.shift = int(shift)

    @property
    def lengths(self) -> np.ndarray:
        """Sequence lengths, ndarray of int64, shape (n,)."""
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.labels)

    def sequence(self, index: int) -> torch.Tensor:
        """Token ids of sequence ``index``, int64 tensor of shape (L,)."""
        seq = self.flat[self.offsets[index] : self.offsets[index + 1]]
        x = torch.from_numpy(seq.astype(np.int64))
        return x + self.shift if self.shift else x

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        index = _check_index(index, len(self))
        return self.sequence(index), int(self.labels[index])


class PairTokenDataset(torch.utils.data.Dataset):
    """Pairs of token sequences with a label (AAN retrieval): items ``(x1, x2, y)``."""

    def __init__(self, first: TokenDataset, second: TokenDataset):
        if len(first) != len(second) or not np.array_equal(first.labels, second.labels):
            raise DatasetFormatError("the two halves of a pair dataset must have equal length and labels")
        self.first = first
        self.second = second
        self.labels = first.labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        index = _check_index(index, len(self))
        return self.first.sequence(index), self.second.sequence(index), int(self.labels[index])


class ImageDataset(torch.utils.data.Dataset):
    """Images flattened to sequences, held in memory.

    Parameters
    ----------
    pixels : torch.Tensor of float32, shape (n, L, d_input)
    labels : ndarray of int64, shape (n,)
    """

    def __init__(self, pixels: torch.Tensor, labels: np.ndarray):
        if pixels.ndim != 3 or pixels.shape[0] != len(labels):
            raise DatasetFormatError(
                f"pixels must have shape (n, L, d_input) with n = {len(labels)}, got {tuple(pixels.shape)}"
            )
        self.pixels = pixels
        self.labels = np.asarray(labels, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        index = _check_index(index, len(self))
        return self.pixels[index], int(self.labels[index])


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int) -> list[np.ndarray]:
    """A seeded random split of ``range(n)`` into sorted train, validation and test index arrays.

    Parameters
    ----------
    n : int
        Number of examples.
    val_fraction, test_fraction : float
        Fractions in ``[0, 1)``; ``int(fraction * n)`` examples each (the test part is empty for 0).
    seed : int
        Seed of the permutation (``numpy.random.default_rng``).

    Returns
    -------
    [train, val, test] : list of ndarray of int

    Raises
    ------
    DataOptionError
        The fractions leave no training example, or a non-zero fraction gives no example.
    """
    n_val, n_test = int(val_fraction * n), int(test_fraction * n)
    if n - n_val - n_test < 1 or (val_fraction > 0 and n_val < 1) or (test_fraction > 0 and n_test < 1):
        raise DataOptionError(
            f"cannot split {n} examples with val_fraction={val_fraction}, test_fraction={test_fraction}"
        )
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(p) for p in (perm[n_val + n_test :], perm[:n_val], perm[n_val : n_val + n_test])]


def _check_index(index, n: int) -> int:
    index = int(index)
    if index < 0:
        index += n
    if not 0 <= index < n:
        raise IndexError(f"index {index} out of range for a dataset of {n} items")
    return index
