"""Balanced singular perturbation (``balanced_truncation(..., match_dc=True)``) and ``mor.spa.residualize``:
DC gain matched, the balanced-truncation bound, agreement with a plain dense reference and python-control."""

import warnings

import numpy as np
import pytest
import scipy.linalg as sla
from helpers import random_dense, random_diagonal, reference_gramians

from mor import LTI, DiagonalLTI, balanced_truncation, hinf_norm, transfer_function
from mor.errors import AccuracyWarning, ArgumentTypeError, InvalidArgumentError, NumericalError, RankWarning
from mor.spa import residualize

# the comparisons below take hinf_norm of rounding-level differences (two computations of the same
# model), which hinf_norm rightly flags as accurate in absolute terms only
pytestmark = pytest.mark.filterwarnings("ignore:hinf_norm.*cannot be evaluated:mor.errors.AccuracyWarning")


def _dc(sys):
    return transfer_function(sys, 1.0 if sys.dt is not None else 0.0)


def _plain_spa(sys: LTI, r: int) -> LTI:
    """Reference: dense Lyapunov solutions, Cholesky balancing, the textbook formulas."""
    A, B, C, D = sys.A, sys.B, sys.C, sys.D
    P, Q = reference_gramians(A, B, C, sys.dt)
    Lp, Lq = sla.cholesky(P, lower=True), sla.cholesky(Q, lower=True)
    U, s, Vh = np.linalg.svd(Lq.conj().T @ Lp)
    T = np.diag(s**-0.5) @ U.conj().T @ Lq.conj().T
    Ti = Lp @ Vh.conj().T @ np.diag(s**-0.5)
    Ab, Bb, Cb = T @ A @ Ti, T @ B, C @ Ti
    A11, A12, A21, A22 = Ab[:r, :r], Ab[:r, r:], Ab[r:, :r], Ab[r:, r:]
    if sys.dt is None:
        M = np.linalg.inv(A22)
        return LTI(A11 - A12 @ M @ A21, Bb[:r] - A12 @ M @ Bb[r:], Cb[:, :r] - Cb[:, r:] @ M @ A21,
                   D - Cb[:, r:] @ M @ Bb[r:])  # fmt: skip
    M = np.linalg.inv(np.eye(len(A22)) - A22)
    return LTI(A11 + A12 @ M @ A21, Bb[:r] + A12 @ M @ Bb[r:], Cb[:, :r] + Cb[:, r:] @ M @ A21,
               D + Cb[:, r:] @ M @ Bb[r:], sys.dt)  # fmt: skip


@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("method", ["sr", "bfsr"])
def test_dense_dc_gain_bound_and_plain_reference(discrete, complex_, method):
    sys = random_dense(10, 2, 3, complex_=complex_, discrete=discrete, seed=5, d=True)
    for r in (1, 3, 6):
        res = balanced_truncation(sys, r, match_dc=True, method=method)
        assert res.match_dc and res.order == r and res.reduced.n == r
        assert res.reduced.is_complex == complex_
        np.testing.assert_allclose(_dc(res.reduced), _dc(sys), rtol=1e-11, atol=1e-12 * np.abs(_dc(sys)).max())
        err = hinf_norm(sys - res.reduced)
        assert res.hsv[r] * (1 - 1e-8) <= err <= res.error_bound * (1 + 1e-8)
        assert hinf_norm(res.reduced - _plain_spa(sys, r)) <= 1e-9 * res.hsv[0]
        truncated = balanced_truncation(sys, r, method=method).reduced
        assert not np.allclose(_dc(truncated), _dc(sys))  # truncation alone does not match DC


def test_python_control_matchdc_agrees():
    control = pytest.importorskip("control")
    sys = random_dense(10, 2, 2, seed=5, d=True)
    for r in (2, 3, 5):
        ref = LTI.from_control(control.balred(sys.to_control(), r, method="matchdc"))
        assert hinf_norm(ref - balanced_truncation(sys, r, match_dc=True).reduced) <= 1e-10


