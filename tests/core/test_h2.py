"""H2 norm against the impulse response energy and closed forms."""

import numpy as np
import pytest
import scipy.integrate as si
from helpers import random_dense, random_diagonal

from mor import LTI, frequency_response, h2_norm, impulse_response
from mor.errors import UnstableSystemError


@pytest.mark.parametrize("complex_", [False, True])
def test_discrete_h2_is_impulse_energy(complex_):
    sys = random_dense(6, 2, 3, complex_=complex_, discrete=True, seed=1, radius=0.7, d=True)
    h = impulse_response(sys, 400)
    assert h2_norm(sys) == pytest.approx(np.sqrt(np.sum(np.abs(h) ** 2)), rel=1e-10)


def test_continuous_h2_matches_frequency_integral():
    sys = random_dense(4, 1, 2, complex_=True, seed=2)
    f = lambda w: np.sum(np.abs(frequency_response(sys, [w])) ** 2) / (2 * np.pi)
    val = si.quad(f, -np.inf, np.inf, limit=400, epsabs=0, epsrel=1e-11)[0]
    assert h2_norm(sys) == pytest.approx(np.sqrt(val), rel=1e-8)


def test_closed_forms_and_feedthrough():
    assert h2_norm(LTI([[-2.0]], [[1.0]], [[1.0]])) == pytest.approx(0.5)
    assert h2_norm(LTI([[-2.0]], [[1.0]], [[1.0]], [[1.0]])) == np.inf
    a = 0.5
    assert h2_norm(LTI([[a]], [[1.0]], [[1.0]], [[2.0]], dt=1.0)) == pytest.approx(np.sqrt(4 + 1 / (1 - a * a)))


@pytest.mark.parametrize("discrete", [False, True])
def test_batched_diagonal_matches_dense(discrete):
    sys = random_diagonal(5, 7, 2, 1, discrete=discrete, seed=3)
    vals = h2_norm(sys)
    assert vals.shape == (5,)
    for i in range(5):
        assert vals[i] == pytest.approx(h2_norm(sys[i].to_dense()), rel=1e-10)


def test_unstable_refused():
    with pytest.raises(UnstableSystemError):
        h2_norm(LTI([[0.1]], [[1.0]], [[1.0]]))
