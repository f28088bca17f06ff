"""Balanced truncation and Hankel singular values: theory, peers, pinned values, batching."""

import warnings

import numpy as np
import pytest
from helpers import freq_grid, random_dense, random_diagonal, reference_gramians

import mor
from mor import (
    LTI,
    DiagonalLTI,
    balanced_truncation,
    frequency_response,
    gramians,
    hankel_singular_values,
    hinf_norm,
    transfer_function,
)
from mor.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    MethodError,
    OrderError,
    RankWarning,
    UnstableSystemError,
)


def H(X):
    return np.conj(np.swapaxes(X, -1, -2))


def grid_error(sys, red, k=1501):
    w = freq_grid(sys, k)
    E = frequency_response(sys, w) - frequency_response(red, w)
    return np.linalg.norm(E, ord=2, axis=(-2, -1)).max(axis=-1)


HINF_TOL = 1e-10  # hinf_norm's default: g <= ||E||_inf <= g (1 + tol), up to its estimated rounding


def check_bt_error(sys, res, r):
    """``sigma_{r+1} <= ||G - G_r||_inf <= error_bound + rounding`` with the certified H-infinity norm
    (a frequency grid can miss the peak and so pass a violated bound)."""
    err = sys - res.reduced
    g = np.asarray(hinf_norm(err))
    assert np.all(g <= (res.error_bound + res.rounding) * (1 + 1e-9))
    assert np.all(g * (1 + HINF_TOL) >= res.hsv[..., r] * (1 - 1e-9) - res.rounding)
    return g


CASES = [(c, d) for c in (False, True) for d in (False, True)]


@pytest.mark.parametrize("complex_, discrete", CASES)
@pytest.mark.parametrize("method", ["sr", "bfsr"])
def test_error_within_bound_dense(complex_, discrete, method):
    sys = random_dense(14, 2, 3, complex_=complex_, discrete=discrete, seed=7, d=True)
    for r in (1, 4, 9, 13):
        res = balanced_truncation(sys, r, method=method)
        assert res.order == r and res.reduced.n == r and isinstance(res.reduced, LTI)
        assert res.reduced.is_complex == complex_
        check_bt_error(sys, res, r)
        assert res.error_bound == pytest.approx(2 * res.hsv[r:].sum())
        assert np.allclose(H(res.W) @ res.V, np.eye(r), atol=1e-9)


@pytest.mark.parametrize("discrete", [False, True])
def test_error_within_bound_diagonal_batch(discrete):
    sys = random_diagonal(16, 12, 1, 2, discrete=discrete, seed=3)
    for method in ("sr", "bfsr"):
        res = balanced_truncation(sys, 5, method=method)
        assert isinstance(res.reduced, DiagonalLTI) and res.reduced.batch_shape == (16,)
        assert res.error_bound.shape == (16,)
        check_bt_error(sys, res, 5)
        if discrete:
            assert res.reduced.log_poles is not None


@pytest.mark.parametrize("complex_, discrete", CASES)
def test_hsv_invariant_under_similarity(complex_, discrete):
    sys = random_dense(9, 2, 2, complex_=complex_, discrete=discrete, seed=11)
    rng = np.random.default_rng(0)
    T = rng.standard_normal((9, 9)) + np.eye(9) * 3
    if complex_:
        T = T + 1j * rng.standard_normal((9, 9))
    Ti = np.linalg.inv(T)
    other = LTI(Ti @ sys.A @ T, Ti @ sys.B, sys.C @ T, sys.D, sys.dt)
    assert np.allclose(hankel_singular_values(sys), hankel_singular_values(other), rtol=1e-9)


@pytest.mark.parametrize("complex_, discrete", CASES)
def test_balanced_realisation_has_equal_diagonal_gramians(complex_, discrete):
    sys = random_dense(8, 1, 2, complex_=complex_, discrete=discrete, seed=5)
    res = balanced_truncation(sys, 8, method="sr")
    P, Q = gramians(res.reduced)
    assert np.allclose(P, np.diag(res.hsv), atol=1e-10 * res.hsv[0])
    assert np.allclose(Q, np.diag(res.hsv), atol=1e-10 * res.hsv[0])
    # full-order reduction reproduces the transfer function
    assert grid_error(sys, res.reduced, 201) < 1e-10 * res.hsv[0]


