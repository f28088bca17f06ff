"""Reduction during training (mor_torch.lra.during): the configuration, the schedule (orders drop at
the scheduled epochs, by fixed orders or by the HSV tail), fit's reshape (learning-rate schedule
continues, resume exact), and the arm in the smoke pipeline (equal tokens, paired comparisons, table)."""

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
from mor_torch.lra.checkpoint import load_checkpoint  # noqa: E402
from mor_torch.lra.compression import model_hsv  # noqa: E402
from mor_torch.lra.config import Config, ModelConfig, TrainConfig  # noqa: E402
from mor_torch.lra.data import load_task  # noqa: E402
from mor_torch.lra.during import ARMS, ReductionSchedule  # noqa: E402
from mor_torch.lra.model import build_model  # noqa: E402
from mor_torch.lra.report import format_table  # noqa: E402
from mor_torch.lra.train import KILL_AFTER_CHECKPOINT_ENV, fit  # noqa: E402

SCHEDULE = ["pretrain.epochs=3", "during.epochs=[1, 2]", "during.orders=[8, 4]"]


# --------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    "overrides, match",
    [
        (["during.orders=[8, 4]"], "need during.epochs"),
        (["during.energy=0.01"], "need during.epochs"),
        (["pretrain.epochs=3", "during.epochs=[1, 2]"], "exactly one of"),
        (["pretrain.epochs=3", "during.epochs=[1, 2]", "during.orders=[8, 4]", "during.energy=0.01"], "exactly one"),
        (["pretrain.epochs=3", "during.epochs=[1, 2]", "during.orders=[4]"], "1 entries for 2"),
        (["pretrain.epochs=3", "during.epochs=[1, 2]", "during.orders=[8, 6]"], "end at reduce.order"),
        (["pretrain.epochs=3", "during.epochs=[1, 2]", "during.orders=[16, 4]"], "start below model.d_state"),
        (["pretrain.epochs=3", "during.epochs=[1, 3]", "during.orders=[8, 4]"], "smaller than the 3"),
        (["during.epochs=[1]", "during.orders=[4]"], "smaller than the 1"),
        (["pretrain.epochs=3", "during.orders=[4, 8]"], "decrease strictly"),
        (["pretrain.epochs=3", "during.epochs=[1, 1]"], "duplicates"),
        (["during.energy=1.0"], "energy"),
        (["during.orders=[0]"], "orders entry"),
        (["during.epochs=2"], "list of epochs"),
        (["pretrain.epochs=3", "during.epochs=[1]", "during.orders=[4]", "compression.enabled=true"], "compression"),
    ],
)
def test_bad_schedules_are_config_errors(overrides, match):
    with pytest.raises(ConfigError, match=match):
        resolve_config("smoke", overrides)


def test_schedule_round_trips_and_is_off_by_default():
    assert resolve_config("smoke", []).during.epochs == ()
    cfg = resolve_config("smoke", SCHEDULE)
    assert cfg.during.epochs == (1, 2) and cfg.during.orders == (8, 4) and cfg.during.energy == 0.0
    assert Config.from_dict(cfg.to_dict()) == cfg
    energy = resolve_config("smoke", ["pretrain.epochs=3", "during.epochs=[2, 1]", "during.energy=0.01"])
    assert energy.during.epochs == (1, 2) and energy.during.energy == 0.01


# --------------------------------------------------------------------------- the schedule and fit
RECIPE = TrainConfig(epochs=3, batch_size=16, eval_batch_size=32, scheduler="cosine", warmup_steps=2, log_every=0)
MODEL = ModelConfig(d_model=8, n_layers=2, d_state=8, mode="exp", dropout=0.1)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return load_task("listops-mini", root, n_train=96, n_val=32, n_test=32, min_length=8, max_length=40, seed=0)


def _model(task, seed=0):
    torch.manual_seed(seed)
    return build_model(MODEL, task)


def _config(*overrides):
    return resolve_config("smoke", ["model.d_state=8", "reduce.order=2", "model.mode=\"exp\"", *overrides])


def test_energy_rule_keeps_the_smallest_order_whose_hsv_tail_is_below_the_tolerance(task):
    model = _model(task)
    eps = 0.1
    schedule = ReductionSchedule(_config("pretrain.epochs=3", "during.epochs=[1, 2]", f"during.energy={eps}"))
    expected = []
    for s in model_hsv(model):  # (H, N) per layer: the order that leaves at most eps of every channel's sum
        tail = np.cumsum(s[:, ::-1], axis=1)[:, ::-1] / s.sum(axis=1, keepdims=True)  # tail[:, r] = sum s[r:]
        ok = np.all(np.concatenate([tail[:, 1:], np.zeros((s.shape[0], 1))], axis=1) <= eps * (1 + 1e-9), axis=0)
        expected.append(max(2, min(8, int(np.argmax(ok)) + 1)))
    assert max(expected) < 8  # the tolerance bites (else the test shows nothing)
    assert schedule(model, {"epoch": 3}) == (None, {"d_state": [8, 8]})  # not a scheduled epoch
    small, extra = schedule(model, {"epoch": 1})
    assert extra["d_state"] == [8, 8] and extra["reduced_to"] == expected == list(np.broadcast_to(
        small.hparams["d_state"], (2,)))  # fmt: skip
    last, extra = schedule(small, {"epoch": 2})  # the last reduction goes to reduce.order
    assert extra["reduced_to"] == [2, 2] and last.hparams["d_state"] == 2
    assert schedule(last, {"epoch": 2})[0] is None  # nothing to shrink


