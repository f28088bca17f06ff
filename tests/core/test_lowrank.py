"""Low-rank Gramians (low-rank ADI): against dense Lyapunov/Stein solutions, certified residuals and
error bounds, shared and reused factorisations, complex and discrete systems, typed failures."""

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.sparse as sps
from helpers import reference_gramians

import mor
from mor import ConvergenceError, NumericalError, SparseLTI, low_rank_gramians
from mor.errors import ArgumentTypeError, InvalidArgumentError
from mor.lowrank import lyapunov_inverse_bound
from mor.models import convection_diffusion_2d, heat_1d, spring_chain


def _dense_gramians(sys):
    return reference_gramians(sys.A.toarray(), sys.B, sys.C, sys.dt)


def _residual(sys, X, G, adjoint):
    """``||R(X)||_2 / ||G||_2^2`` for the Lyapunov (Stein) equation with right-hand side ``G G^H``."""
    A = sys.A.toarray()
    A = A.conj().T if adjoint else A
    R = (A @ X @ A.conj().T - X if sys.dt is not None else A @ X + X @ A.conj().T) + G @ G.conj().T
    return np.linalg.norm(R, 2) / np.linalg.norm(G, 2) ** 2


def _complexify(sys, dt=None):
    """A complex sparse system: A + i*diag(...), complex B and C (and Schur-stable when discrete)."""
    n = sys.n
    rng = np.random.default_rng(5)
    A = sys.A + 1j * sps.diags(np.linspace(-30.0, 30.0, n))
    B = sys.B + 1j * rng.standard_normal(sys.B.shape) * np.abs(sys.B).max()
    C = sys.C * (1 - 0.5j)
    if dt is not None:
        A = sps.identity(n) + dt * A  # explicit Euler: ||I + dt A|| < 1 for small dt
    return SparseLTI(A, B, C, dt=dt)


def _complex_inputs(sys):
    """Real A, complex B (its imaginary part another input pattern): a complex-mode iteration on a real A."""
    return SparseLTI(sys.A, sys.B + 1j * sys.B[::-1], sys.C)


def _euler(sys, dt):
    return SparseLTI(sps.identity(sys.n) + dt * sys.A, np.sqrt(dt) * sys.B, sys.C, dt=dt)


