"""Exact conversion between DSS layers and mor systems (float64, relative 1e-10)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mor import LTI, DiagonalLTI  # noqa: E402
from mor.discretize import discretize  # noqa: E402
from mor.errors import DimensionError, SystemTypeError, UnstableSystemError  # noqa: E402
from mor.response import impulse_response  # noqa: E402
from mor_torch import DSS, LayerConversionError, from_lti, to_lti  # noqa: E402

F64 = torch.float64
L = 300


def trained_like(mode, shared, seed=0, H=5, N=12, init="skew-hippo"):
    """A layer with every SSM parameter moved off its initialisation; softmax gets growing modes."""
    torch.manual_seed(seed)
    layer = DSS(H, N, mode=mode, shared_poles=shared, init=init, dtype=F64)
    g = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for p in layer.ssm_parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g, dtype=F64))
        layer.D.add_(1.0)
        if mode == "softmax":
            layer.lambda_re.add_(0.6)
            assert bool((layer.lambda_re > 0).any())
    return layer


def kernel(layer, length=L):
    return layer.kernel(length).detach().numpy()


def rel(a, b):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(b))


CASES = [(m, s) for m in ("exp", "softmax") for s in (True, False)]


@pytest.mark.parametrize(("mode", "shared"), CASES)
def test_kernel_is_impulse_response_discrete(mode, shared):
    layer = trained_like(mode, shared)
    sys = to_lti(layer, time="discrete", length=L)
    assert sys.batch_shape == (5,) and (sys.n, sys.m, sys.p) == (12, 1, 1) and sys.dt == 1.0
    h = impulse_response(sys, L + 1)[:, 1:, 0, 0]
    assert rel(h.real, kernel(layer)) < 1e-10
    np.testing.assert_array_equal(sys.D[:, 0, 0], layer.D.detach().numpy())


@pytest.mark.parametrize(("mode", "shared"), CASES)
def test_kernel_is_impulse_response_continuous(mode, shared):
    layer = trained_like(mode, shared, seed=1)
    sys = to_lti(layer, time="continuous", length=L)
    assert sys.dt is None
    np.testing.assert_array_equal(sys.poles, np.broadcast_to(layer.poles().detach().numpy(), (5, 12)))
    np.testing.assert_array_equal(sys.B, 1.0)
    if mode == "exp":
        np.testing.assert_array_equal(sys.C[:, 0, :], layer.weights().detach().numpy())
    # the zero-order hold of the continuous system with each channel's step is the layer
    sysd = discretize(sys, layer.delta().detach().numpy())
    h = impulse_response(sysd, L + 1)[:, 1:, 0, 0]
    assert rel(h.real, kernel(layer)) < 1e-10


@pytest.mark.parametrize(("mode", "shared"), CASES)
@pytest.mark.parametrize("time", ["continuous", "discrete"])
def test_round_trip(mode, shared, time):
    layer = trained_like(mode, shared, seed=2)
    sys = to_lti(layer, time=time, length=L)
    back = from_lti(sys, template=layer, length=L)
    assert back.mode == mode and back.shared_poles == shared and back.d_state == 12
    assert rel(kernel(back), kernel(layer)) < 1e-10
    torch.testing.assert_close(back.log_step, layer.log_step, rtol=0, atol=0)
    torch.testing.assert_close(back.D, layer.D, rtol=0, atol=0)
    # without a template: explicit steps, skip taken from the system
    back2 = from_lti(sys, mode=mode, log_step=layer.log_step.detach(), length=L)
    assert rel(kernel(back2), kernel(layer)) < 1e-10
    torch.testing.assert_close(back2.D, layer.D, rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["exp", "softmax"])
def test_cross_mode_conversion(mode):
    # an exp layer's system rebuilt as a softmax layer (and back) has the same kernel
    other = "softmax" if mode == "exp" else "exp"
    layer = trained_like(mode, True, seed=3)
    if mode == "softmax":
        with torch.no_grad():
            layer.lambda_re.copy_(-layer.lambda_re.abs() - 0.05)  # exp mode needs stable poles
    sys = to_lti(layer, time="discrete", length=L)
    back = from_lti(sys, mode=other, template=layer, length=L)
    assert back.mode == other
    assert rel(kernel(back), kernel(layer)) < 1e-10


@pytest.mark.parametrize("mode", ["exp", "softmax"])
def test_convolution_equals_recurrence(mode):
    layer = trained_like(mode, False, seed=4, H=3, N=6)
    sys = to_lti(layer, time="discrete", length=64)
    u = torch.randn(2, 64, 3, dtype=F64)
    y = layer(u).detach().numpy()
    z, Bbar, C = sys.poles, sys.B[..., 0], sys.C[:, 0, :]
    D = layer.D.detach().numpy()
    for b in range(2):
        x = np.zeros((3, 6), complex)
        for k in range(64):
            x = z * x + Bbar * u[b, k].numpy()[:, None]  # x[k+1]
            yk = (C * x).sum(-1).real + D * u[b, k].numpy()  # y[k] = Re(C x[k+1]) + D u[k]
            np.testing.assert_allclose(y[b, k], yk, rtol=1e-9, atol=1e-11)


def test_aliased_discrete_poles_exact():
    # Im(lambda Delta) far beyond pi: rebuild from z alone (principal logarithm) - still exact
    poles = np.array([-0.3 + 250.0j, -0.1 + 3.0j, -1.0 + 1000.0j])
    layer = DSS.from_parameters(poles, np.array([[1 + 1j, 0.5, -2j]] * 2), np.log([0.05, 0.1]), dtype=F64)
    sys = to_lti(layer, time="discrete")
    assert np.max(np.abs(sys.log_poles.imag)) > 10 * np.pi
    plain = DiagonalLTI(sys.poles, sys.B, sys.C, sys.D, dt=1.0)  # log poles recomputed: principal branch
    back = from_lti(plain, template=layer)
    assert not np.allclose(back.poles().detach().numpy(), np.broadcast_to(poles, (2, 3)))  # aliased
    assert rel(kernel(back, 500), kernel(layer, 500)) < 1e-10


def test_from_dense_diagonalisable_system():
    # SIMO dense system (one input, H outputs): shared poles via eigendecomposition
    rng = np.random.default_rng(0)
    lam = -rng.uniform(0.1, 1, 6) + 1j * rng.uniform(0, 10, 6)
    T = rng.standard_normal((6, 6)) + 1j * rng.standard_normal((6, 6))
    A = T @ np.diag(lam) @ np.linalg.inv(T)
    B = rng.standard_normal((6, 1)) + 0j
    C = rng.standard_normal((3, 6)) + 1j * rng.standard_normal((3, 6))
    layer = from_lti(LTI(A, B, C), log_step=np.log([0.1, 0.2, 0.05]))
    assert layer.shared_poles and layer.d_model == 3
    dt = layer.delta().detach().numpy()
    for h in range(3):
        sysd = discretize(LTI(A, B, C[h : h + 1]), float(dt[h]))
        ref = impulse_response(sysd, 101)[1:, 0, 0].real
        assert rel(kernel(layer, 100)[h], ref) < 1e-9


def test_from_list_of_channel_systems():
    layer = trained_like("exp", False, seed=5, H=3, N=4)
    sys = to_lti(layer, time="continuous")
    parts = [sys[h].to_dense() for h in range(3)]
    back = from_lti(parts, template=layer)
    assert not back.shared_poles
    assert rel(kernel(back), kernel(layer)) < 1e-9


def test_float32_layer_converts():
    torch.manual_seed(0)
    layer = DSS(3, 8, mode="softmax")
    sys = to_lti(layer, time="discrete", length=128)
    assert sys.poles.dtype == np.complex128
    h = impulse_response(sys, 129)[:, 1:, 0, 0].real
    assert rel(kernel(layer, 128), h) < 1e-5
    back = from_lti(sys, template=layer, length=128)
    assert back.W.dtype == torch.float32


def test_conversion_errors():
    soft = trained_like("softmax", True, seed=6, H=2, N=3)
    with pytest.raises(LayerConversionError, match="length"):
        to_lti(soft)
    with pytest.raises(LayerConversionError, match="length"):
        from_lti(to_lti(soft, length=10), mode="softmax", log_step=[0.0, 0.0])
    with pytest.raises(LayerConversionError, match="log_step"):
        from_lti(to_lti(soft, length=10), mode="exp")
    with pytest.raises(SystemTypeError):
        to_lti(torch.nn.Linear(2, 2))
    with pytest.raises(SystemTypeError):
        from_lti(to_lti(soft, length=10), template=soft, length=10, time="discrete")
    # growing modes cannot become an exp layer
    sysd = to_lti(soft, time="discrete", length=10)
    with pytest.raises(UnstableSystemError):
        from_lti(sysd, mode="exp", template=soft)
    # a growing softmax mode whose LTI form overflows float64
    big = DSS.from_parameters(np.array([50.0 + 1j]), np.ones((1, 1)), np.log([0.1]), mode="softmax", dtype=F64)
    with pytest.raises(LayerConversionError, match="channel 0, mode 0"):
        to_lti(big, length=1000)
    # multi-input systems are not layers
    with pytest.raises(DimensionError):
        from_lti(DiagonalLTI(-np.ones(2), np.ones((2, 2)), np.ones((1, 2))), log_step=[0.0])
    with pytest.raises(LayerConversionError, match="shared_poles"):
        from_lti(to_lti(trained_like("exp", False, seed=7, H=2, N=3)), log_step=[0.0, 0.0], shared_poles=True)
