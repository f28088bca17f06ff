"""Training and evaluation loops for DSS classifiers.

* :func:`fit` trains one stage: AdamW with the SSM parameters (poles, ``W``, ``log_step`` of
  every DSS layer) in their own group (default lr ``1e-3``, weight decay 0) and the other
  parameters at the task's lr / weight decay; a ReduceLROnPlateau scheduler on validation
  accuracy (stepped once an epoch) or a warmup + cosine / linear / constant schedule (stepped
  every batch); optional gradient-norm clipping.  The **test number is measured on the weights of
  the epoch with the best validation accuracy** (earliest epoch on ties).
* Every epoch a checkpoint is written atomically (model, optimiser, scheduler, RNG states, epoch,
  history, best weights); ``resume=True`` continues from it.  Data order comes from a sampler
  seeded with ``(seed, epoch)`` and dropout from a generator reseeded at the start of every epoch,
  so a run killed at any moment and resumed ends with bit-identical metrics to an uninterrupted one.
* Under ``torchrun`` the model is wrapped in DistributedDataParallel, training batches are sharded,
  evaluation shards are disjoint and metrics are summed over ranks, so every rank reports the same
  numbers; only rank 0 writes.
* A non-finite training loss raises :class:`~mor_torch.lra.errors.TrainingDivergedError` and
  leaves the last good checkpoint in place.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mor.validation import check_choice

from ..regularize import hsv_penalty
from . import distributed as dist_utils
from .checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from .choices import SCHEDULERS
from .config import TrainConfig
from .errors import CheckpointError, TrainingDivergedError
from .loaders import make_eval_loader, make_train_loader
from .model import ssm_parameters
from .process import derive_seed, resolve_device
from .rundir import CHECKPOINT_NAME

logger = logging.getLogger(__name__)

__all__ = ["FitResult", "evaluate", "fit", "make_optimizer", "make_scheduler"]

#: Test hook of the kill-and-resume test: with this environment variable set to ``STAGE:EPOCH`` (e.g.
#: ``bt_init:1``) the process kills itself with SIGKILL right after that stage's checkpoint of that
#: epoch is written, an abrupt end at a point the test chooses instead of one a timer happens to hit.
KILL_AFTER_CHECKPOINT_ENV = "MOR_LRA_KILL_AFTER_CHECKPOINT"


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
        ``train_tokens`` (tokens trained on since the start of the stage: the true lengths of the
        sequences of every training batch, summed over ranks), plus whatever ``epoch_hook`` added.
    wall_s : float
        Wall time of the :func:`fit` call in seconds.
    train_tokens : int
        Tokens trained on in the stage (the last row's ``train_tokens``).
    model : nn.Module or None
        The trained model: the one passed to :func:`fit`, or the last one ``reshape`` returned.
    """

    best_epoch: int
    val: dict[str, float]
    test: dict[str, float]
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    train_tokens: int = 0
    model: nn.Module | None = None


