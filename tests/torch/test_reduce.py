"""Balanced truncation of DSS layers and models: error bounds, options, one mor call per layer."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import mor_torch.reducers  # noqa: E402
from mor import hankel_singular_values  # noqa: E402
from mor.errors import ArgumentConflictError, InvalidArgumentError, MethodError, OrderError, UnstableSystemError  # noqa: E402
from mor.response import frequency_response  # noqa: E402
from mor_torch import (  # noqa: E402
    DSS,
    CompressionReport,
    LayerUnstableError,
    UnknownLayerError,
    compress,
    reduce_layer,
    to_lti,
)

F64 = torch.float64
L = 2048


def layer_for(mode, seed=0, H=6, N=24, init="s4d-lin", shared=True, dt=(1e-2, 1e-1)):
    """A trained-like stable layer (softmax: stable, but not by construction)."""
    torch.manual_seed(seed)
    layer = DSS(H, N, mode=mode, init=init, shared_poles=shared, step_min=dt[0], step_max=dt[1], dtype=F64)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in layer.ssm_parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=F64))
        if mode == "softmax":
            layer.lambda_re.copy_(-layer.lambda_re.abs() - 0.05)
    return layer


def kernel(layer, length=L):
    return layer.kernel(length).detach().numpy()


SLACK = 1 + 1e-8


@pytest.mark.parametrize("mode", ["exp", "softmax"])
@pytest.mark.parametrize("order", [6, 12])
def test_discrete_bound_on_kernel_and_outputs(mode, order):
    layer = layer_for(mode)
    new, rep = reduce_layer(layer, order, gramians="discrete", length=L)
    assert new.d_state == order and new.mode == mode and not new.shared_poles
    assert rep.hsv.shape == (6, 24) and rep.error_bound.shape == (6,)
    np.testing.assert_allclose(rep.error_bound, 2 * rep.hsv[:, order:].sum(-1), rtol=1e-12)
    # ||G - G_r||_inf <= bound and, for discrete SISO systems, ||g - g_r||_2 = H2 <= H-inf;
    # taking the real part does not increase the l2 norm
    err = np.linalg.norm(kernel(layer) - kernel(new), axis=-1)
    assert np.all(err <= rep.error_bound * SLACK + 1e-13)
    assert np.all(err > 0)
    # any input: ||y - y_r||_2 <= bound ||u||_2, channel by channel
    u = torch.randn(3, L, 6, dtype=F64)
    dy = (layer(u) - new(u)).detach().numpy()
    un = np.linalg.norm(u.numpy(), axis=1)
    assert np.all(np.linalg.norm(dy, axis=1) <= rep.error_bound * un * SLACK)


def test_bound_is_not_vacuous():
    # the lower bound sigma_{r+1} <= ||G - G_r||_inf: the kernel error is within a modest factor
    layer = layer_for("exp", seed=3)
    new, rep = reduce_layer(layer, 8, length=L)
    err = np.linalg.norm(kernel(layer, 8 * L) - kernel(new, 8 * L), axis=-1)
    assert np.all(err <= rep.error_bound * SLACK)
    assert np.all(err >= 1e-3 * rep.hsv[:, 8])


@pytest.mark.parametrize("structure", ["channel", "shared"])
@pytest.mark.parametrize("mode", ["exp", "softmax"])
def test_continuous_bound_on_transfer_functions(structure, mode):
    layer = layer_for(mode, seed=4)
    new, rep = reduce_layer(layer, 10, gramians="continuous", structure=structure, length=L)
    assert new.shared_poles == (structure == "shared")
    lam = layer.poles().detach().numpy()
    omega = np.concatenate([np.linspace(-5, 200, 2000), np.ravel(lam.imag)])
    G = frequency_response(to_lti(layer, length=L), omega)[..., 0, 0]
    Gr = frequency_response(to_lti(new, length=L), omega)[..., 0, 0]
    bound = np.broadcast_to(rep.error_bound, (6,))
    assert rep.error_bound.shape == ((6,) if structure == "channel" else (1,))
    assert np.all(np.abs(G - Gr).max(-1) <= bound * SLACK)


def test_shared_structure_discrete_needs_equal_steps():
    layer = layer_for("exp", seed=5)
    with torch.no_grad():
        layer.log_step.fill_(np.log(0.05))
    new, rep = reduce_layer(layer, 8, structure="shared")
    assert new.shared_poles and new.poles().shape == (8,) and rep.hsv.shape == (1, 24)
    err = np.linalg.norm(kernel(layer) - kernel(new), axis=-1)
    assert np.all(err <= rep.error_bound[0] * SLACK)
    with pytest.raises(ArgumentConflictError, match="one step"):
        reduce_layer(layer_for("exp", seed=5), 8, structure="shared")
    with pytest.raises(ArgumentConflictError, match="shared-pole"):
        reduce_layer(layer_for("exp", seed=5, shared=False), 8, structure="shared", gramians="continuous")


def test_finite_gramians_with_growing_softmax_modes():
    layer = layer_for("softmax", seed=6, H=3, N=8, init="skew-hippo")
    with torch.no_grad():
        layer.lambda_re[:3] = torch.tensor([0.3, 0.05, 0.2], dtype=F64)  # growing modes
    length = 200
    for gramians in ("discrete", "continuous"):
        with pytest.raises(LayerUnstableError):
            reduce_layer(layer, 4, gramians=gramians, length=length)
    new, rep = reduce_layer(layer, 8, gramians="finite", length=length)  # full order: exact
    assert rep.error_bound is None and rep.gramians == "finite"
    K = kernel(layer, length)
    np.testing.assert_allclose(kernel(new, length), K, atol=1e-9 * np.abs(K).max())
    new4, _ = reduce_layer(layer, 4, gramians="finite", length=length)
    err4 = np.linalg.norm(kernel(new4, length) - K)
    new6, _ = reduce_layer(layer, 6, gramians="finite", length=length)
    assert np.linalg.norm(kernel(new6, length) - K) < err4
    with pytest.raises(InvalidArgumentError, match="length"):
        reduce_layer(layer, 4, gramians="finite")


def test_unstable_error_names_layer_channel_and_mode():
    torch.manual_seed(7)
    model = torch.nn.Sequential(DSS(4, 6, dtype=F64), DSS(4, 6, mode="softmax", shared_poles=False, dtype=F64))
    with torch.no_grad():
        model[1].lambda_re[2, 5] = 0.25
    with pytest.raises(LayerUnstableError) as info:
        compress(model, 3, length=100)
    exc = info.value
    assert isinstance(exc, UnstableSystemError)
    assert (exc.layer, exc.channel, exc.mode) == ("1", 2, 5)
    msg = str(exc)
    assert "'1'" in msg and "channel 2" in msg and "mode 5" in msg and "finite" in msg


def test_one_mor_call_per_layer(monkeypatch):
    calls = []
    real = mor_torch.reducers.balanced_truncation

    def spy(sys, *args, **kwargs):
        calls.append(sys.batch_shape)
        return real(sys, *args, **kwargs)

    monkeypatch.setattr(mor_torch.reducers, "balanced_truncation", spy)
    torch.manual_seed(8)
    model = torch.nn.Sequential(
        DSS(5, 16), torch.nn.GELU(), torch.nn.Sequential(DSS(5, 16, mode="softmax"), DSS(5, 16))
    )
    _small, report = compress(model, 4, length=256)
    assert calls == [(5,), (5,), (5,)]
    assert list(report.layers) == ["0", "2.0", "2.1"]


def test_compress_model_copies_everything_else():
    torch.manual_seed(9)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), DSS(4, 16), torch.nn.LayerNorm(4), DSS(4, 16))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    small, report = compress(model, {"1": 5, "3": 7})
    assert isinstance(report, CompressionReport) and len(report) == 2
    assert small[1].d_state == 5 and small[3].d_state == 7
    assert model[1].d_state == 16  # input untouched
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    sd = small.state_dict()
    for k in ("0.weight", "0.bias", "2.weight", "2.bias", "1.D", "1.log_step", "3.D", "3.log_step"):
        torch.testing.assert_close(sd[k], before[k], rtol=0, atol=0)
        assert sd[k].data_ptr() != model.state_dict()[k].data_ptr()
    assert small[1].W.dtype == torch.float32
    assert "1" in report.summary()
    # a dict naming an unknown layer is an error; missing layers stay as they are
    with pytest.raises(UnknownLayerError, match="unknown"):
        compress(model, {"5": 3})
    partial, rep = compress(model, {"3": 4})
    assert partial[1].d_state == 16 and partial[3].d_state == 4 and list(rep.layers) == ["3"]


def test_compress_linear_chain_error_bound():
    # two DSS layers in series, channels independent: per channel
    # e <= |G2| b1 |u| + b2 |G1r| |u|, with gains bounded by sum|K| + |D| (length-L convolution)
    torch.manual_seed(10)
    model = torch.nn.Sequential(layer_for("exp", seed=10), layer_for("softmax", seed=11))
    small, report = compress(model, 10, length=L)
    b1, b2 = report["0"].error_bound, report["1"].error_bound

    def gain(layer):
        return np.abs(kernel(layer)).sum(-1) + np.abs(layer.D.detach().numpy())

    u = torch.randn(2, L, 6, dtype=F64)
    e = np.linalg.norm((model(u) - small(u)).detach().numpy(), axis=1)
    un = np.linalg.norm(u.numpy(), axis=1)
    assert np.all(e <= (gain(model[1]) * b1 + b2 * gain(small[0])) * un * SLACK)


def test_order_by_tol_and_energy():
    layer = layer_for("exp", seed=12)
    _, full = reduce_layer(layer, 24)
    tails = 2 * np.cumsum(full.hsv[:, ::-1], axis=-1)[:, ::-1]
    tol = float(tails[:, 10].max()) * 1.0001
    _, rep = reduce_layer(layer, tol=tol)
    assert np.all(rep.error_bound <= tol)
    assert rep.order <= 10 and np.any(tails[:, rep.order - 1] > tol)
    _new, rep = reduce_layer(layer, energy=0.9)
    kept = full.hsv[:, : rep.order].sum(-1) / full.hsv.sum(-1)
    assert np.all(kept >= 0.9 - 1e-12)
    assert np.any(full.hsv[:, : rep.order - 1].sum(-1) / full.hsv.sum(-1) < 0.9)
    _small, report = compress(torch.nn.Sequential(layer), tol=tol)
    assert report["0"].order == reduce_layer(layer, tol=tol)[1].order


def test_reduced_layer_trains_and_keeps_dtype():
    torch.manual_seed(13)
    layer = DSS(4, 16, mode="softmax")
    layer.log_step.requires_grad_(False)
    new, _rep = reduce_layer(layer, 6, length=128)
    assert new.W.dtype == torch.float32 and not new.log_step.requires_grad and new.W.requires_grad
    y = new(torch.randn(2, 128, 4))
    y.square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in new.ssm_parameters() if p.requires_grad)


def test_option_errors():
    layer = layer_for("exp", H=2, N=4)
    with pytest.raises(ArgumentConflictError, match="exactly one"):
        reduce_layer(layer)
    with pytest.raises(ArgumentConflictError, match="exactly one"):
        reduce_layer(layer, 2, tol=1e-3)
    with pytest.raises(InvalidArgumentError, match="energy"):
        reduce_layer(layer, energy=1.5)
    with pytest.raises(MethodError):
        reduce_layer(layer, 2, gramians="cross")
    with pytest.raises(MethodError):
        reduce_layer(layer, 2, structure="block")
    with pytest.raises(MethodError):
        compress(torch.nn.Sequential(layer), 2, horizon=3)
    with pytest.raises(OrderError):
        reduce_layer(layer, 5)


@pytest.mark.parametrize("mode", ["exp", "softmax"])
@pytest.mark.parametrize("gramians", ["discrete", "continuous"])
def test_modal_reducer_keeps_the_modes_of_largest_hinf_norm(mode, gramians):
    """The reduced kernel is exactly the sum of the kept modes' terms of the original kernel."""
    layer = layer_for(mode, seed=4, H=3, N=10)
    length = 256 if mode == "softmax" else None
    small, rep = reduce_layer(layer, 4, reducer="modal", gramians=gramians, length=length)
    assert rep.reducer == "modal" and rep.error_bound is None and rep.scores.shape == (3, 10)
    assert rep.hsv.shape == (3, 10) and small.d_state == 4 and not small.shared_poles
    sys = to_lti(layer, time="continuous" if gramians == "continuous" else "discrete", length=length)
    from mor import modal_truncation

    res = modal_truncation(sys, 4)
    np.testing.assert_allclose(rep.scores, res.scores, rtol=1e-12)
    lam = np.broadcast_to(layer.poles().detach().numpy(), (3, 10))
    np.testing.assert_allclose(small.poles().detach().numpy(), np.take_along_axis(lam, res.kept, -1), rtol=1e-10)
    # the kernel of the kept modes: the original kernel of a layer whose other weights are zero
    W = layer.weights().detach().numpy().copy()
    drop = np.ones_like(W, dtype=bool)
    np.put_along_axis(drop, res.kept, False, axis=-1)
    W[drop] = 0
    kept_only = DSS.from_parameters(np.broadcast_to(lam, (3, 10)), W, layer.log_step, layer.D, mode=mode, dtype=F64)
    np.testing.assert_allclose(kernel(small, 300), kernel(kept_only, 300), rtol=1e-8, atol=1e-10 * np.abs(W).max())
    model = torch.nn.Sequential(layer, layer_for(mode, seed=5, H=3, N=10))
    _, report = compress(model, 4, reducer="modal", length=length)
    assert [r.reducer for r in report.layers.values()] == ["modal", "modal"]
    with pytest.raises(InvalidArgumentError, match="modal"):
        reduce_layer(layer, tol=1e-3, reducer="modal", length=length)
    with pytest.raises(MethodError):
        reduce_layer(layer, 4, reducer="irka", length=length)


