"""Speed of the dense Lyapunov solvers: mor's recursive solver against scipy and slycot.

Real random stable ``A`` (n x n), ``Q = B B^T`` with ``m = 2`` inputs; continuous
``A X + X A^T + Q = 0`` and discrete ``A X A^T - X + Q = 0``.  One BLAS thread; medians of
several repeats in one process.  Columns: mor total, its split into the Schur form
(``complex_schur``) and the triangular solve (transformations included), scipy's
``solve_continuous_lyapunov`` / ``solve_discrete_lyapunov``, slycot ``sb03md``; then the
ratios scipy/mor and slycot/mor, and the relative residuals.

Run:  python benchmarks/bench_lyapunov.py [--quick] [--repeats R] [--sizes 64 256 1024]
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import median_time  # pins one BLAS thread: must precede numpy

# isort: split
import argparse
import platform

import numpy as np
import scipy

from mor.linalg.lyapunov import complex_schur, solve_lyapunov

try:
    import slycot  # noqa: F401

    HAVE_SLYCOT = True
except ImportError:  # pragma: no cover
    HAVE_SLYCOT = False


def _residual(A, X, Q, discrete):
    R = A @ X @ A.T - X + Q if discrete else A @ X + X @ A.T + Q
    return np.linalg.norm(R) / (np.linalg.norm(A) ** 2 * np.linalg.norm(X) + np.linalg.norm(Q))


def _system(n: int, discrete: bool, rng: np.random.Generator):
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    ev = np.linalg.eigvals(A)
    if discrete:
        A = 0.95 * A / np.max(np.abs(ev))
    else:
        A = A - (np.max(ev.real) + 0.5) * np.eye(n)
    B = rng.standard_normal((n, 2))
    return A, B @ B.T


def _bench_case(A, Q, discrete: bool, reps: int):
    t_mor, X = median_time(reps, lambda: solve_lyapunov(A, Q, discrete=discrete))
    t_schur, S = median_time(reps, lambda: complex_schur(A))
    t_tri, _ = median_time(reps, lambda: solve_lyapunov(A, Q, discrete=discrete, schur=S))
    t_sp, Xs = median_time(reps, lambda: solve_lyapunov(A, Q, discrete=discrete, method="scipy"))
    if HAVE_SLYCOT:
        t_sl, Xl = median_time(reps, lambda: solve_lyapunov(A, Q, discrete=discrete, method="slycot"))
        r_sl = _residual(A, Xl, Q, discrete)
    else:
        t_sl, r_sl = float("nan"), float("nan")
    return (
        t_mor, t_schur, t_tri, t_sp, t_sl,
        _residual(A, X, Q, discrete), _residual(A, Xs, Q, discrete), r_sl,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (64, 256)")
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    sizes = args.sizes or ([64, 256] if args.quick else [64, 256, 1024])
    rng = np.random.default_rng(0)
    print(
        f"numpy {np.__version__}, scipy {scipy.__version__}, python {platform.python_version()}, "
        f"slycot {'yes' if HAVE_SLYCOT else 'no'}, 1 BLAS thread; times in ms (median)"
    )
    head = (
        f"{'eq':5s} {'n':>5s} | {'mor':>9s} {'schur':>9s} {'trisolve':>9s} | {'scipy':>9s} "
        f"{'slycot':>9s} | {'scipy/mor':>9s} {'slyc/mor':>9s} | {'res mor':>8s} {'res scipy':>9s} "
        f"{'res slyc':>8s}"
    )
    print(head)
    print("-" * len(head))
    for discrete in (False, True):
        for n in sizes:
            reps = args.repeats or (7 if n <= 256 else 3)
            A, Q = _system(n, discrete, rng)
            t_mor, t_schur, t_tri, t_sp, t_sl, r_mor, r_sp, r_sl = _bench_case(A, Q, discrete, reps)
            print(
                f"{'disc' if discrete else 'cont':5s} {n:5d} | {1e3 * t_mor:9.1f} {1e3 * t_schur:9.1f} "
                f"{1e3 * t_tri:9.1f} | {1e3 * t_sp:9.1f} {1e3 * t_sl:9.1f} | {t_sp / t_mor:9.2f} "
                f"{t_sl / t_mor:9.2f} | {r_mor:8.1e} {r_sp:9.1e} {r_sl:8.1e}",
                flush=True,
            )
    print(
        "mor = solve_lyapunov (real Schur + rotations, recursive triangular solver); schur = "
        "complex_schur(A); trisolve = solve_lyapunov(..., schur=...) (transforms + triangular solve)"
    )


if __name__ == "__main__":
    main()
