"""Issue 12, item 6: every bad command line ends with one line on standard error and exit code 2.

About seventy bad inputs (flags, settings, task options, run directories, damaged run files) go
through the command line in process (``main([...])``) and a few through a real ``python -m
mor_torch.lra`` process.  Damaged files of a finished run either recompute their stage with a
warning (an unreadable epoch checkpoint, an unreadable output of a reduce stage), ending with the
numbers of the undamaged run, or stop naming the file.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from mor_torch.lra.cli import main  # noqa: E402

BASE = ["--preset", "smoke", "--threads", "1", "--no-progress", "--set", "claims.checkpoints=[]"]


def _metrics(run) -> dict:
    data = json.loads((run / "results.json").read_text())
    return {k: v for k, v in data.items() if k != "timing"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished single-seed smoke run (seconds) to resume and to damage."""
    root = tmp_path_factory.mktemp("cli")
    run = root / "good"
    assert main([*BASE, "--data-dir", str(root / "data"), "--out", str(run)]) == 0
    return root, run


def _one_error_line(capsys, rc: int) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err[-2000:]
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


# --------------------------------------------------------------------------- bad settings and flags
BAD_SETTINGS = {
    # learning rates and thread counts: non-finite, negative, zero, beyond float32 / OpenMP
    "lr nan": (["--set", "train.lr=nan"], "train.lr must be a finite number"),
    "lr inf": (["--set", "train.lr=inf"], "train.lr must be a finite number"),
    "lr negative": (["--set", "train.lr=-1.0"], "train.lr must satisfy 0.0 < value"),
    "lr zero": (["--set", "train.lr=0"], "train.lr must satisfy"),
    "lr beyond float32": (["--set", "train.lr=1e300"], r"value <= 3\.4028"),
    "ssm_lr negative": (["--set", "main.ssm_lr=-0.1"], "ssm_lr"),
    "weight decay beyond float32": (["--set", "train.weight_decay=1e39"], "weight_decay"),
    "grad_clip negative": (["--set", "train.grad_clip=-1"], "grad_clip"),
    "threads negative": (["--threads", "-5"], "run.threads must satisfy 0 <= value <= 1024"),
    "threads absurd": (["--threads", "100000"], "run.threads must satisfy 0 <= value <= 1024"),
    "epochs zero": (["--epochs", "0"], "epochs must satisfy value >= 1"),
    "epochs negative": (["--set", "train.epochs=-1"], "epochs"),
    "epochs float": (["--set", "train.epochs=1.5"], "epochs"),
    "order zero": (["--order", "0"], "reduce.order"),
    "order = d_state": (["--order", "16"], "must be smaller than model.d_state"),
    "order text": (["--order", "abc"], "argument --order: invalid int value"),
    "seeds missing": (["--seeds"], "argument --seeds: expected at least one argument"),
    "seeds negative": (["--seeds", "-1"], "run.seeds entry"),
    "seeds duplicated": (["--seeds", "0", "0"], "duplicates"),
    "seeds float": (["--set", "run.seeds=[0.5]"], "must be an integer"),
    "gramians unknown": (["--gramians", "bogus"], "invalid choice"),
    "mode unknown": (["--set", "model.mode=\"relu\""], "model.mode"),
    "unknown flag": (["--bogus"], "unrecognized arguments: --bogus"),
    "unknown key": (["--set", "train.lrr=0.1"], "unknown key"),
    "unknown section": (["--set", "nosection.x=1"], "unknown configuration section"),
    "override without =": (["--set", "train.lr"], "must have the form section.key=value"),
    "override with empty key": (["--set", "=1"], "empty key component"),
    "override list for a number": (["--set", "train.lr=[1, 2]"], "must be a real number"),
    "override malformed number": (["--set", "train.lr=1.2.3"], "must be a real number"),
    "d_state zero": (["--set", "model.d_state=0"], "model.d_state"),
    "d_model zero": (["--set", "model.d_model=0"], "model.d_model"),
    "n_layers zero": (["--set", "model.n_layers=0"], "model.n_layers"),
    "dropout one and a half": (["--set", "model.dropout=1.5"], "model.dropout"),
    "batch size zero": (["--set", "train.batch_size=0"], "train.batch_size"),
    "eval batch size zero": (["--set", "train.eval_batch_size=0"], "eval_batch_size"),
    "step range reversed": (["--set", "model.step_min=0.5"], "step"),
    "scheduler unknown": (["--set", "train.scheduler=\"step\""], "scheduler"),
    "preset unknown": (["--preset", "nope"], "unknown preset 'nope'"),
    "preset file missing": (["--preset", "/nonexistent/preset.toml"], "does not exist"),
    "device unknown": (["--device", "tpu9"], "DeviceError: unknown device 'tpu9'"),
    "device empty": (["--device", ""], "DeviceError"),
    "device cuda missing": (["--device", "cuda:7"], "DeviceError"),
    # task options: all rejected before any training starts
    "n_val zero": (["--set", "task.options.n_val=0"], "n_val must be at least 1"),
    "n_test zero": (["--set", "task.options.n_test=0"], "n_test must be at least 1"),
    "n_train zero": (["--set", "task.options.n_train=0"], "n_train must be at least 1"),
    "n_train negative": (["--set", "task.options.n_train=-5"], "n_train must be at least 1"),
    "n_train text": (["--set", "task.options.n_train=\"x\""], "n_train"),
    "n_train absurd": (["--set", "task.options.n_train=1000000000000"], "exceeds 10,000,000"),
    "lengths empty range": (["--set", "task.options.min_length=100"], "no length satisfies"),
    "max_length zero": (["--set", "task.options.max_length=0"], "no length satisfies"),
    "task option unknown": (["--set", "task.options.bogus=1"], r"unknown option\(s\) \['bogus'\]"),
    "task unknown": (["--set", "task.name=\"nope\""], "task.name must be one of"),
    "task data missing": (["--preset", "listops"], r"DatasetNotFoundError: .*listops-1000.*Expected layout"),
}


