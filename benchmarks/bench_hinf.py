"""H-infinity norm: mor.norms.hinf_norm against slycot's ab13dd (SLICOT), one BLAS thread.

Run:  python benchmarks/bench_hinf.py [--repeat R] [--cpu-time]

Cases: random real stable SISO systems at n = 8, 16, 32, 64, 256 and 2x2 MIMO ones at n = 64 and
256 (issue 15's rows), one lightly damped
system (modal form, damping 1e-5), a discrete-time MIMO system, and a batch of 256 complex
diagonal systems of order 64 (slycot only takes real data: it gets each member's exact real
embedding, order 128 with 2 inputs and 2 outputs, which has the same H-infinity norm).
mor and ab13dd are timed interleaved (each round calls each once, small n many times a round);
prints medians, the median of the per-round ratios ours/ab13dd and the relative difference of
the norms (the batch rows likewise: mor's batched call, the ab13dd loop and mor's loop over the
members in the same rounds).  ``--cpu-time``: CPU seconds of this process instead of wall time
(steadier ratios on a machine loaded by other jobs; the load average is printed either way).
For the dense cases, ``1 eig`` is the time of a single LAPACK ``eigvals`` of the (real, 2n x 2n)
Hamiltonian at the certified level, the one step no level-set method without a structured
Hamiltonian eigensolver can skip, and ``floor`` is that time over ab13dd's whole run (ab13dd uses
SLICOT's structure-preserving MB03XD).
"""

from __future__ import annotations

import pathlib
import sys as _sys

_sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import interleaved, median_time  # pins one BLAS thread: must precede numpy

# isort: split
import argparse
import os
import time

import numpy as np

from mor import LTI, DiagonalLTI
from mor.analysis.norms import DenseEvaluator, hinf_norm

try:
    import slycot
except ImportError:  # pragma: no cover - reference backend is optional
    slycot = None


def random_stable(n, m, p, seed, *, discrete=False):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    ev = np.linalg.eigvals(A)
    if discrete:
        A *= 0.95 / np.abs(ev).max()
    else:
        A -= (ev.real.max() + 0.1) * np.eye(n)
    return LTI(A, rng.standard_normal((n, m)), rng.standard_normal((p, n)), None, 0.1 if discrete else None)


