"""Unstable and marginal systems: the stable/unstable split and balanced truncation of the stable part
(issue 22, item 1), against SLICOT AB09MD / AB09ND where slycot is installed."""

import warnings

import numpy as np
import pytest
import scipy.linalg as sla

from mor import (
    LTI,
    DiagonalLTI,
    balanced_truncation,
    hankel_singular_values,
    hinf_norm,
    stable_split,
    transfer_function,
)
from mor.errors import AccuracyWarning, InvalidArgumentError, OrderError, SystemTypeError, UnstableSystemError

POINTS = np.array([0.3j + 0.1, 2.0, -0.7 + 1.3j])


def H(X):
    return np.conj(np.swapaxes(X, -1, -2))


def random_unstable(seed, *, discrete=False, complex_=False):
    """Real (or complex) system with stable, unstable and marginal poles in a random basis.

    Continuous: 6 stable poles, unstable 0.4, 1 +- 2j, marginal 0, +-1.5j (6 kept).
    Discrete: 6 stable poles, unstable 1.3, 1.2 exp(+-0.5j), marginal 1, exp(+-0.7j) (6 kept).
    """
    rng = np.random.default_rng(seed)
    if discrete:
        reals = list(rng.uniform(0.1, 0.9, 2) * np.array([-1, 1])) + [1.3, 1.0]
        pairs = [0.8 * np.exp(1.1j), 0.5 * np.exp(2.0j), 1.2 * np.exp(0.5j), np.exp(0.7j)]
    else:
        reals = list(-rng.uniform(0.2, 5.0, 2)) + [0.4, 0.0]
        pairs = [-0.3 + 2j, -1.0 + 0.5j, 1.0 + 2j, 1.5j]
    blocks = [np.array([[x]]) for x in reals] + [np.array([[z.real, z.imag], [-z.imag, z.real]]) for z in pairs]
    L = sla.block_diag(*blocks)
    n = L.shape[0]
    Q1, Q2 = (np.linalg.qr(rng.standard_normal((n, n)))[0] for _ in range(2))
    V = Q1 @ np.diag(rng.uniform(0.5, 2.0, n)) @ Q2
    if complex_:
        V = V + 0.3j * np.linalg.qr(rng.standard_normal((n, n)))[0]
    A = V @ L @ np.linalg.inv(V)
    B, C, D = rng.standard_normal((n, 2)), rng.standard_normal((2, n)), rng.standard_normal((2, 2))
    return LTI(A, B, C, D, 1.0 if discrete else None), 6


def stable_error(sys, red):
    """``||G - G_r||_inf`` measured on the stable part of the difference (the unstable parts cancel)."""
    return hinf_norm(stable_split(sys - red).stable)


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("complex_", [False, True])
def test_split_adds_up_and_separates_the_poles(discrete, complex_):
    sys, nu = random_unstable(1, discrete=discrete, complex_=complex_)
    split = stable_split(sys)
    assert split.unstable.n == nu and split.stable.n == sys.n - nu
    assert split.stable.is_complex == complex_ and split.unstable.is_complex == complex_
    z = np.exp(POINTS) if discrete else POINTS
    G = transfer_function(sys, z)
    assert (
        np.abs(G - transfer_function(split.stable, z) - transfer_function(split.unstable, z)).max()
        < 1e-12 * np.abs(G).max()
    )
    assert np.allclose(H(split.W) @ split.V, np.eye(sys.n), atol=1e-12)
    decoupled = H(split.W) @ sys.A @ split.V
    assert np.abs(decoupled[nu:, :nu]).max() < 1e-12 and np.abs(decoupled[:nu, nu:]).max() < 1e-12
    kept, stable = split.unstable.poles(), split.stable.poles()
    if discrete:
        assert np.all(np.abs(kept) > 1 - 1e-8) and np.all(np.abs(stable) < 1 - 1e-8)
    else:
        assert np.all(kept.real > -1e-8) and np.all(stable.real < -1e-8)


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("match_dc", [False, True])
def test_unstable_part_kept_and_error_within_the_stable_bound(discrete, complex_, match_dc):
    sys, nu = random_unstable(2, discrete=discrete, complex_=complex_)
    split = stable_split(sys)
    hsv_s = hankel_singular_values(split.stable)
    for r in (nu, nu + 1, nu + 4):
        res = balanced_truncation(sys, r, match_dc=match_dc)
        assert res.order == r and res.reduced.n == r and res.n_unstable == nu
        assert res.reduced.is_complex == complex_
        assert np.all(np.isinf(res.hsv[:nu])) and np.allclose(res.hsv[nu:], hsv_s, rtol=1e-10)
        assert res.error_bound == pytest.approx(2 * hsv_s[r - nu :].sum(), rel=1e-10)
        kept = np.sort_complex(np.linalg.eigvals(res.reduced.A[:nu, :nu]))
        assert np.allclose(kept, np.sort_complex(split.unstable.poles()), atol=1e-12)
        err = stable_error(sys, res.reduced)
        assert hsv_s[r - nu] * (1 - 1e-6) <= err <= res.error_bound * (1 + 1e-9)
        if match_dc:  # the DC gain of the stable part is matched
            red_s = LTI(res.reduced.A[nu:, nu:], res.reduced.B[nu:], res.reduced.C[:, nu:], res.reduced.D, sys.dt)
            dc = 1.0 if discrete else 0.0
            assert np.allclose(transfer_function(red_s, dc), transfer_function(split.stable, dc), atol=1e-10)


