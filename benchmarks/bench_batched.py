"""Many small dense systems in one call: ``mor`` on a :class:`~mor.BatchedLTI` against SLICOT loops, and the floors.

The batch: ``K = 1000`` random stable real SISO systems of ``n = 16`` states (``A`` Gaussian over
``sqrt(n)``, shifted so that the rightmost pole lies in ``[-0.6, -0.1]``; seed 0).

``bt``    ``mor.balanced_truncation(batch, 4)`` (one call: the vectorised modal route for the
          well-conditioned members, :mod:`mor.reduction.batched_bt`) against
          ``ab09ad("C", "B", "N", nr=4)`` on every member
``hsv``   ``mor.hankel_singular_values(batch)`` (vectorised likewise) against the same loop
``hinf``  ``mor.hinf_norm(batch)`` (one call: the well-conditioned members in one vectorised level-set
          run, :func:`mor.analysis.norms.hinf_norm` Notes, "Batches") against ``ab13dd`` on every member
``h2``    ``mor.h2_norm(batch)`` (one call, the modal members vectorised) against ``ab13bd`` on every member

Each pair are timed interleaved in one process (each round calls each once; the ratio is the
median of the per-round ratios) and the load average of the machine is printed with them.

The ``floor`` lines time, per member, the LAPACK work that a method of each kind cannot avoid
(and the pieces of the modal route as built: ``eig`` with vectors, ``inv`` of the eigenvector
matrix, the SVD of the complex ``n x n`` product of the modal Gramian factors),
with numpy's batched (gufunc) routines, which call LAPACK once per matrix: an eigenvalue or
Schur decomposition of ``A``, the SVD of the ``n x n`` product of the Gramian factors (values only:
the error bound sums them all), and one eigenvalue computation of the ``2n x 2n`` Hamiltonian (the
level-set certificate of the H-infinity norm).  SLICOT's time over their sum is the largest
speed-up any square-root balanced truncation (any level-set H-infinity method) that takes them
could reach on this CPU, however its recurrences are vectorised.

Checks: the largest relative difference of mor's 4 leading Hankel singular values from SLICOT's
and of the H-infinity norms from ab13dd's, over all members; members' results equal to the
one-system calls.

``--cpu-time``: CPU seconds of this process instead of wall time (steadier ratios on a loaded machine).

Run:  python benchmarks/bench_batched.py [--systems 1000] [--states 16] [--rounds 3] [--cpu-time]
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import interleaved, median_time  # pins one BLAS thread: must precede numpy

# isort: split
import argparse
import os
import platform
import time
import warnings

import numpy as np
import scipy.linalg as sla

import mor
from mor.gramians.batched_modal import modal_factors, modal_form

try:
    import slycot
except ImportError:  # pragma: no cover
    slycot = None


def make_batch(K: int, n: int, seed: int = 0) -> mor.BatchedLTI:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((K, n, n)) / np.sqrt(n)
    shift = np.linalg.eigvals(A).real.max(axis=-1) + rng.uniform(0.1, 0.6, K)
    A = A - shift[:, None, None] * np.eye(n)
    return mor.BatchedLTI(A, rng.standard_normal((K, n, 1)), rng.standard_normal((K, 1, n)))


def ab09ad_loop(batch: mor.BatchedLTI, r: int) -> np.ndarray:
    n = batch.n
    out = []
    for A, B, C in zip(batch.A, batch.B, batch.C, strict=True):
        res = slycot.ab09ad("C", "B", "N", n, 1, 1, A.copy(order="F"), B.copy(order="F"), C.copy(order="F"),
                            nr=r, tol=0.0)  # fmt: skip
        out.append(res[-1][:r])
    return np.array(out)


def ab13dd_loop(batch: mor.BatchedLTI) -> np.ndarray:
    n = batch.n
    E = np.eye(n)
    return np.array([
        slycot.ab13dd("C", "I", "N", "Z", n, 1, 1, A.copy(order="F"), E, B.copy(order="F"), C.copy(order="F"),
                      np.zeros((1, 1)), tol=1e-10)[0]
        for A, B, C in zip(batch.A, batch.B, batch.C, strict=True)
    ])  # fmt: skip


def ab13bd_loop(batch: mor.BatchedLTI) -> np.ndarray:
    """SLICOT's H2 norm (``ab13bd``, from the Gramian's Cholesky factor) of every member."""
    n, D = batch.n, np.zeros((1, 1))
    return np.array([
        slycot.ab13bd("C", "H", n, 1, 1, A.copy(order="F"), B.copy(order="F"), C.copy(order="F"), D)
        for A, B, C in zip(batch.A, batch.B, batch.C, strict=True)
    ])  # fmt: skip


def hamiltonians(batch: mor.BatchedLTI, gamma: np.ndarray) -> np.ndarray:
    A, B, C = batch.A, batch.B / np.sqrt(gamma)[:, None, None], batch.C / np.sqrt(gamma)[:, None, None]
    top = np.concatenate([A, B @ np.swapaxes(B, -1, -2)], axis=-1)
    bottom = np.concatenate([-np.swapaxes(C, -1, -2) @ C, -np.swapaxes(A, -1, -2)], axis=-1)
    return np.concatenate([top, bottom], axis=-2)


def floors(batch: mor.BatchedLTI, rounds: int, clock) -> tuple[dict[str, float], dict[str, float]]:
    """Seconds per member of the pieces (each over the whole batch, numpy's gufuncs), timed interleaved
    with the two SLICOT loops; returns the medians and the per-round ratios to the ``ab09ad`` loop."""
    K, A = batch.size, batch.A
    M = np.random.default_rng(1).standard_normal(A.shape)
    modal = modal_form(batch)  # the route's own matrices: the eigenvectors and S~^H R~ of the modal members
    Rt, St = modal_factors(modal)
    Mc = np.conj(np.swapaxes(St, -1, -2)) @ Rt
    k = int(modal.ok.sum())
    H = hamiltonians(batch, np.ones(K))
    pieces = {
        "ab09ad loop": lambda: ab09ad_loop(batch, 4),
        "ab13dd loop": lambda: ab13dd_loop(batch),
        "eig(A) with vectors (numpy, batched)": lambda: np.linalg.eig(A),
        "eigvals(A) (numpy, batched)": lambda: np.linalg.eigvals(A),
        "real Schur of A (scipy, a loop)": lambda: [sla.schur(a, check_finite=False) for a in A],
        "svd of n x n, values only (batched)": lambda: np.linalg.svd(M, compute_uv=False),
        "svd of n x n, with vectors (batched)": lambda: np.linalg.svd(M),
        "svd of S~^H R~ (complex), values only": lambda: np.linalg.svd(Mc, compute_uv=False),
        "svd of S~^H R~ (complex), with vectors": lambda: np.linalg.svd(Mc),
        "inv of the eigenvector matrix X (complex)": lambda: np.linalg.inv(modal.X),
        "qr of n x n (batched)": lambda: np.linalg.qr(M),
        "solve n x n (batched)": lambda: np.linalg.solve(A, M),
        "matmul n x n (batched)": lambda: A @ M,
        "eigvals of the 2n x 2n Hamiltonian (batched)": lambda: np.linalg.eigvals(H),
    }
    med, ratio, _ = interleaved(rounds, pieces, clock=clock)
    route = ("svd of S~^H R~ (complex), values only", "svd of S~^H R~ (complex), with vectors",
             "inv of the eigenvector matrix X (complex)")  # fmt: skip
    for name in route:  # over the k modal members only: per member, and as the whole batch's share
        ratio[name] *= K / k
    return {name: v / (k if name in route else K) for name, v in med.items()}, ratio


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--systems", type=int, default=1000)
    ap.add_argument("--states", type=int, default=16)
    ap.add_argument("--order", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpu-time", action="store_true", help="CPU time of this process instead of wall time")
    args = ap.parse_args(argv)
    clock = time.process_time if args.cpu_time else time.perf_counter
    K, n, r = args.systems, args.states, args.order
    batch = make_batch(K, n)
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, 1 BLAS thread; "
          f"{K} real SISO systems, n = {n}, r = {r}; {'CPU' if args.cpu_time else 'wall'} time; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    us = 1e6 / K
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # AccuracyWarnings of ill-conditioned members are not timed apart
        if slycot is None:
            t_bt = median_time(args.rounds, mor.balanced_truncation, batch, r)[0]
            print(f"mor balanced_truncation (one call): {t_bt * us:8.1f} us/system; slycot not installed")
            return 0
        t, ratio, out = interleaved(
            args.rounds, {"mor": lambda: mor.balanced_truncation(batch, r), "ab09ad": lambda: ab09ad_loop(batch, r)},
            clock=clock,
        )
        hsv_diff = np.max(np.abs(out["mor"].hsv[:, :r] - out["ab09ad"]) / out["mor"].hsv[:, :1])
        share = float(np.mean(out["mor"].modal))
        print(f"bt:   mor {t['mor'] * us:8.1f} us/system, ab09ad loop {t['ab09ad'] * us:7.1f} us/system, "
              f"ab09ad/mor = {ratio['ab09ad']:.3g}x (target 10x); max |hsv - ab09ad| / sigma_1 = {hsv_diff:.1e}; "
              f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
        th, ratio_h, _ = interleaved(
            args.rounds,
            {"mor": lambda: mor.hankel_singular_values(batch), "ab09ad": lambda: ab09ad_loop(batch, r)},
            clock=clock,
        )
        print(
            f"hsv:  mor {th['mor'] * us:8.1f} us/system, ab09ad loop {th['ab09ad'] * us:7.1f} us/system, "
            f"ab09ad/mor = {ratio_h['ab09ad']:.3g}x; members vectorised by bt: {share:.1%}"
        )
        t2, ratio2, out2 = interleaved(
            args.rounds, {"mor": lambda: mor.hinf_norm(batch), "ab13dd": lambda: ab13dd_loop(batch)}, clock=clock
        )
        rel = np.max(np.abs(out2["mor"] - out2["ab13dd"]) / out2["ab13dd"])
        print(f"hinf: mor {t2['mor'] * us:8.1f} us/system, ab13dd loop {t2['ab13dd'] * us:7.1f} us/system, "
              f"ab13dd/mor = {ratio2['ab13dd']:.3g}x (target 5x); max rel. diff {rel:.1e}; "
              f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
        t3, ratio3, out3 = interleaved(
            args.rounds, {"mor": lambda: mor.h2_norm(batch), "ab13bd": lambda: ab13bd_loop(batch)}, clock=clock
        )
        rel = np.max(np.abs(out3["mor"] - out3["ab13bd"]) / out3["ab13bd"])
        print(f"h2:   mor {t3['mor'] * us:8.1f} us/system, ab13bd loop {t3['ab13bd'] * us:7.1f} us/system, "
              f"ab13bd/mor = {ratio3['ab13bd']:.3g}x; max rel. diff {rel:.1e}")  # fmt: skip
    f, share = floors(batch, args.rounds, clock)
    print(f"floors, interleaved with the SLICOT loops ({args.rounds} rounds; load {os.getloadavg()[0]:.1f}):")
    for name, sec in f.items():
        print(f"  {name:46s} {sec * 1e6:8.1f} us/system = {share[name]:6.3f} of ab09ad, "
              f"{share[name] / share['ab13dd loop']:6.3f} of ab13dd")  # fmt: skip
    sv = share["svd of n x n, values only (batched)"]
    schur, eig = share["real Schur of A (scipy, a loop)"], share["eigvals(A) (numpy, batched)"]
    ham = share["eigvals of the 2n x 2n Hamiltonian (batched)"] / share["ab13dd loop"]
    print(
        "ceiling of ab09ad/mor for a square-root BT that takes a Schur form and the SVD values: "
        f"{1 / (schur + sv):.2g}x; "
        f"an eigendecomposition (values only) and the SVD values: {1 / (eig + sv):.2g}x"
    )
    inv = share["inv of the eigenvector matrix X (complex)"]
    cval = share["svd of S~^H R~ (complex), values only"]
    cvec = share["svd of S~^H R~ (complex), with vectors"]
    eigv = share["eig(A) with vectors (numpy, batched)"]
    print(
        "ceiling of ab09ad/mor for the modal route as built (eig with vectors, inv of X, complex SVD of S~^H R~): "
        f"hsv {1 / (eigv + inv + cval):.2g}x, bt {1 / (eigv + inv + cvec):.2g}x"
    )
    print(f"ceiling of ab13dd/mor for a level-set method with one Hamiltonian eigenvalue test: {1 / ham:.2g}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
