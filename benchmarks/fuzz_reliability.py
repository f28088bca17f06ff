"""The reliability fuzzes at full size: the numbers of the table in ``docs/reliability.md``.

Runs the runners of ``tests/core/reliability_fuzz.py`` (the same code as the unit tests, on many
more seeds) and the public-API fuzz of ``tests/core/test_fuzz.py``, and prints one markdown row per
input class: how many cases, and what happened (correct answers, warnings, typed errors, quietly
wrong answers, untyped exceptions).

Run:  python benchmarks/fuzz_reliability.py [--scale 1.0] [--only hinf nonnormal scaled fast defective sparse
      lowrank memory torch_memory tied api] [--seed-offset K]
(one BLAS thread; about 15 minutes on a loaded 2-core machine at scale 1).  To count the failures
of another version of ``mor``, put it first on ``PYTHONPATH`` and run from outside the repository.
"""

from __future__ import annotations

import pathlib
import sys as _sys

_sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import median_time  # noqa: F401 - pins one BLAS thread: must precede numpy

# isort: split
import argparse
import time

import numpy as np

_sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "core"))
import reliability_fuzz as rf
import test_fuzz

RUNS = {
    "hinf": ("`hinf_norm` of random BT error systems vs the oracle", rf.hinf_vs_oracle, 2000, 0),
    "nonnormal": ("BT of non-normal dense systems (cond(V) up to 1e12), bound vs oracle", rf.bt_nonnormal, 400, 1000),
    "scaled": ("HSVs, BT bound, `hinf_norm` of time-scaled systems (a = 1e-250 .. 1e250)", rf.time_scaled, 400, 2000),
    "fast": ("HSVs (vs mpmath) and BT of discrete diagonal systems with fast poles", rf.fast_poles, 400, 3000),
    "defective": ("modal, BT, BSP and IRKA of defective and near-defective A (gap 0 .. 1e-3)", rf.defective, 400, 7000),
    "sparse": ("every scipy.sparse format (14) as A of 12 routines, vs the dense answer", rf.sparse_formats, 336, 8000),
    "lowrank": ("low-rank Gramians and HSVs of scaled systems (a = 1e-300 .. 1e300)", rf.scaled_low_rank, 200, 9000),
    "memory": ("sizes that cannot fit in memory (impulse, frequency response, to_dense)", rf.memory_hungry, 40, 9500),
    "torch_memory": ("DSS layers too large even for the O(N) skew-HiPPO route (N = 1e11 .. 1e12)", None, 8, 9600),
    "tied": ("`compress` of weight-tied models (one DSS module used twice; shared parameters)", None, 40, 9700),
}


def torch_memory(seeds) -> rf.Tally:
    """``DSS(H, N)`` whose skew-HiPPO vectors need terabytes: a typed error (before allocating) is the contract.

    (N = 1e5 .. 1e6, the sizes of the dense ``2N x 2N`` matrix this family began with, now take the
    structured ``O(N)``-memory route and are built.)
    """
    from mor_torch import DSS

    tally = rf.Tally()
    for seed in seeds:

        def case(seed=seed):
            DSS(4, [10**11, 10**12][seed % 2])
            return "quietly wrong", "an impossible layer was built"

        rf._run(tally, seed, case)
    return tally


def weight_tied(seeds) -> rf.Tally:
    """``compress`` of weight-tied models: ``Sequential(l, l)`` with a budget, and two layers sharing ``W``.

    The contract (issue 19, item 3): a shared module is reduced once and stays shared (the two
    positions of the result hold one module), and its states fit the budget counted once per use or
    once in all; parameters shared between different modules are refused with a typed error.
    Wrong: a result that holds an unreduced copy, two different modules where one was shared, or
    more live states than the budget even counted once in all.
    """
    import torch
    from torch import nn

    from mor_torch import DSS, compress

    tally = rf.Tally()
    for seed in seeds:

        def case(seed=seed):
            torch.manual_seed(seed)
            layer = DSS(4, 10, dtype=torch.float64)
            budget = int(np.random.default_rng(seed).integers(4, 20))
            if seed % 2:
                other = DSS(4, 10, dtype=torch.float64)
                other.W = layer.W  # parameter tying across modules
                out, _ = compress(nn.Sequential(layer, other), budget=budget)
                return "quietly wrong", "parameters shared between two modules were not refused"
            out, report = compress(nn.Sequential(layer, layer), budget=budget)
            unique = {id(m): m for m in out if isinstance(m, DSS)}
            if len(unique) != 1:
                return "quietly wrong", f"the shared module became {len(unique)} modules"
            # live states: the modes with a non-zero weight (a per-channel layer pads every channel to
            # its largest order with zero modes), counted once in all for the shared module
            (shared,) = unique.values()
            states = int((shared.weights() != 0).sum())
            if states > budget or report.states != states:
                return "quietly wrong", f"{states} live states for a budget of {budget}"
            return "correct", ""

        rf._run(tally, seed, case)
    return tally


TORCH_RUNNERS = {"torch_memory": torch_memory, "tied": weight_tied}


def _row(what: str, tally: rf.Tally, seconds: float) -> str:
    out = tally.outcomes
    typed = {k: v for k, v in out.items() if k not in ("correct", "warned", *rf.FAILURES)}
    typed_s = ", ".join(f"{v} {k}" for k, v in sorted(typed.items())) or "-"
    worst = "; ".join(f"{k} {v:.2g}" for k, v in tally.worst.items())
    return (
        f"| {what} | {tally.total} | {out.get('correct', 0)} | {out.get('warned', 0)} | {typed_s} | "
        f"{out.get('quietly wrong', 0)} | {out.get('untyped', 0)} | {worst} | {seconds:.0f} s |"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every count by this")
    ap.add_argument("--only", nargs="+", choices=[*RUNS, "api"], default=[*RUNS, "api"])
    ap.add_argument("--seed-offset", type=int, default=0, help="add this to every family's first seed (fresh seeds)")
    args = ap.parse_args(argv)
    print("| input class | cases | correct | warned | typed error | quietly wrong | untyped | worst seen | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in args.only:
        t0 = time.perf_counter()
        if key == "api":
            out, _ = test_fuzz.run_all(int(2000 * args.scale), int(250 * args.scale))
            untyped = sum("untyped" in d for _, _, d in out.failures)
            bad = len(out.failures) - untyped
            typed = ", ".join(f"{v} {k}" for k, v in sorted(out.typed.items()))
            warned = sum(out.warned.values())
            print(f"| every public routine on hostile systems (test_fuzz) | {out.systems} systems, {out.calls} calls | "
                  f"- | {warned} | {typed} | {bad} (non-finite or stray warning) | {untyped} | - | "
                  f"{time.perf_counter() - t0:.0f} s |")
            continue
        what, runner, count, offset = RUNS[key]
        runner = runner or TORCH_RUNNERS[key]
        n = max(1, int(count * args.scale))
        start = offset + args.seed_offset
        tally = runner(range(start, start + n))
        print(_row(what, tally, time.perf_counter() - t0), flush=True)
        for seed, detail in tally.failures[:5]:
            print(f"    seed {seed}: {detail[:300]}", file=_sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
