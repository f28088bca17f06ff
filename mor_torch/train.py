"""Training and evaluation loops for DSS classifiers.

* :func:`fit` trains one stage: AdamW with the SSM parameters (poles, ``W``,
  ``log_dt`` of every DSS layer) in their own group (default lr ``1e-3``, weight
  decay 0) and the other parameters at the task's lr / weight decay; a
  ReduceLROnPlateau scheduler on validation accuracy (stepped once an epoch) or a
  warmup + cosine / linear / constant schedule (stepped every batch); optional
  gradient-norm clipping.  The **test number is measured on the weights of the
  epoch with the best validation accuracy** (earliest epoch on ties).
* Every epoch a checkpoint is written atomically (model, optimiser, scheduler,
  RNG states, epoch, history, best weights); ``resume=True`` continues from it.
  Data order comes from a sampler seeded with ``(seed, epoch)`` and dropout from a
  generator reseeded at the start of every epoch, so a run killed at any moment
  and resumed ends with bit-identical metrics to an uninterrupted one.
* Under ``torchrun`` the model is wrapped in DistributedDataParallel, training
  batches are sharded with a :class:`~torch.utils.data.DistributedSampler`,
  evaluation shards are disjoint and metrics are summed over ranks, so every rank
  reports the same numbers; only rank 0 writes.
* A non-finite training loss raises :class:`TrainingDivergedError` and leaves the
  last good checkpoint in place.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from mor.errors import MethodError, NonFiniteError

from . import distributed as dist_utils
from .checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from .model import ssm_parameters

logger = logging.getLogger(__name__)

__all__ = [
    "FitResult",
    "TrainingDivergedError",
    "configure_determinism",
    "derive_seed",
    "evaluate",
    "fit",
    "make_eval_loader",
    "make_optimizer",
    "make_scheduler",
    "make_train_loader",
    "EpochBatchSampler",
    "resolve_device",
    "seed_everything",
]

CHECKPOINT_NAME = "checkpoint.pt"


class TrainingDivergedError(NonFiniteError):
    """The training loss became NaN or infinite; the last good checkpoint is kept.

    Attributes
    ----------
    stage : str
        The ``stage`` passed to :func:`fit`.
    epoch, step : int
        Zero-based epoch and step of the offending batch.
    loss : float
        The non-finite loss (averaged over ranks under a process group).
    checkpoint : str or None
        Path of the last good checkpoint (None if no epoch completed or checkpoints are off).
    """

    def __init__(self, message: str, *, stage: str, epoch: int, step: int, loss: float, checkpoint):
        super().__init__(message)
        self.stage, self.epoch, self.step, self.loss, self.checkpoint = stage, epoch, step, loss, checkpoint


@dataclass
class FitResult:
    """Outcome of :func:`fit`.

    ``test`` and ``val`` are measured on the best-validation weights (epoch ``best_epoch``),
    which the model holds on return.  ``history`` has one dict per epoch.

    Attributes
    ----------
    best_epoch : int
        One-based epoch with the best validation accuracy (earliest on ties); 0 if no epoch ran.
    val, test : dict of str to float
        :func:`evaluate` on the validation and test splits with the best-validation weights:
        ``loss``, ``accuracy``, ``n``.
    history : list of dict
        One row per epoch: ``stage``, ``seed``, ``epoch`` (one-based), ``train_loss``,
        ``train_accuracy``, ``val_loss``, ``val_accuracy``, ``lr``, ``ssm_lr``, ``epoch_time_s``,
        plus whatever ``epoch_hook`` added.
    wall_s : float
        Wall time of the :func:`fit` call in seconds.
    """

    best_epoch: int
    val: dict[str, float]
    test: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0


# --------------------------------------------------------------------------- set-up helpers


def resolve_device(spec: str = "auto") -> torch.device:
    """The torch device named by ``spec``.

    Parameters
    ----------
    spec : str
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:<k>"``.  Under
        torchrun a plain ``"cuda"`` (also from ``"auto"``) becomes ``cuda:<LOCAL_RANK>``.

    Returns
    -------
    torch.device

    Raises
    ------
    MethodError
        A CUDA device is requested but CUDA is not available.
    """
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda" and dist_utils.is_distributed():
        spec = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    device = torch.device(spec)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MethodError(f"device {spec!r} requested but CUDA is not available")
    return device


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed from a tuple of ints/strings (stable across runs and platforms).

    64-bit FNV-1a hash of the bytes of ``str(part)`` for each part, each followed by a NUL byte,
    with the top bit cleared.

    Parameters
    ----------
    *parts : int or str
        The components, for example ``(seed, stage, "data")``.

    Returns
    -------
    int
        In ``[0, 2**63)``.
    """
    h = np.uint64(0xCBF29CE484222325)
    with np.errstate(over="ignore"):
        for part in parts:
            for byte in str(part).encode() + b"\x00":
                h = (h ^ np.uint64(byte)) * np.uint64(0x100000001B3)
    return int(h) & ((1 << 63) - 1)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators.

    Parameters
    ----------
    seed : int
        The seed; NumPy's legacy generator gets ``seed % 2**32``.
    """
    import random

    random.seed(seed)
    np.random.seed(seed % (1 << 32))  # noqa: NPY002 - seeds the legacy global generator
    torch.manual_seed(seed)


def configure_determinism(enabled: bool = True) -> None:
    """Ask torch for deterministic kernels (CPU: exact; CUDA: cuBLAS workspace set, warn-only).

    Parameters
    ----------
    enabled : bool
        ``True``: deterministic algorithms on (``CUBLAS_WORKSPACE_CONFIG`` set unless already set,
        cuDNN benchmarking off); ``False``: deterministic algorithms off.
    """
    if not enabled:
        torch.use_deterministic_algorithms(False)
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=torch.cuda.is_available())
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False


def make_optimizer(model: nn.Module, config: dict[str, Any]) -> torch.optim.AdamW:
    """AdamW with two groups: SSM parameters (``ssm_lr``, ``ssm_weight_decay``) and the rest (``lr``,
    ``weight_decay``).  Group 0 is the SSM group.

    Parameters
    ----------
    model : nn.Module
        The SSM group holds :func:`mor_torch.model.ssm_parameters`; the other group every other
        parameter with ``requires_grad``.
    config : dict
        Training recipe with ``lr``, ``weight_decay``, ``ssm_lr``, ``ssm_weight_decay``.

    Returns
    -------
    torch.optim.AdamW
        Empty groups are left out (so group 0 is the other group when there are no SSM parameters).
    """
    ssm = ssm_parameters(model)
    ssm_ids = {id(p) for p in ssm}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ssm_ids]
    groups = [
        {"params": ssm, "lr": config["ssm_lr"], "weight_decay": config["ssm_weight_decay"], "name": "ssm"},
        {"params": rest, "lr": config["lr"], "weight_decay": config["weight_decay"], "name": "other"},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]])


def make_scheduler(optimizer: torch.optim.Optimizer, config: dict[str, Any], total_steps: int):
    """The learning-rate scheduler named by ``config["scheduler"]``.

    ``plateau``: ReduceLROnPlateau on validation accuracy (mode max, ``plateau_factor``,
    ``plateau_patience``, ``min_lr``), stepped once per epoch with the accuracy.
    ``cosine`` / ``linear`` / ``constant``: linear warmup over ``warmup_steps`` then cosine decay
    to 0, linear decay to 0, or constant, over ``total_steps`` optimiser steps; stepped every batch.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimiser whose learning rates are scheduled.
    config : dict
        Training recipe with ``scheduler`` and ``warmup_steps`` (default 0), and for ``plateau``
        ``plateau_factor``, ``plateau_patience``, ``min_lr``.
    total_steps : int
        Number of optimiser steps of the whole run (ignored by ``plateau``).

    Returns
    -------
    scheduler : torch.optim.lr_scheduler.ReduceLROnPlateau or torch.optim.lr_scheduler.LambdaLR
    per_step : bool
        ``True``: call ``scheduler.step()`` after every batch; ``False``: call
        ``scheduler.step(val_accuracy)`` once per epoch.

    Raises
    ------
    MethodError
        Unknown scheduler, or ``warmup_steps`` with ``plateau``.
    """
    kind = config["scheduler"]
    warmup = int(config.get("warmup_steps", 0))
    if kind == "plateau":
        if warmup:
            raise MethodError("warmup_steps needs the cosine, linear or constant scheduler")
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="max",
            factor=config["plateau_factor"],
            patience=config["plateau_patience"],
            min_lr=config["min_lr"],
        )
        return sched, False
    if kind not in ("cosine", "linear", "constant"):
        raise MethodError(f"unknown scheduler {kind!r}; use plateau, cosine, linear or constant")
    total = max(1, int(total_steps))

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0 - progress

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), True


class _ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...`` in order: disjoint, exhaustive evaluation shards."""

    def __init__(self, n: int, rank: int, world: int):
        self.indices = list(range(rank, n, world))

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def _default_collate():
    from .data import collate

    return collate


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
    MethodError
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
            raise MethodError(f"need a non-empty dataset and batch_size >= 1, got n={n}, batch_size={batch_size}")
        self.n, self.batch_size, self.seed = n, batch_size, seed % (1 << 62)
        self.rank, self.world = rank, world
        self.lengths = None if lengths is None else np.asarray(lengths)
        if self.lengths is not None and self.lengths.shape != (n,):
            raise MethodError(f"lengths must have shape ({n},), got {self.lengths.shape}")
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
        Turns a list of items into a batch; default :func:`mor_torch.data.collate`.

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
    return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_fn or _default_collate())


