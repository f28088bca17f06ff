"""Sparse systems: SparseLTI, sparse input to LTI / as_system, densification limit, sparse responses."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sps

import mor
from mor import LTI, SparseLTI, as_system
from mor.errors import DimensionError, InvalidArgumentError, NonFiniteError, SystemTypeError
from mor.models import convection_diffusion_2d, heat_1d


def _random_sparse(n, m=2, p=3, seed=0, complex_=False, dt=None):
    rng = np.random.default_rng(seed)
    A = sps.random(n, n, density=4.0 / n, random_state=seed, format="csr")
    A = A - sps.diags(np.abs(A).sum(axis=1).A1 + 1.0)  # strictly diagonally dominant: stable
    B, C = rng.standard_normal((n, m)), rng.standard_normal((p, n))
    if complex_:
        A = A + 1j * sps.diags(rng.standard_normal(n))
        B = B + 1j * rng.standard_normal((n, m))
    if dt is not None:
        A = A / (2 * abs(A).sum(axis=1).max())  # ||A||_inf < 1: Schur stable
    return SparseLTI(A, B, C, rng.standard_normal((p, m)), dt)


def test_construction_dtype_repr_and_immutability():
    s = _random_sparse(50)
    assert (s.n, s.m, s.p) == (50, 2, 3) and s.dtype == np.float64 and not s.is_complex
    assert s.nnz == s.A.nnz and sps.isspmatrix_csr(s.A)
    assert repr(s).startswith("SparseLTI(n=50, nnz=") and "real, continuous" in repr(s)
    c = SparseLTI(sps.eye(3) * -1.0, np.ones((3, 1)) * 1j, np.ones((1, 3)))
    assert c.is_complex and c.A.dtype == np.complex128 and c.C.dtype == np.complex128
    with pytest.raises(AttributeError, match="immutable"):
        s.A = None
    with pytest.raises(ValueError):
        s.A.data[0] = 1.0
    with pytest.raises(ValueError):
        s.B[0, 0] = 1.0
    back = pickle.loads(pickle.dumps(s))
    assert (back.A != s.A).nnz == 0 and np.array_equal(back.B, s.B) and back.dt == s.dt
    assert repr(SparseLTI(sps.eye(2) * 0.5, np.ones((2, 1)), np.ones((1, 2)), dt=0.1)).endswith("discrete, dt=0.1)")


@pytest.mark.parametrize(
    "args, err, text",
    [
        ((sps.eye(3, 4), np.ones((3, 1)), np.ones((1, 3))), DimensionError, "square"),
        ((sps.eye(3), np.ones((2, 1)), np.ones((1, 3))), DimensionError, "B must have 3 rows"),
        ((sps.eye(3), np.ones((3, 1)), np.ones((1, 2))), DimensionError, "C must have 3 columns"),
        ((sps.eye(3), np.ones((3, 1)), np.ones((1, 3)), np.ones((2, 2))), DimensionError, "D must have shape"),
        ((sps.csr_matrix(([np.nan], ([0], [0])), shape=(3, 3)), np.ones((3, 1)), np.ones((1, 3))),
         NonFiniteError, "non-finite"),
        ((sps.eye(3), np.ones((3, 1)), np.ones((1, 3)), None, -0.5), InvalidArgumentError, "dt"),
        ((sps.eye(1000), sps.csr_matrix((1000, 70000)), np.ones((1, 1000))), DimensionError, "too many inputs"),
    ],
)
def test_validation(args, err, text):
    with pytest.raises(err, match=text):
        SparseLTI(*args)


def test_small_sparse_input_is_densified_everywhere():
    s = _random_sparse(40, seed=3)
    dense = LTI(s.A.toarray(), s.B, s.C, s.D)
    via_lti = LTI(s.A, sps.csr_matrix(s.B), s.C, s.D)  # sparse A and B straight into LTI
    assert np.array_equal(via_lti.A, dense.A) and np.array_equal(via_lti.B, dense.B)
    assert isinstance(as_system(s), LTI) and isinstance(as_system((s.A, s.B, s.C)), LTI)
    assert isinstance(as_system((sps.csr_array(s.A), s.B, s.C), keep_sparse=True), SparseLTI)
    # a dense-only routine on a small sparse system gives the dense answer
    assert mor.hinf_norm(s) == pytest.approx(mor.hinf_norm(dense), rel=1e-12)
    np.testing.assert_allclose(mor.hankel_singular_values(s), mor.hankel_singular_values(dense), rtol=1e-10)


def test_large_sparse_input_is_refused_by_dense_routines(monkeypatch):
    monkeypatch.setattr(mor.systems.lti, "DENSIFY_LIMIT", 30)
    s = _random_sparse(40)
    with pytest.raises(SystemTypeError, match="DENSIFY_LIMIT = 30"):
        mor.hinf_norm(s)
    with pytest.raises(SystemTypeError, match="routines that keep sparsity"):
        mor.hankel_singular_values((s.A, s.B, s.C))
    with pytest.raises(SystemTypeError, match=r"mor\.SparseLTI"):
        LTI(s.A, s.B, s.C)
    with pytest.raises(SystemTypeError, match="force=True"):
        s.to_dense()
    assert s.to_dense(force=True).n == 40
    assert isinstance(as_system(s, keep_sparse=True), SparseLTI)


def test_default_limit_refuses_without_allocating():
    big = heat_1d(mor.systems.DENSIFY_LIMIT + 1)
    with pytest.raises(SystemTypeError):
        mor.h2_norm(big)
    with pytest.raises(SystemTypeError):
        mor.balanced_truncation(big, 3, route="dense")


@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("dt", [None, 0.5])
@pytest.mark.parametrize("m, p", [(2, 3), (3, 1)])
def test_sparse_transfer_function_matches_dense(complex_, dt, m, p):
    s = _random_sparse(60, m=m, p=p, seed=7, complex_=complex_, dt=dt)
    dense = s.to_dense()
    pts = np.array([0.3, 1j, -2.0 + 0.5j, 4.0])
    np.testing.assert_allclose(mor.transfer_function(s, pts), mor.transfer_function(dense, pts), rtol=1e-10, atol=1e-12)
    w = np.array([0.0, 0.7, 3.0])
    np.testing.assert_allclose(mor.frequency_response(s, w), mor.frequency_response(dense, w), rtol=1e-10, atol=1e-12)
    assert mor.transfer_function(s, 1j).shape == (p, m)


def test_point_on_a_pole_gives_inf():
    s = SparseLTI(sps.diags([-1.0, -2.0]), np.ones((2, 1)), np.ones((1, 2)))
    assert np.isinf(mor.transfer_function(s, -1.0)).all()


def test_arithmetic_error_system_stays_sparse():
    s = convection_diffusion_2d(12)
    r = mor.balanced_truncation(s.to_dense(), 4).reduced
    e = s - r
    assert isinstance(e, SparseLTI) and e.n == s.n + 4
    w = np.array([0.0, 10.0, 300.0])
    np.testing.assert_allclose(
        mor.frequency_response(e, w), mor.frequency_response(s, w) - mor.frequency_response(r, w), atol=1e-14
    )
    np.testing.assert_allclose(mor.frequency_response(-s, w), -mor.frequency_response(s, w))
    np.testing.assert_allclose(mor.frequency_response(s + s, w), 2 * mor.frequency_response(s, w), rtol=1e-12)
    with pytest.raises(DimensionError, match="input/output sizes"):
        s + heat_1d(10)
    with pytest.raises(InvalidArgumentError, match="time bases"):
        s + SparseLTI(s.A, s.B, s.C, dt=0.1)
