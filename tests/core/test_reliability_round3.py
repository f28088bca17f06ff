"""Reliability, round three (issue 19): every reproducer of the core library's part, as a test.

Each test failed on the code before the fix (landed main 571791e): a quiet wrong answer, an
untyped exception or a NaN.  The defective system's true norms (``hinf_G``, ``hinf_Gr`` of the old
answer) come from the issue's 50-digit oracle (``tests/data/regressions/modal_defective_jordan.npz``).
"""

from __future__ import annotations

import pathlib
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sps

import mor
from mor import LTI, DiagonalLTI, SparseLTI
from mor.errors import InvalidArgumentError, MemoryLimitError, MorError, NonFiniteError, OrderError

REGRESSIONS = pathlib.Path(__file__).resolve().parent.parent / "data" / "regressions"


def _system(rng, n=6, m=2, p=2):
    A = rng.standard_normal((n, n)) / np.sqrt(n) - 1.5 * np.eye(n)
    return A, rng.standard_normal((n, m)), rng.standard_normal((p, n))


def _near_defective(rng, n, delta, *, complex_pair=False):
    """A random similarity of a matrix with a 2 x 2 (or, for ``complex_pair``, a real 4 x 4) block
    whose eigenvalues are ``delta`` apart: an eigenvector condition of about ``1 / delta``."""
    if complex_pair:
        a, w = -0.7, 2.0
        R = np.array([[a, w], [-w, a]])
        J = np.block([[R, np.eye(2)], [np.zeros((2, 2)), R + delta * np.eye(2)]])
    else:
        J = np.array([[-1.3, 1.0], [0.0, -1.3 - delta]])
    k = J.shape[0]
    rest = np.diag(-rng.uniform(0.2, 3.0, n - k))
    M = np.block([[J, np.zeros((k, n - k))], [np.zeros((n - k, k)), rest]])
    X = rng.standard_normal((n, n))
    return np.linalg.solve(X, M @ X)


# --------------------------------------------------------------------------- item 2: modal truncation
def test_modal_truncation_of_the_defective_regression_keeps_the_jordan_block_whole():
    d = np.load(REGRESSIONS / "modal_defective_jordan.npz")
    G = LTI(d["A"], d["B"], d["C"], d["D"])
    res = mor.modal_truncation(G, int(d["order"]))
    assert [sorted(c.tolist()) for c in res.clusters] and all(c.size == 2 for c in res.clusters)
    norm_r = mor.hinf_norm(res.reduced)
    assert norm_r < 10 * float(d["hinf_G"])  # was 1.417e8 (= hinf_Gr) for ||G|| = 47.95
    err = mor.hinf_norm(G - res.reduced)
    assert err <= res.error_bound * (1 + 1e-8)
    assert res.error_bound < 10 * float(d["hinf_G"])  # was hinf_err = 1.4e8


@pytest.mark.parametrize("complex_pair", [False, True])
@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("delta", [0.0, 1e-9, 1e-6])
def test_modal_truncation_keeps_near_defective_clusters_together(delta, discrete, complex_pair):
    rng = np.random.default_rng(int(delta * 1e9) + 10 * discrete + complex_pair)
    n = 7
    A = _near_defective(rng, n, delta, complex_pair=complex_pair)
    if discrete:
        A = 0.3 * A / np.max(np.abs(np.linalg.eigvals(A)))
    G = LTI(A, rng.standard_normal((n, 2)), rng.standard_normal((2, n)), dt=1.0 if discrete else None)
    norm = mor.hinf_norm(G)
    for order in range(1, n):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", mor.RankWarning)
                res = mor.modal_truncation(G, order)
        except OrderError:  # an order too small for any block; every order above the cluster size works
            assert order < 4
            continue
        # whole blocks only: fewer states than asked exactly when the next block does not fit, and said
        assert res.order <= order
        assert (res.order < order) == any(issubclass(w.category, mor.RankWarning) for w in caught)
        clustered = {int(i) for c in res.clusters for i in c}
        kept = {int(i) for i in res.kept}
        assert res.clusters and all(set(c.tolist()) <= kept or not set(c.tolist()) & kept for c in res.clusters)
        assert len(clustered) >= (4 if complex_pair else 2)
        assert mor.hinf_norm(res.reduced) < 100 * norm
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", mor.AccuracyWarning)  # G - G_r small at full order
            err = mor.hinf_norm(G - res.reduced)
        assert err <= res.error_bound * (1 + 1e-6) + 1e-9 * norm


def test_modal_truncation_of_a_complex_near_defective_system():
    rng = np.random.default_rng(7)
    A = _near_defective(rng, 5, 1e-8).astype(complex) * (1 + 0.2j)
    G = LTI(A, rng.standard_normal((5, 1)) + 1j, rng.standard_normal((1, 5)))
    res = mor.modal_truncation(G, 3)
    assert res.clusters and res.reduced.is_complex
    assert mor.hinf_norm(G - res.reduced) <= res.error_bound * (1 + 1e-8)


