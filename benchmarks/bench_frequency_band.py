"""Frequency-limited balanced truncation: the error inside the band against plain balanced truncation.

Run:  python benchmarks/bench_frequency_band.py

Prints the markdown table of the user guide (docs/guide/unstable.md): for each test system, band and
order, the largest error ``||G - G_r||_2`` over the band (a 4001-point grid, its three largest points
refined by a bounded scalar search) and the H-infinity error on the whole axis (``hinf_norm``) of
plain BT, of frequency-limited BT (``frequency_variant="plain"``, Gawronski-Juang; "unstable" where
its reduced model is) and of the modified variant (Gugercin-Antoulas, with its bound).  Accuracy,
not speed: about 10 s.
"""

from __future__ import annotations

import pathlib
import sys as _sys

_sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common  # noqa: F401  pins one BLAS thread: must precede numpy

# isort: split
import warnings

import numpy as np
import scipy.linalg as sla
from scipy.optimize import minimize_scalar

from mor import LTI, balanced_truncation, discretize, frequency_response, hinf_norm
from mor.models import spring_chain
from mor.systems.stability import unstable_mask


def band_error(sys: LTI, red: LTI, band: tuple[float, float], k: int = 4001) -> float:
    """Largest ``||G(jw) - G_r(jw)||_2`` over the band: a grid, its three largest points refined."""
    w = np.linspace(*band, k)

    def err(x):
        return np.linalg.norm(frequency_response(sys, x) - frequency_response(red, x), 2, axis=(-2, -1))

    vals = err(w)
    best = float(vals.max())
    for i in np.argsort(vals)[-3:]:
        lo, hi = w[max(i - 1, 0)], w[min(i + 1, k - 1)]
        found = minimize_scalar(lambda x: -err([x])[0], bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
        best = max(best, -found.fun)
    return best


def modal(poles, gains, seed: int = 0) -> LTI:
    """Real SISO system with the given pole pairs (``2 x 2`` real blocks) in a random orthogonal basis."""
    rng = np.random.default_rng(seed)
    L = sla.block_diag(*[np.array([[p.real, p.imag], [-p.imag, p.real]]) for p in poles])
    Q = np.linalg.qr(rng.standard_normal((L.shape[0],) * 2))[0]
    B = np.concatenate([[[0.0], [g]] for g in gains])
    C = np.concatenate([[1.0, 0.0] for _ in gains])[None, :]
    return LTI(Q @ L @ Q.T, Q @ B, C @ Q.T)


def systems():
    s1 = modal([-0.02 + 1j, -0.05 + 5j, -0.1 + 12j, -0.5 + 20j], [3.0, 1.0, 2.0, 5.0])
    yield "modal, 4 modes (1, 5, 12, 20 rad/s), (4, 6)", s1, (4.0, 6.0), (2, 4)
    yield "`spring_chain(30)`, (0.5, 0.8)", spring_chain(30, alpha=0.01, beta=0.01).to_dense(), (0.5, 0.8), (10, 16, 24)
    rng = np.random.default_rng(3)
    A = rng.standard_normal((30, 30)) / 3
    A -= (np.linalg.eigvals(A).real.max() + 0.3) * np.eye(30)
    yield (
        "random n = 30, 2 x 2, (2, 4)",
        LTI(A, rng.standard_normal((30, 2)), rng.standard_normal((2, 30))),
        (2.0, 4.0),
        (6, 10),
    )
    yield "the modal one, ZOH dt = 0.1, (4, 6)", discretize(s1, 0.1), (4.0, 6.0), (2, 4)


def main() -> None:
    print("| system, band | r | BT: in band / whole axis | FLBT plain: in band / whole axis "
          "| FLBT modified: in band / whole axis / bound |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name, sys, band, orders in systems():
        for r in orders:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the plain variant warns about its unstable reduced models
                fl = balanced_truncation(sys, r, frequency_band=band)
            bt = balanced_truncation(sys, r)
            mod = balanced_truncation(sys, r, frequency_band=band, frequency_variant="modified")
            e_fl, e_bt, e_mod = (band_error(sys, x.reduced, band) for x in (fl, bt, mod))
            h_fl = "unstable" if np.any(unstable_mask(fl.reduced)) else f"{hinf_norm(sys - fl.reduced):.3g}"
            h_bt, h_mod = hinf_norm(sys - bt.reduced), hinf_norm(sys - mod.reduced)
            print(f"| {name} | {r} | {e_bt:.3g} / {h_bt:.3g} | {e_fl:.3g} / {h_fl} "
                  f"| {e_mod:.3g} / {h_mod:.3g} / {mod.error_bound:.3g} |")  # fmt: skip


if __name__ == "__main__":
    main()
