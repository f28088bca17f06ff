"""Frequency-limited balanced truncation (issue 22, item 5): the band Gramians against quadrature, the
full-band limit, the in-band error against plain balanced truncation, the modified variant's stability
and bound, typed errors."""

import warnings

import numpy as np
import pytest
import scipy.linalg as sla
from helpers import random_dense
from scipy.integrate import quad_vec

from mor import LTI, DiagonalLTI, balanced_truncation, discretize, frequency_response, gramians, hinf_norm
from mor.errors import (
    ArgumentConflictError,
    ArgumentTypeError,
    InvalidArgumentError,
    MethodError,
    RankWarning,
    SystemTypeError,
)
from mor.gramians.frequency_limited import frequency_limited_gramians
from mor.models import spring_chain


def band_error(sys, red, band, k=2001):
    """Max over the band of ``||G - G_r||_2``: a dense grid, the best points refined by a finer local grid."""
    w = np.linspace(*band, k)

    def err(x):
        E = frequency_response(sys, x) - frequency_response(red, x)
        return np.linalg.norm(E, 2, axis=(-2, -1))

    vals = err(w)
    best = vals.max()
    h = w[1] - w[0]
    for i in np.argsort(vals)[-3:]:
        best = max(best, err(np.linspace(w[i] - h, w[i] + h, 201).clip(*band)).max())
    return best


def modal(poles, gains, seed=0):
    """Real SISO system with the given lightly damped pole pairs, in a random orthogonal basis."""
    rng = np.random.default_rng(seed)
    L = sla.block_diag(*[np.array([[p.real, p.imag], [-p.imag, p.real]]) for p in poles])
    Q = np.linalg.qr(rng.standard_normal((L.shape[0],) * 2))[0]
    B = np.concatenate([[[0.0], [g]] for g in gains])
    C = np.concatenate([[1.0, 0.0] for _ in gains])[None, :]
    return LTI(Q @ L @ Q.T, Q @ B, C @ Q.T)


# one strong slow mode outside the band and one weaker mode inside it: plain BT keeps the slow one
SEPARATED = modal([-0.02 + 1j, -0.05 + 5j, -0.1 + 12j, -0.5 + 20j], [3.0, 1.0, 2.0, 5.0])


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("complex_", [False, True])
def test_band_gramians_equal_the_integrals(discrete, complex_):
    sys = random_dense(5, 2, 1, complex_=complex_, discrete=discrete, seed=3)
    band = (0.3, 1.7) if not discrete else (3.0, 17.0)  # dt = 0.1: rad per time unit, below pi / dt
    P, Q = frequency_limited_gramians(sys, band)
    eye = np.eye(sys.n)

    def resolvent(w):
        z = 1j * w if sys.dt is None else np.exp(1j * w * sys.dt)
        return np.linalg.inv(z * eye - sys.A)

    def integrand(w):
        F = resolvent(w)
        FB, CF = F @ sys.B, sys.C @ F
        return np.stack([FB @ FB.conj().T, CF.conj().T @ CF])

    ref = quad_vec(integrand, *band, epsabs=1e-14, epsrel=1e-12)[0]
    if not complex_:
        ref = ref + quad_vec(integrand, -band[1], -band[0], epsabs=1e-14, epsrel=1e-12)[0]
    ref = ref / (2 * np.pi) * (1 if sys.dt is None else sys.dt)
    for X, R in zip((P, Q), ref, strict=True):
        assert np.abs(X - R).max() <= 1e-10 * np.abs(R).max()
        assert np.allclose(X, X.conj().T, atol=1e-14 * np.abs(R).max())
        assert np.linalg.eigvalsh(X).min() >= -1e-12 * np.abs(R).max()


def test_whole_band_gives_the_gramians():
    disc = random_dense(6, 1, 2, discrete=True, seed=1)
    P, Q = gramians(disc)
    Pb, Qb = frequency_limited_gramians(disc, (0.0, np.pi / disc.dt))
    assert np.allclose(Pb, P, rtol=1e-12, atol=1e-12 * np.abs(P).max())
    assert np.allclose(Qb, Q, rtol=1e-12, atol=1e-12 * np.abs(Q).max())
    cont = random_dense(6, 1, 1, seed=1)
    P = gramians(cont)[0]
    Pb = frequency_limited_gramians(cont, (0.0, 1e7))[0]  # the tail beyond w2 is O(||B||^2 / w2)
    assert np.abs(Pb - P).max() <= 1e-6 * np.abs(P).max()


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("r", [2, 4])
def test_in_band_error_below_plain_balanced_truncation(discrete, r):
    sys = discretize(SEPARATED, 0.1) if discrete else SEPARATED
    band = (4.0, 6.0)
    bt = balanced_truncation(sys, r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankWarning)  # plain FLBT may give an unstable model; the band error stands
        fl = balanced_truncation(sys, r, frequency_band=band)
    mod = balanced_truncation(sys, r, frequency_band=band, frequency_variant="modified")
    e_bt, e_fl, e_mod = (band_error(sys, x.reduced, band) for x in (bt, fl, mod))
    assert e_fl < 0.1 * e_bt and e_mod < 0.1 * e_bt  # measured: ratios 0.04 / 0.008 (plain), 0.04 / 0.05 (modified)
    assert fl.error_bound is None and fl.rounding is None and fl.frequency_band == band
    assert hinf_norm(sys - mod.reduced) <= mod.error_bound * (1 + 1e-9)  # stable, within its (loose) bound