def test_dss_exp_layer_with_underflowing_modes():
    # issue 12, item 2: Delta = e^7 and Re(lambda) = -0.9 give mu = -987, z = exp(mu) = 0 in float64;
    # next to slow modes the closed-form Cauchy factors lost even sigma_1 (a RankWarning, a zero bound)
    re = np.array([-0.9, -0.9, -1e-3, -5e-4, -2e-3, -0.9, -0.5, -1e-4])
    poles = re + 1j * np.linspace(0.3, 3.0, 8)
    rng = np.random.default_rng(12)
    W = rng.standard_normal((3, 8)) + 1j * rng.standard_normal((3, 8))
    layer = DSS.from_parameters(poles, W, np.full(3, 7.0), mode="exp", dtype=F64)
    sys = to_lti(layer, time="discrete")
    assert np.any(np.exp(sys.log_poles.real) == 0)  # underflowing modes
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RankWarning
        new, rep = reduce_layer(layer, 4, gramians="discrete")
    for h in range(3):  # the dense reference (Bartels-Stewart on the full matrices) agrees
        ref = hankel_singular_values(sys[h].to_dense(), method="scipy")
        np.testing.assert_allclose(rep.hsv[h, :3], ref[:3], rtol=1e-8)
    err = np.linalg.norm(kernel(layer, 256) - kernel(new, 256), axis=-1)
    assert np.all(rep.error_bound > 0) and np.all(err <= rep.error_bound * SLACK + 1e-13)
