"""Every figure of a run directory, drawn one way (shared by the reports and the experiments).

==============================  ==================================================================
``plots/hsv_decay.png``         :func:`hsv_figure`: Hankel singular values per layer and channel
``plots/accuracy_vs_compute``   :func:`accuracy_vs_compute_figure`: validation curves, test stars
``plots/comparison.png``        :func:`comparison_figure`: final test accuracy of every stage
``plots/claim2.png``            :func:`claim2_figure`: claim 2's points
``plots/compression.png``       :func:`compression_figure`: the compression curve
``plots/compression_layers``    :func:`compression_layers_figure`: states kept per layer
==============================  ==================================================================

Each ``*_figure`` function returns the :class:`matplotlib.figure.Figure` (so that tests can check
it, see :func:`overlapping_labels`); :func:`save_figure` writes it atomically at the size and
resolution of the run directory and closes it.  Layers are named as the logs name them (the
module path, e.g. ``blocks.0.dss``), and every axis says its unit.  matplotlib is imported on
first use, with the Agg backend.
"""

from __future__ import annotations

import io
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .files import atomic_write_bytes
from .report import STAGES, format_ci

__all__ = [
    "DPI",
    "accuracy_vs_compute_figure",
    "claim2_figure",
    "comparison_figure",
    "compression_figure",
    "compression_layers_figure",
    "hsv_figure",
    "overlapping_labels",
    "pyplot",
    "save_figure",
]

#: Resolution of every saved figure (dots per inch).
DPI = 110


def pyplot():
    """``matplotlib.pyplot`` with the Agg backend (chosen before pyplot loads)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path) -> None:
    """Write ``fig`` as a PNG file atomically (``DPI``, tight bounding box), then close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        The PNG file.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    atomic_write_bytes(Path(path), buf.getvalue())
    pyplot().close(fig)


def overlapping_labels(fig) -> list[tuple[str, str]]:
    """Pairs of tick labels of one axis whose drawn extents overlap, at the saved resolution.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        A figure as the ``*_figure`` functions return it.

    Returns
    -------
    list of (str, str)
        The texts of every overlapping pair (empty when every figure label can be read).
    """
    fig.set_dpi(DPI)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    pairs = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text()]
            boxes = [t.get_window_extent(renderer) for t in labels]
            for i in range(len(labels)):
                for j in range(i + 1, len(labels)):
                    if boxes[i].overlaps(boxes[j]):
                        pairs.append((labels[i].get_text(), labels[j].get_text()))
    return pairs


def _layer_names(names: list[str] | None, count: int) -> list[str]:
    return list(names) if names is not None else [f"layer {i}" for i in range(count)]


