"""DSS layer: initialisations, fast kernels against the plain references, forward pass."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mor.errors import DimensionError, InvalidArgumentError, MethodError, NonFiniteError, UnstableSystemError  # noqa: E402
from mor_torch import DSS, kernels  # noqa: E402
from mor_torch import init as inits  # noqa: E402

F64 = torch.float64


def perturb(layer, scale=0.2, shift_re=0.0, seed=0):
    """Trained-like parameters: every SSM parameter moved off the initialisation."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.ssm_parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
        if shift_re and layer.mode == "softmax":
            layer.lambda_re.add_(shift_re)
    return layer


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


# -- initialisations ---------------------------------------------------------------------------
def test_skew_hippo_matches_definition():
    n = 6
    idx = np.arange(2 * n)
    A = -np.tril(np.sqrt(np.outer(2 * idx + 1, 2 * idx + 1)), -1) - np.diag(idx + 1.0)
    ev = np.linalg.eigvals((A - A.T) / 2)
    expect = np.sort(ev.imag[ev.imag > 0])
    got = inits.skew_hippo(n)
    assert np.allclose(got.real, -0.5)
    np.testing.assert_allclose(got.imag, expect, rtol=1e-12)


def test_skew_hippo_range_n64():
    p = inits.skew_hippo(64)
    assert p.shape == (64,)
    assert abs(p.imag.min() - 0.2352) < 1e-3 and abs(p.imag.max() - 5214.7) < 0.5


def test_s4d_formulas():
    n = 5
    np.testing.assert_allclose(inits.s4d_lin(n), -0.5 + 1j * np.pi * np.arange(n))
    k = np.arange(n)
    np.testing.assert_allclose(inits.s4d_inv(n), -0.5 + 1j * (2 * n / np.pi) * (2 * n / (2 * k + 1) - 1))
    assert np.all(inits.s4d_inv(n).imag > 0)


def test_random_poles_reproducible_and_stable():
    a, b = inits.random_poles(16, 3), inits.random_poles(16, 3)
    np.testing.assert_array_equal(a, b)
    assert np.all((a.real <= -0.1) & (a.real >= -1)) and np.all(np.diff(a.imag) >= 0)


def test_init_errors():
    with pytest.raises(InvalidArgumentError, match="number of modes"):
        inits.skew_hippo(0)
    with pytest.raises(MethodError):
        inits.init_poles("hippo", 4)


# -- construction ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["exp", "softmax"])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("init", ["skew-hippo", "s4d-lin", "s4d-inv", "random"])
def test_layer_parameters(mode, shared, init):
    torch.manual_seed(0)
    H, N = 3, 5
    layer = DSS(H, N, mode=mode, init=init, shared_poles=shared, step_min=1e-3, step_max=1e-1)
    shape = (N,) if shared else (H, N)
    assert layer.poles().shape == shape and layer.weights().shape == (H, N)
    assert layer.W.dtype == torch.float32 and layer.poles().dtype == torch.complex64
    dt = layer.delta().detach()
    assert torch.all((dt >= 1e-3 * (1 - 1e-6)) & (dt <= 1e-1 * (1 + 1e-6)))
    poles = np.broadcast_to(layer.poles().detach().numpy(), shape)
    if init != "random":
        np.testing.assert_allclose(poles, np.broadcast_to(inits.init_poles(init, N, 0), shape), rtol=1e-6)
    else:  # the documented distribution -U(0.1, 1) + i pi U(0, N), sorted by imaginary part ...
        assert np.all((poles.real >= -1 - 1e-6) & (poles.real <= -0.1 + 1e-6))
        assert np.all((poles.imag >= 0) & (poles.imag <= np.pi * N * (1 + 1e-6)))
        assert np.all(np.diff(poles.imag, axis=-1) >= 0)
        # ... drawn from torch's generator: the same seed gives the same poles, another seed others
        torch.manual_seed(0)
        again = DSS(H, N, mode=mode, init=init, shared_poles=shared, step_min=1e-3, step_max=1e-1)
        torch.manual_seed(1)
        other = DSS(H, N, mode=mode, init=init, shared_poles=shared, step_min=1e-3, step_max=1e-1)
        torch.testing.assert_close(again.poles(), layer.poles(), rtol=0, atol=0)
        assert not torch.allclose(other.poles(), layer.poles())
    ssm = layer.ssm_parameters()
    assert len(ssm) == 4 and ssm[-1] is layer.log_step and ssm[2] is layer.W
    assert {id(p) for p in layer.parameters()} == {id(p) for p in ssm} | {id(layer.D)}


def test_layer_float64():
    layer = DSS(2, 4, dtype=F64)
    assert all(p.dtype == F64 for p in layer.parameters())
    assert layer.kernel(10).dtype == F64


