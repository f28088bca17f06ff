"""Stacks of dense systems (mor.BatchedLTI) in one call: every member as alone."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.signal as sig
from helpers import random_dense

import mor
from mor import LTI, BatchedLTI
from mor.errors import (
    DimensionError,
    InvalidArgumentError,
    NonFiniteError,
    RankWarning,
    SystemTypeError,
    UnstableSystemError,
)
from mor.gramians.batched_modal import modal_form


def _stack(systems):
    return BatchedLTI(*(np.stack([getattr(s, k) for s in systems]) for k in "ABCD"), dt=systems[0].dt)


def _nonnormal(n, seed, cond):
    """A stable real system whose eigenvector matrix has condition ~cond (mixed conditioning)."""
    rng = np.random.default_rng(seed)
    X = np.eye(n) + (cond ** (1 / n) - 1) * np.triu(rng.standard_normal((n, n)), 1)
    lam = -rng.uniform(0.1, 2.0, n)
    return LTI(X @ np.diag(lam) @ np.linalg.inv(X), rng.standard_normal((n, 1)), rng.standard_normal((1, n)))


def _members(kind, K=6, n=7):
    if kind == "nonnormal":
        return [_nonnormal(n, k, 10.0 ** (2 * k)) for k in range(K)]
    return [
        random_dense(n, 2, 1, complex_=kind == "complex", discrete=kind == "discrete", seed=k, d=kind == "discrete")
        for k in range(K)
    ]


KINDS = ["real", "complex", "discrete", "nonnormal"]


def _sigma_at(sys, w):
    """sigma_max(G) at the frequency w (rad per time unit) by a dense solve; G = D at w = inf."""
    if np.isinf(w):
        return np.linalg.svd(sys.D, compute_uv=False)[0] if sys.D.size else 0.0
    s = np.exp(1j * w * sys.dt) if sys.dt is not None else 1j * w
    G = sys.C @ np.linalg.solve(s * np.eye(sys.n) - sys.A, sys.B) + sys.D
    return np.linalg.svd(G, compute_uv=False)[0]


# -- the type -----------------------------------------------------------------------------------
def test_batched_lti_shapes_broadcast_and_index():
    A = -np.eye(3) - np.arange(8.0).reshape(2, 4, 1, 1) * np.eye(3)
    b = BatchedLTI(A, np.ones((3, 1)), np.ones((1, 3)))
    assert b.batch_shape == (2, 4) and (b.n, b.m, b.p, b.size) == (3, 1, 1, 8)
    assert b.B.shape == (2, 4, 3, 1) and b.D.shape == (2, 4, 1, 1) and not b.is_complex and not b.is_discrete
    assert isinstance(b[1, 2], LTI) and np.array_equal(b[1, 2].A, A[1, 2])
    assert isinstance(b[1], BatchedLTI) and b[1].batch_shape == (4,) and len(b) == 2
    assert [s.A[0, 0] for s in b.members()] == list(-1.0 - np.arange(8.0))
    back = pickle.loads(pickle.dumps(b))
    assert np.array_equal(back.A, b.A) and back.dt == b.dt
    with pytest.raises(AttributeError):
        b.A = A
    with pytest.raises(ValueError):
        b.A[0, 0, 0, 0] = 1.0


@pytest.mark.parametrize(
    "args, error",
    [
        ((-np.eye(2), np.ones((2, 1)), np.ones((1, 2))), DimensionError),  # no batch axis
        ((-np.ones((3, 2, 2)), np.ones((3, 3, 1)), np.ones((1, 2))), DimensionError),  # B rows
        ((-np.ones((3, 2, 2)), np.ones((4, 2, 1)), np.ones((1, 2))), DimensionError),  # batch axes
        ((-np.ones((3, 2, 2)), np.ones((2, 1)), np.ones((1, 2)), np.ones((2, 1))), DimensionError),  # D
        ((np.full((3, 2, 2), np.nan), np.ones((2, 1)), np.ones((1, 2))), NonFiniteError),
    ],
)
def test_batched_lti_rejects_bad_input(args, error):
    with pytest.raises(error):
        BatchedLTI(*args)


def test_batched_lti_rejects_bad_index():
    b = _stack(_members("real", 3))
    with pytest.raises(InvalidArgumentError):
        b[..., 0]
    with pytest.raises(InvalidArgumentError):
        b[0, 0]


def test_lists_of_python_control_and_scipy_systems_are_batches():
    control = pytest.importorskip("control")
    systems = _members("real", 3)
    ref = mor.hinf_norm(_stack(systems))
    as_control = [control.ss(s.A, s.B, s.C, s.D) for s in systems]
    as_scipy = [sig.StateSpace(s.A, s.B, s.C, s.D) for s in systems]
    mixed = [systems[0], as_control[1], (systems[2].A, systems[2].B, systems[2].C)]
    for given in (as_control, as_scipy, mixed):
        assert np.array_equal(mor.hinf_norm(given), ref)
    hsv, bt = mor.hankel_singular_values(_stack(systems)), mor.balanced_truncation(_stack(systems), 2)
    for given in (as_control, as_scipy, mixed):
        np.testing.assert_array_equal(mor.hankel_singular_values(given), hsv)
        res = mor.balanced_truncation(given, 2)
        assert isinstance(res, mor.BatchedBalancedTruncationResult) and res.reduced.batch_shape == (3,)
        np.testing.assert_array_equal(res.reduced.A, bt.reduced.A)
        np.testing.assert_array_equal(res.error_bound, bt.error_bound)
    assert mor.systems.as_batch(systems[0]) is None
    assert mor.systems.as_batch((systems[0].A, systems[0].B, systems[0].C)) is None


def test_lists_that_are_not_one_batch_are_refused():
    s = _members("real", 2)
    with pytest.raises(DimensionError, match="empty"):
        BatchedLTI.from_systems([])
    with pytest.raises(DimensionError, match="member 1"):
        mor.hinf_norm([s[0], random_dense(5)])
    with pytest.raises(SystemTypeError, match="time base"):
        mor.h2_norm([s[0], LTI(s[1].A, s[1].B, s[1].C, dt=0.1)])
    d = mor.DiagonalLTI([-1.0], [[1.0]], [[1.0]])
    with pytest.raises(SystemTypeError, match="DiagonalLTI"):
        mor.hinf_norm([d, d])
    with pytest.raises(SystemTypeError, match="member 1"):
        BatchedLTI.from_systems([s[0].A[:1, :1] * 0 + LTI([[-1.0]], [[1.0]], [[1.0]]), d])


# -- the routines: each member as alone ----------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_hsv_and_norms_equal_the_one_system_calls(kind):
    systems = _members(kind)
    batch = _stack(systems)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mor.AccuracyWarning)  # ill-conditioned members warn, alone and batched
        hsv = mor.hankel_singular_values(batch)
        hinf, peak = mor.hinf_norm(batch, return_peak=True)
        h2 = mor.h2_norm(batch)
        for k, s in enumerate(systems):
            one = mor.hankel_singular_values(s)
            np.testing.assert_allclose(hsv[k], one, rtol=0, atol=1e-12 * one[0])
            g, _ = mor.hinf_norm(s, return_peak=True)
            # two certified level-set runs agree to the tolerance (1e-10); the batch's value is attained at its peak
            np.testing.assert_allclose(hinf[k], g, rtol=1e-10)
            np.testing.assert_allclose(_sigma_at(s, peak[k]), hinf[k], rtol=1e-12)
            np.testing.assert_allclose(h2[k], mor.h2_norm(s), rtol=1e-12)
    assert hsv.shape == (len(systems), systems[0].n) and hinf.shape == h2.shape == (len(systems),)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", ["sr", "bfsr"])
def test_balanced_truncation_equals_the_one_system_calls(kind, method):
    systems = _members(kind)
    batch = _stack(systems)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mor.AccuracyWarning)
        res = mor.balanced_truncation(batch, 3, method=method)
        alone = [mor.balanced_truncation(s, 3, method=method) for s in systems]
    assert isinstance(res, mor.BatchedBalancedTruncationResult) and res.order == 3
    assert res.reduced.batch_shape == (len(systems),) and res.reduced.is_complex == (kind == "complex")
    s = 0.3 + 1.7j if batch.dt is None else np.exp(0.3j)
    for k, one in enumerate(alone):
        scale = 1e-12 * one.hsv[0]
        np.testing.assert_allclose(res.hsv[k], one.hsv, rtol=0, atol=scale)
        np.testing.assert_allclose(res.error_bound[k], one.error_bound, rtol=0, atol=2 * len(one.hsv) * scale)
        np.testing.assert_allclose(res.reduced[k](s), one.reduced(s), rtol=1e-12)
        if res.modal[k]:  # an estimate of the same floor, far below the bound (else it went one by one)
            assert 0 < res.rounding[k] <= 1e-3 * res.error_bound[k] and one.rounding <= 1e-3 * one.error_bound
        else:
            assert res.rounding[k] == one.rounding and k in res.members
    assert not res.padded.any() and not res.n_unstable.any()
    assert res.modal.any() if kind != "nonnormal" else not res.modal.all()


def test_multi_axis_batches_keep_their_shape():
    systems = _members("real", 6)
    A, B, C = (np.stack([getattr(s, k) for s in systems]).reshape((2, 3) + getattr(systems[0], k).shape)
               for k in "ABC")  # fmt: skip
    batch = BatchedLTI(A, B, C)
    res = mor.balanced_truncation(batch, [2, 3])
    assert [r.order for r in res] == [2, 3] and res[0].reduced.batch_shape == (2, 3)
    assert res[1].hsv.shape == (2, 3, 7) and res[1].error_bound.shape == (2, 3)
    one = mor.balanced_truncation(systems[5], 3)  # the bound sums HSVs, each exact to 1e-12 sigma_1
    np.testing.assert_allclose(res[1].error_bound[1, 2], one.error_bound, rtol=0, atol=1e-12 * 7 * one.hsv[0])
    assert mor.hinf_norm(batch).shape == (2, 3)


def test_tol_gives_the_order_every_member_needs():
    batch = _stack(_members("real"))
    tol = 1e-2
    res = mor.balanced_truncation(batch, tol=tol)
    orders = [mor.balanced_truncation(s, tol=tol).order for s in batch.members()]
    assert res.order == max(orders) and min(orders) < res.order  # some members were reduced again
    assert np.all(res.error_bound <= tol)
    ones = [mor.balanced_truncation(s, res.order) for s in batch.members()]
    for bound, one in zip(res.error_bound, ones, strict=True):  # a sum of HSVs, each exact to 1e-12 sigma_1
        np.testing.assert_allclose(bound, one.error_bound, rtol=0, atol=1e-12 * one.hsv.size * one.hsv[0])


def test_low_rank_members_are_padded_with_decoupled_states_and_named():
    systems = [random_dense(6, seed=k) for k in range(3)]
    low = LTI(np.diag([-1.0, -2.0, -3.0, -4.0, -5.0, -6.0]), [[1.0]] * 2 + [[0.0]] * 4, [[1.0] * 6])  # rank 2
    batch = _stack([systems[0], low, systems[2]])
    with pytest.warns(RankWarning, match="batch member 1"):
        res = mor.balanced_truncation(batch, 4)
    assert res.padded.tolist() == [[False] * 4, [False, False, True, True], [False] * 4]
    assert res.members[1].reduced.n == 2 and mor.check_stable(res.reduced[1]) is None
    for s in (0.5j, 2.0 + 1j):
        np.testing.assert_allclose(res.reduced[1](s), res.members[1].reduced(s), rtol=1e-13)


def test_an_unstable_member_is_named_and_balanced_truncation_keeps_its_unstable_part():
    systems = [random_dense(5, seed=k) for k in range(2)]
    unstable = LTI(np.diag([0.5, -1.0, -2.0, -3.0, -4.0]), np.ones((5, 1)), np.ones((1, 5)))
    batch = _stack([systems[0], systems[1], unstable])
    for fn in (mor.hankel_singular_values, mor.hinf_norm, mor.h2_norm):
        with pytest.raises(UnstableSystemError, match="batch member 2") as info:
            fn(batch)
        assert info.value.poles is not None
    res = mor.balanced_truncation(batch, 3)
    assert res.n_unstable.tolist() == [0, 0, 1] and np.isinf(res.hsv[2, 0]) and np.all(np.isfinite(res.hsv[:2]))


def test_the_warning_of_an_ill_conditioned_member_names_it():
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    near = LTI(
        Q @ np.diag([-1e-10, -1.0, -2.0, -3.0, -4.0, -5.0]) @ Q.T,
        rng.standard_normal((6, 1)),
        rng.standard_normal((1, 6)),
    )  # a pole within rounding of the boundary: the bound may not hold
    systems = [random_dense(6, seed=1), near]
    with warnings.catch_warnings(record=True) as alone:
        warnings.simplefilter("always")
        _ = mor.balanced_truncation(near, 2).error_bound  # alone: the warning comes at the first read
    with warnings.catch_warnings(record=True) as batched:  # a member's comes at the call
        warnings.simplefilter("always")
        mor.balanced_truncation(_stack(systems), 2)
    assert [w.category for w in alone] == [mor.AccuracyWarning] == [w.category for w in batched]
    assert str(batched[0].message) == f"balanced_truncation, batch member 1: {alone[0].message}"


def test_members_the_vectorised_route_cannot_vouch_for_go_one_by_one():
    rng = np.random.default_rng(4)
    S = random_dense(3, seed=9)
    twin = LTI(np.kron(np.eye(2), S.A), np.kron(np.eye(2), S.B), np.kron(np.eye(2), S.C))  # sigma_1 = sigma_2
    other = LTI(rng.standard_normal((6, 6)) - 4 * np.eye(6), rng.standard_normal((6, 2)), rng.standard_normal((2, 6)))
    nonnormal = LTI(
        np.kron(np.eye(2), _nonnormal(3, 0, 1e8).A), rng.standard_normal((6, 2)), rng.standard_normal((2, 6))
    )  # eigenvector condition far above KAPPA_MAX
    batch = _stack([other, twin, nonnormal])
    res = mor.balanced_truncation(batch, 1)
    assert res.modal.tolist() == [True, False, False] and sorted(res.members) == [1, 2]
    for k, s in enumerate(batch.members()):
        one = mor.balanced_truncation(s, 1)
        np.testing.assert_allclose(res.reduced[k](0.7j), one.reduced(0.7j), rtol=1e-12)
    assert modal_form(batch).ok.tolist() == [True, True, False]


@pytest.mark.parametrize("method", ["sr", "bfsr"])
def test_a_batch_whose_every_modal_member_is_handed_back(method):
    twins = []
    for k in range(3):  # sigma_1 = sigma_2 for every member: order 1 is ill-determined, all go one by one
        S = random_dense(3, seed=20 + k)
        twins.append(LTI(np.kron(np.eye(2), S.A), np.kron(np.eye(2), S.B), np.kron(np.eye(2), S.C)))
    batch = _stack(twins)
    assert modal_form(batch).ok.all()
    res = mor.balanced_truncation(batch, 1, method=method)
    assert not res.modal.any() and sorted(res.members) == [0, 1, 2]
    for k, s in enumerate(twins):
        np.testing.assert_allclose(res.hsv[k], mor.hankel_singular_values(s), rtol=0, atol=1e-12 * res.hsv[k, 0])


@pytest.mark.parametrize("complex_", [False, True])
def test_many_random_members_of_mixed_conditioning_match_the_one_system_path(complex_):
    rng = np.random.default_rng(11 + complex_)
    systems = []
    for k in range(40):
        if k % 3 == 0:  # eigenvector condition spread over 1 .. 1e8
            s = _nonnormal(10, k, 10.0 ** rng.uniform(0, 8))
            s = LTI(s.A, s.B, s.C * (1 + 1j * complex_))
        else:
            s = random_dense(10, complex_=complex_, seed=100 + k)
        systems.append(s)
    batch = _stack(systems)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mor.AccuracyWarning)
        res = mor.balanced_truncation(batch, 4, method="bfsr")
        hsv, h2 = mor.hankel_singular_values(batch), mor.h2_norm(batch)
        alone = [mor.balanced_truncation(s, 4, method="bfsr") for s in systems]
        for k, (s, one) in enumerate(zip(systems, alone, strict=True)):
            np.testing.assert_allclose(res.hsv[k], one.hsv, rtol=0, atol=1e-12 * one.hsv[0])
            np.testing.assert_allclose(hsv[k], one.hsv, rtol=0, atol=1e-12 * one.hsv[0])
            np.testing.assert_allclose(h2[k], mor.h2_norm(s), rtol=1e-12)
            for x in (0.05j, 0.8j, 1.0 + 3j):
                np.testing.assert_allclose(res.reduced[k](x), one.reduced(x), rtol=1e-12)
    assert 0 < res.modal.sum() < len(systems)  # both routes were taken


def test_real_members_whose_columns_stay_complex_go_one_by_one(monkeypatch):
    systems = _members("real")
    batch = _stack(systems)
    assert mor.balanced_truncation(batch, 3).modal.all()  # the phase of every column was removed
    monkeypatch.setattr(mor.reduction.batched_bt, "IMAG_TOL", -1.0)  # no imaginary share is small enough
    res = mor.balanced_truncation(batch, 3)
    assert not res.modal.any() and sorted(res.members) == list(range(len(systems)))
    for k, s in enumerate(systems):
        np.testing.assert_allclose(res.reduced[k](0.4j), mor.balanced_truncation(s, 3).reduced(0.4j), rtol=1e-12)


def test_sr_gives_a_balanced_realisation_of_every_vectorised_member():
    """The columns of a real member lose their phase, and stay the balancing ones: P_r = Q_r = diag(hsv[:r])."""
    for kind in ("real", "complex"):
        res = mor.balanced_truncation(_stack(_members(kind)), 3)
        assert res.modal.all()
        for k in range(res.reduced.size):
            P, Q = mor.gramians(res.reduced[k])
            np.testing.assert_allclose(P, np.diag(res.hsv[k, :3]), rtol=0, atol=1e-11 * res.hsv[k, 0])
            np.testing.assert_allclose(Q, np.diag(res.hsv[k, :3]), rtol=0, atol=1e-11 * res.hsv[k, 0])


def test_without_order_the_common_order_is_the_largest_rank():
    systems = [random_dense(5, seed=k) for k in range(4)]
    res = mor.balanced_truncation(_stack(systems))
    assert res.order == max(mor.balanced_truncation(s).order for s in systems) and res.modal.all()


def test_extremely_scaled_members_go_one_by_one():
    systems = [random_dense(5, seed=k) for k in range(3)]
    tiny = LTI(systems[1].A, systems[1].B * 1e-160, systems[1].C * 1e-160)  # sigma ~ 1e-320 scaled exactly alone
    batch = _stack([systems[0], tiny, systems[2]])
    assert modal_form(batch).ok.tolist() == [True, False, True]
    hsv = mor.hankel_singular_values(batch)
    np.testing.assert_allclose(hsv[1], mor.hankel_singular_values(tiny), rtol=1e-12)
    assert hsv[1, 0] > 0


def test_one_member_lapack_fails_on_does_not_send_the_batch_one_by_one(monkeypatch):
    """A stack LAPACK fails on (an exactly singular eigenvector matrix in one member) is retried member
    by member: only the failing member leaves the modal route."""
    batched_modal = __import__("mor.gramians.batched_modal", fromlist=["_batched"])
    stack = np.stack([np.eye(3) * 2, np.zeros((3, 3)), np.diag([1.0, 2.0, 4.0])])
    out = batched_modal._batched(np.linalg.inv, stack, np.full((3, 3), np.nan))
    np.testing.assert_allclose(out[[0, 2]], [np.eye(3) / 2, np.diag([1.0, 0.5, 0.25])])
    assert np.isnan(out[1]).all()
    systems = _members("real")
    inv = np.linalg.inv

    def stack_fails(X):  # as LAPACK does for a whole stack when one member is singular
        if X.ndim == 3:
            raise np.linalg.LinAlgError("Singular matrix")
        return inv(X)

    monkeypatch.setattr(np.linalg, "inv", stack_fails)
    modal = modal_form(_stack(systems))
    assert modal.ok.all()  # every member still vectorised
    hsv = mor.hankel_singular_values(_stack(systems))
    for k, s in enumerate(systems):
        one = mor.hankel_singular_values(s)
        np.testing.assert_allclose(hsv[k], one, rtol=0, atol=1e-12 * one[0])


@pytest.mark.parametrize("what", ["hsv", "h2", "bt"])
def test_a_lightly_damped_well_conditioned_member_keeps_the_one_system_answers(what):
    rng = np.random.default_rng(2)
    zeta, n = 1e-4, 6
    A = np.zeros((n, n))
    for k, w in enumerate((1.0, 2.0, 3.0)):  # three modes of damping ratio 1e-4
        A[2 * k : 2 * k + 2, 2 * k : 2 * k + 2] = [[-zeta * w, w], [-w, -zeta * w]]
    T = np.eye(n) + rng.standard_normal((n, n))
    s = LTI(T @ A @ np.linalg.inv(T), rng.standard_normal((n, 2)), rng.standard_normal((2, n)))
    batch = _stack([s, s])
    assert not modal_form(batch).ok.any()  # kappa_F eps max|lambda| / min(-Re lambda) ~ 4e-10: one by one
    assert modal_form(batch, gramians=False).ok.all()  # (hinf_norm checks its values on the original data)
    one = mor.hankel_singular_values(s)
    if what == "hsv":  # measured: 1.0e-10 sigma_1
        np.testing.assert_allclose(mor.hankel_singular_values(batch)[0], one, rtol=0, atol=1e-12 * one[0])
    elif what == "h2":  # measured: 4.4e-11 relative
        np.testing.assert_allclose(mor.h2_norm(batch)[0], mor.h2_norm(s), rtol=1e-12)
    else:  # order 2 on the vectorised route; measured: bound 1.4e-11 sigma_1, G_r(1j) 6.6e-11 relative
        res, alone = mor.balanced_truncation(batch, 2), mor.balanced_truncation(s, 2)
        np.testing.assert_allclose(res.error_bound[0], alone.error_bound, rtol=0, atol=1e-12 * one[0])
        for x in (0.5j, 1j, 2.5j):
            np.testing.assert_allclose(res.reduced[0](x), alone.reduced(x), rtol=1e-12)