@pytest.mark.parametrize("complex_", [False, True])
def test_modified_variant_stable_with_bound_on_random_systems(complex_):
    sys = random_dense(16, 2, 2, complex_=complex_, seed=6)
    band = (-1.0, 2.0) if complex_ else (0.5, 2.0)
    for r in (3, 6, 10):
        res = balanced_truncation(sys, r, frequency_band=band, frequency_variant="modified")
        assert np.all(res.reduced.poles().real < 0) and res.reduced.is_complex == complex_
        assert hinf_norm(sys - res.reduced) <= res.error_bound * (1 + 1e-9)


def test_plain_variant_warns_when_a_reduced_pole_is_unstable():
    with pytest.warns(RankWarning, match="frequency_variant='modified'"):
        balanced_truncation(SEPARATED, 4, frequency_band=(4.0, 6.0))


def test_band_with_order_list_and_with_an_unstable_part():
    sys = LTI(
        sla.block_diag(SEPARATED.A, [[0.5]]), np.vstack([SEPARATED.B, [[1.0]]]), np.hstack([SEPARATED.C, [[1.0]]])
    )
    results = balanced_truncation(sys, [3, 5], frequency_band=(4.0, 6.0), frequency_variant="modified")
    for r, res in zip([3, 5], results, strict=True):
        assert res.order == r and res.n_unstable == 1 and np.isclose(res.reduced.A[0, 0], 0.5)
        single = balanced_truncation(sys, r, frequency_band=(4.0, 6.0), frequency_variant="modified")
        assert np.allclose(res.reduced.A, single.reduced.A, atol=1e-12)


@pytest.mark.parametrize(
    ("band", "kwargs", "err", "text"),
    [
        ((2.0, 1.0), {}, InvalidArgumentError, "w1 < w2"),
        ((1.0, 1.0), {}, InvalidArgumentError, "w1 < w2"),
        ((-1.0, 1.0), {}, InvalidArgumentError, "w1"),
        ((0.0, np.inf), {}, InvalidArgumentError, "finite"),
        ((0.0, 1.0, 2.0), {}, ArgumentTypeError, "pair"),
        (1.0, {}, ArgumentTypeError, "pair"),
        ((0.0, "1"), {}, ArgumentTypeError, "w2"),
        ((0.0, 1.0), {"match_dc": True}, ArgumentConflictError, "match_dc"),
        ((0.0, 1.0), {"route": "low-rank"}, ArgumentConflictError, "dense route"),
        ((0.0, 1.0), {"frequency_variant": "exact"}, MethodError, "frequency_variant"),
        (None, {"frequency_variant": "modified"}, ArgumentConflictError, "needs a frequency_band"),
    ],
)
def test_bad_bands(band, kwargs, err, text):
    with pytest.raises(err, match=text):
        balanced_truncation(SEPARATED, 2, frequency_band=band, **kwargs)


def test_bad_bands_discrete_and_diagonal():
    disc = random_dense(4, discrete=True)  # dt = 0.1: Nyquist 31.4 rad per time unit
    with pytest.raises(InvalidArgumentError, match="Nyquist"):
        balanced_truncation(disc, 2, frequency_band=(1.0, 40.0))
    with pytest.raises(InvalidArgumentError, match="horizon"):
        balanced_truncation(disc, 2, frequency_band=(1.0, 2.0), horizon=10)
    diag = DiagonalLTI([-1.0, -2.0], np.ones((2, 1)), np.ones((1, 2)))
    with pytest.raises(SystemTypeError, match="to_dense"):
        balanced_truncation(diag, 1, frequency_band=(0.0, 1.0))
    sparse = spring_chain(20)
    with pytest.raises(ArgumentConflictError, match="route='dense'"):
        balanced_truncation(sparse, 4, frequency_band=(0.5, 1.0))
    dense = balanced_truncation(sparse.to_dense(), 4, frequency_band=(0.5, 1.0))
    via_route = balanced_truncation(sparse, 4, frequency_band=(0.5, 1.0), route="dense")
    assert np.allclose(dense.hsv, via_route.hsv, rtol=1e-10)


def test_tol_with_a_band_meets_the_bound_of_the_variant_or_is_refused():
    sys = random_dense(16, 2, 2, seed=3)
    res = balanced_truncation(sys, tol=0.1, frequency_band=(0.5, 2.0), frequency_variant="modified")
    assert res.error_bound <= 0.1 and hinf_norm(sys - res.reduced) <= res.error_bound * (1 + 1e-9)
    with pytest.raises(ArgumentConflictError, match="has none"):
        balanced_truncation(sys, tol=0.1, frequency_band=(0.5, 2.0))
