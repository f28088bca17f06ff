"""The compression pipeline of Ezoe & Sato (2024) on a (Long Range Arena) task.

For every seed:

1. ``pretrained``: train the state-size-``N`` model (Skew-HiPPO initialisation).
2. ``reduced``: balanced truncation of every DSS layer to order ``r``
   (:func:`mor_torch.compress`); every other weight is copied.  Evaluated as is.
3. ``bt_init``: main training of the size-``r`` model from the reduced parameters.
4. ``skew_hippo``: the size-``r`` model of the same architecture trained from
   Skew-HiPPO initialisation with the same recipe (``train`` + ``main`` sections),
   budget and seed.

Run directory layout (rank 0 writes; see also :mod:`mor_torch.lra.rundir`)::

    config.toml, config.json        the resolved configuration
    seed<k>/<stage>/checkpoint.pt   per-epoch checkpoint of the running stage
    seed<k>/<stage>/model.pt        final weights (best validation epoch) and the model's shape
    seed<k>/<stage>/result.json     stage result; its presence marks the stage finished
    seed<k>/reduced/hsv.npz         Hankel singular values per layer, (H, N) or (1, N)
    metrics.jsonl, metrics.csv      one row per stage, seed and epoch
    results.json                    the summary (see :func:`run_pipeline`)
    plots/*.png                     HSV decay, accuracy curves, four-way comparison

``resume=True`` skips finished stages (their ``result.json`` exists) and continues the
running stage from its last complete checkpoint; the final metrics are bit-identical to an
uninterrupted run on the same machine and thread count.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..reduce import compress
from . import distributed as dist_utils
from . import report
from .config import Config
from .data import load_task
from .files import atomic_write_json
from .loaders import make_eval_loader
from .model import SequenceClassifier, build_model, count_parameters, load_model, save_model
from .process import set_threads
from .rundir import prepare_run_dir, stage_result, write_stage_result
from .train import configure_determinism, derive_seed, evaluate, fit, resolve_device, seed_everything

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


def _train_stage(
    ctx: _Context, stage: str, model: SequenceClassifier, recipe: Any, seed: int, epoch_hook=None
) -> tuple[SequenceClassifier, dict]:
    """Train ``model`` as stage ``stage`` of ``seed`` (or load its finished result)."""
    stage_dir = ctx.run_dir / f"seed{seed}" / stage
    done = _finished(ctx, stage_dir, stage, seed)
    if done is not None:
        return load_model(stage_dir / "model.pt", ctx.device), done
    if dist_utils.is_main_process():
        stage_dir.mkdir(parents=True, exist_ok=True)
    res = fit(
        model, ctx.data, recipe, run_dir=stage_dir, seed=seed, stage=stage, device=ctx.device, resume=ctx.resume,
        progress=ctx.progress, on_epoch_end=ctx.metrics.add, epoch_hook=epoch_hook,
    )  # fmt: skip
    record = _stage_record(model, res.val, res.test, best_epoch=res.best_epoch, wall_s=res.wall_s, history=res.history)
    if dist_utils.is_main_process():
        save_model(stage_dir / "model.pt", model)
    write_stage_result(stage_dir, record)
    return model, record


def _compress(config: Config, model: SequenceClassifier):
    """Balanced truncation of every DSS layer of ``model`` (a CPU copy) as ``config.reduce`` says."""
    rc = config.reduce
    return compress(
        copy.deepcopy(model).to("cpu"), rc.order, gramians=rc.gramians, structure=rc.structure,
        length=model.hparams["length"],
    )  # fmt: skip


def _hsv_summary(rep: Any, order: int) -> list[dict]:
    """Per layer: largest HSV, the HSV at the order, the retained HSV fraction and the error bounds."""
    rows = []
    for i, layer in enumerate(rep.layers.values()):
        s = np.atleast_2d(layer.hsv)
        b = None if layer.error_bound is None else np.asarray(layer.error_bound, dtype=np.float64)
        total = s.sum(axis=1)
        frac = np.divide(s[:, :order].sum(axis=1), total, out=np.ones_like(total), where=total > 0)
        rows.append(
            {
                "layer": i + 1,
                "n_systems": int(s.shape[0]),
                "hsv_max": float(s.max()),
                "hsv_at_order_median": float(np.median(s[:, order])) if s.shape[1] > order else 0.0,
                "retained_hsv_fraction_min": float(frac.min()),
                "retained_hsv_fraction_median": float(np.median(frac)),
                "error_bound_max": None if b is None else float(b.max()),
                "error_bound_median": None if b is None else float(np.median(b)),
            }
        )
    return rows


def _reduce_stage(ctx: _Context, pretrained: SequenceClassifier, seed: int) -> tuple[SequenceClassifier, dict, list]:
    """Reduce the pre-trained model, evaluate it as is (or load the finished stage)."""
    stage_dir = ctx.run_dir / f"seed{seed}" / "reduced"
    done = _finished(ctx, stage_dir, "reduced", seed)
    if done is not None:
        with np.load(stage_dir / "hsv.npz") as z:
            hsv = [z[f"layer{i}"] for i in range(len(z.files))]
        return load_model(stage_dir / "model.pt", ctx.device), done, hsv
    t0 = time.perf_counter()
    reduced, rep = _compress(ctx.config, pretrained)
    reduce_s = time.perf_counter() - t0
    reduced.to(ctx.device)
    hsv = [np.atleast_2d(np.asarray(layer.hsv, dtype=np.float64)) for layer in rep.layers.values()]
    ebs = ctx.config.train.eval_batch_size
    val = evaluate(reduced, make_eval_loader(ctx.data.val, ebs), device=ctx.device)
    test = evaluate(reduced, make_eval_loader(ctx.data.test, ebs), device=ctx.device)
    row = {"stage": "reduced", "seed": seed, "epoch": 0, "val_loss": val["loss"], "val_accuracy": val["accuracy"]}
    ctx.metrics.add(row)
    summary = _hsv_summary(rep, ctx.config.reduce.order)
    record = _stage_record(reduced, val, test, reduce_s=reduce_s, hsv=summary, history=[row])
    if dist_utils.is_main_process():
        stage_dir.mkdir(parents=True, exist_ok=True)
        np.savez(stage_dir / "hsv.npz", **{f"layer{i}": s for i, s in enumerate(hsv)})
        save_model(stage_dir / "model.pt", reduced)
    write_stage_result(stage_dir, record)
    logger.info(
        "[seed %d] reduced to order %d in %.2fs: val acc %.4f, test acc %.4f",
        seed, ctx.config.reduce.order, reduce_s, val["accuracy"], test["accuracy"],
    )  # fmt: skip
    return reduced, record, hsv


def _tracking_hook(ctx: _Context):
    """Per-epoch hook: reduce the current pre-training weights and measure validation accuracy."""
    loader = make_eval_loader(ctx.data.val, ctx.config.train.eval_batch_size)

    def hook(model: SequenceClassifier, row: dict) -> dict:
        small, _ = _compress(ctx.config, model)
        return {"reduced_val_accuracy": evaluate(small.to(ctx.device), loader, device=ctx.device)["accuracy"]}

    return hook


def _baseline_layout(config: Config, reduced: SequenceClassifier) -> dict:
    """State size and pole layout of the size-``r`` baselines."""
    poles = config.reduce.baseline_poles
    shared = reduced.hparams["shared_poles"] if poles == "match" else poles == "shared"
    return {"d_state": config.reduce.order, "shared_poles": shared}


def _run_seed(ctx: _Context, seed: int) -> _SeedRun:
    """The four stages of one seed."""
    cfg, out = ctx.config, _SeedRun()
    seed_everything(derive_seed(seed, "init", "pretrained"))
    hook = _tracking_hook(ctx) if cfg.reduce.track_epochs else None
    model = build_model(cfg.model, ctx.data)
    model, out.records["pretrained"] = _train_stage(ctx, "pretrained", model, cfg.recipe("pretrain"), seed, hook)
    out.models["pretrained"] = model
    reduced, out.records["reduced"], out.hsv = _reduce_stage(ctx, model, seed)
    out.models["reduced"] = reduced
    bt_model = copy.deepcopy(reduced)
    out.models["bt_init"], out.records["bt_init"] = _train_stage(ctx, "bt_init", bt_model, cfg.recipe("main"), seed)
    seed_everything(derive_seed(seed, "init", "skew_hippo"))
    base = build_model(cfg.model, ctx.data, init="skew-hippo", **_baseline_layout(cfg, reduced))
    out.models["skew_hippo"], out.records["skew_hippo"] = _train_stage(
        ctx, "skew_hippo", base, cfg.recipe("main"), seed
    )
    return out


# --------------------------------------------------------------------------- summary
def _correlations(config: Config, runs: dict[int, _SeedRun]) -> dict:
    seeds = config.run.seeds
    pre = [runs[s].records["pretrained"]["test_accuracy"] for s in seeds]
    out = {
        "pretrained_vs_bt_init": report.pearson(pre, [runs[s].records["bt_init"]["test_accuracy"] for s in seeds]),
        "pretrained_vs_reduced": report.pearson(pre, [runs[s].records["reduced"]["test_accuracy"] for s in seeds]),
        "over": "seeds (test accuracy)",
    }
    if config.reduce.track_epochs:
        pts = [
            (row["val_accuracy"], row["reduced_val_accuracy"])
            for s in seeds
            for row in runs[s].records["pretrained"]["history"]
        ]
        out["pretrained_vs_reduced_over_epochs"] = {
            **report.pearson([p[0] for p in pts], [p[1] for p in pts]),
            "over": "pre-training epochs x seeds (validation accuracy, reduced without retraining)",
            "points": [list(p) for p in pts],
        }
    return out


def _summarise(config: Config, runs: dict[int, _SeedRun], t_start: float) -> dict[str, Any]:
    """The content of ``results.json``."""
    seeds = config.run.seeds
    first = runs[seeds[0]]
    results: dict[str, Any] = {"preset": config.preset, "task": config.task.name}
    for stage in report.STAGES:
        per_seed = {
            s: {k: v for k, v in runs[s].records[stage].items() if k not in ("history", "hsv", "wall_s", "reduce_s")}
            for s in seeds
        }
        model = first.models[stage]
        results[stage] = report.summarise_stage(per_seed, count_parameters(model), model.hparams["d_state"])
    results["correlation"] = _correlations(config, runs)
    results["hsv"] = first.records["reduced"]["hsv"]
    results["order"] = config.reduce.order
    results["gramians"] = config.reduce.gramians
    results["structure"] = config.reduce.structure
    results["seeds"] = list(seeds)
    results["timing"] = {
        "wall_s_this_invocation": time.perf_counter() - t_start,
        "stage_wall_s": {
            st: {str(s): runs[s].records[st].get("wall_s", runs[s].records[st].get("reduce_s")) for s in seeds}
            for st in report.STAGES
        },
        "world_size": dist_utils.world_size(),
        "threads": torch.get_num_threads(),
    }
    return results


def _write_outputs(ctx: _Context, results: dict, hsv: list[np.ndarray]) -> None:
    """``results.json`` and the plots (rank 0)."""
    if not dist_utils.is_main_process():
        return
    cfg = ctx.config
    atomic_write_json(ctx.run_dir / "results.json", _finite(results))
    plots = ctx.run_dir / "plots"
    plots.mkdir(exist_ok=True)
    title = f"Hankel singular values (seed {cfg.run.seeds[0]}, {cfg.reduce.gramians} Gramians)"
    report.plot_hsv(hsv, cfg.reduce.order, plots / "hsv_decay.png", title=title)
    report.plot_accuracy_curves(list(ctx.metrics.rows.values()), plots / "accuracy_curves.png")
    report.plot_comparison(results, plots / "comparison.png")


# --------------------------------------------------------------------------- entry point
def _run(config: Config, run_dir: Path, *, resume: bool, progress: bool) -> dict[str, Any]:
    t_start = time.perf_counter()
    dist_utils.init_from_env(config.run.device)
    set_threads(config.run.threads)
    configure_determinism(config.run.deterministic, fill_uninitialized_memory=config.run.fill_uninitialized_memory)
    device = resolve_device(config.run.device)
    prepare_run_dir(run_dir, config, resume=resume)
    data = load_data(config)
    metrics = report.MetricsWriter(run_dir, enabled=dist_utils.is_main_process())
    ctx = _Context(config, data, run_dir, device, resume, progress, metrics)
    runs = {seed: _run_seed(ctx, seed) for seed in config.run.seeds}
    results = _summarise(config, runs, t_start)
    _write_outputs(ctx, results, runs[config.run.seeds[0]].hsv)
    dist_utils.barrier()
    return results


def run_pipeline(
    config: Config, run_dir: str | Path, *, resume: bool = False, progress: bool = False
) -> dict[str, Any]:
    """Run the four stages for every seed in ``config.run.seeds`` and write the reports.

    Returns the content of ``results.json``: for each of ``pretrained``, ``reduced``,
    ``bt_init``, ``skew_hippo``: ``accuracy`` (mean test accuracy over seeds, measured on the
    best-validation epoch's weights), ``accuracy_std``, ``val_accuracy``, ``per_seed``, ``d_state``,
    ``ssm_params``, ``params``; then ``correlation`` (Pearson r of the per-seed pre-trained test
    accuracy against the BT-init and reduced ones, with the number of points), ``hsv`` (per-layer
    summary of seed 0), ``order``, ``gramians``, ``structure``, ``seeds`` and ``timing``.

    Under torchrun the process group is initialised from the environment and only rank 0 writes.
    The thread count and the deterministic-algorithms flag of torch are restored on return.

    Parameters
    ----------
    config : Config
        A resolved, validated configuration (:func:`mor_torch.lra.resolve_config`).
    run_dir : str or Path
        Output directory (layout in the module doc); it must not hold a run unless ``resume``.
    resume : bool
        Skip finished stages and continue the running one from its last checkpoint; the
        configuration must equal the saved one (``run.device`` and ``run.threads`` may differ).
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
