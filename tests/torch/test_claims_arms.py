"""The claims experiment's extra arms: initialisations (BT, modal, BSP, IRKA) at several orders, the
HSV-regularised pre-training, their configuration, their paired statistics, and kill -9 + resume."""

import hashlib
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mor_torch.lra import ConfigError, resolve_config, run_pipeline  # noqa: E402
from mor_torch.lra.claims import (  # noqa: E402
    arm_orders,
    arm_stages,
    evaluate_claims,
    hsv_reg_stages,
    split_stage,
)
from mor_torch.lra.report import format_table, stage_label  # noqa: E402
from mor_torch.lra.stats import paired_difference  # noqa: E402
from mor_torch.lra.train import KILL_AFTER_CHECKPOINT_ENV  # noqa: E402

#: The arms on the claims-smoke scale (N = 16): four initialisations at r = 4 and r = 2, the regulariser.
ARMS = [
    'claims.inits=["irka", "bt", "bsp", "modal"]',  # any order: the stages run in the canonical one
    "claims.orders=[2, 4]",
    "claims.hsv_reg=10.0",
    "claims.baselines=false",
    "claims.checkpoints=[]",
]
INITS = ("bt", "modal", "bsp", "irka")


# --------------------------------------------------------------------------- configuration
def test_arm_configuration_is_typed_and_canonical():
    cfg = resolve_config("claims-smoke", ARMS)
    assert cfg.claims.inits == INITS and cfg.claims.orders == (4, 2) and cfg.claims.hsv_reg == 10.0
    assert arm_orders(cfg) == (4, 2) and arm_orders(resolve_config("claims-smoke")) == (4,)
    assert resolve_config("claims-smoke").claims.inits == ("bt", "modal")  # the pipeline's default arms
    assert arm_stages(cfg, "bt", 4) == ("reduced", "bt_init")
    assert arm_stages(cfg, "irka", 4) == ("irka_reduced", "irka_init")
    assert arm_stages(cfg, "bsp", 2) == ("bsp_reduced_r2", "bsp_init_r2")
    assert hsv_reg_stages(cfg, 2) == ("hsvreg_reduced_r2", "hsvreg_bt_init_r2")
    assert split_stage("bt_init_r2") == ("bt_init", 2) and split_stage("skew_hippo_matched") == (
        "skew_hippo_matched", None)  # fmt: skip
    assert stage_label("irka_init_r2") == "IRKA init + main training (r = 2)"
    assert stage_label("bt_init") == "BT init + main training (r)"
    assert resolve_config("inits").claims.inits == INITS  # the preset of the experiment


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ('claims.inits=["bt", "h2"]', "claims.inits entry"),  # the reducer's name is not an initialisation
        ('claims.inits=["modal"]', "must include 'bt'"),
        ('claims.inits=["bt", "bt"]', "duplicates"),
        ("claims.inits=[]", "non-empty"),
        ('claims.inits="bt"', "list"),
        ("claims.orders=[2]", "must include reduce.order"),
        ("claims.orders=[4, 16]", "smaller than model.d_state"),
        ("claims.orders=[4, 4]", "duplicates"),
        ("claims.orders=[4, 0]", "claims.orders entry"),
        ("claims.orders=[4, 2.5]", "claims.orders entry"),
        ("claims.hsv_reg=-1.0", "claims.hsv_reg"),
        ("claims.hsv_reg=nan", "claims.hsv_reg"),
        ("claims.baselines=1", "claims.baselines"),
    ],
)
def test_bad_arm_settings_are_config_errors(override, match):
    with pytest.raises(ConfigError, match=match):
        resolve_config("claims-smoke", [override])


def test_the_regulariser_arm_needs_a_plain_pretraining():
    with pytest.raises(ConfigError, match="pretrain recipe's hsv_reg must be 0"):
        resolve_config("claims-smoke", ["claims.hsv_reg=1.0", "pretrain.hsv_reg=1.0"])
    assert resolve_config("claims-smoke", ["claims.hsv_reg=1.0", "main.hsv_reg=1.0"]).claims.hsv_reg == 1.0


# --------------------------------------------------------------------------- statistics on known records
def _record(acc: float) -> dict:
    return {"test_accuracy": acc}


