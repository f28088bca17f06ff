"""Badly scaled systems: results invariant under ``A -> a A``, ``B -> sqrt(a) B``, ``C -> sqrt(a) C``.

That scaling maps ``G(s)`` to ``G(s / a)``: the Hankel singular values, the H-infinity norm and the
balanced-truncation error bound are unchanged and the peak frequency scales with ``a``.  A real
``A`` with complex eigenvalue pairs reaches the complex Schur form through LAPACK's standardised
2x2 blocks ``[[x, b], [c, x]]``, whose eigenvalues ``x +- j sqrt(|b|) sqrt(|c|)`` must not be formed
from ``b c`` (it underflows below ``a ~ 1e-155`` and overflows above ``a ~ 1e155``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mor import LTI, balanced_truncation, complex_schur, hankel_singular_values, hinf_norm
from mor.errors import NumericalError

SCALES = [1e-250, 1e-200, 1e-100, 1e-30, 1e30, 1e100, 1e200, 1e250, 1e300]


def _reproducer():
    r = np.random.default_rng(8)
    A = r.standard_normal((4, 4)) / 2 - 1.5 * np.eye(4)
    B = r.standard_normal((4, 1))
    C = r.standard_normal((1, 4))
    return A, B, C


def _scaled(a, *, seed=None, d=False):
    if seed is None:
        A, B, C = _reproducer()
    else:
        r = np.random.default_rng(seed)
        A = r.standard_normal((7, 7)) / 3 - 1.5 * np.eye(7)
        B, C = r.standard_normal((7, 2)), r.standard_normal((3, 7))
    D = np.arange(6.0).reshape(3, 2) / 10 if d else None
    return LTI(A * a, B * np.sqrt(a), C * np.sqrt(a), D)


def test_reproducer_hsv_at_1e_minus_200():
    A, B, C = _reproducer()
    hsv = hankel_singular_values(LTI(A * 1e-200, B * 1e-100, C * 1e-100))
    np.testing.assert_allclose(hsv, [0.386474308, 0.128639205, 2.05014606e-3, 1.23061717e-4], rtol=1e-8)
    np.testing.assert_allclose(hsv, hankel_singular_values(LTI(A, B, C)), rtol=1e-12)


@pytest.mark.parametrize("a", [1e-250, 1e-200, 1e200, 1e300])
def test_complex_schur_eigenvalues_scale(a):
    A = _reproducer()[0]
    T1 = np.diagonal(complex_schur(A)[0])
    Ta = np.diagonal(complex_schur(A * a)[0])
    assert np.sum(T1.imag != 0) == 4  # two complex pairs
    np.testing.assert_allclose(Ta / a, T1, rtol=1e-14)


@pytest.mark.parametrize("a", SCALES)
@pytest.mark.parametrize("seed", [None, 3], ids=["reproducer", "mimo"])
def test_hsv_hinf_and_bound_invariant(a, seed):
    ref, scaled = _scaled(1.0, seed=seed), _scaled(a, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(hankel_singular_values(scaled), hankel_singular_values(ref), rtol=1e-10)
        g1, w1 = hinf_norm(ref, return_peak=True)
        ga, wa = hinf_norm(scaled, return_peak=True)
        assert ga == pytest.approx(g1, rel=1e-12)
        assert wa / a == pytest.approx(w1, rel=1e-6, abs=1e-6)  # the peak is known to ~sqrt(tol)
        b1 = balanced_truncation(ref, order=2).error_bound
        ba = balanced_truncation(scaled, order=2).error_bound
        assert ba == pytest.approx(b1, rel=1e-10)


@pytest.mark.parametrize("a", [1e-250, 1e250])
def test_hinf_with_feedthrough_invariant(a):
    assert hinf_norm(_scaled(a, seed=5, d=True)) == pytest.approx(hinf_norm(_scaled(1.0, seed=5, d=True)), rel=1e-12)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("k", [1e155, 3e155])
def test_a_hankel_matrix_that_overflows_raises_instead_of_hanging(k):
    """``B, C ~ 1e155``: the factors are finite but ``S^H R`` overflows in part; LAPACK's ``gesdd`` with
    vectors did not return on it (the call hung).  Now the typed error of the guard."""
    sys = LTI(-np.diag([1.0, 2.0, 3.0]), np.full((3, 1), k), np.full((1, 3), k))
    with pytest.raises(NumericalError, match="badly scaled"):
        balanced_truncation(sys, 1)
