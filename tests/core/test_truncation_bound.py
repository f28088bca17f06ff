"""The one owner of "Hankel singular values -> bound -> order": truncation_bound and order_for_tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_dense, random_diagonal

import mor
from mor import balanced_truncation, hankel_singular_values, order_for_tolerance, truncation_bound
from mor.errors import ArgumentTypeError, DimensionError, InvalidArgumentError, OrderError


def test_bound_is_twice_the_tail():
    hsv = np.array([3.0, 1.0, 0.5, 0.25])
    assert [float(truncation_bound(hsv, r)) for r in range(5)] == [9.5, 3.5, 1.5, 0.5, 0.0]
    batch = np.array([[3.0, 1.0, 0.5], [2.0, 1.0, 0.0]])
    assert np.array_equal(truncation_bound(batch, 1), [3.0, 2.0])
    assert np.array_equal(truncation_bound(batch, np.array([0, 2])), [9.0, 0.0])  # one order per member


@pytest.mark.parametrize("complex_", [False, True])
def test_balanced_truncation_reports_this_bound_and_order(complex_):
    sys = random_dense(8, seed=3, complex_=complex_)
    hsv = hankel_singular_values(sys)
    for tol in (hsv[0], hsv[2], 1e-3 * hsv[0]):
        res = balanced_truncation(sys, tol=tol)
        assert res.order == order_for_tolerance(res.hsv, tol)
        assert res.error_bound == truncation_bound(res.hsv, res.order)
        assert res.error_bound <= tol * (1 + 1e-12)


def test_order_for_tolerance_on_a_batch_meets_every_member():
    sys = random_diagonal((3,), 6, seed=1)
    hsv = hankel_singular_values(sys)
    tol = 0.3 * hsv[:, 0].min()
    r = order_for_tolerance(hsv, tol)
    assert np.all(truncation_bound(hsv, r) <= tol * (1 + 1e-12))
    assert r == 1 or np.any(truncation_bound(hsv, r - 1) > tol)  # the smallest such order
    assert order_for_tolerance(hsv, 1e300) == 1 and order_for_tolerance(hsv, 0.0) == 6


def test_bad_input_is_a_typed_error():
    with pytest.raises(OrderError):
        truncation_bound([1.0, 0.5], 3)
    with pytest.raises(ArgumentTypeError):
        truncation_bound([1.0, 0.5], 1.5)
    with pytest.raises(ArgumentTypeError):
        truncation_bound([1.0 + 0j, 0.5], 1)
    with pytest.raises(DimensionError):
        truncation_bound(np.ones((2, 3)), np.array([1, 1, 1]))
    with pytest.raises(DimensionError):
        truncation_bound(1.0, 0)
    with pytest.raises(InvalidArgumentError):
        order_for_tolerance([1.0, -0.5], 1.0)
    with pytest.raises(InvalidArgumentError):
        order_for_tolerance([1.0, 0.5], -1.0)
    assert mor.truncation_bound is truncation_bound and mor.order_for_tolerance is order_for_tolerance
