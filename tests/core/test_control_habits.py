"""python-control habits: dt conventions, sys(s), print, interconnections, time responses, to_control."""

from __future__ import annotations

import operator

import numpy as np
import pytest
from helpers import random_dense
from scipy import signal

import mor
from mor import LTI, DiagonalLTI, feedback, forced_response, parallel, series, step_response
from mor.errors import ArgumentConflictError, DimensionError, InvalidArgumentError, NumericalError, SystemTypeError
from mor.systems.lti import UNSPECIFIED_DT

control = pytest.importorskip("control")


def _ct(sys: LTI):
    return control.ss(sys.A, sys.B, sys.C, sys.D, 0 if sys.dt is None else sys.dt)


# --------------------------------------------------------------------------- dt
@pytest.mark.parametrize("dt, expected", [(0, None), (0.0, None), (False, None), (True, UNSPECIFIED_DT),
                                          (-1, UNSPECIFIED_DT), (-1.0, UNSPECIFIED_DT), (0.25, 0.25)])
def test_python_control_dt_conventions(dt, expected):
    assert LTI([[0.5]], [[1.0]], [[1.0]], dt=dt).dt == expected
    assert DiagonalLTI([0.5], [[1.0]], [[1.0]], dt=dt).dt == expected
    assert mor.SparseLTI(np.array([[0.5]]), [[1.0]], [[1.0]], dt=dt).dt == expected


def test_drss_is_accepted():
    d = control.drss(5, 2, 2)
    assert d.dt is True
    sys = mor.as_system(d)
    assert sys.dt == UNSPECIFIED_DT
    hsv = mor.hankel_singular_values(d)
    assert hsv.shape == (5,) and np.all(np.diff(hsv) <= 0)
    res = mor.balanced_truncation(d, 3)
    assert res.reduced.dt == UNSPECIFIED_DT
    w = np.linspace(0, np.pi, 7)
    assert np.allclose(mor.frequency_response(sys, w), np.moveaxis(d(np.exp(1j * w)), -1, 0))


# --------------------------------------------------------------------------- evaluation and printing
@pytest.mark.parametrize("complex_", [False, True])
def test_call_evaluates_transfer_function(complex_):
    sys = random_dense(4, 2, 3, complex_=complex_, d=True, seed=1)
    s = np.array([0.5j, 1 + 1j])
    direct = np.array([sys.C @ np.linalg.solve(x * np.eye(4) - sys.A, sys.B) + sys.D for x in s])
    assert np.allclose(sys(s), direct) and np.allclose(sys(s[0]), direct[0])
    diag = DiagonalLTI([-1.0, -2.0 + 1j], [[1.0], [1.0]], [[1.0, 2.0]])
    assert np.allclose(diag(0.3j), diag.to_dense()(0.3j))
    dd = LTI(sys.A / 5, sys.B, sys.C, sys.D, dt=0.1)
    z = np.exp(0.3j)
    assert np.allclose(dd(z), sys.C @ np.linalg.solve(z * np.eye(4) - sys.A / 5, sys.B) + sys.D)


def test_print_shows_matrices_and_repr_stays_short():
    sys = LTI([[-1.0, 2.0], [0.0, -3.0]], [[1.0], [0.5]], [[1.0, 0.0]], dt=0.1)
    text = str(sys)
    assert "A = [[-1.  2.]" in text and "B = " in text and "D = [[0.]]" in text and "dt=0.1" in text
    assert "A =" not in repr(sys)
    big = random_dense(300, seed=2)
    assert len(str(big).splitlines()) < 120  # summarised by numpy
    res = mor.balanced_truncation(big, 4)
    text = repr(res)
    assert "V=ndarray(shape=(300, 4)" in text and len(text) < 1500


