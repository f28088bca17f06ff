"""Reporting for the LRA pipeline: metrics files, results summary, terminal table, plots.

Every file is (re)written atomically, so an interrupted run never leaves a torn
``metrics.jsonl``, ``metrics.csv`` or ``results.json``.  Plots use matplotlib's
Agg backend (no display needed).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .during import format_during
from .files import atomic_write_text
from .stats import describe, paired_difference

__all__ = [
    "STAGES",
    "MetricsWriter",
    "comparisons",
    "format_ci",
    "format_compression",
    "format_table",
    "pool_reduction",
    "reduction_quality",
    "stage_label",
    "summarise_stage",
]

#: Result keys, in pipeline order, with their table labels.
STAGES = {
    "pretrained": "pre-trained (N)",
    "reduced": "BT reduced, no training (r)",
    "bt_init": "BT init + main training (r)",
    "modal_reduced": "modal reduced, no training (r)",
    "modal_init": "modal init + main training (r)",
    "full_continued": "full model trained on (N)",
    "skew_hippo": "Skew-HiPPO init (r)",
    "skew_hippo_matched": "Skew-HiPPO, BT's compute (r)",
}

#: Table labels of the claims experiment's extra arms (:mod:`mor_torch.lra.claims`), without order suffix.
ARM_LABELS = {
    "bsp_reduced": "BSP reduced, no training (r)",
    "bsp_init": "BSP init + main training (r)",
    "irka_reduced": "IRKA reduced, no training (r)",
    "irka_init": "IRKA init + main training (r)",
    "pretrained_hsvreg": "pre-trained, HSV-regularised (N)",
    "hsvreg_reduced": "HSV-reg., BT reduced, no training (r)",
    "hsvreg_bt_init": "HSV-reg., BT init + main training (r)",
}


def stage_label(stage: str) -> str:
    """The table label of a stage: ``"BSP init + main training (r = 2)"`` for ``"bsp_init_r2"``.

    Parameters
    ----------
    stage : str
        A key of :data:`STAGES` or :data:`ARM_LABELS`, with or without an order suffix ``_r<k>``.

    Returns
    -------
    str
        The label (the stage name itself for an unknown stage).
    """
    match = re.fullmatch(r"(.+?)_r(\d+)", stage)
    base = stage if match is None else match[1]
    label = STAGES.get(base) or ARM_LABELS.get(base, base)
    return label if match is None else label.replace("(r)", f"(r = {match[2]})")


METRIC_COLUMNS = [
    "stage",
    "seed",
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "lr",
    "ssm_lr",
    "reduced_val_accuracy",
    "train_tokens",
    "path_tokens",
    "epoch_time_s",
]


class MetricsWriter:
    """Per-epoch metric rows (per stage, per seed) mirrored to ``metrics.jsonl`` and ``metrics.csv``.

    Rows are keyed by ``(seed, stage, epoch)``: adding a row again (after a resume) replaces it,
    so the files never hold duplicates.  ``enabled=False`` (non-zero ranks) keeps rows in memory only.
    """

    def __init__(self, run_dir: str | Path, *, enabled: bool = True):
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.rows: dict[tuple, dict[str, Any]] = {}

    def add(self, row: dict[str, Any]) -> None:
        self.rows[(row["seed"], row["stage"], row["epoch"])] = dict(row)
        self.flush()

    def flush(self) -> None:
        if not self.enabled:
            return
        rows = list(self.rows.values())
        atomic_write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(r, allow_nan=True) + "\n" for r in rows))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in METRIC_COLUMNS})
        atomic_write_text(self.run_dir / "metrics.csv", buf.getvalue())


def summarise_stage(per_seed: dict[int, dict[str, Any]], counts: dict[str, int], d_state: Any) -> dict:
    """Mean and standard deviation over seeds of one stage's test and validation accuracy.

    Parameters
    ----------
    per_seed : dict
        ``{seed: stage record}``.
    counts : dict
        :func:`mor_torch.lra.model.count_parameters` of the stage's model.
    d_state : int or list of int
        The stage model's state size(s).

    Returns
    -------
    dict
        ``accuracy`` (mean test accuracy), ``accuracy_std`` (``ddof = 1``; 0 for one seed),
        ``val_accuracy``, ``val_accuracy_std``, ``train_tokens`` (mean over seeds), ``per_seed``
        (the records without their histories and reports), ``d_state``, ``ssm_params``, ``params``.
    """
    seeds = sorted(per_seed)
    test = describe([per_seed[s]["test_accuracy"] for s in seeds])
    val = describe([per_seed[s]["val_accuracy"] for s in seeds])
    drop = ("history", "reduction", "wall_s", "reduce_s")
    return {
        "accuracy": test["mean"],
        "accuracy_std": test["std"],
        "val_accuracy": val["mean"],
        "val_accuracy_std": val["std"],
        "train_tokens": float(np.mean([per_seed[s].get("train_tokens", 0) for s in seeds])),
        "per_seed": {str(s): {k: v for k, v in per_seed[s].items() if k not in drop} for s in seeds},
        "d_state": d_state,
        "ssm_params": counts["ssm_params"],
        "params": counts["params"],
    }


def comparisons(records: dict[str, dict[int, dict]], method: str) -> dict[str, dict]:
    """``method`` minus every other stage: test accuracy differences paired over seeds.

    Parameters
    ----------
    records : dict
        ``{stage: {seed: record}}``.
    method : str
        The stage compared (``"bt_init"``).

    Returns
    -------
    dict
        ``{stage: {"mean_diff", "std_diff", "ci95", "n_seeds"}}`` (see
        :func:`mor_torch.lra.stats.paired_difference`).
    """
    seeds = sorted(records[method])
    ours = [records[method][s]["test_accuracy"] for s in seeds]
    return {
        stage: paired_difference(ours, [recs[s]["test_accuracy"] for s in seeds])
        for stage, recs in records.items()
        if stage != method
    }


def _kernels(model: torch.nn.Module, length: int) -> list[np.ndarray]:
    from ..dss import DSS

    with torch.no_grad():
        return [m.kernel(length).double().cpu().numpy() for m in model.modules() if isinstance(m, DSS)]


def reduction_quality(original: torch.nn.Module, reduced: torch.nn.Module, report: Any, order: int) -> dict:
    """How good a model reduction is, per layer: HSV energy kept, error bound, measured kernel error.

    For channel ``h`` of a layer with kernel ``K_h`` (length ``L``, the model's kernel length) and
    reduced kernel ``K_r,h``: the measured relative error ``||K_h - K_r,h||_2 / ||K_h||_2`` and, for
    balanced truncation, the relative bound ``bound_h / ||K_h||_2`` (the bound is an H-infinity
    bound, hence one on the l2 norm of the impulse-response error, the kernel included); the
    fraction of channels whose measured error respects the bound; and, for balanced truncation,
    the fraction of the sum of Hankel singular values kept by the first ``r``.

    Parameters
    ----------
    original, reduced : nn.Module
        The model before and after :func:`mor_torch.compress`.
    report : CompressionReport
        What :func:`mor_torch.compress` returned.
    order : int
        The reduced order.

    Returns
    -------
    dict
        ``{"layers": [per-layer dict], "reducer": str}``.
    """
    length = original.hparams["length"]
    rows = []
    layer_reports = list(report.layers.values())
    names = list(report.layers)
    for i, (K, Kr, rep) in enumerate(zip(_kernels(original, length), _kernels(reduced, length), layer_reports,
                                         strict=True)):  # fmt: skip
        norm = np.linalg.norm(K, axis=-1)
        safe = np.where(norm > 0, norm, 1.0)
        measured = np.linalg.norm(K - Kr, axis=-1) / safe
        s = np.atleast_2d(rep.hsv)
        energy = s[:, :order].sum(axis=1) / np.where(s.sum(axis=1) > 0, s.sum(axis=1), 1.0)
        bt = rep.reducer == "bt"  # the first r HSVs are what balanced truncation keeps, not modal truncation
        row = {
            "layer": i + 1,
            "name": names[i],
            "n_systems": int(s.shape[0]),
            "hsv_max": float(s.max()),
            "hsv_at_order_median": float(np.median(s[:, order])) if s.shape[1] > order else 0.0,
            "hsv_energy_kept_min": float(energy.min()) if bt else None,
            "hsv_energy_kept_median": float(np.median(energy)) if bt else None,
            "kernel_error_rel_median": float(np.median(measured)),
            "kernel_error_rel_max": float(measured.max()),
            "error_bound_rel_median": None,
            "error_bound_rel_max": None,
            "within_bound_fraction": None,
        }
        if rep.error_bound is not None:
            bound = np.broadcast_to(np.asarray(rep.error_bound, dtype=np.float64), norm.shape)
            row.update(
                error_bound_rel_median=float(np.median(bound / safe)),
                error_bound_rel_max=float(np.max(bound / safe)),
                within_bound_fraction=float(np.mean(norm * measured <= bound * (1 + 1e-9) + 1e-12 * norm)),
            )
        rows.append(row)
    return {"reducer": layer_reports[0].reducer if layer_reports else "", "layers": rows}


def pool_reduction(per_seed: list[dict]) -> dict:
    """Per-layer reduction quality averaged over seeds (medians of the per-seed figures).

    Parameters
    ----------
    per_seed : list of dict
        :func:`reduction_quality` of each seed.

    Returns
    -------
    dict
        ``{"reducer", "layers"}`` with the same keys per layer, each the median over seeds (``None``
        where a figure does not exist for the reducer).
    """
    layers = []
    for rows in zip(*(r["layers"] for r in per_seed), strict=True):
        pooled = {}
        for key, value in rows[0].items():
            vals = [r[key] for r in rows]
            pooled[key] = None if value is None else (value if key in ("layer", "name", "n_systems") else
                                                      float(np.median(vals)))  # fmt: skip
        layers.append(pooled)
    return {"reducer": per_seed[0]["reducer"], "layers": layers}


def format_ci(ci: list[float] | None) -> str:
    """A 95% interval as ``[+lo, +hi]`` (``n/a`` where there is none)."""
    return "n/a" if ci is None else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]"


def format_table(results: dict[str, Any]) -> str:
    """The comparison of all stages and the claims' verdicts as fixed-width text.

    Parameters
    ----------
    results : dict
        What :func:`mor_torch.lra.run_pipeline` returned (or ``results.json``).

    Returns
    -------
    str
    """
    if results.get("experiment") == "compression":  # the compression curve has its own table
        return format_compression(results)
    keys = [k for k, v in results.items() if isinstance(v, dict) and "per_seed" in v]
    width = max([32, *(len(stage_label(k)) for k in keys)])
    head = (f"{'stage':<{width}} {'N/r':>4} {'SSM params':>10} {'state':>7} {'MACs/tok':>8} {'latency':>7} "
            f"{'tokens':>9} {'test acc':>17}  per seed")  # fmt: skip
    lines = [head, "-" * len(head)]
    latency = ((results.get("timing") or {}).get("stream_latency") or {}).get("ratio_to_pretrained", {})
    for key in keys:
        st, label = results[key], stage_label(key)
        seeds = " ".join(f"{v['test_accuracy']:.4f}" for v in st["per_seed"].values())
        acc = f"{st['accuracy']:.4f} +- {st['accuracy_std']:.4f}"
        tokens = f"{st['train_tokens'] / 1e6:.2f}M"
        cost = st.get("inference") or {}
        state, macs = cost.get("state_size", "-"), cost.get("macs_per_token", "-")
        lat = f"{latency[key]:.2f}x" if latency.get(key) is not None else "-"
        lines.append(
            f"{label:<{width}} {st['d_state']!s:>4} {st['ssm_params']:>10} {state:>7} {macs:>8} {lat:>7} {tokens:>9} "
            f"{acc:>17}  {seeds}"
        )
    lines.append(
        "state: reals of the SSM states; MACs/tok: multiply-adds per streamed token (counted); latency: "
        "measured per-token time relative to the pre-trained model (batch 1, one thread)"
    )
    comp = results.get("comparisons", {})
    if comp:
        lines.append("")
        lines.append("BT init + main training minus ...   (test accuracy, paired over seeds; 95% t interval)")
        for stage, c in comp.items():
            label = stage_label(stage)
            lines.append(f"  {label:<{width}} {c['mean_diff']:+.4f}  {format_ci(c['ci95'])}  n={c['n_seeds']}")
    if results.get("during_training"):
        lines += ["", format_during(results)]
    claims = results.get("claims")
    if claims:
        c1 = claims["claim1"]
        verdicts = ", ".join(f"vs {b}: {c1[b]['verdict']}" for b in ("skew_hippo", "skew_hippo_matched"))
        lines.append(f"Claim 1 (BT init beats Skew-HiPPO init): {verdicts}")
        c2 = claims["claim2"]
        rho = "n/a" if c2["rho"] is None else f"{c2['rho']:+.3f}"
        lines.append(
            f"Claim 2 (better original -> better compressed): Spearman rho {rho} {format_ci(c2['ci95'])}, "
            f"{c2['n_points']} points: {c2['verdict']}"
        )
    if claims:
        lines += _format_inits(claims.get("inits")) + _format_hsv_reg(claims.get("hsv_reg"))
    return "\n".join(lines)


def _format_inits(inits: dict | None) -> list[str]:
    """Per order: every initialisation after main training, and each minus BT (paired, 95% interval)."""
    if not inits or len(next(iter(inits["orders"].values()))["trained"]) < 2:
        return []
    lines = ["", "Which initialisation wins after main training (test accuracy; minus BT paired over seeds)"]
    for order, block in inits["orders"].items():
        lines.append(f"  r = {order}: best {block['best']}")
        for init, acc in block["trained"].items():
            vs = block["minus_bt"].get(init)
            diff = "" if vs is None else f"   minus BT {vs['mean_diff']:+.4f} {format_ci(vs['ci95'])}: {vs['verdict']}"
            before = block["reduced"][init]["mean"]
            lines.append(f"    {init:<6} {acc['mean']:.4f} +- {acc['std']:.4f} (no training {before:.4f}){diff}")
    return lines


def _format_hsv_reg(reg: dict | None) -> list[str]:
    """Regularised minus plain pre-training, then BT, without and with main training, per order."""
    if not reg:
        return []

    def row(name: str, c: dict) -> str:
        return (f"    {name:<28} {c['regularised']['mean']:.4f} vs {c['plain']['mean']:.4f}  "
                f"{c['mean_diff']:+.4f} {format_ci(c['ci95'])}: {c['verdict']}")  # fmt: skip

    head = f"HSV regulariser (weight {reg['weight']:g}, r = {reg['penalty_order']}): regularised vs plain, paired"
    lines = ["", head]
    lines.append(row("pre-trained (N)", reg["pretrained"]))
    for order, block in reg["orders"].items():
        lines.append(row(f"BT r = {order}, no training", block["reduced"]))
        lines.append(row(f"BT r = {order}, main-trained", block["bt_init"]))
    return lines


def format_compression(results: dict) -> str:
    """The compression curve as fixed-width text: test accuracy per method (rows) and fraction (columns).

    Parameters
    ----------
    results : dict
        ``results.json`` of a compression run (its ``compression`` entry holds
        :func:`mor_torch.lra.compression.summarise_curves`).

    Returns
    -------
    str
    """
    comp = results["compression"]
    head = f"{'method':<34}" + "".join(f"{f:>8.3g}" for f in comp["fractions"])
    lines = [f"test accuracy without retraining; columns: fraction of the {comp['total_states']} SSM states kept",
             head, "-" * len(head)]  # fmt: skip
    for method in comp["methods"]:
        accs = comp["curves"][method]["accuracy"]
        lines.append(f"{comp['labels'][method]:<34}" + "".join(f"{a:>8.4f}" for a in accs))
    pre = comp["pretrained"]
    lines.append(f"pre-trained model: {pre['accuracy']:.4f} +- {pre['accuracy_std']:.4f}")
    best = ", ".join(f"{b['fraction']:.3g}: {b['method']}" for b in comp["best"])
    lines.append(f"best per fraction: {best}")
    return "\n".join(lines)