def hsv_figure(hsv: list[np.ndarray], order: int, *, names: list[str] | None = None, title: str = ""):
    """Hankel singular value decay: one panel per layer, one line per channel (log scale).

    Parameters
    ----------
    hsv : list of ndarray
        Per layer, shape ``(H, N)`` (per-channel structure) or ``(1, N)`` / ``(N,)`` (shared).
    order : int
        The reduced order ``r``, marked with a dashed vertical line.
    names : list of str, optional
        The layers' module names (as the logs print them); default ``layer 0``, ``layer 1``, ...
    title : str
        The figure's title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    names = _layer_names(names, len(hsv))
    cols = math.ceil(math.sqrt(len(hsv)))
    rows = math.ceil(len(hsv) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for i, s in enumerate(hsv):
        ax = axes[i // cols][i % cols]
        s = np.atleast_2d(np.asarray(s, dtype=np.float64))
        k = np.arange(1, s.shape[1] + 1)
        for ch in range(s.shape[0]):
            ax.semilogy(k, np.maximum(s[ch], np.finfo(np.float64).tiny), lw=0.7, alpha=0.6)
        ax.axvline(order + 0.5, color="k", ls="--", lw=0.8, label=f"r = {order}")
        ax.set_title(f"{names[i]} ({s.shape[0]} SSM{'s' if s.shape[0] > 1 else ''})", fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("index k of the singular value")
        ax.set_ylabel("Hankel singular value (no unit)")
        ax.legend(fontsize=7, loc="upper right")
    for j in range(len(hsv), rows * cols):
        axes[j // cols][j % cols].axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _stage_curve(rows: list[dict[str, Any]], stage: str):
    """Mean and std over seeds of the validation accuracy at each epoch, against path tokens (millions)."""
    pts: dict[int, list] = {}
    for r in rows:
        if r["stage"] == stage and r.get("path_tokens") is not None and r.get("val_accuracy") is not None:
            pts.setdefault(r["epoch"], []).append((r["path_tokens"], r["val_accuracy"]))
    epochs = sorted(pts)
    x = np.array([np.mean([p[0] for p in pts[e]]) for e in epochs]) / 1e6
    y = np.array([np.mean([p[1] for p in pts[e]]) for e in epochs])
    sd = np.array([np.std([p[1] for p in pts[e]]) for e in epochs])
    return x, y, sd


def accuracy_vs_compute_figure(rows: list[dict[str, Any]], results: dict[str, Any]):
    """Validation accuracy against training compute (tokens since the start of pre-training).

    One line per stage (the mean over seeds at each epoch, a band of one standard deviation): BT's
    path is the pre-training curve continued by ``bt_init``; the baselines start where their path
    starts (``skew_hippo`` at 0, ``full_continued`` and ``modal_init`` after pre-training).  The
    mean final test accuracy of every stage is a star at its path's total compute (its own legend
    entry); the stage legend sits outside the axes, so it covers no data.

    Parameters
    ----------
    rows : list of dict
        The metric rows (``stage``, ``seed``, ``epoch``, ``val_accuracy``, ``path_tokens``).
    results : dict
        The run's results (final test accuracies and tokens).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.lines import Line2D

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.0, 4.5))
    colours = {stage: f"C{i}" for i, stage in enumerate(STAGES)}
    for stage, label in STAGES.items():
        x, y, sd = _stage_curve(rows, stage)
        if not len(x):
            continue
        ax.plot(x, y, "s" if len(x) == 1 else "-o", ms=3, color=colours[stage], label=label)
        ax.fill_between(x, y - sd, y + sd, color=colours[stage], alpha=0.15, lw=0)
        if stage in results:
            ax.plot([results[stage]["train_tokens"] / 1e6], [results[stage]["accuracy"]], "*", ms=10,
                    color=colours[stage], mec="k", mew=0.5)  # fmt: skip
    star = Line2D([], [], ls="", marker="*", ms=10, color="0.6", mec="k", mew=0.5, label="final test accuracy")
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*handles, star], fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xlabel("training compute: tokens since the start of pre-training (millions)")
    ax.set_ylabel("accuracy (fraction correct)")
    ax.set_title("validation accuracy per epoch (mean +- std over seeds); stars: test accuracy", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def comparison_figure(results: dict[str, Any]):
    """Mean test accuracy of every stage with error bars (one standard deviation over seeds) and seeds.

    Parameters
    ----------
    results : dict
        The run's results.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    keys = [k for k in STAGES if k in results]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(keys) + 1.4))
    y = np.arange(len(keys))[::-1]
    means = [results[k]["accuracy"] for k in keys]
    stds = [results[k]["accuracy_std"] for k in keys]
    ax.barh(y, means, xerr=stds, color=[f"C{list(STAGES).index(k)}" for k in keys], alpha=0.8, capsize=3)
    for yi, k in zip(y, keys, strict=True):
        vals = [v["test_accuracy"] for v in results[k]["per_seed"].values()]
        ax.plot(vals, [yi] * len(vals), "k.", ms=5)
    ax.set_yticks(y, [f"{STAGES[k]}, {results[k]['d_state']} states" for k in keys], fontsize=8)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.set_xlabel(f"test accuracy (fraction correct; mean +- std over {len(results.get('seeds', [0]))} seed(s),"
                  " dots: seeds)")  # fmt: skip
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def claim2_figure(claim2: dict[str, Any]):
    """Claim 2's points: final test accuracy after BT + main training against the pre-trained one.

    Parameters
    ----------
    claim2 : dict
        ``claims["claim2"]`` with its ``points``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    pts = claim2["points"]
    for i, seed in enumerate(sorted({p["seed"] for p in pts})):
        mine = [p for p in pts if p["seed"] == seed]
        ax.plot([p["pretrained_test_accuracy"] for p in mine], [p["final_test_accuracy"] for p in mine], "o-",
                color=f"C{i}", label=f"seed {seed}", ms=4, lw=0.6)  # fmt: skip
        for p in mine:
            ax.annotate(str(p["epoch"]), (p["pretrained_test_accuracy"], p["final_test_accuracy"]), fontsize=6)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins=5))
    ax.tick_params(axis="x", labelrotation=30)
    rho = "n/a" if claim2["rho"] is None else f"{claim2['rho']:+.2f}"
    ax.set_title(f"Spearman rho {rho}, 95% CI {format_ci(claim2['ci95'])}: {claim2['verdict']}", fontsize=8)
    ax.set_xlabel("pre-trained test accuracy (fraction correct; labels: pre-training epoch)")
    ax.set_ylabel("test accuracy after BT + main training")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _fraction_label(x: float) -> str:
    """``1``, ``1/2``, ``1/4``, ... for the fractions of states kept (a decimal where none is near)."""
    f = Fraction(x).limit_denominator(1024)
    return str(f) if abs(float(f) - x) <= 1e-9 * x else f"{x:.3g}"


