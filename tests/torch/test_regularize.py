"""Hankel-singular-value regularisation: torch HSVs against mor's, gradients, the penalty's properties,
and the training loop's hook (off by default, deterministic, lowering the penalty when on)."""

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_train import MODEL, RECIPE, task  # noqa: E402, F401  (the module-scoped data fixture)

from mor import hankel_singular_values  # noqa: E402
from mor_torch import DSS, hsv_penalty, layer_hsv, to_lti  # noqa: E402
from mor_torch.lra.config import resolve_config  # noqa: E402
from mor_torch.lra.model import build_model  # noqa: E402
from mor_torch.lra.train import fit  # noqa: E402


def _value(*args, **kwargs) -> float:
    return hsv_penalty(*args, **kwargs).detach().item()


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hsv_match_mor_down_to_the_jitter(shared, dtype):
    torch.manual_seed(0)
    layer = DSS(6, 24, shared_poles=shared, dtype=dtype)
    s = layer_hsv(layer).detach().numpy()
    ref = hankel_singular_values(to_lti(layer, time="discrete"))
    assert s.shape == (6, 24) and np.all(np.diff(s, axis=1) <= 0)
    big = ref > 1e-4 * ref[:, :1]
    np.testing.assert_allclose(s[big], ref[big], rtol=1e-3)
    assert np.all(np.abs(s - ref) <= 1e-4 * ref[:, :1])  # the jitter moves a value by ~sqrt(1e-10) sigma_1
    picked = layer_hsv(layer, channels=torch.tensor([4, 1])).detach().numpy()
    np.testing.assert_allclose(picked, s[[4, 1]], rtol=1e-12)


def test_penalty_gradient_matches_finite_differences():
    torch.manual_seed(1)
    layer = DSS(3, 8, shared_poles=False, dtype=torch.float64)
    params = layer.ssm_parameters()
    directions = [torch.randn_like(p) for p in params]
    value = hsv_penalty(layer, 2)
    grads = torch.autograd.grad(value, params)
    analytic = sum(float((g * d).sum()) for g, d in zip(grads, directions, strict=True))
    eps = 1e-6
    with torch.no_grad():
        for p, d in zip(params, directions, strict=True):
            p.add_(eps * d)
        plus = _value(layer, 2)
        for p, d in zip(params, directions, strict=True):
            p.sub_(2 * eps * d)
        minus = _value(layer, 2)
    assert analytic == pytest.approx((plus - minus) / (2 * eps), rel=1e-4)


def test_penalty_properties():
    torch.manual_seed(2)
    model = torch.nn.Sequential(DSS(5, 12, dtype=torch.float64), DSS(5, 12, shared_poles=False, dtype=torch.float64))
    full = _value(model, 3)
    s = [layer_hsv(m).detach().numpy() for m in model]
    expected = np.mean([np.mean(x[:, 3:].sum(1) / x.sum(1)) for x in s])
    assert full == pytest.approx(expected, rel=1e-12) and 0 < full < 1
    with torch.no_grad():
        model[0].W.mul_(7.0)  # scale-free
    assert _value(model, 3) == pytest.approx(full, rel=1e-9)
    assert _value(model, 12) == 0.0  # N <= r: nothing to penalise
    # channel sampling is an unbiased estimate: the mean over all single-channel draws is the penalty
    one = [_value(model[0], 3, channels=1, generator=torch.Generator().manual_seed(k)) for k in range(200)]
    per_channel = s[0][:, 3:].sum(1) / s[0].sum(1)
    assert set(np.round(one, 10)) <= set(np.round(per_channel, 10))
    assert _value(model[0], 3, channels=99) == pytest.approx(float(np.mean(per_channel)), rel=1e-9)


def test_penalty_descent_concentrates_the_hsvs():
    torch.manual_seed(3)
    layer = DSS(4, 16, dtype=torch.float64)
    opt = torch.optim.Adam(layer.ssm_parameters(), lr=1e-2)
    start = _value(layer, 2)
    for _ in range(30):
        opt.zero_grad()
        hsv_penalty(layer, 2).backward()
        opt.step()
    assert _value(layer, 2) < 0.7 * start  # measured: 0.68 -> 0.40


def test_training_hook(task):  # noqa: F811
    recipe = replace(RECIPE, epochs=1, hsv_reg=0.0, hsv_reg_order=2)
    runs = {}
    for weight in (0.0, 0.0, 5.0):
        torch.manual_seed(0)
        model = build_model(MODEL, task)
        res = fit(model, task, replace(recipe, hsv_reg=weight), run_dir=None, seed=0, device="cpu")
        runs.setdefault(weight, []).append((res.history[0]["train_loss"], _value(model, 2)))
    assert runs[0.0][0] == runs[0.0][1]  # off: deterministic, nothing else changes
    assert runs[5.0][0][1] < runs[0.0][0][1]  # on: the penalty of the trained model is lower
    # the configuration: off by default, order defaults to reduce.order, sampled channels
    cfg = resolve_config("smnist", ["train.hsv_reg=0.1"])
    assert cfg.recipe("pretrain").hsv_reg == 0.1 and cfg.recipe("pretrain").hsv_reg_order == cfg.reduce.order
    assert resolve_config("smnist").recipe("pretrain").hsv_reg == 0.0
