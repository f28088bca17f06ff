"""Balanced truncation on the low-rank route: route choice, agreement with the dense route, the
certificate (enclosures of the true Hankel singular values, bound qualification), plain (A, B, C, D)
reduced models, option checks; slow: large models against the sampled error and against slycot."""

import warnings

import numpy as np
import pytest
import scipy.optimize as so
import scipy.sparse as sps

import mor
from mor import AccuracyWarning, ConvergenceError, RankWarning, SparseLTI, balanced_truncation
from mor.errors import ArgumentConflictError, InvalidArgumentError, MethodError
from mor.models import convection_diffusion_2d, heat_1d, iss_like, spring_chain

W_GRID = np.concatenate([[0.0], np.logspace(-1, 4.5, 60)])


def _gain(G):
    return np.linalg.norm(G, ord=2, axis=(-2, -1))


def _sampled_error(full, reduced, w=W_GRID):
    return float(_gain(mor.frequency_response(full, w) - mor.frequency_response(reduced, w)).max())


def _refined_error(full, reduced, w, peaks=3):
    """``||G - G_r||`` sampled on ``w`` (sorted, >= 0), then the largest local maxima refined by a bounded
    scalar search between their neighbours (in log frequency): the oracle of ``oracles.hinf_oracle``
    for systems too large for a dense solve.  A value that is attained: a lower bound of the H-inf norm."""

    def gain(x):
        x = np.atleast_1d(x)
        return _gain(mor.frequency_response(full, x) - mor.frequency_response(reduced, x))

    v = gain(w)
    best = float(v.max())
    inner = np.flatnonzero((v[1:-1] >= v[:-2]) & (v[1:-1] >= v[2:])) + 1
    for k in inner[np.argsort(-v[inner])][:peaks]:
        lo, hi = np.log(max(w[k - 1], 1e-12)), np.log(w[k + 1])
        res = so.minimize_scalar(lambda t: -gain(np.exp(t))[0], bounds=(lo, hi), method="bounded",
                                 options={"xatol": 1e-10})  # fmt: skip
        best = max(best, float(-res.fun))
    return best


def test_route_is_chosen_by_size_and_sparsity(monkeypatch):
    big = heat_1d(1200)
    res = balanced_truncation(big, 4)
    assert res.route == "low-rank" and res.certificate is not None and type(res.reduced) is mor.LTI
    # the low-rank route computes as many HSVs as its Gramian factors have columns, far fewer than n
    assert res.hsv.size <= res.certificate.gramians.Z.shape[1] < big.n
    assert res.certificate.meaningful
    small = balanced_truncation(heat_1d(300), 4)
    assert small.route == "dense" and small.certificate is None and small.hsv.shape == (300,)
    # the dense route on this stiff model (eigenvalues over [-3.6e5, -10]) gives the same bound
    # (2.5e-5; before the Hammarling underflow fix of issue 15 its factors were wrong: bound 4e-8,
    # sigma_1 9.6e-4 instead of 5.2e-2, and only the rounding-floor warning hinted at it)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AccuracyWarning)
        dense_big = balanced_truncation(big, 4, route="dense")
    assert dense_big.route == "dense"
    assert dense_big.error_bound == pytest.approx(res.error_bound, rel=1e-6)
    np.testing.assert_allclose(dense_big.hsv[: res.hsv.size][:8], res.hsv[:8], rtol=1e-6)
    dense = balanced_truncation(heat_1d(300).to_dense(), 4)
    assert dense.route == "dense" and dense.certificate is None
    monkeypatch.setattr(mor.lowrank_bt, "LOW_RANK_MIN_ORDER", 100)
    assert balanced_truncation(heat_1d(300), 4).route == "low-rank"


def test_automatic_route_falls_back_to_dense_when_low_rank_does_not_converge(monkeypatch, caplog):
    monkeypatch.setattr(mor.lowrank_bt, "LOW_RANK_MIN_ORDER", 100)
    sys = iss_like(100)  # 200 lightly damped states, all excited: slowly decaying Hankel singular values
    with caplog.at_level("INFO", logger="mor.reduction.lowrank_bt"):
        res = balanced_truncation(sys, 10)
    assert res.route == "dense (low-rank did not converge)" and "falling back" in caplog.text
    ref = balanced_truncation(sys.to_dense(), 10)
    np.testing.assert_allclose(res.hsv, ref.hsv)
    with pytest.raises(ConvergenceError):
        balanced_truncation(sys, 10, route="low-rank")


def test_large_sparse_system_without_convergence_raises(monkeypatch):
    monkeypatch.setattr(mor.systems.lti, "DENSIFY_LIMIT", 150)
    monkeypatch.setattr(mor.lowrank_bt, "LOW_RANK_MIN_ORDER", 100)
    with pytest.raises(ConvergenceError, match="did not reach"):
        balanced_truncation(iss_like(100), 10)


