"""Tests of mor.lyapunov: residuals, agreement with scipy/slycot, Schur reuse, typed errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla

from mor import lyapunov as lyap
from mor.errors import (
    ArgumentTypeError,
    BackendUnavailableError,
    DimensionError,
    InvalidArgumentError,
    MethodError,
    NonFiniteError,
    UnstableSystemError,
)
from mor.lyapunov import SchurForm, complex_schur, solve_lyapunov

EPS = np.finfo(np.float64).eps
SIZES = [1, 2, 7, 64, 200]  # 64 and 200 cross the recursion base cases (32 continuous, 64 discrete)


def _stable(n, *, discrete, complex_, seed, m=2):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    B = rng.standard_normal((n, m))
    if complex_:
        A = A + 1j * rng.standard_normal((n, n))
        B = B + 1j * rng.standard_normal((n, m))
    A /= np.sqrt(n)
    ev = np.linalg.eigvals(A)
    if discrete:
        A = 0.9 * A / np.max(np.abs(ev))
    else:
        A = A - (np.max(ev.real) + 0.5) * np.eye(n)
    return A, B @ B.conj().T


def _residual(A, X, Q, *, discrete, adjoint):
    Aop = A.conj().T if adjoint else A
    R = Aop @ X @ Aop.conj().T - X + Q if discrete else Aop @ X + X @ Aop.conj().T + Q
    scale = np.linalg.norm(A) ** 2 * np.linalg.norm(X) + np.linalg.norm(Q)
    return np.linalg.norm(R) / scale


def _reference(A, Q, *, discrete, adjoint):
    """Textbook dense Kronecker solve (independent of every solver under test)."""
    n = A.shape[0]
    Aop = A.conj().T if adjoint else A
    eye = np.eye(n * n)
    # vec(M X N) = (N^T kron M) vec(X), column-major vec
    K = np.kron(Aop.conj(), Aop) - eye if discrete else np.kron(np.eye(n), Aop) + np.kron(Aop.conj(), np.eye(n))
    x = np.linalg.solve(K, -Q.reshape(-1, order="F"))
    return x.reshape(n, n, order="F")


# --------------------------------------------------------------------------- residuals, dtypes


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("discrete", [False, True], ids=["cont", "disc"])
@pytest.mark.parametrize("adjoint", [False, True], ids=["direct", "adjoint"])
def test_residual_all_four_equations(n, complex_, discrete, adjoint):
    A, Q = _stable(n, discrete=discrete, complex_=complex_, seed=n + 10 * complex_)
    X = solve_lyapunov(A, Q, discrete=discrete, adjoint=adjoint)
    assert X.dtype == (np.complex128 if complex_ else np.float64)
    assert X.shape == (n, n)
    assert np.array_equal(X, X.conj().T)  # exactly Hermitian
    assert _residual(A, X, Q, discrete=discrete, adjoint=adjoint) <= 1e2 * n * EPS
    # the solution is a Gramian: positive semi-definite
    assert np.min(np.linalg.eigvalsh(X)) >= -1e3 * n * EPS * np.linalg.norm(X, 2)


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("discrete", [False, True], ids=["cont", "disc"])
@pytest.mark.parametrize("adjoint", [False, True], ids=["direct", "adjoint"])
def test_matches_kronecker_reference(complex_, discrete, adjoint):
    A, Q = _stable(9, discrete=discrete, complex_=complex_, seed=3)
    X = solve_lyapunov(A, Q, discrete=discrete, adjoint=adjoint)
    Xr = _reference(A, Q, discrete=discrete, adjoint=adjoint)
    np.testing.assert_allclose(X, Xr, rtol=0, atol=1e-12 * np.linalg.norm(Xr))


@pytest.mark.parametrize("n", [64, 200])
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("discrete", [False, True], ids=["cont", "disc"])
@pytest.mark.parametrize("adjoint", [False, True], ids=["direct", "adjoint"])
def test_agrees_with_scipy(n, complex_, discrete, adjoint):
    A, Q = _stable(n, discrete=discrete, complex_=complex_, seed=7)
    X = solve_lyapunov(A, Q, discrete=discrete, adjoint=adjoint)
    Aop = A.conj().T if adjoint else A
    if discrete:
        Xs = sla.solve_discrete_lyapunov(Aop, Q)
    else:
        Xs = sla.solve_continuous_lyapunov(Aop, -Q)
    np.testing.assert_allclose(X, Xs, rtol=0, atol=1e-11 * np.linalg.norm(Xs))
    Xm = solve_lyapunov(A, Q, discrete=discrete, adjoint=adjoint, method="scipy")
    np.testing.assert_allclose(Xm, Xs, rtol=0, atol=1e-13 * np.linalg.norm(Xs))
    assert Xm.dtype == X.dtype


@pytest.mark.slycot
@pytest.mark.parametrize("n", [7, 64])
@pytest.mark.parametrize("discrete", [False, True], ids=["cont", "disc"])
@pytest.mark.parametrize("adjoint", [False, True], ids=["direct", "adjoint"])
def test_agrees_with_slycot(n, discrete, adjoint):
    pytest.importorskip("slycot")
    A, Q = _stable(n, discrete=discrete, complex_=False, seed=11)
    X = solve_lyapunov(A, Q, discrete=discrete, adjoint=adjoint)
    Xl = solve_lyapunov(A, Q, discrete=discrete, adjoint=adjoint, method="slycot")
    assert Xl.dtype == np.float64
    assert _residual(A, Xl, Q, discrete=discrete, adjoint=adjoint) <= 1e2 * n * EPS
    np.testing.assert_allclose(X, Xl, rtol=0, atol=1e-11 * np.linalg.norm(Xl))


def test_real_input_gives_real_output_and_complex_q_complex_output():
    A, Q = _stable(40, discrete=False, complex_=False, seed=1)
    assert solve_lyapunov(A, Q).dtype == np.float64
    assert solve_lyapunov(A.astype(np.float32), Q.astype(np.int64) * 0 + Q).dtype == np.float64
    Qc = Q + 1j * np.triu(np.ones_like(Q), 1) - 1j * np.tril(np.ones_like(Q), -1)
    X = solve_lyapunov(A, Qc)
    assert X.dtype == np.complex128
    assert _residual(A, X, Qc, discrete=False, adjoint=False) <= 1e2 * 40 * EPS


@pytest.mark.parametrize("discrete", [False, True], ids=["cont", "disc"])
@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_nonhermitian_q_solved_as_sylvester(discrete, complex_):
    A, _ = _stable(70, discrete=discrete, complex_=complex_, seed=5)
    rng = np.random.default_rng(0)
    Q = rng.standard_normal((70, 70))
    for adjoint in (False, True):
        X = solve_lyapunov(A, Q, discrete=discrete, adjoint=adjoint)
        assert not np.allclose(X, X.conj().T)
        assert _residual(A, X, Q, discrete=discrete, adjoint=adjoint) <= 1e2 * 70 * EPS


def test_empty_system():
    X = solve_lyapunov(np.zeros((0, 0)), np.zeros((0, 0)))
    assert X.shape == (0, 0) and X.dtype == np.float64


# --------------------------------------------------------------------------- Schur form and reuse


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("n", [1, 2, 5, 64])
def test_complex_schur(complex_, n):
    A, _ = _stable(n, discrete=False, complex_=complex_, seed=2)
    T, Z = complex_schur(A)
    assert T.dtype == Z.dtype == np.complex128
    assert np.array_equal(T, np.triu(T))
    np.testing.assert_allclose(Z.conj().T @ Z, np.eye(n), atol=1e2 * n * EPS)
    np.testing.assert_allclose(Z @ T @ Z.conj().T, A, atol=1e2 * n * EPS * np.linalg.norm(A))
    np.testing.assert_allclose(
        np.sort_complex(np.diagonal(T)), np.sort_complex(np.linalg.eigvals(A)), atol=1e-10
    )


def test_complex_schur_of_real_matrix_with_complex_pairs():
    # rotation block [[0, 1], [-4, 0]]: eigenvalues +-2i, plus a real eigenvalue
    A = np.array([[0.0, 1.0, 3.0], [-4.0, 0.0, 1.0], [0.0, 0.0, -1.0]])
    T, Z = complex_schur(A)
    assert np.array_equal(T, np.triu(T))
    np.testing.assert_allclose(Z @ T @ Z.conj().T, A, atol=1e-14)
    np.testing.assert_allclose(np.sort_complex(np.diagonal(T)), [-1, -2j, 2j], atol=1e-14)


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("discrete", [False, True], ids=["cont", "disc"])
def test_schur_reuse_identical(complex_, discrete):
    A, Q = _stable(90, discrete=discrete, complex_=complex_, seed=4)
    S = complex_schur(A)
    assert isinstance(S, SchurForm)
    for adjoint in (False, True):
        X = solve_lyapunov(A, Q, discrete=discrete, adjoint=adjoint)
        Xs = solve_lyapunov(A, Q, discrete=discrete, adjoint=adjoint, schur=S)
        np.testing.assert_array_equal(X, Xs)
        # a plain (T, Z) tuple (complex transformations) agrees to rounding
        Xt = solve_lyapunov(A, Q, discrete=discrete, adjoint=adjoint, schur=(S.T, S.Z))
        assert Xt.dtype == X.dtype
        np.testing.assert_allclose(Xt, X, rtol=0, atol=1e-12 * np.linalg.norm(X))


def test_schur_from_scipy_complex_form_accepted():
    A, Q = _stable(50, discrete=False, complex_=False, seed=8)
    T, Z = sla.schur(A.astype(complex), output="complex")
    X = solve_lyapunov(A, Q, adjoint=True, schur=(T, Z))
    assert X.dtype == np.float64
    assert _residual(A, X, Q, discrete=False, adjoint=True) <= 1e2 * 50 * EPS


def test_bad_schur_raises():
    A, Q = _stable(20, discrete=False, complex_=False, seed=9)
    B, _ = _stable(20, discrete=False, complex_=False, seed=10)
    with pytest.raises(InvalidArgumentError, match="not a Schur form"):
        solve_lyapunov(A, Q, schur=complex_schur(B))
    Tr, Zr = sla.schur(A)  # real quasi-triangular: not accepted
    if np.any(np.tril(Tr, -1)):
        with pytest.raises(InvalidArgumentError, match="upper triangular"):
            solve_lyapunov(A, Q, schur=(Tr, Zr))
    T, Z = complex_schur(A)
    with pytest.raises(DimensionError):
        solve_lyapunov(A, Q, schur=(T[:5, :5], Z))
    with pytest.raises(ArgumentTypeError):
        solve_lyapunov(A, Q, schur=(T,))
    with pytest.raises(InvalidArgumentError, match="schur"):
        solve_lyapunov(A, Q, schur=(T, Z), method="scipy")


# --------------------------------------------------------------------------- fast path vs plain reference


@pytest.mark.parametrize("nb", [1, 3, 8, 100])
@pytest.mark.parametrize("discrete", [False, True], ids=["cont", "disc"])
def test_recursion_independent_of_block_size(nb, discrete):
    A, Q = _stable(37, discrete=discrete, complex_=True, seed=12)
    T, Z = complex_schur(A)
    C = Z.conj().T @ Q @ Z
    C = 0.5 * (C + C.conj().T)
    ref = _reference(T, C, discrete=discrete, adjoint=False)
    for hermitian in (True, False):
        Y = lyap._solve_triangular_lyap(T, C, discrete=discrete, hermitian=hermitian, nb=nb)
        np.testing.assert_allclose(Y, ref, rtol=0, atol=1e-12 * np.linalg.norm(ref))


def test_rectangular_sylvester_blocks():
    rng = np.random.default_rng(13)
    A = np.triu(rng.standard_normal((23, 23)) + 1j * rng.standard_normal((23, 23))) / 5
    B = np.triu(rng.standard_normal((9, 9)) + 1j * rng.standard_normal((9, 9))) / 5
    A[np.diag_indices(23)] = -1 - rng.random(23)
    B[np.diag_indices(9)] = -1 - rng.random(9)
    C = rng.standard_normal((23, 9)) + 1j * rng.standard_normal((23, 9))
    for nb in (2, 4, 50):
        X = lyap._sylv_c(A, B, C, nb)
        np.testing.assert_allclose(A @ X + X @ B.conj().T, C, atol=1e-13)
        Ad, Bd = A / 3, B / 3
        X = lyap._stein_sylv(Ad, Bd, C, nb)
        np.testing.assert_allclose(X - Ad @ X @ Bd.conj().T, C, atol=1e-13)
        X = lyap._stein_sylv(Bd, Ad, C.T, nb)
        np.testing.assert_allclose(X - Bd @ X @ Ad.conj().T, C.T, atol=1e-13)


# --------------------------------------------------------------------------- singular equations


@pytest.mark.parametrize("method", [None, "scipy"])
def test_singular_continuous_raises(method):
    # eigenvalues +-i: lambda_1 + conj(lambda_1) = 0
    A = np.array([[0.0, 1.0], [-1.0, 0.0]])
    with pytest.raises(UnstableSystemError):
        solve_lyapunov(A, np.eye(2), method=method)
    # pair lambda_i + conj(lambda_j) = 0 with both eigenvalues off the axis
    A = np.diag([1.0 + 2.0j, -1.0 + 2.0j])
    with pytest.raises(UnstableSystemError, match="singular") as info:
        solve_lyapunov(A, np.eye(2), method=method)
    if method is None:
        assert set(np.round(info.value.poles, 12)) == {1 + 2j, -1 + 2j}


@pytest.mark.parametrize("method", [None, "scipy"])
def test_singular_discrete_raises(method):
    theta = 0.3
    A = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])  # |z| = 1
    with pytest.raises(UnstableSystemError, match="discrete"):
        solve_lyapunov(A, np.eye(2), discrete=True, method=method)
    A = np.diag([2.0, 0.5])  # 2 * 0.5 = 1
    with pytest.raises(UnstableSystemError):
        solve_lyapunov(A, np.eye(2), discrete=True, adjoint=True, method=method)
    A = np.diag([0.5 + 0.5j, 1.0 + 1.0j])  # (0.5+0.5j) * conj(1+1j) = 1
    with pytest.raises(UnstableSystemError):
        solve_lyapunov(A, np.eye(2), discrete=True, method=method)


def test_large_singular_block_raises():
    A, Q = _stable(80, discrete=False, complex_=False, seed=14)
    A[:, 40] = 0.0
    A[40, :] = 0.0  # eigenvalue 0: lambda + conj(lambda) = 0
    with pytest.raises(UnstableSystemError):
        solve_lyapunov(A, Q)


@pytest.mark.parametrize("discrete", [False, True], ids=["cont", "disc"])
def test_singularity_check_across_row_chunks(discrete):
    rng = np.random.default_rng(21)
    t = -0.5 - rng.random(1100) + 1j * rng.standard_normal(1100)
    if discrete:
        t = t / (2 * np.max(np.abs(t)))
    lyap._check_nonsingular(t, discrete)  # well separated: no error
    t[1050] = 0.5j if not discrete else 1.0  # pairs with itself, beyond the first chunk
    t[3] = -0.25 + 1.0j if not discrete else 0.5
    t[700] = 0.25 + 1.0j if not discrete else 2.0  # pairs with t[3]
    with pytest.raises(UnstableSystemError) as info:
        lyap._check_nonsingular(t, discrete)
    assert info.value.index == [3, 700, 1050]


def test_unstable_but_nonsingular_is_solved():
    # the equation is uniquely solvable for anti-stable A too (X is then negative definite)
    A, Q = _stable(30, discrete=False, complex_=True, seed=15)
    X = solve_lyapunov(-A, Q)
    assert _residual(-A, X, Q, discrete=False, adjoint=False) <= 1e2 * 30 * EPS


# --------------------------------------------------------------------------- input validation


def test_bad_shapes_raise():
    A, Q = _stable(4, discrete=False, complex_=False, seed=16)
    with pytest.raises(DimensionError, match="square"):
        solve_lyapunov(A[:, :3], Q)
    with pytest.raises(DimensionError, match="square"):
        solve_lyapunov(np.ones(4), Q)
    with pytest.raises(DimensionError, match="shape of A"):
        solve_lyapunov(A, Q[:3, :3])
    with pytest.raises(DimensionError, match="square"):
        solve_lyapunov(A, Q[:, :3])
    with pytest.raises(DimensionError):
        complex_schur(np.ones((2, 3)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_raises(bad):
    A, Q = _stable(4, discrete=False, complex_=False, seed=17)
    A2 = A.copy()
    A2[1, 2] = bad
    with pytest.raises(NonFiniteError, match=r"A .*\(1, 2\)"):
        solve_lyapunov(A2, Q)
    Q2 = Q.astype(complex)
    Q2[0, 0] = bad
    with pytest.raises(NonFiniteError, match="Q"):
        solve_lyapunov(A, Q2, method="scipy")
    with pytest.raises(NonFiniteError):
        complex_schur(A2)


def test_unknown_method_raises():
    A, Q = _stable(3, discrete=False, complex_=False, seed=18)
    with pytest.raises(MethodError, match="method must be one of"):
        solve_lyapunov(A, Q, method="bartels")
    with pytest.raises(MethodError):
        solve_lyapunov(A, Q, method=3)


def test_non_numeric_input_raises():
    with pytest.raises(ArgumentTypeError, match="A must be numeric"):
        solve_lyapunov([["a", "b"], ["c", "d"]], np.eye(2))


@pytest.mark.slycot
def test_slycot_rejects_complex_input():
    pytest.importorskip("slycot")
    A, Q = _stable(4, discrete=False, complex_=True, seed=19)
    with pytest.raises(InvalidArgumentError, match="imaginary"):
        solve_lyapunov(A, Q, method="slycot")
    with pytest.raises(InvalidArgumentError, match="imaginary"):
        solve_lyapunov(A.real, Q, method="slycot")


@pytest.mark.slycot
def test_slycot_singular_raises():
    pytest.importorskip("slycot")
    A = np.array([[0.0, 1.0], [-1.0, 0.0]])
    with pytest.raises(UnstableSystemError):
        solve_lyapunov(A, np.eye(2), method="slycot")


def test_slycot_missing_raises(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "slycot" or name.startswith("slycot."):
            raise ImportError("No module named 'slycot'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    A, Q = _stable(3, discrete=False, complex_=False, seed=20)
    with pytest.raises(BackendUnavailableError, match="slycot"):
        solve_lyapunov(A, Q, method="slycot")
