"""Training loop: optimiser groups, schedulers, atomic checkpoints, RNG capture, determinism, resume,
divergence handling, and DistributedDataParallel on two gloo processes."""

import json
import math
import os
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dataclasses import replace  # noqa: E402

from mor.errors import MethodError  # noqa: E402
from mor_torch.lra.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint  # noqa: E402
from mor_torch.lra.config import ModelConfig, TrainConfig  # noqa: E402
from mor_torch.lra.data import collate, load_task  # noqa: E402
from mor_torch.lra.errors import CheckpointError, DeviceError, LraError, TrainingDivergedError  # noqa: E402
from mor_torch.lra.files import atomic_write_json  # noqa: E402
from mor_torch.lra.loaders import EpochBatchSampler, make_eval_loader  # noqa: E402
from mor_torch.lra.model import SequenceClassifier, build_model, ssm_parameters  # noqa: E402
from mor_torch.lra.process import resolve_device  # noqa: E402
from mor_torch.lra.train import evaluate, fit, make_optimizer, make_scheduler  # noqa: E402

RECIPE = TrainConfig(
    epochs=2,
    batch_size=16,
    eval_batch_size=32,
    lr=0.01,
    weight_decay=0.01,
    ssm_lr=1e-3,
    ssm_weight_decay=0.0,
    scheduler="cosine",
    warmup_steps=3,
    plateau_patience=1,
    plateau_factor=0.5,
    min_lr=0.0,
    grad_clip=1.0,
    max_steps_per_epoch=0,
    log_every=0,
)
MODEL = ModelConfig(d_model=8, n_layers=1, d_state=8, mode="softmax", dropout=0.1)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return load_task("listops-mini", root, n_train=96, n_val=32, n_test=32, min_length=8, max_length=40, seed=0)


def _model(task, seed=0):
    torch.manual_seed(seed)
    return build_model(MODEL, task)


def _strip(history):
    return [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in history]


def test_optimizer_groups():
    model = SequenceClassifier(n_classes=3, vocab_size=8, d_model=4, n_layers=2, d_state=4)
    opt = make_optimizer(model, RECIPE)
    ssm_group, other = opt.param_groups
    assert ssm_group["lr"] == 1e-3 and ssm_group["weight_decay"] == 0.0
    assert other["lr"] == 0.01 and other["weight_decay"] == 0.01
    assert {id(p) for p in ssm_group["params"]} == {id(p) for p in ssm_parameters(model)}
    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())


def test_schedulers():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched, per_step = make_scheduler(opt, replace(RECIPE, warmup_steps=4), total_steps=14)
    assert per_step
    lrs = []
    for _ in range(14):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert lrs[4] == pytest.approx(1.0)
    assert lrs[9] == pytest.approx(0.5 * (1 + math.cos(math.pi * 5 / 10)))
    assert lrs == sorted(lrs[:4]) + sorted(lrs[4:], reverse=True)

    opt = torch.optim.SGD([p], lr=1.0)
    sched, per_step = make_scheduler(opt, replace(RECIPE, scheduler="plateau", warmup_steps=0), 10)
    assert not per_step
    for acc in (0.5, 0.5, 0.5):  # patience 1: the second non-improvement halves the lr
        sched.step(acc)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
    with pytest.raises(MethodError):
        make_scheduler(opt, replace(RECIPE, scheduler="step"), 10)


def test_resolve_device_refuses_unknown_and_unavailable_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    for spec in ("tpu9", "cuda:x", "meta"):
        with pytest.raises(DeviceError):
            resolve_device(spec)
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda")