@pytest.mark.parametrize("discrete", [False, True])
def test_diagonal_batch_is_diagonal_and_equals_dense_member_by_member(discrete):
    sys = random_diagonal((2, 3), 14, m=2, p=2, discrete=discrete, seed=3)
    res = balanced_truncation(sys, 4, match_dc=True, method="bfsr")
    assert isinstance(res.reduced, DiagonalLTI) and res.reduced.batch_shape == (2, 3) and res.reduced.n == 4
    np.testing.assert_allclose(_dc(res.reduced), _dc(sys), rtol=1e-9, atol=1e-11)
    for idx in np.ndindex(2, 3):
        member = res.reduced[idx]
        dense = balanced_truncation(sys[idx].to_dense(), 4, match_dc=True).reduced
        assert hinf_norm(member - dense) <= 1e-8 * res.hsv[idx][0]
        assert hinf_norm(sys[idx] - member) <= res.error_bound[idx] * (1 + 1e-8)
    if discrete:  # log-poles of the re-diagonalised model
        np.testing.assert_allclose(np.exp(res.reduced.log_poles), res.reduced.poles, rtol=1e-12)


def test_members_of_lower_rank_are_padded_and_keep_their_dc_gain():
    full = random_diagonal((1,), 8, seed=1)
    low = DiagonalLTI(full.poles, np.concatenate([full.B[:, :2], 0 * full.B[:, 2:]], axis=1), full.C)  # rank 2
    sys = DiagonalLTI(
        np.concatenate([full.poles, low.poles]), np.concatenate([full.B, low.B]), np.concatenate([full.C, low.C])
    )
    with pytest.warns(RankWarning, match="padding"):
        res = balanced_truncation(sys, 4, match_dc=True)
    assert res.padded[1].sum() == 2 and not res.padded[0].any()
    np.testing.assert_allclose(_dc(res.reduced), _dc(sys), rtol=1e-9)
    assert np.all(res.reduced.poles.real < 0)


def test_argument_errors():
    sys = random_dense(4, discrete=True)
    with pytest.raises(InvalidArgumentError, match="infinite-horizon"):
        balanced_truncation(sys, 2, match_dc=True, horizon=20)
    with pytest.raises(ArgumentTypeError):
        balanced_truncation(sys, 2, match_dc=1)


def test_residualize_checks_the_dc_block():
    A = np.diag([-1.0, 0.0])  # the residualised state is an integrator: a pole at DC
    B, C, D = np.ones((2, 1)), np.ones((1, 2)), np.zeros((1, 1))
    with pytest.raises(NumericalError, match="singular"):
        residualize(A, B, C, D, 1, discrete=False)
    with pytest.warns(AccuracyWarning, match="sigma_min"):
        residualize(np.diag([-1.0, -1e-13]), B, C, D, 1, discrete=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Ar, _Br, _Cr, Dr = residualize(np.diag([0.5, 0.25]), B, C, D, 1, discrete=True)
    # discrete: the residualised state contributes its DC gain 1 / (1 - 0.25) to D
    np.testing.assert_allclose([Ar[0, 0], Dr[0, 0]], [0.5, 1 / 0.75])
    assert residualize(A, B, C, D, 2, discrete=False)[0] is A  # nothing to residualise


def test_sparse_systems_on_the_low_rank_route():
    from mor.models import heat_1d

    sys = heat_1d(400)
    res = balanced_truncation(sys, 6, match_dc=True, route="low-rank")
    assert res.route == "low-rank" and res.match_dc and isinstance(res.reduced, LTI)
    # the residualised states are those the low-rank factors resolve: DC up to their tail
    dc, dc_r = _dc(sys.to_dense()), _dc(res.reduced)
    bt = balanced_truncation(sys, 6, route="low-rank").reduced
    assert np.abs(dc_r - dc).max() < 1e-3 * np.abs(_dc(bt) - dc).max()
    assert hinf_norm(sys.to_dense() - res.reduced) <= res.error_bound * (1 + 1e-6)
