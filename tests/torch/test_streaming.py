"""Streaming inference: DSS recurrence, blocks and the classifier token by token, against the convolution;
the recurrent form's cache; export; the analytic cost."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mor.errors import AccuracyWarning, ArgumentTypeError, DimensionError, MethodError  # noqa: E402
from mor_torch import DSS, DSSRecurrence, LayerConversionError, compress, export_streaming, kernels  # noqa: E402
from mor_torch.lra.model import DSSBlock, SequenceClassifier  # noqa: E402
from mor_torch.lra.streaming import measure_latency, streaming_cost  # noqa: E402

F64 = torch.float64


def perturb(layer, scale=0.2, seed=0, shift_re=0.0):
    """Trained-like parameters: every SSM parameter and D moved off the initialisation."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in [*layer.ssm_parameters(), layer.D]:
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
        if shift_re:
            layer.lambda_re.add_(shift_re)
    return layer


def stream(step, state, u):
    """Run ``step`` over ``u[:, t]`` and stack the outputs along time."""
    ys = []
    for t in range(u.shape[1]):
        y, state = step(u[:, t], state)
        ys.append(y)
    return torch.stack(ys, 1), state


def rel(a, b):
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / b.abs().max())


# -- the DSS layer ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["exp", "softmax"])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("dtype, tol", [(F64, 1e-11), (torch.float32, 2e-5)])
def test_dss_step_equals_convolution(mode, shared, dtype, tol):
    torch.manual_seed(1)
    L = 120
    layer = perturb(DSS(6, 12, mode=mode, shared_poles=shared, dtype=dtype))
    u = torch.randn(3, L, 6, dtype=dtype)
    y, _ = stream(lambda x, s: layer.step(x, s, length=L), layer.initial_state(3), u)
    assert y.dtype == dtype
    assert rel(y, layer(u)) < tol


def test_softmax_step_follows_the_kernel_length_and_growing_modes():
    """Prefixes of a stream at length L equal forward(u, length=L); growing modes (Re(mu) L = 40) included."""
    torch.manual_seed(2)
    L = 100
    layer = perturb(DSS(4, 8, mode="softmax", shared_poles=False, dtype=F64))
    with torch.no_grad():
        layer.lambda_re[0, :3] = 0.4 / layer.delta()[0]  # Re(mu) = 0.4: the mode grows by e^40 over L
    u = torch.randn(2, 60, 4, dtype=F64)
    y, _ = stream(lambda x, s: layer.step(x, s, length=L), layer.initial_state(2), u)
    assert rel(y, layer(u, length=L)) < 1e-10


def test_recurrence_coefficients_give_the_kernels():
    torch.manual_seed(3)
    L = 64
    for mode in ("exp", "softmax"):
        layer = perturb(DSS(5, 7, mode=mode, shared_poles=False, dtype=F64), shift_re=0.3 if mode == "softmax" else 0)
        z, c = kernels.recurrence_coefficients(layer.poles(), layer.weights(), layer.delta(), mode, L, layer.eps)
        k = torch.arange(L, dtype=F64)
        K = (c[..., None] * z[..., None] ** k).sum(-2).real
        np.testing.assert_allclose(K.detach(), layer.kernel(L, method="naive").detach(), rtol=1e-10, atol=1e-12)


def test_softmax_needs_a_length_and_bad_tokens_raise():
    layer = DSS(4, 8, mode="softmax")
    with pytest.raises(LayerConversionError, match="length"):
        layer.recurrent()
    with pytest.raises(LayerConversionError, match="length"):
        layer.step(torch.zeros(1, 4), layer.initial_state(1))
    exp = DSS(4, 8)
    with pytest.raises(DimensionError, match="token"):
        exp.step(torch.zeros(1, 5), exp.initial_state(1))
    with pytest.raises(TypeError):  # the token and the state are both required
        exp.step(torch.zeros(1, 4))
    with pytest.raises(DimensionError):
        c64 = torch.complex64
        DSSRecurrence(torch.zeros(4, 3, dtype=c64), torch.zeros(4, 2, dtype=c64), torch.zeros(4))