def make_eval_loader(dataset: Dataset, batch_size: int, *, collate_fn: Callable | None = None) -> DataLoader:
    """Evaluation loader over this rank's disjoint shard (all of it in single-process runs).

    Rank ``k`` of ``world`` sees items ``k, k + world, ...`` in order.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Map-style dataset.
    batch_size : int
        Batch size.
    collate_fn : callable, optional
        Turns a list of items into a batch; default :func:`mor_torch.data.collate`.

    Returns
    -------
    torch.utils.data.DataLoader
    """
    sampler = _ShardSampler(len(dataset), dist_utils.rank(), dist_utils.world_size())
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn or _default_collate())


def _model_inputs(batch: dict[str, torch.Tensor], device: torch.device) -> tuple:
    args = [batch["x"].to(device), batch["lengths"].to(device)]
    if "x2" in batch:
        args += [batch["x2"].to(device), batch["lengths2"].to(device)]
    return tuple(args)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, *, device: torch.device | str | None = None) -> dict[str, float]:
    """Mean cross-entropy ``loss``, ``accuracy`` in [0, 1] and example count ``n`` over ``loader``.

    Under a process group the sums are all-reduced, so every rank returns the totals over
    all shards.  The model is put in eval mode and restored to its previous mode.

    Parameters
    ----------
    model : nn.Module
        A classifier called as ``model(x, lengths)`` or ``model(x, lengths, x2, lengths2)``,
        returning ``(batch, n_classes)`` logits; a DistributedDataParallel wrapper is unwrapped.
    loader : iterable of dict
        Batches as produced by :func:`mor_torch.data.collate`: ``x``, ``lengths``, ``y`` (``(batch,)``
        int64 labels) and, for dual tasks, ``x2``, ``lengths2``.
    device : torch.device or str, optional
        Where the batches are moved; default: the device of the model's first parameter.

    Returns
    -------
    dict
        ``loss`` (mean cross-entropy, float), ``accuracy`` (float in [0, 1]) and ``n`` (int);
        ``loss`` and ``accuracy`` are NaN when the loader is empty (``n = 0``).

    Raises
    ------
    NonFiniteError
        The mean loss is NaN or infinite.
    """
    model = _unwrap(model)
    if device is None:
        device = next(model.parameters()).device
    device = torch.device(device)
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64)
    try:
        for batch in loader:
            logits = model(*_model_inputs(batch, device))
            y = batch["y"].to(device)
            loss = nn.functional.cross_entropy(logits.float(), y, reduction="sum")
            sums += torch.tensor([loss.item(), (logits.argmax(-1) == y).sum().item(), y.numel()], dtype=torch.float64)
    finally:
        model.train(was_training)
    sums = dist_utils.all_reduce_sum(sums)
    n = int(sums[2].item())
    if n == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "n": 0}
    loss = sums[0].item() / n
    if not math.isfinite(loss):
        raise NonFiniteError(f"non-finite evaluation loss {loss} over {n} examples")
    return {"loss": loss, "accuracy": sums[1].item() / n, "n": n}