def test_atomic_checkpoint_survives_failed_write(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.arange(3.0)})

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    ck = load_checkpoint(path)
    assert ck["epoch"] == 1 and torch.equal(ck["w"], torch.arange(3.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temporary file left
    data = path.read_bytes()
    for bad in (data[: len(data) // 2], b"", b"garbage" * 10):  # truncated, empty, not a checkpoint
        path.write_bytes(bad)
        with pytest.raises(CheckpointError, match=r"ck\.pt") as info:
            load_checkpoint(path)
        assert info.value.path == str(path)
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "x.json", {"a": float("nan")})
    assert not (tmp_path / "x.json").exists()


@pytest.mark.filterwarnings("error")  # torch's "pickle protocol" warnings must not leak either
def test_any_damaged_bytes_are_a_checkpoint_error(tmp_path):
    """Random bytes, also behind a pickle or zip header: always CheckpointError naming the file.

    About 1 garbage file in 25 made the unpickler raise IndexError or KeyError (an opcode popping
    an empty stack, a memo key never stored), which escaped as a traceback.
    """
    rng = np.random.default_rng(0)
    path = tmp_path / "model.pt"
    headers = (b"", b"\x80\x02", b"\x80\x05", b"\x80\x00", b"PK\x03\x04")
    for i in range(500):
        path.write_bytes(headers[i % len(headers)] + rng.bytes(int(rng.integers(1, 3000))))
        with pytest.raises(CheckpointError, match=r"model\.pt"):
            load_checkpoint(path)


def test_eval_loader_orders_each_shard_by_length(task):
    from mor_torch.lra.loaders import _ShardSampler

    lengths = task.val.lengths
    order = list(make_eval_loader(task.val, 4).sampler)
    assert sorted(order) == list(range(len(task.val)))
    assert [lengths[i] for i in order] == sorted(lengths)
    shards = [list(_ShardSampler(len(lengths), r, 3, lengths)) for r in range(3)]
    assert sorted(i for s in shards for i in s) == list(range(len(lengths)))
    assert all([lengths[i] for i in s] == sorted(lengths[i] for i in s) for s in shards)


def test_determinism_does_not_fill_fresh_memory_unless_asked():
    from mor_torch.lra.process import configure_determinism

    before = torch.are_deterministic_algorithms_enabled(), torch.utils.deterministic.fill_uninitialized_memory
    try:
        configure_determinism(True)
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.utils.deterministic.fill_uninitialized_memory
        configure_determinism(True, fill_uninitialized_memory=True)
        assert torch.utils.deterministic.fill_uninitialized_memory
        assert torch.isnan(torch.empty(4)).all()
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.utils.deterministic.fill_uninitialized_memory = before[1]


def test_rng_state_round_trip():
    random.seed(1)
    np.random.seed(2)  # noqa: NPY002
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached gaussian in Python's state
    state = capture_rng_state()
    first = (random.random(), random.gauss(0, 1), np.random.rand(3), torch.rand(3))  # noqa: NPY002
    for _ in range(5):
        random.random(), np.random.rand(), torch.rand(1)  # noqa: NPY002
    restore_rng_state(state)
    again = (random.random(), random.gauss(0, 1), np.random.rand(3), torch.rand(3))  # noqa: NPY002
    assert first[:2] == again[:2]
    np.testing.assert_array_equal(first[2], again[2])
    assert torch.equal(first[3], again[3])


def test_evaluate_matches_direct_computation(task):
    model = _model(task).eval()
    out = evaluate(model, make_eval_loader(task.val, 7))
    batch = collate([task.val[i] for i in range(len(task.val))])
    with torch.no_grad():
        logits = model(batch["x"], batch["lengths"])
    assert out["n"] == len(task.val)
    assert out["accuracy"] == pytest.approx((logits.argmax(-1) == batch["y"]).double().mean().item())
    ref = torch.nn.functional.cross_entropy(logits, batch["y"]).item()
    assert out["loss"] == pytest.approx(ref, rel=1e-5)


def test_fit_is_deterministic_and_resume_is_exact(task, tmp_path):
    a = fit(_model(task), task, RECIPE, run_dir=tmp_path / "a", seed=5)
    b = fit(_model(task), task, RECIPE, run_dir=tmp_path / "b", seed=5)
    assert _strip(a.history) == _strip(b.history) and a.test == b.test
    assert a.best_epoch == 1 + int(np.argmax([r["val_accuracy"] for r in a.history]))
    c = fit(_model(task), task, RECIPE, run_dir=tmp_path / "c", seed=6)
    assert _strip(c.history) != _strip(a.history)

    class Killed(Exception):
        pass

    def die(row):
        if row["epoch"] == 1:
            raise Killed

    with pytest.raises(Killed):
        fit(_model(task), task, RECIPE, run_dir=tmp_path / "d", seed=5, on_epoch_end=die)
    assert load_checkpoint(tmp_path / "d" / "checkpoint.pt")["epoch"] == 1
    seen = []
    model = _model(task, seed=99)  # different initial weights: the checkpoint must overwrite them
    d = fit(model, task, RECIPE, run_dir=tmp_path / "d", seed=5, resume=True, on_epoch_end=seen.append)
    assert _strip(d.history) == _strip(a.history)
    assert d.test == a.test and d.val == a.val
    assert [r["epoch"] for r in seen] == [1, 2]  # restored row replayed, then the new one


def test_non_finite_loss_stops_with_typed_error_and_keeps_checkpoint(task, tmp_path):
    def poison(row):
        if row["epoch"] == 1:
            with torch.no_grad():
                model.encoder.weight.fill_(float("nan"))

    model = _model(task)
    with pytest.raises(TrainingDivergedError, match="non-finite training loss") as info:
        fit(model, task, replace(RECIPE, epochs=3), run_dir=tmp_path, stage="pre", on_epoch_end=poison)
    err = info.value
    assert isinstance(err, LraError) and isinstance(err, ArithmeticError)
    assert err.stage == "pre" and err.epoch == 1 and err.step == 0
    assert err.checkpoint == str(tmp_path / "checkpoint.pt")
    ck = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ck["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())


DDP_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    from mor_torch.lra import distributed as D
    from mor_torch.lra.config import ModelConfig, TrainConfig
    from mor_torch.lra.data import load_task
    from mor_torch.lra.model import build_model
    from mor_torch.lra.train import fit

    """
)
DDP_MAIN = textwrap.dedent(
    """
    D.init_from_env("cpu")
    torch.set_num_threads(1)
    root, out = sys.argv[1], sys.argv[2]
    task = load_task("listops-mini", root, n_train=64, n_val=21, n_test=19, min_length=8, max_length=32)
    torch.manual_seed(0)
    model = build_model(MODEL, task)
    res = fit(model, task, RECIPE, run_dir=out + "/ck", seed=1)
    weights = float(sum(p.double().sum() for p in model.parameters()))
    with open(f"{out}/rank{D.rank()}.json", "w") as fh:
        json.dump({"world": D.world_size(), "val": res.val, "test": res.test, "weights": weights,
                   "history": [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in res.history]}, fh)
    D.cleanup()
    """
)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_distributed_two_gloo_processes(task, tmp_path):
    root = tmp_path / "data"
    load_task("listops-mini", root, n_train=64, n_val=21, n_test=19, min_length=8, max_length=32)
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT + f"\nMODEL = {MODEL!r}\nRECIPE = {RECIPE!r}\n" + DDP_MAIN)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    proc = subprocess.run([*cmd, str(root), str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2
    assert r0 == r1  # all-reduced metrics and DDP-synchronised weights agree bit for bit
    assert r0["val"]["n"] == 21 and r0["test"]["n"] == 19  # disjoint shards cover each split once
    assert (tmp_path / "ck" / "checkpoint.pt").is_file()


@pytest.mark.parametrize("bucket", [0, 8])
def test_epoch_batch_sampler(bucket):
    lengths = np.random.default_rng(0).integers(5, 300, size=203)
    s = EpochBatchSampler(203, 10, seed=7, lengths=lengths, bucket=bucket)
    epochs = []
    for epoch in range(3):
        s.set_epoch(epoch)
        batches = s.batches()
        assert len(batches) == len(s) == 21
        assert sorted(i for b in batches for i in b) == list(range(203))  # every item once
        assert batches == list(s)  # same epoch, same batches
        epochs.append(batches)
    assert epochs[0] != epochs[1] != epochs[2]
    s2 = EpochBatchSampler(203, 10, seed=7, lengths=lengths, bucket=bucket)
    s2.set_epoch(1)
    assert s2.batches() == epochs[1]  # only (seed, epoch) matters: a resumed run sees the same data
    padded = sum(int(lengths[b].max()) * len(b) for b in epochs[0])
    if bucket:  # bucketing sorts chunks of 80 items by length: much less padding than random batches
        plain = EpochBatchSampler(203, 10, seed=7)
        plain_padded = sum(int(lengths[b].max()) * len(b) for b in plain.batches())
        assert padded < 0.75 * plain_padded
    # two ranks: disjoint shards of equal size covering everything (first batch repeated as padding)
    shards = [EpochBatchSampler(203, 10, seed=7, rank=r, world=2, lengths=lengths, bucket=bucket) for r in (0, 1)]
    b0, b1 = shards[0].batches(), shards[1].batches()
    assert len(b0) == len(b1) == len(shards[0]) == 11
    flat = [i for b in b0 + b1 for i in b]
    assert set(flat) == set(range(203)) and len(flat) == 203 + len(b0[0])