def make_optimizer(model: nn.Module, recipe: TrainConfig) -> torch.optim.AdamW:
    """AdamW with two groups: SSM parameters (``ssm_lr``, ``ssm_weight_decay``) and the rest (``lr``,
    ``weight_decay``).  Group 0 is the SSM group.

    Parameters
    ----------
    model : nn.Module
        The SSM group holds :func:`mor_torch.lra.model.ssm_parameters`; the other group every other
        parameter with ``requires_grad``.
    recipe : TrainConfig
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
        {"params": ssm, "lr": recipe.ssm_lr, "weight_decay": recipe.ssm_weight_decay, "name": "ssm"},
        {"params": rest, "lr": recipe.lr, "weight_decay": recipe.weight_decay, "name": "other"},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]])


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: TrainConfig, total_steps: int):
    """The learning-rate scheduler named by ``recipe.scheduler``.

    ``plateau``: ReduceLROnPlateau on validation accuracy (mode max, ``plateau_factor``,
    ``plateau_patience``, ``min_lr``), stepped once per epoch with the accuracy.
    ``cosine`` / ``linear`` / ``constant``: linear warmup over ``warmup_steps`` then cosine decay
    to 0, linear decay to 0, or constant, over ``total_steps`` optimiser steps; stepped every batch.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimiser whose learning rates are scheduled.
    recipe : TrainConfig
        Training recipe with ``scheduler`` and ``warmup_steps``, and for ``plateau``
        ``plateau_factor``, ``plateau_patience``, ``min_lr``.
    total_steps : int
        Number of optimiser steps of the whole run (ignored by ``plateau``).

    Returns
    -------
    scheduler : torch.optim.lr_scheduler.ReduceLROnPlateau or torch.optim.lr_scheduler.LambdaLR
    per_step : bool
        ``True``: call ``scheduler.step()`` after every batch; ``False``: call
        ``scheduler.step(val_accuracy)`` once per epoch.
    """
    kind = check_choice(recipe.scheduler, "scheduler", SCHEDULERS)
    warmup = int(recipe.warmup_steps)
    if kind == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=recipe.plateau_factor, patience=recipe.plateau_patience, min_lr=recipe.min_lr
        )
        return sched, False
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
        Batches as produced by :func:`mor_torch.lra.data.collate`: ``x``, ``lengths``, ``y``
        (``(batch,)`` int64 labels) and, for dual tasks, ``x2``, ``lengths2``.
    device : torch.device or str, optional
        Where the batches are moved; default: the device of the model's first parameter.

    Returns
    -------
    dict
        ``loss`` (mean cross-entropy, float), ``accuracy`` (float in [0, 1]) and ``n`` (int);
        ``loss`` and ``accuracy`` are NaN when the loader is empty (``n = 0``).

    Raises
    ------
    TrainingDivergedError
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
        raise TrainingDivergedError(
            f"non-finite evaluation loss {loss} over {n} examples",
            stage="evaluate",
            epoch=-1,
            step=-1,
            loss=loss,
            checkpoint=None,
        )
    return {"loss": loss, "accuracy": sums[1].item() / n, "n": n}


# --------------------------------------------------------------------------- the loop


def _progress(iterable, enabled: bool, **kwargs):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm  # the CLI's progress bars: not loaded by library use

    return tqdm(iterable, leave=False, dynamic_ncols=True, **kwargs)


@dataclass
class _Setup:
    """What the steps of :func:`fit` share: the model, its optimiser, loaders and where to save."""

    model: nn.Module
    ddp_model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    per_step: bool
    train_loader: Any
    val_loader: Any
    steps_per_epoch: int
    device: torch.device
    ckpt_path: Path | None
    recipe: TrainConfig
    stage: str
    seed: int
    progress: bool


@dataclass
class _State:
    """What :func:`fit` checkpoints besides the optimiser: history and the best epoch so far."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_val: float = -math.inf
    best_epoch: int = -1
    best_state: dict[str, torch.Tensor] | None = None
    start_epoch: int = 0


def _setup(model, data, recipe, *, run_dir, seed, stage, device, collate_fn, progress) -> _Setup:
    device = resolve_device(device) if isinstance(device, str) else device
    model.to(device)
    data_seed = derive_seed(seed, stage, "data")
    train_loader = make_train_loader(
        data.train, recipe.batch_size, seed=data_seed, bucket=recipe.bucket, collate_fn=collate_fn
    )
    steps = len(train_loader)
    if recipe.max_steps_per_epoch:
        steps = min(steps, recipe.max_steps_per_epoch)
    optimizer = make_optimizer(model, recipe)
    scheduler, per_step = make_scheduler(optimizer, recipe, recipe.epochs * steps)
    return _Setup(
        model=model,
        ddp_model=_wrap(model, device),
        optimizer=optimizer,
        scheduler=scheduler,
        per_step=per_step,
        train_loader=train_loader,
        val_loader=make_eval_loader(data.val, recipe.eval_batch_size, collate_fn=collate_fn),
        steps_per_epoch=steps,
        device=device,
        ckpt_path=Path(run_dir) / CHECKPOINT_NAME if run_dir is not None else None,
        recipe=recipe,
        stage=stage,
        seed=seed,
        progress=progress and dist_utils.is_main_process(),
    )