def test_modal_truncation_of_a_strongly_non_normal_system_is_refused_not_inflated():
    from mor.models import convection_diffusion_2d

    sys = convection_diffusion_2d(10).to_dense()  # eigenvector conditions up to 2.8e6
    with pytest.raises(OrderError, match="spectral projector"):  # was ||G_r|| = 674 for ||G|| = 0.043
        mor.modal_truncation(sys, 10)
    assert mor.modal_truncation(sys, sys.n).order == sys.n


def test_modal_truncation_of_a_well_conditioned_system_has_no_clusters():
    rng = np.random.default_rng(8)
    res = mor.modal_truncation(LTI(*_system(rng)), 3)
    assert res.clusters == ()


# --------------------------------------------------------------------------- item 4: memory before allocating
def test_impulse_response_of_an_impossible_length_is_refused_before_allocating():
    rng = np.random.default_rng(0)
    A, B, C = _system(rng)
    Gd = LTI(0.1 * A, B, C, dt=1.0)
    with pytest.raises(MemoryLimitError, match="TiB"):  # was numpy's MemoryError (7.28 TiB)
        mor.impulse_response(Gd, 10**12)
    assert isinstance(MemoryLimitError("x"), MemoryError) and issubclass(MemoryLimitError, MorError)
    assert mor.impulse_response(Gd, 5).shape == (5, 2, 2)


def test_check_memory_refuses_only_what_cannot_fit():
    from mor.validation import available_memory, check_memory

    assert available_memory() > 2**20
    check_memory(1e6, "a megabyte", "nothing to change")
    with pytest.raises(MemoryLimitError, match=r"a yottabyte needs about .* more than the .* available; use less"):
        check_memory(1e24, "a yottabyte", "use less")


def test_to_dense_and_wide_frequency_responses_check_memory_first():
    n = 10**6
    big = SparseLTI(sps.diags(-np.ones(n)), np.ones((n, 1)), np.ones((1, n)))
    with pytest.raises(MemoryLimitError, match="to_dense"):  # was numpy's MemoryError (7.28 TiB)
        big.to_dense(force=True)
    batch = DiagonalLTI(-np.ones((10**4, 2)), np.ones((1, 2, 1)), np.ones((1, 1, 2)))
    with pytest.raises(MemoryLimitError, match="points"):  # was evaluated piece by piece, growing without bound
        mor.frequency_response(batch, np.linspace(0.0, 1.0, 10**7))


# --------------------------------------------------------------------------- item 5: untyped or NaN
SPARSE_FORMATS = ["bsr", "coo", "csc", "csr", "dia", "dok", "lil"]


@pytest.mark.parametrize("kind", ["matrix", "array"])
@pytest.mark.parametrize("fmt", SPARSE_FORMATS)
def test_every_scipy_sparse_format_is_accepted_as_A(fmt, kind):
    rng = np.random.default_rng(1)
    A, B, C = _system(rng)
    As = getattr(sps, f"{fmt}_{kind}")(A)
    reference = mor.hankel_singular_values(LTI(A, B, C))
    np.testing.assert_allclose(mor.hankel_singular_values((As, B, C)), reference, rtol=1e-9, atol=1e-14)
    assert SparseLTI(As, B, C).nnz == np.count_nonzero(A)  # DOK: was AttributeError ('data')
    g = mor.low_rank_gramians((As, B, C), max_rank=200)
    assert g.Z.shape[0] == 6
    np.testing.assert_allclose(mor.frequency_response((As, B, C), [0.5]), mor.frequency_response(LTI(A, B, C), [0.5]),
                               rtol=1e-10)  # fmt: skip


@pytest.mark.parametrize("dt", [None, 1.0])
def test_low_rank_gramians_of_two_states_with_a_repeated_pole(dt):
    pole = -1.0 if dt is None else 0.5
    sys = DiagonalLTI([pole, pole], [[1.0], [1.0]], [[1.0, 1.0]], dt=dt)  # was ARPACK TypeError
    g = mor.low_rank_gramians(sys)
    P = mor.controllability_gramian(sys)
    np.testing.assert_allclose(g.Z @ g.Z.conj().T, P, rtol=1e-8, atol=1e-12)
    assert g.lyapunov_bound is not None


def test_low_rank_gramians_of_a_system_scaled_to_the_range_limit():
    rng = np.random.default_rng(2)
    A, B, C = _system(rng)
    scale = 1e300
    g = mor.low_rank_gramians(LTI(scale * A, scale * B, C), max_rank=200)  # was LinAlgError (B B^H overflows)
    P = mor.controllability_gramian(LTI(A, B, C))  # P of (aA, aB) is a P
    Z = g.Z / np.sqrt(scale)
    np.testing.assert_allclose(Z @ Z.T, P, rtol=1e-8, atol=1e-12 * np.abs(P).max())
    Q = mor.observability_gramian(LTI(A, B, C))  # Q of (aA, C) is Q / a
    Y = g.Y * np.sqrt(scale)
    np.testing.assert_allclose(Y @ Y.T, Q, rtol=1e-8, atol=1e-12 * np.abs(Q).max())
    assert np.all(np.isfinite(g.shifts)) and np.all(np.abs(g.shifts) > 1e299)


