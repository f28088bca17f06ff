"""The leading-vector SVD of the diagonal balanced truncation (mor._leading_svd) against the full SVD.

The fast route (one bidiagonalisation: all values by dqds, the r leading vectors by twisted
factorisations of the Golub-Kahan tridiagonal, DSTEIN or numpy.linalg.svd where a check fails) must
give the values of ``numpy.linalg.svd(M, compute_uv=False)`` bit for bit and vectors as good as a
backward-stable SVD's; a balanced truncation of a diagonal batch through it must match the full-SVD
route (``_AVAILABLE = False`` sends everything to ``numpy.linalg.svd``) to the accuracy the problem
itself allows: the reduced transfer function moves by ``~eps sigma_1^2 / (sigma_r - sigma_(r+1))`` under
rounding-level changes of the data (the full-SVD route itself by up to ~430 of these units when ``C``
changes by 1e-16), so the tolerance is that, times 1e4.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import mor
import mor._leading_svd as leading_svd
from mor._leading_svd import BidiagonalSVD

EPS = np.finfo(float).eps
DATA = pathlib.Path(__file__).resolve().parent.parent / "data"


def _random(rng, shape, cond=1e3):
    """Complex matrices with singular values log-spaced over ``cond`` (random singular vectors)."""
    b, m, n = shape
    k = min(m, n)
    X = rng.standard_normal((b, m, k)) + 1j * rng.standard_normal((b, m, k))
    Y = rng.standard_normal((b, n, k)) + 1j * rng.standard_normal((b, n, k))
    U, V = np.linalg.qr(X)[0], np.linalg.qr(Y)[0]
    s = np.geomspace(1.0, 1.0 / cond, k)
    return (U * s[None, None, :]) @ np.conj(np.swapaxes(V, 1, 2)), s


def _with_values(rng, b, n, s):
    X = rng.standard_normal((b, n, n)) + 1j * rng.standard_normal((b, n, n))
    Y = rng.standard_normal((b, n, n)) + 1j * rng.standard_normal((b, n, n))
    U, V = np.linalg.qr(X)[0], np.linalg.qr(Y)[0]
    return (U * s[None, None, :]) @ np.conj(np.swapaxes(V, 1, 2))


def _check_triplets(M, U, Vh, s, tol):
    V = np.conj(np.swapaxes(Vh, 1, 2))
    scale = s[:, :1, None]
    r = V.shape[-1]
    assert np.all(np.abs(M @ V - U * s[:, None, :r]) <= tol * scale)
    assert np.all(np.abs(np.conj(np.swapaxes(M, 1, 2)) @ U - V * s[:, None, :r]) <= tol * scale)
    assert np.all(np.abs(Vh @ V - np.eye(r)) <= tol)


def _subspace_gap(Vh, Vh_ref):
    """``||(I - V V^H) V_ref||`` per member: how far the reference subspace lies outside ``span(V)``."""
    V, Vr = np.conj(np.swapaxes(Vh, 1, 2)), np.conj(np.swapaxes(Vh_ref, 1, 2))
    return np.linalg.norm(Vr - V @ (Vh @ Vr), ord=2, axis=(1, 2))


@pytest.mark.parametrize("shape", [(5, 12, 12), (3, 15, 10), (1, 9, 9), (4, 1, 1), (3, 7, 10), (2, 30, 10)])
def test_values_are_numpys_and_vectors_backward_stable(shape):
    rng = np.random.default_rng(sum(shape))
    M, _ = _random(rng, shape)
    svd = BidiagonalSVD(M)
    ref = np.linalg.svd(M, compute_uv=False)
    assert np.array_equal(svd.s, ref)  # bit for bit: the values-only path of ZGESDD
    k = min(shape[1:])
    Vhf = np.linalg.svd(M, full_matrices=False)[2]
    for r in sorted({1, max(k - 1, 1), k}):
        U, Vh = svd.leading(r)
        assert U.shape == (shape[0], shape[1], r) and Vh.shape == (shape[0], r, shape[2])
        _check_triplets(M, U, Vh, svd.s, 100 * max(shape[1:]) * EPS)
        assert np.all(_subspace_gap(Vh, Vhf[:, :r]) <= 1e-12)


@pytest.mark.parametrize("scale", [1e-200, 1e-140, 1e140, 1e200])
def test_extreme_scales_are_numpys(scale):
    """Matrices that ZGESDD rescales first (largest entry outside [6.7e-139, 1.5e138]) give numpy's
    values too (those members go to numpy), and good triplets."""
    M, _ = _random(np.random.default_rng(9), (3, 8, 8))
    M = M * scale
    svd = BidiagonalSVD(M)
    assert np.array_equal(svd.s, np.linalg.svd(M, compute_uv=False))
    U, Vh = svd.leading(3)
    _check_triplets(M, U, Vh, svd.s, 100 * 8 * EPS)


def test_square_batch_takes_the_lapack_route():
    """The DSS shape (square) never falls back on well-separated values."""
    M, _ = _random(np.random.default_rng(1), (8, 16, 16))
    svd = BidiagonalSVD(M)
    svd.leading(5)
    assert not svd.fallback.any() and svd.recomputed == 0


def test_graded_values_keep_their_digits():
    """Values spread over 1e-30: the same as the values-only SVD (the relative accuracy of the HSVs)."""
    rng = np.random.default_rng(2)
    n = 20
    s = np.geomspace(1.0, 1e-30, n)
    M = _with_values(rng, 3, n, s)
    svd = BidiagonalSVD(M)
    assert np.array_equal(svd.s, np.linalg.svd(M, compute_uv=False))
    U, Vh = svd.leading(4)
    _check_triplets(M, U, Vh, svd.s, 100 * n * EPS)


@pytest.mark.parametrize("split", [1e-3, 1e-8, 1e-13, 0.0])
def test_clustered_values_inside_and_at_the_cut(split):
    """sigma_r and sigma_(r+1), and sigma_1, sigma_2, within ``split``: the triplets stay backward
    stable; where the cut is resolved, the r-dimensional subspace is the full SVD's to eps / gap."""
    rng = np.random.default_rng(3)
    n, r = 16, 5
    s = np.geomspace(1.0, 1e-3, n)
    s[1] = s[0] * (1 - split)
    s[r] = s[r - 1] * (1 - split)
    M = _with_values(rng, 6, n, s)
    svd = BidiagonalSVD(M)
    U, Vh = svd.leading(r)
    _check_triplets(M, U, Vh, svd.s, 100 * n * EPS)
    if split > 1e-9:
        gap = svd.s[:, r - 1] - svd.s[:, r]
        Vhf = np.linalg.svd(M, full_matrices=False)[2]
        assert np.all(_subspace_gap(Vh, Vhf[:, :r]) <= 1e3 * EPS * svd.s[:, 0] / gap)