def test_layer_errors():
    with pytest.raises(InvalidArgumentError, match="d_model"):
        DSS(0, 4)
    with pytest.raises(MethodError):
        DSS(2, 4, mode="exponential")
    with pytest.raises(MethodError):
        DSS(2, 4, init="legs")
    with pytest.raises(MethodError):
        DSS(2, 4, dtype=torch.float16)
    with pytest.raises(InvalidArgumentError, match="step_max"):
        DSS(2, 4, step_min=0.1, step_max=0.01)
    layer = DSS(2, 4)
    with pytest.raises(DimensionError):
        layer(torch.zeros(1, 5, 3))
    with pytest.raises(DimensionError):
        layer(torch.zeros(5, 2))
    with pytest.raises(MethodError):
        layer.kernel(5, method="slow")


def test_from_parameters():
    torch.manual_seed(1)
    layer = perturb(DSS(3, 6, mode="softmax", shared_poles=False, dtype=F64), shift_re=0.3)
    copy = DSS.from_parameters(layer.poles(), layer.weights(), layer.log_step, layer.D, mode="softmax",
                               dtype=F64)
    assert not copy.shared_poles
    torch.testing.assert_close(copy.kernel(50), layer.kernel(50), rtol=0, atol=0)
    with pytest.raises(UnstableSystemError):
        DSS.from_parameters(np.array([0.1 + 1j, -1.0]), np.ones((2, 2)), np.zeros(2), mode="exp")
    with pytest.raises(DimensionError):
        DSS.from_parameters(np.array([-1.0 + 1j]), np.ones((2, 2)), np.zeros(2))
    with pytest.raises(NonFiniteError):
        DSS.from_parameters(np.array([-1.0, np.nan]), np.ones((2, 2)), np.zeros(2))


# -- kernels --------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["exp", "softmax"])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("length", [1, 7, 100, 333])
def test_fast_kernel_matches_naive_float64(mode, shared, length):
    torch.manual_seed(2)
    layer = perturb(DSS(4, 12, mode=mode, shared_poles=shared, dtype=F64), shift_re=0.7)
    if mode == "softmax":
        assert bool((layer.poles().real > 0).any())  # growing modes are exercised
    fast = layer.kernel(length).detach().numpy()
    naive = layer.kernel(length, method="naive").detach().numpy()
    assert rel(fast, naive) < (1e-13 if mode == "exp" else 1e-11)


@pytest.mark.parametrize("chunk", [1, 3, 16, 64])
def test_power_sum_any_chunk(chunk):
    g = torch.Generator().manual_seed(0)
    nu = -torch.rand(3, 5, generator=g, dtype=F64) * 0.1 + 1j * torch.randn(3, 5, generator=g, dtype=F64)
    coef = torch.randn(3, 5, 2, generator=g, dtype=F64)
    coef = torch.view_as_complex(coef)
    k = torch.arange(50, dtype=F64)
    ref = (coef[..., None] * torch.exp(nu[..., None] * k)).sum(1).real
    torch.testing.assert_close(kernels.power_sum(coef, nu, 50, chunk), ref, rtol=1e-12, atol=1e-13)


def as64(layer):
    """The float32 layer's (rounded) parameters in a float64 layer: the exact reference."""
    c = torch.complex128
    return DSS.from_parameters(layer.poles().detach().to(c), layer.weights().detach().to(c),
                               layer.log_step.detach().double(), layer.D.detach().double(),
                               mode=layer.mode, dtype=F64)


@pytest.mark.parametrize("mode", ["exp", "softmax"])
def test_fast_kernel_float32_accuracy(mode):
    torch.manual_seed(3)
    layer = perturb(DSS(8, 32, mode=mode), shift_re=0.5)
    ref = as64(layer).kernel(1024, method="naive").detach().numpy()
    fast32 = layer.kernel(1024)
    assert fast32.dtype == torch.float32
    err_fast = rel(fast32.detach().numpy(), ref)
    err_naive = rel(layer.kernel(1024, method="naive").detach().numpy(), ref)
    # the fast path is at least as accurate as the plain one in single precision
    assert err_fast <= 1.5 * err_naive + 1e-6
    assert err_fast < (1e-5 if mode == "exp" else 1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_softmax_extreme_real_parts(dtype):
    # |Re(lambda) k Delta| far beyond the exponent range: growing and fast-decaying modes
    poles = np.array([60.0 + 3j, 5.0 + 1j, -3000.0 + 2j, -0.01 + 4j, 1e-9 + 0.5j])
    W = np.array([[1.0, 2.0 - 1j, 0.5, 1j, 1.0]] * 2)
    log_step = np.log([0.1, 0.5])
    layer = DSS.from_parameters(poles, W, log_step, mode="softmax", dtype=dtype)
    ref = as64(layer).kernel(2048, method="naive")
    k = layer.kernel(2048)
    assert torch.isfinite(k).all()
    assert rel(k.detach().numpy(), ref.detach().numpy()) < (1e-10 if dtype == F64 else 1e-4)
    k.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.ssm_parameters())


