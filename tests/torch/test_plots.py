"""Every figure of a run directory can be read: drawn from small runs, checked at the saved size.

The checks are what a reader stumbled on: tick labels that run together, fractions of states shown
as powers of ten, fractional layer ticks, markers missing from the legend, layer names that differ
from the logs.
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from mor_torch.lra import plots, resolve_config, run_pipeline  # noqa: E402

STAGE_PLOTS = ("hsv_decay.png", "accuracy_vs_compute.png", "comparison.png", "claim2.png")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The smoke run (every stage, claim 2's path) and the compression curve's smoke run."""
    root = tmp_path_factory.mktemp("plots")
    data = f"task.data_dir={json.dumps(str(root / 'data'))}"
    out = {}
    for preset in ("smoke", "compression-smoke"):
        cfg = resolve_config(preset, [data, "run.threads=1"])
        out[preset] = (root / preset, run_pipeline(cfg, root / preset))
    return out


def _legend_texts(fig):
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    return [t.get_text() for legend in legends for t in legend.get_texts()]


def test_every_plot_of_the_runs_is_written(runs):
    smoke_dir, _ = runs["smoke"]
    comp_dir, _ = runs["compression-smoke"]
    for name in STAGE_PLOTS:
        assert (smoke_dir / "plots" / name).read_bytes().startswith(b"\x89PNG")
    for name in ("compression.png", "compression_layers.png", "hsv_decay.png"):
        assert (comp_dir / "plots" / name).read_bytes().startswith(b"\x89PNG")


def test_stage_figures_are_readable_and_name_layers_as_the_logs(runs):
    run_dir, results = runs["smoke"]
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    names = [layer["name"] for layer in results["hsv"]]
    assert names == ["blocks.0.dss"]  # the module path, as the logs print it
    hsv = [np.ones((16, 16)) * np.logspace(0, -8, 16)]
    figures = {
        "hsv": plots.hsv_figure(hsv, 4, names=names, title="t"),
        "compute": plots.accuracy_vs_compute_figure(rows, results),
        "comparison": plots.comparison_figure(results),
        "claim2": plots.claim2_figure(results["claims"]["claim2"]),
    }
    for key, fig in figures.items():
        assert plots.overlapping_labels(fig) == [], key
        assert all(ax.get_xlabel() or not ax.get_visible() for ax in fig.axes), key
    assert figures["hsv"].axes[0].get_title().startswith("blocks.0.dss")
    assert "final test accuracy" in _legend_texts(figures["compute"])  # the stars have a legend entry
    for fig in figures.values():
        plots.pyplot().close(fig)


def test_claim2_ticks_stay_apart_on_a_narrow_accuracy_range():
    # the case a reader met: pre-trained accuracies within half a percent ("0.19250.19500.1975...")
    points = [
        {"seed": s, "epoch": e, "pretrained_test_accuracy": 0.1925 + 0.0005 * (3 * s + e),
         "final_test_accuracy": 0.2 + 0.001 * (s + e)}
        for s in range(3) for e in range(4)
    ]  # fmt: skip
    fig = plots.claim2_figure({"points": points, "rho": 0.5, "ci95": [0.1, 0.8], "verdict": "inconclusive"})
    assert plots.overlapping_labels(fig) == []
    plots.pyplot().close(fig)


def test_compression_figures_show_fractions_and_layer_names(runs):
    _, results = runs["compression-smoke"]
    summary = results["compression"]
    fig = plots.compression_figure(summary)
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    expected = {1.0: "1", 0.5: "1/2", 0.25: "1/4", 0.125: "1/8", 1 / 16: "1/16", 1 / 32: "1/32"}
    assert ticks == [expected[f] for f in sorted(summary["fractions"], reverse=True)]
    assert plots.overlapping_labels(fig) == []
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1  # outside the axes: it covers no data
    plots.pyplot().close(fig)
    fig = plots.compression_layers_figure(summary)
    layer_ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert layer_ticks == ["blocks.0.dss", "blocks.1.dss"]  # whole layers, named as in the logs
    assert plots.overlapping_labels(fig) == []
    plots.pyplot().close(fig)


def test_overlap_check_can_fail():
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(1.5, 1.5))
    ax.set_xticks(np.arange(6), [f"0.19{k}5" for k in range(6)])
    assert plots.overlapping_labels(fig)
    plt.close(fig)