def test_fit_with_reductions_continues_the_schedule_and_resumes_exactly(task, tmp_path):
    schedule = ReductionSchedule(_config("pretrain.epochs=3", "during.epochs=[1, 2]", "during.orders=[4, 2]"))
    a = fit(_model(task), task, RECIPE, run_dir=tmp_path / "a", seed=3, reshape=schedule)
    assert [r["d_state"] for r in a.history] == [[8, 8], [4, 4], [2, 2]]
    assert [r.get("reduced_to") for r in a.history] == [[4, 4], [2, 2], None]
    assert a.model.hparams["d_state"] == 2 and a.best_epoch == 3  # selection restarts after the last reduction
    # the learning rate follows one cosine schedule over the three epochs, through the reductions
    plain = fit(_model(task), task, RECIPE, run_dir=None, seed=3)
    assert [r["lr"] for r in a.history] == [r["lr"] for r in plain.history]
    assert a.history[0]["val_accuracy"] == plain.history[0]["val_accuracy"]  # same first epoch

    class Killed(Exception):
        pass

    def die(row):
        if row["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):  # killed right after the first reduction's checkpoint
        fit(_model(task), task, RECIPE, run_dir=tmp_path / "b", seed=3, reshape=schedule, on_epoch_end=die)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["hparams"]["d_state"] == 4
    b = fit(_model(task, seed=9), task, RECIPE, run_dir=tmp_path / "b", seed=3, reshape=schedule, resume=True)
    strip = [{k: v for k, v in r.items() if k not in ("epoch_time_s", "reduce_s")} for r in a.history]
    assert [{k: v for k, v in r.items() if k not in ("epoch_time_s", "reduce_s")} for r in b.history] == strip
    assert b.test == a.test and b.model.hparams == a.model.hparams
    for (k, v), w in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(v, w), k


# --------------------------------------------------------------------------- the pipeline arm
@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("during")
    cfg = resolve_config(
        "smoke", [f"task.data_dir={json.dumps(str(root / 'data'))}", "run.threads=1", "run.seeds=[0, 1]", *SCHEDULE]
    )
    return cfg, root / "run", run_pipeline(cfg, root / "run")


def test_the_arm_reduces_at_the_scheduled_epochs_at_equal_tokens(smoke):
    _, run, results = smoke
    saved = json.loads((run / "results.json").read_text())
    info = saved["during_training"]
    assert info["schedule"] == {"epochs": [1, 2], "orders": [8, 4], "energy": None, "final_order": 4}
    for seed in ("0", "1"):
        assert info["reductions"][seed] == [{"epoch": 1, "d_state": [16], "reduced_to": [8]},
                                            {"epoch": 2, "d_state": [8], "reduced_to": [4]}]  # fmt: skip
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    trained = [(r["epoch"], r["d_state"]) for r in rows if r["stage"] == "during_pretrained" and r["seed"] == 0]
    assert trained == [(1, [16]), (2, [8]), (3, [4])]
    assert saved["during"]["d_state"] == saved["during_pretrained"]["d_state"] == saved["bt_init"]["d_state"] == 4
    assert saved["during"]["ssm_params"] == saved["bt_init"]["ssm_params"]
    # training compute: the arm's path = pre-training + main training = BT's path = the matched baseline's
    tokens = {arm: saved[arm]["train_tokens"] for arm in ARMS}
    assert len(set(tokens.values())) == 1 and tokens == info["train_tokens"]
    assert saved["during_pretrained"]["train_tokens"] == saved["pretrained"]["train_tokens"]
    for base, c in info["comparisons"].items():
        diffs = [saved["during"]["per_seed"][s]["test_accuracy"] - saved[base]["per_seed"][s]["test_accuracy"]
                 for s in ("0", "1")]  # fmt: skip
        assert c["mean_diff"] == pytest.approx(np.mean(diffs)) and c["n_seeds"] == 2
    # wall times per arm live in timing.json (results.json must not change on resume)
    arms = json.loads((run / "timing.json").read_text())["arms"]
    assert set(arms) == {*ARMS, "epoch_s_by_order"} and set(arms["epoch_s_by_order"]) == {"16", "8", "4"}
    assert all(arms[a]["mean"] > 0 and set(arms[a]["per_seed"]) == {"0", "1"} for a in ARMS)
    table = format_table(results)
    assert "Reduction during training" in table and "during minus bt_init" in table and "wall s/seed" in table


def _cli(out, data, *extra):
    return [
        sys.executable, "-m", "mor_torch.lra", "--preset", "smoke", "--out", str(out), "--data-dir", str(data),
        "--threads", "1", "--no-progress", "--seeds", "0", *[a for s in SCHEDULE for a in ("--set", s)], *extra,
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigkill_after_a_reduction_then_resume_gives_identical_results(tmp_path):
    point = "during_pretrained:1"  # the checkpoint right after the first reduction: a smaller model
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    env.pop(KILL_AFTER_CHECKPOINT_ENV, None)
    data = tmp_path / "data"
    ref = subprocess.run(_cli(tmp_path / "ref", data), env=env, capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-3000:]
    out = tmp_path / "killed"
    killed = subprocess.run(_cli(out, data), env={**env, KILL_AFTER_CHECKPOINT_ENV: point}, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    stage = point.split(":")[0]
    assert (out / "seed0" / stage / "checkpoint.pt").exists() and not (out / "results.json").exists()
    resumed = subprocess.run(_cli(out, data, "--resume"), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    digest = [hashlib.sha256((d / "results.json").read_bytes()).hexdigest() for d in (tmp_path / "ref", out)]
    assert digest[0] == digest[1]