CASES = {
    "continuous real": lambda: convection_diffusion_2d(18),
    "continuous complex": lambda: _complexify(convection_diffusion_2d(18)),
    "discrete real": lambda: _euler(convection_diffusion_2d(18), 2e-5),
    "discrete complex": lambda: _complexify(convection_diffusion_2d(18), dt=2e-5),
    "real A, complex B": lambda: _complex_inputs(convection_diffusion_2d(18)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_factors_solve_the_equations_within_their_certified_bounds(case):
    sys = CASES[case]()
    g = low_rank_gramians(sys, tol=1e-11)
    P, Q = _dense_gramians(sys)
    assert g.discrete == (sys.dt is not None)
    assert np.iscomplexobj(g.Z) == sys.is_complex
    for Z, G, adjoint, X, res, err in (
        (g.Z, sys.B, False, P, g.residuals[0], g.gramian_errors[0]),
        (g.Y, sys.C.conj().T, True, Q, g.residuals[1], g.gramian_errors[1]),
    ):
        true_res = _residual(sys, Z @ Z.conj().T, G, adjoint)
        assert true_res <= res * (1 + 1e-6) + 1e-14  # the certified residual bounds the true one
        assert res <= 2e-11
        # the certified Gramian error holds; the dense reference X is itself off by <= kappa ||R(X)||
        ref_error = g.lyapunov_bound * _residual(sys, X, G, adjoint) * np.linalg.norm(G, 2) ** 2
        assert np.linalg.norm(X - Z @ Z.conj().T, 2) <= err + ref_error
        assert ref_error < err  # (the comparison is not vacuous)
        assert Z.shape[1] < sys.n // 4
    hsv_lr = np.linalg.svd(g.Y.conj().T @ g.Z, compute_uv=False)
    hsv = np.sqrt(np.abs(np.sort(np.linalg.eigvals(P @ Q).real)[::-1]))
    np.testing.assert_allclose(hsv_lr[:6], hsv[:6], rtol=1e-6)


def test_one_factorisation_serves_both_gramians_and_shifts_are_reused():
    g = low_rank_gramians(convection_diffusion_2d(40))
    assert g.steps >= 25 and g.factorizations <= 10  # ~34 steps on ~5 factorisations
    assert len(g.shifts) >= g.factorizations and np.all(g.shifts.real < 0)
    assert len(np.unique(g.shifts)) == g.factorizations
    assert g.residual_history[0][-1] <= 1e-10 and g.residual_history[1][-1] <= 1e-10


def test_compression_drops_only_dependent_columns():
    sys = heat_1d(400)
    full = low_rank_gramians(sys, compress=False, certify=False)
    comp = low_rank_gramians(sys, certify=False)
    assert comp.Z.shape[1] <= full.Z.shape[1]
    P1, P2 = full.Z @ full.Z.T, comp.Z @ comp.Z.T
    assert np.linalg.norm(P1 - P2, 2) <= 1e-13 * np.linalg.norm(P1, 2)
    assert full.gramian_errors is None and full.lyapunov_bound is None and full.note == "not requested"


@pytest.mark.parametrize("discrete", [False, True])
def test_lyapunov_inverse_bound_is_a_valid_and_tight_bound(discrete):
    sys = convection_diffusion_2d(10, velocity=(5.0, 3.0))
    A = sys.A.toarray()
    if discrete:
        A = np.eye(sys.n) + 1e-3 * A
        X = sla.solve_discrete_lyapunov(A, np.eye(sys.n))
    else:
        X = sla.solve_continuous_lyapunov(A, -np.eye(sys.n))
    kappa, note = lyapunov_inverse_bound(sps.csr_matrix(A), discrete)
    assert note.startswith("certified")
    exact = np.linalg.norm(X, 2)  # ||L^-1|| on the identity right-hand side: kappa must bound it
    assert exact <= kappa
    if not discrete:  # the Hermitian part is the Laplacian: the log-norm bound is nearly attained
        assert kappa <= 1.1 * exact


def test_lyapunov_inverse_bound_refuses_non_dissipative_matrices():
    kappa, note = lyapunov_inverse_bound(spring_chain(20).A, False)
    assert kappa is None and "not positive definite" in note
    kappa, note = lyapunov_inverse_bound(sps.csr_matrix(np.array([[0.5, 0.9], [0.0, 0.5]])), True)
    assert kappa is None and "||A||_2 < 1" in note


def test_not_certified_models_still_return_checked_residuals():
    sys = spring_chain(150, alpha=0.3, beta=0.3)  # complex poles: conjugate-pair steps in real arithmetic
    g = low_rank_gramians(sys)
    assert g.gramian_errors is None and g.lyapunov_bound is None and "not certified" in g.note
    assert max(g.residuals) <= 2e-10
    assert np.any(g.shifts.imag != 0) and not np.iscomplexobj(g.Z)
    for Z, G, adjoint, res in ((g.Z, sys.B, False, g.residuals[0]), (g.Y, sys.C.T, True, g.residuals[1])):
        assert _residual(sys, Z @ Z.T, G, adjoint) <= res * (1 + 1e-6)


def test_non_convergence_is_a_typed_error_not_a_result():
    with pytest.raises(ConvergenceError, match=r"did not reach the relative residual 1e-10.*max_rank=40"):
        low_rank_gramians(spring_chain(300), max_rank=40)
    with pytest.raises(ConvergenceError, match="max_steps=5"):
        low_rank_gramians(heat_1d(500), max_steps=5)


def test_unstable_system_is_refused():
    sys = heat_1d(200)
    unstable = SparseLTI(-sys.A, sys.B, sys.C)  # every pole in the right half-plane
    with pytest.raises(NumericalError, match="unstable"):
        low_rank_gramians(unstable)


def test_zero_input_gives_an_empty_factor():
    sys = heat_1d(100)
    g = low_rank_gramians(SparseLTI(sys.A, np.zeros((100, 1)), sys.C))
    assert g.Z.shape == (100, 0) and g.residuals[0] == 0.0 and g.Y.shape[1] > 0


def test_dense_system_input_is_converted():
    dense = heat_1d(200).to_dense()
    g = low_rank_gramians(dense)
    assert g.Z.shape[0] == 200 and max(g.residuals) <= 1e-10


@pytest.mark.parametrize(
    "kwargs, err",
    [
        ({"tol": 0.0}, InvalidArgumentError),
        ({"tol": 1.0}, InvalidArgumentError),
        ({"tol": "1e-8"}, ArgumentTypeError),
        ({"max_steps": 0}, InvalidArgumentError),
        ({"max_rank": 2.5}, ArgumentTypeError),
        ({"certify": 1}, ArgumentTypeError),
    ],
)
def test_argument_checks(kwargs, err):
    with pytest.raises(err):
        low_rank_gramians(heat_1d(50), **kwargs)


def test_batched_diagonal_systems_are_refused():
    batch = mor.DiagonalLTI(-np.ones((2, 3)), np.ones((2, 3, 1)), np.ones((2, 1, 3)))
    with pytest.raises(InvalidArgumentError, match="batch"):
        low_rank_gramians(batch)
