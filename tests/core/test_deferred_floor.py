"""The rounding floor of a dense balanced truncation, computed at the first read of the bound (issue 24).

For a dense system, ``balanced_truncation`` leaves ``BalancedTruncationResult.rounding`` and
``error_bound`` to be settled when either is first read: then ``rounding_floor(sys, schur)`` is
computed and the ``AccuracyWarning`` issued where the bound may not hold, pointing at the line
that read it.  Checked here: the value equals the eager ``rounding_floor`` bit for bit (n = 16 to
100, real, complex, discrete, MIMO); the warning comes at the first read of either field, exactly
once, by the documented rule, and never at the call; the unstable path defers too; the result
still compares, copies, pickles, prints and ``dataclasses.replace``-s, before and after the read;
diagonal and batched results are settled at the call, as before.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import pickle
import threading
import warnings

import numpy as np
import pytest
from helpers import random_dense, random_diagonal
from oracles import nonnormal_system

import mor
from mor import LTI
from mor.errors import AccuracyWarning

balanced = importlib.import_module("mor.reduction.balanced")
frequency = importlib.import_module("mor.analysis._frequency")


def _pending(res, kind=balanced._PENDING) -> bool:
    """Whether ``res`` is still to be settled (white box: the raw slots of both fields)."""
    raw = [res.__dict__[f"_{name}_value"] for name in balanced.ON_FIRST_READ]
    return all(isinstance(x, kind) for x in raw)


def _eager_floor(sys: LTI) -> float:
    """The floor as the call computed it before it was deferred: ``rounding_floor`` on the Schur form."""
    return float(frequency.rounding_floor(sys, mor.complex_schur(sys.A))[0])


def _ill_conditioned(n: int = 40, seed: int = 40, scale: float = 4.0) -> LTI:
    """``A = Q (Lambda + scale N) Q^T`` (``N`` strictly upper triangular, standard normal): eigenvalues
    in ``[-3, -0.5]``, the resolvent ~1e10 times larger; BT to ``n / 2`` has a bound far below the floor."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    T = np.diag(-rng.uniform(0.5, 3, n)) + scale * np.triu(rng.standard_normal((n, n)), 1)
    return LTI(Q @ T @ Q.T, rng.standard_normal((n, 2)), rng.standard_normal((1, n)))


def _call(sys, order, **kw):
    """``balanced_truncation``, checked not to warn about its bound at the call (the floor is due later)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = mor.balanced_truncation(sys, order, **kw)
    assert not [w for w in caught if "error bound may not hold" in str(w.message)]
    return res


def _read(res, name: str) -> tuple:
    """``(value, AccuracyWarnings, line)``: ``getattr(res, name)`` and where it was read."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value, line = getattr(res, name), inspect.currentframe().f_lineno
    assert all(issubclass(w.category, AccuracyWarning) for w in caught)
    return value, caught, line


KINDS = {
    "real": {},
    "complex": {"complex_": True},
    "discrete": {"discrete": True},
    "discrete-complex": {"discrete": True, "complex_": True},
}


