"""Layer families S4D, LRU, S5 (and DSS through the same seam): exact conversion, reduction written back
into the family's own form, streaming, shared modules, and errors that name what they saw."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from foreign_layers import KINDS, LRU, S4D, S5, impulse_kernels, make  # noqa: E402

from mor import balanced_truncation, impulse_response  # noqa: E402
from mor.errors import AccuracyWarning, ArgumentConflictError, NonFiniteError, OrderError, SystemTypeError  # noqa: E402
from mor.response import frequency_response  # noqa: E402
from mor_torch import DSS, LayerUnstableError, compress, reduce_layer, to_lti  # noqa: E402
from mor_torch.errors import LayerConversionError, NoReducibleLayerError, SharedParameterError  # noqa: E402
from mor_torch.families import family_of, recurrent  # noqa: E402

L = 400
FAMILY = {"s4d": "s4d", "s4d-complex": "s4d", "lru": "lru", "lru-port": "lru", "s5-zoh": "s5",
          "s5-bilinear-conj": "s5", "s5-port": "s5"}  # fmt: skip


def system_kernels(sys, length):
    """``(L, H_out, H_in)`` layer kernel of a family's ``mor`` system: ``K_0 = Re(h[1]) + D``, ``K_k = Re(h[k+1])``."""
    h = impulse_response(sys, length + 1)
    if sys.batch_shape:  # channels: (H, L+1, 1, 1) -> diagonal
        h = np.stack([np.diag(h[:, k, 0, 0]) for k in range(length + 1)])
    K = np.real(h[1:]).copy()
    K[0] += np.real(h[0])
    return K


def conversion_error(layer, length=L):
    K = impulse_kernels(layer, length)
    diff = np.abs(K - system_kernels(to_lti(layer, time="discrete"), length))
    return diff.max(), diff.max() / np.abs(K).max()


@pytest.mark.parametrize("kind", KINDS)
def test_conversion_is_exact(kind):
    """The layer's own forward (paper formulas, float64) equals the mor system's impulse response."""
    layer = make(kind)
    assert family_of(layer).name == FAMILY[kind]
    abs_err, rel_err = conversion_error(layer)
    assert abs_err < 1e-12 and rel_err < 1e-12, (abs_err, rel_err)


def test_s4d_is_dss_exp_with_w_2c():
    """S4D's continuous system is DSS_EXP's with ``W = 2 C``; its ZOH discretisation is the discrete one."""
    layer = make("s4d")
    C = torch.view_as_complex(layer.kernel.C).detach().numpy()
    cont = to_lti(layer)
    assert cont.dt is None
    np.testing.assert_allclose(cont.C[:, 0, :], 2 * C, rtol=1e-15)
    assert to_lti(make("lru")).dt == 1.0  # MIMO families are discrete only


def mimo(kind):
    return FAMILY[kind] in ("lru", "s5")


def kernel_l2_error(old, new, length=1500):
    """Per input column, the l2 norm over time of the kernel error (<= the H-infinity error bound)."""
    E = impulse_kernels(old, length) - impulse_kernels(new, length)
    return np.sqrt((E**2).sum(axis=0)).max(axis=0)  # (H_in,)


@pytest.mark.parametrize("kind", ["s4d", "lru", "lru-port", "s5-zoh", "s5-bilinear-conj", "s5-port"])
@pytest.mark.parametrize("reducer", ["bt", "bsp", "modal", "h2"])
def test_every_reducer_on_every_family(kind, reducer):
    layer = make(kind, N=10, seed=1)
    diag_skip_mimo = mimo(kind) and layer.D.ndim == 1
    if reducer == "bsp" and diag_skip_mimo:
        with pytest.raises(ArgumentConflictError, match="diagonal"):
            reduce_layer(layer, 4, reducer=reducer)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        new, rep = reduce_layer(layer, 4, reducer=reducer)
    # the only warning allowed: IRKA's, for members that did not converge (rep.converged counts them)
    said = [(w.category, str(w.message)) for w in caught]
    assert all(reducer == "h2" and cat is AccuracyWarning and "did not converge" in msg for cat, msg in said), said
    assert type(new) is type(layer) and family_of(new).name == FAMILY[kind]
    assert rep.family == FAMILY[kind] and rep.order == 4
    for p, q in zip(layer.parameters(), new.parameters(), strict=True):
        assert p.dtype == q.dtype and q.requires_grad
        assert q is not p
    # the reduced module's own forward is its mor system (exactly), and a real reduction of the old one
    abs_err, _ = conversion_error(new)
    assert abs_err < 1e-11
    if mimo(kind):
        # BT and BSP give one bound for the layer's MIMO system; modal truncation and IRKA none
        assert rep.error_bound.shape == (1,) if reducer in ("bt", "bsp") else rep.error_bound is None
        assert rep.states == 4 and rep.hsv.shape == (1, 10)
    else:
        assert new.kernel.C.shape == (3, 4, 2) and new.kernel.log_A_real.shape == (3, 4)
        assert rep.states == 12
    if reducer in ("bt", "bsp"):
        err = kernel_l2_error(layer, new)
        bound = np.max(rep.error_bound) if mimo(kind) else rep.error_bound
        assert np.all(err <= bound * (1 + 1e-6) + 1e-10), (err, bound)


