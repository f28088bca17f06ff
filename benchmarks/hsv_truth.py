"""Ground-truth Hankel singular values of diagonal SISO systems, computed with mpmath.

Four families of ``N = 64`` complex modes, each with ``B = 1`` and a random complex ``C``
(fixed seeds), in continuous time and zero-order-hold discretised (steps 0.01 .. 0.1)::

    s4d_lin     lambda_n = -1/2 + i pi n                                   n = 0 .. N-1
    s4d_inv     lambda_n = -1/2 + i (N/pi) (N/(2n+1) - 1)                   n = 0 .. N-1
    skew_hippo  -1/2 + i w_n, w_n > 0 the eigenvalues (/i) of the skew part of the 2N x 2N
                HiPPO-LegS matrix, Hm_ij = sqrt((2i+1)(2j+1)) for i > j
    trained     lambda_n = -10^U(-3, 1) + i 10^U(-1, 3)   (decay rates spread over four decades)
    trained_wide  lambda_n = -10^U(-4, 2) + i 10^U(-1, 1) (six decades, slower oscillations)
    s4d_lin_graded  S4D-Lin poles with a graded C: |C_n| = 10^-U(0, 32), uniform phase
                (nearly decoupled modes whose Hankel singular values follow |C_n|)

Measured spans sigma_N / sigma_1 (continuous): S4D-Lin ~1e-2, Skew-HiPPO ~1e-3, S4D-Inv ~1e-10,
trained 1e-10 .. 1e-25 (seed dependent), trained_wide ~1e-23 .. 1e-30, s4d_lin_graded ~1e-32:
the first three families are well conditioned with B = 1 and a random C; the last three carry
the very small values.

Discrete systems: ``mu = lambda * dt`` (``z = exp(mu)``), ``Bbar = (exp(lambda dt) - 1) / lambda``,
both rounded to float64 once; those float64 numbers are the system.

The ground truth treats the stored float64 inputs as exact and works at ``dps`` decimal
digits (mpmath):

1. Gramians entry by entry from their closed forms (``x = -lambda``)::

       continuous  P_ij = b_i conj(b_j) / (x_i + conj(x_j)),      Q_ij = conj(c_i) c_j / (conj(x_i) + x_j)
       discrete    P_ij = b_i conj(b_j) / (1 - exp(mu_i + conj(mu_j))),
                   Q_ij = conj(c_i) c_j / (1 - exp(conj(mu_i) + mu_j))

   each entry to relative error ~u = 10^-dps;
2. Cholesky ``P = L L^H`` (unpivoted; raises if ``P`` is numerically indefinite at this precision);
3. ``M = L^H Q L`` (Hermitian positive definite, similar to ``P Q``), and its eigenvalues by
   ``mpmath.eighe``: ``sigma_i = sqrt(lambda_i(M))``.

Why this is a valid reference although it squares the condition (it uses ``P Q``, not factors):
every step is backward stable, so the computed eigenvalues are exact for ``P + E_P``, ``Q + E_Q``
and ``M + E_M`` with ``||E_P|| <= c n u ||P||`` and so on.  Weyl's inequality for the Hermitian
matrix ``Q^(1/2) P Q^(1/2)`` (same eigenvalues as ``M``) then bounds the absolute error of each
``sigma_i^2`` by about ``c n^2 u ||P|| ||Q||``, i.e. the relative error of ``sigma_i`` by::

    bound_i = c n^2 u ||P|| ||Q|| / (2 sigma_i^2)            (c = 10 here, generous)

``dps`` is chosen so that ``bound_i <= 1e-20`` for every ``i`` (at least 100 digits; the starting
guess comes from a float64 estimate of ``sigma_min``, the bound is then evaluated in mp), and the whole
computation is repeated with ``dps + 30`` digits: the two results must agree to ``1e-20`` relative
in every value.  The stored float64 truths are therefore correctly rounded up to 1e-16.
Precision has to be generous: ``sigma_min / sigma_1`` reaches ~1e-40 in these families, so
``sigma_min^2`` sits 80 digits below ``||P|| ||Q||``.

Files: ``tests/data/hsv_truth_<family>_<kind>.npz`` (``kind`` is ``ct`` or ``dt``), arrays:
``poles`` (continuous) or ``mu`` (discrete) ``(K, N)`` complex, ``B`` ``(K, N)`` complex, ``C``
``(K, N)`` complex, ``dt`` ``(K,)`` (the ZOH steps, information only: ``mu`` already holds them),
``hsv`` ``(K, N)`` float64 (decreasing), ``bound`` ``(K, N)`` (the a-priori relative error bound
above, at the final precision), ``agreement`` ``(K, N)`` (relative difference between the two
precisions), ``dps`` ``(K,)``; and the strings ``family``, ``kind``.

Run:  python benchmarks/hsv_truth.py [--families s4d_lin ...] [--kinds ct dt] [--count 3] [--jobs 2]
(about 10 minutes on 2 cores; ``pip install gmpy2`` makes mpmath several times faster).
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import mpmath
import numpy as np

N = 64
FAMILIES = ("s4d_lin", "s4d_inv", "skew_hippo", "trained", "trained_wide", "s4d_lin_graded")
KINDS = ("ct", "dt")
STEPS = (0.01, 0.1, 0.0316)  # one ZOH step per system of a family (cycled)
DATA_DIR = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"
_SEEDS = {"s4d_lin": 11, "s4d_inv": 22, "skew_hippo": 33, "trained": 44, "trained_wide": 55, "s4d_lin_graded": 66}


# ----------------------------------------------------------------------------- the systems
def skew_hippo_poles(n: int) -> np.ndarray:
    """``-1/2 + i w`` for the ``n`` eigenvalues ``i w`` (``w > 0``) of the skew part of HiPPO-LegS (2n)."""
    k = np.arange(2 * n)
    Hm = np.sqrt(np.outer(2 * k + 1, 2 * k + 1))
    Hm = np.tril(Hm, -1)  # Hm_ij = sqrt((2i+1)(2j+1)) for i > j, zero elsewhere
    S = (Hm - Hm.T) / 2
    w = np.linalg.eigvalsh(1j * S)  # S is real skew: eigenvalues i*w with w real; 1j*S is Hermitian
    w = np.sort(w[w > 0])
    if w.size != n:  # pragma: no cover - S has no zero eigenvalue for even size
        raise RuntimeError(f"expected {n} positive frequencies, got {w.size}")
    return -0.5 + 1j * w


def family_poles(family: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Continuous-time poles of one member of ``family`` (``rng`` used by ``trained`` only)."""
    k = np.arange(n)
    if family in ("s4d_lin", "s4d_lin_graded"):
        return -0.5 + 1j * np.pi * k
    if family == "s4d_inv":
        return -0.5 + 1j * (n / np.pi) * (n / (2 * k + 1) - 1)
    if family == "skew_hippo":
        return skew_hippo_poles(n)
    if family == "trained":
        return -(10.0 ** rng.uniform(-3, 1, n)) + 1j * 10.0 ** rng.uniform(-1, 3, n)
    if family == "trained_wide":
        return -(10.0 ** rng.uniform(-4, 2, n)) + 1j * 10.0 ** rng.uniform(-1, 1, n)
    raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")