def test_failed_members_go_to_numpy(monkeypatch):
    """A member whose triplets fail the check is recomputed by numpy.linalg.svd."""
    M, _ = _random(np.random.default_rng(4), (4, 10, 10))
    monkeypatch.setattr(leading_svd, "CHECK_TOL", -1.0)  # nothing passes
    svd = BidiagonalSVD(M)
    U, Vh = svd.leading(3)
    assert svd.recomputed == 4
    _check_triplets(M, U, Vh, svd.s, 100 * 10 * EPS)


# --------------------------------------------------------------------------- balanced truncation
def _layer(rng, H, N, discrete, poles="hippo"):
    if poles == "hippo":
        lam = -0.5 + 1j * np.pi * np.arange(N)
    else:  # trained-like: spread damping, random frequencies
        lam = -np.exp(rng.uniform(-3, 1, (H, N))) + 1j * rng.uniform(-50, 50, (H, N))
    lam = np.broadcast_to(lam, (H, N))
    C = (rng.standard_normal((H, 1, N)) + 1j * rng.standard_normal((H, 1, N))) / np.sqrt(2)
    sys = mor.DiagonalLTI(lam, np.ones((H, N, 1)), C)
    return mor.discretize(sys, np.exp(rng.uniform(np.log(1e-3), np.log(1e-1), H))) if discrete else sys


def _points(sys):
    if sys.dt is None:
        return 1j * np.concatenate([[0.0], np.geomspace(1e-3, 1e3, 60)])
    return np.exp(1j * np.linspace(0, np.pi, 61))


def _compare(sys, r, method, monkeypatch):
    fast = mor.balanced_truncation(sys, r, method=method)
    with monkeypatch.context() as m:
        m.setattr(leading_svd, "_AVAILABLE", False)
        ref = mor.balanced_truncation(sys, r, method=method)
    hsv = ref.hsv
    np.testing.assert_array_equal(fast.hsv, hsv)  # both: numpy's values-only SVD of the same M
    np.testing.assert_allclose(fast.error_bound, ref.error_bound, rtol=1e-13, atol=0)
    z = _points(sys)
    Gf, Gr = mor.transfer_function(fast.reduced, z), mor.transfer_function(ref.reduced, z)
    size = hsv[..., 0]
    nxt = hsv[..., r] if r < sys.n else np.zeros_like(size)
    gap = np.maximum(hsv[..., r - 1] - nxt, 1e-300)
    # the conditioning of the reduced model itself: eps sigma_1 / gap (relative to sigma_1); the
    # full-SVD route moves by up to ~430 of these units when C changes by 1e-16 (measured, r = 23)
    tol = 1e4 * EPS * np.maximum(size / gap, 1.0) * size
    diff = np.abs(Gf - Gr).reshape(*Gf.shape[:-3], -1).max(axis=-1)
    assert np.all(diff <= tol), (diff / tol).max()
    assert fast.reduced.poles.shape == ref.reduced.poles.shape
    return fast, ref


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("method", ["bfsr", "sr"])
def test_fast_route_matches_full_svd_route(discrete, method, monkeypatch):
    sys = _layer(np.random.default_rng(5), 12, 24, discrete)
    for r in (1, 6, 23):
        _compare(sys, r, method, monkeypatch)


