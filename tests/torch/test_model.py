"""The DSS sequence classifier: shapes, masking, fixed-length softmax kernels, parameter groups."""

import pytest

torch = pytest.importorskip("torch")

from mor.errors import DimensionError  # noqa: E402
from mor_torch import DSS, compress  # noqa: E402
from mor_torch.model import DSSBlock, SequenceClassifier, count_parameters, ssm_parameters  # noqa: E402


def _tokens(B, L, vocab=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, vocab, (B, L), generator=g)


@pytest.mark.parametrize("mode", ["exp", "softmax"])
@pytest.mark.parametrize("prenorm", [False, True])
def test_token_classifier_shapes_and_padding_invariance(mode, prenorm):
    torch.manual_seed(0)
    model = SequenceClassifier(
        n_classes=10, vocab_size=16, d_model=8, n_layers=2, d_state=6, mode=mode, prenorm=prenorm, l_max=40
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
    model = SequenceClassifier(n_classes=3, vocab_size=8, d_model=4, n_layers=1, d_state=2, l_max=10)
    with pytest.raises(DimensionError):
        model(torch.ones(2, 5, 1, dtype=torch.long), torch.tensor([5, 5]))
    with pytest.raises(DimensionError):
        model(torch.ones(2, 5, dtype=torch.long), torch.tensor([5]))
    with pytest.raises(DimensionError, match="l_max"):
        model(torch.ones(1, 11, dtype=torch.long), torch.tensor([11]))
    with pytest.raises(DimensionError):
        SequenceClassifier(n_classes=1, vocab_size=8)


def test_softmax_block_uses_fixed_length_kernel():
    """conv(u) == direct causal sum with the first L taps of the length-l_max kernel, plus D u."""
    torch.manual_seed(2)
    block = DSSBlock(5, 7, mode="softmax", l_max=32).double()
    u = torch.randn(2, 20, 5, dtype=torch.float64)
    K = block.dss.kernel(32)[:, :20]  # (H, L)
    ref = torch.zeros_like(u)
    for k in range(20):
        for j in range(k + 1):
            ref[:, k] += K[:, j] * u[:, k - j]
    ref += u * block.dss.D
    torch.testing.assert_close(block.conv(u), ref, rtol=1e-9, atol=1e-10)
    # at L == l_max the block computes exactly what the DSS layer computes
    u32 = torch.randn(1, 32, 5, dtype=torch.float64)
    torch.testing.assert_close(block.conv(u32), block.dss(u32), rtol=1e-12, atol=1e-12)
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
def test_compressed_classifier_rebuilds_from_hparams(mode):
    """A compressed model loads into a fresh classifier built with d_state=r, per-channel poles."""
    torch.manual_seed(3)
    model = SequenceClassifier(n_classes=5, vocab_size=16, d_model=6, n_layers=2, d_state=12, mode=mode, l_max=24)
    small, report = compress(model, 3, length=24)
    assert len(report) == 2
    fresh = SequenceClassifier(**{**model.hparams, "d_state": 3, "shared_poles": False})
    fresh.load_state_dict(small.state_dict())
    x, lengths = _tokens(2, 24), torch.tensor([24, 10])
    torch.testing.assert_close(fresh(x, lengths), small(x, lengths))
    assert count_parameters(fresh)["ssm_params"] < count_parameters(model)["ssm_params"]
