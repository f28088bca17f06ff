"""The run directory: the names of its files, its saved configuration and the per-stage result files.

Layout (rank 0 writes; every file atomically); this module owns the names::

    config.toml, config.json        the resolved configuration
    seed<k>/<stage>/checkpoint.pt   per-epoch checkpoint of the running stage
    seed<k>/<stage>/model.pt        final weights + shape (:func:`mor_torch.lra.model.save_model`)
    seed<k>/<stage>/result.json     stage result; its presence marks the stage finished
    seed<k>/<stage>/hsv.npz         Hankel singular values per layer (reduce stages)
    seed<k>/pretrained/epoch<e>.pt  pre-training weights after epoch e (claims.checkpoints)
    results.json, claims.json       the summary and the claims' verdicts
    compression.json                the compression curve (compression runs)
    plots/                          the figures
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from . import distributed as dist_utils
from .config import Config, dumps_toml
from .errors import CheckpointError, ConfigError, RunDirectoryError
from .files import atomic_write_json, atomic_write_text

__all__ = [
    "CHECKPOINT_NAME",
    "CLAIMS_NAME",
    "COMPRESSION_NAME",
    "CONFIG_JSON",
    "CONFIG_TOML",
    "HSV_NAME",
    "MODEL_NAME",
    "PLOTS_DIR",
    "RESULTS_NAME",
    "RESULT_NAME",
    "TIMING_NAME",
    "prepare_run_dir",
    "read_json",
    "read_saved_config",
    "remove_stale_temporaries",
    "snapshot_path",
    "stage_path",
    "stage_result",
    "write_stage_result",
]

#: The resolved configuration (read back on resume) and its TOML rendering.
CONFIG_JSON, CONFIG_TOML = "config.json", "config.toml"
#: Per stage: the per-epoch checkpoint, the final weights, the result (marks the stage finished).
CHECKPOINT_NAME, MODEL_NAME, RESULT_NAME = "checkpoint.pt", "model.pt", "result.json"
#: Per reduce stage: the Hankel singular values of every layer.
HSV_NAME = "hsv.npz"
#: The run's summary, the claims' verdicts, the compression curve, the figures.
RESULTS_NAME, CLAIMS_NAME, COMPRESSION_NAME, PLOTS_DIR = "results.json", "claims.json", "compression.json", "plots"
#: The wall times of the last invocation (apart from ``results.json``, which a resumed run writes byte for byte).
TIMING_NAME = "timing.json"

logger = logging.getLogger(__name__)

_VOLATILE_RUN_KEYS = ("device", "threads", "latency_tokens", "seed_workers")


def stage_path(run_dir: Path, seed: int, stage: str) -> Path:
    """The directory of stage ``stage`` of seed ``seed``: ``run_dir/seed<seed>/<stage>``.

    Parameters
    ----------
    run_dir : Path
        A run directory.
    seed : int
        A seed of ``run.seeds``.
    stage : str
        A stage name (``pretrained``, ``reduced``, ...).

    Returns
    -------
    Path
    """
    return Path(run_dir) / f"seed{seed}" / stage


def snapshot_path(run_dir: Path, seed: int, epoch: int) -> Path:
    """The pre-training weights of seed ``seed`` after epoch ``epoch`` (``claims.checkpoints``).

    Parameters
    ----------
    run_dir : Path
        A run directory.
    seed : int
        A seed of ``run.seeds``.
    epoch : int
        One-based pre-training epoch.

    Returns
    -------
    Path
    """
    return stage_path(run_dir, seed, "pretrained") / f"epoch{epoch}.pt"


def read_json(path: Path) -> Any:
    """The JSON content of ``path``.

    Parameters
    ----------
    path : Path
        A file of the run directory.

    Returns
    -------
    object

    Raises
    ------
    CheckpointError
        The file cannot be read or is not valid JSON; the message names it.
    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"cannot read {path}: {type(exc).__name__}: {exc}", path=str(path)) from None