# --------------------------------------------------------------------------- interconnections
def test_series_parallel_feedback_match_python_control():
    g1 = random_dense(3, 2, 2, d=True, seed=3)
    g2 = random_dense(2, 2, 2, d=True, seed=4)
    c1, c2 = _ct(g1), _ct(g2)
    s = np.array([0.2j, 1.5j])

    def same(ours, theirs):
        return np.allclose(ours(s), np.moveaxis(theirs(s), -1, 0), rtol=1e-10, atol=1e-12)

    assert same(g2 * g1, c2 * c1) and same(series(g1, g2), c2 * c1)
    assert same(g1 + g2, c1 + c2) and same(g1 - g2, c1 - c2) and same(parallel(g1, g2, sign=-1), c1 - c2)
    assert same(feedback(g1, g2), control.feedback(c1, c2))
    assert same(feedback(g1, g2, sign=1), control.feedback(c1, c2, sign=1))
    assert same(g1.feedback(), control.feedback(c1, control.ss([], [], [], np.eye(2))))  # the scalar 1 is I
    assert same(feedback(g1, 0.5 * np.eye(2)), control.feedback(c1, control.ss([], [], [], 0.5 * np.eye(2))))
    # G(s) = G2(s) G1(s) at a point
    assert np.allclose((g2 * g1)(0.7j), g2(0.7j) @ g1(0.7j))


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul], ids=["+", "-", "*"])
def test_both_operand_orders_with_foreign_objects(op):
    g = LTI([[-1.0]], [[1.0]], [[2.0]], [[0.5]])
    tf = control.tf([1.0], [1.0, 3.0])
    ss = control.ss([[-2.0]], [[1.0]], [[1.0]], [[0.0]])
    sp = signal.StateSpace([[-4.0]], [[1.0]], [[1.0]], [[0.0]])
    cg = _ct(g)
    s = 0.8j
    for other, ref in ((tf, tf), (ss, ss), (sp, control.ss(sp.A, sp.B, sp.C, sp.D))):
        left, right = op(other, g), op(g, other)
        assert isinstance(left, LTI) and isinstance(right, LTI)
        assert np.allclose(left(s), op(ref, cg)(s))
        assert np.allclose(right(s), op(cg, ref)(s))
    assert np.allclose(op(2.0, g)(s), op(2.0, cg)(s))


def test_interconnection_errors_and_descriptor_blocks():
    g = random_dense(2, 1, 1, seed=5)
    with pytest.raises(DimensionError):
        series(g, random_dense(2, 2, 1, seed=6))
    with pytest.raises(ArgumentConflictError, match="time bases"):
        parallel(g, LTI(g.A / 10, g.B, g.C, dt=0.1))
    with pytest.raises(NumericalError, match="algebraic loop"):
        feedback(LTI(g.A, g.B, g.C, [[1.0]]), 1.0, sign=1)
    with pytest.raises(DimensionError, match="batch"):
        series(g, DiagonalLTI([[-1.0], [-2.0]], np.ones((2, 1, 1)), np.ones((2, 1, 1))))
    with pytest.raises(SystemTypeError):
        series(1.0, 2.0)
    E = np.diag([2.0, 3.0])
    gd = LTI(g.A, g.B, g.C, E=E)
    for combined in (gd * g, g + gd, feedback(gd, g)):
        assert combined.E is not None
    assert np.allclose((gd * g)(0.4j), gd(0.4j) @ g(0.4j))


# --------------------------------------------------------------------------- time responses
def test_step_and_forced_response_match_python_control_and_scipy():
    rng = np.random.default_rng(0)
    sys = random_dense(5, 2, 3, d=True, seed=7)
    T = np.linspace(0.0, 6.0, 121)
    r = step_response(sys, T)
    ref = control.step_response(_ct(sys), T).outputs  # (p, m, N)
    assert np.allclose(r.y, np.moveaxis(ref, -1, 0), rtol=1e-9, atol=1e-10)
    U = rng.standard_normal((121, 2))
    x0 = rng.standard_normal(5)
    f = forced_response(sys, T, U, x0=x0)
    _, y, x = signal.lsim((sys.A, sys.B, sys.C, sys.D), U, T, X0=x0, interp=False)  # zero-order hold
    assert np.allclose(f.y, y, rtol=1e-9, atol=1e-10) and np.allclose(f.x, x, rtol=1e-9, atol=1e-10)
    # a step through forced_response is the step response of each input
    assert np.allclose(forced_response(sys, T, np.column_stack([np.ones(121), np.zeros(121)])).y, r.y[:, :, 0])


