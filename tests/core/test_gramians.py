"""Gramians: residuals, closed forms vs dense solvers, factors, finite horizon, errors."""

import numpy as np
import pytest
from helpers import random_dense, random_diagonal

import mor
from mor import LTI, DiagonalLTI, controllability_gramian, gramians, observability_gramian
from mor.errors import ArgumentTypeError, InvalidArgumentError, MethodError, SystemTypeError, UnstableSystemError


def H(X):
    return np.conj(np.swapaxes(X, -1, -2))


def residuals(sys, P, Q):
    A, B, C = sys.A, sys.B, sys.C
    if sys.dt is None:
        rp = A @ P + P @ H(A) + B @ H(B)
        rq = H(A) @ Q + Q @ A + H(C) @ C
    else:
        rp = A @ P @ H(A) - P + B @ H(B)
        rq = H(A) @ Q @ A - Q + H(C) @ C
    sp = np.linalg.norm(A) ** 2 * np.linalg.norm(P) + np.linalg.norm(B) ** 2
    sq = np.linalg.norm(A) ** 2 * np.linalg.norm(Q) + np.linalg.norm(C) ** 2
    return np.linalg.norm(rp) / sp, np.linalg.norm(rq) / sq


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("method", [None, "scipy"])
@pytest.mark.parametrize("n", [1, 5, 40])
def test_dense_residuals(n, complex_, discrete, method):
    sys = random_dense(n, 2, 3, complex_=complex_, discrete=discrete, seed=n)
    P, Q = gramians(sys, method=method)
    rp, rq = residuals(sys, P, Q)
    assert rp < 1e-13 and rq < 1e-13
    assert np.allclose(P, H(P), rtol=0, atol=0) and np.allclose(Q, H(Q), rtol=0, atol=0)
    assert (P.dtype == np.complex128) == complex_
    assert np.linalg.eigvalsh(P).min() > -1e-12 * np.linalg.norm(P)


@pytest.mark.slycot
@pytest.mark.parametrize("discrete", [False, True])
def test_dense_slycot_backend_agrees(discrete):
    pytest.importorskip("slycot")
    sys = random_dense(12, 2, 2, discrete=discrete, seed=3)
    P1 = controllability_gramian(sys)
    P2 = controllability_gramian(sys, method="slycot")
    assert np.allclose(P1, P2, rtol=1e-10, atol=1e-12 * np.abs(P1).max())


@pytest.mark.parametrize("discrete", [False, True])
def test_diagonal_closed_form_equals_dense_solver(discrete):
    sys = random_diagonal(4, 9, 2, 3, discrete=discrete, seed=1)
    P, Q = gramians(sys)
    assert P.shape == (4, 9, 9)
    for i in range(4):
        Pd, Qd = gramians(sys[i].to_dense())
        assert np.allclose(P[i], Pd, rtol=1e-10, atol=1e-12 * np.abs(Pd).max())
        assert np.allclose(Q[i], Qd, rtol=1e-10, atol=1e-12 * np.abs(Qd).max())
        Pr, _ = gramians(sys[i], method="dense")
        assert np.allclose(Pr, Pd)


@pytest.mark.parametrize("discrete", [False, True])
def test_diagonal_factors_reproduce_gramians(discrete):
    sys = random_diagonal((2, 3), 10, 2, 1, discrete=discrete, seed=2)
    P, Q = gramians(sys)
    R, S = gramians(sys, factor=True)
    assert R.shape[:-1] == (2, 3, 10) and S.shape[:-1] == (2, 3, 10)
    assert np.allclose(R @ H(R), P, rtol=1e-12, atol=1e-13 * np.abs(P).max())
    assert np.allclose(S @ H(S), Q, rtol=1e-12, atol=1e-13 * np.abs(Q).max())


def test_dense_factor_tolerates_semidefinite():
    # uncontrollable mode: P is singular; the factor still reproduces it and is finite
    A = np.diag([-1.0, -2.0, -3.0])
    sys = LTI(A, [[1.0], [1.0], [0.0]], [[1.0, 1.0, 1.0]])
    R = controllability_gramian(sys, factor=True)
    P = controllability_gramian(sys)
    assert np.all(np.isfinite(R)) and np.allclose(R @ R.T, P, atol=1e-15)
    assert R.shape[1] <= 3


def test_finite_horizon_matches_explicit_sum():
    sys = random_dense(6, 1, 2, complex_=True, discrete=True, seed=5, radius=1.05)  # unstable is allowed
    L = 37
    P = controllability_gramian(sys, horizon=L)
    Q = observability_gramian(sys, horizon=L)
    Pe = sum(np.linalg.matrix_power(sys.A, k) @ sys.B @ H(sys.B) @ H(np.linalg.matrix_power(sys.A, k))
             for k in range(L))
    Qe = sum(H(np.linalg.matrix_power(sys.A, k)) @ H(sys.C) @ sys.C @ np.linalg.matrix_power(sys.A, k)
             for k in range(L))
    assert np.allclose(P, Pe, rtol=1e-11) and np.allclose(Q, Qe, rtol=1e-11)
    d = random_diagonal(3, 5, discrete=True, seed=4)
    Pd = controllability_gramian(d, horizon=L)
    for i in range(3):
        assert np.allclose(Pd[i], controllability_gramian(d[i].to_dense(), horizon=L), rtol=1e-10)
    # diagonal with an unstable mode: finite Gramian defined, infinite one refused
    u = DiagonalLTI.from_log_poles([0.01 + 0.3j, -0.2], np.ones((2, 1)), np.ones((1, 2)), dt=1.0)
    R = controllability_gramian(u, horizon=L, factor=True)
    assert np.allclose(R @ H(R), controllability_gramian(u.to_dense(), horizon=L), rtol=1e-10)
    with pytest.raises(UnstableSystemError):
        controllability_gramian(u)


def test_horizon_one_is_bbh():
    sys = random_dense(4, 2, 1, discrete=True, seed=9)
    assert np.allclose(controllability_gramian(sys, horizon=1), sys.B @ sys.B.T)


def test_unstable_errors_name_the_poles():
    sys = LTI(np.diag([-1.0, 0.5, -2.0]), np.ones((3, 1)), np.ones((1, 3)))
    with pytest.raises(UnstableSystemError, match="1 unstable pole") as info:
        controllability_gramian(sys)
    assert np.allclose(info.value.poles, [0.5])
    d = DiagonalLTI([[-1.0, -2.0], [-1.0, 0.0 + 1j]], np.ones((2, 2, 1)), np.ones((2, 1, 2)))
    with pytest.raises(UnstableSystemError, match=r"\(1, 1\)") as info:
        mor.hankel_singular_values(d)
    assert info.value.index == [(1, 1)]
    with pytest.raises(UnstableSystemError):
        observability_gramian(LTI([[1.0]], [[1.0]], [[1.0]], dt=0.1))


@pytest.mark.parametrize("batched", [False, True])
def test_hankel_singular_values_name_the_poles_as_given_not_scaled(batched):
    # hankel_singular_values scales A by a power of two before the Gramians: the error named the
    # scaled poles (0.75 for 3, 0.5j for 1j)
    sys = LTI(np.diag([3.0, -1.0]), np.ones((2, 1)), np.ones((1, 2)))
    arg = [LTI(-np.eye(2), np.ones((2, 1)), np.ones((1, 2))), sys] if batched else sys
    with pytest.raises(UnstableSystemError, match=r"\(0,\): 3[;+]") as info:
        mor.hankel_singular_values(arg)
    assert np.allclose(info.value.poles, [3.0])
    rot = LTI([[0.0, 1.0], [-1.0, 0.0]], np.ones((2, 1)), np.ones((1, 2)))
    with pytest.raises(UnstableSystemError) as info:
        mor.hankel_singular_values(rot)
    assert np.allclose(np.sort_complex(info.value.poles), [-1j, 1j])


def test_bad_options():
    sys = random_dense(3)
    with pytest.raises(MethodError, match="method for dense"):
        controllability_gramian(sys, method="cauchy")
    with pytest.raises(MethodError, match="method for diagonal"):
        controllability_gramian(random_diagonal(2, 3), method="scipy")
    with pytest.raises(SystemTypeError, match="discrete-time"):
        controllability_gramian(sys, horizon=3)
    with pytest.raises(InvalidArgumentError, match="horizon"):
        controllability_gramian(random_dense(3, discrete=True), horizon=0)
    with pytest.raises(ArgumentTypeError, match="horizon"):
        controllability_gramian(random_dense(3, discrete=True), horizon=2.0)
    with pytest.raises(InvalidArgumentError, match="unbatched"):
        controllability_gramian(random_diagonal(2, 3), method="dense")


def test_near_unit_circle_uses_log_poles():
    # |z| = exp(-1e-9): 1 - |z|^2 computed from z alone loses ~7 digits; from mu it is exact
    mu = np.array([-1e-9 + 0.2j])
    sys = DiagonalLTI.from_log_poles(mu, [[1.0]], [[1.0]], dt=1.0)
    P = controllability_gramian(sys)
    assert P[0, 0].real == pytest.approx(1 / -np.expm1(-2e-9), rel=1e-14)
