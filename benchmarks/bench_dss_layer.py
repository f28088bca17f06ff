"""Balanced truncation of one DSS-sized layer: one batched ``mor`` call against a slycot loop.

The layer: ``H = 256`` channels, ``N = 64`` complex modes, poles Skew-HiPPO (``-1/2 + i w``, the
eigenvalues of the skew part of the 2N x 2N HiPPO-LegS matrix; ``--poles s4d_lin`` for
``-1/2 + i pi n``) shared by all channels, per-channel steps ``Delta_h`` log-uniform in
``[1e-3, 1e-1]``, ``B = 1``, random complex ``C`` (seed 0); each channel is discretised by zero-order
hold (``mu = lambda Delta_h``, ``Bbar = (exp(lambda Delta_h) - 1) / lambda``) and reduced to
``r = 16`` modes with discrete Gramians.

``mor``      ``mor.balanced_truncation(batch, 16, method="bfsr")`` on the ``(256,)``-batched
             :class:`~mor.DiagonalLTI`: one call, re-diagonalised reduced layer out
``slycot``   for each channel: the dense realification with states ``[Re x; Im x]`` (128 real
             states, inputs ``[Re u; Im u]``, outputs ``[Re y; Im y]``: every Hankel singular value
             of the complex channel appears twice), ``ab09ad("D", "B", "N", nr=32)``; 32 real states
             carry the same information as 16 complex modes
``slycot re``  the same loop on the DSS real-output system ``u`` real, ``y = Re(C x)``
             (128 states, SISO; different Hankel singular values, same cost class)

The ``floor`` lines time what no square-root method can skip: the SVD of the ``N x N`` product
``S^H R`` of every channel (all ``N`` values, since the error bound sums the tail), on mor's own
factors; ``slycot`` divided by that time bounds the speed-up any such method can reach on this CPU.
mor itself takes the values and only the ``r`` leading vectors (:func:`mor.hankel.leading_factor_svd`);
the ``of which`` lines time its pieces.

One BLAS thread, medians of repeats in one process.  Checks: the largest relative difference
between mor's 16 leading Hankel singular values and slycot's (every other value), over all
channels; the number of unstable reduced poles.

Run:  python benchmarks/bench_dss_layer.py [--channels 256] [--repeats R] [--poles skew_hippo|s4d_lin]
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from _common import interleaved, median_time  # pins one BLAS thread: must precede numpy

# isort: split
import argparse
import platform
import warnings

import numpy as np
from hsv_truth import skew_hippo_poles

import mor
from mor.gramians.hankel import leading_factor_svd

try:
    import slycot

    HAVE_SLYCOT = True
except ImportError:  # pragma: no cover
    HAVE_SLYCOT = False


def make_layer(H: int, N: int, poles: str, seed: int = 0) -> mor.DiagonalLTI:
    """The ZOH-discretised layer as a ``(H,)``-batched discrete DiagonalLTI (steps folded into mu)."""
    rng = np.random.default_rng(seed)
    lam = skew_hippo_poles(N) if poles == "skew_hippo" else -0.5 + 1j * np.pi * np.arange(N)
    delta = np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), H))
    C = (rng.standard_normal((H, 1, N)) + 1j * rng.standard_normal((H, 1, N))) / np.sqrt(2)
    cont = mor.DiagonalLTI(np.broadcast_to(lam, (H, N)), np.ones((H, N, 1)), C)
    return mor.discretize(cont, delta)


def realify(M: np.ndarray) -> np.ndarray:
    return np.block([[M.real, -M.imag], [M.imag, M.real]])


def slycot_loop(layer: mor.DiagonalLTI, r: int, real_output: bool) -> list[np.ndarray]:
    """ab09ad over every channel of ``layer``; returns slycot's HSVs per channel."""
    hsvs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for h in range(layer.batch_shape[0]):
            z, b, c = layer.poles[h], layer.B[h], layer.C[h]
            A = realify(np.diag(z))
            if real_output:
                B = np.concatenate([b.real, b.imag])
                C = np.concatenate([c.real, -c.imag], axis=1)
                nr = r
            else:
                B, C = realify(b), realify(c)
                nr = 2 * r
            n, m, p = A.shape[0], B.shape[1], C.shape[0]
            out = slycot.ab09ad("D", "B", "N", n, m, p, np.asfortranarray(A), np.asfortranarray(B),
                                np.asfortranarray(C), nr=nr, tol=0.0)
            hsvs.append(np.asarray(out[-1]))
    return hsvs