def make_systems(family: str, kind: str, count: int, n: int = N) -> dict[str, np.ndarray]:
    """The float64 inputs of ``count`` systems: ``nodes`` (poles or mu), ``B``, ``C``, ``dt``."""
    from mor.systems.discretize import expm1_ratio

    rng = np.random.default_rng([_SEEDS[family], KINDS.index(kind)])
    nodes, Bs, Cs, dts = [], [], [], []
    for i in range(count):
        lam = family_poles(family, n, rng)
        if family == "s4d_lin_graded":
            C = 10.0 ** -rng.uniform(0, 32, n) * np.exp(2j * np.pi * rng.uniform(0, 1, n))
        else:
            C = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)
        B = np.ones(n, dtype=complex)
        if kind == "ct":
            nodes.append(lam)
            dts.append(0.0)
        else:
            dt = STEPS[i % len(STEPS)]
            nodes.append(lam * dt)
            B = expm1_ratio(lam, dt) * B
            dts.append(dt)
        Bs.append(B)
        Cs.append(C)
    return {"nodes": np.array(nodes), "B": np.array(Bs), "C": np.array(Cs), "dt": np.array(dts)}


# ----------------------------------------------------------------------------- mp ground truth
def _mpc(z: complex) -> mpmath.mpc:
    return mpmath.mpc(float(np.real(z)), float(np.imag(z)))  # exact: float64 -> mpf


