"""Modal truncation: scores are single-mode norms, the kept modes are the largest, the models agree."""

import warnings

import numpy as np
import pytest

from mor import LTI, DiagonalLTI, frequency_response, h2_norm, hinf_norm, modal_truncation
from mor.errors import AccuracyWarning, InvalidArgumentError, MethodError, OrderError, UnstableSystemError


def _diag(rng, batch=(), n=6, m=2, p=3, discrete=False):
    re = -10 ** rng.uniform(-2, 0.5, batch + (n,))
    im = rng.uniform(-3, 3, batch + (n,))
    B = rng.standard_normal(batch + (n, m)) + 1j * rng.standard_normal(batch + (n, m))
    C = rng.standard_normal(batch + (p, n)) + 1j * rng.standard_normal(batch + (p, n))
    if discrete:
        return DiagonalLTI.from_log_poles(0.3 * (re + 1j * im), B, C, dt=0.5)
    return DiagonalLTI(re + 1j * im, B, C)


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("score", ["hinf", "h2"])
def test_scores_are_the_norms_of_single_mode_subsystems(discrete, score):
    rng = np.random.default_rng(1)
    sys = _diag(rng, discrete=discrete)
    res = modal_truncation(sys, 2, score=score)
    norm = hinf_norm if score == "hinf" else h2_norm
    for i in range(sys.n):
        mode = (
            DiagonalLTI.from_log_poles(sys.log_poles[i : i + 1], sys.B[i : i + 1], sys.C[:, i : i + 1], dt=sys.dt)
            if discrete
            else DiagonalLTI(sys.poles[i : i + 1], sys.B[i : i + 1], sys.C[:, i : i + 1])
        )
        assert res.scores[i] == pytest.approx(norm(mode), rel=1e-9)
    top = np.argsort(-res.scores)[:2]
    assert list(res.kept) == list(top)
    np.testing.assert_array_equal(res.reduced.poles, sys.poles[top])
    if discrete:
        np.testing.assert_array_equal(res.reduced.log_poles, sys.log_poles[top])


@pytest.mark.parametrize("discrete", [False, True])
def test_error_within_the_sum_of_dropped_hinf_scores(discrete):
    rng = np.random.default_rng(2)
    sys = _diag(rng, discrete=discrete)
    for r in range(1, sys.n):
        res = modal_truncation(sys, r)
        err = hinf_norm(sys - res.reduced)
        assert 0 < err <= res.error_bound * (1 + 1e-8)
    assert modal_truncation(sys, 3, score="h2").error_bound is None


def test_batched_equals_member_by_member():
    rng = np.random.default_rng(3)
    sys = _diag(rng, batch=(4, 2), discrete=True)
    res = modal_truncation(sys, 3)
    assert res.reduced.batch_shape == (4, 2) and res.kept.shape == (4, 2, 3)
    for idx in np.ndindex(4, 2):
        one = modal_truncation(sys[idx], 3)
        np.testing.assert_array_equal(res.kept[idx], one.kept)
        np.testing.assert_array_equal(res.reduced[idx].poles, one.reduced.poles)
        assert res.error_bound[idx] == pytest.approx(one.error_bound, rel=1e-12)


@pytest.mark.parametrize("discrete", [False, True])
def test_dense_real_system_gives_a_real_model_of_its_own_poles(discrete):
    rng = np.random.default_rng(4)
    A = rng.standard_normal((7, 7)) / 3 - 1.2 * np.eye(7)
    if discrete:
        A = A / (1.1 * np.max(np.abs(np.linalg.eigvals(A))))
    sys = LTI(A, rng.standard_normal((7, 2)), rng.standard_normal((2, 7)), dt=0.1 if discrete else None)
    lam = np.linalg.eigvals(A)
    assert np.any(lam.imag != 0)  # the case worth testing: complex pairs
    for r in range(1, 8):
        res = modal_truncation(sys, r)
        assert not res.reduced.is_complex and res.order in (r, r - 1)
        kept_poles = np.sort_complex(np.linalg.eigvals(res.reduced.A))
        np.testing.assert_allclose(kept_poles, np.sort_complex(lam[res.kept]), rtol=1e-10, atol=1e-12)
        # the reduced transfer function is the sum of the kept first-order terms
        w = np.linspace(0.1, 3, 7)
        V = np.linalg.eig(A)[1]
        b, c = np.linalg.solve(V, sys.B), sys.C @ V
        pts = np.exp(1j * w * 0.1) if discrete else 1j * w
        ref = sum(np.einsum("p,m->pm", c[:, i], b[i])[None] / (pts[:, None, None] - lam[i]) for i in res.kept)
        np.testing.assert_allclose(frequency_response(res.reduced, w), ref, rtol=1e-9, atol=1e-11)
        with warnings.catch_warnings():  # r = n: a rounding-level difference, accurate in absolute terms only
            warnings.simplefilter("ignore", AccuracyWarning)
            assert hinf_norm(sys - res.reduced) <= res.error_bound * (1 + 1e-8) + 1e-12


def test_a_complex_pair_is_kept_whole():
    sys = LTI([[-0.1, 5.0], [-5.0, -0.1]], [[1.0], [0.0]], [[1.0, 0.0]])
    sys = sys + LTI([[-3.0]], [[1.0]], [[0.5]])
    res = modal_truncation(sys, 1)  # the pair scores highest but needs 2 states: the real mode is kept
    assert res.order == 1 and res.reduced.A[0, 0] == pytest.approx(-3.0)
    res2 = modal_truncation(sys, 2)
    assert res2.order == 2 and np.allclose(np.sort_complex(np.linalg.eigvals(res2.reduced.A)), [-0.1 - 5j, -0.1 + 5j])


def test_dense_complex_system():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((5, 5)) + 1j * rng.standard_normal((5, 5)) - 4 * np.eye(5)
    sys = LTI(A, rng.standard_normal((5, 1)) + 0j, rng.standard_normal((2, 5)))
    res = modal_truncation(sys, 3)
    assert res.reduced.is_complex and res.order == 3
    assert hinf_norm(sys - res.reduced) <= res.error_bound * (1 + 1e-8)


def test_errors():
    sys = DiagonalLTI([-1.0, 0.5], [[1.0], [1.0]], [[1.0, 1.0]])
    with pytest.raises(UnstableSystemError):
        modal_truncation(sys, 1)
    ok = DiagonalLTI([-1.0, -2.0], [[1.0], [1.0]], [[1.0, 1.0]])
    for bad in (0, 3):
        with pytest.raises(OrderError):
            modal_truncation(ok, bad)
    with pytest.raises(MethodError):
        modal_truncation(ok, 1, score="l1")
    pair_only = LTI([[-0.1, 5.0], [-5.0, -0.1]], [[1.0], [0.0]], [[1.0, 0.0]])  # no real pole: order 1 is empty
    with pytest.raises(OrderError, match="conjugate pair"):
        modal_truncation(pair_only, 1)
    jordan = LTI([[-1.0, 1.0], [0.0, -1.0]], [[0.0], [1.0]], [[1.0, 0.0]])
    with pytest.raises(InvalidArgumentError, match="diagonalisable"):
        modal_truncation(jordan, 1)