def test_recurrent_form_is_cached_and_rebuilt_when_parameters_change():
    torch.manual_seed(4)
    layer = DSS(4, 8, dtype=F64)
    form = layer.recurrent()
    assert layer.recurrent() is form
    assert not any(b.requires_grad for b in form.buffers())
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    u = torch.randn(2, 30, 4, dtype=F64)
    layer(u).square().sum().backward()
    opt.step()  # in-place update: the form must follow
    assert layer.recurrent() is not form
    y, _ = stream(layer.step, layer.initial_state(2), u)
    assert rel(y, layer(u)) < 1e-11
    other = DSS(4, 8, dtype=F64)
    layer.load_state_dict(other.state_dict())
    y, _ = stream(layer.step, layer.initial_state(2), u)
    assert rel(y, other(u)) < 1e-11


def test_underflowing_growing_mode_warns():
    layer = DSS(2, 4, mode="softmax", shared_poles=False, dtype=torch.float32)
    with torch.no_grad():
        layer.log_step.fill_(np.log(0.1))
        layer.lambda_re[0, 0] = 2.0  # Re(mu) (L-1) = 0.2 * 999: c ~ e^-200, below float32's range
    with pytest.warns(AccuracyWarning, match="channel 0, mode 0"):
        layer.recurrent(1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layer.double().recurrent(1000)  # float64 holds it


# -- blocks and the classifier ------------------------------------------------------------------
@pytest.mark.parametrize("prenorm", [False, True])
def test_block_step_equals_forward(prenorm):
    torch.manual_seed(5)
    block = DSSBlock(8, 6, dropout=0.3, prenorm=prenorm, mode="softmax", length=50).eval()
    perturb(block.dss)
    x = torch.randn(2, 50, 8)
    y, _ = stream(block.step, block.initial_state(2), x)
    assert rel(y, block(x)) < 1e-5


def prefix_logits(model, x):
    """Forward on every prefix ``x[:, :t]`` (t = 1..L), stacked along time."""
    B, L = x.shape[:2]
    return torch.stack([model(x[:, : t + 1], torch.full((B,), t + 1)) for t in range(L)], 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(vocab_size=11, dropout=0.2),
        dict(d_input=3, prenorm=True, mode="softmax"),
        dict(vocab_size=7, shared_poles=False, d_state=[4, 9]),
    ],
    ids=["tokens-postnorm", "reals-prenorm-softmax", "per-channel-mixed-orders"],
)
def test_classifier_step_gives_the_logits_of_every_prefix(kwargs):
    torch.manual_seed(6)
    L = 32
    kw = {"n_classes": 4, "d_model": 12, "n_layers": 2, "d_state": 8, "length": L, **kwargs}
    model = SequenceClassifier(**kw).eval()
    for layer in model.dss_layers():
        perturb(layer)
    x = torch.randint(0, kw["vocab_size"], (3, L)) if "vocab_size" in kw else torch.randn(3, L, kw["d_input"])
    with torch.no_grad():
        logits, state = stream(model.step, model.initial_state(3), x)
        assert rel(logits, prefix_logits(model, x)) < 1e-5
    assert state.shape == (3, model.recurrent().state_size)
    assert torch.all(state[:, model.recurrent().pool + 12] == L)  # the token count


@pytest.mark.parametrize("structure", ["channel", "shared"])
def test_reduced_model_streams_like_its_convolution(structure):
    torch.manual_seed(7)
    L = 40
    model = SequenceClassifier(n_classes=3, vocab_size=9, d_model=8, n_layers=2, d_state=16, length=L).eval()
    small, _ = compress(model, 4, length=L, structure=structure, gramians="continuous")
    small.eval()
    assert [m.d_state for m in small.dss_layers()] == [4, 4]
    x = torch.randint(0, 9, (2, L))
    with torch.no_grad():
        logits, _ = stream(small.step, small.initial_state(2), x)
        assert rel(logits, prefix_logits(small, x)) < 1e-5
    assert streaming_cost(small)["state_size"] == 2 * 8 * 4 * 2


