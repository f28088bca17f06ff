"""The rounding floor of a dense balanced truncation, deferred to its first read (issue 24).

Where twice the cheap upper bound ``rounding_floor_upper`` cannot make the floor warn,
``balanced_truncation`` leaves ``BalancedTruncationResult.rounding`` to be computed when read.
Checked here: the bound lies above the floor on random, non-normal, lightly damped, complex,
MIMO and discrete systems; the deferred value equals the eager one exactly; the
``AccuracyWarning`` comes in exactly the cases where the eager floor gives it; the result still
compares, copies, pickles and prints as before.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import pickle
import warnings

import numpy as np
import pytest
from helpers import random_dense
from oracles import nonnormal_system

import mor
from mor import LTI
from mor.errors import AccuracyWarning, RankWarning

balanced = importlib.import_module("mor.reduction.balanced")
frequency = importlib.import_module("mor.analysis._frequency")


def _lightly_damped(seed: int, margin: float) -> LTI:
    """A random system whose rightmost pole sits at ``-margin`` (continuous)."""
    sys = random_dense(12, 1 + seed % 2, 1, complex_=seed % 3 == 0, seed=seed)
    shift = np.linalg.eigvals(sys.A).real.max() + margin
    return LTI(sys.A - shift * np.eye(sys.n), sys.B, sys.C, sys.D)


def _systems():
    out = []
    for seed in range(24):  # real and complex, SISO and MIMO, continuous and discrete
        n = (3, 8, 16, 25, 40)[seed % 5]
        m, p = 1 + seed % 3, 1 + seed % 2
        out.append(random_dense(n, m, p, complex_=seed % 4 == 1, discrete=seed % 3 == 2, seed=seed, d=seed % 5 == 0))
    out += [nonnormal_system(seed)[0] for seed in range(12)]  # eigenvector conditions up to 1e12
    out += [_lightly_damped(seed, 10.0 ** -(seed % 8)) for seed in range(8)]
    out += [random_dense(10, 2, 2, discrete=True, radius=1 - 10.0 ** -(seed + 2), seed=seed) for seed in range(6)]
    return out


SYSTEMS = _systems()
IDS = [f"sys{i}" for i in range(len(SYSTEMS))]


def _reduce(sys, order, eager: bool, monkeypatch) -> tuple:
    """The result and the AccuracyWarnings of ``balanced_truncation(sys, order)``."""
    with monkeypatch.context() as mp:
        if eager:  # an upper bound that can always warn: the floor is computed at once, as before
            mp.setattr(balanced, "rounding_floor_upper", lambda sys, schur: np.array([np.inf]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = mor.balanced_truncation(sys, order)
    raised = [w for w in caught if not issubclass(w.category, RankWarning)]
    assert all(issubclass(w.category, AccuracyWarning) for w in raised), [str(w.message) for w in raised]
    return res, [str(w.message) for w in raised]


@pytest.mark.parametrize("sys", SYSTEMS, ids=IDS)
def test_the_upper_bound_lies_above_the_floor(sys):
    form = mor.complex_schur(sys.A)
    floor = frequency.rounding_floor(sys, form)[0]
    upper = frequency.rounding_floor_upper(sys, form)[0]
    assert upper >= floor


@pytest.mark.parametrize("sys", SYSTEMS, ids=IDS)
def test_deferred_floor_equals_the_eager_one_and_warns_alike(sys, monkeypatch):
    nu = int(np.sum(np.abs(np.linalg.eigvals(sys.A)) >= 1) if sys.dt else np.sum(np.linalg.eigvals(sys.A).real >= 0))
    for order in sorted({1, max(1, sys.n // 4), max(1, sys.n // 2), sys.n}):
        try:
            lazy, lazy_warned = _reduce(sys, order, False, monkeypatch)
        except mor.errors.OrderError:  # below the kept unstable (numerically marginal) poles
            assert order < sys.n and nu >= 0
            continue
        lazy, lazy_warned = _reduce(sys, order, False, monkeypatch)
        eager, eager_warned = _reduce(sys, order, True, monkeypatch)
        assert lazy_warned == eager_warned
        assert isinstance(eager.__dict__["_rounding_value"], float)
        assert lazy.rounding == eager.rounding  # exactly: the same computation, later
        assert isinstance(lazy.__dict__["_rounding_value"], float)  # replaced by its value when read


def test_most_random_reductions_defer_the_floor():
    """The cheap bound is tight enough to skip the floor of typical systems (else nothing is gained)."""
    deferred = 0
    for seed in range(20):
        sys = random_dense(16, seed=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RankWarning)
            res = mor.balanced_truncation(sys, 4)
        deferred += isinstance(res.__dict__["_rounding_value"], balanced._Deferred)
    assert deferred >= 10


def test_a_deferred_result_behaves_as_an_eager_one(monkeypatch):
    sys = random_dense(16, 2, 2, seed=3)
    orders = [o for o in range(2, 9) if isinstance(_reduce(sys, o, False, monkeypatch)[0].__dict__["_rounding_value"],
                                                     balanced._Deferred)]  # fmt: skip
    assert orders, "no reduction of this system was deferred"
    eager = _reduce(sys, orders[0], True, monkeypatch)[0]
    for use in (pickle.dumps, copy.deepcopy, repr, lambda r: dataclasses.replace(r, method=r.method)):
        lazy = _reduce(sys, orders[0], False, monkeypatch)[0]
        out = use(lazy)
        if isinstance(out, bytes):
            out = pickle.loads(out)
        if isinstance(out, balanced.BalancedTruncationResult):
            assert out.rounding == eager.rounding
        assert lazy.rounding == eager.rounding
    lazy = _reduce(sys, orders[0], False, monkeypatch)[0]
    assert np.array_equal(lazy.hsv, eager.hsv) and lazy.rounding == eager.rounding
    with pytest.raises(dataclasses.FrozenInstanceError):
        lazy.rounding = 0.0


def test_matrix_fro_norm_matches_fro_norm():
    arrays = importlib.import_module("mor.linalg._arrays")
    rng = np.random.default_rng(0)
    for scale in (1e-200, 1e-160, 1.0, 1e160, 1e200):
        X = (rng.standard_normal((5, 3)) + 1j * rng.standard_normal((5, 3))) * scale
        with np.errstate(over="ignore", under="ignore"):  # (fro_norm rescales where the squares leave the range)
            assert arrays.matrix_fro_norm(X) == pytest.approx(float(arrays.fro_norm(X)), rel=1e-14)
    assert arrays.matrix_fro_norm(np.zeros((0, 3))) == 0.0 and arrays.matrix_fro_norm(np.zeros((2, 2))) == 0.0
