"""Descriptor systems: generalised Gramians (vs SLICOT SG03BD), reduction with E, index-1 elimination."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.signal
import scipy.sparse as sps

import mor
from mor import LTI, SparseLTI
from mor.errors import AccuracyWarning, ArgumentConflictError, SystemTypeError, UnstableSystemError
from mor.linalg.pencil import generalized_schur, triangular_pencil_factor
from mor.models import heat_fem_1d, rc_network_dae
from mor.systems.descriptor import eliminate_algebraic, standard_form
from mor.systems.sparse import sparse_transfer


def random_descriptor(n, m=2, p=3, *, complex_=False, discrete=False, seed=0) -> LTI:
    """A random descriptor system with a non-singular, non-symmetric E and a stable pencil."""
    rng = np.random.default_rng(seed)

    def draw(*shape):
        x = rng.standard_normal(shape)
        return x + 1j * rng.standard_normal(shape) if complex_ else x

    A, E = draw(n, n), draw(n, n) + 2 * np.eye(n)
    lam = sla.eigvals(A, E)
    A = A / (1.2 * np.abs(lam).max()) if discrete else A - (lam.real.max() + 0.5) * E
    return LTI(A, draw(n, m), draw(p, n), draw(p, m), 0.5 if discrete else None, E=E)


def _residuals(sys, P, Q):
    A, E, B, C = sys.A, sys.E, sys.B, sys.C
    if sys.dt is None:
        rP = A @ P @ E.conj().T + E @ P @ A.conj().T + B @ B.conj().T
        rQ = A.conj().T @ Q @ E + E.conj().T @ Q @ A + C.conj().T @ C
    else:
        rP = A @ P @ A.conj().T - E @ P @ E.conj().T + B @ B.conj().T
        rQ = A.conj().T @ Q @ A - E.conj().T @ Q @ E + C.conj().T @ C
    scale = (np.linalg.norm(A) + np.linalg.norm(E)) ** 2
    return np.linalg.norm(rP) / (scale * np.linalg.norm(P)), np.linalg.norm(rQ) / (scale * np.linalg.norm(Q))


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("complex_", [False, True])
def test_generalised_gramians_solve_their_equations(discrete, complex_):
    sys = random_descriptor(9, complex_=complex_, discrete=discrete, seed=3)
    P, Q = mor.gramians(sys)
    rP, rQ = _residuals(sys, P, Q)
    assert rP < 1e-13 and rQ < 1e-13
    assert np.allclose(P, P.conj().T) and np.linalg.eigvalsh(P).min() > -1e-12 * np.linalg.norm(P)
    R, S = mor.gramians(sys, factor=True)
    assert np.isrealobj(R) != complex_ and np.allclose(R @ R.conj().T, P) and np.allclose(S @ S.conj().T, Q)
    assert np.allclose(mor.controllability_gramian(sys), P) and np.allclose(mor.observability_gramian(sys), Q)


@pytest.mark.parametrize("discrete", [False, True])
def test_triangular_pencil_factor_reduces_to_hammarling_for_identity(discrete):
    from mor.hammarling import triangular_lyapunov_factor

    rng = np.random.default_rng(0)
    T = np.triu(rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6)))
    d = rng.uniform(0.1, 0.9, 6) * np.exp(2j * np.pi * rng.uniform(size=6))
    T[np.diag_indices(6)] = d if discrete else -np.abs(d) + 1j * d.imag
    B = rng.standard_normal((6, 2))
    U1 = triangular_pencil_factor(T, np.eye(6), B, discrete=discrete)
    U2 = triangular_lyapunov_factor(T, B, discrete=discrete)
    assert np.allclose(U1 @ U1.conj().T, U2 @ U2.conj().T, rtol=1e-12, atol=1e-12 * np.abs(U2).max() ** 2)


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_against_slicot_sg03bd(discrete, seed):
    slycot = pytest.importorskip("slycot")
    n, m, p = 10, 2, 3
    sys = random_descriptor(n, m, p, discrete=discrete, seed=seed)
    dico = "D" if discrete else "C"
    Bp = np.zeros((n, n))
    Bp[:, :m] = sys.B  # trans='T': A X E^T + E X A^T = -scale^2 B B^T (B stored n x m, LDB >= n)
    Up, sp, _ = slycot.sg03bd(n, m, sys.A.copy(), sys.E.copy(), np.zeros((n, n)), np.zeros((n, n)), Bp,
                              dico=dico, trans="T", ldwork=10 * n + 16)
    Cp = np.zeros((n, n))
    Cp[:p] = sys.C  # trans='N': A^T X E + E^T X A = -scale^2 C^T C
    Uq, sq, _ = slycot.sg03bd(n, p, sys.A.copy(), sys.E.copy(), np.zeros((n, n)), np.zeros((n, n)), Cp,
                              dico=dico, trans="N", ldwork=10 * n + 16)
    Ps, Qs = Up @ Up.T / sp**2, Uq.T @ Uq / sq**2
    P, Q = mor.gramians(sys)
    assert np.linalg.norm(P - Ps) <= 1e-11 * np.linalg.norm(Ps)
    assert np.linalg.norm(Q - Qs) <= 1e-11 * np.linalg.norm(Qs)
    hsv_slicot = np.linalg.svd(Uq @ sys.E @ Up / (sp * sq), compute_uv=False)  # S^H E R, P = Up Up^T, Q = Uq^T Uq
    hsv = mor.hankel_singular_values(sys)
    assert np.allclose(hsv, hsv_slicot, rtol=0, atol=1e-11 * hsv_slicot[0])


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("complex_", [False, True])
def test_balanced_truncation_of_descriptor_system(discrete, complex_):
    sys = random_descriptor(10, complex_=complex_, discrete=discrete, seed=5)
    res = mor.balanced_truncation(sys, 4)
    assert res.reduced.E is None and res.reduced.n == 4
    hsv = mor.hankel_singular_values(sys)
    assert np.allclose(res.hsv, hsv, rtol=0, atol=1e-10 * hsv[0])
    # the standard form has the same Hankel singular values (different Gramians, same products)
    assert np.allclose(mor.hankel_singular_values(standard_form(sys)), hsv, rtol=0, atol=1e-10 * hsv[0])
    err = mor.hinf_norm(sys - res.reduced)
    assert hsv[4] * (1 - 1e-6) <= err <= res.error_bound * (1 + 1e-6)


def test_transfer_function_norms_and_poles_use_E():
    sys = random_descriptor(6, 1, 1, seed=1)
    s = np.array([0.3j, 1.0 + 2j, -0.2])
    direct = np.array([sys.C @ np.linalg.solve(x * sys.E - sys.A, sys.B) + sys.D for x in s])
    assert np.allclose(mor.transfer_function(sys, s), direct, rtol=1e-12, atol=0)
    assert np.allclose(sys(s), direct, rtol=1e-12, atol=0)
    assert np.allclose(np.sort_complex(sys.poles()), np.sort_complex(sla.eigvals(sys.A, sys.E)))
    std = standard_form(sys)
    assert np.isclose(mor.hinf_norm(sys), mor.hinf_norm(std), rtol=1e-12)
    assert np.isclose(mor.h2_norm(sys), mor.h2_norm(std), rtol=1e-12)
    # H2 from the generalised Gramians: ||G - D||_2^2 = trace(C P C^H) (D = 0 part of G only)
    P = mor.controllability_gramian(sys)
    nodc = LTI(sys.A, sys.B, sys.C, None, E=sys.E)
    assert np.isclose(mor.h2_norm(nodc) ** 2, np.trace(sys.C @ P @ sys.C.T).real, rtol=1e-10)


def test_descriptor_errors_and_identity():
    sys = random_descriptor(5, seed=2)
    assert LTI(sys.A, sys.B, sys.C, E=np.eye(5)).E is None  # E = I is a standard system
    assert "descriptor" in repr(sys) and "E = " in str(sys)
    back = pickle.loads(pickle.dumps(sys))
    assert np.array_equal(back.E, sys.E)
    with pytest.raises(mor.DimensionError, match="E must have shape"):
        LTI(sys.A, sys.B, sys.C, E=np.eye(4))
    with pytest.raises(ArgumentConflictError, match="horizon"):
        mor.gramians(LTI(sys.A, sys.B, sys.C, dt=0.5, E=sys.E * 3), horizon=4)
    unstable = LTI(-sys.A, sys.B, sys.C, E=sys.E)
    with pytest.raises(UnstableSystemError, match="pencil"):
        mor.gramians(unstable)
    singular = np.ones((5, 5))  # singular, no zero rows: not semi-explicit
    with pytest.raises(SystemTypeError, match="singular"):
        mor.hinf_norm(LTI(sys.A, sys.B, sys.C, E=singular))
    with pytest.raises(SystemTypeError, match="singular"):
        mor.gramians(LTI(sys.A, sys.B, sys.C, E=singular))
    bad = np.diag([1.0, 1.0, 1.0, 1.0, 1e-12])
    with pytest.warns(AccuracyWarning, match="ill-conditioned"):
        mor.transfer_function(LTI(sys.A, sys.B, sys.C, E=bad), 1j)


def test_to_control_uses_standard_form():
    control = pytest.importorskip("control")
    sys = random_descriptor(4, 1, 1, seed=7)
    c = sys.to_control()
    assert isinstance(c, control.StateSpace)
    assert np.allclose(c(0.5j), sys(0.5j), rtol=1e-12, atol=0)


# --------------------------------------------------------------------------- sparse, FEM
def test_fem_model_low_rank_gramians_certified_residuals():
    sys = heat_fem_1d(1500)
    assert sys.E is not None and sys.n == 1500
    g = mor.low_rank_gramians(sys, tol=1e-10)
    A, E, B, C = sys.A, sys.E, sys.B, sys.C
    for Z, G, adj in ((g.Z, B, False), (g.Y, C.T, True)):
        M, N = (A.T, E.T) if adj else (A, E)
        R = (M @ Z) @ (N @ Z).T
        true = np.linalg.norm(R + R.T + G @ G.T, 2) / np.linalg.norm(G, 2) ** 2
        assert true <= (g.residuals[1] if adj else g.residuals[0]) * (1 + 1e-6)
    assert max(g.residuals) < 1e-8
    assert g.gramian_errors is None and "descriptor" in g.note
    # the dense generalised Gramians agree on a smaller grid
    small = heat_fem_1d(120)
    gs = mor.low_rank_gramians(small, tol=1e-12)
    P, Q = mor.gramians(small.to_dense())
    assert np.linalg.norm(gs.Z @ gs.Z.T - P, 2) < 1e-9 * np.linalg.norm(P, 2)
    assert np.linalg.norm(gs.Y @ gs.Y.T - Q, 2) < 1e-9 * np.linalg.norm(Q, 2)


def test_fem_model_balanced_truncation_low_rank_and_dense():
    sys = heat_fem_1d(1200)
    res = mor.balanced_truncation(sys, 6)
    assert res.route == "low-rank" and res.reduced.E is None
    w = np.logspace(-2, 4, 60)
    err = np.abs(mor.frequency_response(sys, w) - mor.frequency_response(res.reduced, w)).max()
    assert err <= res.error_bound * (1 + 1e-3)
    with warnings.catch_warnings():  # stiff (pole margin ~1e-6 of the spectral radius): the dense
        warnings.simplefilter("ignore", AccuracyWarning)  # route may warn about its rounding floor
        dense = mor.balanced_truncation(sys, 6, route="dense")
    assert np.allclose(dense.hsv[:8], res.hsv[:8], rtol=1e-6)
    # the continuum model is the one of heat_1d: the transfer functions agree to discretisation error
    g1, g2 = mor.frequency_response(sys, w), mor.frequency_response(mor.models.heat_1d(1200), w)
    assert np.abs(g1 - g2).max() < 1e-2 * np.abs(g1).max()  # measured 1.2e-3: O(h) source/output quadrature


def test_sparse_descriptor_refusals():
    sys = heat_fem_1d(100)
    disc = SparseLTI(sys.A, sys.B, sys.C, dt=0.1, E=sys.E * 1e3)
    with pytest.raises(SystemTypeError, match="discrete-time descriptor"):
        mor.low_rank_gramians(disc)
    with pytest.raises(ArgumentConflictError, match="match_dc"):
        mor.balanced_truncation(sys, 3, route="low-rank", match_dc=True)


# --------------------------------------------------------------------------- index 1
@pytest.mark.parametrize("capacitance", [1.0, 2.5])
def test_index1_dae_reduced_matches_full_transfer_function(capacitance):
    dae = rc_network_dae(1500, capacitance=capacitance)
    alg = np.flatnonzero(np.asarray(abs(dae.E).sum(axis=0)).ravel() == 0)
    assert alg.size == 500
    ode = eliminate_algebraic(dae)
    assert ode.n == 1000 and (ode.E is None) == (capacitance == 1.0)
    s = 1j * np.logspace(-4, 2, 40)
    full = sparse_transfer(dae, s)  # C (s E - A)^-1 B + D of the DAE itself
    assert np.allclose(mor.transfer_function(ode, s), full, rtol=1e-10, atol=1e-12 * np.abs(full).max())
    assert not np.allclose(ode.D, 0)  # the feedthrough C2 A22^-1 B2 (current into a resistive node)
    res = mor.balanced_truncation(dae, 6)
    err = np.abs(mor.transfer_function(res.reduced, s) - full).max()
    assert err <= res.error_bound * (1 + 1e-3) + 1e-10
    # at high frequency both tend to the feedthrough
    assert np.allclose(res.reduced.D, ode.D)


def test_index1_dense_and_errors():
    dae = rc_network_dae(60)
    dense = dae.to_dense()
    s = np.array([0.1j, 2.0j])
    assert np.allclose(mor.transfer_function(dense, s), sparse_transfer(dae, s), rtol=1e-10)
    assert np.allclose(mor.hankel_singular_values(dense)[:5], mor.hankel_singular_values(eliminate_algebraic(dae))[:5])
    # higher index: the algebraic block A22 is singular
    A = dense.A.copy()
    alg = np.flatnonzero(np.abs(dense.E).sum(axis=0) == 0)
    A[np.ix_(alg, alg)] = 0.0
    with pytest.raises(SystemTypeError, match="index higher than 1"):
        eliminate_algebraic(LTI(A, dense.B, dense.C, E=dense.E))
    # E11 singular: not semi-explicit
    E = dense.E.copy()
    d = np.flatnonzero(np.abs(E).sum(axis=0) > 0)
    E[d[0], d[0]] = 0.0
    E[d[0], d[1]] = 1.0  # row d[0] not zero, column d[0] zero: E11 singular
    with pytest.raises(SystemTypeError, match="not semi-explicit"):
        eliminate_algebraic(LTI(dense.A, dense.B, dense.C, E=E))


def test_generalized_schur_is_a_factorisation():
    sys = random_descriptor(5, complex_=True, seed=4)
    S, T, Qz, Z = generalized_schur(sys.A, sys.E)
    assert np.allclose(Qz @ S @ Z.conj().T, sys.A) and np.allclose(Qz @ T @ Z.conj().T, sys.E)
    assert np.allclose(np.tril(S, -1), 0) and np.allclose(np.tril(T, -1), 0)


def test_sparse_descriptor_arithmetic_and_pickle():
    sys = heat_fem_1d(50)
    diff = sys - sys
    assert diff.E is not None and diff.n == 100
    assert np.abs(mor.transfer_function(diff, 0.5j)).max() < 1e-12
    back = pickle.loads(pickle.dumps(sys))
    assert (back.E != sys.E).nnz == 0
    assert sps.issparse(back.E)


def test_complex_sparse_descriptor_low_rank_gramians():
    real = heat_fem_1d(800)
    A = real.A + 1j * 0.3 * real.A  # a rotated spectrum: complex arithmetic on the ADI route
    rng = np.random.default_rng(0)
    B = real.B * (1 + 1j)
    C = real.C + 1j * rng.standard_normal(real.C.shape) * 1e-2
    sys = SparseLTI(A, B, C, E=real.E)
    g = mor.low_rank_gramians(sys, tol=1e-10)
    E = sys.E
    for Z, G, adj in ((g.Z, B, False), (g.Y, C.conj().T, True)):
        M, N = (A.conj().T, E.conj().T) if adj else (A, E)
        R = (M @ Z) @ (N @ Z).conj().T
        true = np.linalg.norm(R + R.conj().T + G @ G.conj().T, 2) / np.linalg.norm(G, 2) ** 2
        assert true <= (g.residuals[1] if adj else g.residuals[0]) * (1 + 1e-6)
    base = heat_fem_1d(60)
    small = SparseLTI(base.A * (1 + 0.3j), base.B * (1 + 1j), base.C, E=base.E)
    P, Q = mor.gramians(small.to_dense())  # dense generalised Gramians
    gs = mor.low_rank_gramians(small, tol=1e-12)
    assert np.linalg.norm(gs.Z @ gs.Z.conj().T - P, 2) < 1e-9 * np.linalg.norm(P, 2)
    assert np.linalg.norm(gs.Y @ gs.Y.conj().T - Q, 2) < 1e-9 * np.linalg.norm(Q, 2)


def test_sparse_to_control():
    control = pytest.importorskip("control")
    sys = heat_fem_1d(40)
    c = sys.to_control()
    assert isinstance(c, control.StateSpace) and c.nstates == 40
    assert np.allclose(c(0.3j), sys(0.3j))


def test_to_scipy_of_a_descriptor_system_keeps_its_transfer_function():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((4, 4)) - 4 * np.eye(4)
    E = np.eye(4) + 0.3 * rng.standard_normal((4, 4))
    sys = LTI(A, rng.standard_normal((4, 1)), rng.standard_normal((1, 4)), E=E)
    ss = sys.to_scipy()
    assert isinstance(ss, scipy.signal.StateSpace)
    H = ss.C @ np.linalg.solve(1j * np.eye(4) - ss.A, ss.B) + ss.D  # what scipy computes from it
    assert np.isclose(complex(np.squeeze(H)), complex(np.squeeze(mor.transfer_function(sys, 1j))), rtol=1e-10)