def _wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel under a process group, else itself."""
    if not dist_utils.is_distributed():
        return model
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _adopt(run: _Setup, model: nn.Module) -> _Setup:
    """``run`` training ``model`` instead: a new optimiser (no moments) at the current learning rates and
    the scheduler's state carried over (the schedule continues where it was)."""
    model.to(run.device)
    optimizer = make_optimizer(model, run.recipe)
    scheduler, _ = make_scheduler(optimizer, run.recipe, run.recipe.epochs * run.steps_per_epoch)
    scheduler.load_state_dict(run.scheduler.state_dict())
    for new, old in zip(optimizer.param_groups, run.optimizer.param_groups, strict=True):
        new["lr"] = old["lr"]
    return dataclasses.replace(run, model=model, ddp_model=_wrap(model, run.device), optimizer=optimizer,
                               scheduler=scheduler)  # fmt: skip


def _reshape(run: _Setup, state: _State, reshape: Callable, row: dict[str, Any]) -> _Setup:
    """Apply ``reshape`` after an epoch: a new model restarts the best-epoch selection (sizes differ)."""
    new, extra = reshape(run.model, row)
    row.update(extra or {})
    if new is None:
        return run
    state.best_val, state.best_epoch, state.best_state = -math.inf, -1, None
    return _adopt(run, new)


def _restore(run: _Setup) -> tuple[_Setup, _State]:
    """The state of the last complete epoch from the stage's checkpoint (RNG states included).

    An unreadable checkpoint (truncated, not a torch file) restarts the stage from its first epoch
    with a warning: every epoch is seeded from ``(seed, stage, epoch)``, so the result equals that of
    an uninterrupted run.  A readable file that does not fit the stage raises
    :class:`CheckpointError`.  A checkpoint of a model whose shape (``hparams``) a ``reshape`` changed
    restores a model of that shape (``type(model)(**hparams)``).
    """
    try:
        ck = load_checkpoint(run.ckpt_path, map_location="cpu")  # RNG states must stay on the CPU
    except CheckpointError as exc:
        logger.warning("[%s] %s; the stage restarts from its first epoch", run.stage, exc)
        return run, _State()
    try:
        hparams = ck.get("hparams")
        if hparams is not None and hparams != getattr(run.model, "hparams", None):
            run = _adopt(run, type(run.model)(**hparams))
        run.model.load_state_dict(ck["model"])
        run.optimizer.load_state_dict(ck["optimizer"])
        run.scheduler.load_state_dict(ck["scheduler"])
        restore_rng_state(ck["rng"])
        state = _State(list(ck["history"]), ck["best_val"], ck["best_epoch"], ck["best_model"], int(ck["epoch"]))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{run.ckpt_path} is not a checkpoint of this stage: {type(exc).__name__}: {exc}", path=str(run.ckpt_path)
        ) from None
    logger.info("[%s] resumed from %s at epoch %d/%d", run.stage, run.ckpt_path, state.start_epoch, run.recipe.epochs)
    return run, state


def _diverged(run: _Setup, epoch: int, step: int, loss: float) -> TrainingDivergedError:
    good = str(run.ckpt_path) if run.ckpt_path is not None and run.ckpt_path.is_file() else None
    return TrainingDivergedError(
        f"[{run.stage}] non-finite training loss {loss} at epoch {epoch + 1}, step {step + 1}; the last good "
        f"checkpoint is {good or 'none (no epoch completed)'}. Lower train.lr / train.ssm_lr or set train.grad_clip.",
        stage=run.stage,
        epoch=epoch,
        step=step,
        loss=loss,
        checkpoint=good,
    )


def _batch_tokens(batch: dict[str, torch.Tensor]) -> int:
    """Tokens in a batch: the true lengths of its sequences (both documents of a dual task)."""
    return int(batch["lengths"].sum()) + (int(batch["lengths2"].sum()) if "lengths2" in batch else 0)


def _hsv_term(run: _Setup, generator: torch.Generator | None) -> torch.Tensor | float:
    """``hsv_reg * hsv_penalty(model, hsv_reg_order)`` of the recipe; 0 when the penalty is off.

    The channels it samples come from ``generator``, seeded per epoch and equal on every rank.
    """
    weight = run.recipe.hsv_reg
    if not weight:
        return 0.0
    channels = run.recipe.hsv_reg_channels or None
    penalty = hsv_penalty(run.model, run.recipe.hsv_reg_order, channels=channels, generator=generator)
    return weight * penalty.float()


