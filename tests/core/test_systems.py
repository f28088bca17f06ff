"""System types: validation, immutability, interop, arithmetic, batching."""

import pickle
import subprocess
import sys

import numpy as np
import pytest

import mor
from mor import LTI, DiagonalLTI, as_system
from mor.errors import ArgumentTypeError, DimensionError, InvalidArgumentError, NonFiniteError, SystemTypeError


def test_lti_dtype_and_shapes():
    s = LTI([[-1, 0], [1, -2]], [[1], [0]], [[0, 1]])
    assert s.dtype == np.float64 and (s.n, s.m, s.p) == (2, 1, 1)
    assert s.D.shape == (1, 1) and not s.D.any()
    c = LTI([[-1j]], [[1]], [[1]])
    assert c.dtype == np.complex128 and c.B.dtype == np.complex128 and c.is_complex
    assert repr(s) == "LTI(n=2, m=1, p=1, real, continuous)"
    assert repr(LTI([[0.5]], [[1]], [[1]], dt=0.1)) == "LTI(n=1, m=1, p=1, real, discrete, dt=0.1)"


@pytest.mark.parametrize(
    "args, err, text",
    [
        (([[1, 2]], [[1]], [[1]]), DimensionError, "A must be a square"),
        (([[1.0]], [[1], [2]], [[1]]), DimensionError, "B must have shape"),
        (([[1.0]], [[1]], [[1, 2]]), DimensionError, "C must have shape"),
        (([[1.0]], [[1]], [[1]], [[1, 2]]), DimensionError, "D must have shape"),
        (([[np.nan]], [[1]], [[1]]), NonFiniteError, "A contains 1 non-finite"),
        (([[1.0]], [[np.inf]], [[1]]), NonFiniteError, "B contains"),
        (([["a"]], [[1]], [[1]]), ArgumentTypeError, "A must be numeric"),
    ],
)
def test_lti_validation(args, err, text):
    with pytest.raises(err, match=text):
        LTI(*args)


@pytest.mark.parametrize("dt", [-2.0, -0.5, np.inf, np.nan])
def test_bad_dt_values(dt):
    with pytest.raises(InvalidArgumentError, match="dt"):
        LTI([[0.5]], [[1]], [[1]], dt=dt)


@pytest.mark.parametrize("dt", ["0.1", 1j])
def test_bad_dt_types(dt):
    with pytest.raises(ArgumentTypeError, match="dt"):
        LTI([[0.5]], [[1]], [[1]], dt=dt)


def test_errors_subclass_builtins():
    assert issubclass(DimensionError, ValueError)
    assert issubclass(SystemTypeError, TypeError)
    assert issubclass(mor.UnstableSystemError, ValueError)
    assert issubclass(mor.OrderError, ValueError) and issubclass(mor.MethodError, ValueError)


def test_immutable_and_pickle():
    s = LTI([[-1.0]], [[1.0]], [[2.0]])
    with pytest.raises(AttributeError):
        s.A = np.zeros((1, 1))
    with pytest.raises(ValueError):
        s.A[0, 0] = 3.0  # read-only array
    src = np.array([[-1.0]])
    t = LTI(src, [[1.0]], [[1.0]])
    src[0, 0] = 5.0
    assert t.A[0, 0] == -1.0  # copied, not aliased
    u = pickle.loads(pickle.dumps(s))
    assert np.array_equal(u.A, s.A) and u.dt == s.dt
    d = DiagonalLTI.from_log_poles([-0.1 + 1j], [[1.0]], [[1.0]], dt=0.5)
    e = pickle.loads(pickle.dumps(d))
    assert np.array_equal(e.log_poles, d.log_poles)
    with pytest.raises(AttributeError):
        d.poles = None


def test_diagonal_batch_broadcast_and_index():
    poles = -0.5 + 1j * np.pi * np.arange(4)
    s = DiagonalLTI(poles, np.ones((4, 1)), np.ones((3, 1, 4)))  # B, poles shared; C per member
    assert s.batch_shape == (3,) and s.poles.shape == (3, 4) and s.B.shape == (3, 4, 1)
    assert len(s) == 3 and s[1].batch_shape == () and s[1:].batch_shape == (2,)
    dense = s[0].to_dense()
    assert isinstance(dense, LTI) and np.allclose(np.diag(dense.A), poles)
    with pytest.raises(DimensionError, match="index it first"):
        s.to_dense()
    with pytest.raises(DimensionError, match="do not broadcast"):
        DiagonalLTI(np.zeros((2, 4)) - 1, np.ones((3, 4, 1)), np.ones((1, 4)))
    with pytest.raises(DimensionError, match="B must have shape"):
        DiagonalLTI(poles, np.ones(4), np.ones((1, 4)))


