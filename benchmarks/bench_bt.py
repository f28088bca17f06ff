"""Speed of dense balanced truncation: ``mor.balanced_truncation`` against slycot ``ab09ad``.

Random real asymptotically stable SISO systems (``A = randn(n, n)/sqrt(n)`` shifted so that the
rightmost eigenvalue sits at ``-0.1 .. -0.6``; ``B``, ``C`` standard normal), continuous time,
reduced to order ``n/4``, n = 8, 16, 32, 64, 256, 1024 (issue 15's rows).  Timed in one process
with one BLAS thread, the libraries interleaved (each round calls each once, small n many times a
round); medians of the rounds, and ``mor/slycot``: the median of the per-round time ratios (the
steadier figure on a shared machine):

``mor sr`` / ``mor bfsr``   ``mor.balanced_truncation(sys, n // 4, method=...)`` (Gramians by the
                             recursive Bartels-Stewart solver, one shared Schur form)
``slycot``                  ``slycot.ab09ad("C", "B", "N", n, 1, 1, A, B, C, nr=n // 4, tol=0)``
                             (square root, no equilibration)
``control``                 ``control.balred(sys, n // 4, method="truncate")`` (python-control; it
                             calls ``ab09ad`` with equilibration 'N'), only with ``--control``

Checks printed with the timings: the largest relative difference between mor's and slycot's
leading Hankel singular values (those above ``1e-8 sigma_1``), and between the reduced transfer functions of mor and
slycot at 64 frequencies (both are square-root BT, so they agree up to rounding).

After the table, the floor tables (n = 16 and 64; ``--no-floors`` skips them): the pieces of
mor's dense route against ab09ad, interleaved, and the LAPACK calls inside them that no trimming
of the Python around them removes (the real Schur form, one ``ztrsyl`` per Gramian factor, the SVD,
the reduced poles): their sum over ab09ad's time is the best ratio this route can reach.

``--cpu-time`` times CPU seconds of this process instead of wall time (steadier ratios on a machine
loaded by other jobs; the load average is printed either way).

Run:  python benchmarks/bench_bt.py [--quick] [--sizes 8 16 64 1024] [--repeats R] [--control] [--cpu-time]
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import interleaved  # pins one BLAS thread: must precede numpy

# isort: split
import argparse
import importlib
import os
import platform
import time
import warnings

import numpy as np
import scipy

import mor

try:
    import slycot

    HAVE_SLYCOT = True
except ImportError:  # pragma: no cover
    HAVE_SLYCOT = False


def random_stable(n: int, seed: int) -> mor.LTI:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    shift = np.linalg.eigvals(A).real.max() + 0.1 + rng.uniform(0, 0.5)
    A -= shift * np.eye(n)
    return mor.LTI(A, rng.standard_normal((n, 1)), rng.standard_normal((1, n)))


def tf(A, B, C, s):
    n = A.shape[0]
    return np.array([(C @ np.linalg.solve(si * np.eye(n) - A, B))[0, 0] for si in s])


def slycot_bt(sys: mor.LTI, r: int):
    """ab09ad; when ``r`` exceeds the minimal order slycot lowers it (and warns: silenced here)."""
    n = sys.n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return slycot.ab09ad("C", "B", "N", n, 1, 1, np.asfortranarray(sys.A), np.asfortranarray(sys.B),
                             np.asfortranarray(sys.C), nr=r, tol=0.0)


def floor_table(n: int, repeats: int, clock) -> None:
    """Where a single reduction's time goes, against ab09ad's, interleaved (issue 24's floor table).

    The pieces of mor's dense route (the complex Schur form, the two Gramian factors, the SVD of
    their product, the reduced poles' stability test), the LAPACK calls inside them that no Python
    glue can remove, and SLICOT's own Schur form plus one Hammarling factor (``sb03od``).
    """
    sys_ = random_stable(n, seed=n)
    r = n // 4
    dense = importlib.import_module("mor.gramians.dense")
    lyap = importlib.import_module("mor.linalg.lyapunov")
    form = mor.linalg.complex_schur(sys_.A)
    T, Z = form
    R, S = dense._dense_factor(sys_, "c", form), dense._dense_factor(sys_, "o", form)
    tau = np.diagonal(T)
    rho = np.sqrt(-2.0 * tau.real)
    K = np.triu(np.multiply.outer(-rho, rho).astype(complex), 1) + np.diag(tau)
    Cb = np.multiply.outer((Z.conj().T @ sys_.B)[:, 0], rho)
    M = S.T @ R
    Ar = mor.balanced_truncation(sys_, r).reduced.A
    B0 = np.vstack([sys_.B.T, np.zeros((n - 1, n))])
    fns = {
        "ab09ad (SLICOT, whole)": lambda: slycot_bt(sys_, r),
        "sb03od (SLICOT: real Schur + 1 factor)": lambda: slycot.sb03od(
            n, 1, np.asfortranarray(sys_.A), np.zeros((n, n), order="F"), np.asfortranarray(B0), dico="C"),
        "dgees (LAPACK: real Schur form)": lambda: scipy.linalg.lapack.dgees(
            lambda *_: False, sys_.A, compute_v=1, sort_t=0),
        "complex Schur form (mor)": lambda: mor.linalg.complex_schur(sys_.A),
        "2 Gramian factors (mor)": lambda: (dense._dense_factor(sys_, "c", form), dense._dense_factor(sys_, "o", form)),
        "2 x ztrsyl (LAPACK, in the above)": lambda: [lyap._sylv_c(T, K, Cb, lyap.BLOCK_CONTINUOUS) for _ in "co"],
        "gesdd of S^T R (LAPACK)": lambda: scipy.linalg.lapack.dgesdd(M),
        "eigvals of A_r (stability of G_r)": lambda: np.linalg.eigvals(Ar),
        "mor.balanced_truncation (whole)": lambda: mor.balanced_truncation(sys_, r),
    }  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, _, _ = interleaved(repeats, fns, inner=max(1, 4096 // (n * n)), clock=clock)
    ref = t["ab09ad (SLICOT, whole)"]
    print(f"floor table, n = {n} (SISO, r = {r}; ms and share of ab09ad; load {os.getloadavg()[0]:.1f}):")
    for name, v in t.items():
        print(f"  {name:42s} {1e3 * v:8.3f} ms  {v / ref:6.2f}")
    lapack_floor = sum(t[k] for k in ("dgees (LAPACK: real Schur form)", "2 x ztrsyl (LAPACK, in the above)",
                                      "gesdd of S^T R (LAPACK)", "eigvals of A_r (stability of G_r)"))  # fmt: skip
    glue = t["mor.balanced_truncation (whole)"] - lapack_floor
    print(f"  LAPACK calls of mor's route alone: {lapack_floor / ref:.2f} x ab09ad (the ratio no glue trimming "
          f"can beat); the rest of mor's time, Python glue: {glue / ref:.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 8 .. 256 only")
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--repeats", type=int, default=None, help="default: 15 / 7 / 3 by size")
    ap.add_argument("--control", action="store_true", help="also time control.balred")
    ap.add_argument("--cpu-time", action="store_true", help="CPU time of this process instead of wall time")
    ap.add_argument("--no-floors", action="store_true", help="skip the floor tables (n = 16, 64)")
    args = ap.parse_args(argv)
    clock = time.process_time if args.cpu_time else time.perf_counter
    sizes = args.sizes or ([8, 16, 32, 64, 256] if args.quick else [8, 16, 32, 64, 256, 1024])
    print(f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"{platform.machine()}, 1 BLAS thread; SISO, continuous, r = n/4; median ms "
          f"({'CPU' if args.cpu_time else 'wall'} time); load average {os.getloadavg()[0]:.1f}")
    cols = ["mor sr", "mor bfsr"] + (["slycot"] if HAVE_SLYCOT else []) + (["control"] if args.control else [])
    print("(r is capped at the numerical minimal order by both mor (RankWarning) and slycot)")
    print(f"{'n':>5s} " + " ".join(f"{c:>10s}" for c in cols)
          + ("   sr/slycot bfsr/slycot   hsv diff    tf diff" if HAVE_SLYCOT else ""))
    for n in sizes:
        repeats = args.repeats or (15 if n <= 256 else 3)
        inner = max(1, 2048 // (n * n)) * 4 if n <= 64 else 1
        sys_ = random_stable(n, seed=n)
        r = n // 4
        fns = {
            "mor sr": lambda s=sys_, r=r: mor.balanced_truncation(s, r, method="sr"),
            "mor bfsr": lambda s=sys_, r=r: mor.balanced_truncation(s, r, method="bfsr"),
        }
        if HAVE_SLYCOT:
            fns["slycot"] = lambda s=sys_, r=r: slycot_bt(s, r)
        if args.control:  # interleaved with the others too
            import control

            csys = sys_.to_control()
            fns["control"] = lambda c=csys, r=r: control.balred(c, r, method="truncate")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mor.RankWarning)
            if args.control:
                warnings.simplefilter("ignore", UserWarning)
            t, ratio, outs = interleaved(repeats, fns, inner=inner, warmup=n <= 256, clock=clock)
        res = outs["mor sr"]
        line_tail = ""
        if HAVE_SLYCOT:
            out = outs["slycot"]
            nr, Ar, Br, Cr, hsv = out
            big = hsv[:r] > 1e-8 * hsv[0]  # slycot's HSVs are accurate to ~eps * sigma_1 only
            hdiff = np.max(np.abs(res.hsv[:r][big] - hsv[:r][big]) / hsv[:r][big])
            s = 1j * np.geomspace(1e-2, 1e2, 64)
            g1 = tf(res.reduced.A, res.reduced.B, res.reduced.C, s)
            g2 = tf(Ar[:nr, :nr], Br[:nr], Cr[:, :nr], s)
            tdiff = np.max(np.abs(g1 - g2)) / np.max(np.abs(g2))
            line_tail = (f"   {1 / ratio['slycot']:9.2f} {ratio['mor bfsr'] / ratio['slycot']:11.2f}"
                         f"   {hdiff:8.1e}   {tdiff:8.1e}")
        print(f"{n:5d} " + " ".join(f"{1e3 * t[c]:10.3f}" for c in cols) + line_tail, flush=True)
    if HAVE_SLYCOT and not args.no_floors:
        for n in (16, 64):
            floor_table(n, 9, clock)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
