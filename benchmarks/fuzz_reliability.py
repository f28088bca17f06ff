"""The reliability fuzzes at full size: the numbers of the table in ``docs/reliability.md``.

Runs the runners of ``tests/core/reliability_fuzz.py`` (the same code as the unit tests, on many
more seeds) and the public-API fuzz of ``tests/core/test_fuzz.py``, and prints one markdown row per
input class: how many cases, and what happened (correct answers, warnings, typed errors, quietly
wrong answers, untyped exceptions).

Run:  python benchmarks/fuzz_reliability.py [--scale 1.0] [--only hinf nonnormal scaled fast api]
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

_sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "core"))
import reliability_fuzz as rf
import test_fuzz

RUNS = {
    "hinf": ("`hinf_norm` of random BT error systems vs the oracle", rf.hinf_vs_oracle, 2000, 0),
    "nonnormal": ("BT of non-normal dense systems (cond(V) up to 1e12), bound vs oracle", rf.bt_nonnormal, 400, 1000),
    "scaled": ("HSVs, BT bound, `hinf_norm` of time-scaled systems (a = 1e-250 .. 1e250)", rf.time_scaled, 400, 2000),
    "fast": ("HSVs (vs mpmath) and BT of discrete diagonal systems with fast poles", rf.fast_poles, 400, 3000),
}


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
        n = max(1, int(count * args.scale))
        tally = runner(range(offset, offset + n))
        print(_row(what, tally, time.perf_counter() - t0), flush=True)
        for seed, detail in tally.failures[:5]:
            print(f"    seed {seed}: {detail[:300]}", file=_sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
