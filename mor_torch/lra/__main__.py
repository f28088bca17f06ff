"""Command line: ``python -m mor_torch.lra [--preset NAME] [--set section.key=value ...] [flags]``.

Runs the whole pipeline (pre-training, balanced truncation, evaluation of the reduced model,
main training, Skew-HiPPO baseline) and prints the results table.  Under ``torchrun`` every
process runs the pipeline with DistributedDataParallel; rank 0 writes and prints.
"""

from __future__ import annotations

import os
import sys

# OpenMP reads OMP_WAIT_POLICY when the library loads (at ``import torch``), and
# ``python -m mor_torch.lra`` imports torch (via mor_torch/__init__) before this
# module runs; re-execute once with the variable set.  PASSIVE keeps idle OpenMP
# threads from spinning, which matters with 2 threads on a busy 2-core machine.
if "OMP_WAIT_POLICY" not in os.environ and __name__ == "__main__":
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.execv(sys.executable, [sys.executable, "-m", "mor_torch.lra", *sys.argv[1:]])

import argparse
import json
import logging
import time
from pathlib import Path

from mor.errors import MorError

from .. import distributed as dist_utils
from .config import apply_overrides, available_presets, resolve_config, validate

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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
        help="preset name or path to a TOML file (default: listops-mini; with --resume and no settings: "
        "the configuration saved in --out)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a configuration key (repeatable)",
    )
    p.add_argument("--order", type=int, help="reduced state size r (reduce.order)")
    p.add_argument("--gramians", choices=["discrete", "continuous", "finite"], help="reduce.gramians")
    p.add_argument("--structure", choices=["channel", "shared"], help="reduce.structure")
    p.add_argument("--mode", choices=["exp", "softmax"], help="DSS kernel mode (model.mode)")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds (run.seeds), e.g. --seeds 0 1 2")
    p.add_argument(
        "--epochs",
        type=int,
        help="epochs of every training stage (train.epochs, pretrain.epochs, main.epochs)",
    )
    p.add_argument("--data-dir", help="data root (task.data_dir); default $MOR_DATA_DIR or ./data")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1 ... (run.device)")
    p.add_argument("--threads", type=int, help="torch threads per process (run.threads; 0 = cores / procs)")
    p.add_argument("--out", help="run directory (default runs/<preset>-<timestamp>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out: finished stages are "
        "skipped, the running one continues from its last checkpoint",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 reports progress
        level = logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main_rank = True
    try:
        overrides = _overrides(args)
        saved = Path(args.out) / "config.json" if args.out else None
        volatile = {"threads", "device"}
        if (
            args.resume
            and saved is not None
            and saved.is_file()
            and args.preset is None
            and all(getattr(args, k) is None for k in _FLAG_KEYS if k not in volatile)
            and not args.overrides
        ):  # plain --resume: continue with the saved configuration (device and threads may change)
            config = validate(apply_overrides(json.loads(saved.read_text()), overrides))
        else:
            config = resolve_config(args.preset or "listops-mini", overrides)
        preset = config.get("preset") or "run"
        out = args.out
        if out is None:
            if args.resume:
                raise SystemExit("--resume needs --out <run directory>")
            out = f"runs/{preset}-{time.strftime('%Y%m%d-%H%M%S')}"
        from .pipeline import run_pipeline
        from .report import format_table

        results = run_pipeline(config, out, resume=args.resume, progress=not args.no_progress)
        main_rank = dist_utils.is_main_process()
    except MorError as exc:
        if dist_utils.is_main_process():
            print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        dist_utils.cleanup()
    if main_rank:
        print()
        print(format_table(results))
        print(f"\nrun directory: {out}  (results.json, metrics.csv, plots/)")
        print(f"wall time: {results['timing']['wall_s_this_invocation']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