@pytest.mark.parametrize("discrete", [False, True])
def test_fast_route_trained_like_layer(discrete, monkeypatch):
    sys = _layer(np.random.default_rng(6), 8, 32, discrete, poles="trained")
    for r in (1, 8, 31):
        _compare(sys, r, "bfsr", monkeypatch)


def test_fast_route_one_channel(monkeypatch):
    sys = _layer(np.random.default_rng(7), 1, 16, True)
    _compare(sys, 4, "bfsr", monkeypatch)
    single = sys[0]  # unbatched
    _compare(single, 4, "bfsr", monkeypatch)


@pytest.mark.parametrize("kind", ["ct", "dt"])
def test_fast_route_on_truth_files(kind, monkeypatch):
    """The mpmath truth systems (trained and S4D layers with HSVs down to 1e-40 sigma_1)."""
    for family in ("trained", "skew_hippo"):
        with np.load(DATA / f"hsv_truth_{family}_{kind}.npz", allow_pickle=False) as f:
            d = {k: f[k] for k in f.files}
        B, C = d["B"][..., :, None], d["C"][..., None, :]
        if kind == "dt":
            sys = mor.DiagonalLTI.from_log_poles(d["mu"], B, C, None, 1.0)
        else:
            sys = mor.DiagonalLTI(d["poles"], B, C)
        fast, _ = _compare(sys, 8, "bfsr", monkeypatch)
        truth = d["hsv"]
        assert np.max(np.abs(fast.hsv - truth) / truth) <= 1e-9


def test_near_degenerate_cut_keeps_the_bound(monkeypatch):
    """Two copies of one channel (every HSV doubled) cut inside a pair: the subspace is not unique,
    so the routes may differ, but each reduced model is a balanced truncation within the bound."""
    rng = np.random.default_rng(8)
    one = _layer(rng, 1, 6, False)
    lam = np.concatenate([one.poles[0], one.poles[0] * (1 + 1e-10)])
    sys = mor.DiagonalLTI(lam, np.ones((12, 1)), np.concatenate([one.C[0], one.C[0]], axis=-1))
    for r in (3, 4):
        res = mor.balanced_truncation(sys, r, method="bfsr")
        v = mor.hinf_norm(sys - res.reduced)
        err = float(v[0] if isinstance(v, tuple) else v)
        assert err <= res.error_bound * (1 + 1e-6) + 1e-12 * res.hsv[0]
        assert err >= res.hsv[r] * (1 - 1e-6)


def test_leading_vector_against_mpmath():
    """The leading right singular vector of ``S^H R`` of small discrete layers (poles near z = 1)
    against a 40-digit SVD: within ``10 eps sigma_1 / (sigma_1 - sigma_2)`` of the truth (measured:
    median 0.13, max 1.3 of these units; LAPACK's full SVD median 0.41, max 26)."""
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(7)
    for _ in range(12):
        n = int(rng.integers(3, 10))
        lam = -np.exp(rng.uniform(-4, 2, n)) + 1j * rng.uniform(-30, 30, n)
        B = rng.standard_normal((n, 1)) + 0j
        C = rng.standard_normal((1, n)) + 1j * rng.standard_normal((1, n))
        sys = mor.discretize(mor.DiagonalLTI(lam, B, C), 10 ** rng.uniform(-3, -1))
        R, S = mor.gramians(sys, factor=True)
        M = np.conj(S.T) @ R
        svd = BidiagonalSVD(M[None])
        v = np.conj(svd.leading(1)[1][0, 0])
        with mpmath.workdps(40):
            _, _, Vm = mpmath.svd_c(mpmath.matrix(M.tolist()))
            vt = [mpmath.conj(Vm[0, j]) for j in range(n)]
            vm = [mpmath.mpc(x.real, x.imag) for x in v / np.linalg.norm(v)]
            ip = mpmath.fsum(mpmath.conj(a) * b for a, b in zip(vt, vm, strict=True))
            angle = float(mpmath.sqrt(mpmath.fsum(abs(b - a * ip) ** 2 for a, b in zip(vt, vm, strict=True))))
        s = svd.s[0]
        assert angle <= 10 * EPS * s[0] / (s[0] - s[1])