def plain_balanced_truncation(sys, r):
    """Square-root balanced truncation from scipy's Gramians and numpy's eigh / SVD (no mor code)."""
    P, Q = reference_gramians(sys.A, sys.B, sys.C, sys.dt)

    def root(X):
        w, V = np.linalg.eigh((X + H(X)) / 2)
        return V * np.sqrt(np.clip(w, 0, None))

    Lp, Lq = root(P), root(Q)
    U, s, Vh = np.linalg.svd(H(Lq) @ Lp)
    T = Lp @ H(Vh[:r]) / np.sqrt(s[:r])
    Ti = H(Lq @ U[:, :r]) / np.sqrt(s[:r])[:, None]
    return LTI(Ti @ sys.A @ T, Ti @ sys.B, sys.C @ T, sys.D, sys.dt), s


@pytest.mark.parametrize("complex_, discrete", CASES)
def test_sr_and_bfsr_give_the_reference_transfer_function(complex_, discrete):
    # both methods share mor's Gramian factors, so each is also held to a reference that shares no code
    sys = random_dense(10, 2, 1, complex_=complex_, discrete=discrete, seed=2)
    ref, s = plain_balanced_truncation(sys, 4)
    w = freq_grid(sys, 301)
    Gref = frequency_response(ref, w)
    for method in ("sr", "bfsr"):
        res = balanced_truncation(sys, 4, method=method)
        # the small HSVs of either are accurate in absolute terms only (measured 5e-13 sigma_1 apart)
        np.testing.assert_allclose(res.hsv, s, rtol=1e-9, atol=1e-10 * s[0])
        assert np.abs(frequency_response(res.reduced, w) - Gref).max() <= 1e-9 * np.abs(Gref).max()


def test_batch_equals_dense_path_member_by_member():
    sys = random_diagonal(64, 10, 1, 1, seed=8)
    res = balanced_truncation(sys, 4, method="bfsr")
    s = np.array([0.3j, -2j, 1 + 5j, 0.0])
    G = transfer_function(res.reduced, s)
    for i in range(64):
        dense = balanced_truncation(sys[i].to_dense(), 4, method="bfsr")
        assert np.allclose(res.hsv[i], dense.hsv, rtol=1e-8)
        Gd = transfer_function(dense.reduced, s)
        assert np.allclose(G[i], Gd, rtol=1e-7, atol=1e-9 * np.abs(Gd).max())


# -- reference values -----------------------------------------------------------------
def test_pinned_matlab_hsvd_example():
    # python-control's testHSVD, values computed with MATLAB's hsvd
    sys = LTI([[1.0, -2.0], [3.0, -4.0]], [[5.0], [7.0]], [[6.0, 8.0]], [[9.0]])
    assert np.allclose(hankel_singular_values(sys), [24.42686, 0.5731395], rtol=1e-6)


def test_pinned_matlab_balreal_example():
    # python-control's testModredMatchDC: MATLAB balreal of (s^3+11s^2+45s+32)/(s^4+15s^3+60s^2+200s+60)
    # A balanced realisation has P = Q = diag(hsv); MATLAB printed it to 4 digits.
    from scipy import signal

    tf = signal.TransferFunction([1, 11, 45, 32], [1, 15, 60, 200, 60])
    A = np.array([[-1.958, -1.194, 1.824, -1.464], [-1.194, -0.8344, 2.563, -1.351],
                  [-1.824, -2.563, -1.124, 2.704], [-1.464, -1.351, -2.704, -11.08]])
    B = np.array([[-0.9057], [-0.4068], [-0.3263], [-0.3474]])
    P = mor.controllability_gramian(LTI(A, B, B.T * [[1, 1, -1, 1]]))
    hsv = hankel_singular_values(tf)
    assert np.allclose(np.sort(np.diag(P))[::-1], hsv, rtol=2e-2, atol=2e-3)
    assert np.allclose(P - np.diag(np.diag(P)), 0, atol=2e-3)