@pytest.mark.parametrize("case", list(BAD_SETTINGS), ids=list(BAD_SETTINGS))
def test_bad_setting_is_one_line_and_exit_2(case, tmp_path, capsys):
    extra, match = BAD_SETTINGS[case]
    argv = [*BASE, "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run"), *extra]
    if extra[0] == "--preset":
        argv = [*BASE[2:], "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "run"), *extra]
    line = _one_error_line(capsys, main(argv))
    assert __import__("re").search(match, line), line
    assert not (tmp_path / "run" / "seed0").exists()  # nothing was trained


def test_bad_paths(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    data = ["--data-dir", str(tmp_path / "data")]
    cases = [
        ([*data, "--out", str(afile / "run")], "RunDirectoryError: cannot write the run directory"),
        ([*data, "--out", "/proc/version/run"], "RunDirectoryError"),  # not writable, even as root
        (["--data-dir", str(afile), "--out", str(tmp_path / "r1")], "is not a directory"),
        (["--data-dir", str(afile / "below"), "--out", str(tmp_path / "r2")], "cannot write the generated"),
    ]
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nlr=")
    cases.append((["--preset", str(bad), "--out", str(tmp_path / "r3")], "is not valid TOML"))
    for extra, match in cases:
        argv = [*BASE, *extra] if extra[0] != "--preset" else [*BASE[2:], *extra]
        assert match in _one_error_line(capsys, main(argv))


# --------------------------------------------------------------------------- run directories
def test_resume_refuses_missing_or_empty_directories(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "missing", tmp_path / "empty"):
        line = _one_error_line(capsys, main(["--resume", "--out", str(out), "--no-progress"]))
        assert "holds no run (no config.json)" in line
        assert not (out / "config.json").exists()  # before the fix: a fresh default run started here
    assert "--resume needs --out" in _one_error_line(capsys, main(["--resume", "--no-progress"]))


def test_existing_and_changed_runs(finished, capsys):
    _, run = finished
    assert "already holds a run" in _one_error_line(capsys, main([*BASE, "--out", str(run)]))
    line = _one_error_line(capsys, main(["--resume", "--out", str(run), "--order", "3", "--no-progress"]))
    assert "different configuration" in line


def _copy(finished, name):
    root, run = finished
    dest = root / name
    shutil.copytree(run, dest)
    return dest


def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda d: (d / "config.json").write_text("{not json"), r"CheckpointError: cannot read .*config\.json"),
        (lambda d: (d / "config.json").write_text("[]"), r"config\.json does not hold a valid configuration"),
        (lambda d: (d / "seed0/bt_init/result.json").write_text("{"), r"cannot read .*seed0/bt_init/result\.json"),
        (lambda d: _truncate(d / "seed0/bt_init/model.pt"), r"cannot read .*seed0/bt_init/model\.pt.*delete"),
        (lambda d: (d / "seed0/pretrained/model.pt").write_bytes(os.urandom(2000)), r"pretrained/model\.pt"),
    ],
    ids=["config-garbage", "config-not-a-config", "result-json", "model-truncated", "model-garbage"],
)
def test_damaged_finished_stage_stops_naming_the_file(finished, capsys, damage, match):
    run = _copy(finished, f"damaged-{damage.__hash__()}")
    damage(run)
    line = _one_error_line(capsys, main(["--resume", "--out", str(run), "--no-progress"]))
    assert __import__("re").search(match, line), line


