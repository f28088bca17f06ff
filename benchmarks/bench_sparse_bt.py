"""Large sparse balanced truncation: ``mor`` (low-rank route) against pyMOR's ``BTReductor``.

Part 1, speed and quality (both libraries in one process, runs interleaved, medians of repeats):
the generated 2-D convection-diffusion model (``mor.models.convection_diffusion_2d(m)``: central
finite differences on an ``m x m`` grid, 2 inputs, 2 outputs) at n = 10^4, 4 x 10^4, 10^5, reduced
to orders 8 and 20 from scratch by

``mor``     ``mor.balanced_truncation(sys, r)`` (automatic route: low-rank ADI with shared, reused
            factorisations; certificate included in the time)
``pyMOR``   ``BTReductor(LTIModel.from_matrices(A, B, C)).reduce(r)`` (its default: low-rank ADI with
            projection shifts for each Gramian, 'bfsr' projection; a fresh model per run, so no cache)

and, for every reduced model: the Gramian relative residuals ``||A Z Z^T + Z Z^T A^T + B B^T|| / ||B||^2``
(and for ``Q``), measured by the same code for both (a QR of ``[A Z, Z, B]``); the error bound; the
measured H-infinity error ``max_w sigma_max(G(jw) - G_r(jw))`` over a log grid, the resonances of the
reduced poles and a golden-section refinement around the largest sample (``G`` by one sparse LU per
frequency); stability of the reduced model (pyMOR's: generalised eigenvalues of ``(A, E)``); and
``max |E - I|`` (mor returns plain ``(A, B, C, D)``: ``E = I``).

Part 2, validation on models that fit densely (``--validate``, about 2.5 more minutes): the
low-rank route against SLICOT's dense ``ab09ad`` (through slycot) on the generated stand-ins of
the SLICOT collection at n = 1,400-2,000: leading Hankel singular values, error bounds, reduced
transfer functions, and the automatic fallback to the dense route for the ISS-like model.

pyMOR is an optional benchmark dependency (``.venv/bin/pip install pymor``); without it part 1
times ``mor`` only and says so.  Run:

    python benchmarks/bench_sparse_bt.py [--quick] [--sizes 100 200 316] [--repeats R] [--validate]

``--quick``: n = 10^4 only (under a minute).  The default run (part 1 at all three sizes) takes
about 9 minutes on a 2-core VM under load, most of it pyMOR's runs at n = 10^5.
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import median_time  # pins one BLAS thread: must precede numpy

# isort: split
import argparse
import os
import platform
import time
import warnings

import numpy as np
import scipy
import scipy.linalg as sla

import mor
from mor.models import convection_diffusion_2d, heat_1d, iss_like, spring_chain

try:
    from pymor.core.logger import set_log_levels
    from pymor.models.iosys import LTIModel
    from pymor.reductors.bt import BTReductor

    set_log_levels({"pymor": "WARNING"})
    HAVE_PYMOR = True
except ImportError:  # pragma: no cover - optional
    HAVE_PYMOR = False

try:
    import slycot

    HAVE_SLYCOT = True
except ImportError:  # pragma: no cover - optional
    HAVE_SLYCOT = False

ORDERS = (8, 20)


# --------------------------------------------------------------------------- the two reducers
def run_mor(sys_, r):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mor.AccuracyWarning)  # reported from the certificate instead
        res = mor.balanced_truncation(sys_, r)
    return res


def run_pymor(sys_, r):
    fom = LTIModel.from_matrices(sys_.A.tocsc(), sys_.B, sys_.C)
    red = BTReductor(fom)
    rom = red.reduce(r)
    return fom, red, rom


# --------------------------------------------------------------------------- measurements
def lowrank_residual(A, Z, G, adjoint=False):
    """``||M X + X M^T + G G^T||_2 / ||G||_2^2`` with ``X = Z Z^T``, ``M = A`` (or ``A^T``), via a QR."""
    M = A.T if adjoint else A
    F = np.concatenate([M @ Z, Z, G], axis=1)
    R = sla.qr(F, mode="r")[0][: F.shape[1]]
    k, m = Z.shape[1], G.shape[1]
    J = np.zeros((2 * k + m, 2 * k + m))
    J[:k, k:2 * k] = J[k:2 * k, :k] = np.eye(k)
    J[2 * k:, 2 * k:] = np.eye(m)
    S = R @ J @ R.T
    return float(np.abs(np.linalg.eigvalsh((S + S.T) / 2)).max() / np.linalg.norm(G, 2) ** 2)


class FullResponse:
    """``G(jw)`` of the full sparse model, cached per frequency (one sparse LU each)."""

    def __init__(self, sys_):
        self.sys, self.cache = sys_, {}

    def __call__(self, w):
        w = np.atleast_1d(np.asarray(w, float))
        todo = [x for x in w if x not in self.cache]
        if todo:
            for x, g in zip(todo, mor.frequency_response(self.sys, np.array(todo)), strict=True):
                self.cache[x] = g
        return np.array([self.cache[x] for x in w])


def reduced_response(rom, w):
    """``G_r(jw)`` of ``(A, B, C, D, E)`` matrices (``E = None``: identity)."""
    A, B, C, D, E = rom
    E = np.eye(A.shape[0]) if E is None else E
    G = np.array([C @ np.linalg.solve(1j * x * E - A, B) for x in np.atleast_1d(w)])
    return G if D is None else G + D


def measured_error(full, rom, grid):
    """Max of ``sigma_max(G - G_r)`` over the grid, the reduced resonances and a golden refinement."""
    A, E = rom[0], rom[4]
    poles = sla.eigvals(A, E) if E is not None else np.linalg.eigvals(A)
    w = np.unique(np.concatenate([grid, np.abs(poles.imag)]))
    err = np.linalg.norm(full(w) - reduced_response(rom, w), ord=2, axis=(1, 2))
    i = int(np.argmax(err))
    lo, hi = w[max(i - 1, 0)], w[min(i + 1, len(w) - 1)]
    best_w, best = w[i], err[i]
    phi = (np.sqrt(5) - 1) / 2
    f = lambda x: float(np.linalg.norm(full(x)[0] - reduced_response(rom, x)[0], 2))
    a, b = lo + (1 - phi) * (hi - lo), lo + phi * (hi - lo)
    fa, fb = f(a), f(b)
    for _ in range(6):
        if fa > fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - phi) * (hi - lo)
            fa = f(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + phi * (hi - lo)
            fb = f(b)
        for x, v in ((a, fa), (b, fb)):
            if v > best:
                best_w, best = x, v
    return best, best_w, poles


# --------------------------------------------------------------------------- part 1
def part1(sizes, repeats_arg):
    print("\n== Part 1: convection-diffusion 2-D (v = (20, 10), 2 inputs, 2 outputs), orders 8 and 20")
    if not HAVE_PYMOR:
        print("pyMOR is NOT installed (optional benchmark dependency: `.venv/bin/pip install pymor`): "
              "timing mor alone, no comparison")
    for m in sizes:
        sys_ = convection_diffusion_2d(m)
        n = sys_.n
        repeats = repeats_arg or (3 if n <= 10_000 else 2 if n <= 40_000 else 1)
        full = FullResponse(sys_)
        grid = np.concatenate([[0.0], np.logspace(-1, 4.5, 28)])
        for r in ORDERS:
            tm, tp = [], []
            for _ in range(repeats):  # interleaved: the machine load hits both alike
                t, res = median_time(1, run_mor, sys_, r)
                tm.append(t)
                if HAVE_PYMOR:
                    t, (fom, red, rom) = median_time(1, run_pymor, sys_, r)
                    tp.append(t)
            cert = res.certificate
            g = cert.gramians
            lines = [("mor", float(np.median(tm)), res.error_bound, (res.reduced.A, res.reduced.B, res.reduced.C,
                      res.reduced.D, None), (g.Z, g.Y), f"{g.factorizations} LUs, {g.steps} steps, "
                      f"certified {cert.certified} HSVs to {cert.rtol:g}, bound meaningful: {cert.meaningful}")]
            if HAVE_PYMOR:
                Zp, Yp = fom.gramian("c_lr").to_numpy(), fom.gramian("o_lr").to_numpy()
                Ar, Br, Cr, Dr, Er = rom.to_matrices()
                lines.append(("pyMOR", float(np.median(tp)), float(red.error_bounds()[r - 1]),
                              (Ar, Br, Cr, Dr, Er), (Zp, Yp), f"max|E - I| = {np.abs(Er - np.eye(r)).max():.2e}"))
            print(f"\nn = {n:,}, order {r}, {repeats} interleaved run(s):")
            print(f"  {'':6s} {'time [s]':>9s} {'res P':>9s} {'res Q':>9s} {'bound':>10s} {'error':>10s} "
                  f"{'at w':>8s} {'err<=bnd':>8s} {'stable':>6s} {'E-free':>6s}")
            for name, t, bound, rom_m, (Z, Y), extra in lines:
                rp = lowrank_residual(sys_.A, Z, sys_.B)
                rq = lowrank_residual(sys_.A, Y, sys_.C.T, adjoint=True)
                err, at, poles = measured_error(full, rom_m, grid)
                efree = rom_m[4] is None or np.array_equal(rom_m[4], np.eye(r))
                print(f"  {name:6s} {t:9.2f} {rp:9.1e} {rq:9.1e} {bound:10.3e} {err:10.3e} {at:8.3g} "
                      f"{err <= bound!s:>8s} {bool(np.all(poles.real < 0))!s:>6s} {efree!s:>6s}   {extra}")
            if HAVE_PYMOR:
                print(f"  ratio pyMOR / mor time: {lines[1][1] / lines[0][1]:.2f}")
            sys.stdout.flush()


# --------------------------------------------------------------------------- part 2
def slycot_bt(sys_, r):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nr, Ar, Br, Cr, hsv = slycot.ab09ad("C", "B", "N", sys_.n, sys_.m, sys_.p, sys_.A.toarray(),
                                            sys_.B.copy(), sys_.C.copy(), nr=r, tol=0.0)
    return mor.LTI(Ar[:nr, :nr], Br[:nr], Cr[:, :nr]), hsv


def part2():
    print("\n== Part 2: low-rank route against SLICOT ab09ad (dense) on models that fit densely")
    if not HAVE_SLYCOT:
        print("slycot is not installed: skipped")
        return
    cases = [
        ("heat_1d(2000)", heat_1d(2000), 4),
        ("convection_diffusion_2d(40)", convection_diffusion_2d(40), 8),
        ("spring_chain(700, alpha=beta=0.2)", spring_chain(700, alpha=0.2, beta=0.2), 8),
        ("iss_like(706) [ISS 12A size]", iss_like(706), 20),
    ]
    print(f"  {'model':36s} {'n':>5s} {'route':>34s} {'t mor':>7s} {'t SLICOT':>8s} {'hsv diff':>9s} "
          f"{'bound mor':>10s} {'bound SLICOT':>12s} {'tf diff':>8s} certified")
    w = np.concatenate([[0.0], np.logspace(-2, 4, 50)])
    for name, sys_, r in cases:
        t_m, res = median_time(1, run_mor, sys_, r)
        t_s, (ref, hsv) = median_time(1, slycot_bt, sys_, r)
        k = r + 1
        hdiff = float(np.max(np.abs(res.hsv[:k] - hsv[:k]) / hsv[:k]))
        g_ref = mor.frequency_response(ref, w)
        tdiff = float(np.abs(mor.frequency_response(res.reduced, w) - g_ref).max() / np.abs(g_ref).max())
        cert = "-" if res.certificate is None else f"{res.certificate.certified} ({res.certificate.note[:30]}...)"
        print(f"  {name:36s} {sys_.n:5d} {res.route:>34s} {t_m:7.2f} {t_s:8.2f} {hdiff:9.1e} "
              f"{res.error_bound:10.3e} {2 * hsv[r:].sum():12.3e} {tdiff:8.1e} {cert}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 10^4 only")
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="grid sizes m (n = m^2)")
    ap.add_argument("--repeats", type=int, default=None, help="default 3 / 2 / 1 by size")
    ap.add_argument("--validate", action="store_true", help="also part 2: against SLICOT at n <= 2000")
    args = ap.parse_args(argv)
    sizes = args.sizes or ([100] if args.quick else [100, 200, 316])
    pymor_v = "not installed"
    if HAVE_PYMOR:
        import pymor

        pymor_v = pymor.__version__
    print(f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"mor {mor.__version__}, pyMOR {pymor_v}, {platform.machine()}, {os.cpu_count()} cores, "
          f"1 BLAS thread; load average {os.getloadavg()[0]:.1f} (a shared machine: compare the ratios)")
    t0 = time.perf_counter()
    part1(sizes, args.repeats)
    if args.validate:
        part2()
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
