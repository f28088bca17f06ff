"""The compression curve: test accuracy *without retraining* against the fraction of SSM states kept.

For a pre-trained model and each fraction ``f`` of the ``sum_l H_l N_l`` per-channel states
(``[compression] fractions``), every method of ``[compression] methods`` compresses the model
(:func:`mor_torch.compress`) and the result is evaluated on the validation and test splits:

==============  ========================================================================================
method          what
==============  ========================================================================================
``bt_uniform``  balanced truncation, one order ``r = round(f N)`` for every channel of every layer (the
                paper's fixed ``r``)
``bt``          balanced truncation, layer-adaptive: the budget ``S = round(f sum H N)`` shared out by
                Hankel singular values normalised per layer (:mod:`mor_torch.allocate`, ``"hsv"``)
``bsp``         balanced singular perturbation (DC gain kept), the same allocation
``modal``       modal truncation (per channel the modes of largest H-infinity norm), the same allocation
``h2``          IRKA (H2-optimal), the same allocation
``last``        LAST (Gwak et al. 2024): modes pruned by their H-infinity norms, LAMP-normalised per
                layer, one global ranking (modal truncation with ``allocation="last"``)
``aire``        AIRE-Prune (2026): modes pruned by their impulse-response energies, normalised the same
                way (modal truncation by H2 scores with ``allocation="aire"``)
==============  ========================================================================================

Pruning a state (``last``, ``aire``) removes that mode and leaves the others untouched; the other
methods reduce each layer's channels to their allocated orders.  Every point records the states
kept (padding excluded), the time, the per-layer states and the per-layer sums of the channels'
error bounds (``bt``, ``bsp``).  :func:`measure_curve` is one seed's curve;
:func:`summarise_curves` pools seeds (``compression.json``); :mod:`mor_torch.lra.plots` draws
``plots/compression.png`` and ``plots/compression_layers.png``, and :mod:`mor_torch.lra.report` the table.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings
from typing import Any

import numpy as np
import torch

from mor import hankel_singular_values
from mor.errors import AccuracyWarning, RankWarning

from ..dss import DSS
from ..families import to_lti
from ..reduce import compress
from .choices import CURVE_METHODS
from .config import Config
from .loaders import make_eval_loader
from .stats import describe
from .train import evaluate

__all__ = ["LABELS", "measure_curve", "model_hsv", "summarise_curves"]

logger = logging.getLogger(__name__)

#: Plot and table labels.
LABELS = {
    "bt_uniform": "BT, one r for all",
    "bt": "BT, layer-adaptive",
    "bsp": "BSP (DC-matched), layer-adaptive",
    "modal": "modal, layer-adaptive",
    "h2": "H2 (IRKA), layer-adaptive",
    "last": "LAST (H-inf scores, pruning)",
    "aire": "AIRE (energy scores, pruning)",
}


def _compress_point(model: torch.nn.Module, method: str, fraction: float, gramians: str, length: int | None):
    """``(compressed model, report, warnings)`` of one method at one fraction (model on the CPU)."""
    reducer, allocation = CURVE_METHODS[method]
    layers = [m for m in model.modules() if isinstance(m, DSS)]
    options = {"reducer": reducer, "gramians": gramians, "length": length, "structure": "channel"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AccuracyWarning)
        warnings.simplefilter("always", RankWarning)
        if allocation is None:
            order = min(max(1, round(fraction * max(m.d_state for m in layers))), min(m.d_state for m in layers))
            small, report = compress(model, order, **options)
        else:
            budget = round(fraction * sum(m.d_model * m.d_state for m in layers))
            small, report = compress(model, budget=budget, allocation=allocation, **options)
    return small, report, [str(w.message) for w in caught]


def _point_record(method, fraction, total, report, seconds, messages, val, test) -> dict[str, Any]:
    layers = list(report.layers.values())
    bounds = [None if r.error_bound is None else float(np.sum(r.error_bound)) for r in layers]
    unconverged = sum(int(np.sum(~r.converged)) for r in layers if r.converged is not None)
    return {
        "method": method, "fraction": fraction, "states": report.states, "kept": report.states / total,
        "test_accuracy": test["accuracy"], "val_accuracy": val["accuracy"], "test_loss": test["loss"],
        "layer_states": [r.states for r in layers], "layer_names": list(report.layers),
        "layer_width": [r.order for r in layers],
        "layer_bound_sum": bounds, "h2_unconverged_channels": unconverged, "reduce_s": seconds,
        "warnings": sorted(set(messages)),
    }  # fmt: skip


def measure_curve(model: torch.nn.Module, data: Any, config: Config, *, device: torch.device | str = "cpu") -> dict:
    """One model's compression curve: every method at every fraction, evaluated without retraining.

    Parameters
    ----------
    model : SequenceClassifier
        The pre-trained model (left untouched; a CPU copy is compressed).
    data : TaskData
        With ``val`` and ``test`` datasets.
    config : Config
        ``compression.fractions``, ``compression.methods``, ``reduce.gramians`` and
        ``train.eval_batch_size`` are used.
    device : torch.device or str
        Where the compressed models are evaluated.

    Returns
    -------
    dict
        ``total_states``, ``pretrained`` (``val_accuracy``, ``test_accuracy``) and ``points``: one
        record per method and fraction (``method``, ``fraction``, ``states``, ``kept``,
        ``test_accuracy``, ``val_accuracy``, ``test_loss``, ``layer_states``, ``layer_width``,
        ``layer_bound_sum``, ``h2_unconverged_channels``, ``reduce_s``, ``warnings``).
    """
    cc, ebs = config.compression, config.train.eval_batch_size
    loaders = {split: make_eval_loader(getattr(data, split), ebs) for split in ("val", "test")}
    cpu = copy.deepcopy(model).to("cpu")
    layers = [m for m in cpu.modules() if isinstance(m, DSS)]
    total = sum(m.d_model * m.d_state for m in layers)
    length = cpu.hparams.get("length") if hasattr(cpu, "hparams") else None
    base = {split: evaluate(model, loader, device=device) for split, loader in loaders.items()}
    points = []
    for fraction in cc.fractions:
        for method in cc.methods:
            t0 = time.perf_counter()
            small, report, messages = _compress_point(cpu, method, fraction, config.reduce.gramians, length)
            seconds = time.perf_counter() - t0
            val, test = (evaluate(small.to(device), loaders[s], device=device) for s in ("val", "test"))
            points.append(_point_record(method, fraction, total, report, seconds, messages, val, test))
            logger.info("compression %-10s f=%.4f: %d/%d states, test acc %.4f (%.1fs)", method, fraction,
                        report.states, total, test["accuracy"], seconds)  # fmt: skip
    return {
        "total_states": total,
        "pretrained": {"val_accuracy": base["val"]["accuracy"], "test_accuracy": base["test"]["accuracy"]},
        "points": points,
    }


def model_hsv(model: torch.nn.Module, gramians: str = "discrete") -> list[np.ndarray]:
    """Hankel singular values ``(H, N)`` of every DSS layer of ``model`` (per channel), in NumPy.

    For the differentiable HSVs of one layer see :func:`mor_torch.regularize.layer_hsv`.

    Parameters
    ----------
    model : nn.Module
        Stable DSS layers (DSS_EXP, or softmax ones given the model's kernel ``length``).
    gramians : {"discrete", "continuous"}
        The zero-order-hold systems or the continuous ones.

    Returns
    -------
    list of (H, N) ndarray
    """
    length = model.hparams.get("length") if hasattr(model, "hparams") else None
    time_ = "continuous" if gramians == "continuous" else "discrete"
    return [np.atleast_2d(hankel_singular_values(to_lti(m, time=time_, length=length)))
            for m in model.modules() if isinstance(m, DSS)]  # fmt: skip


def summarise_curves(curves: dict[int, dict], config: Config) -> dict:
    """Pool the seeds' curves: per method and fraction the mean and std of the test accuracy.

    Parameters
    ----------
    curves : dict {seed: dict}
        :func:`measure_curve` of every seed.
    config : Config
        For the fractions and methods.

    Returns
    -------
    dict
        ``fractions``, ``methods``, ``labels``, ``total_states``, ``pretrained`` (mean and std of the
        test accuracy), ``curves`` (per method: ``kept``, ``accuracy``, ``accuracy_std``,
        ``val_accuracy``, ``states``, per fraction), ``best`` (per fraction the method of highest mean
        test accuracy and, for every method, its gap to it) and ``per_seed`` (the raw curves).
    """
    cc, seeds = config.compression, sorted(curves)
    out: dict[str, Any] = {"fractions": list(cc.fractions), "methods": list(cc.methods),
                           "labels": {m: LABELS[m] for m in cc.methods},
                           "total_states": curves[seeds[0]]["total_states"]}  # fmt: skip
    pre = describe([curves[s]["pretrained"]["test_accuracy"] for s in seeds])
    out["pretrained"] = {"accuracy": pre["mean"], "accuracy_std": pre["std"]}
    table: dict[str, dict[str, list]] = {}
    for method in cc.methods:
        rows = {k: [] for k in ("kept", "states", "accuracy", "accuracy_std", "val_accuracy")}
        for fraction in cc.fractions:
            pts = [next(p for p in curves[s]["points"] if p["method"] == method and p["fraction"] == fraction)
                   for s in seeds]  # fmt: skip
            acc = describe([p["test_accuracy"] for p in pts])
            rows["kept"].append(float(np.mean([p["kept"] for p in pts])))
            rows["states"].append(float(np.mean([p["states"] for p in pts])))
            rows["accuracy"].append(acc["mean"])
            rows["accuracy_std"].append(acc["std"])
            rows["val_accuracy"].append(float(np.mean([p["val_accuracy"] for p in pts])))
        table[method] = rows
    out["curves"] = table
    out["best"] = []
    for i, fraction in enumerate(cc.fractions):
        accs = {m: table[m]["accuracy"][i] for m in cc.methods}
        top = max(accs, key=accs.get)
        out["best"].append({"fraction": fraction, "method": top, "gap": {m: accs[m] - accs[top] for m in accs}})
    out["per_seed"] = {str(s): curves[s] for s in seeds}
    return out
