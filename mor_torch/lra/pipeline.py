"""The compression pipeline of Ezoe & Sato (2024), with fair baselines, on a (Long Range Arena) task.

For every seed (``train_tokens``: tokens trained on since the start of the stage's path):

=======================  ==========================================================  ============
stage                    what                                                        path tokens
=======================  ==========================================================  ============
``pretrained``           state size ``N`` from Skew-HiPPO, ``pretrain`` recipe       ``T_p``
``reduced``              balanced truncation of every DSS layer to ``r``, no         ``T_p``
                         training (:func:`mor_torch.compress`)
``bt_init``              ``reduced`` main-trained (``main`` recipe): the method      ``T_p + T_m``
``modal_init``           modal truncation to ``r`` (per channel the ``r`` modes of   ``T_p + T_m``
                         largest H-infinity norm), then the same main training
``full_continued``       the size-``N`` model trained on with the ``main`` recipe    ``T_p + T_m``
                         (the upper reference)
``skew_hippo``           size ``r`` from Skew-HiPPO, ``main`` recipe (the paper's    ``T_m``
                         baseline)
``skew_hippo_matched``   size ``r`` from Skew-HiPPO for pre-training + main epochs   ``T_p + T_m``
                         (BT's whole training compute)
=======================  ==========================================================  ============

With ``claims.checkpoints`` set, the weights after those pre-training epochs are also reduced and
main-trained (stages ``claim2_epoch<e>``), the data of the second claim (:mod:`.claims`).

The claims experiment's arms (:class:`~mor_torch.lra.config.ClaimsConfig`), all from the one
pre-trained model of each seed: every reducer of ``claims.inits`` (``bt``, ``modal``, ``bsp``,
``irka``) reduces it and the same main training follows (``<init>_reduced``, ``<init>_init``; BT's
reduced stage is ``reduced``), at every order of ``claims.orders`` (stages of an order other than
``reduce.order`` end in ``_r<k>``).  With ``claims.hsv_reg > 0`` a second pre-training from the same
initial weights adds the Hankel-singular-value regulariser (``pretrained_hsvreg``), followed by
balanced truncation to each order, without and with main training (``hsvreg_reduced``,
``hsvreg_bt_init``).  ``claims.baselines = false`` skips ``full_continued`` and the Skew-HiPPO stages.
An IRKA that does not converge is logged and noted in its stage's record (``warnings``).

With ``during.epochs`` set, the arm of :mod:`.during` also runs (stages ``during_pretrained``: the
pre-training with reductions by balanced truncation after those epochs, ``T_p`` tokens; ``during``:
its final model main-trained, ``T_p + T_m``), compared with ``bt_init`` and ``skew_hippo_matched`` in
``results["during_training"]`` and, wall times per arm, in ``timing.json``.

With ``compression.enabled`` the run is the compression experiment instead (:mod:`.compression`):
pre-training, then for every seed the curve of test accuracy without retraining against the
fraction of SSM states kept (stage ``compression``); it writes ``compression.json``,
``plots/compression.png``, ``plots/compression_layers.png`` and ``plots/hsv_decay.png``.

Run directory layout (rank 0 writes; see also :mod:`mor_torch.lra.rundir`)::

    config.toml, config.json        the resolved configuration
    seed<k>/<stage>/checkpoint.pt   per-epoch checkpoint of the running stage
    seed<k>/<stage>/model.pt        final weights (best validation epoch) and the model's shape
    seed<k>/<stage>/result.json     stage result; its presence marks the stage finished
    seed<k>/pretrained/epoch<e>.pt  pre-training weights after epoch e (claims.checkpoints)
    seed<k>/reduced/hsv.npz         Hankel singular values per layer, (H, N) or (1, N)
    metrics.jsonl, metrics.csv      one row per stage, seed and epoch
    results.json, claims.json       the summary (:func:`run_pipeline`) and the claims' verdicts
    timing.json                     wall times, world size and threads of the last invocation
                                    (apart, so that results.json of a resumed run is byte-identical
                                    to that of an uninterrupted one and can be compared by hash)
    plots/*.png                     accuracy against training compute, comparison, HSVs, claim 2

``resume=True`` skips finished stages (their ``result.json`` exists) and continues the
running stage from its last complete checkpoint; the final metrics are bit-identical to an
uninterrupted run on the same machine and thread count.  Damaged files: an unreadable
``checkpoint.pt`` restarts its stage from the first epoch (a warning; the stage is deterministic,
so the numbers are those of an uninterrupted run); an unreadable output of a reduce stage
(``result.json``, ``model.pt``, ``hsv.npz``) computes that stage again (a warning); an unreadable
output of a finished training stage stops the run with a
:class:`~mor_torch.lra.errors.CheckpointError` naming the file.  Temporary files left by a killed
run (``.<name>.<random>.tmp``) are removed when the run is resumed.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import logging
import math
import multiprocessing
import os
import pickle
import time
import warnings
import zipfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mor.errors import AccuracyWarning

from ..dss import DSS
from ..reduce import compress
from ..reducers import ITERATIVE
from . import claims as claims_mod
from . import compression, plots, report
from . import distributed as dist_utils
from . import during as during_mod
from .choices import INIT_REDUCERS
from .config import Config, TrainConfig
from .data import load_task
from .errors import CheckpointError, LraError, WorkerError
from .files import atomic_write_bytes, atomic_write_json
from .loaders import make_eval_loader
from .model import SequenceClassifier, build_model, count_parameters, load_model, save_model
from .process import derive_seed, die_with_parent, keep_freed_memory, seed_everything, set_up_run
from .rundir import (
    CLAIMS_NAME,
    COMPRESSION_NAME,
    HSV_NAME,
    MODEL_NAME,
    PLOTS_DIR,
    RESULTS_NAME,
    TIMING_NAME,
    prepare_run_dir,
    snapshot_path,
    stage_path,
    stage_result,
    write_stage_result,
)
from .streaming import measure_latency, streaming_cost
from .train import evaluate, fit

logger = logging.getLogger(__name__)

__all__ = ["load_data", "run_pipeline"]


def load_data(config: Config):
    """Load the task named in ``config.task`` (rank 0 first, so a generated cache is written once).

    Parameters
    ----------
    config : Config
        The resolved configuration; its ``task`` section gives ``name``, ``data_dir`` (empty: the
        default data root of :func:`mor_torch.lra.data.load_task`) and ``options``.

    Returns
    -------
    TaskData
        The three splits and the task's shape information.
    """
    task = config.task

    def load():
        return load_task(task.name, task.data_dir or None, **dict(task.options))

    data = load() if dist_utils.is_main_process() else None
    dist_utils.barrier()
    return data if data is not None else load()


@dataclass
class _Context:
    """What every stage of every seed needs."""

    config: Config
    data: Any
    run_dir: Path
    device: torch.device
    resume: bool
    progress: bool
    metrics: report.MetricsWriter


@dataclass
class _SeedRun:
    """The stages of one seed: result records, final models, Hankel singular values."""

    records: dict[str, dict] = field(default_factory=dict)
    models: dict[str, SequenceClassifier] = field(default_factory=dict)
    hsv: list[np.ndarray] = field(default_factory=list)


# --------------------------------------------------------------------------- stages
def _stage_record(model: SequenceClassifier, val: dict, test: dict, **extra: Any) -> dict:
    hp = model.hparams
    return {
        "val_accuracy": val["accuracy"],
        "val_loss": val["loss"],
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "d_state": hp["d_state"],
        "shared_poles": hp["shared_poles"],
        **count_parameters(model),
        **extra,
    }


def _finished(ctx: _Context, stage_dir: Path, stage: str, seed: int) -> dict | None:
    """The saved result of a finished stage when resuming (its metric rows re-added), else None."""
    done = stage_result(stage_dir) if ctx.resume else None
    if done is not None:
        logger.info("[seed %d] stage %s already finished; skipped", seed, stage)
        for row in done["history"]:
            ctx.metrics.add(row)
    return done


def _evaluate(ctx: _Context, model: SequenceClassifier) -> tuple[dict, dict]:
    ebs = ctx.config.train.eval_batch_size
    val = evaluate(model, make_eval_loader(ctx.data.val, ebs), device=ctx.device)
    return val, evaluate(model, make_eval_loader(ctx.data.test, ebs), device=ctx.device)


def _train_stage(
    ctx: _Context, stage: str, model: SequenceClassifier, recipe: TrainConfig, seed: int, *, offset: int = 0,
    epoch_hook=None, extra: dict | None = None, reshape=None,
) -> tuple[SequenceClassifier, dict]:  # fmt: skip
    """Train ``model`` as stage ``stage`` of ``seed`` (or load its finished result).

    ``offset`` is the training compute (tokens) of the stage's path before it starts; every history
    row gets ``path_tokens = offset + train_tokens`` and the record ``train_tokens`` its path's total.
    ``reshape`` goes to :func:`~mor_torch.lra.train.fit` (the model returned may then be a smaller one).
    """
    stage_dir = stage_path(ctx.run_dir, seed, stage)
    try:
        done = _finished(ctx, stage_dir, stage, seed)
        if done is not None:
            return load_model(stage_dir / MODEL_NAME, ctx.device), done
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}; delete {stage_dir} to train the stage again", path=exc.path) from None
    if dist_utils.is_main_process():
        stage_dir.mkdir(parents=True, exist_ok=True)

    def add_row(row: dict) -> None:
        row["path_tokens"] = offset + row["train_tokens"]
        ctx.metrics.add(row)

    res = fit(
        model, ctx.data, recipe, run_dir=stage_dir, seed=seed, stage=stage, device=ctx.device, resume=ctx.resume,
        progress=ctx.progress, on_epoch_end=add_row, epoch_hook=epoch_hook, reshape=reshape,
    )  # fmt: skip
    model = res.model
    record = _stage_record(
        model, res.val, res.test, best_epoch=res.best_epoch, wall_s=res.wall_s, train_tokens=offset + res.train_tokens,
        history=res.history, **(extra or {}),
    )  # fmt: skip
    if dist_utils.is_main_process():
        save_model(stage_dir / MODEL_NAME, model)
    write_stage_result(stage_dir, record)
    return model, record


def _compress(config: Config, model: SequenceClassifier, reducer: str = "bt", order: int | None = None):
    """Every DSS layer of ``model`` (a CPU copy) reduced to ``order`` (default ``config.reduce.order``)."""
    rc = config.reduce
    return compress(
        copy.deepcopy(model).to("cpu"), order or rc.order, reducer=reducer, gramians=rc.gramians,
        structure=rc.structure, length=model.hparams["length"],
    )  # fmt: skip


def _compress_noting(config: Config, model: SequenceClassifier, reducer: str, order: int):
    """:func:`_compress` catching the accuracy warnings of an iterative reducer (IRKA): ``(model, report, notes)``.

    The messages are logged and go to the stage's record (``warnings``), so a run reports an
    unconverged IRKA instead of stopping on it.
    """
    if reducer not in ITERATIVE:
        return (*_compress(config, model, reducer, order), [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AccuracyWarning)
        small, rep = _compress(config, model, reducer, order)
    messages = sorted({str(w.message) for w in caught if issubclass(w.category, AccuracyWarning)})
    for w in caught:
        if not issubclass(w.category, AccuracyWarning):  # anything else goes on as it came
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    for message in messages:
        logger.warning("%s at order %d: %s", reducer, order, message)
    return small, rep, messages


def _reduce_stage(
    ctx: _Context, stage: str, pretrained: SequenceClassifier, seed: int, reducer: str, order: int | None = None,
    source: str = "pretrained",
) -> tuple[SequenceClassifier, dict, list]:  # fmt: skip
    """Reduce the pre-trained model (stage ``source``) with ``reducer`` to ``order`` (default ``reduce.order``)
    and evaluate it as is (or load the finished stage)."""
    order = order or ctx.config.reduce.order
    stage_dir = stage_path(ctx.run_dir, seed, stage)
    try:
        done = _finished(ctx, stage_dir, stage, seed)
        if done is not None:
            return load_model(stage_dir / MODEL_NAME, ctx.device), done, _read_hsv(stage_dir / HSV_NAME)
    except CheckpointError as exc:  # the stage is deterministic and cheap: compute it again
        logger.warning("[seed %d] stage %s: %s; computing the stage again", seed, stage, exc)
    t0 = time.perf_counter()
    reduced, rep, messages = _compress_noting(ctx.config, pretrained, reducer, order)
    reduce_s = time.perf_counter() - t0
    reduced.to(ctx.device)
    val, test = _evaluate(ctx, reduced)
    tokens = pretrained_tokens(ctx, seed, source)
    row = {"stage": stage, "seed": seed, "epoch": 0, "val_loss": val["loss"], "val_accuracy": val["accuracy"],
           "path_tokens": tokens}  # fmt: skip
    ctx.metrics.add(row)
    quality = report.reduction_quality(pretrained, reduced, rep, order)
    noted = {"warnings": messages} if messages else {}
    record = _stage_record(reduced, val, test, reduce_s=reduce_s, train_tokens=tokens, reduction=quality, history=[row],
                           **noted)  # fmt: skip
    hsv = [np.atleast_2d(np.asarray(layer.hsv, dtype=np.float64)) for layer in rep.layers.values()]
    if dist_utils.is_main_process():
        buf = io.BytesIO()
        np.savez(buf, **{f"layer{i}": s for i, s in enumerate(hsv)})
        atomic_write_bytes(stage_dir / HSV_NAME, buf.getvalue())
        save_model(stage_dir / MODEL_NAME, reduced)
    write_stage_result(stage_dir, record)
    logger.info(
        "[seed %d] %s: order %d in %.2fs, val acc %.4f, test acc %.4f",
        seed, stage, order, reduce_s, val["accuracy"], test["accuracy"],
    )  # fmt: skip
    return reduced, record, hsv


def _read_hsv(path: Path) -> list[np.ndarray]:
    """The Hankel singular values saved by a reduce stage (``layer0``, ``layer1``, ...)."""
    try:
        with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as z:
            return [np.asarray(z[f"layer{i}"], dtype=np.float64) for i in range(len(z.files))]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"cannot read {path}: {type(exc).__name__}: {exc}", path=str(path)) from None


def pretrained_tokens(ctx: _Context, seed: int, source: str = "pretrained") -> int:
    """Tokens of the finished pre-training ``source`` of ``seed`` (from its result file)."""
    return int(stage_result(stage_path(ctx.run_dir, seed, source))["train_tokens"])


def _pretrain_hook(ctx: _Context, seed: int):
    """Per-epoch hook of pre-training: snapshots for the claims, reduced accuracy when tracking."""
    cfg = ctx.config
    loader = make_eval_loader(ctx.data.val, cfg.train.eval_batch_size)
    snapshots = set(cfg.claims.checkpoints)
    if not snapshots and not cfg.reduce.track_epochs:
        return None

    def hook(model: SequenceClassifier, row: dict) -> dict:
        if row["epoch"] in snapshots and dist_utils.is_main_process():
            save_model(snapshot_path(ctx.run_dir, seed, row["epoch"]), model)
        if not cfg.reduce.track_epochs:
            return {}
        small, _ = _compress(cfg, model)
        return {"reduced_val_accuracy": evaluate(small.to(ctx.device), loader, device=ctx.device)["accuracy"]}

    return hook


def _baseline_layout(config: Config, reduced: SequenceClassifier) -> dict:
    """State size and pole layout of the size-``r`` baselines."""
    poles = config.reduce.baseline_poles
    shared = reduced.hparams["shared_poles"] if poles == "match" else poles == "shared"
    return {"d_state": config.reduce.order, "shared_poles": shared}


def _arm(ctx: _Context, out: _SeedRun, seed: int, stages: tuple[str, str], reducer: str, order: int,
         source: str = "pretrained") -> None:  # fmt: skip
    """One initialisation arm: the model of stage ``source`` reduced to ``order`` by ``reducer``, then main-trained."""
    pre, (reduce_name, train_name) = out.models[source], stages
    small, out.records[reduce_name], hsv = _reduce_stage(ctx, reduce_name, pre, seed, reducer, order, source)
    out.models[reduce_name] = small
    if reduce_name == "reduced":
        out.hsv = hsv
    out.models[train_name], out.records[train_name] = _train_stage(
        ctx, train_name, copy.deepcopy(small), ctx.config.recipe("main"), seed,
        offset=out.records[source]["train_tokens"],
    )  # fmt: skip


def _from_pretrained(ctx: _Context, out: _SeedRun, seed: int, order: int) -> None:
    """The arms of every ``claims.inits`` reducer at ``order`` (``reduced``, ``bt_init``, ``modal_reduced``,
    ``modal_init``, ... at ``reduce.order``), all from the same pre-trained weights; at ``reduce.order``
    also ``full_continued`` (unless ``claims.baselines`` is off)."""
    cfg = ctx.config
    for init in cfg.claims.inits:
        _arm(ctx, out, seed, claims_mod.arm_stages(cfg, init, order), INIT_REDUCERS[init], order)
    if order == cfg.reduce.order and cfg.claims.baselines:
        out.models["full_continued"], out.records["full_continued"] = _train_stage(
            ctx, "full_continued", copy.deepcopy(out.models["pretrained"]), cfg.recipe("main"), seed,
            offset=out.records["pretrained"]["train_tokens"],
        )  # fmt: skip


def _hsv_reg_stages(ctx: _Context, out: _SeedRun, seed: int) -> None:
    """With ``claims.hsv_reg``: regularised pre-training from the plain one's initial weights, then BT per order."""
    cfg, source = ctx.config, claims_mod.HSV_REG_PRETRAINED
    seed_everything(derive_seed(seed, "init", "pretrained"))  # the initial weights of the plain pre-training
    model = build_model(cfg.model, ctx.data)
    recipe = dataclasses.replace(cfg.recipe("pretrain"), hsv_reg=cfg.claims.hsv_reg)
    out.models[source], out.records[source] = _train_stage(ctx, source, model, recipe, seed)
    for order in claims_mod.arm_orders(cfg):
        _arm(ctx, out, seed, claims_mod.hsv_reg_stages(cfg, order), "bt", order, source)


def _from_scratch(ctx: _Context, out: _SeedRun, seed: int) -> None:
    """The size-``r`` Skew-HiPPO baselines: the main recipe, and one with BT's whole training compute."""
    cfg = ctx.config
    main = cfg.recipe("main")
    matched = dataclasses.replace(main, epochs=cfg.recipe("pretrain").epochs + main.epochs)
    layout = _baseline_layout(cfg, out.models["reduced"])
    for stage, recipe in (("skew_hippo", main), ("skew_hippo_matched", matched)):
        seed_everything(derive_seed(seed, "init", "skew_hippo"))  # both start from the same weights
        model = build_model(cfg.model, ctx.data, init="skew-hippo", **layout)
        out.models[stage], out.records[stage] = _train_stage(ctx, stage, model, recipe, seed)


def _claim2_stages(ctx: _Context, out: _SeedRun, seed: int) -> None:
    """For each ``claims.checkpoints`` epoch: evaluate those weights, reduce them, main-train."""
    for epoch in ctx.config.claims.checkpoints:
        stage = f"claim2_epoch{epoch}"
        snapshot = load_model(snapshot_path(ctx.run_dir, seed, epoch), ctx.device)
        _, pre_test = _evaluate(ctx, snapshot)
        tokens = out.records["pretrained"]["history"][epoch - 1]["train_tokens"]
        small, _ = _compress(ctx.config, snapshot)
        _, out.records[stage] = _train_stage(
            ctx, stage, small, ctx.config.recipe("main"), seed, offset=tokens,
            extra={"pretrained_epoch": epoch, "pretrained_test_accuracy": pre_test["accuracy"]},
        )  # fmt: skip