def test_inits_and_regulariser_statistics_pair_the_right_stages():
    cfg = resolve_config("claims-smoke", [*ARMS, "run.seeds=[0, 1, 2]"])
    rng = np.random.default_rng(0)
    records = {s: {} for s in cfg.run.seeds}
    for stage in ["pretrained", "pretrained_hsvreg"] + [
        name for order in (4, 2) for init in INITS for name in arm_stages(cfg, init, order)
    ] + [name for order in (4, 2) for name in hsv_reg_stages(cfg, order)]:  # fmt: skip
        for s in cfg.run.seeds:
            records[s][stage] = _record(float(rng.uniform(0.1, 0.9)))
    claims = evaluate_claims(cfg, records)

    def acc(stage):
        return [records[s][stage]["test_accuracy"] for s in cfg.run.seeds]

    for order in (4, 2):
        block = claims["inits"]["orders"][str(order)]
        bt_init = arm_stages(cfg, "bt", order)[1]
        assert set(block["minus_bt"]) == {"modal", "bsp", "irka"}
        for init in ("modal", "bsp", "irka"):
            reduced, trained = arm_stages(cfg, init, order)
            assert block["stages"][init] == trained
            expect = paired_difference(acc(trained), acc(bt_init))
            got = block["minus_bt"][init]
            assert got["mean_diff"] == pytest.approx(expect["mean_diff"]) and got["ci95"] == pytest.approx(
                expect["ci95"])  # fmt: skip
            assert got["verdict"] in ("beats BT", "loses to BT", "inconclusive")
            assert block["reduced"][init]["mean"] == pytest.approx(np.mean(acc(reduced)))
        means = {init: np.mean(acc(arm_stages(cfg, init, order)[1])) for init in INITS}
        assert block["best"] == max(means, key=means.get)
        reg = claims["hsv_reg"]["orders"][str(order)]
        for key, (reg_stage, plain_stage) in zip(
            ("reduced", "bt_init"), zip(hsv_reg_stages(cfg, order), arm_stages(cfg, "bt", order), strict=True),
            strict=True,
        ):  # fmt: skip
            expect = paired_difference(acc(reg_stage), acc(plain_stage))
            assert reg[key]["mean_diff"] == pytest.approx(expect["mean_diff"])
            assert reg[key]["ci95"] == pytest.approx(expect["ci95"])
    pre = claims["hsv_reg"]["pretrained"]
    assert pre["mean_diff"] == pytest.approx(np.mean(np.subtract(acc("pretrained_hsvreg"), acc("pretrained"))))
    assert claims["claim1"]["skew_hippo"]["verdict"] == "not run"  # claims.baselines = false
    # a clear win is called one: IRKA 0.1 above BT on every seed at r = 2
    for s in cfg.run.seeds:
        records[s]["irka_init_r2"] = _record(records[s]["bt_init_r2"]["test_accuracy"] + 0.1 + 0.01 * s)
    irka = evaluate_claims(cfg, records)["inits"]["orders"]["2"]["minus_bt"]["irka"]
    assert irka["verdict"] == "beats BT" and irka["ci95"][0] > 0
    assert evaluate_claims(resolve_config("claims-smoke"), records)["hsv_reg"] is None  # off by default


# --------------------------------------------------------------------------- the arms end to end
@pytest.fixture(scope="module")
def arms_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("arms")
    cfg = resolve_config("claims-smoke", [*ARMS, "run.seeds=[0, 1]", "run.threads=1", "run.latency_tokens=16"])
    return cfg, root / "run", run_pipeline(cfg, root / "run")


