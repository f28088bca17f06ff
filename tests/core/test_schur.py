"""mor.schur: the one complex Schur form (exact eigenvalues of real 2x2 blocks) against plain references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sla
from helpers import random_dense

from mor.errors import InvalidArgumentError
from mor.schur import SchurForm, complex_schur, quasi_triangular_eigvals


@pytest.mark.parametrize("complex_", [False, True], ids=["real", "complex"])
def test_complex_schur_against_plain_reference(complex_):
    A = random_dense(12, seed=11, complex_=complex_).A
    T, Z = complex_schur(A)
    np.testing.assert_allclose(Z @ T @ Z.conj().T, A, atol=1e-13)
    np.testing.assert_allclose(Z.conj().T @ Z, np.eye(12), atol=1e-13)
    assert np.all(np.tril(T, -1) == 0)
    np.testing.assert_allclose(np.sort_complex(np.diag(T)), np.sort_complex(np.linalg.eigvals(A)), atol=1e-12)


def test_eigenvalues_of_standardised_blocks_are_exact():
    """diag(T) is ``a +- j sqrt|b| sqrt|c|`` of LAPACK's blocks ``[[a, b], [c, a]]``, bit for bit."""
    A = random_dense(30, seed=4).A
    Tr, _ = sla.schur(A, output="real")
    t = np.diagonal(complex_schur(A).T)
    i = np.flatnonzero(np.diagonal(Tr, -1))
    assert i.size >= 3
    a, b, c = Tr[i, i], Tr[i, i + 1], Tr[i + 1, i]
    assert np.array_equal(a, Tr[i + 1, i + 1]) and np.all(b * c < 0)  # standardised
    omega = np.sqrt(np.abs(b)) * np.sqrt(np.abs(c))
    assert np.array_equal(t[i], a + 1j * omega) and np.array_equal(t[i + 1], a - 1j * omega)
    assert np.array_equal(quasi_triangular_eigvals(Tr), t)


@pytest.mark.parametrize("b, c", [(3.0, -3.0), (300.0, -0.03), (7.0, -0.3)])
def test_lightly_damped_real_part_is_not_perturbed(b, c):
    """Re(lambda) = -1e-12 exactly: the diagonal of T is set to the eigenvalues, not left to the rotation."""
    A = np.array([[-1e-12, b], [c, -1e-12]])
    t = np.diagonal(complex_schur(A).T)
    assert np.all(t.real == -1e-12)
    np.testing.assert_allclose(np.abs(t.imag), np.sqrt(-b * c), rtol=1e-15)


def test_quasi_triangular_eigvals_general_blocks():
    """Blocks that are not standardised (not from dgees) use the general, scaled 2x2 formula."""
    T = np.array(
        [
            [1.0, 2.0, 5.0, 1.0, 0.0],
            [-3.0, 0.5, 1.0, 2.0, 1.0],  # complex pair, a != d
            [0.0, 0.0, 1.0, 2.0, 3.0],
            [0.0, 0.0, 3.0, 1.0, 4.0],  # real eigenvalues 1 +- sqrt(6)
            [0.0, 0.0, 0.0, 0.0, -2.0],
        ]
    )
    for scale in (1.0, 1e-200, 1e200):
        t = quasi_triangular_eigvals(T * scale)
        np.testing.assert_allclose(np.sort_complex(t), np.sort_complex(np.linalg.eigvals(T) * scale), rtol=1e-14)
    assert t[0].imag > 0 and t[1] == np.conj(t[0])
    with pytest.raises(InvalidArgumentError, match="overlap"):
        quasi_triangular_eigvals(np.array([[1.0, 2.0, 0.0], [-1.0, 1.0, 1.0], [0.0, -1.0, 1.0]]))


def test_schur_basis_transformations_match_complex_products():
    A = random_dense(9, seed=6).A
    form = complex_schur(A)
    assert isinstance(form, SchurForm)
    T, Z = form
    rng = np.random.default_rng(0)
    Q = rng.standard_normal((9, 9))
    np.testing.assert_allclose(form.to_schur_basis(Q), Z.conj().T @ Q @ Z, atol=1e-13)
    Y = rng.standard_normal((9, 9)) + 1j * rng.standard_normal((9, 9))
    ref = Z @ Y @ Z.conj().T
    np.testing.assert_allclose(form.from_schur_basis(Y.copy()), ref, atol=1e-13)
    np.testing.assert_allclose(form.from_schur_basis(Y.copy(), real=True), ref.real, atol=1e-13)
    plain = SchurForm(T, Z)  # without the real factors: complex products
    np.testing.assert_allclose(plain.to_schur_basis(Q), form.to_schur_basis(Q), atol=1e-13)
    assert np.array_equal(form.eigenvalues, np.diagonal(T))


def test_rotations_of_general_blocks_triangularise():
    """The fallback for blocks that are not standardised (a != d; real eigenvalues) still gives a
    unitary that triangularises the block, with the block's eigenvalues on the diagonal."""
    from mor.schur import _block_rotations, _rot_cols, _rot_rows

    T = np.array([[1.0, 2.0, 5.0, 1.0], [-3.0, 0.5, 1.0, 2.0], [0.0, 0.0, 1.0, 2.0], [0.0, 0.0, 3.0, 1.0]])
    for scale in (1.0, 1e-200, 1e200):
        Ts = T * scale
        rot, lam1, lam2 = _block_rotations(Ts)
        M = _rot_cols(_rot_rows(Ts.astype(complex), rot, inverse=False), rot, inverse=False)
        assert np.all(np.abs(np.tril(M, -1)) <= 1e-15 * scale)
        np.testing.assert_allclose(np.diag(M), [lam1[0], lam2[0], lam1[1], lam2[1]], rtol=1e-14)
        back = _rot_cols(_rot_rows(M.copy(), rot, inverse=True), rot, inverse=True)
        np.testing.assert_allclose(back, Ts, atol=1e-14 * scale)


@pytest.mark.parametrize("complex_", [False, True])
def test_schur_form_survives_pickle_and_deepcopy_with_its_real_factors(complex_):
    import copy
    import pickle

    A = random_dense(6, complex_=complex_, seed=3).A
    form = complex_schur(A)
    X = np.arange(36.0).reshape(6, 6)
    for twin in (pickle.loads(pickle.dumps(form)), copy.deepcopy(form)):
        assert isinstance(twin, SchurForm)
        assert np.array_equal(twin.T, form.T) and np.array_equal(twin.Z, form.Z)
        assert np.array_equal(twin.to_schur_basis(X), form.to_schur_basis(X))  # the real route survives too
