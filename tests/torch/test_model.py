"""The DSS sequence classifier: shapes, masking, fixed-length softmax kernels, parameter groups."""

import pytest

torch = pytest.importorskip("torch")

from mor.errors import DimensionError, InvalidArgumentError  # noqa: E402
from mor_torch import DSS, compress  # noqa: E402
from mor_torch.lra.model import (  # noqa: E402
    DSSBlock,
    SequenceClassifier,
    count_parameters,
    load_model,
    save_model,
    ssm_parameters,
)


def _tokens(B, L, vocab=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, vocab, (B, L), generator=g)


@pytest.mark.parametrize("mode", ["exp", "softmax"])
@pytest.mark.parametrize("prenorm", [False, True])
def test_token_classifier_shapes_and_padding_invariance(mode, prenorm):
    torch.manual_seed(0)
    model = SequenceClassifier(
        n_classes=10, vocab_size=16, d_model=8, n_layers=2, d_state=6, mode=mode, prenorm=prenorm, length=40
    ).double()
    model.eval()
    x = _tokens(3, 30)
    lengths = torch.tensor([30, 17, 5])
    logits = model(x, lengths)
    assert logits.shape == (3, 10)
    # each example alone, unpadded, gives the same logits as inside the padded batch
    for i in range(3):
        alone = model(x[i : i + 1, : lengths[i]], lengths[i : i + 1])
        torch.testing.assert_close(alone, logits[i : i + 1], rtol=1e-9, atol=1e-10)
    # garbage in the padded tail changes nothing
    x2 = x.clone()
    x2[1, 17:] = 7
    x2[2, 5:] = 3
    torch.testing.assert_close(model(x2, lengths), logits, rtol=1e-9, atol=1e-10)


def test_real_valued_and_dual_inputs():
    torch.manual_seed(1)
    model = SequenceClassifier(n_classes=4, vocab_size=None, d_input=3, d_model=8, n_layers=1, d_state=4)
    x = torch.randn(2, 12, 3)
    assert model(x, torch.tensor([12, 7])).shape == (2, 4)
    with pytest.raises(DimensionError):
        model(torch.randn(2, 12, 2), torch.tensor([12, 7]))
    dual = SequenceClassifier(n_classes=2, vocab_size=16, d_model=8, n_layers=1, d_state=4, dual=True)
    a, b = _tokens(2, 9, seed=1), _tokens(2, 11, seed=2)
    la, lb = torch.tensor([9, 4]), torch.tensor([11, 11])
    out = dual(a, la, b, lb)
    assert out.shape == (2, 2)
    # the decoder sees [u, v, u*v, u-v]: swapping the documents changes the u-v block only
    u, v = dual.encode(a, la), dual.encode(b, lb)
    torch.testing.assert_close(out, dual.decoder(torch.cat([u, v, u * v, u - v], -1)))
    with pytest.raises(DimensionError):
        dual(a, la)


def test_bad_inputs_raise_typed_errors():
    model = SequenceClassifier(n_classes=3, vocab_size=8, d_model=4, n_layers=1, d_state=2, length=10)
    with pytest.raises(DimensionError):
        model(torch.ones(2, 5, 1, dtype=torch.long), torch.tensor([5, 5]))
    with pytest.raises(DimensionError):
        model(torch.ones(2, 5, dtype=torch.long), torch.tensor([5]))
    with pytest.raises(DimensionError, match="length"):
        model(torch.ones(1, 11, dtype=torch.long), torch.tensor([11]))
    with pytest.raises(InvalidArgumentError, match="n_classes"):
        SequenceClassifier(n_classes=1, vocab_size=8)