def _norm2_bound(M: mpmath.matrix) -> mpmath.mpf:
    """Frobenius norm, an upper bound of the spectral norm."""
    return mpmath.sqrt(mpmath.fsum(abs(M[i, j]) ** 2 for i in range(M.rows) for j in range(M.cols)))


def mp_gramians(nodes: np.ndarray, b: np.ndarray, c: np.ndarray, discrete: bool):
    """Gramians ``P``, ``Q`` of one diagonal SISO system at the current mpmath precision."""
    n = len(nodes)
    x = [_mpc(v) for v in nodes]
    bb = [_mpc(v) for v in b]
    cc = [_mpc(v) for v in c]
    P = mpmath.matrix(n, n)
    Q = mpmath.matrix(n, n)
    one = mpmath.mpf(1)
    for i in range(n):
        for j in range(i, n):
            if discrete:  # x = mu
                dp = one - mpmath.exp(x[i] + mpmath.conj(x[j]))
                dq = one - mpmath.exp(mpmath.conj(x[i]) + x[j])
            else:  # x = lambda: -(lambda_i + conj(lambda_j))
                dp = -(x[i] + mpmath.conj(x[j]))
                dq = -(mpmath.conj(x[i]) + x[j])
            P[i, j] = bb[i] * mpmath.conj(bb[j]) / dp
            Q[i, j] = mpmath.conj(cc[i]) * cc[j] / dq
            P[j, i] = mpmath.conj(P[i, j])
            Q[j, i] = mpmath.conj(Q[i, j])
    return P, Q


