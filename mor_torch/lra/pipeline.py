"""The compression pipeline of Ezoe & Sato (2024) on a (Long Range Arena) task.

For every seed:

1. ``pretrained``: train the state-size-``N`` model (Skew-HiPPO initialisation).
2. ``reduced``: balanced truncation of every DSS layer to order ``r``
   (:func:`mor_torch.compress`); every other weight is copied.  Evaluated as is.
3. ``bt_init``: main training of the size-``r`` model from the reduced parameters.
4. ``skew_hippo``: the size-``r`` model of the same architecture trained from
   Skew-HiPPO initialisation with the same recipe (``train`` + ``main`` sections),
   budget and seed.

Run directory layout (rank 0 writes)::

    config.toml, config.json        the resolved configuration
    seed<k>/<stage>/checkpoint.pt   per-epoch checkpoint of the running stage
    seed<k>/<stage>/model.pt        final weights (best validation epoch) + hyper-parameters
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
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mor.errors import UnstableSystemError

from .. import distributed as dist_utils
from ..checkpoint import atomic_write_json, atomic_write_text, load_checkpoint, save_checkpoint
from ..model import SequenceClassifier, build_model, count_parameters
from ..train import (
    configure_determinism,
    derive_seed,
    evaluate,
    fit,
    make_eval_loader,
    resolve_device,
    seed_everything,
)
from . import report
from .config import ConfigError, dumps_toml, stage_train_config

logger = logging.getLogger(__name__)

__all__ = ["RunDirectoryError", "load_data", "run_pipeline"]


class RunDirectoryError(ConfigError):
    """The run directory is in a state that does not fit the request (exists without ``--resume``,
    or holds a different configuration)."""


_VOLATILE_RUN_KEYS = ("device", "threads")


def _comparable(config: dict) -> dict:
    out = json.loads(json.dumps(config))
    for k in _VOLATILE_RUN_KEYS:
        out.get("run", {}).pop(k, None)
    return out


def prepare_run_dir(run_dir: Path, config: dict, *, resume: bool) -> None:
    """Create ``run_dir`` and write the resolved config; refuse to overwrite a run without ``resume``.

    Rank 0 writes ``config.json`` and ``config.toml``; every rank then waits at a barrier.

    Parameters
    ----------
    run_dir : Path
        The run directory (created with its parents if missing).
    config : dict
        The resolved configuration.
    resume : bool
        Allow an existing run whose saved configuration equals ``config`` (apart from
        ``run.device`` and ``run.threads``).

    Raises
    ------
    RunDirectoryError
        ``run_dir`` already holds a run and ``resume`` is false, or it holds a different configuration.
    """
    cfg_json = run_dir / "config.json"
    if cfg_json.exists():
        if not resume:
            raise RunDirectoryError(f"{run_dir} already holds a run; pass --resume or choose another --out")
        saved = json.loads(cfg_json.read_text())
        if _comparable(saved) != _comparable(config):
            raise RunDirectoryError(
                f"{run_dir} holds a run with a different configuration; resume it without changing "
                "settings (run.device and run.threads may change) or choose another --out"
            )
    if dist_utils.is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(cfg_json, config)
        atomic_write_text(run_dir / "config.toml", dumps_toml(config))
    dist_utils.barrier()


def load_data(config: dict):
    """Load the task named in ``config["task"]`` (rank 0 first, so a generated cache is written once).

    Parameters
    ----------
    config : dict
        The resolved configuration; its ``task`` section gives ``name``, ``data_dir`` (empty: the
        default data root of :func:`mor_torch.data.load_task`) and ``options`` (task options).

    Returns
    -------
    TaskData
        The three splits and the task's shape information.
    """
    from ..data import load_task

    task = config["task"]
    kwargs = dict(task.get("options", {}))
    data_dir = task.get("data_dir") or None
    if dist_utils.is_main_process():
        data = load_task(task["name"], data_dir, **kwargs)
    dist_utils.barrier()
    if not dist_utils.is_main_process():
        data = load_task(task["name"], data_dir, **kwargs)
    return data


def _set_threads(threads: int) -> None:
    if threads <= 0:
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        threads = max(1, (os.cpu_count() or 1) // local_world)
    torch.set_num_threads(threads)


def _save_model(path: Path, model: SequenceClassifier) -> None:
    if dist_utils.is_main_process():
        save_checkpoint(path, {"hparams": dict(model.hparams), "model": model.state_dict()})


def _load_model(path: Path, device: torch.device) -> SequenceClassifier:
    ck = load_checkpoint(path, map_location="cpu")
    model = SequenceClassifier(**ck["hparams"])
    model.load_state_dict(ck["model"])
    return model.to(device)


def _finished(stage_dir: Path) -> dict | None:
    path = stage_dir / "result.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _write_result(stage_dir: Path, result: dict) -> None:
    if dist_utils.is_main_process():
        atomic_write_json(stage_dir / "result.json", result)
        ckpt = stage_dir / "checkpoint.pt"
        if ckpt.exists():
            ckpt.unlink()


def _stage_record(model: SequenceClassifier, val: dict, test: dict, **extra: Any) -> dict:
    counts = count_parameters(model)
    return {
        "val_accuracy": val["accuracy"],
        "val_loss": val["loss"],
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "d_state": model.hparams["d_state"],
        "shared_poles": model.hparams["shared_poles"],
        **counts,
        **extra,
    }


def _train_stage(
    stage: str,
    model: SequenceClassifier,
    data,
    recipe: dict,
    *,
    seed_dir: Path,
    seed: int,
    device: torch.device,
    resume: bool,
    progress: bool,
    metrics: report.MetricsWriter,
    epoch_hook=None,
) -> tuple[SequenceClassifier, dict]:
    stage_dir = seed_dir / stage
    done = _finished(stage_dir)
    if done is not None and resume:
        logger.info("[seed %d] stage %s already finished; skipped", seed, stage)
        for row in done["history"]:
            metrics.add(row)
        return _load_model(stage_dir / "model.pt", device), done
    if dist_utils.is_main_process():
        stage_dir.mkdir(parents=True, exist_ok=True)
    res = fit(
        model,
        data,
        recipe,
        run_dir=stage_dir,
        seed=seed,
        stage=stage,
        device=device,
        resume=resume,
        progress=progress,
        on_epoch_end=metrics.add,
        epoch_hook=epoch_hook,
    )
    record = _stage_record(model, res.val, res.test, best_epoch=res.best_epoch, wall_s=res.wall_s, history=res.history)
    _save_model(stage_dir / "model.pt", model)
    _write_result(stage_dir, record)
    return model, record


def _reduced_hparams(model: SequenceClassifier, reduced: torch.nn.Module) -> dict:
    layers = [m for m in reduced.modules() if hasattr(m, "ssm_parameters") and hasattr(m, "d_state")]
    orders = {int(m.d_state) for m in layers}
    shared = {bool(m.shared_poles) for m in layers}
    if len(orders) != 1 or len(shared) != 1:
        raise ConfigError(
            f"the reduced layers have mixed state sizes {sorted(orders)} or pole layouts; "
            "use a fixed reduce.order for the pipeline"
        )
    return {**model.hparams, "d_state": orders.pop(), "shared_poles": shared.pop()}


def _hsv_arrays(rep: Any) -> list[np.ndarray]:
    """Per-layer Hankel singular values, ``(H, N)`` or ``(1, N)``, from a compression report."""
    return [np.atleast_2d(np.asarray(layer.hsv, dtype=np.float64)) for layer in rep.layers.values()]


def _error_bounds(rep: Any) -> list[np.ndarray]:
    """Per-layer, per-system H-infinity error bounds (NaN where the Gramians give none: ``finite``)."""
    out = []
    for layer in rep.layers.values():
        eb = layer.error_bound
        n = np.atleast_2d(layer.hsv).shape[0]
        out.append(np.full(n, np.nan) if eb is None else np.atleast_1d(np.asarray(eb, dtype=np.float64)))
    return out


def _hsv_summary(hsv: list[np.ndarray], bounds: list[np.ndarray], order: int) -> list[dict]:
    rows = []
    for i, (s, b) in enumerate(zip(hsv, bounds, strict=True)):
        total = s.sum(axis=1)
        kept = s[:, :order].sum(axis=1)
        frac = np.divide(kept, total, out=np.ones_like(total), where=total > 0)
        rows.append(
            {
                "layer": i + 1,
                "n_systems": int(s.shape[0]),
                "hsv_max": float(s.max()),
                "hsv_at_order_median": float(np.median(s[:, order])) if s.shape[1] > order else 0.0,
                "retained_hsv_fraction_min": float(frac.min()),
                "retained_hsv_fraction_median": float(np.median(frac)),
                "error_bound_max": float(b.max()) if np.all(np.isfinite(b)) else None,
                "error_bound_median": float(np.median(b)) if np.all(np.isfinite(b)) else None,
            }
        )
    return rows


def _reduce_stage(
    pretrained: SequenceClassifier,
    data,
    config: dict,
    *,
    seed_dir: Path,
    seed: int,
    device: torch.device,
    resume: bool,
    metrics: report.MetricsWriter,
) -> tuple[SequenceClassifier, dict, list[np.ndarray]]:
    from .. import compress

    stage_dir = seed_dir / "reduced"
    done = _finished(stage_dir)
    if done is not None and resume:
        logger.info("[seed %d] stage reduced already finished; skipped", seed)
        for row in done["history"]:
            metrics.add(row)
        with np.load(stage_dir / "hsv.npz") as z:
            hsv = [z[f"layer{i}"] for i in range(len(z.files))]
        return _load_model(stage_dir / "model.pt", device), done, hsv
    rc = config["reduce"]
    t0 = time.perf_counter()
    try:
        reduced, rep = compress(
            pretrained.to("cpu"),
            rc["order"],
            gramians=rc["gramians"],
            structure=rc["structure"],
            length=pretrained.hparams["l_max"],
        )
    except UnstableSystemError:
        logger.error(
            "[seed %d] the pre-trained model has growing modes: infinite-horizon %s Gramians do not "
            "exist; use --gramians finite (time-limited Gramians over l_max = %d) in a new run "
            "directory, or train with model.mode = 'exp' (stable by construction)",
            seed, rc["gramians"], pretrained.hparams["l_max"],
        )  # fmt: skip
        raise
    pretrained.to(device)
    reduce_s = time.perf_counter() - t0
    reduced.hparams = _reduced_hparams(pretrained, reduced)
    reduced.to(device)
    hsv, bounds = _hsv_arrays(rep), _error_bounds(rep)
    ebs = config["train"]["eval_batch_size"]
    val = evaluate(reduced, make_eval_loader(data.val, ebs), device=device)
    test = evaluate(reduced, make_eval_loader(data.test, ebs), device=device)
    row = {
        "stage": "reduced",
        "seed": seed,
        "epoch": 0,
        "val_loss": val["loss"],
        "val_accuracy": val["accuracy"],
    }
    metrics.add(row)
    record = _stage_record(
        reduced, val, test, reduce_s=reduce_s, hsv=_hsv_summary(hsv, bounds, rc["order"]), history=[row]
    )
    if dist_utils.is_main_process():
        stage_dir.mkdir(parents=True, exist_ok=True)
        np.savez(stage_dir / "hsv.npz", **{f"layer{i}": s for i, s in enumerate(hsv)})
    _save_model(stage_dir / "model.pt", reduced)
    _write_result(stage_dir, record)
    logger.info(
        "[seed %d] reduced to order %d in %.2fs: val acc %.4f, test acc %.4f",
        seed,
        rc["order"],
        reduce_s,
        val["accuracy"],
        test["accuracy"],
    )
    return reduced, record, hsv


def _tracking_hook(config: dict, data, device: torch.device):
    """Per-epoch hook: reduce the current pre-training weights and measure validation accuracy."""
    from .. import compress

    rc = config["reduce"]
    loader = make_eval_loader(data.val, config["train"]["eval_batch_size"])

    def hook(model: SequenceClassifier, row: dict) -> dict:
        small, _ = compress(
            copy.deepcopy(model).to("cpu"),
            rc["order"],
            gramians=rc["gramians"],
            structure=rc["structure"],
            length=model.hparams["l_max"],
        )
        return {"reduced_val_accuracy": evaluate(small.to(device), loader, device=device)["accuracy"]}

    return hook


def _baseline_hparams(config: dict, reduced_hparams: dict) -> dict:
    bsp = config["reduce"]["baseline_shared_poles"]
    shared = reduced_hparams["shared_poles"] if bsp == "match" else bsp == "true"
    return {"d_state": config["reduce"]["order"], "shared_poles": shared}


def run_pipeline(config: dict, run_dir: str | Path, *, resume: bool = False, progress: bool = False) -> dict[str, Any]:
    """Run the four stages for every seed in ``config["run"]["seeds"]`` and write the reports.

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
    config : dict
        A resolved, validated configuration (:func:`mor_torch.lra.resolve_config`) with the
        sections ``task``, ``model``, ``reduce``, ``train``, ``pretrain``, ``main`` and ``run``.
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
    try:
        return _run(config, Path(run_dir), resume=resume, progress=progress)
    finally:  # leave the process as we found it (tests and notebooks call this in-process)
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _run(config: dict, run_dir: Path, *, resume: bool, progress: bool) -> dict[str, Any]:
    t_start = time.perf_counter()
    dist_utils.init_from_env(config["run"]["device"])
    _set_threads(config["run"]["threads"])
    configure_determinism(config["run"]["deterministic"])
    device = resolve_device(config["run"]["device"])
    prepare_run_dir(run_dir, config, resume=resume)
    main = dist_utils.is_main_process()
    data = load_data(config)
    metrics = report.MetricsWriter(run_dir, enabled=main)
    pre_recipe = stage_train_config(config, "pretrain")
    main_recipe = stage_train_config(config, "main")

    per_stage: dict[str, dict[int, dict]] = {k: {} for k in report.STAGES}
    models: dict[str, SequenceClassifier] = {}
    hsv0: list[np.ndarray] | None = None
    for seed in config["run"]["seeds"]:
        seed_dir = run_dir / f"seed{seed}"
        seed_everything(derive_seed(seed, "init", "pretrained"))
        model = build_model(config["model"], data)
        model, per_stage["pretrained"][seed] = _train_stage(
            "pretrained",
            model,
            data,
            pre_recipe,
            seed_dir=seed_dir,
            seed=seed,
            device=device,
            resume=resume,
            progress=progress,
            metrics=metrics,
            epoch_hook=_tracking_hook(config, data, device) if config["reduce"]["track_epochs"] else None,
        )
        models["pretrained"] = model
        reduced, per_stage["reduced"][seed], hsv = _reduce_stage(
            model, data, config, seed_dir=seed_dir, seed=seed, device=device, resume=resume, metrics=metrics
        )
        models["reduced"] = reduced
        hsv0 = hsv if hsv0 is None else hsv0
        bt_model = SequenceClassifier(**reduced.hparams)
        bt_model.load_state_dict(reduced.state_dict())
        bt_model, per_stage["bt_init"][seed] = _train_stage(
            "bt_init",
            bt_model,
            data,
            main_recipe,
            seed_dir=seed_dir,
            seed=seed,
            device=device,
            resume=resume,
            progress=progress,
            metrics=metrics,
        )
        models["bt_init"] = bt_model
        seed_everything(derive_seed(seed, "init", "skew_hippo"))
        base = build_model(config["model"], data, init="skew-hippo", **_baseline_hparams(config, reduced.hparams))
        base, per_stage["skew_hippo"][seed] = _train_stage(
            "skew_hippo",
            base,
            data,
            main_recipe,
            seed_dir=seed_dir,
            seed=seed,
            device=device,
            resume=resume,
            progress=progress,
            metrics=metrics,
        )
        models["skew_hippo"] = base

    results: dict[str, Any] = {"preset": config.get("preset", ""), "task": config["task"]["name"]}
    for stage in report.STAGES:
        counts = count_parameters(models[stage])
        per_seed = {
            s: {k: v for k, v in rec.items() if k not in ("history", "hsv", "wall_s", "reduce_s")}
            for s, rec in per_stage[stage].items()
        }
        results[stage] = report.summarise_stage(per_seed, counts, models[stage].hparams["d_state"])
    seeds = config["run"]["seeds"]
    pre = [per_stage["pretrained"][s]["test_accuracy"] for s in seeds]
    results["correlation"] = {
        "pretrained_vs_bt_init": report.pearson(pre, [per_stage["bt_init"][s]["test_accuracy"] for s in seeds]),
        "pretrained_vs_reduced": report.pearson(pre, [per_stage["reduced"][s]["test_accuracy"] for s in seeds]),
        "over": "seeds (test accuracy)",
    }
    if config["reduce"]["track_epochs"]:
        pts = [
            (row["val_accuracy"], row["reduced_val_accuracy"])
            for s in seeds
            for row in per_stage["pretrained"][s]["history"]
        ]
        results["correlation"]["pretrained_vs_reduced_over_epochs"] = {
            **report.pearson([p[0] for p in pts], [p[1] for p in pts]),
            "over": "pre-training epochs x seeds (validation accuracy, reduced without retraining)",
            "points": [list(p) for p in pts],
        }
    results["hsv"] = per_stage["reduced"][seeds[0]]["hsv"]
    results["order"] = config["reduce"]["order"]
    results["gramians"] = config["reduce"]["gramians"]
    results["structure"] = config["reduce"]["structure"]
    results["seeds"] = list(seeds)
    results["timing"] = {
        "wall_s_this_invocation": time.perf_counter() - t_start,
        "stage_wall_s": {
            st: {str(s): rec.get("wall_s", rec.get("reduce_s")) for s, rec in per_stage[st].items()}
            for st in report.STAGES
        },
        "world_size": dist_utils.world_size(),
        "threads": torch.get_num_threads(),
    }
    if main:
        atomic_write_json(run_dir / "results.json", _finite(results))
        plots = run_dir / "plots"
        plots.mkdir(exist_ok=True)
        report.plot_hsv(
            hsv0,
            config["reduce"]["order"],
            plots / "hsv_decay.png",
            title=f"Hankel singular values (seed {seeds[0]}, {config['reduce']['gramians']} Gramians)",
        )
        report.plot_accuracy_curves(list(metrics.rows.values()), plots / "accuracy_curves.png")
        report.plot_comparison(results, plots / "comparison.png")
    dist_utils.barrier()
    return results


def _finite(obj: Any) -> Any:
    """Replace non-finite floats by None so the JSON stays standard."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj
