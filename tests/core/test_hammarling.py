"""Hammarling's method: Cholesky factors of Lyapunov/Stein solutions without forming them."""

import pathlib

import numpy as np
import pytest
from helpers import random_dense

import mor
from mor import DiagonalLTI, gramians, hankel_singular_values
from mor.gramians import _psd_factor
from mor.hammarling import triangular_lyapunov_factor
from mor.lyapunov import solve_lyapunov

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"


def _triangular(n, rng, *, discrete, complex_=True):
    T = np.triu(rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n)) if complex_ else 0)) / np.sqrt(n)
    if discrete:
        diag = rng.uniform(0, 0.95, n) * np.exp(2j * np.pi * rng.uniform(size=n))
    else:
        diag = -rng.uniform(0.01, 2, n) + 1j * rng.uniform(-5, 5, n)
    T[np.arange(n), np.arange(n)] = diag
    return T


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("m", [1, 3])
def test_factor_solves_the_triangular_equation(discrete, m):
    rng = np.random.default_rng(m + 10 * discrete)
    n = 30
    T = _triangular(n, rng, discrete=discrete)
    B = rng.standard_normal((n, m)) + 1j * rng.standard_normal((n, m))
    U = triangular_lyapunov_factor(T, B, discrete=discrete)
    assert np.array_equal(U, np.triu(U)) and np.all(np.diag(U).imag == 0) and np.all(np.diag(U).real >= 0)
    X = U @ U.conj().T
    residual = (T @ X @ T.conj().T - X if discrete else T @ X + X @ T.conj().T) + B @ B.conj().T
    assert np.linalg.norm(residual) <= 1e-13 * np.linalg.norm(B) ** 2
    # the same X as the Bartels-Stewart-type solver
    ref = solve_lyapunov(T, B @ B.conj().T, discrete=discrete)
    np.testing.assert_allclose(X, ref, atol=1e-12 * np.abs(ref).max())


def test_edge_cases_zero_rows_deadbeat_poles_and_no_inputs():
    rng = np.random.default_rng(3)
    n = 8
    T = _triangular(n, rng, discrete=True)
    T[[0, 3, 7], [0, 3, 7]] = 0.0  # poles at z = 0 (deadbeat), including the first step
    B = rng.standard_normal((n, 2)).astype(complex)
    B[[2, 7]] = 0.0  # zero rows of the running right-hand side
    U = triangular_lyapunov_factor(T, B, discrete=True)
    X = U @ U.conj().T
    assert np.linalg.norm(T @ X @ T.conj().T - X + B @ B.conj().T) <= 1e-13 * np.linalg.norm(B) ** 2
    assert U[7, 7] == 0 and not np.any(U[:, 7])
    assert not np.any(triangular_lyapunov_factor(T, np.zeros((n, 0)), discrete=True))
    assert triangular_lyapunov_factor(np.zeros((0, 0)), np.zeros((0, 1))).shape == (0, 0)


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("complex_", [False, True])
def test_dense_gramian_factors(discrete, complex_):
    """``gramians(factor=True)`` reproduces both Gramians; real systems get real factors."""
    sys = random_dense(25, 2, 3, complex_=complex_, discrete=discrete, seed=4)
    P, Q = gramians(sys)
    R, S = gramians(sys, factor=True)
    assert np.iscomplexobj(R) == complex_ and np.iscomplexobj(S) == complex_
    assert R.shape[0] == S.shape[0] == 25 and R.shape[1] <= 25 and S.shape[1] <= 25
    np.testing.assert_allclose(R @ R.conj().T, P, atol=1e-12 * np.abs(P).max())
    np.testing.assert_allclose(S @ S.conj().T, Q, atol=1e-12 * np.abs(Q).max())
    Rc = mor.controllability_gramian(sys, factor=True)
    So = mor.observability_gramian(sys, factor=True)
    np.testing.assert_allclose(Rc @ Rc.conj().T, P, atol=1e-12 * np.abs(P).max())
    np.testing.assert_allclose(So @ So.conj().T, Q, atol=1e-12 * np.abs(Q).max())


def _graded_truth():
    with np.load(DATA / "hsv_truth_s4d_lin_graded_ct.npz", allow_pickle=False) as f:
        sys = DiagonalLTI(f["poles"][0], f["B"][0][:, None], f["C"][0][None, :])
        return sys, f["hsv"][0]


def test_dense_hsvs_are_accurate_to_eps_sigma1():
    """A system whose values fall to 1e-31 sigma_1 (mpmath truth), given to the dense path.

    With the factors computed directly, every value has an absolute error of a small multiple of
    ``eps sigma_1``; the factors of the eigendecompositions of ``P`` and ``Q`` lose everything below
    about ``1e-7 sigma_1`` (returned as 0) and have ~1e-5 relative errors already near ``1e-6 sigma_1``.
    """
    diag, truth = _graded_truth()
    dense = diag.to_dense()
    hsv = hankel_singular_values(dense)
    s1 = truth[0]
    abs_err = np.abs(hsv - truth)
    assert abs_err.max() <= 100 * np.finfo(float).eps * s1
    mid = (truth >= 1e-8 * s1) & (truth < 1e-5 * s1)
    assert mid.sum() >= 5
    assert np.max(abs_err[mid] / truth[mid]) < 1e-8
    # the eigendecomposition-based factor (still used for finite horizons and other solvers)
    P, Q = gramians(dense)
    old = np.linalg.svd(_psd_factor(Q).conj().T @ _psd_factor(P), compute_uv=False)
    old = np.concatenate([old, np.zeros(64 - old.size)])
    assert np.max(np.abs(old[mid] - truth[mid]) / truth[mid]) > 1e-4  # what the new path fixes


def test_balanced_truncation_agrees_with_the_diagonal_path_on_small_values():
    """Dense and diagonal reductions of the same system agree where both are meaningful."""
    diag, truth = _graded_truth()
    dense = diag.to_dense()
    r = int(np.sum(truth > 1e-9 * truth[0]))
    res_d = mor.balanced_truncation(dense, r)
    res_g = mor.balanced_truncation(diag, r)
    np.testing.assert_allclose(res_d.hsv[:r], truth[:r], rtol=1e-6)
    w = np.linspace(-80, 80, 401)
    Gd = mor.transfer_function(res_d.reduced, 1j * w)
    Gg = mor.transfer_function(res_g.reduced, 1j * w)
    G = mor.transfer_function(diag, 1j * w)
    scale = np.abs(G).max()
    assert np.abs(Gd - Gg).max() <= 1e-6 * scale
    assert np.abs(Gd - G).max() <= res_d.error_bound + 1e-12 * scale

