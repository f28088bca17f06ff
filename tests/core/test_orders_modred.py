"""Several orders from one set of Gramians (``order=[...]``) and state elimination (``mor.modred``), issue 22."""

import numpy as np
import pytest
from helpers import random_dense, random_diagonal

import mor
import mor.balanced
from mor import LTI, DiagonalLTI, balanced_truncation, modred, transfer_function
from mor.errors import ArgumentTypeError, InvalidArgumentError, MethodError, NumericalError, OrderError

POINTS = np.array([0.0, 0.4j, 1.0 + 2j])


@pytest.fixture
def gramian_calls(monkeypatch):
    """Counts the Gramian factorisations balanced_truncation computes (an unstable system's first
    attempt stops at the stability check, before any solve, and is not counted)."""
    calls = []
    real = mor.balanced.factors_and_schur

    def counting(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(args)
        return out

    monkeypatch.setattr(mor.balanced, "factors_and_schur", counting)
    return calls


def _same(a, b):
    assert a.order == b.order and a.n_unstable == b.n_unstable
    for name in ("A", "B", "C", "D"):
        assert np.allclose(getattr(a.reduced, name), getattr(b.reduced, name), rtol=1e-12, atol=1e-13)
    assert np.allclose(a.hsv, b.hsv, rtol=1e-13) and a.error_bound == pytest.approx(b.error_bound, rel=1e-12)


@pytest.mark.parametrize("complex_, discrete", [(False, False), (True, True)])
@pytest.mark.parametrize("match_dc", [False, True])
def test_order_list_one_gramian_solve_and_equal_to_single_calls(gramian_calls, complex_, discrete, match_dc):
    sys = random_dense(12, 2, 2, complex_=complex_, discrete=discrete, seed=4, d=True)
    orders = [2, 5, 9]
    results = balanced_truncation(sys, orders, match_dc=match_dc)
    assert len(gramian_calls) == 1 and isinstance(results, list) and len(results) == 3
    for r, res in zip(orders, results, strict=True):
        _same(res, balanced_truncation(sys, r, match_dc=match_dc))


def test_order_list_of_an_unstable_system_and_of_a_diagonal_batch(gramian_calls):
    sys = LTI(np.diag([1.0, -1.0, -2.0, -3.0, -4.0]), np.ones((5, 1)), [[1.0, 2.0, 3.0, 4.0, 5.0]])
    results = balanced_truncation(sys, [1, 3])
    assert len(gramian_calls) == 1  # the stable part's Gramians, once
    for r, res in zip([1, 3], results, strict=True):
        assert res.n_unstable == 1
        _same(res, balanced_truncation(sys, r))
    batch = random_diagonal(3, 10, 1, 1, seed=2)
    both = balanced_truncation(batch, [2, 4])
    for r, res in zip([2, 4], both, strict=True):
        single = balanced_truncation(batch, r)
        z = 1j * np.linspace(0.1, 5, 7)
        assert np.allclose(transfer_function(res.reduced, z), transfer_function(single.reduced, z), rtol=1e-10)


def test_order_list_errors():
    sys = random_dense(6)
    with pytest.raises(OrderError, match="at least one order"):
        balanced_truncation(sys, [])
    with pytest.raises(OrderError):
        balanced_truncation(sys, [2, 7])
    with pytest.raises(ArgumentTypeError, match="list"):
        balanced_truncation(sys, (1, 2))
    with pytest.raises(ArgumentTypeError):
        balanced_truncation(sys, [1, 2.5])
    assert balanced_truncation(sys, [None])[0].order == balanced_truncation(sys).order


# --------------------------------------------------------------------------- modred
@pytest.mark.slycot
@pytest.mark.parametrize("method", ["matchdc", "truncate"])
@pytest.mark.parametrize("elim", [[3, 1], [0], [0, 1, 2, 3, 4, 5]])
def test_modred_matches_python_control(method, elim):
    ct = pytest.importorskip("control")
    rng = np.random.default_rng(5)
    A = rng.standard_normal((6, 6)) - 4 * np.eye(6)
    B, C, D = rng.standard_normal((6, 2)), rng.standard_normal((3, 6)), rng.standard_normal((3, 2))
    ours = modred(LTI(A, B, C, D), elim, method)
    ref = ct.modred(ct.ss(A, B, C, D), elim, method)
    for name in ("A", "B", "C", "D"):
        assert np.allclose(getattr(ours, name), getattr(ref, name), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("complex_", [False, True])
def test_modred_matchdc_keeps_the_dc_gain_and_truncate_drops_states(discrete, complex_):
    sys = random_dense(7, 2, 2, complex_=complex_, discrete=discrete, seed=9, d=True)
    dc = 1.0 if discrete else 0.0
    red = modred(sys, [6, 2, 4])
    assert red.n == 4 and red.is_complex == complex_ and red.dt == sys.dt
    assert np.allclose(transfer_function(red, dc), transfer_function(sys, dc), rtol=1e-10)
    tr = modred(sys, 2, method="truncate")
    keep = [0, 1, 3, 4, 5, 6]
    assert np.array_equal(tr.A, sys.A[np.ix_(keep, keep)]) and np.array_equal(tr.D, sys.D)


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("method", ["matchdc", "truncate"])
def test_modred_of_a_diagonal_batch_stays_diagonal_and_equals_the_dense_route(discrete, method):
    batch = random_diagonal(2, 6, 2, 1, discrete=discrete, seed=1)
    red = modred(batch, [1, 4], method)
    assert isinstance(red, DiagonalLTI) and red.batch_shape == (2,) and red.n == 4
    z = np.exp(POINTS) if discrete else POINTS
    for k in range(2):
        dense = modred(batch[k].to_dense(), [1, 4], method)
        assert np.allclose(transfer_function(red[k], z), transfer_function(dense, z), rtol=1e-10, atol=1e-12)


def test_modred_errors():
    sys = random_dense(4)
    with pytest.raises(MethodError, match="matchdc"):
        modred(sys, [1], method="residualize")
    with pytest.raises(InvalidArgumentError, match="outside"):
        modred(sys, [4])
    with pytest.raises(InvalidArgumentError, match="outside"):
        modred(sys, [-1])
    with pytest.raises(InvalidArgumentError, match="repeats"):
        modred(sys, [1, 1])
    with pytest.raises(ArgumentTypeError, match="integers"):
        modred(sys, [1.0])
    integrator = LTI([[-1.0, 0.0], [1.0, 0.0]], [[1.0], [0.0]], [[0.0, 1.0]])
    with pytest.raises(NumericalError, match="singular"):
        modred(integrator, [1])
    with pytest.raises(NumericalError, match="DC"):
        modred(DiagonalLTI([0.0, -1.0], np.ones((2, 1)), np.ones((1, 2))), [0])
    assert modred(integrator, [1], method="truncate").n == 1  # truncation needs no inverse


def test_modred_refuses_a_descriptor_system_whose_algebraic_states_would_shift_the_indices():
    from mor.errors import SystemTypeError

    E = np.diag([0.0, 1.0, 1.0])  # state 0 is algebraic: it would be eliminated before indexing
    A = np.array([[-2.0, 0.3, 0.1], [0.4, -1.0, 0.2], [0.1, 0.5, -3.0]])
    d = LTI(A, np.ones((3, 1)), np.ones((1, 3)), E=E)
    with pytest.raises(SystemTypeError, match="algebraic"):
        mor.modred(d, [1], method="truncate")
    # a non-singular E keeps the state coordinates: the indices stay valid
    ok = LTI(A, np.ones((3, 1)), np.ones((1, 3)), E=np.diag([2.0, 1.0, 1.0]))
    assert mor.modred(ok, [2], method="truncate").n == 2


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("complex_", [False, True])
def test_modal_dc_gain_is_the_dc_gain_of_the_chosen_modes(discrete, complex_):
    batch = random_diagonal(3, 6, 2, 3, discrete=discrete, seed=4)
    if complex_:
        batch = DiagonalLTI(batch.poles, batch.B * (1 + 0.5j), batch.C * (2 - 1j), batch.D, batch.dt)
    dc = 1.0 if discrete else 0.0
    modes = [5, 0, 3]
    gain = mor.modal_dc_gain(batch, modes)
    assert gain.shape == (3, 3, 2)
    for k in range(3):
        part = modred(batch[k], [1, 2, 4], method="truncate")  # exactly the chosen modes, D unchanged
        want = transfer_function(part, dc) - batch[k].D
        assert np.allclose(gain[k], want, rtol=1e-12, atol=1e-14 * np.abs(want).max())
    whole = mor.modal_dc_gain(batch)
    assert np.allclose(whole, transfer_function(batch, dc) - batch.D, rtol=1e-12)


def test_modal_dc_gain_errors():
    with pytest.raises(mor.errors.SystemTypeError, match="DiagonalLTI"):
        mor.modal_dc_gain(random_dense(3))
    with pytest.raises(NumericalError, match="DC"):
        mor.modal_dc_gain(DiagonalLTI([0.0, -1.0], np.ones((2, 1)), np.ones((1, 2))))
    assert np.allclose(mor.modal_dc_gain(DiagonalLTI([0.0, -1.0], np.ones((2, 1)), np.ones((1, 2))), [1]), 1.0)
    with pytest.raises(InvalidArgumentError, match="outside"):
        mor.modal_dc_gain(DiagonalLTI([-1.0], np.ones((1, 1)), np.ones((1, 1))), [1])
