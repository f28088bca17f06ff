"""Reporting for the LRA pipeline: metrics files, results summary, terminal table, plots.

Every file is (re)written atomically, so an interrupted run never leaves a torn
``metrics.jsonl``, ``metrics.csv`` or ``results.json``.  Plots use matplotlib's
Agg backend (no display needed).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_write_bytes, atomic_write_text

__all__ = [
    "STAGES",
    "MetricsWriter",
    "format_table",
    "pearson",
    "plot_accuracy_curves",
    "plot_comparison",
    "plot_hsv",
    "summarise_stage",
]

#: Result keys, in pipeline order, with their table labels.
STAGES = {
    "pretrained": "pre-trained (N)",
    "reduced": "reduced, no training (r)",
    "bt_init": "BT init + main training (r)",
    "skew_hippo": "Skew-HiPPO init (r)",
}

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


def pearson(x: list[float], y: list[float]) -> dict[str, Any]:
    """Pearson correlation of paired values: ``{"r": float or None, "n": int, "note": str}``.

    ``r`` is None when fewer than 3 points are given (2 points always give +-1) or when one
    of the series is constant.
    """
    n = len(x)
    if n != len(y):
        raise ValueError(f"x and y must have the same length, got {n} and {len(y)}")
    if n < 3:
        return {"r": None, "n": n, "note": "needs at least 3 points (seeds)"}
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    dx, dy = xa - xa.mean(), ya - ya.mean()
    den = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if den == 0.0:
        return {"r": None, "n": n, "note": "a series is constant"}
    return {"r": float(dx @ dy) / den, "n": n, "note": ""}


def summarise_stage(per_seed: dict[int, dict[str, Any]], counts: dict[str, int], d_state: int) -> dict:
    """Mean and standard deviation over seeds of the test and validation accuracy of one stage.

    ``accuracy`` is the mean test accuracy; ``accuracy_std`` the sample standard deviation
    (ddof=1; 0 for a single seed).
    """
    seeds = sorted(per_seed)
    test = np.array([per_seed[s]["test_accuracy"] for s in seeds], dtype=np.float64)
    val = np.array([per_seed[s]["val_accuracy"] for s in seeds], dtype=np.float64)
    std = float(test.std(ddof=1)) if len(test) > 1 else 0.0
    return {
        "accuracy": float(test.mean()),
        "accuracy_std": std,
        "val_accuracy": float(val.mean()),
        "per_seed": {str(s): per_seed[s] for s in seeds},
        "d_state": d_state,
        "ssm_params": counts["ssm_params"],
        "params": counts["params"],
    }


def format_table(results: dict[str, Any]) -> str:
    """The four-way comparison as a fixed-width text table."""
    head = f"{'stage':<30} {'N/r':>4} {'SSM params':>10} {'params':>9} {'test acc':>16}  per seed"
    lines = [head, "-" * len(head)]
    for key, label in STAGES.items():
        st = results.get(key)
        if st is None:
            continue
        seeds = " ".join(f"{v['test_accuracy']:.4f}" for v in st["per_seed"].values())
        acc = f"{st['accuracy']:.4f} +- {st['accuracy_std']:.4f}"
        lines.append(f"{label:<30} {st['d_state']:>4} {st['ssm_params']:>10} {st['params']:>9} {acc:>16}  {seeds}")
    corr = results.get("correlation", {}).get("pretrained_vs_bt_init")
    if corr is not None:
        r = "n/a" if corr["r"] is None else f"{corr['r']:+.3f}"
        lines.append(f"Pearson r (pre-trained vs BT init, over seeds): {r} (n={corr['n']}) {corr['note']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- plots


def _pyplot():
    # imported here, not at the top: matplotlib is only needed for the plots, and the Agg backend
    # must be chosen before pyplot loads
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def plot_hsv(hsv: list[np.ndarray], order: int, path: str | Path, *, title: str = "") -> None:
    """Hankel singular value decay: one panel per layer, one line per channel (log scale).

    ``hsv[l]`` has shape ``(H, N)`` (per-channel structure) or ``(1, N)`` / ``(N,)`` (shared).
    The reduced order ``r`` is marked with a dashed vertical line.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    n_layers = len(hsv)
    cols = math.ceil(math.sqrt(n_layers))
    rows = math.ceil(n_layers / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for i, s in enumerate(hsv):
        ax = axes[i // cols][i % cols]
        s = np.atleast_2d(np.asarray(s, dtype=np.float64))
        k = np.arange(1, s.shape[1] + 1)
        floor = np.finfo(np.float64).tiny
        for ch in range(s.shape[0]):
            ax.semilogy(k, np.maximum(s[ch], floor), lw=0.7, alpha=0.6)
        ax.axvline(order + 0.5, color="k", ls="--", lw=0.8)
        ax.set_title(f"layer {i + 1} ({s.shape[0]} SSM{'s' if s.shape[0] > 1 else ''})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("index")
        ax.set_ylabel("Hankel singular value")
    for j in range(n_layers, rows * cols):
        axes[j // cols][j % cols].axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    _save(fig, Path(path))
    plt.close(fig)


def plot_accuracy_curves(rows: list[dict[str, Any]], path: str | Path) -> None:
    """Validation accuracy per epoch for each trained stage (one line per seed)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    colours = {"pretrained": "C0", "bt_init": "C1", "skew_hippo": "C2", "reduced": "C3"}
    groups: dict[tuple, list] = {}
    for r in rows:
        if r["stage"] in ("pretrained", "bt_init", "skew_hippo") and r.get("val_accuracy") is not None:
            groups.setdefault((r["stage"], r["seed"]), []).append((r["epoch"], r["val_accuracy"]))
    labelled: set[str] = set()
    for (stage, _seed), pts in groups.items():
        pts.sort()
        label = None if stage in labelled else STAGES[stage]
        labelled.add(stage)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "-o", ms=3, color=colours[stage], label=label)
    tracked: dict[int, list] = {}
    for r in rows:
        if r["stage"] == "pretrained" and r.get("reduced_val_accuracy") is not None:
            tracked.setdefault(r["seed"], []).append((r["epoch"], r["reduced_val_accuracy"]))
    for _seed, pts in tracked.items():
        label = None if "tracked" in labelled else "pre-trained, reduced after each epoch"
        labelled.add("tracked")
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "--", color=colours["reduced"], label=label)
    for r in rows:
        if r["stage"] == "reduced":
            label = None if "reduced" in labelled else STAGES["reduced"]
            labelled.add("reduced")
            ax.plot([0], [r["val_accuracy"]], "s", color=colours["reduced"], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(fig, Path(path))
    plt.close(fig)


def plot_comparison(results: dict[str, Any], path: str | Path) -> None:
    """Bar chart of mean test accuracy (+- std, per-seed dots) for the four stages."""
    plt = _pyplot()
    keys = [k for k in STAGES if k in results]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    means = [results[k]["accuracy"] for k in keys]
    stds = [results[k]["accuracy_std"] for k in keys]
    x = np.arange(len(keys))
    ax.bar(x, means, yerr=stds, color=[f"C{i}" for i in range(len(keys))], alpha=0.8, capsize=4)
    for i, k in enumerate(keys):
        vals = [v["test_accuracy"] for v in results[k]["per_seed"].values()]
        ax.plot([i] * len(vals), vals, "k.", ms=5)
    ax.set_xticks(x, [f"{STAGES[k]}\n{results[k]['d_state']} states" for k in keys], fontsize=7)
    ax.set_ylabel("test accuracy")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    _save(fig, Path(path))
    plt.close(fig)
