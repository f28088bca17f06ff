"""The compression experiment: the compression-smoke preset end to end (files, budgets, identity at
fraction one, resume), its table, and the configuration of the [compression] section."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mor_torch.lra import ConfigError, resolve_config, run_pipeline  # noqa: E402
from mor_torch.lra.choices import CURVE_METHODS  # noqa: E402
from mor_torch.lra.report import format_compression, format_table  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def curve(tmp_path_factory):
    root = tmp_path_factory.mktemp("compression")
    cfg = resolve_config("compression-smoke", [f"task.data_dir={json.dumps(str(root / 'data'))}", "run.threads=1"])
    return cfg, root / "run", run_pipeline(cfg, root / "run")


def test_compression_smoke_outputs(curve):
    cfg, run, results = curve
    assert results["experiment"] == "compression" and set(results) >= {"pretrained", "compression", "timing"}
    comp = json.loads((run / "compression.json").read_text())
    assert comp == json.loads(json.dumps(results["compression"]))
    for name in ("compression", "compression_layers", "hsv_decay"):
        assert (run / "plots" / f"{name}.png").read_bytes()[:8] == PNG
    assert not (run / "seed0" / "reduced").exists()  # the pipeline's other stages did not run
    total = comp["total_states"]
    assert total == cfg.model.n_layers * cfg.model.d_model * cfg.model.d_state
    pre = comp["pretrained"]["accuracy"]
    assert pre == results["pretrained"]["accuracy"]
    points = comp["per_seed"]["0"]["points"]
    assert len(points) == len(cfg.compression.fractions) * len(CURVE_METHODS)
    for p in points:
        if p["fraction"] == 1.0:  # everything kept: the pre-trained model itself, for every method
            assert p["test_accuracy"] == pre and p["states"] == total
        elif CURVE_METHODS[p["method"]][1] is None:  # one order for every channel
            r = round(p["fraction"] * cfg.model.d_state)
            assert p["states"] == total // cfg.model.d_state * r
        else:  # a budget: exactly that many states, padding not counted
            assert p["states"] == round(p["fraction"] * total) == sum(p["layer_states"])
        assert p["kept"] == pytest.approx(p["states"] / total)
        assert 0 <= p["test_accuracy"] <= 1 and p["reduce_s"] >= 0
        bounded = p["method"] in ("bt", "bt_uniform", "bsp")
        assert all((b is not None) == bounded for b in p["layer_bound_sum"])
    for m in cfg.compression.methods:
        c = comp["curves"][m]
        assert len(c["accuracy"]) == len(cfg.compression.fractions) and c["accuracy"][0] == pre
    best = comp["best"]
    assert [b["fraction"] for b in best] == list(cfg.compression.fractions)
    assert all(max(b["gap"].values()) == 0 and b["gap"][b["method"]] == 0 for b in best)
    table = format_table(results)
    assert table == format_compression(results) and "BT, layer-adaptive" in table and "LAST" in table


def test_compression_resume_skips_the_finished_curve(curve):
    cfg, run, results = curve
    again = run_pipeline(cfg, run, resume=True)
    assert again["compression"] == results["compression"]


def test_compression_configuration():
    cfg = resolve_config("compression")
    assert cfg.compression.enabled and cfg.task.name == "smnist"
    assert set(cfg.compression.methods) == set(CURVE_METHODS)
    assert not resolve_config("smnist").compression.enabled  # the pipeline is the default
    fractions = resolve_config("compression-smoke", ["compression.fractions=[0.25, 1.0, 0.5]"]).compression.fractions
    assert fractions == (1.0, 0.5, 0.25)
    for bad in ("compression.fractions=[0.0, 0.5]", "compression.fractions=[1.5]", "compression.fractions=[]",
                "compression.methods=[\"bt\", \"bt\"]", "compression.methods=[\"svd\"]"):  # fmt: skip
        with pytest.raises(ConfigError):
            resolve_config("compression-smoke", [bad])
    assert np.all(np.diff(cfg.compression.fractions) < 0)