def mp_hsv(nodes, b, c, discrete: bool, dps: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Hankel singular values at ``dps`` digits: float64 values, relative bounds, and mp values."""
    with mpmath.workdps(dps):
        P, Q = mp_gramians(nodes, b, c, discrete)
        L = mpmath.cholesky(P)  # raises ValueError if P is not numerically positive definite
        M = L.H * Q * L
        for i in range(M.rows):  # exact Hermitian symmetrisation (rounding made it slightly not)
            M[i, i] = mpmath.mpf(mpmath.re(M[i, i]))
            for j in range(i + 1, M.cols):
                M[i, j] = (M[i, j] + mpmath.conj(M[j, i])) / 2
                M[j, i] = mpmath.conj(M[i, j])
        ev = mpmath.eighe(M, eigvals_only=True)
        ev = sorted((mpmath.re(e) for e in ev), reverse=True)
        if ev[-1] <= 0:
            raise ValueError(f"non-positive eigenvalue {mpmath.nstr(ev[-1], 5)} at dps={dps}")
        s = [mpmath.sqrt(e) for e in ev]
        n = len(s)
        scale = 10 * n * n * mpmath.mpf(10) ** (-dps) * _norm2_bound(P) * _norm2_bound(Q)
        bound = [float(scale / (2 * e)) for e in ev]
        return np.array([float(v) for v in s]), np.array(bound), s


def _float64_estimate(nodes, b, c, discrete: bool) -> float:
    """Rough ``log10(||P|| ||Q|| / sigma_min^2)`` in float64 (only to pick a starting precision)."""
    from mor import DiagonalLTI, gramians
    from mor.gramians.hankel import factor_svd
    from mor.linalg.cauchy import cauchy_cholesky

    if discrete:
        sys_ = DiagonalLTI.from_log_poles(nodes, b[:, None], c[None, :], None, 1.0)
        xp, xq = nodes, np.conj(nodes)
    else:
        sys_ = DiagonalLTI(nodes, b[:, None], c[None, :])
        xp, xq = -nodes, -np.conj(nodes)
    P, Q = gramians(sys_)
    R = cauchy_cholesky(xp, b[:, None], discrete=discrete, rtol=0.0)
    S = cauchy_cholesky(xq, np.conj(c)[:, None], discrete=discrete, rtol=0.0)
    s = factor_svd(R, S, compute_uv=False)
    smin = s[s > 0].min() if np.any(s > 0) else 1e-300
    return float(np.log10(np.linalg.norm(P) * np.linalg.norm(Q) / smin**2))


def required_dps(nodes, b, c, discrete: bool, target: float = 1e-20, start: int = 100) -> int:
    """A precision (>= ``start`` digits) whose a-priori bound meets ``target`` for every value.

    Starts from a float64 estimate of ``||P|| ||Q|| / sigma_min^2`` (plus 15 digits of margin);
    the bound itself is evaluated in mp by :func:`truth_one`, which raises the precision if needed.
    """
    n = len(nodes)
    need = math.log10(10 * n * n / 2) + _float64_estimate(nodes, b, c, discrete) - math.log10(target)
    return max(start, math.ceil(need) + 15)


def truth_one(args) -> dict:
    """Ground truth for one system: ``args = (nodes, b, c, discrete)``."""
    nodes, b, c, discrete = args
    t0 = time.perf_counter()
    dps = required_dps(nodes, b, c, discrete)
    while True:
        try:
            hsv, bound, s1 = mp_hsv(nodes, b, c, discrete, dps)
        except (ValueError, ZeroDivisionError):  # P numerically indefinite at this precision
            dps += 40
            continue
        if bound.max() <= 1e-20:
            break
        dps += math.ceil(math.log10(bound.max() / 1e-20)) + 10
    _, _, s2 = mp_hsv(nodes, b, c, discrete, dps + 30)
    with mpmath.workdps(dps + 30):
        agreement = np.array([float(abs(u - v) / v) for u, v in zip(s1, s2, strict=True)])
    if agreement.max() > 1e-20:
        raise RuntimeError(f"precisions {dps} and {dps + 30} disagree: {agreement.max():.2e}")
    return {"hsv": hsv, "bound": bound, "agreement": agreement, "dps": dps, "seconds": time.perf_counter() - t0}


def _write(family: str, kind: str, sysd: dict, results: list[dict]) -> pathlib.Path:
    discrete = kind == "dt"
    out = {
        ("mu" if discrete else "poles"): sysd["nodes"],
        "B": sysd["B"],
        "C": sysd["C"],
        "dt": sysd["dt"],
        "hsv": np.array([r["hsv"] for r in results]),
        "bound": np.array([r["bound"] for r in results]),
        "agreement": np.array([r["agreement"] for r in results]),
        "dps": np.array([r["dps"] for r in results]),
        "family": np.array(family),
        "kind": np.array(kind),
    }
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"hsv_truth_{family}_{kind}.npz"
    np.savez_compressed(path, **out)
    for i, r in enumerate(results):
        h = r["hsv"]
        print(
            f"{family:>14s} {kind} #{i}: dps={r['dps']:3d}  sigma_N/sigma_1={h[-1] / h[0]:.1e}  "
            f"bound<={r['bound'].max():.1e}  agreement<={r['agreement'].max():.1e}  ({r['seconds']:.0f} s)",
            flush=True,
        )
    print(f"wrote {path} ({path.stat().st_size} bytes)", flush=True)
    return path


def build(families, kinds, count: int, jobs: int) -> list[pathlib.Path]:
    """Compute and write the truth files of ``families`` x ``kinds`` (``count`` systems each)."""
    jobs_list = [(f, k, make_systems(f, k, count)) for f in families for k in kinds]
    tasks = [
        (sysd["nodes"][i], sysd["B"][i], sysd["C"][i], k == "dt") for _, k, sysd in jobs_list for i in range(count)
    ]
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as ex:
            results = list(ex.map(truth_one, tasks))
    else:
        results = [truth_one(t) for t in tasks]
    return [
        _write(f, k, sysd, results[j * count : (j + 1) * count]) for j, (f, k, sysd) in enumerate(jobs_list)
    ]


def load_truth(path) -> dict[str, np.ndarray]:
    """Read a truth file; returns the arrays plus a ready ``mor.DiagonalLTI`` batch under ``"system"``."""
    from mor import DiagonalLTI

    with np.load(path, allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    B = d["B"][..., :, None]
    C = d["C"][..., None, :]
    if str(d["kind"]) == "dt":
        # per-member steps are already folded into mu; the sampling period does not change the HSVs
        d["system"] = DiagonalLTI.from_log_poles(d["mu"], B, C, None, 1.0)
    else:
        d["system"] = DiagonalLTI(d["poles"], B, C)
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--count", type=int, default=2, help="systems per family and kind")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    args = ap.parse_args(argv)
    build(args.families, args.kinds, args.count, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
