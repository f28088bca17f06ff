"""The LRA pipeline: configuration, CLI, the smoke run end to end, resume (also after SIGKILL)."""

import dataclasses
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mor_torch.lra import ConfigError, RunDirectoryError, resolve_config, run_pipeline  # noqa: E402
from mor_torch.lra.cli import build_parser, main  # noqa: E402
from mor_torch.lra.config import (  # noqa: E402
    Config,
    apply_overrides,
    available_presets,
    dumps_toml,
    parse_override,
    tomllib,
)
from mor_torch.lra.report import STAGES, format_table  # noqa: E402
from mor_torch.lra.train import KILL_AFTER_CHECKPOINT_ENV  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _metrics_only(results):
    return {k: v for k, v in results.items() if k != "timing"}


# --------------------------------------------------------------------------- configuration


def test_presets_resolve():
    names = available_presets()
    assert {"smoke", "listops-mini", "listops", "imdb", "aan", "cifar", "pathfinder"} <= set(names)
    for name in names:
        cfg = resolve_config(name)
        assert cfg.preset == name
        assert cfg.reduce.order < cfg.model.d_state
        assert Config.from_dict(cfg.to_dict()) == cfg  # the saved form round-trips
    real = resolve_config("listops")
    assert (real.model.n_layers, real.model.d_model, real.train.lr) == (6, 128, 0.01)
    assert resolve_config("cifar").model.dropout == 0.2


def test_overrides_parse_toml_values_and_are_validated():
    assert parse_override("train.lr=0.002") == (["train", "lr"], 0.002)
    assert parse_override("run.seeds=[0, 1, 2]") == (["run", "seeds"], [0, 1, 2])
    assert parse_override("model.prenorm=true") == (["model", "prenorm"], True)
    assert parse_override("reduce.gramians=finite") == (["reduce", "gramians"], "finite")
    cfg = resolve_config("smoke", ["train.lr=0.002", "main.epochs=2", "task.options.n_train=100"])
    assert cfg.train.lr == 0.002 and cfg.main["epochs"] == 2 and cfg.recipe("main").epochs == 2
    assert cfg.recipe("pretrain").epochs == cfg.train.epochs
    assert cfg.task.options["n_train"] == 100
    assert isinstance(resolve_config("smoke", ["train.lr=1"]).train.lr, float)
    bad = [
        "train.lrr=0.1",  # unknown key
        "nosection.x=1",  # unknown section
        "train.epochs=1.5",  # wrong type
        "model.mode=relu",  # bad choice
        "reduce.order=16",  # order >= d_state
        "run.seeds=[]",
        "run.seeds=[1, 1]",
        "main.foo=1",
        "model.dropout=1.0",
        "train.scheduler=step",
        "train.lr=nan",  # non-finite and non-positive learning rates
        "train.lr=-1.0",
        "train.lr=inf",
        "main.ssm_lr=0",
        "run.threads=-5",
        "run.latency_tokens=-1",
        "model.step_min=0.5",  # step_min > step_max
        "reduce.baseline_poles=true",
        "model.pool=\"mean\"",  # removed keys are unknown
        "run.checkpoint_every=1",
    ]
    for override in bad:
        with pytest.raises(ConfigError):
            resolve_config("smoke", [override])
    with pytest.raises(ConfigError, match="warmup_steps needs"):
        resolve_config("smoke", ["train.scheduler=plateau", "main.warmup_steps=10"])
    with pytest.raises(ConfigError):
        parse_override("train.lr")
    with pytest.raises(ConfigError):
        resolve_config("no-such-preset")
    with pytest.raises(ConfigError):
        apply_overrides(resolve_config("smoke"), ["train.lr.x=1"])


def test_config_toml_round_trip():
    cfg = resolve_config("listops-mini", ["run.seeds=[0, 1]", "train.lr=0.003"])
    assert tomllib.loads(dumps_toml(cfg)) == cfg.to_dict()
    assert Config.from_dict(tomllib.loads(dumps_toml(cfg))) == cfg
    assert Config.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_config_is_typed_and_rejects_unknown_keys_listing_the_valid_ones():
    cfg = resolve_config("smoke")
    assert isinstance(cfg.run.seeds, tuple) and isinstance(cfg.model.mode, str)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.lr = 1.0
    with pytest.raises(ConfigError, match=r"known: .*batch_size"):
        resolve_config("smoke", ["train.lrr=0.1"])
    with pytest.raises(ConfigError, match=r"known: .*reduce"):
        Config.from_dict({"nosection": {}})


