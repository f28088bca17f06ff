"""Accuracy of Hankel singular values on diagonal systems against mpmath ground truth.

Reads ``tests/data/hsv_truth_*.npz`` (written by ``benchmarks/hsv_truth.py``) and reports the
relative error ``|sigma_i - sigma_i^true| / sigma_i^true`` of every value (a value returned as
zero counts as error 1) for:

``mor``          ``mor.hankel_singular_values`` on the batched :class:`~mor.DiagonalLTI` (one call
                 per file: pivoted Cholesky of the Cauchy-like Gramians from their generators, then
                 the SVD of ``L_Q^H L_P`` in pivot order)
``mor rtol=0``   the same structured algorithm with pivoting run to completion
                 (``mor.cauchy.cauchy_cholesky(..., rtol=0)`` + ``mor.hankel.factor_svd``)
``dense``        dense square root: ``mor.gramians(sys.to_dense(), factor=True)`` (factors by
                 Hammarling's method on the Schur form), SVD of ``S^H R``
``dense scipy``  the same with ``method="scipy"`` (scipy's Bartels-Stewart Gramians, factors from
                 their Hermitian eigendecompositions)
``eig(PQ)``      ``sqrt(|eig(P Q)|)`` from the dense Gramians (what ``control.hsvd`` does)
``slycot``       slycot ``ab09ad`` (job 'B', equil 'N') on the realification: states
                 ``[Re x; Im x]``, inputs ``[Re u; Im u]``, outputs ``[Re y; Im y]``, i.e.
                 ``phi(M) = [[Re M, -Im M], [Im M, Re M]]`` applied to ``A``, ``B`` and ``C``

Realification and Hankel singular values: ``phi`` is a real *-algebra homomorphism
(``phi(XY) = phi(X) phi(Y)``, ``phi(X^H) = phi(X)^T``), so ``phi(P)`` and ``phi(Q)`` solve the
Lyapunov equations of the realified system, and ``phi(P) phi(Q) = phi(P Q)`` has the eigenvalues
of ``P Q`` each twice (``phi(M)`` is similar to ``diag(M, conj(M))``).  The 2N-state realification
with 2 inputs and 2 outputs therefore has every Hankel singular value of ``G`` twice; the script
checks this on the largest values and compares slycot's ``hsv[0::2]``.  The single-input
realification ``y = [Re Cx; Im Cx]`` driven by a real ``u`` (or the DSS output ``y = Re(C x)``) has
different Hankel singular values in general (its controllability Gramian is
``(phi(P) + J phi(conj P) J^T) / 2``-like, not ``phi(P)``).

Run:  python benchmarks/bench_hsv_accuracy.py [--detail FAMILY_KIND] [--no-slycot]
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common  # noqa: F401  (pins one BLAS thread: must precede numpy)

# isort: split
import argparse
import warnings

import numpy as np
from hsv_truth import DATA_DIR, load_truth

import mor
from mor.gramians.hankel import factor_svd
from mor.linalg.cauchy import cauchy_cholesky

try:
    import slycot

    HAVE_SLYCOT = True
except ImportError:  # pragma: no cover
    HAVE_SLYCOT = False


def realify(M: np.ndarray) -> np.ndarray:
    """``phi(M) = [[Re M, -Im M], [Im M, Re M]]``."""
    return np.block([[M.real, -M.imag], [M.imag, M.real]])


def hsv_structured_full(sys: mor.DiagonalLTI) -> np.ndarray:
    """Structured HSVs with pivoting to completion (no relative stopping tolerance)."""
    if sys.dt is None:
        xp, xq = -sys.poles, -np.conj(sys.poles)
    else:
        xp, xq = sys.log_poles, np.conj(sys.log_poles)
    R = cauchy_cholesky(xp, sys.B, discrete=sys.dt is not None, rtol=0.0)
    S = cauchy_cholesky(xq, np.conj(np.swapaxes(sys.C, -1, -2)), discrete=sys.dt is not None, rtol=0.0)
    s = factor_svd(R, S, compute_uv=False)
    out = np.zeros(sys.batch_shape + (sys.n,))
    out[..., : s.shape[-1]] = s[..., : sys.n]
    return out


def hsv_dense(one: mor.DiagonalLTI, method: str | None) -> np.ndarray:
    return mor.hankel_singular_values(one.to_dense(), method=method)


def hsv_eig(one: mor.DiagonalLTI) -> np.ndarray:
    P, Q = mor.gramians(one.to_dense())
    ev = np.linalg.eigvals(P @ Q)
    return np.sort(np.sqrt(np.abs(ev.real)))[::-1]


def hsv_slycot(one: mor.DiagonalLTI) -> np.ndarray:
    d = one.to_dense()
    A, B, C = realify(d.A), realify(d.B), realify(d.C)
    n, m, p = A.shape[0], B.shape[1], C.shape[0]
    dico = "C" if d.dt is None else "D"
    with warnings.catch_warnings():  # "order greater than the minimal realisation": expected here
        warnings.simplefilter("ignore")
        out = slycot.ab09ad(dico, "B", "N", n, m, p, A.copy(order="F"), B.copy(order="F"),
                            C.copy(order="F"), nr=n, tol=0.0)
    hsv = np.asarray(out[-1])
    return hsv[0::2]


def rel_err(h: np.ndarray, truth: np.ndarray) -> np.ndarray:
    h = np.nan_to_num(np.asarray(h, float), nan=np.inf)
    return np.abs(h - truth) / truth


def check_realification(one: mor.DiagonalLTI) -> float:
    """Largest relative mismatch between the leading HSVs of G (each twice) and of phi(G)."""
    d = one.to_dense()
    h = mor.hankel_singular_values(d)
    hr = mor.hankel_singular_values(mor.LTI(realify(d.A), realify(d.B), realify(d.C), None, d.dt))
    k = int(np.sum(h > 1e-4 * h[0]))  # dense path: accurate on the leading values only
    return float(np.max(np.abs(hr[: 2 * k : 2] - h[:k]) / h[:k]) + np.max(np.abs(hr[1 : 2 * k : 2] - h[:k]) / h[:k]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--detail", default="s4d_lin_graded_ct", help="file stem after hsv_truth_ for the per-index table")
    ap.add_argument("--no-slycot", action="store_true")
    args = ap.parse_args(argv)
    use_slycot = HAVE_SLYCOT and not args.no_slycot

    files = sorted(DATA_DIR.glob("hsv_truth_*.npz"))
    if not files:
        print(f"no truth files in {DATA_DIR}; run benchmarks/hsv_truth.py first")
        return 1
    methods = ["mor", "mor rtol=0", "dense", "dense scipy", "eig(PQ)"] + (["slycot"] if use_slycot else [])
    print("relative error of every Hankel singular value vs mpmath truth (N=64); max / median over values\n")
    head = f"{'file':24s} {'K':>2s} {'min s/s1':>8s} | " + " | ".join(f"{m:^17s}" for m in methods)
    print(head)
    print("-" * len(head))
    detail = None
    realif = []
    for path in files:
        d = load_truth(path)
        sysb, truth = d["system"], d["hsv"]
        K = truth.shape[0]
        errs = {m: [] for m in methods}
        errs["mor"] = rel_err(mor.hankel_singular_values(sysb), truth)
        errs["mor rtol=0"] = rel_err(hsv_structured_full(sysb), truth)
        per = {m: [] for m in methods[2:]}
        for i in range(K):
            one = sysb[i]
            per["dense"].append(rel_err(hsv_dense(one, None), truth[i]))
            per["dense scipy"].append(rel_err(hsv_dense(one, "scipy"), truth[i]))
            per["eig(PQ)"].append(rel_err(hsv_eig(one), truth[i]))
            if use_slycot:
                per["slycot"].append(rel_err(hsv_slycot(one), truth[i]))
            realif.append(check_realification(one))
        for m in methods[2:]:
            errs[m] = np.array(per[m])
        stem = path.stem.removeprefix("hsv_truth_")
        cells = [f"{np.max(errs[m]):8.1e} {np.median(errs[m]):8.1e}" for m in methods]
        print(f"{stem:24s} {K:2d} {np.min(truth[:, -1] / truth[:, 0]):8.0e} | " + " | ".join(cells))
        if stem == args.detail:
            detail = (stem, truth[0], {m: errs[m][0] for m in methods})
    print(f"\nrealification check: max relative mismatch of the HSVs >= 1e-4 sigma_1 of phi(G) (each twice) "
          f"vs G: {max(realif):.1e}")
    if detail is not None:
        stem, t, e = detail
        print(f"\nper index, {stem} system #0 (relative errors)")
        print(f"{'i':>3s} {'sigma_i/sigma_1':>15s} " + " ".join(f"{m:>11s}" for m in methods))
        for i in range(len(t)):
            print(f"{i:3d} {t[i] / t[0]:15.3e} " + " ".join(f"{e[m][i]:11.1e}" for m in methods))
    return 0


if __name__ == "__main__":
    sys.exit(main())
