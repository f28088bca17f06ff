"""Command line: ``python -m mor_torch.lra [--preset NAME] [--set section.key=value ...] [flags]``.

Runs the whole pipeline (pre-training, balanced truncation, evaluation of the reduced model,
main training, Skew-HiPPO baseline) and prints the results table.  Under ``torchrun`` every
process runs the pipeline with DistributedDataParallel; rank 0 writes and prints.

Every error the pipeline raises on purpose (:mod:`mor_torch.lra.errors`, :mod:`mor.errors`) ends
the program with one line on standard error and exit code 2; so do bad flags (argparse).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from mor.errors import MorError

from ..dss import MODES
from ..reduce import GRAMIANS, STRUCTURES
from . import distributed as dist_utils
from .config import Config, apply_overrides, available_presets, resolve_config
from .errors import LraError, RunDirectoryError
from .pipeline import run_pipeline
from .process import keep_freed_memory
from .report import format_table
from .rundir import CONFIG_JSON, read_saved_config

__all__ = ["build_parser", "main"]

#: Dedicated flags and the configuration keys they set.
_FLAG_KEYS = {
    "order": ["reduce.order"],
    "gramians": ["reduce.gramians"],
    "structure": ["reduce.structure"],
    "mode": ["model.mode"],
    "threads": ["run.threads"],
    "seeds": ["run.seeds"],
    "device": ["run.device"],
    "data_dir": ["task.data_dir"],
    "epochs": ["train.epochs", "pretrain.epochs", "main.epochs"],
}
#: Flags a plain ``--resume`` may change without changing the run.
_VOLATILE_FLAGS = ("threads", "device")
DEFAULT_PRESET = "smnist"


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on standard error (and exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (python -m mor_torch.lra --help lists the flags)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m mor_torch.lra``.

    Returns
    -------
    argparse.ArgumentParser
        Its errors print one line on standard error and exit with code 2.
    """
    p = _Parser(
        prog="python -m mor_torch.lra",
        description=(
            "Balanced-truncation compression of DSS models (Ezoe & Sato 2024): pre-train (state size N), "
            "reduce every DSS layer to order r, evaluate, main-train, and compare with a size-r model "
            "trained from Skew-HiPPO initialisation."
        ),
        epilog=(
            "Every configuration key can be set with --set section.key=value (TOML values), e.g. "
            "--set train.lr=0.002 --set model.n_layers=2 --set task.options.n_train=1000. "
            f"Presets: {', '.join(available_presets())}."
        ),
    )
    p.add_argument(
        "--preset",
        default=None,
        help=f"preset name or path to a TOML file (default: {DEFAULT_PRESET}; with --resume and no settings: "
        "the configuration saved in --out)",
    )
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a configuration key (repeatable)",
    )  # fmt: skip
    p.add_argument("--order", type=int, help="reduced state size r (reduce.order)")
    p.add_argument("--gramians", choices=GRAMIANS, help="reduce.gramians")
    p.add_argument("--structure", choices=STRUCTURES, help="reduce.structure")
    p.add_argument("--mode", choices=MODES, help="DSS kernel mode (model.mode)")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds (run.seeds), e.g. --seeds 0 1 2")
    p.add_argument("--epochs", type=int, help="epochs of every training stage (train, pretrain and main epochs)")
    p.add_argument("--data-dir", help="data root (task.data_dir); default $MOR_DATA_DIR or ./data")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1 ... (run.device)")
    p.add_argument("--threads", type=int, help="torch threads per process (run.threads; 0 = cores / procs)")
    p.add_argument("--out", help="run directory (default runs/<preset>-<timestamp>)")
    p.add_argument(
        "--resume", action="store_true",
        help="continue the run in --out: finished stages are skipped, the running one continues from its last "
        "checkpoint",
    )  # fmt: skip
    p.add_argument(
        "--no-progress", action="store_true",
        help="no progress bars (there are none anyway when standard error is not a terminal)",
    )  # fmt: skip
    p.add_argument("-v", "--verbose", action="count", default=0, help="debug log output")
    return p


def _overrides(args: argparse.Namespace) -> list[str]:
    """The dedicated flags as ``section.key=value`` overrides (after the --set ones, so flags win)."""
    out = list(args.overrides)
    for attr, keys in _FLAG_KEYS.items():
        value = getattr(args, attr)
        if value is not None:
            out.extend(f"{key}={json.dumps(value)}" for key in keys)
    return out


def _resume_config(args: argparse.Namespace, out: Path) -> Config:
    """The configuration of ``--resume``: the saved one, or the given settings (checked against it later)."""
    if not (out / CONFIG_JSON).is_file():
        raise RunDirectoryError(f"--resume: {out} holds no run (no config.json); start a run there without --resume")
    plain = args.preset is None and not args.overrides
    plain = plain and all(getattr(args, k) is None for k in _FLAG_KEYS if k not in _VOLATILE_FLAGS)
    if not plain:
        return resolve_config(args.preset or DEFAULT_PRESET, _overrides(args))
    saved = read_saved_config(out).to_dict()
    return Config.from_dict(apply_overrides(saved, _overrides(args)))  # device and threads may change


def _resolve(args: argparse.Namespace) -> tuple[Config, Path]:
    """The configuration and the run directory the arguments ask for."""
    if args.resume:
        if args.out is None:
            raise RunDirectoryError("--resume needs --out <run directory>")
        out = Path(args.out)
        return _resume_config(args, out), out
    config = resolve_config(args.preset or DEFAULT_PRESET, _overrides(args))
    out = Path(args.out) if args.out else Path("runs") / f"{config.preset or 'run'}-{time.strftime('%Y%m%d-%H%M%S')}"
    return config, out


def _one_line(message: str) -> str:
    """A multi-line message (a list of places a dataset was looked for, ...) joined into one line."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success (and for ``--help``), 2 on a bad flag or an error the pipeline reports (one line
        on standard error).
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a bad flag (2, its one line already printed)
        return int(exc.code or 0)
    level = logging.DEBUG if args.verbose else logging.INFO
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports progress
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    keep_freed_memory()
    finished = False
    try:
        config, out = _resolve(args)
        progress = not args.no_progress and sys.stderr.isatty()  # no \r bars in a redirected log
        results = run_pipeline(config, out, resume=args.resume, progress=progress)
        main_rank = dist_utils.is_main_process()
        finished = True
    except (LraError, MorError) as exc:
        if dist_utils.is_main_process():
            print(f"error: {type(exc).__name__}: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    finally:
        dist_utils.cleanup(synchronise=finished)
    if main_rank:
        print()
        print(format_table(results))
        print(f"\nrun directory: {out}  (results.json, timing.json, metrics.csv, plots/)")
        print(f"wall time: {results['timing']['wall_s_this_invocation']:.1f} s")
    return 0
