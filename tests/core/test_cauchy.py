"""The pivoted Cauchy Cholesky factor and its Blaschke-factor arithmetic."""

import mpmath
import numpy as np
import pytest

from mor.cauchy import _stein_factors, cauchy_cholesky


def _hostile_mu(rng: np.random.Generator, n: int) -> np.ndarray:
    """Discrete log-poles ``mu = log z`` near the unit circle, with near-coincident angles."""
    re = -(10.0 ** rng.uniform(-12, 0, n))
    im = rng.uniform(-np.pi, np.pi, n)
    im[: n // 4] = im[0] + 10.0 ** rng.uniform(-13, -6, n // 4)  # clustered angles
    return re + 1j * im


def test_stein_factors_match_mpmath():
    """``1 - z_i conj(z_p)`` and ``z_i - z_p`` to a few ulps, where the plain formulas cancel."""
    rng = np.random.default_rng(0)
    mu = _hostile_mu(rng, 24)
    pivots = mu[rng.integers(0, mu.size, 6)]
    z = np.tile(np.exp(mu), (6, 1))
    den, num = _stein_factors(np.tile(mu.real, (6, 1)), np.tile(mu.imag, (6, 1)), pivots, z, np.exp(pivots))
    worst = 0.0
    with mpmath.workdps(40):
        for a, mp_ in enumerate(pivots):
            zp = mpmath.exp(mpmath.mpc(mp_.real, mp_.imag))
            for i, mi in enumerate(mu):
                zi = mpmath.exp(mpmath.mpc(mi.real, mi.imag))
                ref_den = 1 - zi * mpmath.conj(zp)
                ref_num = zi - zp
                worst = max(worst, float(abs(den[a, i] - complex(ref_den)) / abs(ref_den)))
                if ref_num != 0:
                    worst = max(worst, float(abs(num[a, i] - complex(ref_num)) / abs(ref_num)))
                else:
                    assert num[a, i] == 0
    assert worst < 1e-14


def test_stein_factors_of_fast_poles_match_mpmath():
    """Fast poles (``z = exp(mu)`` tiny, subnormal or zero): ``z_i - z_p`` is formed from the larger
    pole, never as ``z_p expm1(mu_i - mu_p)`` (``0 * inf`` once ``z_p`` underflows)."""
    mu = np.array([-3.8 - 1.1j, -0.2 + 2.0j, -700.0, -720.0 + 0.5j, -800.0, -1e4 + 1j, -2e-9 + 0.3j])
    z = np.exp(mu)
    for p in range(mu.size):
        den, num = _stein_factors(mu.real[None], mu.imag[None], mu[p : p + 1], z[None], z[p : p + 1])
        assert np.all(np.isfinite(den)) and np.all(np.isfinite(num))
        with mpmath.workdps(40):
            zp = mpmath.exp(mpmath.mpc(mu[p].real, mu[p].imag))
            for i, mi in enumerate(mu):
                zi = mpmath.exp(mpmath.mpc(mi.real, mi.imag))
                ref_num, ref_den = complex(zi - zp), complex(1 - zi * mpmath.conj(zp))
                assert abs(den[0, i] - ref_den) <= 1e-15 * abs(ref_den)
                if abs(ref_num) > 1e-290:  # normal numbers: relative accuracy
                    assert abs(num[0, i] - ref_num) <= 4e-16 * abs(ref_num), (p, i)
                else:  # both poles (nearly) underflow: the factor is zero to the last representable digit
                    assert abs(num[0, i]) <= 1e-290


@pytest.mark.parametrize("discrete", [False, True])
def test_factor_reproduces_cauchy_matrix_entrywise(discrete):
    """``L L^H`` equals the Cauchy-like Gramian entry by entry (relative), complex generators."""
    rng = np.random.default_rng(1)
    n = 16
    if discrete:
        nodes = _hostile_mu(rng, n)
        nodes[: n // 4] = nodes[: n // 4].real + 1j * (0.3 + 1e-3 * np.arange(n // 4))  # distinct
        denom = -np.expm1(nodes[:, None] + np.conj(nodes)[None, :])
    else:
        nodes = 10.0 ** rng.uniform(-3, 3, n) + 1j * rng.uniform(-50, 50, n)
        denom = nodes[:, None] + np.conj(nodes)[None, :]
    g = rng.standard_normal((n, 2)) + 1j * rng.standard_normal((n, 2))
    M = (g @ np.conj(g.T)) / denom
    L = cauchy_cholesky(nodes, g, discrete=discrete)
    assert L.shape == (n, 2 * n)
    np.testing.assert_allclose(L @ np.conj(L.T), M, rtol=1e-11, atol=1e-13 * np.abs(M).max())
    # each generator block is lower trapezoidal up to the pivot permutation: once row i is the
    # pivot (column k), its entries in later columns are exactly zero
    for block in (L[:, :n], L[:, n:]):
        last_nonzero = np.array([np.flatnonzero(row)[-1] for row in block])
        assert sorted(last_nonzero) == list(range(n))