def _train_epoch(run: _Setup, epoch: int) -> tuple[float, float, int]:
    """One epoch of optimiser steps: mean training loss, accuracy and tokens (over all ranks).

    The reported loss is the task's cross-entropy; the optimiser also sees the Hankel-singular-value
    penalty when the recipe asks for it (``hsv_reg``).
    """
    recipe = run.recipe
    run.train_loader.batch_sampler.set_epoch(epoch)
    hsv_gen = torch.Generator().manual_seed(derive_seed(run.seed, run.stage, "hsv_reg", epoch))
    torch.manual_seed(derive_seed(run.seed, run.stage, "dropout", epoch, dist_utils.rank()))
    run.ddp_model.train()
    sums = torch.zeros(4, dtype=torch.float64)
    desc = f"{run.stage} {epoch + 1}/{recipe.epochs}"
    bar = _progress(run.train_loader, run.progress, desc=desc, total=run.steps_per_epoch)
    for step, batch in enumerate(bar):
        if step >= run.steps_per_epoch:
            break
        logits = run.ddp_model(*_model_inputs(batch, run.device))
        y = batch["y"].to(run.device)
        loss = nn.functional.cross_entropy(logits.float(), y)
        loss_value = dist_utils.all_reduce_sum(loss.detach().to(torch.float64).cpu().reshape(1)).item()
        loss_value /= dist_utils.world_size()
        if not math.isfinite(loss_value):
            raise _diverged(run, epoch, step, loss_value)
        run.optimizer.zero_grad(set_to_none=True)
        (loss + _hsv_term(run, hsv_gen)).backward()
        if recipe.grad_clip > 0:
            nn.utils.clip_grad_norm_(run.model.parameters(), recipe.grad_clip)
        run.optimizer.step()
        if run.per_step:
            run.scheduler.step()
        n = y.numel()
        correct = (logits.detach().argmax(-1) == y).sum().item()
        sums += torch.tensor([loss.item() * n, correct, n, _batch_tokens(batch)], dtype=torch.float64)
        if run.progress and hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss.item():.3f}")
        elif recipe.log_every and (step + 1) % recipe.log_every == 0:
            logger.debug("[%s] epoch %d step %d loss %.4f", run.stage, epoch + 1, step + 1, loss.item())
    sums = dist_utils.all_reduce_sum(sums)
    return sums[0].item() / sums[2].item(), sums[1].item() / sums[2].item(), int(sums[3].item())


def _end_epoch(run: _Setup, state: _State, epoch: int, train: tuple, started: float) -> dict[str, Any]:
    """Validate, step the plateau scheduler, keep the best weights; the epoch's history row."""
    val = evaluate(run.model, run.val_loader, device=run.device)
    if not run.per_step:
        run.scheduler.step(val["accuracy"])
    if val["accuracy"] > state.best_val:
        state.best_val, state.best_epoch = val["accuracy"], epoch
        state.best_state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
    return {
        "stage": run.stage,
        "seed": run.seed,
        "epoch": epoch + 1,
        "train_loss": train[0],
        "train_accuracy": train[1],
        "val_loss": val["loss"],
        "val_accuracy": val["accuracy"],
        "lr": run.optimizer.param_groups[-1]["lr"],
        "ssm_lr": run.optimizer.param_groups[0]["lr"],
        "epoch_time_s": time.perf_counter() - started,
        "train_tokens": (state.history[-1]["train_tokens"] if state.history else 0) + train[2],
    }


def _save(run: _Setup, state: _State, epoch: int) -> None:
    if run.ckpt_path is None or not dist_utils.is_main_process():
        return
    save_checkpoint(
        run.ckpt_path,
        {
            "model": run.model.state_dict(),
            "hparams": getattr(run.model, "hparams", None),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "rng": capture_rng_state(),
            "epoch": epoch + 1,
            "history": state.history,
            "best_val": state.best_val,
            "best_epoch": state.best_epoch,
            "best_model": state.best_state,
        },
    )


def _kill_point(stage: str, epoch: int) -> None:
    """SIGKILL this process if :data:`KILL_AFTER_CHECKPOINT_ENV` names this stage and epoch (tests only)."""
    if os.environ.get(KILL_AFTER_CHECKPOINT_ENV) == f"{stage}:{epoch}":
        logger.warning("%s=%s: killing the process (SIGKILL)", KILL_AFTER_CHECKPOINT_ENV, f"{stage}:{epoch}")
        os.kill(os.getpid(), signal.SIGKILL)


