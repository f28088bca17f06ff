"""Hammarling's method: Cholesky factors of Lyapunov/Stein solutions without forming them."""

import pathlib

import numpy as np
import pytest
from helpers import random_dense

import mor
from mor import DiagonalLTI, gramians, hankel_singular_values
from mor.gramians.dense import psd_factor
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
@pytest.mark.parametrize("n", [30, 120])  # 120: the leading-block BLAS solves (n >= 96)
def test_factor_solves_the_triangular_equation(discrete, m, n):
    rng = np.random.default_rng(m + 10 * discrete)
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
    old = np.linalg.svd(psd_factor(Q).conj().T @ psd_factor(P), compute_uv=False)
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



def _relative_residual(A, X, BB, discrete):
    """``||A X A^H - X + BB|| / (||A||^2 ||X|| + ||X||)`` or ``||A X + X A^H + BB|| / (2 ||A|| ||X||)``."""
    if discrete:
        R = A @ X @ A.conj().T - X + BB
        return np.linalg.norm(R) / ((np.linalg.norm(A, 2) ** 2 + 1) * np.linalg.norm(X, 2))
    R = A @ X + X @ A.conj().T + BB
    return np.linalg.norm(R) / (2 * np.linalg.norm(A, 2) * np.linalg.norm(X, 2))


@pytest.mark.parametrize("discrete", [False, True])
def test_factor_is_exactly_scale_equivariant_down_to_tiny_right_hand_sides(discrete):
    """``U(T, c B) = c U(T, B)`` for ``c = 2^-560``: no underflow in ``||b||`` (the former bug).

    ``||b||`` was ``sqrt(b^H b)``, which underflows below ~1e-154, so ``beta = b / ||b||`` lost its
    unit norm and the update of the right-hand side broke; the running right-hand side of
    non-normal models decays that far within the first few steps.
    """
    rng = np.random.default_rng(7)
    T = _triangular(20, rng, discrete=discrete)
    B = rng.standard_normal((20, 2)) + 1j * rng.standard_normal((20, 2))
    c = 2.0**-560
    U = triangular_lyapunov_factor(T, B, discrete=discrete)
    Uc = triangular_lyapunov_factor(T, c * B, discrete=discrete)
    np.testing.assert_allclose(Uc / c, U, rtol=0, atol=1e-15 * np.abs(U).max())


@pytest.mark.parametrize("discrete", [False, True])
def test_diagonal_spread_poles_one_input(discrete):
    """400 real poles evenly spread over [-1000, -1] (or their ZOH images), one input: entry-wise
    against the closed form (the running right-hand side underflows; the error was 4e-2 before)."""
    lam = -np.linspace(1, 1000, 400)
    d = np.exp(lam * 1e-3) if discrete else lam
    T = np.diag(d).astype(complex)
    B = np.ones((400, 1), dtype=complex)
    U = triangular_lyapunov_factor(T, B, discrete=discrete)
    X = U @ U.conj().T
    s = d[:, None] + d[None, :]
    exact = 1.0 / (1.0 - d[:, None] * d[None, :]) if discrete else -1.0 / s
    assert np.abs(X - exact).max() <= 1e-13 * np.abs(exact).max()


@pytest.fixture(scope="module")
def convection_diffusion_900():
    s = mor.models.convection_diffusion_2d(30)
    return mor.LTI(s.A.toarray(), np.asarray(s.B), np.asarray(s.C))


@pytest.mark.parametrize("discrete", [False, True])
def test_non_normal_convection_diffusion_gramian_factors(convection_diffusion_900, discrete):
    """n = 900 convection-diffusion: both factors solve their equations to ~eps (was 1.8e-10 for P)."""
    sys = convection_diffusion_900
    if discrete:
        sys = mor.discretize(sys, 1e-4)
    R, S = gramians(sys, factor=True)
    rp = _relative_residual(sys.A, R @ R.T, sys.B @ sys.B.T, discrete)
    rq = _relative_residual(sys.A.T, S @ S.T, sys.C.T @ sys.C, discrete)
    assert rp <= 1e-14 and rq <= 1e-14


@pytest.mark.slycot
def test_non_normal_factor_agrees_with_slicot(convection_diffusion_900):
    """The same controllability Gramian as SLICOT's SB03OD (Hammarling's method in real arithmetic)."""
    slycot = pytest.importorskip("slycot")
    sys = convection_diffusion_900
    n, m = sys.B.shape
    Bpad = np.zeros((n, n))
    Bpad[:, :m] = sys.B
    U, scale, _ = slycot.sb03od(n, n, sys.A.copy(), np.zeros((n, n)), Bpad, "C", trans="T")
    P_slicot = U @ U.T / scale**2
    R = mor.controllability_gramian(sys, factor=True)
    P = R @ R.T
    assert np.linalg.norm(P - P_slicot) <= 1e-12 * np.linalg.norm(P_slicot)


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("m", [1, 2])
def test_subnormal_right_hand_side(discrete, m):
    """``b`` in the subnormal range (``2^-1040``): the factor is still ``2^-1040`` times that of ``B``
    to the precision the subnormal ``b`` itself keeps (the directions ``beta`` stay unit vectors)."""
    rng = np.random.default_rng(11)
    T = _triangular(12, rng, discrete=discrete)
    B = rng.standard_normal((12, m)) + 1j * rng.standard_normal((12, m))
    c = 2.0**-1040
    U = triangular_lyapunov_factor(T, B, discrete=discrete)
    Uc = triangular_lyapunov_factor(T, c * B, discrete=discrete)
    assert np.all(np.isfinite(Uc))
    np.testing.assert_allclose(Uc * 2.0**520 * 2.0**520, U, rtol=0, atol=1e-6 * np.abs(U).max())


@pytest.mark.parametrize("discrete", [False, True])
def test_leading_block_solves_equal_the_whole_matrix_ones(discrete, monkeypatch):
    """The BLAS leading-block route (n >= 96) and scipy's wrapper on the whole matrix agree."""
    import mor.hammarling as ham

    rng = np.random.default_rng(5)
    T = _triangular(100, rng, discrete=discrete)
    B = rng.standard_normal((100, 2)) + 1j * rng.standard_normal((100, 2))
    U = triangular_lyapunov_factor(T, B, discrete=discrete)
    monkeypatch.setattr(ham, "_LEADING_MIN_ORDER", 10**9)
    U_whole = triangular_lyapunov_factor(T, B, discrete=discrete)
    X, X_whole = U @ U.conj().T, U_whole @ U_whole.conj().T  # (columns of U are ill-conditioned)
    np.testing.assert_allclose(X, X_whole, rtol=0, atol=1e-13 * np.abs(X).max())