def lightly_damped(n, seed, zeta=1e-5):
    """Block-diagonal modal form (n/2 modes, damping zeta) mixed by a random orthogonal basis."""
    rng = np.random.default_rng(seed)
    w = np.sort(rng.uniform(1.0, 100.0, n // 2))
    A = np.zeros((n, n))
    for k, wk in enumerate(w):
        A[2 * k : 2 * k + 2, 2 * k : 2 * k + 2] = [[-zeta * wk, wk], [-wk, -zeta * wk]]
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return LTI(Q @ A @ Q.T, Q @ rng.standard_normal((n, 1)), rng.standard_normal((1, n)) @ Q.T)


def ab13dd(sys):
    n, m, p = sys.n, sys.m, sys.p
    dico = "C" if sys.dt is None else "D"
    return slycot.ab13dd(
        dico, "I", "N", "Z" if not np.any(sys.D) else "D", n, m, p,
        sys.A.copy(), np.eye(n), sys.B.copy(), sys.C.copy(), sys.D.copy(), tol=1e-10,
    )[0]


def real_embedding(sys: DiagonalLTI) -> LTI:
    """Real system on [Re x; Im x] with the same H-infinity norm as the complex system."""
    def emb(X):
        return np.block([[X.real, -X.imag], [X.imag, X.real]])
    return LTI(emb(np.diag(sys.poles)), emb(sys.B), emb(sys.C), emb(sys.D.astype(complex)), sys.dt)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--cpu-time", action="store_true", help="CPU time of this process instead of wall time")
    args = ap.parse_args()
    clock = time.process_time if args.cpu_time else time.perf_counter
    cases = []
    for n in (8, 16, 32):
        cases.append((f"SISO n={n}", random_stable(n, 1, 1, seed=n)))
    for n in (64, 256):
        cases.append((f"SISO n={n}", random_stable(n, 1, 1, seed=n)))
        cases.append((f"MIMO 2x2 n={n}", random_stable(n, 2, 2, seed=n + 1)))
    cases.append(("lightly damped n=64 (zeta 1e-5)", lightly_damped(64, seed=3)))
    cases.append(("lightly damped n=256 (zeta 1e-5)", lightly_damped(256, seed=4)))
    cases.append(("discrete MIMO 2x2 n=64", random_stable(64, 2, 2, seed=7, discrete=True)))
    print(f"one BLAS thread, medians ({'CPU' if args.cpu_time else 'wall'} time), ratio = mor / ab13dd per round; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'case':36s} {'mor [ms]':>10s} {'ab13dd [ms]':>12s} {'ratio':>7s} {'rel. diff':>10s} "
          f"{'1 eig [ms]':>11s} {'floor':>6s}")
    for name, sys in cases:
        r = max(3, args.repeat if sys.n <= 64 else args.repeat // 2)
        inner = 20 if sys.n <= 16 else 5 if sys.n <= 64 else 1
        g = hinf_norm(sys)
        failed = None
        if slycot is not None:
            try:
                g_ref = ab13dd(sys)
            except Exception as exc:  # SLICOT's QR does not always converge
                failed = exc
        if slycot is None or failed is not None:
            t_ours = median_time(r, lambda s=sys: hinf_norm(s), warmup=True)[0]  # no peer: wall time
            note = "-" if failed is None else f"failed   ({type(failed).__name__})"
            print(f"{name:36s} {1e3 * t_ours:10.2f} {note:>12s}")
            continue
        H = DenseEvaluator(sys).hamiltonian(np.array([0]), np.array([g * (1 + 1e-10)]))[0]
        t, ratio, _ = interleaved(
            r, {"ab13dd": lambda s=sys: ab13dd(s), "mor": lambda s=sys: hinf_norm(s),
                "eig": lambda H=H: np.linalg.eigvals(H)}, inner=inner, clock=clock,
        )  # fmt: skip
        print(f"{name:36s} {1e3 * t['mor']:10.2f} {1e3 * t['ab13dd']:12.2f} {ratio['mor']:7.2f} "
              f"{abs(g - g_ref) / g_ref:10.1e} {1e3 * t['eig']:11.2f} {ratio['eig']:6.2f}")
    # batched diagonal systems (complex, DSS-like spectra)
    rng = np.random.default_rng(11)
    nb, n = 256, 64
    lam = -rng.uniform(0.05, 1.0, (nb, n)) + 1j * rng.uniform(-20, 20, (nb, n))
    dsys = DiagonalLTI(lam, rng.standard_normal((nb, n, 1)) + 1j * rng.standard_normal((nb, n, 1)),
                       rng.standard_normal((nb, 1, n)) + 1j * rng.standard_normal((nb, 1, n)))
    g = hinf_norm(dsys)
    fns = {"mor": lambda: hinf_norm(dsys), "loop": lambda: [hinf_norm(dsys[i]) for i in range(nb)]}
    if slycot is not None:
        embs = [real_embedding(dsys[i]) for i in range(nb)]
        fns["ab13dd"] = lambda: [ab13dd(e) for e in embs]
    t, ratio, out = interleaved(3, fns, clock=clock)  # ratios to mor's batched call, same rounds
    line = f"{'batch 256 x DiagonalLTI n=64':36s} {1e3 * t['mor']:10.1f}"
    if slycot is not None:
        g_ref = np.array(out["ab13dd"])
        line += f" {1e3 * t['ab13dd']:12.1f} {1 / ratio['ab13dd']:7.2f} {np.max(np.abs(g - g_ref) / g_ref):10.1e}"
    print(line)
    print(f"{'  (same, one call per member)':36s} {1e3 * t['loop']:10.1f}"
          + (f" {'':12s} {ratio['loop'] / ratio['ab13dd']:7.2f}" if slycot is not None else ""))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