@pytest.mark.parametrize("a", [0.1, 1.0, 7.0])
def test_analytic_first_order(a):
    assert hankel_singular_values(LTI([[-a]], [[1.0]], [[1.0]]))[0] == pytest.approx(1 / (2 * a))
    z = np.exp(-a * 0.1)
    assert hankel_singular_values(LTI([[z]], [[1.0]], [[1.0]], dt=0.1))[0] == pytest.approx(1 / (1 - z * z))
    # complex pole: |.| of the imaginary part does not matter
    assert hankel_singular_values(DiagonalLTI([-a + 5j], [[1.0]], [[1.0]]))[0] == pytest.approx(1 / (2 * a))


# -- slycot ---------------------------------------------------------------------------
@pytest.mark.slycot
@pytest.mark.parametrize("dico", ["C", "D"])
# Both of our methods are compared with SLICOT's square-root job 'B': the transfer functions agree by
# theory.  slycot 0.7's wrapper of job 'N' (balancing-free) corrupts the heap (it under-allocates
# integer workspace), which aborts the interpreter later in the run, so it is not called here.
@pytest.mark.parametrize("job, method", [("B", "sr"), ("B", "bfsr")])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_slycot_ab09ad(dico, job, method, seed):
    slycot = pytest.importorskip("slycot")
    # Lightly damped square MIMO systems: their Hankel singular values stay within ~1e-6 of sigma_1,
    # where dense methods (ours and SLICOT's) are accurate to relative precision; below that both
    # have only absolute accuracy ~ eps * sigma_1 (see test_hsv_accuracy for diagonal systems).
    n, m, p, r = 16, 4, 4, 7
    rng = np.random.default_rng(100 + seed)
    A = rng.standard_normal((n, n)) * 1.5 / np.sqrt(n)
    ev = np.linalg.eigvals(A)
    A = A * 0.97 / np.abs(ev).max() if dico == "D" else A - (ev.real.max() + 0.05) * np.eye(n)
    sys = LTI(A, rng.standard_normal((n, m)), rng.standard_normal((p, n)), None, 0.1 if dico == "D" else None)
    nr, Ar, Br, Cr, hsv = slycot.ab09ad(dico, job, "N", n, m, p, sys.A.copy(), sys.B.copy(), sys.C.copy(),
                                        nr=r, tol=0.0, ldwork=4 * n * (2 * n + max(n, m, p) + 5))
    res = balanced_truncation(sys, r, method=method)
    assert nr == r
    assert np.allclose(res.hsv, hsv, rtol=1e-8, atol=0)
    peer = LTI(Ar[:nr, :nr], Br[:nr], Cr[:, :nr], sys.D, sys.dt)
    w = freq_grid(sys, 400)
    G1, G2 = frequency_response(res.reduced, w), frequency_response(peer, w)
    assert np.abs(G1 - G2).max() <= 1e-7 * np.abs(G2).max()


# -- orders, tolerances, errors ------------------------------------------------------
def test_tol_picks_smallest_order():
    sys = random_dense(12, 1, 1, seed=4)
    hsv = hankel_singular_values(sys)
    for r in (2, 5, 9):
        tol = 2 * hsv[r:].sum() * 1.0001
        res = balanced_truncation(sys, tol=tol)
        assert res.order == r and res.error_bound <= tol
    batch = random_diagonal(5, 8, seed=6)
    tol = 1e-2
    res = balanced_truncation(batch, tol=tol)
    assert np.all(res.error_bound <= tol)
    assert np.any(2 * res.hsv[:, res.order - 1:].sum(-1) > tol)  # one order less would not do