def read_saved_config(run_dir: Path) -> Config:
    """The configuration saved in ``run_dir/config.json``.

    Parameters
    ----------
    run_dir : Path
        A run directory.

    Returns
    -------
    Config

    Raises
    ------
    CheckpointError
        ``config.json`` is unreadable or not a valid configuration.
    """
    path = run_dir / CONFIG_JSON
    try:
        return Config.from_dict(read_json(path))
    except ConfigError as exc:
        raise CheckpointError(f"{path} does not hold a valid configuration: {exc}", path=str(path)) from None


def _comparable(data: dict) -> dict:
    out = json.loads(json.dumps(data))
    for k in _VOLATILE_RUN_KEYS:
        out.get("run", {}).pop(k, None)
    return out


def prepare_run_dir(run_dir: Path, config: Config, *, resume: bool) -> None:
    """Create ``run_dir`` and write the resolved config; refuse to overwrite a run without ``resume``.

    Rank 0 writes ``config.json`` and ``config.toml``; every rank then waits at a barrier.

    Parameters
    ----------
    run_dir : Path
        The run directory (created with its parents if missing).
    config : Config
        The resolved configuration.
    resume : bool
        Allow an existing run whose saved configuration equals ``config`` (apart from ``run.device``,
        ``run.threads``, ``run.latency_tokens`` and ``run.seed_workers``); temporary files a killed run
        left behind are removed (:func:`remove_stale_temporaries`).

    Raises
    ------
    RunDirectoryError
        ``run_dir`` already holds a run and ``resume`` is false, or it holds a different
        configuration, or it cannot be created or written.
    """
    cfg_json = run_dir / CONFIG_JSON
    data = config.to_dict()
    if cfg_json.exists():
        if not resume:
            raise RunDirectoryError(f"{run_dir} already holds a run; pass --resume or choose another --out")
        if _comparable(read_saved_config(run_dir).to_dict()) != _comparable(data):
            raise RunDirectoryError(
                f"{run_dir} holds a run with a different configuration; resume it without changing "
                "settings (run.device, run.threads, run.latency_tokens and run.seed_workers may change) or choose "
                "another --out"
            )
    if dist_utils.is_main_process():
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            if resume:
                remove_stale_temporaries(run_dir)
            atomic_write_json(cfg_json, data)
            atomic_write_text(run_dir / CONFIG_TOML, dumps_toml(data))
        except OSError as exc:
            raise RunDirectoryError(f"cannot write the run directory {run_dir}: {exc.strerror or exc}") from None
    dist_utils.barrier()


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporary files a killed run left behind (``.<name>.<random>.tmp``, see
    :mod:`mor_torch.lra.files`) anywhere under ``run_dir``.

    Parameters
    ----------
    run_dir : Path
        A run directory that no process is writing.

    Returns
    -------
    list of Path
        The files removed.
    """
    stale = [p for p in run_dir.rglob(".*.tmp") if p.is_file() and not p.is_symlink()]
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        logger.info("removed %d temporary file(s) left by an interrupted run in %s", len(stale), run_dir)
    return stale


def stage_result(stage_dir: Path) -> dict | None:
    """The saved result of a finished stage, or ``None`` when the stage has not finished.

    Parameters
    ----------
    stage_dir : Path
        ``seed<k>/<stage>``.

    Returns
    -------
    dict or None
    """
    path = stage_dir / RESULT_NAME
    return read_json(path) if path.is_file() else None


def write_stage_result(stage_dir: Path, record: dict) -> None:
    """Mark a stage finished: write ``result.json`` (rank 0) and drop its epoch checkpoint.

    Parameters
    ----------
    stage_dir : Path
        ``seed<k>/<stage>``.
    record : dict
        JSON-serialisable stage result.
    """
    if dist_utils.is_main_process():
        atomic_write_json(stage_dir / RESULT_NAME, record)
        (stage_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
