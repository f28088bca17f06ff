"""The cheap paths of a single dense reduction give the answers of the full ones (issue 24).

Cheap paths: Hammarling's factor from one triangular Sylvester equation (``n m <= SYLVESTER_MAX``,
continuous time), the rounding bound's resolvent solves at all sample points by two ``ztrsyl``
calls, the 2x2 block rotations of the complex Schur form applied as matrix products (``n <= 32``).
Full paths: the recurrence, one LAPACK solve per point, the row and column rotations.
"""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
from helpers import random_dense
from oracles import nonnormal_system

import mor
from mor import LTI
from mor.errors import AccuracyWarning, RankWarning
from mor.hammarling import triangular_lyapunov_factor
from mor.lyapunov import sylvester_lyapunov_factor

dense = importlib.import_module("mor.gramians.dense")
frequency = importlib.import_module("mor.analysis._frequency")
schur = importlib.import_module("mor.linalg.schur")


@pytest.fixture
def full_paths(monkeypatch):
    """Switch every cheap path off (call ``full_paths()`` inside the test)."""

    def switch():
        monkeypatch.setattr(dense, "SYLVESTER_MAX", 0)
        monkeypatch.setattr(frequency, "SYLVESTER_MAX_ORDER", -1)
        monkeypatch.setattr(schur, "_MATMUL_MAX_ORDER", 0)

    return switch


def _systems():
    out = []
    for seed in range(24):  # real and complex, SISO and MIMO, n up to 64 (the Sylvester form's range)
        n = (4, 9, 16, 25, 40, 64)[seed % 6]
        m, p = 1 + seed % 3 * (n <= 13), 1 + seed % 2
        out.append(("random", random_dense(n, m, p, complex_=seed % 3 == 1, seed=seed, d=seed % 4 == 0)))
    for seed in range(12):  # eigenvector condition up to 1e12
        out.append(("nonnormal", nonnormal_system(seed)[0]))
    return out


SYSTEMS = _systems()


def _reduce(sys):
    """The reduction, its rounding floor read at once (it is computed at its first read: by the
    paths switched on now)."""
    r = max(1, sys.n // 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AccuracyWarning)
        warnings.simplefilter("ignore", RankWarning)
        res = mor.balanced_truncation(sys, r)
        assert res.rounding >= 0
        return res


@pytest.mark.parametrize("kind, sys", SYSTEMS, ids=[f"{k}{i}" for i, (k, _) in enumerate(SYSTEMS)])
def test_reduction_equals_the_full_path(kind, sys, full_paths):
    cheap = _reduce(sys)
    full_paths()
    full = _reduce(sys)
    assert cheap.n_unstable == full.n_unstable
    s1 = full.hsv[full.n_unstable]  # (inf for kept unstable states: a pole numerically on the axis)
    # HSVs: absolute accuracy eps sigma_1 times the conditioning of the Gramians (both paths); for
    # eigenvector conditions up to 1e12 the documented agreement (with SLICOT) is ~1e-8 sigma_1
    atol = (1e-13 if kind == "random" else 1e-8) * s1
    np.testing.assert_allclose(cheap.hsv, full.hsv, rtol=0, atol=atol)
    assert cheap.order == full.order
    assert cheap.error_bound == pytest.approx(full.error_bound, rel=1e-9, abs=atol * sys.n)
    w = 1j * np.concatenate([[0.0], np.geomspace(1e-2, 1e2, 40)])
    G1, G2 = mor.transfer_function(cheap.reduced, w), mor.transfer_function(full.reduced, w)
    scale = np.abs(mor.transfer_function(sys, w)).max()
    # the reduced model is as well determined as its last kept value
    gap = full.hsv[full.order - 1] / s1 if full.order > full.n_unstable else 1.0
    if gap > 1e-6:  # ... and, for ill-conditioned systems, up to the rounding floor of G itself
        assert np.abs(G1 - G2).max() <= max(1e-8 * scale / gap, 10 * full.rounding)
    assert cheap.rounding == pytest.approx(full.rounding, rel=1e-6)


@pytest.mark.parametrize("m", [1, 2, 3])
@pytest.mark.parametrize("seed", range(6))
def test_sylvester_factor_equals_the_recurrence(m, seed):
    """Same Gramian ``U U^H``; SISO: the same triangular factor (real non-negative diagonal)."""
    rng = np.random.default_rng(seed)
    n = (3, 8, 17, 30, 40, 12)[seed]
    T = np.triu(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))) * 10.0 ** rng.uniform(-1, 1)
    T[np.diag_indices(n)] = -rng.uniform(1e-3, 2, n) + 1j * rng.uniform(-5, 5, n)
    B = rng.standard_normal((n, m)) + 1j * rng.standard_normal((n, m))
    U = triangular_lyapunov_factor(T, B)
    V = sylvester_lyapunov_factor(T, B)
    X, Y = U @ U.conj().T, V @ V.conj().T
    np.testing.assert_allclose(Y, X, rtol=0, atol=1e-12 * np.abs(X).max())
    residual = T @ Y + Y @ T.conj().T + B @ B.conj().T
    assert np.linalg.norm(residual) <= 1e-13 * (2 * np.linalg.norm(T) * np.linalg.norm(Y) + np.linalg.norm(B) ** 2)
    if m == 1:  # (the columns themselves are ill-conditioned: compared through U U^H above)
        assert np.array_equal(V, np.triu(V)) and np.all(V.diagonal().imag == 0) and np.all(V.diagonal().real >= 0)