def test_default_order_is_minimal_realisation():
    A = np.diag([-1.0, -2.0, -3.0, -4.0])
    B = np.array([[1.0], [1.0], [0.0], [0.0]])  # modes 3, 4 uncontrollable
    sys = LTI(A, B, np.ones((1, 4)))
    res = balanced_truncation(sys)
    assert res.order == 2
    assert grid_error(sys, res.reduced, 201) < 1e-12


def test_order_above_numerical_rank_is_capped_with_warning():
    A = np.diag([-1.0, -2.0, -3.0, -4.0])
    sys = LTI(A, np.array([[1.0], [1.0], [0.0], [0.0]]), np.ones((1, 4)))
    with pytest.warns(RankWarning, match="exceeds the numerical rank 2"):
        res = balanced_truncation(sys, 4)
    assert res.order == 2 and np.all(np.isfinite(res.reduced.A))
    # batch: capped at the largest member rank, lower-rank members padded, transfer functions kept
    poles = np.array([[-1.0, -2.0, -3.0], [-1.0, -2.0, -3.0]]) + 0j
    Bb = np.array([[[1.0], [1.0], [1.0]], [[1.0], [0.0], [0.0]]])
    batch = DiagonalLTI(poles, Bb, np.ones((2, 1, 3)))
    with pytest.warns(RankWarning):
        res = balanced_truncation(batch, 3, method="bfsr")
    assert res.order == 3 and res.padded[1].sum() == 2 and not res.padded[0].any()
    assert np.all(np.isfinite(res.reduced.poles)) and np.all(res.reduced.poles.real < 0)
    assert grid_error(batch, res.reduced, 201).max() < 1e-10


def test_zero_system():
    sys = LTI(-np.eye(3), np.zeros((3, 1)), np.ones((1, 3)))
    with pytest.warns(RankWarning):
        res = balanced_truncation(sys, 1)
    assert res.order == 0 and res.reduced.n == 0 and res.error_bound == 0.0


@pytest.mark.parametrize(
    "kwargs, err, text",
    [
        ({"order": 0}, OrderError, r"order \(n = 6\) must satisfy 1 <= value <= 6"),
        ({"order": 7}, OrderError, "1 <= value <= 6"),
        ({"order": 2.5}, ArgumentTypeError, "integer"),
        ({"order": 2, "tol": 0.1}, InvalidArgumentError, "either"),
        ({"tol": -1.0}, InvalidArgumentError, "tol"),
        ({"tol": float("nan")}, InvalidArgumentError, "tol"),
        ({"rank_tol": 1.0}, InvalidArgumentError, "rank_tol"),
        ({"rank_tol": "0"}, ArgumentTypeError, "rank_tol"),
        ({"order": 2, "method": "magic"}, MethodError, "'sr', 'bfsr'"),
    ],
)
def test_bad_arguments(kwargs, err, text):
    with pytest.raises(err, match=text):
        balanced_truncation(random_dense(6), **kwargs)


def test_unstable_dense_system_keeps_its_unstable_part_diagonal_refused():
    res = balanced_truncation(LTI(np.diag([-1.0, 1.0]), np.ones((2, 1)), np.ones((1, 2))), 1)
    assert res.n_unstable == 1 and np.allclose(res.reduced.poles(), [1.0])  # (tests/core/test_unstable.py)
    with pytest.raises(UnstableSystemError, match="dense systems only"):
        balanced_truncation(DiagonalLTI([-1.0, 1.0], np.ones((2, 1)), np.ones((1, 2))), 1)


def test_finite_horizon_reduction_of_unstable_diagonal():
    mu = np.array([[0.001 + 0.2j, -0.05 + 1j, -0.3 + 2j, -1.0]])
    sys = DiagonalLTI.from_log_poles(mu, np.ones((1, 4, 1)), np.ones((1, 1, 4)), dt=1.0)
    L = 64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = balanced_truncation(sys, 3, horizon=L, method="bfsr")
    assert res.error_bound is None and res.reduced.n == 3
    h = mor.impulse_response(sys, L)
    hr = mor.impulse_response(res.reduced, L)
    assert np.linalg.norm(h - hr) < 0.2 * np.linalg.norm(h)
