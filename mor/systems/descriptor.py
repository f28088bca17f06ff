"""Descriptor systems ``E x' = A x + B u``: exact elimination of algebraic states, and the standard form.

Conventions (``E`` square; ``^H`` the conjugate transpose)::

    continuous:  E x'(t)  = A x(t) + B u(t),   y = C x + D u,   G(s) = C (s E - A)^-1 B + D
    discrete:    E x[k+1] = A x[k] + B u[k],   y = C x + D u,   G(z) = C (z E - A)^-1 B + D

:class:`mor.LTI` and :class:`mor.SparseLTI` carry ``E`` (``E=``).  The Gramian routines solve the
generalised Lyapunov equations (:mod:`mor.gramians.descriptor` for dense systems, the generalised
ADI of :mod:`mor.gramians.lowrank` for sparse ones).  Every other routine of :mod:`mor` (norms,
responses, balanced truncation's projection, modal truncation, IRKA, discretisation) sees a
descriptor :class:`mor.LTI` through :func:`mor.as_system` as its standard form
``(E^-1 A, E^-1 B, C, D)`` (:func:`standard_form`, one LU factorisation of ``E``), which has the
same transfer function; reduced models are therefore returned with ``E_r = I``.  For
:func:`mor.balanced_truncation` this means: the Hankel singular values are those of the
descriptor system (tested against the generalised Gramians), and ``V``, ``W`` of the result
project the standard form (``W^H V = I``, ``A_r = W^H E^-1 A V``; ``E^-H W`` projects ``A``
itself).  On the low-rank route of a sparse descriptor system the Gramian factors are computed on
the pencil, and the certificate holds ``Y_std = E^H Y``, the factor of the standard form's
observability Gramian ``E^H Q E``.

Singular ``E`` of index 1 in semi-explicit form, ``E = diag(E11, 0)`` after a symmetric
permutation of the states (the algebraic states are those whose row and column of ``E`` are zero)
with ``A22`` non-singular: :func:`eliminate_algebraic` removes the algebraic states exactly by
the (sparse) Schur complement::

    A_r = A11 - A12 A22^-1 A21,   B_r = B1 - A12 A22^-1 B2,
    C_r = C1 - C2 A22^-1 A21,     D_r = D - C2 A22^-1 B2,       E_r = E11

Importing this module registers :func:`as_standard_system` as the ``"standard_form"`` operation
of the system types (:data:`mor.systems.lti.OPERATIONS`, used by :meth:`mor.LTI.to_control`).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sps
import scipy.sparse.linalg as spla

from ..errors import AccuracyWarning, DimensionError, SystemTypeError
from .lti import LTI, OPERATIONS
from .sparse import SparseLTI

__all__ = ["E_COND_WARN", "as_standard_system", "eliminate_algebraic", "standard_form"]

logger = logging.getLogger(__name__)

#: ``E`` with an estimated condition number above this gives an AccuracyWarning when a routine
#: works on the standard form ``E^-1 A`` (its rounding errors grow with ``cond(E)``).
E_COND_WARN = 1e8


def standard_form(sys: Any) -> Any:
    """The standard-form system ``(E^-1 A, E^-1 B, C, D)`` of a dense descriptor :class:`mor.LTI`.

    Same transfer function ``C (s E - A)^-1 B + D = C (s I - E^-1 A)^-1 E^-1 B + D``, same
    controllability Gramian ``P``; its observability Gramian is ``E^H Q E``.  One LU
    factorisation of ``E``.

    Parameters
    ----------
    sys : LTI
        The system; returned unchanged when ``sys.E`` is ``None``.

    Returns
    -------
    LTI
        Without a descriptor matrix.

    Raises
    ------
    SystemTypeError
        ``E`` singular (semi-explicit index-1 systems: :func:`eliminate_algebraic` first).

    Warns
    -----
    AccuracyWarning
        ``cond(E)`` (estimated) above :data:`E_COND_WARN`: the standard form carries rounding
        errors of about ``cond(E) eps``.
    """
    if sys.E is None:
        return sys
    with warnings.catch_warnings():  # an exactly singular E: judged from the pivots below
        warnings.simplefilter("ignore", sla.LinAlgWarning)
        lu, piv = sla.lu_factor(sys.E, check_finite=False)
    diag = np.abs(np.diag(lu))
    if sys.n and (diag.min() == 0 or diag.min() <= sys.n * np.finfo(float).eps * diag.max()):
        raise SystemTypeError(
            "E is singular: no standard form exists.  A semi-explicit index-1 system (E = diag(E11, 0) after a "
            "permutation, A22 invertible) is reduced by mor.systems.descriptor.eliminate_algebraic"
        )
    if sys.n:
        rcond = _rcond(lu, sys.E)
        if rcond < 1.0 / E_COND_WARN:
            warnings.warn(
                AccuracyWarning(
                    f"E is ill-conditioned (condition number ~{1 / rcond:.1e}): the standard form E^-1 A used by "
                    "this routine carries rounding errors of that size times eps"
                ),
                stacklevel=4,
            )
    AB = sla.lu_solve((lu, piv), np.concatenate([sys.A, sys.B], axis=1), check_finite=False)
    return LTI(AB[:, : sys.n], AB[:, sys.n :], sys.C, sys.D, sys.dt)


def _rcond(lu: np.ndarray, E: np.ndarray) -> float:
    """Reciprocal 1-norm condition estimate of ``E`` from its LU factors (LAPACK ``gecon``)."""
    gecon = sla.get_lapack_funcs("gecon", (lu,))
    rcond, _ = gecon(lu, float(np.abs(E).sum(axis=0).max()), norm="1")
    return float(rcond)


# --------------------------------------------------------------------------- index 1
def _algebraic_states(E: Any) -> np.ndarray:
    """Mask of the states whose row and column of ``E`` are exactly zero."""
    Ec = sps.csr_matrix(E, copy=True)  # a copy: the stored matrices are read-only
    Ec.eliminate_zeros()
    rows = np.diff(Ec.indptr) > 0
    cols = np.diff(Ec.tocsc().indptr) > 0
    return ~(rows | cols)


def eliminate_algebraic(sys: Any) -> Any:
    """Eliminate the algebraic states of a semi-explicit index-1 descriptor system exactly.

    With the algebraic states (zero row and column of ``E``) last, ``E = diag(E11, 0)``::

        E11 x1' = A11 x1 + A12 x2 + B1 u,   0 = A21 x1 + A22 x2 + B2 u,   y = C1 x1 + C2 x2 + D u

    and ``x2 = -A22^-1 (A21 x1 + B2 u)`` gives the system
    ``(A11 - A12 A22^-1 A21, B1 - A12 A22^-1 B2, C1 - C2 A22^-1 A21, D - C2 A22^-1 B2)`` with
    ``E_r = E11``, the same transfer function ``C (s E - A)^-1 B + D``.  ``A22`` is factorised
    once (sparse LU for a :class:`mor.SparseLTI`); the Schur complement stays sparse when
    ``A12 A22^-1 A21`` is (block-diagonal ``A22``, as in networks with local constraints).

    Parameters
    ----------
    sys : LTI or SparseLTI
        A descriptor system (``sys.E`` not ``None``).

    Returns
    -------
    LTI or SparseLTI
        Of the same type, with ``E = E11`` (``None`` when ``E11`` is the identity), or ``sys``
        itself when no state is algebraic.

    Raises
    ------
    SystemTypeError
        ``E11`` singular (``E`` not semi-explicit: singular without zero rows and columns to
        match), or ``A22`` singular (index higher than 1).
    """
    if sys.E is None:
        return sys
    alg = _algebraic_states(sys.E)
    if not alg.any():
        return sys
    d, a = np.flatnonzero(~alg), np.flatnonzero(alg)
    sparse = isinstance(sys, SparseLTI)
    A = sps.csr_matrix(sys.A)
    E11 = sps.csr_matrix(sys.E)[d][:, d]
    A11, A12, A21, A22 = A[d][:, d], A[d][:, a], A[a][:, d], A[a][:, a]
    lu = _factor(A22, "A22 (the algebraic block of A)", "the system has index higher than 1 (A22 singular)")
    dtype = _rhs_dtype(lu, sys)
    X = _solve_sparse(lu, A21.tocsc(), dtype)  # A22^-1 A21, sparse
    Y = lu.solve(np.ascontiguousarray(sys.B[a], dtype=dtype))  # A22^-1 B2
    nd = len(d)
    Ar = A11 - A12 @ X
    Br = sys.B[d] - A12 @ Y
    Cr = sys.C[:, d] - (X.T @ sys.C[:, a].T).T
    Dr = sys.D - sys.C[:, a] @ Y
    if nd:
        _factor(E11, "E11 (the differential block of E)",
                "E is singular but not semi-explicit of index 1 (E11 = E[d, d] is singular)")
    eye = sps.identity(nd, format="csr", dtype=E11.dtype)
    Er = None if (E11 != eye).nnz == 0 else E11
    logger.info("eliminated %d algebraic states (index 1); %d differential states remain", len(a), nd)
    if sparse:
        return SparseLTI(Ar, Br, Cr, Dr, sys.dt, E=Er)
    return LTI(Ar.toarray(), Br, Cr, Dr, sys.dt, E=None if Er is None else Er.toarray())


def _solve_sparse(lu: spla.SuperLU, M: sps.csc_matrix, dtype: type, block: int = 256) -> sps.csr_matrix:
    """``A22^-1 M`` as a sparse matrix (exact zeros dropped), solved ``block`` columns at a time."""
    cols = [sps.csc_matrix(np.asarray(lu.solve(np.ascontiguousarray(M[:, j:j + block].toarray(), dtype=dtype))))
            for j in range(0, M.shape[1], block)]
    out = sps.hstack(cols, format="csr") if cols else sps.csr_matrix(M.shape, dtype=dtype)
    out.eliminate_zeros()
    return out


def _rhs_dtype(lu: spla.SuperLU, sys: Any) -> type:
    """The dtype of right-hand sides for the factorisation ``lu`` of a block of ``sys``."""
    return np.complex128 if (sys.is_complex or lu.L.dtype.kind == "c") else np.float64


def _factor(M: sps.spmatrix, what: str, meaning: str) -> spla.SuperLU:
    """Sparse LU of ``M``; a singular ``M`` raises :class:`SystemTypeError` saying what it means."""
    if M.shape[0] != M.shape[1]:  # pragma: no cover - blocks of a square matrix on one index set
        raise DimensionError(f"{what} is not square: {M.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", sps.linalg.MatrixRankWarning)
        try:
            lu = spla.splu(sps.csc_matrix(M))
        except (RuntimeError, sps.linalg.MatrixRankWarning) as exc:
            raise SystemTypeError(f"{meaning}: the sparse LU of {what} failed ({exc})") from exc
    d = np.abs(lu.U.diagonal())
    if d.size and (d.min() == 0 or d.min() <= M.shape[0] * np.finfo(float).eps * d.max()):
        raise SystemTypeError(f"{meaning}: {what} is numerically singular")
    return lu


def as_standard_system(sys: LTI) -> LTI:
    """A dense descriptor system without ``E``: algebraic states eliminated, then the standard form.

    Parameters
    ----------
    sys : LTI
        The system (returned unchanged without ``E``).

    Returns
    -------
    LTI
        ``standard_form(eliminate_algebraic(sys))``: the same transfer function.
    """
    return standard_form(eliminate_algebraic(sys))


OPERATIONS["standard_form"] = as_standard_system
