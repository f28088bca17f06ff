"""finite_length_reduction: stable by construction, never worse than its balanced-truncation start over
the first L Markov parameters, the reported errors measured right, complex MIMO input, bad input."""

import warnings

import numpy as np
import pytest

from mor import LTI, AccuracyWarning, DiagonalLTI, balanced_truncation, finite_length_reduction, impulse_response
from mor.errors import (
    InvalidArgumentError,
    MemoryLimitError,
    OrderError,
    SystemTypeError,
    UnstableSystemError,
)


def slow_system(batch=(4,), n=16, m=1, p=1, seed=0):
    """Discrete diagonal systems with poles up to |z| = 0.9995 (memory far past a short window), complex B, C."""
    rng = np.random.default_rng(seed)
    decay = rng.uniform(5e-4, 0.3, size=batch + (n,))
    mu = -decay + 1j * rng.uniform(-np.pi, np.pi, size=batch + (n,))
    B = rng.standard_normal(batch + (n, m)) + 1j * rng.standard_normal(batch + (n, m))
    C = rng.standard_normal(batch + (p, n)) + 1j * rng.standard_normal(batch + (p, n))
    return DiagonalLTI.from_log_poles(mu, B, C, rng.standard_normal(batch + (p, m)), dt=1.0)


def kernel_error(sys, red, length, real=False):
    """``||h - h_r||_F / ||h||_F`` over ``h[1] .. h[L]`` per member, computed independently."""
    h = impulse_response(sys, length + 1)[..., 1:, :, :]
    hr = impulse_response(red, length + 1)[..., 1:, :, :]
    if real:
        h, hr = h.real, hr.real
    return np.sqrt(np.sum(np.abs(h - hr) ** 2, axis=(-3, -2, -1)) / np.sum(np.abs(h) ** 2, axis=(-3, -2, -1)))


def quietly(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AccuracyWarning)  # non-convergence within maxiter is reported, not tested here
        return finite_length_reduction(*args, **kwargs)


@pytest.mark.parametrize("real_output", [False, True])
def test_stable_and_never_worse_than_balanced_truncation(real_output):
    sys, L = slow_system(), 40
    res = quietly(sys, 4, length=L, real_output=real_output, maxiter=60)
    assert res.reduced.batch_shape == (4,) and res.reduced.n == 4 and res.length == L
    assert np.all(np.abs(res.reduced.poles) < 1)
    bt = balanced_truncation(sys, 4, method="bfsr").reduced
    np.testing.assert_allclose(res.initial_error, kernel_error(sys, bt, L, real_output), rtol=1e-8)
    np.testing.assert_allclose(res.error, kernel_error(sys, res.reduced, L, real_output), rtol=1e-8)
    assert np.all(res.error <= res.initial_error)
    # the window is far shorter than the memory: balanced truncation is not stationary for the length-L error
    assert np.all(res.error < 0.99 * res.initial_error)
    np.testing.assert_array_equal(res.reduced.D, sys.D)  # h[0] kept


def test_complex_mimo_batch():
    sys = slow_system(batch=(2, 3), n=10, m=2, p=3, seed=1)
    res = quietly(sys, 3, length=30, maxiter=30)
    assert res.reduced.batch_shape == (2, 3) and (res.reduced.p, res.reduced.m) == (3, 2)
    assert res.error.shape == res.initial_error.shape == res.converged.shape == (2, 3)
    assert np.all(np.abs(res.reduced.poles) < 1)
    assert np.all(res.error <= res.initial_error)
    np.testing.assert_allclose(res.error, kernel_error(sys, res.reduced, 30), rtol=1e-8)


def test_max_radius_holds():
    sys = slow_system(seed=2)
    res = quietly(sys, 3, length=50, max_radius=0.9, maxiter=40)
    assert np.all(np.abs(res.reduced.poles) <= 0.9 * (1 + 4 * np.finfo(float).eps))  # exp rounds
    assert np.all(res.error <= res.initial_error)


def test_full_order_start_is_kept_when_exact():
    sys = slow_system(batch=(2,), n=4, seed=3)
    res = quietly(sys, 4, length=20)
    assert np.all(res.error <= res.initial_error) and np.all(res.initial_error < 1e-8)


def test_non_convergence_warns():
    with pytest.warns(AccuracyWarning, match="did not converge"):
        res = finite_length_reduction(slow_system(seed=4), 3, length=40, maxiter=1)
    assert not res.converged.all() and res.iterations == 1


def test_bad_input():
    sys = slow_system()
    with pytest.raises(SystemTypeError, match="discrete"):
        finite_length_reduction(DiagonalLTI(-np.ones(3), np.ones((3, 1)), np.ones((1, 3))), 1, length=5)
    with pytest.raises(SystemTypeError, match="DiagonalLTI"):
        finite_length_reduction(LTI(0.5 * np.eye(2), np.ones((2, 1)), np.ones((1, 2)), dt=1.0), 1, length=5)
    with pytest.raises(OrderError):
        finite_length_reduction(sys, 0, length=5)
    with pytest.raises(OrderError):
        finite_length_reduction(sys, 17, length=5)
    bad_options = [{"length": 0}, {"length": 2.5}, {"max_radius": 0.0}, {"max_radius": 1.0}, {"maxiter": 0},
                   {"rtol": 0.0}, {"real_output": "yes"}]  # fmt: skip
    for bad in bad_options:
        with pytest.raises(InvalidArgumentError):
            finite_length_reduction(sys, 2, **({"length": 5} | bad))
    wide = slow_system(batch=(), n=8, m=40, p=40)
    with pytest.raises(MemoryLimitError, match="MAX_JACOBIAN_ENTRIES"):  # 1e4 samples x 1600 outputs x 1e3 parameters
        finite_length_reduction(wide, 6, length=10_000)
    unstable = DiagonalLTI.from_log_poles(np.array([0.01, -0.1]), np.ones((2, 1)), np.ones((1, 2)), dt=1.0)
    with pytest.raises(UnstableSystemError):
        finite_length_reduction(unstable, 1, length=5)