def _during_stages(ctx: _Context, out: _SeedRun, seed: int) -> None:
    """The arm of :mod:`.during`: pre-training reduced at ``during.epochs``, then the main training."""
    cfg = ctx.config
    seed_everything(derive_seed(seed, "init", "pretrained"))  # the pre-trained model's initial weights
    model = build_model(cfg.model, ctx.data)
    schedule = during_mod.ReductionSchedule(cfg)
    small, out.records["during_pretrained"] = _train_stage(
        ctx, "during_pretrained", model, cfg.recipe("pretrain"), seed, reshape=schedule
    )
    out.models["during_pretrained"] = small
    out.models["during"], out.records["during"] = _train_stage(
        ctx, "during", copy.deepcopy(small), cfg.recipe("main"), seed,
        offset=out.records["during_pretrained"]["train_tokens"],
    )  # fmt: skip


def _compression_stage(ctx: _Context, model: SequenceClassifier, seed: int) -> dict:
    """The compression curve of the pre-trained model (or the finished stage's record)."""
    stage_dir = stage_path(ctx.run_dir, seed, "compression")
    done = _finished(ctx, stage_dir, "compression", seed)
    if done is not None:
        return done
    record = {**compression.measure_curve(model, ctx.data, ctx.config, device=ctx.device), "history": []}
    if dist_utils.is_main_process():
        stage_dir.mkdir(parents=True, exist_ok=True)
    write_stage_result(stage_dir, record)
    return record