def test_discrete_responses_and_grid_checks():
    rng = np.random.default_rng(1)
    sys = random_dense(4, 1, 1, discrete=True, seed=8)  # dt = 0.1
    T = 0.1 * np.arange(40)
    u = rng.standard_normal(40)
    f = forced_response(sys, T, u)
    assert np.allclose(f.y[:, 0], control.forced_response(_ct(sys), T, u).outputs, rtol=1e-10, atol=1e-12)
    r = step_response(sys, T)
    assert np.allclose(r.y[:, 0, 0], control.step_response(_ct(sys), T).outputs, rtol=1e-10, atol=1e-12)
    # the impulse response (Markov parameters) equals the differenced step response
    h = mor.impulse_response(sys, 40)
    assert np.allclose(np.cumsum(h[:, 0, 0]), r.y[:, 0, 0])
    with pytest.raises(ArgumentConflictError, match="dt"):
        step_response(sys, 0.2 * np.arange(5))
    with pytest.raises(InvalidArgumentError, match="uniformly"):
        step_response(random_dense(2), [0.0, 1.0, 3.0])
    with pytest.raises(DimensionError, match="U must have shape"):
        forced_response(sys, T, np.ones((40, 3)))
    with pytest.raises(DimensionError, match="x0"):
        forced_response(sys, T, u, x0=np.ones(2))


def test_complex_and_descriptor_responses():
    sys = random_dense(3, 1, 1, complex_=True, seed=9)
    T = np.linspace(0, 2, 21)
    r = step_response(sys, T)
    # complex system: check the final value against G(0)
    long = step_response(sys, np.linspace(0, 60, 601))
    assert np.allclose(long.y[-1], sys(0.0), rtol=1e-6)
    assert r.y.dtype.kind == "c"
    E = np.diag([1.0, 2.0, 4.0])
    gd = LTI(np.real(sys.A), np.real(sys.B), np.real(sys.C), E=E)
    assert np.allclose(step_response(gd, T).y, step_response(mor.systems.standard_form(gd), T).y)


# --------------------------------------------------------------------------- to_control
def test_diagonal_to_control_real_and_conjugate_pairs():
    lam = np.array([-1.0, -0.5 + 2j, -0.5 - 2j, -3.0])
    B = np.array([[1.0], [1 + 2j], [1 - 2j], [0.5]])
    C = np.array([[2.0, 0.5 - 1j, 0.5 + 1j, 1.0]])
    sys = DiagonalLTI(lam, B, C, [[0.25]])
    c = sys.to_control()
    assert isinstance(c, control.StateSpace) and np.isrealobj(c.A)
    for s in (0.0, 0.7j, 3j):
        assert np.allclose(c(s), sys(s)[0, 0])
    disc = DiagonalLTI.from_log_poles(lam * 0.1, B, C, None, 0.1)
    assert np.isclose(disc.to_control()(np.exp(0.3j)), disc(np.exp(0.3j))[0, 0])
    with pytest.raises(SystemTypeError, match="not real"):
        DiagonalLTI([-1 + 1j], [[1.0]], [[1.0]]).to_control()
    with pytest.raises(DimensionError, match="batch"):
        DiagonalLTI(lam[None].repeat(2, 0), B, C).to_control()
    # a batch converts member by member
    batch = DiagonalLTI(lam[None].repeat(2, 0), B, C)
    assert len([m.to_control() for m in batch]) == 2


# --------------------------------------------------------------------------- the operators' registry
def test_operators_registry_is_filled_by_the_implementing_modules():
    """The types reach the modules above them only through mor.systems.lti.OPERATIONS."""
    from mor.analysis.response import transfer_function
    from mor.systems import descriptor, interconnect, lti

    assert lti.OPERATIONS == {
        "series": interconnect.series,
        "parallel": interconnect.parallel,
        "feedback": interconnect.feedback,
        "standard_form": descriptor.as_standard_system,
        "transfer": transfer_function,
    }
    with pytest.raises(mor.MorError, match="not registered"):
        lti.operation("no such operation")
    g = random_dense(3, 1, 1, seed=11)
    assert np.allclose((g * g)(0.5j), g(0.5j) @ g(0.5j))
    assert np.allclose((g - g)(0.5j), 0.0)