def test_softmax_block_uses_fixed_length_kernel():
    """The block's convolution == direct causal sum with the first L taps of the length-32 kernel, plus D u."""
    torch.manual_seed(2)
    block = DSSBlock(5, 7, mode="softmax", length=32).double()
    u = torch.randn(2, 20, 5, dtype=torch.float64)
    K = block.dss.kernel(32)[:, :20]  # (H, L)
    ref = torch.zeros_like(u)
    for k in range(20):
        for j in range(k + 1):
            ref[:, k] += K[:, j] * u[:, k - j]
    ref += u * block.dss.D
    torch.testing.assert_close(block.dss(u, length=block.length), ref, rtol=1e-9, atol=1e-10)
    block.eval()  # no dropout: the block's output is norm(u + linear(gelu(conv)))
    z = torch.nn.functional.gelu(ref)
    torch.testing.assert_close(block(u), block.norm(u + block.output_linear(z)), rtol=1e-9, atol=1e-10)
    # at L == length the block computes exactly what the DSS layer computes
    u32 = torch.randn(1, 32, 5, dtype=torch.float64)
    torch.testing.assert_close(block.dss(u32, length=32), block.dss(u32), rtol=1e-12, atol=1e-12)
    with pytest.raises(DimensionError, match="exceeds the kernel length"):
        block.dss(torch.randn(1, 33, 5, dtype=torch.float64), length=32)
    # the length-L softmax kernel differs from the first L taps of the length-32 kernel
    assert not torch.allclose(block.dss.kernel(20), K)


def test_parameter_counts_and_ssm_groups():
    model = SequenceClassifier(n_classes=10, vocab_size=16, d_model=8, n_layers=2, d_state=6)
    ssm = ssm_parameters(model)
    expected = [p for m in model.modules() if isinstance(m, DSS) for p in m.ssm_parameters()]
    assert [id(p) for p in ssm] == [id(p) for p in expected]
    counts = count_parameters(model)
    assert counts["ssm_params"] == sum(p.numel() for p in expected)
    assert counts["params"] == sum(p.numel() for p in model.parameters())
    # shared poles: 2 N pole numbers + 2 H N weights + H steps per layer
    assert counts["ssm_params"] == 2 * (2 * 6 + 2 * 8 * 6 + 8)


@pytest.mark.parametrize("mode", ["exp", "softmax"])
def test_compressed_classifier_describes_itself_and_round_trips(mode, tmp_path):
    """compress() returns a model whose hparams are its reduced sizes; save -> load round-trips it."""
    torch.manual_seed(3)
    model = SequenceClassifier(n_classes=5, vocab_size=16, d_model=6, n_layers=2, d_state=12, mode=mode, length=24)
    small, report = compress(model, 3, length=24)
    assert len(report) == 2
    assert model.hparams["d_state"] == 12 and model.hparams["shared_poles"] is True  # the original is untouched
    assert small.hparams == {**model.hparams, "d_state": 3, "shared_poles": False}
    save_model(tmp_path / "small.pt", small)
    loaded = load_model(tmp_path / "small.pt")
    x, lengths = _tokens(2, 24), torch.tensor([24, 10])
    torch.testing.assert_close(loaded(x, lengths), small(x, lengths))
    assert count_parameters(loaded)["ssm_params"] < count_parameters(model)["ssm_params"]
    # per-layer orders: the model describes each layer's size, and still round-trips
    mixed, _ = compress(model, {"blocks.0.dss": 2, "blocks.1.dss": 5}, length=24)
    assert mixed.hparams["d_state"] == [2, 5] and mixed.hparams["shared_poles"] is False
    save_model(tmp_path / "mixed.pt", mixed)
    torch.testing.assert_close(load_model(tmp_path / "mixed.pt")(x, lengths), mixed(x, lengths))
    partial, _ = compress(model, {"blocks.1.dss": 4}, length=24)  # one layer left as it was
    assert partial.hparams["d_state"] == [12, 4] and partial.hparams["shared_poles"] == [True, False]


def test_load_model_names_the_bad_file(tmp_path):
    from mor_torch.lra.errors import CheckpointError

    path = tmp_path / "model.pt"
    save_model(path, SequenceClassifier(n_classes=3, vocab_size=8, d_model=4, n_layers=1, d_state=2))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"model\.pt"):
        load_model(path)


def test_model_config_keys_are_the_classifier_arguments():
    """build_model passes the [model] section through: every key must be a SequenceClassifier argument."""
    import dataclasses
    import inspect

    from mor_torch.lra.config import ModelConfig

    params = inspect.signature(SequenceClassifier).parameters
    assert {f.name for f in dataclasses.fields(ModelConfig)} <= set(params)
    for f in dataclasses.fields(ModelConfig):  # one default per concept
        assert params[f.name].default == f.default, f.name