@pytest.mark.parametrize("method", ["sr", "bfsr"])
def test_low_rank_route_matches_the_dense_route(method):
    sys = convection_diffusion_2d(20)
    lr = balanced_truncation(sys, 8, route="low-rank", method=method)
    dn = balanced_truncation(sys, 8, route="dense", method=method)
    k = 10
    np.testing.assert_allclose(lr.hsv[:k], dn.hsv[:k], rtol=1e-7)
    assert lr.error_bound == pytest.approx(dn.error_bound, rel=1e-3)
    w = W_GRID
    ref = _gain(mor.frequency_response(dn.reduced, w)).max()
    diff = _gain(mor.frequency_response(lr.reduced, w) - mor.frequency_response(dn.reduced, w)).max()
    assert diff <= 1e-7 * ref
    Vr, Wr = lr.V, lr.W
    np.testing.assert_allclose(Wr.conj().T @ Vr, np.eye(8), atol=1e-9)
    assert isinstance(lr.reduced, mor.LTI) and lr.reduced.n == 8
    assert np.all(lr.reduced.poles().real < 0)
    err = _sampled_error(sys, lr.reduced)
    assert lr.hsv[8] <= err * (1 + 1e-6) and err <= lr.error_bound


def test_certificate_encloses_the_true_hankel_singular_values():
    sys = convection_diffusion_2d(20)
    res = balanced_truncation(sys, 6, route="low-rank")
    cert = res.certificate
    truth = mor.hankel_singular_values(sys.to_dense())
    k = len(res.hsv)
    slack = 1e-13 * truth[0]  # rounding of the dense reference itself
    assert np.all(cert.hsv_lower <= truth[:k] + slack) and np.all(truth[:k] <= cert.hsv_upper + slack)
    assert np.all(truth[k:] <= cert.unresolved_hsv + slack)  # the values the factors do not resolve
    assert cert.certified >= 5 and cert.rtol == 1e-3 and cert.meaningful
    rel = np.abs(res.hsv[: cert.certified] - truth[: cert.certified]) / truth[: cert.certified]
    assert np.all(rel <= cert.rtol)
    assert res.error_bound <= cert.error_bound_upper
    assert "certified" in cert.note and cert.gramians.lyapunov_bound > 0


def test_tighter_tolerance_certifies_more_values():
    sys = convection_diffusion_2d(20)
    loose = balanced_truncation(sys, 4, route="low-rank", low_rank={"tol": 1e-6, "hsv_rtol": 1e-2})
    tight = balanced_truncation(sys, 4, route="low-rank", low_rank={"tol": 1e-12, "hsv_rtol": 1e-2})
    assert loose.certificate.rtol == 1e-2 and max(loose.certificate.gramians.residuals) <= 1e-6
    assert tight.certificate.certified > loose.certificate.certified
    assert tight.certificate.unresolved_hsv < loose.certificate.unresolved_hsv


def test_meaningless_bound_warns():
    sys = convection_diffusion_2d(20)
    with pytest.warns(AccuracyWarning, match="meaningless"):
        res = balanced_truncation(sys, 25, route="low-rank", low_rank={"tol": 1e-6})
    assert res.certificate.meaningful is False