def _run_seed(ctx: _Context, seed: int) -> _SeedRun:
    """Every stage of one seed."""
    cfg, out = ctx.config, _SeedRun()
    seed_everything(derive_seed(seed, "init", "pretrained"))
    model = build_model(cfg.model, ctx.data)
    out.models["pretrained"], out.records["pretrained"] = _train_stage(
        ctx, "pretrained", model, cfg.recipe("pretrain"), seed, epoch_hook=_pretrain_hook(ctx, seed)
    )
    if cfg.compression.enabled:  # the compression experiment: the curve instead of the other stages
        out.records["compression"] = _compression_stage(ctx, out.models["pretrained"], seed)
        return out
    _from_pretrained(ctx, out, seed, cfg.reduce.order)
    if cfg.claims.baselines:
        _from_scratch(ctx, out, seed)
    for order in claims_mod.arm_orders(cfg):
        if order != cfg.reduce.order:
            _from_pretrained(ctx, out, seed, order)
    if cfg.claims.hsv_reg:
        _hsv_reg_stages(ctx, out, seed)
    _claim2_stages(ctx, out, seed)
    if cfg.during.epochs:
        _during_stages(ctx, out, seed)
    return out


# --------------------------------------------------------------------------- seed workers
def _seed_workers(config: Config, device: torch.device) -> int:
    """Processes that train the seeds at once: ``run.seed_workers``, at most one per seed; 1 under
    torchrun or off the CPU."""
    if dist_utils.is_distributed() or device.type != "cpu":
        return 1
    return min(config.run.seed_workers, len(config.run.seeds))