@pytest.mark.parametrize("kind", ["s4d", "lru", "s5-bilinear-conj"])
def test_reduced_module_equals_the_reduced_system(kind):
    """The written-back module computes exactly mor's balanced truncation of the layer's system."""
    layer = make(kind, N=10, seed=2)
    new, _ = reduce_layer(layer, 3)
    ref = balanced_truncation(to_lti(layer, time="discrete"), 3, method="bfsr").reduced
    w = np.linspace(0.01, np.pi, 17)
    got = frequency_response(to_lti(new, time="discrete"), w)
    want = frequency_response(ref, w)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())


def test_s4d_stays_in_conjugate_pair_form():
    """Stored modes N/2 -> r; C keeps its storage (view_as_real pairs or complex); the size attribute follows."""
    for kind, shape in (("s4d", (3, 2, 2)), ("s4d-complex", (3, 2))):
        new, _ = reduce_layer(make(kind), 2)
        assert tuple(new.kernel.C.shape) == shape
        assert new.n == 4  # the real state size 2 r (the module's d_state)


def test_lru_writeback_keeps_paper_normalisation():
    layer = make("lru", N=10, seed=3)
    new, _ = reduce_layer(layer, 5)
    lam_abs = torch.exp(-torch.exp(new.nu_log))
    np.testing.assert_allclose(torch.exp(new.gamma_log).detach(), torch.sqrt(1 - lam_abs**2).detach(), rtol=1e-12)
    assert torch.all(torch.exp(new.theta_log) > 0)
    port, _ = reduce_layer(make("lru-port", N=10), 5)
    assert port.state_features == 5 and port.B.is_complex() and port.D.shape == (3, 3)


def test_state_dict_optimiser_and_training_after_compress():
    torch.manual_seed(0)
    model = torch.nn.Sequential(S4D(4, 16), S5(4, 8, conj_sym=True), LRU(4, 8))
    small, report = compress(model, 3)
    assert [r.family for r in report.layers.values()] == ["s4d", "s5", "lru"]
    fresh = torch.nn.Sequential(S4D(4, 6), S5(4, 3, conj_sym=True), LRU(4, 3))
    fresh.load_state_dict(small.state_dict())
    u = torch.randn(2, 30, 4, dtype=torch.float64)
    np.testing.assert_allclose(fresh(u).detach(), small(u).detach(), rtol=1e-12)
    opt = torch.optim.Adam(small.parameters(), lr=1e-2)
    target = torch.randn(2, 30, 4, dtype=torch.float64)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = ((small(u) - target) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    # the original model is untouched
    assert model[0].kernel.C.shape == (4, 8, 2) and model[1].Lambda_re.shape == (8,)


@pytest.mark.parametrize("kind", ["dss", *KINDS])
def test_recurrent_matches_forward_in_float32(kind):
    torch.manual_seed(4)
    layer = DSS(3, 8, dtype=torch.float32) if kind == "dss" else make(kind, dtype=torch.float32)
    stream = recurrent(layer)
    u = torch.randn(2, 120, 3)
    with torch.no_grad():
        want = layer(u)
        state = stream.initial_state(2)
        ys = []
        for t in range(u.shape[1]):
            y, state = stream.step(u[:, t], state)
            ys.append(y)
    got = torch.stack(ys, 1)
    assert got.dtype == torch.float32 and state.dtype == torch.float32
    scale = want.abs().max().item()
    assert (got - want).abs().max().item() <= 1e-5 * scale


def test_recurrent_of_reduced_layer_has_the_smaller_state():
    layer = make("s5-zoh", N=10)
    small, _ = reduce_layer(layer, 4)
    assert recurrent(layer).initial_state(1).shape == (1, 2, 10)
    assert recurrent(small).initial_state(1).shape == (1, 2, 4)
    assert recurrent(make("s4d")).initial_state(2).shape == (2, 2, 3, 8)


def test_compress_with_nothing_to_reduce_names_what_it_saw():
    with pytest.raises(NoReducibleLayerError, match=r"GELU, Linear, Sequential"):
        compress(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.GELU()), 2)
    near = make("s5-zoh")
    del near.B  # e.g. a factorised B of another S5 variant
    with pytest.raises(NoReducibleLayerError, match=r"near misses.*S5 holds"):
        compress(torch.nn.Sequential(near), 2)
    with pytest.raises(SystemTypeError, match="Linear"):
        to_lti(torch.nn.Linear(2, 2))


def test_recognised_layers_that_cannot_be_reduced_are_named():
    bad = make("lru")
    with torch.no_grad():
        bad.nu_log[2] = float("nan")
    with pytest.raises(NonFiniteError, match=r"layer '1'.*lru.*nu_log"):
        compress(torch.nn.Sequential(make("s4d"), bad), 2)
    grow = make("s5-zoh")
    with torch.no_grad():
        grow.Lambda_re[3] = 0.1
    with pytest.raises(LayerUnstableError, match="layer '0'") as info:
        compress(torch.nn.Sequential(grow), 2)
    assert info.value.layer == "0" and info.value.mode == 3
    dense = make("s5-port")
    dense.Lambda = torch.nn.Parameter(torch.randn(8, 8, dtype=torch.complex128))
    with pytest.raises(LayerConversionError, match=r"layer '0'.*diagonal"):
        compress(torch.nn.Sequential(dense), 2)
    with pytest.raises(ArgumentConflictError, match=r"gramians='continuous'"):
        reduce_layer(make("lru"), 2, gramians="continuous")
    with pytest.raises(OrderError, match="one order"):
        reduce_layer(make("lru"), np.array([2, 2, 2]))


def test_shared_module_is_reduced_once_and_stays_shared():
    """Issue 19 item 3: Sequential(l, l) with budget=8 keeps 8 states in all (a shared layer counts once)."""
    torch.manual_seed(5)
    layer = DSS(4, 10, dtype=torch.float64)
    model = torch.nn.Sequential(layer, layer)
    small, report = compress(model, budget=8)
    assert small[0] is small[1]
    assert list(report.layers) == ["0"] and report.states == 8
    assert sum(int(m.d_state) > 0 for m in {id(m): m for m in small.modules() if isinstance(m, DSS)}.values()) == 1
    # one order by either name; naming both is refused
    by_alias, rep = compress(model, {"1": 3})
    assert by_alias[0] is by_alias[1] and by_alias[0].d_state == 3 and list(rep.layers) == ["0"]
    with pytest.raises(ArgumentConflictError, match="twice"):
        compress(model, {"0": 3, "1": 4})
    s5 = make("s5-zoh", H=4, N=10)
    mixed, rep = compress(torch.nn.Sequential(s5, torch.nn.Tanh(), s5), budget=5)
    assert mixed[0] is mixed[2] and mixed[0].Lambda_re.shape == (5,) and rep.states == 5


def test_shared_parameters_short_of_a_module_are_refused():
    torch.manual_seed(6)
    a, b = DSS(3, 6, dtype=torch.float64), DSS(3, 6, dtype=torch.float64)
    b.lambda_im = a.lambda_im
    with pytest.raises(SharedParameterError, match="lambda_im"):
        compress(torch.nn.Sequential(a, b), 2)
    lru = make("lru")
    head = torch.nn.Linear(3, 3, dtype=torch.float64)
    head.bias = lru.D
    with pytest.raises(SharedParameterError, match=r"'1\.bias'"):
        compress(torch.nn.Sequential(lru, head), 2)


def test_budget_across_families_counts_mimo_states_once():
    model = torch.nn.Sequential(make("s4d", H=3, N=6), make("lru", H=3, N=6, seed=1), make("s5-zoh", H=3, N=6, seed=2))
    _small, report = compress(model, budget=12)
    assert report.states == 12
    assert sum(rep.states for rep in report.layers.values()) == 12
    for rep in report.layers.values():
        if rep.family != "s4d":
            assert rep.orders.shape == (1,)


def test_other_gramians_a_layer_as_the_model_and_zero_states():
    s4d = make("s4d", N=10)
    new, rep = reduce_layer(s4d, 3, gramians="continuous")
    assert conversion_error(new)[0] < 1e-11 and np.all(kernel_l2_error(s4d, new) > 0)
    lru = make("lru", N=10)
    new, rep = reduce_layer(lru, 4, gramians="finite", length=200)
    assert rep.error_bound is None and new.nu_log.shape == (4,)
    small, report = compress(s4d, 2)  # the model is the layer itself
    assert type(small) is type(s4d) and small.kernel.C.shape == (3, 2, 2) and list(report.layers) == [""]
    for kind in ("lru", "s5-zoh"):  # a budget may leave a MIMO layer no state: only its skip remains
        layer = make(kind)
        empty, rep = reduce_layer(layer, np.array([0]))
        assert rep.states == 0 and rep.order == 0
        u = torch.randn(2, 5, 3, dtype=torch.float64)
        np.testing.assert_allclose(empty(u).detach(), (u * layer.D).detach(), atol=1e-15)


def test_frozen_buffers_and_clipped_eigenvalues():
    """S4D registers log_dt and A as buffers when their learning rate is 0; S5 may clip Re(Lambda)."""
    layer = make("s4d", N=8)
    kernel = layer.kernel
    for name in ("log_dt", "log_A_real", "A_imag"):
        value = getattr(kernel, name).detach().clone()
        delattr(kernel, name)
        kernel.register_buffer(name, value)
    assert conversion_error(layer)[0] < 1e-12
    new, _ = reduce_layer(layer, 3)
    assert "log_A_real" in dict(new.kernel.named_buffers()) and new.kernel.log_A_real.shape == (3, 3)
    assert conversion_error(new)[0] < 1e-11
    s5 = make("s5-zoh")
    with torch.no_grad():
        s5.Lambda_re[0] = 0.5  # clipped to -1e-4 by the layer
    s5.clip_eigs = True
    forward = s5.forward

    def clipped(u):
        with torch.no_grad():
            re = s5.Lambda_re.detach().clone()
            s5.Lambda_re.clamp_(max=-1e-4)
        try:
            return forward(u)
        finally:
            with torch.no_grad():
                s5.Lambda_re.copy_(re)

    s5.forward = clipped
    assert conversion_error(s5)[0] < 1e-12


@given(kind=st.sampled_from(KINDS), H=st.integers(1, 4), N=st.integers(1, 10), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=40, deadline=None)
def test_conversion_and_write_back_are_exact_for_random_layers(kind, H, N, seed):
    """Layer -> system is exact, and writing the unreduced system back (order N) gives the same kernel."""
    layer = make(kind, H=H, N=N, seed=seed)
    assert conversion_error(layer, 120)[1] < 1e-12
    same, _ = reduce_layer(layer, N)
    K, K_same = impulse_kernels(layer, 120), impulse_kernels(same, 120)
    assert np.abs(K - K_same).max() <= 1e-12 * np.abs(K).max()


@pytest.mark.parametrize("kind", ["s4d", "lru", "lru-port", "s5-zoh", "s5-bilinear-conj"])
def test_kernel_reducer_on_every_family(kind):
    """reducer='kernel' through the seam: the fit of the layer's own length-L kernel (all H_out x H_in kernels of a
    MIMO layer at once), written back into the family, never worse over those L samples than balanced truncation."""
    layer, length = make(kind, N=10, seed=2), 120
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-convergence is counted in rep.converged
        new, rep = reduce_layer(layer, 4, reducer="kernel", length=length)
    bt, _ = reduce_layer(layer, 4, length=length)
    assert type(new) is type(layer) and rep.reducer == "kernel" and rep.error_bound is None
    assert rep.converged.shape == ((1,) if mimo(kind) else (3,))
    assert conversion_error(new)[0] < 1e-11  # the written-back module computes the fitted system
    assert np.all(np.abs(np.exp(to_lti(new, time="discrete").log_poles)) < 1)
    K = impulse_kernels(layer, length)
    e_fit, e_bt = (np.linalg.norm(K - impulse_kernels(m, length)) for m in (new, bt))
    assert e_fit <= e_bt * (1 + 1e-8) + 1e-12 * np.linalg.norm(K)
    with pytest.raises(ArgumentConflictError, match="length"):
        reduce_layer(layer, 4, reducer="kernel")


def test_each_layers_hsv_computed_once_for_every_family(monkeypatch):
    """A budget's scores, its orders, the reductions and their bounds share one set of HSVs per layer,
    for the channel and the MIMO families alike (the same rule as for DSS)."""
    import mor.hankel

    calls = []
    gramians = mor.hankel.gramians

    def counted(sys, **kw):
        calls.append(sys.batch_shape)
        return gramians(sys, **kw)

    monkeypatch.setattr(mor.hankel, "gramians", counted)
    model = torch.nn.Sequential(make("s4d", N=10), torch.nn.Tanh(), make("s5-zoh", N=10))
    _, report = compress(model, budget=20)
    assert sorted(calls, key=len) == [(), (3,)]  # the S5 system once, the S4D channels once
    for rep in report.layers.values():
        assert np.allclose(rep.error_bound, [2 * h[k:].sum() for h, k in zip(rep.hsv, rep.orders, strict=True)])
    calls.clear()
    compress(model, tol=0.1)
    assert len(calls) == 2