def test_log_poles():
    mu = np.array([-0.01 + 3j, -2.0])
    s = DiagonalLTI.from_log_poles(mu, np.ones((2, 1)), np.ones((1, 2)), dt=0.1)
    assert np.array_equal(s.log_poles, mu) and np.allclose(s.poles, np.exp(mu))
    with pytest.raises(InvalidArgumentError, match="discrete-time"):
        DiagonalLTI(None, np.ones((2, 1)), np.ones((1, 2)), log_poles=mu)  # continuous
    with pytest.raises(InvalidArgumentError, match="disagree"):
        DiagonalLTI([0.1, 0.2], np.ones((2, 1)), np.ones((1, 2)), dt=1.0, log_poles=mu)
    with pytest.raises(SystemTypeError):
        DiagonalLTI([-1.0], [[1.0]], [[1.0]]).log_poles  # noqa: B018
    # without given log-poles: log(poles); the old name `mu` is gone
    z = DiagonalLTI([0.5, -0.25j], np.ones((2, 1)), np.ones((1, 2)), dt=1.0)
    np.testing.assert_array_equal(z.log_poles, np.log(np.array([0.5, -0.25j])))
    assert not hasattr(z, "mu")


def test_interop_control_and_scipy():
    control = pytest.importorskip("control")
    from scipy import signal

    s = LTI([[-1.0, 2.0], [0.0, -3.0]], [[1.0], [1.0]], [[1.0, 0.0]], [[0.5]], dt=None)
    cs = s.to_control()
    assert isinstance(cs, control.StateSpace)
    back = as_system(cs)
    assert np.array_equal(back.A, s.A) and back.dt is None
    sd = LTI(s.A / 10, s.B, s.C, s.D, dt=0.2)
    assert as_system(sd.to_control()).dt == 0.2
    sc = s.to_scipy()
    assert np.array_equal(as_system(sc).A, s.A) and as_system(sc).dt is None
    assert as_system(sd.to_scipy()).dt == 0.2
    assert as_system(signal.TransferFunction([1.0], [1.0, 2.0])).n == 1
    with pytest.raises(SystemTypeError, match="casts complex"):
        LTI([[-1j]], [[1]], [[1]]).to_control()
    # python-control's dt=True (discrete, period unspecified) becomes dt = 1.0
    assert as_system(control.ss([[0.5]], [[1.0]], [[1.0]], [[0.0]], True)).dt == mor.systems.UNSPECIFIED_DT
    # every public function accepts these objects directly
    assert np.allclose(mor.hankel_singular_values(cs), mor.hankel_singular_values(s))
    assert np.allclose(mor.hankel_singular_values(sc), mor.hankel_singular_values(s))
    assert np.allclose(mor.hankel_singular_values((s.A, s.B, s.C)), mor.hankel_singular_values(s))


def test_as_system_rejects():
    with pytest.raises(SystemTypeError, match=r"expected mor\.LTI"):
        as_system("not a system")
    with pytest.raises(SystemTypeError, match="length 2"):
        as_system((1, 2))


def test_arithmetic_parallel_connection():
    a = LTI([[-1.0]], [[1.0]], [[2.0]], [[0.5]])
    b = LTI([[-3.0]], [[1.0]], [[1.0]])
    s = np.array([0.3j, 1.0 + 2j])
    G = mor.transfer_function(a - b, s)
    assert np.allclose(G, mor.transfer_function(a, s) - mor.transfer_function(b, s))
    da = DiagonalLTI([[-1.0, -2j - 1]], np.ones((1, 2, 1)), np.ones((1, 1, 2)))
    db = DiagonalLTI([[-4.0]], np.ones((1, 1, 1)), 2 * np.ones((1, 1, 1)))
    diff = da - db
    assert isinstance(diff, DiagonalLTI) and diff.n == 3
    assert np.allclose(mor.transfer_function(diff, s), mor.transfer_function(da, s) - mor.transfer_function(db, s))
    with pytest.raises(InvalidArgumentError, match="time bases"):
        a - LTI([[0.5]], [[1.0]], [[1.0]], dt=1.0)


def test_import_mor_does_not_import_torch():
    code = "import sys, mor; mor.balanced_truncation; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_check_stable_is_public_and_names_the_poles():
    from mor.errors import UnstableSystemError
    from mor.stability import unstable_mask

    mor.check_stable(LTI([[-1.0]], [[1.0]], [[1.0]]))
    mor.check_stable(([[-1.0]], [[1.0]], [[1.0]]))  # anything as_system accepts
    batch = DiagonalLTI.from_log_poles([[-0.1, -1e-12 + 2j], [0.0, -0.2]], np.ones((2, 2, 1)), np.ones((2, 1, 2)))
    np.testing.assert_array_equal(unstable_mask(batch), [[False, False], [True, False]])
    with pytest.raises(UnstableSystemError, match="the H2 norm needs") as info:
        mor.check_stable(batch, "the H2 norm")
    assert info.value.index == [(1, 0)] and np.allclose(info.value.poles, [1.0])
    dense = LTI(np.diag([0.5, 1.5]), np.ones((2, 1)), np.ones((1, 2)), dt=1.0)
    np.testing.assert_array_equal(unstable_mask(dense), [False, True])