def test_stream_cache_follows_the_model():
    torch.manual_seed(8)
    model = SequenceClassifier(n_classes=2, vocab_size=5, d_model=8, n_layers=1, d_state=4).eval()
    rec = model.recurrent()
    assert model.recurrent() is rec
    other = SequenceClassifier(n_classes=2, vocab_size=5, d_model=8, n_layers=1, d_state=4).eval()
    model.load_state_dict(other.state_dict())
    assert model.recurrent() is not rec
    x = torch.randint(0, 5, (1, 10))
    with torch.no_grad():
        a, _ = stream(model.step, model.initial_state(1), x)
        b, _ = stream(other.step, other.initial_state(1), x)
    torch.testing.assert_close(a, b)
    assert "_stream" not in "".join(model.state_dict())


def test_dual_model_does_not_stream():
    model = SequenceClassifier(n_classes=2, vocab_size=5, d_model=8, n_layers=1, d_state=4, dual=True)
    with pytest.raises(MethodError, match="dual-input"):
        model.initial_state(1)


# -- export ------------------------------------------------------------------------------------
def test_exported_layer_step_gives_the_same_outputs(tmp_path):
    torch.manual_seed(9)
    layer = perturb(DSS(6, 10, mode="softmax"))
    program = export_streaming(layer.recurrent(64))
    path = tmp_path / "layer.pt2"
    torch.export.save(program, path)
    loaded = torch.export.load(path).module()
    u = torch.randn(1, 64, 6)
    y, s = stream(layer.recurrent(64), layer.initial_state(1), u)
    y2, s2 = stream(loaded, layer.initial_state(1), u)
    torch.testing.assert_close(y2, y, rtol=0, atol=0)
    torch.testing.assert_close(s2, s, rtol=0, atol=0)
    assert rel(y, layer(u)) < 2e-5


def test_exported_classifier_gives_the_same_logits_and_keeps_the_training_flag(tmp_path):
    torch.manual_seed(10)
    L = 24
    model = SequenceClassifier(n_classes=3, vocab_size=6, d_model=8, n_layers=2, d_state=6, dropout=0.5, length=L)
    small, _ = compress(model.eval(), 3, length=L)
    small.train()
    program = export_streaming(small)
    assert small.training and all(m.training for m in small.modules())
    torch.export.save(program, tmp_path / "model.pt2")
    run = torch.export.load(tmp_path / "model.pt2").module()
    x = torch.randint(0, 6, (1, L))
    small.eval()
    with torch.no_grad():
        ref, _ = stream(small.step, small.initial_state(1), x)
        got, _ = stream(run, small.initial_state(1), x)
        torch.testing.assert_close(got, ref, rtol=0, atol=0)
        assert rel(got, prefix_logits(small, x)) < 1e-5


def test_export_rejects_what_cannot_stream():
    with pytest.raises(ArgumentTypeError, match="streaming"):
        export_streaming(torch.nn.Linear(3, 3))


# -- cost ----------------------------------------------------------------------------------------
def test_streaming_cost_counts_the_recurrence_and_the_linear_layers():
    H, C = 8, 3
    model = SequenceClassifier(n_classes=C, vocab_size=5, d_model=H, n_layers=2, d_state=[6, 2], shared_poles=False)
    cost = streaming_cost(model)
    assert cost["state_size"] == 2 * H * (6 + 2)
    assert cost["ssm_macs_per_token"] == 7 * H * 8 + 2 * H
    assert cost["macs_per_token"] == cost["ssm_macs_per_token"] + 2 * H * H + H + H * C
    real = SequenceClassifier(n_classes=C, d_input=4, d_model=H, n_layers=1, d_state=5)
    assert streaming_cost(real)["macs_per_token"] == 7 * H * 5 + H + H * H + 4 * H + H + H * C


def test_measure_latency_times_every_model_and_restores_threads():
    torch.manual_seed(11)
    models = {n: SequenceClassifier(n_classes=2, vocab_size=5, d_model=8, n_layers=1, d_state=n) for n in (8, 2)}
    threads = torch.get_num_threads()
    lat = measure_latency(models, tokens=20, warmup=2)
    assert set(lat) == {8, 2} and all(0 < v < 1 for v in lat.values())
    assert torch.get_num_threads() == threads
    assert all(m.training for m in models.values())  # the models themselves were not touched


def test_delta_is_the_discretisation_step():
    layer = DSS(4, 8)
    torch.testing.assert_close(layer.delta(), torch.exp(layer.log_step))