@pytest.mark.parametrize("n", [16, 40, 64, 100])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mp", [(1, 1), (3, 2)], ids=["siso", "mimo"])
def test_the_floor_is_due_at_every_order_and_equals_the_eager_one(n, kind, mp):
    sys = random_dense(n, *mp, seed=n + mp[0], d=mp[0] > 1, **KINDS[kind])
    res = _call(sys, n // 4)
    assert _pending(res, balanced._PendingFloor)  # not computed yet
    bound = 2 * float(np.sum(res.hsv[res.order :]))
    assert res.rounding == _eager_floor(sys)  # bit for bit: the same computation, later
    assert not _pending(res)
    assert res.error_bound == pytest.approx(bound, rel=1e-12) and res.rounding == _eager_floor(sys)


def _systems():
    out = []
    for seed in range(24):  # real and complex, SISO and MIMO, continuous and discrete
        n = (3, 8, 16, 25, 40)[seed % 5]
        m, p = 1 + seed % 3, 1 + seed % 2
        out.append(random_dense(n, m, p, complex_=seed % 4 == 1, discrete=seed % 3 == 2, seed=seed, d=seed % 5 == 0))
    out += [nonnormal_system(seed)[0] for seed in range(12)]  # eigenvector conditions up to 1e12
    out += [random_dense(10, 2, 2, discrete=True, radius=1 - 10.0 ** -(seed + 2), seed=seed) for seed in range(6)]
    out += [_ill_conditioned(32, 1), _ill_conditioned(40)]
    return out


SYSTEMS = _systems()


@pytest.mark.parametrize("sys", SYSTEMS, ids=[f"sys{i}" for i in range(len(SYSTEMS))])
@pytest.mark.parametrize("first", balanced.ON_FIRST_READ)
def test_the_warning_comes_at_the_first_read_by_the_documented_rule(sys, first):
    for order in sorted({1, max(1, sys.n // 4), max(1, sys.n // 2), sys.n}):
        try:
            res = _call(sys, order)
        except mor.errors.OrderError:  # below the kept unstable (numerically marginal) poles
            continue
        assert _pending(res)
        _, caught, line = _read(res, first)
        floor, bound = res.rounding, res.error_bound
        size = res.hsv[res.n_unstable] + np.linalg.norm(res.reduced.D)  # sigma_1 + ||D|| of the stable part
        rule = floor > balanced.BOUND_SHARE * bound and floor > balanced.FLOOR_RTOL * size
        assert len(caught) == int(rule), (floor, bound, size)
        if caught:
            assert "the error bound may not hold" in str(caught[0].message)
            assert (caught[0].filename, caught[0].lineno) == (__file__, line)
        for name in balanced.ON_FIRST_READ:  # read again: the same values, no second warning
            assert _read(res, name)[1] == []
        assert res.rounding == floor and res.error_bound == bound


@pytest.mark.parametrize("first", balanced.ON_FIRST_READ)
def test_an_ill_conditioned_system_warns_once_at_the_first_read(first):
    sys = _ill_conditioned()
    res = _call(sys, 20)  # no warning at the call
    value, caught, line = _read(res, first)
    (w,) = caught
    assert w.category is AccuracyWarning and (w.filename, w.lineno) == (__file__, line)
    assert "condition number" in str(w.message)
    assert res.rounding > 1e3 * res.error_bound  # (far beyond the rule's 5%, on any CPU)
    assert res.rounding == _eager_floor(sys)
    for name in balanced.ON_FIRST_READ * 2:
        assert _read(res, name)[1] == []
    assert value == getattr(res, first)


def test_above_the_deferred_orders_only_the_warning_waits_for_the_read():
    sys = _ill_conditioned(balanced.DEFER_MAX_ORDER + 4, 5, 0.5)
    res = _call(sys, sys.n // 2)  # no warning at the call
    assert _pending(res, balanced._PendingWarning)  # the floor is computed, its warning due
    value, caught, line = _read(res, "error_bound")
    assert [(w.category, w.filename, w.lineno) for w in caught] == [(AccuracyWarning, __file__, line)]
    assert res.rounding > 1e3 * res.error_bound  # (far beyond the rule's 5%, on any CPU)
    assert res.rounding == _eager_floor(sys) and value == res.error_bound
    assert _read(res, "rounding")[1] == [] and not _pending(res)


def test_repr_eq_and_replace_read_the_bound_at_the_users_line():
    sys = _ill_conditioned()
    results = [_call(sys, 20) for _ in range(3)]
    lines, outs = [], []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outs.append(repr(results[0])), lines.append(inspect.currentframe().f_lineno)
        outs.append(results[1] == results[1]), lines.append(inspect.currentframe().f_lineno)
        outs.append(dataclasses.replace(results[2], order=1)), lines.append(inspect.currentframe().f_lineno)
    assert [(w.category, w.filename, w.lineno) for w in caught] == [(AccuracyWarning, __file__, x) for x in lines]
    assert "error_bound=" in outs[0] and outs[1] is True
    assert not _pending(outs[2]) and outs[2].order == 1 and outs[2].rounding == results[2].rounding
    res = results[0]
    assert res.rounding == _eager_floor(sys) and res == res and repr(res) == outs[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.rounding = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.error_bound = 0.0


@pytest.mark.parametrize("use", [lambda r: pickle.loads(pickle.dumps(r)), copy.deepcopy, copy.copy],
                         ids=["pickle", "deepcopy", "copy"])  # fmt: skip
def test_copies_before_and_after_the_read(use):
    sys = _ill_conditioned()
    res = _call(sys, 20)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        twin = use(res)  # before the read: the copy's floor is due too
    assert not caught and _pending(twin)
    reads = [_read(x, "error_bound") for x in (twin, res)]  # each warns at its own first read
    assert [len(caught) for _, caught, _ in reads] == [1, 1] and reads[0][0] == reads[1][0]
    assert twin.rounding == res.rounding == _eager_floor(sys)
    again = use(res)  # after the read: settled, silent
    assert not _pending(again)
    for name in balanced.ON_FIRST_READ:
        value, caught, _ = _read(again, name)
        assert not caught and value == getattr(res, name)


def test_a_result_pickled_by_an_earlier_version_reads_its_fields():
    """Before they were settled on first read, ``error_bound`` and ``rounding`` were plain ``__dict__`` entries,
    and a pickle holds the class and its ``__dict__``."""
    res = mor.balanced_truncation(random_dense(8, 1, 1, seed=3), 3)
    old = copy.copy(res)
    for name in balanced.ON_FIRST_READ:
        vars(old)[name] = vars(old).pop(f"_{name}_value")  # the earlier layout
    earlier = pickle.loads(pickle.dumps(old))  # (was: KeyError '_error_bound_value' at the read)
    assert (earlier.error_bound, earlier.rounding) == (res.error_bound, res.rounding)
    assert np.array_equal(earlier.hsv, res.hsv) and copy.deepcopy(earlier).error_bound == res.error_bound


def test_the_unstable_path_defers_too():
    stable = _ill_conditioned()
    n = stable.n
    A = np.zeros((n + 2, n + 2))
    A[:2, :2], A[2:, 2:] = [[0.5, 1.0], [0.0, 0.0]], stable.A  # a pole at 0.5 and one at 0 (kept)
    rng = np.random.default_rng(0)
    sys = LTI(A, np.vstack([rng.standard_normal((2, 2)), stable.B]), np.hstack([[[1.0, 1.0]], stable.C]))
    res = _call(sys, 22)
    assert res.n_unstable == 2 and _pending(res)
    _, caught, line = _read(res, "rounding")
    assert len(caught) == 1 and (caught[0].filename, caught[0].lineno) == (__file__, line)
    part = mor.stable_split(sys).stable
    assert res.rounding == _eager_floor(part)  # the floor of the stable part, as at the call
    assert res.error_bound == pytest.approx(2 * float(np.sum(res.hsv[22:])), rel=1e-12)
    marginal = LTI(np.diag([0.0, -1.0, -2.0, -3.0]), np.ones((4, 1)), np.ones((1, 4)))  # well conditioned
    quiet = _call(marginal, 2)
    assert quiet.n_unstable == 1 and _pending(quiet)
    assert _read(quiet, "error_bound")[1] == [] and quiet.rounding == _eager_floor(mor.stable_split(marginal).stable)


def test_a_warning_made_an_error_is_raised_at_every_read_until_let_through():
    res = _call(_ill_conditioned(), 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AccuracyWarning)
        for name in balanced.ON_FIRST_READ * 2:
            with pytest.raises(AccuracyWarning, match="the error bound may not hold"):
                getattr(res, name)
        assert _pending(res)
    _, caught, _ = _read(res, "error_bound")
    assert len(caught) == 1 and not _pending(res)


def test_concurrent_first_reads_settle_once_and_warn_once():
    """Threads that read a pending result at the same time: one settles it (one warning), the others wait for
    its value (was: each computed the floor and warned, up to one warning per thread)."""
    sys = _ill_conditioned()
    for _ in range(5):
        res = _call(sys, 20)
        start, values = threading.Barrier(4), []

        def read(name, res=res, start=start, values=values):
            start.wait()
            values.append(getattr(res, name))

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            threads = [threading.Thread(target=read, args=(balanced.ON_FIRST_READ[k % 2],)) for k in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert len([w for w in caught if "error bound may not hold" in str(w.message)]) == 1
        assert sorted(values) == sorted([res.error_bound, res.rounding] * 2) and not _pending(res)


def test_a_list_of_orders_gives_one_due_floor_per_result():
    sys = _ill_conditioned()
    results = _call(sys, [10, 20])
    assert all(_pending(r) for r in results)
    assert [len(_read(r, "error_bound")[1]) for r in results] == [1, 1]
    assert results[0].rounding == results[1].rounding == _eager_floor(sys)


def test_diagonal_and_batched_results_are_settled_at_the_call():
    res = mor.balanced_truncation(random_diagonal(3, 8, seed=1), 3)
    assert isinstance(res.__dict__["_rounding_value"], np.ndarray) and not _pending(res)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = mor.balanced_truncation([_ill_conditioned(), _ill_conditioned(40, 41)], 20)
    assert [w.category for w in caught].count(AccuracyWarning) == 2  # at the call, naming the member
    assert all(not _pending(x) for x in out.members.values())
