"""The one transfer-function evaluator (mor._frequency) behind frequency_response, transfer_function and
hinf_norm: plain and 40-digit references, poles close to the unit circle."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from helpers import random_dense

from mor import DiagonalLTI, discretize, frequency_response, hinf_norm, transfer_function
from mor._frequency import DenseTransfer, log_resolvent, shifted_backsolve


def _near_unit_circle(dt=0.5):
    """ZOH system with log-poles 1e-9 .. 1e-10 inside the unit circle (lightly damped)."""
    mu = np.array([-1e-9 + 0.3j, -2e-10 - 1.2j, -3e-9 + 2.9j, -0.2 + 1.0j])
    B = np.array([[1.0], [0.5 - 0.2j], [0.3j], [1.0]])
    C = np.array([[1.0, 1.0 + 1j, -0.7, 0.2]])
    sys = discretize(DiagonalLTI(mu / dt, B, C), dt)
    assert np.array_equal(sys.log_poles, mu)
    return sys


def _mp_response(sys, x):
    """sum_i C_i B_i / (exp(j x) - exp(mu_i)) with 40 digits, at the float log-point ``j x``."""
    with mpmath.workdps(40):
        z = mpmath.exp(mpmath.mpc(0, x))
        total = mpmath.mpc(0)
        for mu, c, b in zip(sys.log_poles, sys.C[0], sys.B[:, 0], strict=True):
            total += mpmath.mpc(complex(c)) * mpmath.mpc(complex(b)) / (z - mpmath.exp(mpmath.mpc(mu.real, mu.imag)))
        return complex(total)


def test_frequency_response_near_unit_circle_matches_mpmath():
    sys = _near_unit_circle()
    w = np.concatenate([sys.log_poles[:3].imag / sys.dt + d for d in (0.0, 1e-9, -3e-9, 1e-7, 0.1)])
    G = frequency_response(sys, w)[:, 0, 0]
    ref = np.array([_mp_response(sys, float(wi * sys.dt)) for wi in w])
    assert np.max(np.abs(G - ref) / np.abs(ref)) < 1e-13


def test_hinf_norm_and_frequency_response_agree_at_the_peak():
    sys = _near_unit_circle()
    g, peak = hinf_norm(sys, return_peak=True)
    assert abs(frequency_response(sys, peak)[0, 0]) == pytest.approx(g, rel=1e-13)
    assert abs(_mp_response(sys, peak * sys.dt)) == pytest.approx(g, rel=1e-13)


def test_log_resolvent_matches_mpmath_on_both_sides_of_the_pole_circle():
    mu = np.array([-1e-9 + 0.3j, -2.0 + 1.0j, 0.5 - 3.0j])
    x = np.array([0.3j, -1e-12 + 0.3j, -30.0 + 0.2j, 2.0 - 1.0j])
    r = log_resolvent(mu[None, :], x[:, None])
    for k, xk in enumerate(x):
        for i, mi in enumerate(mu):
            with mpmath.workdps(40):
                ref = 1 / (mpmath.exp(mpmath.mpc(xk.real, xk.imag)) - mpmath.exp(mpmath.mpc(mi.real, mi.imag)))
            assert abs(r[k, i] - complex(ref)) <= 1e-14 * abs(complex(ref))


def test_transfer_function_discrete_diagonal_at_zero_and_with_a_pole_at_zero():
    sys = DiagonalLTI([0.0, 0.5, -0.25j], np.ones((3, 1)), [[1.0, 2.0, 3.0]], dt=1.0)
    z = np.array([0.0, 1.0, 2.0 - 1j])
    G = transfer_function(sys, z[1:])[:, 0, 0]
    ref = [sum(c / (zk - p) for c, p in zip([1.0, 2.0, 3.0], [0.0, 0.5, -0.25j], strict=True)) for zk in z[1:]]
    np.testing.assert_allclose(G, ref, rtol=1e-15)
    # z = 0 hits the pole at 0: inf there, finite for the other systems
    G0 = transfer_function(DiagonalLTI([0.5, -0.25j], np.ones((2, 1)), [[2.0, 3.0]], dt=1.0), 0.0)
    assert complex(G0[0, 0]) == pytest.approx(2.0 / -0.5 + 3.0 / 0.25j, rel=1e-15)
    assert not np.isfinite(transfer_function(sys, 0.0)[0, 0])


def test_shifted_backsolve():
    rng = np.random.default_rng(3)
    T = np.triu(rng.standard_normal((7, 7)) + 1j * rng.standard_normal((7, 7)))
    Y = rng.standard_normal((7, 2)) + 0j
    s = np.array([0.3j, 2.0 + 1j, -1.5j])
    X = shifted_backsolve(T, Y, s)
    for k in range(3):
        np.testing.assert_allclose(X[k], np.linalg.solve(s[k] * np.eye(7) - T, Y), rtol=1e-12)


@pytest.mark.parametrize("discrete", [False, True])
def test_dense_loop_and_vectorised_paths_agree(discrete):
    sys = random_dense(9, 2, 3, seed=7, discrete=discrete, complex_=True, d=True)
    ev = DenseTransfer(sys)
    pts = np.exp(1j * np.linspace(-3, 3, 40)) if discrete else 1j * np.linspace(-5, 5, 40)
    many = ev(pts[None])[0]
    few = np.concatenate([ev(pts[None, k : k + 8])[0] for k in range(0, 40, 8)])
    np.testing.assert_allclose(many, few, rtol=1e-12)
    ref = [sys.C @ np.linalg.solve(p * np.eye(9) - sys.A, sys.B) + sys.D for p in pts]
    np.testing.assert_allclose(many, ref, rtol=1e-11)


def test_dense_point_on_a_pole_gives_inf_like_diagonal():
    sys = DiagonalLTI([-1.0, -2.0], np.ones((2, 1)), np.ones((1, 2)))
    for s in (sys, sys.to_dense()):
        G = transfer_function(s, [-1.0, 0.0])
        assert not np.isfinite(G[0, 0, 0]) and G[1, 0, 0] == pytest.approx(1.5)