@pytest.mark.parametrize(
    ("name", "damage", "warning"),
    [
        ("hsv-truncated", lambda d: _truncate(d / "seed0/reduced/hsv.npz"), r"reduced/hsv\.npz.*computing the stage"),
        ("modal-hsv", lambda d: _truncate(d / "seed0/modal_reduced/hsv.npz", 0.3), r"modal_reduced/hsv\.npz"),
        ("reduced-model", lambda d: _truncate(d / "seed0/reduced/model.pt"), r"reduced/model\.pt.*computing"),
        ("checkpoint-truncated", None, r"bt_init/checkpoint\.pt.*restarts from its first epoch"),
        ("checkpoint-garbage", None, r"bt_init/checkpoint\.pt.*restarts from its first epoch"),
    ],
)
def test_damaged_recomputable_file_restarts_its_stage(finished, caplog, name, damage, warning):
    _, good = finished
    run = _copy(finished, name)
    if damage is not None:
        damage(run)
    else:  # bt_init was running: its result is gone, its checkpoint damaged
        stage = run / "seed0" / "bt_init"
        (stage / "result.json").unlink()
        ckpt = stage / "checkpoint.pt"
        shutil.copy(stage / "model.pt", ckpt)
        if name.endswith("garbage"):
            ckpt.write_bytes(os.urandom(5000))
        else:
            _truncate(ckpt)
    with caplog.at_level(logging.WARNING):
        assert main(["--resume", "--out", str(run), "--no-progress"]) == 0
    assert __import__("re").search(warning, caplog.text), caplog.text
    assert _metrics(run) == _metrics(good)  # the numbers of the undamaged run


def test_resume_removes_stale_temporary_files(finished):
    run = _copy(finished, "stale")
    stale = [run / ".config.json.k2j3h4.tmp", run / "seed0" / "bt_init" / ".model.pt.abc123.tmp"]
    for path in stale:
        path.write_bytes(b"partial")  # what a kill -9 in the middle of an atomic write leaves
    keep = run / "seed0" / "notes.tmp"  # not the atomic writer's pattern: left alone
    keep.write_text("mine")
    (run / "seed0" / "bt_init" / "result.json").unlink()
    assert main(["--resume", "--out", str(run), "--no-progress"]) == 0
    assert not any(p.exists() for p in stale) and keep.exists()
    assert not list(run.rglob(".*.tmp"))


# --------------------------------------------------------------------------- real processes
@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--set", "train.lr=nan"], "error: ConfigError: train.lr must be a finite number, got nan"),
        (["--order", "abc"], "error: argument --order: invalid int value: 'abc'"),
        (["--resume"], "error: RunDirectoryError: --resume: "),
        (["--preset", "listops"], "error: DatasetNotFoundError: LRA data folder 'listops-1000'"),
    ],
    ids=["config", "argparse", "resume-empty", "data-missing"],
)
def test_process_stderr_ends_with_one_error_line(tmp_path, extra, match):
    out = tmp_path / "run"
    if extra == ["--resume"]:
        out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    argv = [sys.executable, "-m", "mor_torch.lra", *BASE, "--data-dir", str(tmp_path / "data"), "--out", str(out)]
    proc = subprocess.run([*argv, *extra], env=env, capture_output=True, text=True, timeout=120)  # last --preset wins
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert lines[-1].startswith(match), lines[-3:]
    assert sum(line.startswith("error: ") for line in lines) == 1
