"""Data loaders for training and evaluation: seeded, per-epoch batches, sharded over ranks.

* :class:`EpochBatchSampler` draws each epoch's batches from a generator seeded with
  ``(seed, epoch)`` alone, optionally bucketed by length, so a resumed run sees the same batches.
* :func:`make_eval_loader` gives each rank a disjoint, exhaustive shard.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from . import distributed as dist_utils
from .data import collate
from .errors import DataOptionError

__all__ = ["EpochBatchSampler", "make_eval_loader", "make_train_loader"]


class _ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...``: disjoint, exhaustive evaluation shards.

    With per-item ``lengths`` the shard is ordered by length (stable), so an evaluation batch holds
    sequences of similar length and little compute goes to padding; the metrics are sums over the
    shard, which the order does not change.
    """

    def __init__(self, n: int, rank: int, world: int, lengths: Any = None):
        self.indices = list(range(rank, n, world))
        if lengths is not None:
            lengths = np.asarray(lengths)
            self.indices.sort(key=lambda i: lengths[i])

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class EpochBatchSampler(Sampler[list[int]]):
    """Seeded, per-epoch shuffled batches, sharded over ranks, optionally bucketed by length.

    Epoch ``e`` draws a permutation from a generator seeded with ``seed + e`` (nothing else
    influences it, so a resumed run sees the same batches).  With ``bucket > 1`` and per-item
    ``lengths``, the permutation is cut into chunks of ``bucket * batch_size`` items, each chunk is
    sorted by length and cut into batches, and the batch order is shuffled again: batches hold
    sequences of similar length, so little compute goes to padding.  Under a process group the
    batch list is padded (by repeating its first batches) to a multiple of the world size and rank
    ``k`` takes batches ``k, k + world, ...``: every rank runs the same number of steps, as with
    :class:`~torch.utils.data.DistributedSampler`, and the global batch is ``world * batch_size``.

    Parameters
    ----------
    n : int
        Dataset size (>= 1).
    batch_size : int
        Batch size per rank (>= 1); the last batch of an epoch may be smaller.
    seed : int
        Base seed (taken modulo ``2**62``).
    rank, world : int
        This process's rank and the number of processes.
    lengths : (n,) array_like of int, optional
        Per-item sequence lengths, used for bucketing.
    bucket : int
        Bucket size in batches; ``<= 1`` (or no ``lengths``) disables bucketing.

    Raises
    ------
    DataOptionError
        ``n < 1``, ``batch_size < 1`` or ``lengths`` of the wrong shape.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world: int = 1,
        lengths: Any = None,
        bucket: int = 0,
    ):
        if n < 1 or batch_size < 1:
            raise DataOptionError(f"need a non-empty dataset and batch_size >= 1, got n={n}, batch_size={batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed % (1 << 62)
        self.rank, self.world = rank, world
        self.lengths = None if lengths is None else np.asarray(lengths)
        if self.lengths is not None and self.lengths.shape != (n,):
            raise DataOptionError(f"lengths must have shape ({n},), got {self.lengths.shape}")
        self.bucket = bucket
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches the next iteration yields.

        Parameters
        ----------
        epoch : int
            Zero-based epoch; the permutation is drawn with seed ``seed + epoch``.
        """
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """This rank's batches for the current epoch."""
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        bs = self.batch_size
        if self.lengths is not None and self.bucket > 1:
            chunk = bs * self.bucket
            order: list[int] = []
            for start in range(0, self.n, chunk):
                order.extend(sorted(perm[start : start + chunk], key=lambda i: self.lengths[i]))
            batches = [order[i : i + bs] for i in range(0, self.n, bs)]
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        else:
            batches = [perm[i : i + bs] for i in range(0, self.n, bs)]
        if self.world > 1:
            batches += batches[: (-len(batches)) % self.world]
            batches = batches[self.rank :: self.world]
        return batches

    def __iter__(self):
        return iter(self.batches())

    def __len__(self) -> int:
        return math.ceil(math.ceil(self.n / self.batch_size) / self.world)


def _dataset_lengths(dataset: Dataset) -> Any:
    lengths = getattr(dataset, "lengths", None)
    return lengths() if callable(lengths) else lengths


def make_train_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    seed: int,
    bucket: int = 0,
    collate_fn: Callable | None = None,
) -> DataLoader:
    """Training loader over an :class:`EpochBatchSampler`; call ``loader.batch_sampler.set_epoch(epoch)``
    before each epoch.  ``bucket > 1`` groups similar lengths when the dataset exposes ``lengths``.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Map-style dataset; an attribute or method ``lengths`` (per-item lengths) enables bucketing.
    batch_size : int
        Batch size per rank.
    seed : int
        Seed of the per-epoch shuffles (see :class:`EpochBatchSampler`).
    bucket : int
        Length-bucketing factor (see :class:`EpochBatchSampler`); 0 = off.
    collate_fn : callable, optional
        Turns a list of items into a batch; default :func:`mor_torch.lra.data.collate`.

    Returns
    -------
    torch.utils.data.DataLoader
        Yields this rank's batches of the current epoch.
    """
    sampler = EpochBatchSampler(
        len(dataset),
        batch_size,
        seed=seed,
        rank=dist_utils.rank(),
        world=dist_utils.world_size(),
        lengths=_dataset_lengths(dataset) if bucket > 1 else None,
        bucket=bucket,
    )
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_fn or collate)


def make_eval_loader(dataset: Dataset, batch_size: int, *, collate_fn: Callable | None = None) -> DataLoader:
    """Evaluation loader over this rank's disjoint shard (all of it in single-process runs).

    Rank ``k`` of ``world`` sees items ``k, k + world, ...``, sorted by length when the dataset
    exposes ``lengths`` (unsorted batches of variable-length data spend ~40% on padding).

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Map-style dataset.
    batch_size : int
        Batch size.
    collate_fn : callable, optional
        Turns a list of items into a batch; default :func:`mor_torch.lra.data.collate`.

    Returns
    -------
    torch.utils.data.DataLoader
    """
    sampler = _ShardSampler(len(dataset), dist_utils.rank(), dist_utils.world_size(), _dataset_lengths(dataset))
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn or collate)