def test_every_arm_runs_from_the_same_pretraining_and_is_reported(arms_run):
    cfg, run, results = arms_run
    saved = json.loads((run / "results.json").read_text())
    assert saved == json.loads(json.dumps({k: v for k, v in results.items() if k != "timing"}))
    pre_tokens = saved["pretrained"]["train_tokens"]
    for order in (4, 2):
        for init in INITS:
            reduced, trained = arm_stages(cfg, init, order)
            assert saved[reduced]["d_state"] == saved[trained]["d_state"] == order
            assert saved[reduced]["train_tokens"] == pre_tokens  # the reduction of the one pre-trained model
            assert saved[trained]["train_tokens"] > pre_tokens
            assert sorted(saved[trained]["per_seed"]) == ["0", "1"]
        for stage in hsv_reg_stages(cfg, order):
            assert saved[stage]["d_state"] == order
    assert saved["pretrained_hsvreg"]["d_state"] == cfg.model.d_state
    assert saved["pretrained_hsvreg"]["train_tokens"] == pre_tokens  # the same recipe and data
    for absent in ("full_continued", "skew_hippo", "skew_hippo_matched", "claim2_epoch1"):
        assert absent not in saved and not (run / "seed0" / absent).exists()
    # one plain pre-training per seed, shared by every arm; the regularised one beside it
    assert sorted(p.name for p in (run / "seed0").iterdir() if p.name.startswith("pretrained")) == [
        "pretrained", "pretrained_hsvreg"]  # fmt: skip
    claims = json.loads((run / "claims.json").read_text())
    assert claims == saved["claims"] and set(claims["inits"]["orders"]) == {"4", "2"}
    for order, block in claims["inits"]["orders"].items():
        trained = {init: arm_stages(cfg, init, int(order))[1] for init in INITS}
        for init in ("modal", "bsp", "irka"):
            diffs = [saved[trained[init]]["per_seed"][s]["test_accuracy"]
                     - saved[trained["bt"]]["per_seed"][s]["test_accuracy"] for s in ("0", "1")]  # fmt: skip
            assert block["minus_bt"][init]["mean_diff"] == pytest.approx(np.mean(diffs))
            assert block["minus_bt"][init]["n_seeds"] == 2
    assert claims["hsv_reg"]["weight"] == 10.0 and claims["hsv_reg"]["penalty_order"] == cfg.reduce.order
    # the comparisons (bt_init minus ...) stay among the stages at reduce.order
    assert "bsp_init" in saved["comparisons"] and "bsp_init_r2" not in saved["comparisons"]
    assert saved["reduction"]["irka_reduced_r2"]["reducer"] == "h2"
    table = format_table(saved)
    assert "IRKA init + main training (r = 2)" in table and "Which initialisation wins" in table
    assert "HSV regulariser" in table and "not run" in table


def test_the_arms_resume_to_the_same_results(arms_run):
    cfg, run, _ = arms_run
    before = (run / "results.json").read_bytes()
    run_pipeline(cfg, run, resume=True)
    assert (run / "results.json").read_bytes() == before


def _cli(out, *extra):
    sets = [*ARMS, "run.seeds=[0]", "main.epochs=2", "pretrain.epochs=2", "run.latency_tokens=0"]
    return [sys.executable, "-m", "mor_torch.lra", "--preset", "claims-smoke", "--out", str(out), "--threads", "1",
            "--no-progress", *(a for s in sets for a in ("--set", s)), *extra]  # fmt: skip


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("arms-ref") / "ref"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    env.pop(KILL_AFTER_CHECKPOINT_ENV, None)
    ref = subprocess.run(_cli(out), env=env, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]
    return out, env


@pytest.mark.slow
@pytest.mark.timeout(900)
# the regularised pre-training mid-way; the last stage, so that every arm before it is resumed as finished
@pytest.mark.parametrize("stage", ["pretrained_hsvreg", "hsvreg_bt_init_r2"])
def test_sigkill_in_a_new_arm_then_resume_gives_identical_results(reference_run, tmp_path, stage):
    ref, env = reference_run
    out = tmp_path / "killed"
    killed = subprocess.run(_cli(out), env={**env, KILL_AFTER_CHECKPOINT_ENV: f"{stage}:1"}, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert (out / "seed0" / stage / "checkpoint.pt").exists() and not (out / "seed0" / stage / "result.json").exists()
    resumed = subprocess.run(_cli(out, "--resume"), env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "stage pretrained already finished" in resumed.stderr
    digest = [hashlib.sha256((d / "results.json").read_bytes()).hexdigest() for d in (ref, out)]
    assert digest[0] == digest[1]
    assert (ref / "claims.json").read_bytes() == (out / "claims.json").read_bytes()