def compression_figure(summary: dict):
    """Test accuracy (mean, +- std over seeds) against the fraction of states kept, one line per method.

    The x axis is logarithmic in base 2 with a tick at every fraction of the experiment
    (``1``, ``1/2``, ``1/4``, ...); the legend sits outside the axes.

    Parameters
    ----------
    summary : dict
        :func:`mor_torch.lra.compression.summarise_curves`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.ticker import NullLocator

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9.0, 4.6))
    for method in summary["methods"]:
        c = summary["curves"][method]
        kept, acc, std = (np.asarray(c[k], dtype=float) for k in ("kept", "accuracy", "accuracy_std"))
        ax.errorbar(kept, acc, yerr=std, marker="o", ms=3.5, lw=1.2, capsize=2, label=summary["labels"][method])
    ax.axhline(summary["pretrained"]["accuracy"], color="k", ls="--", lw=0.8, label="pre-trained (all states)")
    ax.set_xscale("log", base=2)
    fractions = sorted(set(summary["fractions"]), reverse=True)
    ax.set_xticks(fractions, [_fraction_label(f) for f in fractions])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.invert_xaxis()
    ax.set_xlabel(f"fraction of the {summary['total_states']} SSM states kept (log scale)")
    ax.set_ylabel("test accuracy, no retraining (fraction correct)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


def compression_layers_figure(summary: dict, *, seed: str | None = None):
    """States kept per layer by BT's, LAST's and AIRE's allocations, one panel per fraction below one.

    Parameters
    ----------
    summary : dict
        :func:`mor_torch.lra.compression.summarise_curves`.
    seed : str, optional
        Whose curve (default: the first seed).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = pyplot()
    seed = seed or next(iter(summary["per_seed"]))
    points = summary["per_seed"][seed]["points"]
    fractions = [f for f in summary["fractions"] if f < 1]
    methods = [m for m in ("bt", "last", "aire") if m in summary["methods"]]
    panels = max(1, len(fractions))
    fig, axes = plt.subplots(1, panels, figsize=(3.2 * panels, 3.4), squeeze=False)
    for ax, fraction in zip(axes[0], fractions, strict=False):
        width = 0.8 / max(1, len(methods))
        for j, method in enumerate(methods):
            p = next(p for p in points if p["method"] == method and p["fraction"] == fraction)
            x = np.arange(len(p["layer_states"])) + (j - (len(methods) - 1) / 2) * width
            ax.bar(x, p["layer_states"], width=width, label=summary["labels"][method])
        names = _layer_names(p.get("layer_names"), len(p["layer_states"]))
        ax.set_xticks(np.arange(len(names)), names, rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{_fraction_label(fraction)} of the states kept", fontsize=9)
    axes[0][0].set_ylabel("states kept (summed over channels)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=max(1, len(labels)), fontsize=8, bbox_to_anchor=(0.5, 1.1))
    fig.tight_layout()
    return fig