# --------------------------------------------------------------------------- the loop


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, leave=False, dynamic_ncols=True, **kwargs)


def fit(
    model: nn.Module,
    data: Any,
    config: dict[str, Any],
    *,
    run_dir: str | Path | None,
    seed: int = 0,
    stage: str = "train",
    device: str | torch.device = "auto",
    resume: bool = False,
    collate_fn: Callable | None = None,
    progress: bool = False,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    epoch_hook: Callable[[nn.Module, dict[str, Any]], dict[str, Any] | None] | None = None,
) -> FitResult:
    """Train ``model`` on ``data.train``, select the best epoch on ``data.val``, test on ``data.test``.

    Parameters
    ----------
    model : nn.Module
        A classifier whose DSS layers expose ``ssm_parameters()``; trained in place.
    data : TaskData
        Has ``train``, ``val``, ``test`` datasets.
    config : dict
        A training recipe (the ``[train]`` section merged with the stage's section): ``epochs``,
        ``batch_size``, ``eval_batch_size``, ``lr``, ``weight_decay``, ``ssm_lr``,
        ``ssm_weight_decay``, ``scheduler``, ``warmup_steps``, ``plateau_patience``,
        ``plateau_factor``, ``min_lr``, ``grad_clip`` (0 = off), ``max_steps_per_epoch`` (0 = all),
        ``bucket`` (length bucketing, see :class:`EpochBatchSampler`; 0 = off), ``log_every``.
    run_dir : path or None
        Where ``checkpoint.pt`` is written every epoch (rank 0 only); None disables checkpoints.
    seed : int
        Seeds the data order (per epoch) and dropout (per epoch).
    stage : str
        Name used in seeds, log lines and error messages.
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    resume : bool
        Continue from ``run_dir/checkpoint.pt`` if it exists.
    collate_fn : callable, optional
        Turns a list of dataset items into a batch dict (``x``, ``lengths``, ``y``, and ``x2``,
        ``lengths2`` for dual tasks) for the train, validation and test loaders; default
        :func:`mor_torch.data.collate`.
    progress : bool
        Show tqdm bars (CLI use; rank 0 only).
    on_epoch_end : callable
        Called (on every rank) with each epoch's history row, also for rows restored on resume.
    epoch_hook : callable
        ``epoch_hook(model, row)`` is called on every rank after each epoch's validation, before the
        checkpoint is written; the dict it returns is merged into the row (extra per-epoch metrics,
        which are therefore checkpointed too).  It must not consume the global random generators.

    Returns
    -------
    FitResult
        The model holds the best-validation weights on return.

    Raises
    ------
    TrainingDivergedError
        A training loss is NaN or infinite (the last good checkpoint is kept).
    """
    t0 = time.perf_counter()
    device = resolve_device(device) if isinstance(device, str) else device
    model.to(device)
    main = dist_utils.is_main_process()
    run_dir = Path(run_dir) if run_dir is not None else None
    ckpt_path = run_dir / CHECKPOINT_NAME if run_dir is not None else None
    epochs = int(config["epochs"])

    train_loader = make_train_loader(
        data.train,
        config["batch_size"],
        seed=derive_seed(seed, stage, "data"),
        bucket=int(config.get("bucket", 0)),
        collate_fn=collate_fn,
    )
    val_loader = make_eval_loader(data.val, config["eval_batch_size"], collate_fn=collate_fn)
    steps_per_epoch = len(train_loader)
    if config.get("max_steps_per_epoch", 0):
        steps_per_epoch = min(steps_per_epoch, int(config["max_steps_per_epoch"]))

    optimizer = make_optimizer(model, config)
    scheduler, per_step = make_scheduler(optimizer, config, epochs * steps_per_epoch)
    ddp_model: nn.Module = model
    if dist_utils.is_distributed():
        ddp_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    history: list[dict[str, Any]] = []
    best_val, best_epoch, best_state = -math.inf, -1, None
    start_epoch = 0
    if resume and ckpt_path is not None and ckpt_path.is_file():
        ck = load_checkpoint(ckpt_path, map_location="cpu")  # RNG states must stay on the CPU
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        restore_rng_state(ck["rng"])
        history = list(ck["history"])
        best_val, best_epoch, best_state = ck["best_val"], ck["best_epoch"], ck["best_model"]
        start_epoch = int(ck["epoch"])
        logger.info("[%s] resumed from %s at epoch %d/%d", stage, ckpt_path, start_epoch, epochs)
        if on_epoch_end is not None:
            for row in history:
                on_epoch_end(row)

    for epoch in range(start_epoch, epochs):
        te = time.perf_counter()
        train_loader.batch_sampler.set_epoch(epoch)
        torch.manual_seed(derive_seed(seed, stage, "dropout", epoch, dist_utils.rank()))
        ddp_model.train()
        sums = torch.zeros(3, dtype=torch.float64)
        bar = _progress(train_loader, progress and main, desc=f"{stage} {epoch + 1}/{epochs}", total=steps_per_epoch)
        for step, batch in enumerate(bar):
            if step >= steps_per_epoch:
                break
            logits = ddp_model(*_model_inputs(batch, device))
            y = batch["y"].to(device)
            loss = nn.functional.cross_entropy(logits.float(), y)
            loss_value = loss.detach().to(torch.float64).cpu().reshape(1)
            if dist_utils.is_distributed():
                loss_value = dist_utils.all_reduce_sum(loss_value) / dist_utils.world_size()
            if not math.isfinite(loss_value.item()):
                good = str(ckpt_path) if ckpt_path is not None and ckpt_path.is_file() else None
                raise TrainingDivergedError(
                    f"[{stage}] non-finite training loss {loss_value.item()} at epoch {epoch + 1}, "
                    f"step {step + 1}; the last good checkpoint is {good or 'none (no epoch completed)'}. "
                    "Lower train.lr / train.ssm_lr or set train.grad_clip.",
                    stage=stage,
                    epoch=epoch,
                    step=step,
                    loss=loss_value.item(),
                    checkpoint=good,
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.get("grad_clip", 0.0) > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip"])
            optimizer.step()
            if per_step:
                scheduler.step()
            n = y.numel()
            sums += torch.tensor(
                [loss.item() * n, (logits.detach().argmax(-1) == y).sum().item(), n], dtype=torch.float64
            )
            if progress and main and hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{loss.item():.3f}")
            elif config.get("log_every", 0) and (step + 1) % config["log_every"] == 0:
                logger.debug("[%s] epoch %d step %d loss %.4f", stage, epoch + 1, step + 1, loss.item())
        sums = dist_utils.all_reduce_sum(sums)
        train_loss, train_acc = sums[0].item() / sums[2].item(), sums[1].item() / sums[2].item()
        val = evaluate(model, val_loader, device=device)
        if not per_step:
            scheduler.step(val["accuracy"])
        if val["accuracy"] > best_val:
            best_val, best_epoch = val["accuracy"], epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        row = {
            "stage": stage,
            "seed": seed,
            "epoch": epoch + 1,
            "train_loss": train_loss,
            "train_accuracy": train_acc,
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "lr": optimizer.param_groups[-1]["lr"],
            "ssm_lr": optimizer.param_groups[0]["lr"],
            "epoch_time_s": time.perf_counter() - te,
        }
        if epoch_hook is not None:
            row.update(epoch_hook(model, row) or {})
        history.append(row)
        logger.info(
            "[%s] epoch %d/%d train loss %.4f acc %.4f | val loss %.4f acc %.4f (%.1fs)",
            stage,
            epoch + 1,
            epochs,
            train_loss,
            train_acc,
            val["loss"],
            val["accuracy"],
            row["epoch_time_s"],
        )
        if ckpt_path is not None and main:
            save_checkpoint(
                ckpt_path,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "rng": capture_rng_state(),
                    "epoch": epoch + 1,
                    "history": history,
                    "best_val": best_val,
                    "best_epoch": best_epoch,
                    "best_model": best_state,
                },
            )
        if on_epoch_end is not None:
            on_epoch_end(row)

    if best_state is not None:
        model.load_state_dict(best_state)
    val = evaluate(model, val_loader, device=device)
    test = evaluate(model, make_eval_loader(data.test, config["eval_batch_size"], collate_fn=collate_fn), device=device)
    logger.info(
        "[%s] best epoch %d: val acc %.4f, test acc %.4f",
        stage,
        best_epoch + 1,
        val["accuracy"],
        test["accuracy"],
    )
    return FitResult(best_epoch=best_epoch + 1, val=val, test=test, history=history, wall_s=time.perf_counter() - t0)
