"""The generated benchmark models: structure, stability, determinism, physical scaling, argument checks."""

import numpy as np
import pytest
import scipy.sparse as sps

import mor
from mor.errors import ArgumentTypeError, InvalidArgumentError
from mor.models import convection_diffusion_2d, heat_1d, iss_like, spring_chain


@pytest.mark.parametrize(
    "make, n",
    [
        (lambda: heat_1d(300), 300),
        (lambda: convection_diffusion_2d(15, inputs=3, outputs=4), 225),
        (lambda: spring_chain(60), 120),
        (lambda: iss_like(50), 100),
    ],
)
def test_generated_models_are_stable_deterministic_sparse(make, n):
    a, b = make(), make()
    assert isinstance(a, mor.SparseLTI) and a.n == n and not a.is_complex and a.dt is None
    assert (a.A != b.A).nnz == 0 and np.array_equal(a.B, b.B) and np.array_equal(a.C, b.C)
    assert a.nnz <= 5 * n
    assert np.linalg.eigvals(a.A.toarray()).real.max() < 0


def test_heat_rod_steady_state_matches_the_greens_function():
    # -T'' = f, T(0) = T(1) = 0, unit power on [0.2, 0.3]; mean of T on [0.6, 0.7] is (1 - 0.65) * 0.25
    sys = heat_1d(999)
    dc = mor.transfer_function(sys, 0.0)[0, 0].real
    assert dc == pytest.approx(0.35 * 0.25, rel=1e-2)
    assert heat_1d(999, diffusion=2.0).A.max() == pytest.approx(2 * sys.A.max())


def test_convection_diffusion_structure():
    m, v, nu = 12, (3.0, -2.0), 0.5
    sys = convection_diffusion_2d(m, velocity=v, diffusion=nu)
    A = sys.A.toarray()
    h = 1.0 / (m + 1)
    lap = convection_diffusion_2d(m, velocity=(0.0, 0.0), diffusion=nu).A.toarray()
    np.testing.assert_allclose((A + A.T) / 2, lap)  # central differences: convection is skew
    assert np.allclose(lap, lap.T) and np.linalg.eigvalsh(lap).max() < 0
    # x index fastest: the x-neighbour of node 0 is node 1, with coefficient nu / h^2 - v_x / (2 h)
    assert A[1, 0] == pytest.approx(nu / h**2 + v[0] / (2 * h))
    assert A[0, 1] == pytest.approx(nu / h**2 - v[0] / (2 * h))
    assert A[m, 0] == pytest.approx(nu / h**2 + v[1] / (2 * h))
    np.testing.assert_allclose(sys.C.sum(axis=1), 1.0)  # means
    np.testing.assert_allclose(sys.B.sum(axis=0) * h**2, 1.0)  # unit total power


def test_spring_chain_static_deflection_and_damping():
    sys = spring_chain(40, stiffness=2.0)
    # a unit force at the end stretches every spring of the series by 1/k: the first mass moves 1/k
    assert mor.transfer_function(sys, 0.0)[0, 0].real == pytest.approx(0.5, rel=1e-10)
    poles = np.linalg.eigvals(sys.A.toarray())
    w = np.abs(poles)
    zeta = -poles.real / w
    np.testing.assert_allclose(zeta, (0.02 / w + 0.02 * w) / 2, rtol=1e-8)  # Rayleigh damping


def test_iss_like_poles_and_gains():
    sys = iss_like(30, inputs=2, outputs=4, damping=(0.01, 0.02), frequencies=(1.0, 10.0), seed=3)
    poles = np.linalg.eigvals(sys.A.toarray())
    w = np.abs(poles)
    assert w.min() >= 1.0 - 1e-12 and w.max() <= 10.0 + 1e-12
    assert np.all((-poles.real / w >= 0.01 - 1e-12) & (-poles.real / w <= 0.02 + 1e-12))
    assert (sys.m, sys.p) == (2, 4) and sps.isspmatrix_csr(sys.A)
    assert not np.array_equal(iss_like(30, seed=1).B, iss_like(30, seed=2).B)


@pytest.mark.parametrize(
    "call, err",
    [
        (lambda: heat_1d(3), InvalidArgumentError),
        (lambda: heat_1d(10.0), ArgumentTypeError),
        (lambda: heat_1d(10, diffusion=0.0), InvalidArgumentError),
        (lambda: convection_diffusion_2d(10, inputs=5), InvalidArgumentError),
        (lambda: convection_diffusion_2d(10, velocity=(np.nan, 0.0)), InvalidArgumentError),
        (lambda: spring_chain(10, alpha=0.0, beta=0.0), InvalidArgumentError),
        (lambda: iss_like(10, damping=(0.1, 0.05)), InvalidArgumentError),
        (lambda: iss_like(10, frequencies=(0.0, 1.0)), InvalidArgumentError),
    ],
)
def test_argument_checks(call, err):
    with pytest.raises(err):
        call()