@pytest.mark.parametrize("scale", [1e300, 1e-300, 1e200])
def test_hankel_singular_values_scale_before_solving(scale):
    rng = np.random.default_rng(3)
    A, B, C = _system(rng)
    reference = mor.hankel_singular_values(LTI(A, B, C))
    got = mor.hankel_singular_values(LTI(scale * A, scale * B, C))  # was NumericalError "gramians overflowed"
    np.testing.assert_allclose(got, reference, rtol=1e-10)
    got = mor.hankel_singular_values(LTI(0.5 * A / np.abs(A).max(), B * scale, C / scale, dt=1.0))
    np.testing.assert_allclose(got, mor.hankel_singular_values(LTI(0.5 * A / np.abs(A).max(), B, C, dt=1.0)),
                               rtol=1e-10)  # fmt: skip


def test_hankel_singular_values_of_an_empty_batch():
    sys = DiagonalLTI(np.zeros((3, 0)), np.zeros((3, 0, 1)), np.zeros((3, 1, 0)))  # was ValueError from reshape
    assert mor.hankel_singular_values(sys).shape == (3, 0)


@pytest.mark.parametrize("discrete", [False, True])
def test_cauchy_cholesky_refuses_nodes_without_a_positive_definite_matrix(discrete):
    nodes = [-0.5, 0.2] if discrete else [1.0, -1.0]
    with pytest.raises(InvalidArgumentError, match="positive definite"):  # was [0.707, nan]
        mor.cauchy_cholesky(nodes, [[1.0], [1.0]], discrete=discrete)
    with pytest.raises(NonFiniteError):
        mor.cauchy_cholesky([1.0, np.nan], [[1.0], [1.0]])
    L = mor.cauchy_cholesky([-np.inf, -1.0], [[1.0], [1.0]], discrete=True)  # z = 0 is a valid pole
    assert np.all(np.isfinite(L))


def test_frequency_response_of_an_omega_that_requires_grad_is_typed():
    torch = pytest.importorskip("torch")
    sys = LTI(-np.eye(2), np.ones((2, 1)), np.ones((1, 2)))
    omega = torch.linspace(0.0, 1.0, 5, requires_grad=True)
    with pytest.raises(mor.ArgumentTypeError, match="omega"):  # was torch's RuntimeError
        mor.frequency_response(sys, omega)
    with pytest.raises(mor.ArgumentTypeError):
        mor.transfer_function(sys, 1j * omega)


# --------------------------------------------------------------------------- item 6: warnings read as sentences
def test_the_hinf_accuracy_warning_reads_as_a_sentence():
    rng = np.random.default_rng(4)
    G = LTI(*_system(rng, m=1, p=1))
    with pytest.warns(mor.AccuracyWarning) as record:
        mor.hinf_norm(G - G)  # zero up to rounding: the estimate is far above the computed norm
    text = str(record[0].message)
    assert re.search(r"the estimated rounding error is up to \S+, which is \S+ times the norm", text)
    assert not re.search(r"\d = \d", text)  # was "rounding error up to 1.6e-14 = 4.8 of the norm"


# --------------------------------------------------------------------------- item 7: the new fuzz families
def _fuzz_report(tally) -> str:
    lines = "\n".join(f"seed {s}: {d}"[:400] for s, d in tally.failures[:20])
    return f"{tally.outcomes}; worst {tally.worst}\n{lines}"


@pytest.fixture(scope="module")
def rf():
    import reliability_fuzz

    return reliability_fuzz


def test_fuzz_defective_and_near_defective_systems_for_every_method(rf):
    tally = rf.defective(range(7000, 7024))  # modal, BT, BSP, IRKA in turn
    assert tally.total == 24 and not tally.failures, _fuzz_report(tally)


def test_fuzz_every_sparse_format_as_A_of_every_routine(rf):
    tally = rf.sparse_formats(range(8000, 8000 + 14 * 12))  # each (format, routine) pair once
    assert tally.total == 168 and not tally.failures, _fuzz_report(tally)


def test_fuzz_scaled_systems_on_the_low_rank_route(rf):
    tally = rf.scaled_low_rank(range(9000, 9020))
    assert tally.outcomes == {"correct": 20}, _fuzz_report(tally)


def test_fuzz_memory_hungry_sizes_are_refused_before_allocating(rf):
    tally = rf.memory_hungry(range(9500, 9508))
    assert tally.outcomes == {"MemoryLimitError": 8}, _fuzz_report(tally)