def pieces_floor(layer: mor.DiagonalLTI, r: int, R, S, Ar, rounds: int) -> None:
    """Each piece of mor's route interleaved with the slycot loop: its share of slycot's time, and the
    ceiling of slycot/mor for a route that keeps only the Cauchy factors and the values (issue 24, item 3)."""
    svd = leading_factor_svd(R, S)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mor.RankWarning)
        _, share, _ = interleaved(
            rounds,
            {
                "slycot": lambda: slycot_loop(layer, r, False),
                "mor bfsr": lambda: mor.balanced_truncation(layer, r, method="bfsr"),
                "both Cauchy factors": lambda: mor.gramians(layer, factor=True),
                "S^H R and all values": lambda: leading_factor_svd(R, S),
                f"the {r} leading vectors": lambda: svd.leading(r, left="span"),
                "eig of the reduced matrices": lambda: np.linalg.eig(Ar),
            },
            warmup=False,
        )
    print(f"pieces interleaved with the slycot loop ({rounds} rounds), share of slycot's time:")
    for name, x in share.items():
        print(f"  {name:28s} {x:7.4f}   (slycot / it = {1 / x:6.1f}x)")
    floor = share["both Cauchy factors"] + share["S^H R and all values"]
    print(f"ceiling of slycot/mor with the factors and the values only (vectors, eig, projections free): "
          f"{1 / floor:.1f}x")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--modes", type=int, default=64)
    ap.add_argument("--order", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--slycot-repeats", type=int, default=3)
    ap.add_argument("--poles", choices=["skew_hippo", "s4d_lin"], default="skew_hippo")
    args = ap.parse_args(argv)
    H, N, r = args.channels, args.modes, args.order
    layer = make_layer(H, N, args.poles)
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.machine()}, 1 BLAS thread")
    print(f"layer: H={H} channels, N={N} modes ({args.poles}), ZOH steps in [1e-3, 1e-1], r={r}; median seconds")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", mor.RankWarning)
        t_mor, res = median_time(args.repeats, mor.balanced_truncation, layer, r, method="bfsr")
    msgs = sorted({str(w.message)[:100] for w in caught})
    unstable = int(np.sum(np.abs(res.reduced.poles) >= 1))
    print(f"mor bfsr (one batched call)    : {t_mor:9.4f} s   ({t_mor / H * 1e3:.3f} ms/channel; "
          f"unstable reduced poles: {unstable}; warnings: {msgs or 'none'})")
    t_sr, _ = median_time(args.repeats, mor.balanced_truncation, layer, r, method="sr")
    print(f"mor sr   (one batched call)    : {t_sr:9.4f} s")
    t_hsv, _ = median_time(args.repeats, mor.hankel_singular_values, layer)
    print(f"mor hankel_singular_values     : {t_hsv:9.4f} s")
    # The LAPACK floor: every square-root method needs the SVD of the N x N product S^H R of
    # each channel (all N values: the error bound sums the tail).  These are mor's own factors.
    R, S = mor.gramians(layer, factor=True)
    M = np.conj(np.swapaxes(S, -1, -2)) @ R
    t_chol, _ = median_time(args.repeats, mor.gramians, layer, factor=True)
    t_sv, _ = median_time(args.repeats, np.linalg.svd, M, compute_uv=False)
    t_svd, _ = median_time(args.repeats, np.linalg.svd, M, full_matrices=False)
    # mor's route: S^H R and one bidiagonalisation for all values, then the r leading vectors only
    t_vals, svd = median_time(args.repeats, leading_factor_svd, R, S)
    t_lead, _ = median_time(args.repeats, svd.leading, r, left="span")
    Ar = np.random.default_rng(1).standard_normal((H, r, r)) + 0j
    t_eig, _ = median_time(args.repeats, np.linalg.eig, Ar)
    print(f"  of which: both Cauchy factors: {t_chol:9.4f} s")
    print(f"            S^H R and all values (ZGEBRD + DLASQ1): {t_vals:9.4f} s; the {r} leading vectors: "
          f"{t_lead:9.4f} s; eig of {H} {r}x{r} (re-diagonalisation): {t_eig:9.4f} s")
    print(f"  floor: {H} SVDs of {N}x{N}, values only: {t_sv:9.4f} s; with vectors: {t_svd:9.4f} s")
    if not HAVE_SLYCOT:
        print("slycot not installed: no comparison")
        return 0
    # mor and the slycot loop interleaved (one call of each a round): the ratio is the median of
    # the per-round ratios, steadier on a shared machine than the medians timed apart
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mor.RankWarning)
        t_int, ratio, outs = interleaved(
            args.slycot_repeats,
            {"mor": lambda: mor.balanced_truncation(layer, r, method="bfsr"),
             "slycot": lambda: slycot_loop(layer, r, False)},
            warmup=False,
        )  # fmt: skip
    t_sly, hsvs = t_int["slycot"], outs["slycot"]
    sly = np.array([h[0 : 2 * r : 2] for h in hsvs])
    diff = np.max(np.abs(sly - res.hsv[:, :r]) / res.hsv[:, :r])
    print(f"slycot ab09ad loop (2x2 real.) : {t_sly:9.4f} s   ({t_sly / H * 1e3:.3f} ms/channel)  "
          f"ratio slycot/mor bfsr = {t_sly / t_mor:6.1f}x, /sr = {t_sly / t_sr:6.1f}x; "
          f"max rel. diff of leading {r} HSVs {diff:.1e}")
    print(f"  interleaved with mor bfsr ({args.slycot_repeats} rounds): slycot/mor = {ratio['slycot']:6.1f}x "
          f"(mor {t_int['mor']:.4f} s, slycot {t_sly:.4f} s)")
    print(f"  ceiling of the ratio for any method that takes these SVDs: values only {t_sly / t_sv:6.1f}x, "
          f"with vectors {t_sly / t_svd:6.1f}x")
    pieces_floor(layer, r, R, S, Ar, args.slycot_repeats)
    t_re, _ = median_time(args.slycot_repeats, slycot_loop, layer, r, True)
    print(f"slycot ab09ad loop (Re output) : {t_re:9.4f} s   ({t_re / H * 1e3:.3f} ms/channel)  "
          f"ratio slycot/mor bfsr = {t_re / t_mor:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