def test_uncertified_system_reports_why():
    sys = spring_chain(150, alpha=0.3, beta=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = balanced_truncation(sys, 6, route="low-rank")
    cert = res.certificate
    assert cert.hsv_lower is None and cert.certified == 0 and cert.meaningful is None
    assert "not certified" in cert.note
    ref = balanced_truncation(sys, 6, route="dense")
    # this realisation is badly balanced (||P|| ||Q|| >> sigma_1^2): residuals of 1e-10 leave HSV errors
    # near 1e-5 relative, which is why an uncertified result says so
    np.testing.assert_allclose(res.hsv[:8], ref.hsv[:8], rtol=1e-3)


@pytest.mark.parametrize("kind", ["complex", "discrete"])
def test_complex_and_discrete_systems(kind):
    base = convection_diffusion_2d(16)
    if kind == "complex":
        A = base.A + 1j * sps.diags(np.linspace(-20.0, 20.0, base.n))
        sys = SparseLTI(A, base.B * (1 - 1j), base.C + 1j * base.C[::-1])
    else:
        dt = 3e-5
        sys = SparseLTI(sps.identity(base.n) + dt * base.A, np.sqrt(dt) * base.B, base.C, dt=dt)
    lr = balanced_truncation(sys, 6, route="low-rank")
    dn = balanced_truncation(sys, 6, route="dense")
    np.testing.assert_allclose(lr.hsv[:8], dn.hsv[:8], rtol=1e-6)
    assert lr.reduced.is_complex == (kind == "complex") and lr.reduced.dt == sys.dt
    w = np.linspace(-3000.0, 3000.0, 41) if kind == "complex" else np.linspace(0, np.pi / sys.dt, 41)
    ref = _gain(mor.frequency_response(dn.reduced, w)).max()
    assert _sampled_error(dn.reduced, lr.reduced, w) <= 1e-6 * ref
    assert _sampled_error(sys, lr.reduced, w) <= lr.error_bound
    assert lr.certificate.certified >= 3


def test_order_by_tolerance_and_rank_cap():
    sys = heat_1d(500)
    res = balanced_truncation(sys, tol=1e-5, route="low-rank")
    assert res.error_bound <= 1e-5 and 2 * res.hsv[res.order - 1:].sum() > 1e-5
    k = len(res.hsv)
    with pytest.warns(RankWarning):  # capped at the numerical rank (and possibly below the resolution)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AccuracyWarning)
            capped = balanced_truncation(sys, k + 5, route="low-rank")
    assert capped.order < k


def test_dense_input_forced_onto_the_low_rank_route():
    sys = convection_diffusion_2d(15).to_dense()
    res = balanced_truncation(sys, 5, route="low-rank")
    assert res.route == "low-rank"
    np.testing.assert_allclose(res.hsv[:6], balanced_truncation(sys, 5).hsv[:6], rtol=1e-7)


@pytest.mark.parametrize(
    "kwargs, err, text",
    [
        ({"route": "sparse"}, MethodError, "route"),
        ({"route": "low-rank", "low_rank": {"tolerance": 1e-8}}, MethodError, "unknown low_rank option"),
        ({"route": "low-rank", "low_rank": 1e-8}, InvalidArgumentError, "dict"),
        ({"route": "low-rank", "low_rank": {"hsv_rtol": 2.0}}, InvalidArgumentError, "hsv_rtol"),
        ({"route": "low-rank", "gramian_method": "scipy"}, ArgumentConflictError, "dense route"),
        ({"route": "low-rank", "horizon": 10}, ArgumentConflictError, "dense route"),
    ],
)
def test_option_checks(kwargs, err, text):
    sys = heat_1d(100)
    if "horizon" in kwargs:
        sys = SparseLTI(sps.identity(100) + 1e-5 * sys.A, sys.B, sys.C, dt=1.0)
    with pytest.raises(err, match=text):
        balanced_truncation(sys, 3, **kwargs)


# --------------------------------------------------------------------------- slow: large models
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("order", [8, 20])
def test_ten_thousand_states_error_within_bound(order):
    sys = convection_diffusion_2d(100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AccuracyWarning)  # order 20: bound below the certified resolution
        res = balanced_truncation(sys, order)
    assert res.route == "low-rank" and isinstance(res.reduced, mor.LTI) and res.reduced.n == order
    assert np.all(res.reduced.poles().real < 0)
    # the error at 0 (where the real system's peak often is) and on 80 points, its maxima refined: a grid
    # alone can miss a peak between its points and pass a violated bound
    err = _refined_error(sys, res.reduced, np.concatenate([[0.0], np.logspace(-2, 5, 80)]))
    assert err <= res.error_bound
    assert res.certificate.certified >= 6 and res.certificate.meaningful == (order == 8)


def _slycot_bt(sys, order):
    slycot = pytest.importorskip("slycot")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nr, Ar, Br, Cr, hsv = slycot.ab09ad(
            "C", "B", "N", sys.n, sys.m, sys.p, sys.A.toarray(), sys.B.copy(), sys.C.copy(), nr=order, tol=0.0
        )
    return mor.LTI(Ar[:nr, :nr], Br[:nr], Cr[:, :nr]), hsv


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.slycot
@pytest.mark.parametrize(
    "make, order, rtol",
    [
        (lambda: heat_1d(1000), 4, 1e-7),
        (lambda: convection_diffusion_2d(30), 8, 1e-7),
        (lambda: spring_chain(450, alpha=0.2, beta=0.2), 8, 1e-4),  # not certified: badly balanced coordinates
    ],
    ids=["heat_1d-1000", "convection_diffusion-900", "spring_chain-900"],
)
def test_low_rank_route_matches_slycot(make, order, rtol):
    sys = make()
    lr = balanced_truncation(sys, order, route="low-rank")
    ref, hsv = _slycot_bt(sys, order)
    np.testing.assert_allclose(lr.hsv[: order + 1], hsv[: order + 1], rtol=max(rtol, 1e-7), atol=1e-10 * hsv[0])
    assert lr.error_bound == pytest.approx(2 * hsv[order:].sum(), rel=1e-2, abs=1e-8 * hsv[0])
    w = np.concatenate([[0.0], np.logspace(-2, 4, 40)])
    assert _sampled_error(ref, lr.reduced, w) <= rtol * _gain(mor.frequency_response(ref, w)).max()
    if lr.certificate.hsv_lower is not None:  # the enclosures hold against SLICOT's values too
        k = lr.certificate.certified
        assert np.all(np.abs(lr.hsv[:k] - hsv[:k]) <= lr.certificate.rtol * hsv[:k])