def test_user_example_from_python_control():
    ct = pytest.importorskip("control")
    sys = ct.ss(np.diag([1.0, -2, -3]), [[1], [0], [1]], [[1, 1, 0]], 0)
    for r in (1, 2, 3):
        with warnings.catch_warnings():  # the stable part is zero (mode -2 uncontrollable, -3 unobservable)
            warnings.simplefilter("ignore", category=UserWarning)
            res = balanced_truncation(sys, r)
        assert res.n_unstable == 1 and res.order == 1  # orders above 1 are capped at the rank (RankWarning)
        assert np.allclose(res.reduced.poles(), [1.0])
        assert res.error_bound == 0.0
        z = POINTS
        assert np.allclose(transfer_function(res.reduced, z)[:, 0, 0], 1 / (z - 1), atol=1e-14)


@pytest.mark.parametrize("form", ["triangular", "companion"])
def test_double_integrator_with_a_stable_pole(form):
    # G(s) = 1 / (s^2 (s + 1)) = 1/s^2 - 1/s + 1/(s + 1)
    if form == "triangular":
        sys = LTI([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, -1.0]], [[0.0], [0.0], [1.0]], [[1.0, 0.0, 0.0]])
    else:
        sys = LTI([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[1.0], [0.0], [0.0]], [[0.0, 0.0, 1.0]])
    res2 = balanced_truncation(sys, 2)
    assert res2.n_unstable == 2 and res2.reduced.n == 2
    assert np.allclose(res2.reduced.poles(), 0.0, atol=1e-7)  # a double pole: sqrt(eps)-sensitive
    assert np.isinf(res2.hsv[:2]).all() and res2.hsv[2] == pytest.approx(0.5)
    assert res2.error_bound == pytest.approx(1.0)
    z = POINTS
    assert np.allclose(transfer_function(res2.reduced, z)[:, 0, 0], 1 / z**2 - 1 / z, rtol=1e-7)
    assert stable_error(sys, res2.reduced) == pytest.approx(1.0, rel=1e-6)  # the error 1/(s+1) attains the bound
    res3 = balanced_truncation(sys, 3)
    assert np.allclose(transfer_function(res3.reduced, z), transfer_function(sys, z), rtol=1e-7)
    with pytest.raises(OrderError, match="nu = 2"):
        balanced_truncation(sys, 1)


def test_order_chosen_by_tol_or_rank_counts_the_unstable_states():
    sys, nu = random_unstable(3)
    hsv_s = hankel_singular_values(stable_split(sys).stable)
    assert balanced_truncation(sys).order == sys.n  # minimal: every state
    tol = 2 * hsv_s[3:].sum() * 1.0001
    res = balanced_truncation(sys, tol=tol)
    assert res.order == nu + 3 and res.error_bound <= tol


def test_stability_margin_keeps_slow_poles_and_is_checked():
    sys = LTI(np.diag([-1e-3, -1.0, -2.0]), np.ones((3, 1)), np.ones((1, 3)))
    assert balanced_truncation(sys, 2).n_unstable == 0  # stable: reduced as a whole by default
    res = balanced_truncation(sys, 2, stability_margin=1e-2)
    assert res.n_unstable == 1 and np.allclose(res.reduced.A[0, 0], -1e-3)
    with pytest.raises(InvalidArgumentError, match="stability_margin"):
        balanced_truncation(sys, 2, stability_margin=-1.0)
    disc = LTI(np.diag([1.0, 0.5]), np.ones((2, 1)), np.ones((1, 2)), dt=1.0)
    with pytest.raises(InvalidArgumentError, match="stability_margin"):
        balanced_truncation(disc, 1, stability_margin=1.0)
    with pytest.raises(InvalidArgumentError, match="infinite-horizon"):
        balanced_truncation(disc, 1, stability_margin=0.1, horizon=10)