def test_rounding_floor_without_inputs_or_outputs():
    sys = random_dense(6, 2, 2, seed=1)
    for B, C in ((sys.B[:, :0], sys.C), (sys.B, sys.C[:0])):
        empty = LTI(sys.A, B, C)
        floor = frequency.rounding_floor(empty, mor.complex_schur(sys.A))
        assert floor.shape == (1,) and np.isfinite(floor[0]) and floor[0] == 0.0


def test_sylvester_factor_edge_cases():
    assert sylvester_lyapunov_factor(np.zeros((0, 0), complex), np.zeros((0, 1))).shape == (0, 0)
    assert sylvester_lyapunov_factor(-np.eye(3, dtype=complex), np.zeros((3, 0))).shape == (3, 0)
    U = sylvester_lyapunov_factor(np.array([[-2.0 + 0j]]), np.array([[2.0]]))  # x = 4 / 4
    assert U[0, 0] == pytest.approx(1.0, rel=1e-15)


@pytest.mark.parametrize("seed", range(30))
def test_rounding_floor_equals_the_point_by_point_solves(seed, full_paths):
    sys = random_dense((3, 8, 16, 30, 64, 100)[seed % 6], 1 + seed % 3, 1 + seed % 2, complex_=seed % 2 == 1, seed=seed)
    form = mor.complex_schur(sys.A)
    cheap = frequency.rounding_floor(sys, form)
    full_paths()
    full = frequency.rounding_floor(sys, form)
    np.testing.assert_allclose(cheap, full, rtol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_schur_rotations_as_products_equal_the_row_and_column_ones(seed, full_paths):
    A = random_dense((2, 5, 16, 32)[seed % 4], seed=seed).A * 10.0 ** (seed - 4)
    T1, Z1 = mor.complex_schur(A)
    full_paths()
    T2, Z2 = mor.complex_schur(A)
    assert np.array_equal(T1.diagonal(), T2.diagonal())  # the exact eigenvalues of the blocks
    assert np.all(T1[np.tril_indices(A.shape[0], -1)] == 0)
    np.testing.assert_allclose(T1, T2, rtol=0, atol=1e-14 * np.abs(T2).max())
    np.testing.assert_allclose(Z1, Z2, rtol=0, atol=1e-14)


def test_from_checked_builds_a_frozen_system_of_one_dtype():
    A, B = -np.eye(2), np.ones((2, 1))
    sys = LTI.from_checked(A, B, np.ones((1, 2)) * 1j, np.zeros((1, 1)), 0.5)
    assert sys.is_complex and sys.A.dtype == sys.D.dtype == np.complex128 and sys.dt == 0.5 and sys.E is None
    with pytest.raises(ValueError):
        sys.B[0, 0] = 2.0
    real = LTI.from_checked(A, B, np.ones((1, 2)), np.zeros((1, 1)), None)
    assert not real.is_complex and real.A is A and not A.flags.writeable


def test_eigenvalues_by_geev_equal_numpys():
    """``linalg._arrays.eigenvalues`` (LAPACK ``geev`` directly) gives numpy's values and dtype rule."""
    arrays = importlib.import_module("mor.linalg._arrays")
    rng = np.random.default_rng(7)
    complex_ = rng.standard_normal((5, 5)) + 1j * rng.standard_normal((5, 5))
    cases = [rng.standard_normal((9, 9)), np.triu(rng.standard_normal((6, 6))), complex_, np.zeros((0, 0)), np.eye(1)]
    for A in cases:
        mine, ref = arrays.eigenvalues(A), np.linalg.eigvals(A)
        assert mine.dtype == ref.dtype and mine.shape == ref.shape
        np.testing.assert_allclose(np.sort_complex(mine), np.sort_complex(ref), rtol=1e-13, atol=1e-13)
    with pytest.raises(np.linalg.LinAlgError):  # non-finite entries: numpy's own refusal
        arrays.eigenvalues(np.array([[1.0, np.nan], [0.0, 1.0]]))
    sys = random_dense(7, 1, 1, seed=3)
    np.testing.assert_allclose(np.sort_complex(sys.poles()), np.sort_complex(np.linalg.eigvals(sys.A)), rtol=1e-13)


@pytest.mark.parametrize("scale", [1e150, 1e-150, 1e300])
def test_eigenvalues_of_matrices_near_the_range_limits_are_numpys(scale):
    """geev scales a matrix whose largest entry is outside ~[7e-139, 1.5e138]; scipy's LAPACK called directly
    returned the eigenvalues of that scaled copy (1.4e138 for 2.6e150), numpy's eigvals the right ones."""
    arrays = importlib.import_module("mor.linalg._arrays")
    rng = np.random.default_rng(7)
    cplx = rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))
    for A in (rng.standard_normal((5, 5)) * scale, cplx * scale):
        ref = np.sort_complex(np.linalg.eigvals(A))
        np.testing.assert_allclose(np.sort_complex(arrays.eigenvalues(A)), ref, rtol=1e-12)
        sys = LTI(A, np.ones((A.shape[0], 1)), np.ones((1, A.shape[0])))
        np.testing.assert_allclose(np.sort_complex(sys.poles()), ref, rtol=1e-12)