def test_cli_help_and_a_bad_setting(capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["--help"])
    assert info.value.code == 0
    assert "--resume" in capsys.readouterr().out
    assert main(["--preset", "smoke", "--set", "train.nope=1", "--out", "/nonexistent/x"]) == 2
    assert "ConfigError" in capsys.readouterr().err


class _Captured(Exception):
    """Raised by the stand-in pipeline: what ``main`` would have run."""


def _run_cli(monkeypatch, argv):
    """``(config, out, resume, progress, log level)`` that ``main(argv)`` hands to the pipeline."""
    import mor_torch.lra.cli as cli

    seen = {}

    def fake_pipeline(config, out, *, resume, progress):
        raise _Captured(config, out, resume, progress)

    monkeypatch.setattr(cli, "run_pipeline", fake_pipeline)
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: seen.update(kw))
    monkeypatch.setattr(cli.sys.stderr, "isatty", lambda: True)  # as on a terminal: bars unless --no-progress
    with pytest.raises(_Captured) as info:
        main(argv)
    return (*info.value.args, seen["level"])


# Each flag of `python -m mor_torch.lra --help` and the configuration key(s) its help names, with a
# value other than the smoke preset's: (argv, {dotted key: expected value}).
FLAG_TABLE = [
    (["--order", "3"], {"reduce.order": 3}),
    (["--gramians", "continuous"], {"reduce.gramians": "continuous"}),
    (["--structure", "shared"], {"reduce.structure": "shared"}),
    (["--mode", "exp"], {"model.mode": "exp"}),
    (["--seeds", "3", "4"], {"run.seeds": (3, 4)}),
    (["--epochs", "2"], {"train.epochs": 2, "pretrain.epochs": 2, "main.epochs": 2}),  # three keys
    (["--data-dir", "/some/data"], {"task.data_dir": "/some/data"}),
    (["--device", "cpu"], {"run.device": "cpu"}),
    (["--threads", "2"], {"run.threads": 2}),
    (["--set", "train.lr=0.002"], {"train.lr": 0.002}),
    (["--set", "model.n_layers=2", "--set", "task.options.n_train=100"],
     {"model.n_layers": 2, "task.options.n_train": 100}),
    (["--order", "3", "--set", "reduce.order=2"], {"reduce.order": 3}),  # a flag wins over --set
]


def _key(cfg, dotted):
    """A configuration value by its dotted key; ``pretrain.epochs`` / ``main.epochs`` as the stage recipes see them."""
    section, *rest = dotted.split(".")
    if section in ("pretrain", "main") and rest == ["epochs"]:
        return cfg.recipe(section).epochs
    value = cfg.to_dict()[section]
    for part in rest:
        value = value[part]
    return tuple(value) if isinstance(value, list) else value


@pytest.mark.parametrize("argv, keys", FLAG_TABLE, ids=[" ".join(a) for a, _ in FLAG_TABLE])
def test_cli_flags_set_their_configuration_keys(monkeypatch, tmp_path, argv, keys):
    common = ["--preset", "smoke", "--out", str(tmp_path / "run")]
    base = _run_cli(monkeypatch, common)[0]
    cfg, out, resume, progress, level = _run_cli(monkeypatch, [*common, *argv])
    assert cfg.preset == "smoke" and out == tmp_path / "run" and not resume and progress and level == logging.INFO
    changed = {}
    for dotted, want in keys.items():
        assert _key(base, dotted) != want  # the preset's own value differs: the flag made the change
        assert _key(cfg, dotted) == want, dotted
        changed[dotted] = want
    # nothing else changed
    assert {k: v for k, v in cfg.to_dict().items() if k not in {d.split(".")[0] for d in changed}} == {
        k: v for k, v in base.to_dict().items() if k not in {d.split(".")[0] for d in changed}
    }