def test_nearly_coincident_kept_and_stable_poles_warn():
    A = np.array([[0.0, 1.0], [0.0, -1e-9]])
    with pytest.warns(AccuracyWarning, match="stable_split"):
        stable_split(LTI(A, [[0.0], [1.0]], [[1.0, 0.0]]), stability_margin=1e-10)


def test_diagonal_and_sparse_systems_are_refused_with_the_reason():
    sys = DiagonalLTI([0.5, -1.0], np.ones((2, 1)), np.ones((1, 2)))
    with pytest.raises(UnstableSystemError, match="dense systems only") as info:
        balanced_truncation(sys, 1)
    assert info.value.poles is not None
    with pytest.raises(SystemTypeError, match="selection of its modes"):
        stable_split(sys)
    with pytest.raises(InvalidArgumentError, match="dense systems"):
        balanced_truncation(DiagonalLTI([-0.5, -1.0], np.ones((2, 1)), np.ones((1, 2))), 1, stability_margin=0.1)


def test_gramian_functions_point_to_the_unstable_route():
    sys = LTI(np.diag([1.0, -2.0]), np.ones((2, 1)), np.ones((1, 2)))
    with pytest.raises(UnstableSystemError, match=r"balanced_truncation.*keeps the unstable part"):
        hankel_singular_values(sys)


# --------------------------------------------------------------------------- SLICOT AB09MD / AB09ND
def _slycot_reduce(slycot, sys, r, spa):
    dico, alpha = ("D", 1 - 1e-8) if sys.dt else ("C", -1e-8)
    n, m, p = sys.n, sys.m, sys.p
    if spa:
        nr, Ar, Br, Cr, Dr, ns, hsv = slycot.ab09nd(
            dico, "B", "N", n, m, p, sys.A, sys.B, sys.C, sys.D, alpha=alpha, nr=r
        )
    else:
        nr, Ar, Br, Cr, ns, hsv = slycot.ab09md(dico, "B", "N", n, m, p, sys.A, sys.B, sys.C, alpha=alpha, nr=r)
        Dr = sys.D
    if nr == n - ns:  # SLICOT returns early (no Hankel singular values) when no stable state is kept
        hsv = slycot.ab09md(dico, "B", "N", n, m, p, sys.A, sys.B, sys.C, alpha=alpha, nr=nr + 1)[5]
    return LTI(Ar[:nr, :nr], Br[:nr], Cr[:, :nr], Dr, sys.dt), n - ns, hsv[:ns]


@pytest.mark.slycot
@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("spa", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_slicot_ab09md_ab09nd(discrete, spa, seed):
    slycot = pytest.importorskip("slycot")
    sys, nu = random_unstable(seed, discrete=discrete)
    for r in (nu, nu + 2, nu + 5):
        ref, nu_ref, hsv_ref = _slycot_reduce(slycot, sys, r, spa)
        res = balanced_truncation(sys, r, match_dc=spa)
        assert res.n_unstable == nu_ref == nu and res.order == ref.n == r
        kept_ref = np.sort_complex(np.linalg.eigvals(ref.A[:nu, :nu]))
        assert np.allclose(np.sort_complex(np.linalg.eigvals(res.reduced.A[:nu, :nu])), kept_ref, atol=1e-12)
        assert np.max(np.abs(res.hsv[nu:] - hsv_ref) / hsv_ref) < 1e-12
        err, err_ref = stable_error(sys, res.reduced), stable_error(sys, ref)
        lower = res.hsv[r] * (1 - 1e-6)
        assert lower <= err <= res.error_bound * (1 + 1e-9) and lower <= err_ref <= res.error_bound * (1 + 1e-9)
        if not (spa and discrete):  # the same model (SLICOT's discrete SPA does not match G_s(1); ours does)
            z = np.exp(POINTS) if discrete else POINTS
            gap = transfer_function(res.reduced, z) - transfer_function(ref, z)
            assert np.abs(gap).max() < 1e-8 * res.hsv[nu]
