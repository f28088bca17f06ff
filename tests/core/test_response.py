"""Transfer functions, impulse responses and discretisation against plain references."""

import numpy as np
import pytest
import scipy.linalg as sla
from helpers import random_dense, random_diagonal

from mor import LTI, DiagonalLTI, discretize, frequency_response, impulse_response, transfer_function
from mor.discretize import complex_expm1, expm1_ratio
from mor.errors import (
    ArgumentConflictError,
    ArgumentTypeError,
    DimensionError,
    InvalidArgumentError,
    MethodError,
    NonFiniteError,
    SystemTypeError,
)


@pytest.mark.parametrize("complex_", [False, True])
def test_dense_transfer_function_matches_direct_solve(complex_):
    sys = random_dense(7, 2, 3, complex_=complex_, seed=1, d=True)
    s = np.array([0.0, 1j, -3j + 0.5, 10.0])
    G = transfer_function(sys, s)
    for k, sk in enumerate(s):
        ref = sys.C @ np.linalg.solve(sk * np.eye(7) - sys.A, sys.B) + sys.D
        assert np.allclose(G[k], ref, rtol=1e-12)
    assert transfer_function(sys, 1j).shape == (3, 2)


def test_diagonal_transfer_function_matches_dense():
    sys = random_diagonal((2, 3), 6, 2, 2, seed=4)
    s = np.array([0.2j, 5.0 - 1j])
    G = transfer_function(sys, s)
    assert G.shape == (2, 3, 2, 2, 2)
    assert np.allclose(G[1, 2], transfer_function(sys[1, 2].to_dense(), s))


def test_frequency_response_discrete_uses_unit_circle():
    sys = random_dense(4, discrete=True, seed=2)
    w = np.array([0.0, 1.0, np.pi / sys.dt])
    assert np.allclose(frequency_response(sys, w), transfer_function(sys, np.exp(1j * w * sys.dt)))
    with pytest.raises(ArgumentTypeError, match="omega must be real"):
        frequency_response(sys, [1j])


def test_impulse_response_conventions():
    sys = random_dense(5, 2, 1, complex_=True, discrete=True, seed=3, d=True)
    h = impulse_response(sys, 6)
    assert np.allclose(h[0], sys.D)
    for k in range(1, 6):
        assert np.allclose(h[k], sys.C @ np.linalg.matrix_power(sys.A, k - 1) @ sys.B)
    c = random_dense(3, seed=3)
    g = impulse_response(c, 4, dt=0.3)
    assert np.allclose(g[2], c.C @ sla.expm(c.A * 0.6) @ c.B)


@pytest.mark.parametrize("discrete", [False, True])
def test_diagonal_impulse_matches_dense(discrete):
    sys = random_diagonal(3, 5, 1, 2, discrete=discrete, seed=5)
    kw = {} if discrete else {"dt": 0.1}
    h = impulse_response(sys, 30, **kw)
    for i in range(3):
        assert np.allclose(h[i], impulse_response(sys[i].to_dense(), 30, **kw), rtol=1e-10, atol=1e-13)


def test_impulse_response_errors():
    sys = random_dense(3, discrete=True)
    with pytest.raises(InvalidArgumentError, match="length"):
        impulse_response(sys, 0)
    with pytest.raises(ArgumentTypeError, match="length"):
        impulse_response(sys, 2.0)
    with pytest.raises(InvalidArgumentError, match="dt"):
        impulse_response(random_dense(3), 3, dt=-0.1)
    with pytest.raises(ArgumentTypeError):
        transfer_function(sys, "a")
    with pytest.raises(SystemTypeError, match="dt is only"):
        impulse_response(sys, 3, dt=0.1)
    with pytest.raises(SystemTypeError, match="need dt"):
        impulse_response(random_dense(3), 3)
    with pytest.raises(NonFiniteError):
        transfer_function(sys, [np.nan])
    with pytest.raises(DimensionError):
        transfer_function(sys, np.ones((2, 2)))


def test_complex_expm1_accuracy():
    x = np.array([1e-12 + 1e-13j, -3e-9j, 0.5 - 2j, -40 + 1j])
    import mpmath

    for xi, v in zip(x, complex_expm1(x), strict=True):
        ref = complex(mpmath.expm1(mpmath.mpc(xi.real, xi.imag)))
        assert abs(v - ref) <= 1e-15 * abs(ref)
    assert np.allclose(expm1_ratio(np.array([0.0, 1e-12, -1.0]), 0.5), [0.5, 0.5, (np.exp(-0.5) - 1) / -1])


@pytest.mark.parametrize("complex_", [False, True])
def test_zoh_dense_and_diagonal_agree(complex_):
    d = random_diagonal(1, 4, 2, 1, seed=6)[0]
    dd = discretize(d, 0.05)
    de = discretize(d.to_dense(), 0.05)
    assert np.allclose(np.sort_complex(dd.poles), np.sort_complex(np.linalg.eigvals(de.A)))
    assert np.allclose(impulse_response(dd, 40), impulse_response(de, 40), atol=1e-13)
    assert np.allclose(dd.log_poles, d.poles * 0.05)
    # per-member steps fold into the poles with dt = 1
    b = random_diagonal(3, 4, seed=7)
    steps = np.array([0.01, 0.1, 1.0])
    bd = discretize(b, steps)
    assert bd.dt == 1.0
    assert np.allclose(impulse_response(bd[2], 10), impulse_response(discretize(b[2], 1.0), 10) * [[1]])


def test_bilinear_preserves_hsv_and_hinf():
    from mor import hankel_singular_values

    sys = random_dense(6, 1, 2, seed=8)
    bd = discretize(sys, 0.2, method="bilinear")
    assert np.allclose(hankel_singular_values(sys), hankel_singular_values(bd), rtol=1e-9)


def test_discretize_errors():
    with pytest.raises(SystemTypeError, match="already discrete"):
        discretize(random_dense(2, discrete=True), 0.1)
    with pytest.raises(MethodError):
        discretize(random_dense(2), 0.1, method="tustin2")
    with pytest.raises(ArgumentConflictError, match="zoh"):
        discretize(random_diagonal(2, 2), 0.1, method="bilinear")
    with pytest.raises(InvalidArgumentError, match="dt must satisfy"):
        discretize(random_dense(2), -1.0)
    with pytest.raises(InvalidArgumentError, match="positive and finite"):
        discretize(random_diagonal(2, 2), np.array([0.1, 0.0]))
    with pytest.raises(ArgumentTypeError):
        discretize(random_dense(2), "0.1")
    assert discretize(random_dense(2), np.array(0.1)).dt == 0.1
    with pytest.raises(DimensionError):
        discretize(random_diagonal(2, 2), np.ones(3))
    with pytest.raises(DimensionError):
        discretize(LTI([[-1.0]], [[1.0]], [[1.0]]), np.ones(2))
    assert isinstance(discretize(DiagonalLTI([-1.0], [[1.0]], [[1.0]]), 0.1), DiagonalLTI)