def test_cli_run_flags(monkeypatch, tmp_path):
    cfg, out, resume, progress, level = _run_cli(monkeypatch, ["--preset", "listops-mini", "--out", str(tmp_path / "a"),
                                                               "--no-progress", "-v"])  # fmt: skip
    assert cfg.preset == "listops-mini" and out == tmp_path / "a" and not progress and level == logging.DEBUG
    # --resume with no settings: the configuration saved in the run directory, device and threads changeable
    run = tmp_path / "b"
    run.mkdir()
    saved = resolve_config("smoke", ["run.seeds=[5]"])
    (run / "config.json").write_text(json.dumps(saved.to_dict()))
    cfg, out, resume, _, _ = _run_cli(monkeypatch, ["--out", str(run), "--resume", "--threads", "2"])
    assert resume and out == run and cfg.run.seeds == (5,) and cfg.run.threads == 2
    assert dataclasses.replace(cfg, run=saved.run) == saved


# --------------------------------------------------------------------------- the smoke pipeline


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    cfg = resolve_config(
        "smoke", [f"task.data_dir={json.dumps(str(root / 'data'))}", "run.threads=1", "run.seeds=[0, 1, 2]"]
    )
    results = run_pipeline(cfg, root / "run")
    return cfg, root / "run", results


def test_smoke_pipeline_outputs(smoke):
    cfg, run, results = smoke
    saved = json.loads((run / "results.json").read_text())
    assert _metrics_only(saved) == _metrics_only(json.loads(json.dumps(results)))
    seeds = [str(s) for s in cfg.run.seeds]
    for stage in STAGES:
        st = saved[stage]
        assert 0.0 <= st["accuracy"] <= 1.0 and sorted(st["per_seed"]) == seeds
        per = [st["per_seed"][s]["test_accuracy"] for s in seeds]
        assert st["accuracy"] == pytest.approx(np.mean(per))
        assert st["accuracy_std"] == pytest.approx(np.std(per, ddof=1))
        assert st["ssm_params"] > 0 and st["params"] > st["ssm_params"]
    assert saved["pretrained"]["d_state"] == saved["full_continued"]["d_state"] == 16
    small = ("reduced", "bt_init", "modal_reduced", "modal_init", "skew_hippo", "skew_hippo_matched")
    assert {saved[s]["d_state"] for s in small} == {4}
    # same architecture for every size-r model
    assert len({saved[s]["params"] for s in small}) == 1
    assert saved["reduced"]["ssm_params"] < saved["pretrained"]["ssm_params"]
    # training compute: BT's path = pre-training + main training = the matched baseline's
    pre, main_ = saved["pretrained"]["train_tokens"], saved["skew_hippo"]["train_tokens"]
    assert pre > 0 and main_ > 0 and saved["reduced"]["train_tokens"] == pre
    for stage in ("bt_init", "modal_init", "full_continued", "skew_hippo_matched"):
        assert saved[stage]["train_tokens"] == pre + main_
    # paired comparisons of bt_init with every other stage
    comp = saved["comparisons"]
    assert set(comp) == set(STAGES) - {"bt_init"}
    for stage, c in comp.items():
        diffs = [saved["bt_init"]["per_seed"][s]["test_accuracy"] - saved[stage]["per_seed"][s]["test_accuracy"]
                 for s in seeds]  # fmt: skip
        assert c["mean_diff"] == pytest.approx(np.mean(diffs)) and c["n_seeds"] == len(seeds)
        assert c["ci95"][0] <= c["mean_diff"] <= c["ci95"][1]
    # the claims, also in claims.json
    claims = json.loads((run / "claims.json").read_text())
    assert claims == saved["claims"]
    for base in ("skew_hippo", "skew_hippo_matched"):
        c1 = claims["claim1"][base]
        assert c1["mean_diff"] == pytest.approx(comp[base]["mean_diff"]) and c1["verdict"] in (
            "holds", "reversed", "inconclusive")  # fmt: skip
    c2 = claims["claim2"]
    assert c2["n_points"] == len(seeds) * len(cfg.claims.checkpoints) == len(c2["points"])
    assert c2["verdict"] in ("holds", "reversed", "inconclusive", "not enough data")
    # reduction quality: the measured kernel error respects balanced truncation's bound
    (layer,) = saved["reduction"]["reduced"]["layers"]
    assert layer["n_systems"] == 16 and 0 < layer["hsv_energy_kept_min"] <= 1
    assert layer["within_bound_fraction"] == 1.0
    assert layer["kernel_error_rel_max"] <= layer["error_bound_rel_max"]
    (modal,) = saved["reduction"]["modal_reduced"]["layers"]
    assert modal["error_bound_rel_max"] is None and modal["kernel_error_rel_median"] > 0
    assert tomllib.loads((run / "config.toml").read_text()) == json.loads((run / "config.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    per_seed_rows = [
        ("pretrained", 1), ("reduced", 0), ("bt_init", 1), ("modal_reduced", 0), ("modal_init", 1),
        ("full_continued", 1), ("skew_hippo", 1), ("skew_hippo_matched", 1), ("skew_hippo_matched", 2),
        ("claim2_epoch1", 1),
    ]  # fmt: skip
    assert [(r["stage"], r["epoch"]) for r in rows] == per_seed_rows * len(seeds)
    assert all(r["path_tokens"] >= 0 for r in rows)
    # track_epochs: the pre-training row holds the accuracy of that epoch's weights reduced; with one
    # epoch that is exactly the model the "reduced" stage evaluates
    reduced_val = saved["reduced"]["per_seed"]["0"]["val_accuracy"]
    assert rows[0]["reduced_val_accuracy"] == rows[1]["val_accuracy"] == reduced_val
    csv = (run / "metrics.csv").read_text().splitlines()
    assert csv[0].startswith("stage,seed,epoch,train_loss") and len(csv) == len(rows) + 1
    for name in ("hsv_decay", "accuracy_vs_compute", "comparison", "claim2"):
        assert (run / "plots" / f"{name}.png").read_bytes()[:8] == PNG
    table = format_table(saved)
    assert "Skew-HiPPO" in table and "BT init" in table and "Claim 1" in table and "Claim 2" in table
    # the streaming cost per token: counted in the stages (smoke: 1 layer, H = 16, N = 16 -> r = 4),
    # measured in timing.json (apart from results.json, which must be byte-identical after a resume)
    H, N, r = cfg.model.d_model, cfg.model.d_state, cfg.reduce.order
    assert saved["pretrained"]["inference"]["state_size"] == 2 * H * N
    assert saved["bt_init"]["inference"]["state_size"] == 2 * H * r
    assert saved["reduced"]["inference"]["ssm_macs_per_token"] == 7 * H * r + H
    assert saved["bt_init"]["inference"]["macs_per_token"] < saved["pretrained"]["inference"]["macs_per_token"]
    assert "timing" not in saved
    latency = json.loads((run / "timing.json").read_text())["stream_latency"]
    assert latency["tokens"] == cfg.run.latency_tokens and latency["ratio_to_pretrained"]["pretrained"] == 1.0
    assert set(latency["us_per_token"]) == set(STAGES) and all(v > 0 for v in latency["us_per_token"].values())
    assert "MACs/tok" in table and f" {2 * H * r} " in table


def test_rerun_needs_resume_and_resume_skips_finished_stages(smoke):
    cfg, run, results = smoke
    with pytest.raises(RunDirectoryError):
        run_pipeline(cfg, run)
    with pytest.raises(RunDirectoryError):
        run_pipeline(dataclasses.replace(resolve_config("smoke", ["train.lr=0.02"]), task=cfg.task), run, resume=True)
    again = run_pipeline(cfg, run, resume=True)
    assert _metrics_only(again) == _metrics_only(results)
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 30  # no duplicated rows
    # the CLI: a plain --resume continues with the configuration saved in the run directory
    assert main(["--out", str(run), "--resume", "--no-progress"]) == 0
    assert _metrics_only(json.loads((run / "results.json").read_text())) == _metrics_only(
        json.loads(json.dumps(results))
    )
    assert main(["--out", str(run), "--resume", "--order", "3", "--no-progress"]) == 2  # a changed setting


@pytest.mark.timeout(600)
def test_seed_workers_give_the_sequential_run_byte_for_byte(smoke, tmp_path):
    # run.seed_workers = 2: the seeds train in two spawned processes (one thread each, as the fixture's
    # sequential run); results.json and the metric rows are those of the sequential run
    cfg, run, _ = smoke
    parallel = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, seed_workers=2))
    results = run_pipeline(parallel, tmp_path / "run")
    assert results["timing"]["seed_workers"] == 2
    assert (tmp_path / "run" / "results.json").read_bytes() == (run / "results.json").read_bytes()

    def rows(path):
        return [{k: v for k, v in json.loads(x).items() if k != "epoch_time_s"} for x in path.read_text().splitlines()]

    assert rows(tmp_path / "run" / "metrics.jsonl") == rows(run / "metrics.jsonl")


