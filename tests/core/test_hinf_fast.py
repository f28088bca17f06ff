"""The cheap paths of hinf_norm give the answers of the full ones (issue 24).

One system: the grid refinement in 3 rounds plus a parabolic vertex (full: 7 rounds), one accurate
evaluation at the best refined maximum (full: at every candidate), the one-point rounding estimate
(full: the many-point one).  A batch: the vectorised level-set run over the well-conditioned
continuous-time members (LU values, one batched Hamiltonian ``eigvals`` per step) against the
one-system calls, member by member, to the certified tolerance; every other member one by one.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
from helpers import random_dense

import mor
from mor import LTI, BatchedLTI
from mor.errors import AccuracyWarning, UnstableSystemError
from mor.linalg.schur import complex_schur

norms = importlib.import_module("mor.analysis.norms")
frequency = importlib.import_module("mor.analysis._frequency")

TOL = 1e-10


def _sigma_at(sys, w):
    """sigma_max(G) at w (rad per time unit) by a dense solve; sigma_max(D) at w = inf."""
    if np.isinf(w):
        return np.linalg.svd(sys.D, compute_uv=False)[0]
    s = np.exp(1j * w * sys.dt) if sys.dt is not None else 1j * w
    G = sys.C @ np.linalg.solve(s * np.eye(sys.n) - sys.A, sys.B) + sys.D
    return np.linalg.svd(G, compute_uv=False)[0]


def _assert_attained(sys, w, g):
    """sigma_max(G) at w is g, up to 1e-12 relative plus the rounding estimate of G there (hinf_norm's)."""
    est = 0.0 if np.isinf(w) else norms.DenseEvaluator(sys).rounding(np.array([0]), np.array([w]))[0][0]
    assert abs(_sigma_at(sys, w) - g) <= 1e-12 * g + 2 * est


def _lightly_damped(n, seed, zeta=1e-4):
    """Modal blocks of damping zeta mixed by a random orthogonal basis (a real, normal A)."""
    rng = np.random.default_rng(seed)
    w = np.sort(rng.uniform(1.0, 30.0, n // 2))
    A = np.zeros((n, n))
    for k, wk in enumerate(w):
        A[2 * k : 2 * k + 2, 2 * k : 2 * k + 2] = [[-zeta * wk, wk], [-wk, -zeta * wk]]
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return LTI(Q @ A @ Q.T, Q @ rng.standard_normal((n, 1)), rng.standard_normal((1, n)) @ Q.T)


SYSTEMS = {
    "real-siso": random_dense(16, seed=1),
    "real-mimo-d": random_dense(12, 2, 3, seed=2, d=True),
    "complex-mimo": random_dense(10, 2, 2, complex_=True, seed=3),
    "complex-d": random_dense(9, 1, 2, complex_=True, seed=4, d=True),
    "discrete-mimo": random_dense(14, 2, 2, discrete=True, seed=5),
    "discrete-d": random_dense(8, 1, 1, discrete=True, seed=6, d=True),
    "lightly-damped": _lightly_damped(16, 7),
    "n=3": random_dense(3, seed=8),
}


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_the_cheap_one_system_path_gives_the_full_paths_norm(name, monkeypatch):
    sys = SYSTEMS[name]
    g, w = mor.hinf_norm(sys, return_peak=True)
    _assert_attained(sys, w, g)
    monkeypatch.setattr(norms, "_GRID_ROUNDS", 7)  # the full refinement: 7 rounds of 33 points

    def every_candidate(ev, idx, lo, hi, best_f, best_x):  # ... and every refined maximum evaluated accurately
        _, bx = norms._grid(ev, idx, lo, hi, best_f, best_x, 33, 7)
        acc = ev.sigma(idx, bx)
        return acc, bx

    monkeypatch.setattr(norms, "_maximise", every_candidate)
    g_full = mor.hinf_norm(sys)
    assert g == pytest.approx(g_full, rel=TOL)  # both certified to tol


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_the_one_point_rounding_estimate_is_the_many_point_one(name):
    sys = SYSTEMS[name]
    tr = frequency.DenseTransfer(sys, complex_schur(sys.A))
    x = 1j * np.array([0.0, 0.37, 1.9, 7.5])
    kw = (lambda p: {"log_points": p}) if sys.dt is not None else (lambda p: {"points": p})
    bound, size = tr.rounding(**kw(x))
    for i in range(x.size):
        b1, s1 = tr.rounding(**kw(x[i : i + 1]))
        assert b1[0] == pytest.approx(bound[i], rel=1e-12) and s1[0] == pytest.approx(size[i], rel=1e-12)


def _batch(systems):
    return BatchedLTI(*(np.stack([getattr(s, k) for s in systems]) for k in "ABCD"), dt=systems[0].dt)


def _members(kind, K=8, n=10):
    if kind == "lightly-damped":
        return [_lightly_damped(n, k, zeta=10.0 ** -(1 + k % 5)) for k in range(K)]
    return [
        random_dense(n, 2 if kind == "mimo" else 1, 3 if kind == "mimo" else 1, complex_=kind == "complex",
                     discrete=kind == "discrete", seed=10 * k + 1, d=kind in ("mimo", "discrete", "complex"))
        for k in range(K)
    ]  # fmt: skip


@pytest.mark.parametrize("kind", ["real", "mimo", "complex", "discrete", "lightly-damped"])
def test_a_batch_gives_every_members_norm_to_the_certified_tolerance(kind):
    systems = _members(kind)
    g, w = mor.hinf_norm(_batch(systems), return_peak=True)
    for k, s in enumerate(systems):
        assert g[k] == pytest.approx(mor.hinf_norm(s), rel=TOL)
        _assert_attained(s, w[k], g[k])


def test_the_vectorised_run_takes_the_well_conditioned_members(monkeypatch):
    """Most random members go through one vectorised run; the others (here a strongly non-normal
    member, eigenvector condition far above 1e3) one by one, with the one-system answer."""
    systems = _members("real", 6)
    rng = np.random.default_rng(3)
    X = np.eye(10) + 30 * np.triu(rng.standard_normal((10, 10)), 1)
    systems.append(LTI(X @ np.diag(-np.arange(1.0, 11.0)) @ np.linalg.inv(X), np.ones((10, 1)), np.ones((1, 10))))
    one_by_one = []
    real_map = norms.map_members

    def spy(batch, fn, what, flat=None):
        one_by_one.extend(flat)
        return real_map(batch, fn, what, flat)

    monkeypatch.setattr(norms, "map_members", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AccuracyWarning)  # the non-normal member may warn, alone as well
        g = mor.hinf_norm(_batch(systems))
        for k, s in enumerate(systems):
            assert g[k] == pytest.approx(mor.hinf_norm(s), rel=TOL)
    assert 6 in one_by_one and len(one_by_one) <= 2


def test_constant_zero_and_peak_at_infinity_members():
    base = random_dense(5, seed=1)
    zero_b = LTI(base.A, np.zeros((5, 1)), base.C, [[0.5]])
    big_d = LTI(base.A, base.B, base.C, [[1e3]])  # |D| dominates: the peak may lie at omega = inf
    systems = [base, zero_b, big_d, LTI(base.A, base.B, np.zeros((1, 5)))]
    g, w = mor.hinf_norm(_batch(systems), return_peak=True)
    for k, s in enumerate(systems):
        g1 = mor.hinf_norm(s)
        assert g[k] == pytest.approx(g1, rel=TOL)
        if g1 > 0:
            _assert_attained(s, w[k], g[k])
    assert g[1] == 0.5 and w[1] == 0.0 and g[3] == 0.0


def test_an_unstable_member_is_named():
    systems = _members("real", 3)
    systems.insert(2, LTI(np.diag([0.1] + [-1.0] * 9), np.ones((10, 1)), np.ones((1, 10))))
    with pytest.raises(UnstableSystemError, match="batch member 2"):
        mor.hinf_norm(_batch(systems))


def test_a_member_that_warns_alone_warns_in_the_batch_named():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    near = LTI(Q @ np.diag([-1e-13, -1.0, -2.0, -3.0, -4.0, -5.0]) @ Q.T, rng.standard_normal((6, 1)),
               rng.standard_normal((1, 6)))  # fmt: skip
    with warnings.catch_warnings(record=True) as alone:
        warnings.simplefilter("always")
        g1 = mor.hinf_norm(near)
    with warnings.catch_warnings(record=True) as batched:
        warnings.simplefilter("always")
        g = mor.hinf_norm(_batch([random_dense(6, seed=1), near]))
    assert [w.category for w in alone] == [AccuracyWarning] == [w.category for w in batched]
    assert str(batched[0].message) == f"hinf_norm, batch member 1: {alone[0].message}"
    assert g[1] == g1


def test_the_trust_bound_covers_the_one_system_rounding_estimate():
    """``U`` of :meth:`_BatchedEvaluator.trusted` is at least the Schur-based estimate at the same points."""
    systems = _members("real", 5) + _members("lightly-damped", 3) + _members("mimo", 3)
    for group in (systems[:8], systems[8:]):
        batch = _batch(group)
        modal = norms.modal_form(batch)
        sel = np.flatnonzero(modal.ok)
        assert sel.size >= 2
        ev = norms._BatchedEvaluator(*(getattr(batch, k)[sel] for k in "ABCD"), modal.diagonal, True)
        for w in (0.0, 0.7, 3.0, 25.0):
            U = ev.rounding_bound(np.arange(sel.size), np.full(sel.size, w))
            for k, i in enumerate(sel):
                s = group[i]
                est, _ = frequency.DenseTransfer(s, complex_schur(s.A)).rounding(np.array([1j * w]))
                assert U[k] >= est[0] * (1 - 1e-12)


def test_a_lapack_failure_in_the_vectorised_run_sends_every_member_one_by_one(monkeypatch):
    systems = _members("real", 4)

    def fail(*a, **k):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(norms._BatchedEvaluator, "sigma", fail)
    g = mor.hinf_norm(_batch(systems))
    for k, s in enumerate(systems):
        assert g[k] == mor.hinf_norm(s)


@pytest.mark.parametrize("scale", [1.0, 1e80, 1e140, 1e200])
def test_a_badly_scaled_hamiltonian_still_certifies_the_norm(scale, monkeypatch):
    # B scale, C / scale: G is that of (A, B, C), but B B^H and C^H C in the Hamiltonian were of sizes
    # scale^2 and scale^-2: 1e200 overflowed (geev on one matrix returned zeros, read as no crossing);
    # 1e80 (entries ~1e160) made scipy's geev return the eigenvalues of a scaled copy; 1e140 (1e280 next
    # to 1e-280) left eigenvalues of rounding noise.  Each time the first bound came back uncertified
    # (2e-3 low here with the peak search weakened).  B and C are now balanced by a power of two.
    rng = np.random.default_rng(1)
    n = 6
    A = rng.standard_normal((n, n))
    A -= (np.linalg.eigvals(A).real.max() + 0.05) * np.eye(n)
    B, C = rng.standard_normal((n, 2)), rng.standard_normal((2, n))
    g = mor.hinf_norm(LTI(A, B, C))
    monkeypatch.setattr(norms, "_maximise", lambda ev, idx, lo, hi, f, x: (f, x))  # a poor first bound
    batch = BatchedLTI(A[None], B[None] * scale, C[None] / scale, np.zeros((1, 2, 2)))
    np.testing.assert_allclose(mor.hinf_norm(batch)[0], g, rtol=TOL)
    np.testing.assert_allclose(mor.hinf_norm(LTI(A, B * scale, C / scale)), g, rtol=TOL)
    np.testing.assert_allclose(mor.hinf_norm(LTI(A, B * scale, C / scale, np.ones((2, 2)))),
                               mor.hinf_norm(LTI(A, B, C, np.ones((2, 2)))), rtol=TOL)  # fmt: skip