def test_as_array_fast_path_keeps_every_check():
    """float64/complex128 ndarrays skip the conversion, never the checks."""
    arrays = importlib.import_module("mor.linalg._arrays")
    A = np.eye(3)
    assert arrays.as_array(A, "A", copy=False) is A
    B = arrays.as_array(A, "A")
    assert B is not A and np.array_equal(A, B)
    assert arrays.as_array(A, "A", complex_=True).dtype == np.complex128  # conversion still applies
    assert arrays.as_array(A + 0j, "A", copy=False).dtype == np.complex128
    with pytest.raises(mor.errors.NonFiniteError, match=r"first at index \(1, 2\)"):
        arrays.as_array(np.array([[1.0, 2, 3], [4, 5, np.inf]]), "A")
    with pytest.raises(mor.errors.DimensionError):
        arrays.as_array(np.ones((2, 3)), "A", square=True)


def test_as_array_converts_non_native_byte_order():
    """A byte-swapped float64/complex128 array (dtype char ``d``/``D`` too) is not the target dtype: it is
    converted, so systems hold native arrays (scipy.sparse, torch and ``dtype == float64`` tests reject others)."""
    arrays = importlib.import_module("mor.linalg._arrays")
    for A in (np.eye(3).astype(">f8"), (np.eye(3) * 1j).astype(">c16")):
        for copy in (True, False):
            out = arrays.as_array(A, "A", copy=copy)
            assert out.dtype.isnative and out.dtype in (np.float64, np.complex128) and np.array_equal(out, A)
    rng = np.random.default_rng(2)
    A, B, C = rng.standard_normal((4, 4)) - 3 * np.eye(4), rng.standard_normal((4, 1)), rng.standard_normal((1, 4))
    E = np.eye(4) + 0.1 * rng.standard_normal((4, 4))
    swapped = LTI(A.astype(">f8"), B.astype(">f8"), C, E=E.astype(">f8"))
    assert all(x.dtype == np.float64 for x in (swapped.A, swapped.B, swapped.E))
    ref = mor.balanced_truncation(LTI(A, B, C, E=E), 2)
    res = mor.balanced_truncation(swapped, 2)  # (was: scipy.sparse's ValueError for the swapped E)
    np.testing.assert_allclose(res.hsv, ref.hsv, rtol=1e-12)


def test_matrix_fro_norm_matches_fro_norm():
    arrays = importlib.import_module("mor.linalg._arrays")
    rng = np.random.default_rng(0)
    for scale in (1e-200, 1e-160, 1.0, 1e160, 1e200):
        X = (rng.standard_normal((5, 3)) + 1j * rng.standard_normal((5, 3))) * scale
        with np.errstate(over="ignore", under="ignore"):  # (fro_norm rescales where the squares leave the range)
            assert arrays.matrix_fro_norm(X) == pytest.approx(float(arrays.fro_norm(X)), rel=1e-14)
    assert arrays.matrix_fro_norm(np.zeros((0, 3))) == 0.0 and arrays.matrix_fro_norm(np.zeros((2, 2))) == 0.0