def _cli(out, data, *extra):
    return [
        sys.executable, "-m", "mor_torch.lra", "--preset", "smoke", "--out", str(out), "--data-dir", str(data),
        "--threads", "1", "--no-progress", "--epochs", "3", "--set", "task.options.n_train=1024", *extra,
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sigkill_mid_stage_then_resume_gives_identical_results(tmp_path):
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    env.pop(KILL_AFTER_CHECKPOINT_ENV, None)
    data = tmp_path / "data"
    ref = subprocess.run(_cli(tmp_path / "ref", data), env=env, capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-3000:]

    # SIGKILL right after the first of bt_init's three checkpoints (the test hook of train.fit): the
    # same point on every run, however loaded the machine (polling for the checkpoint could miss it)
    out = tmp_path / "killed"
    kill = {**env, KILL_AFTER_CHECKPOINT_ENV: "bt_init:1"}
    killed = subprocess.run(_cli(out, data), env=kill, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    ckpt = out / "seed0" / "bt_init" / "checkpoint.pt"
    assert ckpt.exists() and not (out / "results.json").exists()  # killed inside the bt_init stage
    assert (out / "seed0" / "pretrained" / "result.json").exists()
    assert not (out / "seed0" / "bt_init" / "result.json").exists()

    resumed = subprocess.run(_cli(out, data, "--resume"), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "stage pretrained already finished" in resumed.stderr
    # results.json is the same bytes (the timings live in timing.json), so runs compare by hash
    ref_bytes, out_bytes = (tmp_path / "ref" / "results.json").read_bytes(), (out / "results.json").read_bytes()
    assert hashlib.sha256(ref_bytes).hexdigest() == hashlib.sha256(out_bytes).hexdigest()
    assert "timing" not in json.loads(out_bytes)
    assert json.loads((out / "timing.json").read_text())["wall_s_this_invocation"] > 0

    def rows(path):
        return [{k: v for k, v in json.loads(x).items() if k != "epoch_time_s"} for x in path.read_text().splitlines()]

    assert rows(tmp_path / "ref" / "metrics.jsonl") == rows(out / "metrics.jsonl")
    assert not list(out.rglob(".*.tmp"))  # whatever the kill left mid-write is gone after the resume


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_seed_workers_die_with_the_run_and_a_dead_worker_is_resumable(tmp_path):
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"}
    env.pop(KILL_AFTER_CHECKPOINT_ENV, None)
    data, workers = tmp_path / "data", ["--seeds", "0", "1", "--set", "run.seed_workers=2"]
    ref = subprocess.run(_cli(tmp_path / "ref", data, *workers), env=env, capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-3000:]

    # a worker killed at bt_init's first checkpoint: the run stops with a WorkerError (one line, code 2)
    out = tmp_path / "killed"
    kill = {**env, KILL_AFTER_CHECKPOINT_ENV: "bt_init:1"}
    killed = subprocess.run(_cli(out, data, *workers), env=kill, capture_output=True, text=True, timeout=300)
    assert killed.returncode == 2 and "WorkerError" in killed.stderr, killed.stderr[-3000:]
    resumed = subprocess.run(
        _cli(out, data, *workers, "--resume"), env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (tmp_path / "ref" / "results.json").read_bytes() == (out / "results.json").read_bytes()

    # the run's own process killed with SIGKILL while both workers train: the workers die too (none
    # keeps writing the directory), a condition waited for, not a time
    orphans = tmp_path / "orphans"
    cmd = _cli(orphans, data, *workers)
    cmd[cmd.index("--epochs") + 1] = "200"  # pre-training outlasts the later worker's start on any machine
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = [orphans / f"seed{s}" / "pretrained" / "checkpoint.pt" for s in (0, 1)]
    while not all(p.exists() for p in started) and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None
    children = [int(pid) for pid in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                   text=True).stdout.split()]  # fmt: skip
    workers = [pid for pid in children if "spawn_main" in _cmdline(pid)]
    assert len(workers) == 2
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 120
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