def test_exp_extreme_decay_finite():
    poles = np.array([-1e5 + 1j, -1e-8 + 1e3j])
    layer = DSS.from_parameters(poles, np.ones((1, 2)), np.log([0.1]), dtype=torch.float32)
    k = layer.kernel(4096)
    assert torch.isfinite(k).all()
    ref = as64(layer).kernel(4096, method="naive").detach().numpy()
    # float32 phases mu*k reach 4e5 rad here: compare with the plain float32 kernel's own error
    err_naive = rel(layer.kernel(4096, method="naive").detach().numpy(), ref)
    assert rel(k.detach().numpy(), ref) <= 1.5 * err_naive + 1e-6


@pytest.mark.parametrize("mode", ["exp", "softmax"])
def test_fast_kernel_gradients_match_naive(mode):
    torch.manual_seed(4)
    layer = perturb(DSS(3, 8, mode=mode, shared_poles=False, dtype=F64), shift_re=0.5)
    w = torch.randn(3, 200, dtype=F64)
    grads = []
    for method in ("fast", "naive"):
        layer.zero_grad()
        (layer.kernel(200, method=method) * w).sum().backward()
        grads.append([p.grad.clone() for p in layer.ssm_parameters()])
    for gf, gn in zip(*grads, strict=True):
        torch.testing.assert_close(gf, gn, rtol=1e-9, atol=1e-10)


# -- forward ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["exp", "softmax"])
def test_forward_is_causal_convolution_plus_skip(mode):
    torch.manual_seed(5)
    layer = perturb(DSS(3, 8, mode=mode, dtype=F64), shift_re=0.2)
    u = torch.randn(2, 64, 3, dtype=F64)
    y = layer(u).detach().numpy()
    K = layer.kernel(64).detach().numpy()
    D = layer.D.detach().numpy()
    un = u.numpy()
    for b in range(2):
        for h in range(3):
            ref = np.convolve(un[b, :, h], K[h])[:64] + D[h] * un[b, :, h]
            np.testing.assert_allclose(y[b, :, h], ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("L", [1, 2, 7, 64, 397])
def test_causal_conv_backward_is_the_adjoint(L):
    """The hand-written backward equals autograd's on the plain zero-padded FFT convolution."""
    torch.manual_seed(L)
    u = torch.randn(3, L, 4, dtype=F64, requires_grad=True)
    K = torch.randn(4, L, dtype=F64, requires_grad=True)
    w = torch.randn(3, L, 4, dtype=F64)
    (kernels.causal_conv(u, K) * w).sum().backward()
    fast = (u.grad.clone(), K.grad.clone())
    u.grad, K.grad = None, None
    n = 2 * L
    ref = torch.fft.irfft(torch.fft.rfft(u, n=n, dim=1) * torch.fft.rfft(K, n=n).T, n=n, dim=1)[:, :L]
    (ref * w).sum().backward()
    torch.testing.assert_close(fast[0], u.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fast[1], K.grad, rtol=1e-10, atol=1e-12)
    y = kernels.causal_conv(u, K)
    assert y.is_contiguous() and y.shape == (3, L, 4)
    assert torch.autograd.gradcheck(lambda a, b: kernels.causal_conv(a, b), (u[:1, : min(L, 9)], K[:, : min(L, 9)]))


def test_fft_length_is_the_smallest_7_smooth_size():
    def smooth(n):
        for p in (2, 3, 5, 7):
            while n % p == 0:
                n //= p
        return n == 1

    for L in (1, 2, 3, 100, 293, 397, 398, 400, 1000, 1024):
        n = kernels.fft_length(L)
        assert n >= 2 * L - 1 and smooth(n)
        assert not any(smooth(m) for m in range(2 * L - 1, n))
    assert kernels.fft_length(397) == 800  # 2L = 794 = 2 * 397 is what plain padding would use


def test_forward_float32_and_backward():
    torch.manual_seed(6)
    layer = DSS(4, 16, mode="softmax")
    u = torch.randn(2, 100, 4, requires_grad=True)
    y = layer(u)
    assert y.shape == u.shape and y.dtype == torch.float32
    y.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    assert torch.isfinite(u.grad).all()


def test_safe_reciprocal_and_geometric_sum():
    x = torch.tensor([0.0, 2.0 + 1j], dtype=torch.complex128)
    r = kernels.safe_reciprocal(x, 1e-7)
    assert r[0] == 0 and abs(r[1] - 1 / (2 + 1j)) < 1e-7
    nu = torch.tensor([0.0, -1e-12 + 1e-12j, -0.5 + 2j], dtype=torch.complex128)
    s = kernels.geometric_sum(nu, 10)
    ref = [10.0, sum(math.e ** 0 for _ in range(10)), sum(np.exp((-0.5 + 2j) * j) for j in range(10))]
    np.testing.assert_allclose(s.numpy(), ref, rtol=1e-10)