def fit(
    model: nn.Module,
    data: Any,
    recipe: TrainConfig,
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
    reshape: Callable[[nn.Module, dict[str, Any]], tuple[nn.Module | None, dict[str, Any]]] | None = None,
) -> FitResult:
    """Train ``model`` on ``data.train``, select the best epoch on ``data.val``, test on ``data.test``.

    Parameters
    ----------
    model : nn.Module
        A classifier whose DSS layers expose ``ssm_parameters()``; trained in place.
    data : TaskData
        Has ``train``, ``val``, ``test`` datasets.
    recipe : TrainConfig
        The stage's training recipe (:meth:`mor_torch.lra.config.Config.recipe`).
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
        :func:`mor_torch.lra.data.collate`.
    progress : bool
        Show tqdm bars (CLI use; rank 0 only).
    on_epoch_end : callable
        Called (on every rank) with each epoch's history row, also for rows restored on resume.
    epoch_hook : callable
        ``epoch_hook(model, row)`` is called on every rank after each epoch's validation, before the
        checkpoint is written; the dict it returns is merged into the row (extra per-epoch metrics,
        which are therefore checkpointed too).  It must not consume the global random generators.
    reshape : callable
        ``reshape(model, row) -> (new_model or None, extra)`` is called after ``epoch_hook`` (same
        rules); ``extra`` is merged into the row.  A ``new_model`` (a smaller model from a reduction)
        is trained from the next epoch on with a new optimiser at the current learning rates while the
        scheduler continues; the best-validation selection restarts with it (weights of different
        shapes do not compare).  It must have ``hparams`` (a resumed stage rebuilds it as
        ``type(model)(**hparams)``) and be deterministic, so that a resumed stage is bit-identical.

    Returns
    -------
    FitResult
        The model holds the best-validation weights on return.

    Raises
    ------
    TrainingDivergedError
        A training loss is NaN or infinite (the last good checkpoint is kept).
    CheckpointError
        ``resume`` and the stage's checkpoint is readable but not one of this stage (an unreadable
        one restarts the stage from its first epoch, with a warning).
    """
    t0 = time.perf_counter()
    run = _setup(
        model, data, recipe, run_dir=run_dir, seed=seed, stage=stage, device=device, collate_fn=collate_fn,
        progress=progress,
    )  # fmt: skip
    state = _State()
    if resume and run.ckpt_path is not None and run.ckpt_path.is_file():
        run, state = _restore(run)
        for row in state.history if on_epoch_end is not None else ():
            on_epoch_end(row)
    for epoch in range(state.start_epoch, recipe.epochs):
        started = time.perf_counter()
        train = _train_epoch(run, epoch)
        row = _end_epoch(run, state, epoch, train, started)
        if epoch_hook is not None:
            row.update(epoch_hook(run.model, row) or {})
        if reshape is not None:
            run = _reshape(run, state, reshape, row)
        state.history.append(row)
        logger.info(
            "[%s] epoch %d/%d train loss %.4f acc %.4f | val loss %.4f acc %.4f (%.1fs)",
            stage, epoch + 1, recipe.epochs, row["train_loss"], row["train_accuracy"], row["val_loss"],
            row["val_accuracy"], row["epoch_time_s"],
        )  # fmt: skip
        _save(run, state, epoch)
        _kill_point(stage, epoch + 1)
        if on_epoch_end is not None:
            on_epoch_end(row)
    model = run.model
    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    val = evaluate(model, run.val_loader, device=run.device)
    test_loader = make_eval_loader(data.test, recipe.eval_batch_size, collate_fn=collate_fn)
    test = evaluate(model, test_loader, device=run.device)
    logger.info("[%s] best epoch %d: val acc %.4f, test acc %.4f", stage, state.best_epoch + 1, val["accuracy"],
                test["accuracy"])  # fmt: skip
    tokens = state.history[-1]["train_tokens"] if state.history else 0
    return FitResult(state.best_epoch + 1, val, test, state.history, time.perf_counter() - t0, tokens, model)