def _seed_worker(config: dict, run_dir: str, seed: int, resume: bool, level: int, parent: int) -> None:
    """One worker process: every stage of ``seed``, written to ``run_dir`` (the parent reads it back).

    An error that does not survive pickling (one with keyword-only arguments) comes back as an
    :class:`LraError` naming it.
    """
    die_with_parent(parent)
    form = f"%(asctime)s [seed {seed}] %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=form, force=True)  # this process's own log lines, seed named
    keep_freed_memory()  # the same allocator settings as the command line's process
    try:
        cfg = Config.from_dict(config)
        device = set_up_run(cfg.run)
        ctx = _Context(cfg, load_data(cfg), Path(run_dir), device, resume, False,
                       report.MetricsWriter(run_dir, enabled=False))  # fmt: skip
        _run_seed(ctx, seed)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # any error that does not survive pickling is named instead
            raise LraError(f"seed {seed}: {type(exc).__name__}: {exc}") from None
        raise


def _train_seeds_in_workers(ctx: _Context, workers: int) -> None:
    """Every stage of every seed, ``workers`` seeds at a time, each in its own process (spawned, so
    no OpenMP state is forked).  Each writes its stages to the run directory, as a sequential run does;
    the thread count per worker is ``run.threads`` (0: the cores divided among the workers).  A worker
    that dies raises :class:`WorkerError`; one that raises passes its error on."""
    run = ctx.config.run
    threads = run.threads or max(1, (os.cpu_count() or 1) // workers)
    config = dataclasses.replace(ctx.config, run=dataclasses.replace(run, threads=threads)).to_dict()
    level = logging.getLogger().getEffectiveLevel()
    logger.info("training %d seeds in %d worker processes, %d torch thread(s) each", len(run.seeds), workers, threads)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        jobs = [
            pool.submit(_seed_worker, config, str(ctx.run_dir), seed, ctx.resume, level, os.getpid())
            for seed in run.seeds
        ]
        try:
            for job in jobs:
                job.result()
        except BrokenProcessPool as exc:
            raise WorkerError(f"a seed worker process died ({exc}); --resume continues the run") from None


def _run_seeds(ctx: _Context, workers: int) -> dict[int, _SeedRun]:
    """Every seed's stages: in this process, or in ``workers`` processes and then read back (resumed)."""
    if workers > 1:
        _train_seeds_in_workers(ctx, workers)
        ctx = dataclasses.replace(ctx, resume=True)  # every stage is finished: load the results
    return {seed: _run_seed(ctx, seed) for seed in ctx.config.run.seeds}


# --------------------------------------------------------------------------- summary
def _summarise(config: Config, runs: dict[int, _SeedRun], t_start: float) -> dict[str, Any]:
    """The content of ``results.json``."""
    seeds = config.run.seeds
    first = runs[seeds[0]]
    records = {stage: {s: runs[s].records[stage] for s in seeds} for stage in _stages(first)}
    results: dict[str, Any] = {"preset": config.preset, "task": config.task.name}
    models = {stage: first.models[stage] for stage in records}
    for stage, model in models.items():
        results[stage] = report.summarise_stage(records[stage], count_parameters(model), model.hparams["d_state"])
        results[stage]["inference"] = streaming_cost(model)
    at_order = {stage: recs for stage, recs in records.items() if claims_mod.split_stage(stage)[1] is None}
    results["comparisons"] = report.comparisons(at_order, "bt_init")
    results["claims"] = claims_mod.evaluate_claims(config, runs_records={s: runs[s].records for s in seeds})
    results["reduction"] = {
        stage: report.pool_reduction([runs[s].records[stage]["reduction"] for s in seeds])
        for stage in records
        if "reduction" in first.records[stage]
    }
    results["hsv"] = first.records["reduced"]["reduction"]["layers"]
    results.update(order=config.reduce.order, gramians=config.reduce.gramians, structure=config.reduce.structure)
    results["seeds"] = list(seeds)
    if config.during.epochs:
        _summarise_during(config, runs, results)
    results["timing"] = {
        "wall_s_this_invocation": time.perf_counter() - t_start,
        "stage_wall_s": {
            st: {str(s): rec.get("wall_s", rec.get("reduce_s")) for s, rec in records[st].items()} for st in records
        },
        "world_size": dist_utils.world_size(),
        "threads": torch.get_num_threads(),
        "stream_latency": _stream_latency(config, models),
    }
    if config.during.epochs:
        results["timing"]["arms"] = during_mod.arm_wall_times({s: runs[s].records for s in seeds})
    return results


def _summarise_during(config: Config, runs: dict[int, _SeedRun], results: dict[str, Any]) -> None:
    """The stages of the arm of :mod:`.during` and its comparison at equal tokens, into ``results``."""
    seeds = config.run.seeds
    for stage in during_mod.DURING_STAGES:
        model = runs[seeds[0]].models[stage]
        records = {s: runs[s].records[stage] for s in seeds}
        results[stage] = report.summarise_stage(records, count_parameters(model), model.hparams["d_state"])
        results[stage]["inference"] = streaming_cost(model)
    results["during_training"] = during_mod.summarise(config, {s: runs[s].records for s in seeds})


def _stages(run: _SeedRun) -> list[str]:
    """The stages of a seed's run summarised in ``results.json``: those of :data:`report.STAGES` in its order,
    then the claims' extra arms in the order they ran (not the second claim's checkpoint stages, nor the
    arm of :mod:`.during`, summarised on its own)."""
    extra = [s for s in run.records if s not in report.STAGES and not s.startswith("claim2_epoch")
             and s not in during_mod.DURING_STAGES]  # fmt: skip
    return [s for s in report.STAGES if s in run.records] + extra


def _stream_latency(config: Config, models: dict[str, SequenceClassifier]) -> dict[str, Any] | None:
    """Per-token streaming latency of every stage's model (seed 0) and its ratio to the pre-trained one.

    ``None`` when ``run.latency_tokens`` is 0, on ranks other than 0, and for dual-input models
    (which do not stream).  Models shared by several stages are timed once.
    """
    tokens = config.run.latency_tokens
    if not tokens or not dist_utils.is_main_process() or models["pretrained"].dual:
        return None
    distinct = {id(m): m for m in models.values()}
    seconds = measure_latency(distinct, tokens=tokens)
    per_stage = {stage: seconds[id(m)] for stage, m in models.items()}
    base = per_stage["pretrained"]
    return {
        "tokens": tokens,
        "us_per_token": {stage: t * 1e6 for stage, t in per_stage.items()},
        "ratio_to_pretrained": {stage: t / base for stage, t in per_stage.items()},
    }


def _write_results(run_dir: Path, results: dict) -> None:
    """``results.json`` (everything but the timing: the same bytes for a resumed run) and ``timing.json``."""
    atomic_write_json(run_dir / RESULTS_NAME, _finite({k: v for k, v in results.items() if k != "timing"}))
    atomic_write_json(run_dir / TIMING_NAME, _finite(results["timing"]))


def _write_outputs(ctx: _Context, results: dict, hsv: list[np.ndarray]) -> None:
    """``results.json``, ``claims.json`` and the plots (rank 0)."""
    if not dist_utils.is_main_process():
        return
    cfg = ctx.config
    _write_results(ctx.run_dir, results)
    atomic_write_json(ctx.run_dir / CLAIMS_NAME, _finite(results["claims"]))
    folder = ctx.run_dir / PLOTS_DIR
    folder.mkdir(exist_ok=True)
    title = f"Hankel singular values (seed {cfg.run.seeds[0]}, {cfg.reduce.gramians} Gramians)"
    names = [layer["name"] for layer in results["hsv"]]
    plots.save_figure(plots.hsv_figure(hsv, cfg.reduce.order, names=names, title=title), folder / "hsv_decay.png")
    figure = plots.accuracy_vs_compute_figure(list(ctx.metrics.rows.values()), results)
    plots.save_figure(figure, folder / "accuracy_vs_compute.png")
    plots.save_figure(plots.comparison_figure(results), folder / "comparison.png")
    if results["claims"]["claim2"]["n_points"]:
        plots.save_figure(plots.claim2_figure(results["claims"]["claim2"]), folder / "claim2.png")


def _summarise_compression(config: Config, runs: dict[int, _SeedRun], t_start: float) -> dict[str, Any]:
    """The content of ``results.json`` of the compression experiment."""
    seeds = config.run.seeds
    pre = runs[seeds[0]].models["pretrained"]
    records = {s: runs[s].records["pretrained"] for s in seeds}
    return {
        "preset": config.preset, "task": config.task.name, "experiment": "compression",
        "pretrained": {**report.summarise_stage(records, count_parameters(pre), pre.hparams["d_state"]),
                       "inference": streaming_cost(pre)},
        "compression": compression.summarise_curves({s: runs[s].records["compression"] for s in seeds}, config),
        "gramians": config.reduce.gramians, "seeds": list(seeds),
        "timing": {"wall_s_this_invocation": time.perf_counter() - t_start, "threads": torch.get_num_threads()},
    }  # fmt: skip


def _write_compression(ctx: _Context, results: dict, pretrained: SequenceClassifier) -> None:
    """``results.json``, ``compression.json`` and the plots of the compression experiment (rank 0)."""
    if not dist_utils.is_main_process():
        return
    _write_results(ctx.run_dir, results)
    atomic_write_json(ctx.run_dir / COMPRESSION_NAME, _finite(results["compression"]))
    folder = ctx.run_dir / PLOTS_DIR
    folder.mkdir(exist_ok=True)
    plots.save_figure(plots.compression_figure(results["compression"]), folder / "compression.png")
    plots.save_figure(plots.compression_layers_figure(results["compression"]), folder / "compression_layers.png")
    hsv = compression.model_hsv(pretrained, ctx.config.reduce.gramians)
    names = [name for name, module in pretrained.named_modules() if isinstance(module, DSS)]
    title = f"Hankel singular values of the pre-trained model (seed {ctx.config.run.seeds[0]})"
    figure = plots.hsv_figure(hsv, ctx.config.reduce.order, names=names, title=title)
    plots.save_figure(figure, folder / "hsv_decay.png")


# --------------------------------------------------------------------------- entry point
def _run(config: Config, run_dir: Path, *, resume: bool, progress: bool) -> dict[str, Any]:
    t_start = time.perf_counter()
    device = set_up_run(config.run)
    prepare_run_dir(run_dir, config, resume=resume)
    data = load_data(config)
    metrics = report.MetricsWriter(run_dir, enabled=dist_utils.is_main_process())
    ctx = _Context(config, data, run_dir, device, resume, progress, metrics)
    workers = _seed_workers(config, device)
    runs = _run_seeds(ctx, workers)
    if config.compression.enabled:
        results = _summarise_compression(config, runs, t_start)
        results["timing"]["seed_workers"] = workers
        _write_compression(ctx, results, runs[config.run.seeds[0]].models["pretrained"])
    else:
        results = _summarise(config, runs, t_start)
        results["timing"]["seed_workers"] = workers
        _write_outputs(ctx, results, runs[config.run.seeds[0]].hsv)
    dist_utils.barrier()
    return results


def run_pipeline(
    config: Config, run_dir: str | Path, *, resume: bool = False, progress: bool = False
) -> dict[str, Any]:
    """Run every stage for every seed in ``config.run.seeds`` and write the reports.

    Returns the content of ``results.json`` plus ``timing`` (which goes to ``timing.json``):

    * one entry per stage of :data:`mor_torch.lra.report.STAGES` (``pretrained``, ``reduced``,
      ``bt_init``, ``modal_init``, ``full_continued``, ``skew_hippo``, ``skew_hippo_matched``):
      ``accuracy`` (mean test accuracy over seeds, on the best-validation epoch's weights),
      ``accuracy_std``, ``val_accuracy``, ``val_accuracy_std``, ``train_tokens``, ``per_seed``,
      ``d_state``, ``ssm_params``, ``params`` and ``inference`` (the streaming cost per token, counted:
      ``state_size``, ``ssm_macs_per_token``, ``macs_per_token``; :mod:`mor_torch.lra.streaming`);
    * ``comparisons``: ``bt_init`` minus each other stage, paired over seeds (``mean_diff``,
      ``ci95``, ``n_seeds``);
    * ``claims``: the two claims of Ezoe & Sato with their verdicts (also in ``claims.json``);
    * ``reduction``: per layer, the Hankel-singular-value energy kept, the error bounds and the
      measured relative kernel errors of the balanced and modal truncations; ``hsv`` (seed 0);
    * ``order``, ``gramians``, ``structure``, ``seeds``;
    * ``timing`` (wall times of this invocation, world size, threads and, in
      ``timing["stream_latency"]``, the measured per-token streaming latency of each stage's model:
      seed 0, ``us_per_token`` and ``ratio_to_pretrained``, ``run.latency_tokens`` tokens each,
      ``None`` when 0), which is written to ``timing.json`` instead: ``results.json`` holds
      everything else (the streaming counts are in the stages), so a run resumed after a kill
      writes the same bytes as an uninterrupted one.

    Under torchrun the process group is initialised from the environment and only rank 0 writes.
    The thread count and torch's determinism settings are restored on return.

    Parameters
    ----------
    config : Config
        A resolved, validated configuration (:func:`mor_torch.lra.resolve_config`).
    run_dir : str or Path
        Output directory (layout in the module doc); it must not hold a run unless ``resume``.
    resume : bool
        Skip finished stages and continue the running one from its last checkpoint; the
        configuration must equal the saved one (``run.device``, ``run.threads`` and ``run.latency_tokens``
        may differ).
    progress : bool
        Show tqdm progress bars (rank 0 only).

    Returns
    -------
    dict
        The summary written to ``results.json`` (before non-finite floats become ``null``).

    Raises
    ------
    RunDirectoryError
        ``run_dir`` holds a run and ``resume`` is false, or it holds a different configuration.
    TrainingDivergedError
        A stage's training loss became NaN or infinite.
    """
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    fill = torch.utils.deterministic.fill_uninitialized_memory
    try:
        return _run(config, Path(run_dir), resume=resume, progress=progress)
    finally:  # leave the process as we found it (tests and notebooks call this in-process)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        torch.utils.deterministic.fill_uninitialized_memory = fill


def _finite(obj: Any) -> Any:
    """Replace non-finite floats by None so the JSON stays standard."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj
