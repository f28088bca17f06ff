"""Large sparse state-space systems: :class:`SparseLTI`, and their transfer function.

A :class:`SparseLTI` keeps ``A`` as a :mod:`scipy.sparse` matrix (``B``, ``C``, ``D`` are dense:
a few inputs and outputs); the conventions are those of :class:`mor.LTI`::

    continuous (dt is None):  x'(t)  = A x(t) + B u(t),   y = C x + D u,   G(s) = C (sI - A)^-1 B + D
    discrete   (dt > 0):      x[k+1] = A x[k] + B u[k],   y = C x + D u,   G(z) = C (zI - A)^-1 B + D

Routines that keep the sparsity: :func:`mor.balanced_truncation` (low-rank route),
:func:`mor.low_rank_gramians`, :func:`mor.transfer_function` and :func:`mor.frequency_response`
(one sparse LU factorisation per point).  Every other routine goes through
:func:`mor.as_system`, which densifies a system of order ``n <= mor.systems.DENSIFY_LIMIT``
transparently and raises :class:`~mor.errors.SystemTypeError` for a larger one (never a
``MemoryError``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla

from ..errors import ArgumentConflictError, DimensionError, InvalidArgumentError, NonFiniteError, SystemTypeError
from ..linalg._arrays import as_array
from ..validation import check_memory
from . import lti as systems
from ._statespace import FrozenStateSpace
from .lti import LTI, operation

__all__ = ["SparseLTI", "as_sparse_system", "is_sparse", "sparse_transfer"]

logger = logging.getLogger(__name__)

#: Largest number of entries of ``B`` or ``C`` held densely (``n * m``, ``p * n``): 2**26 (512 MiB).
MAX_DENSE_ENTRIES = 2**26


def is_sparse(x: Any) -> bool:
    """Whether ``x`` is a :mod:`scipy.sparse` matrix or array.

    Parameters
    ----------
    x : object
        Anything.

    Returns
    -------
    bool
    """
    return sps.issparse(x)


def _is_complex(x: Any) -> bool:
    """Whether ``x`` holds complex numbers (any sparse format: DOK has no ``.data`` array, so ask the dtype)."""
    if sps.issparse(x):
        return np.issubdtype(x.dtype, np.complexfloating)
    return np.iscomplexobj(np.asarray(x))


def _sparse_matrix(A: Any, dtype: type, name: str = "A") -> sps.csr_matrix:
    """``A`` (sparse or dense) as a canonical CSR matrix of ``dtype`` with finite, read-only data."""
    try:
        M = sps.csr_matrix(A, dtype=dtype, copy=True)
    except (TypeError, ValueError) as exc:
        raise SystemTypeError(f"{name} could not be converted to a sparse matrix: {exc}") from exc
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise DimensionError(f"{name} must be a square matrix, got shape {M.shape}")
    M.sum_duplicates()
    M.eliminate_zeros()
    if not np.all(np.isfinite(M.data)):
        raise NonFiniteError(f"{name} contains {int(np.sum(~np.isfinite(M.data)))} non-finite entries")
    for arr in (M.data, M.indices, M.indptr):
        arr.setflags(write=False)
    return M


def _thin(X: Any, name: str, dtype_complex: bool, rows: int | None, cols: int | None) -> np.ndarray:
    """A dense input/output matrix, densified from sparse input only when it is small enough."""
    if sps.issparse(X):
        if np.prod(X.shape) > MAX_DENSE_ENTRIES:
            raise DimensionError(
                f"{name} has shape {X.shape}: too many inputs/outputs to hold densely "
                f"(more than {MAX_DENSE_ENTRIES} entries); low-rank methods need few of them"
            )
        X = X.toarray()
    arr = as_array(X, name, complex_=dtype_complex)
    if arr.ndim != 2:
        raise DimensionError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if rows is not None and arr.shape[0] != rows:
        raise DimensionError(f"{name} must have {rows} rows, got shape {arr.shape}")
    if cols is not None and arr.shape[1] != cols:
        raise DimensionError(f"{name} must have {cols} columns, got shape {arr.shape}")
    return arr


class SparseLTI(FrozenStateSpace):
    """State-space system with a sparse state matrix, real or complex, continuous or discrete.

    Parameters
    ----------
    A : (n, n) scipy.sparse matrix or array, or array_like
        State matrix; stored as a read-only CSR matrix (explicit zeros dropped).
    B : (n, m) array_like or scipy.sparse
        Input matrix (held densely).
    C : (p, n) array_like or scipy.sparse
        Output matrix (held densely).
    D : (p, m) array_like, optional
        Feedthrough matrix; zero when omitted.
    dt : float, bool or None, optional
        ``None`` (or ``0``) for continuous time, a positive sampling period for discrete time
        (``True`` or ``-1``: ``1.0``, as for :class:`mor.LTI`).
    E : (n, n) scipy.sparse matrix or array_like, optional
        Descriptor matrix (``E x' = A x + B u``, ``G(s) = C (s E - A)^-1 B + D``), stored as a
        read-only CSR matrix; ``None`` (or the identity) for a standard system.  A singular ``E`` is
        accepted in the semi-explicit index-1 form (zero rows and columns for the algebraic
        states), whose algebraic states :func:`mor.as_system` eliminates
        (:func:`mor.systems.descriptor.eliminate_algebraic`).

    Notes
    -----
    All matrices share one dtype: complex128 when any of them is complex, float64 otherwise.
    ``B`` and ``C`` are dense: a sparse ``B`` or ``C`` with more than 2**26 entries raises
    :class:`~mor.errors.DimensionError` (the low-rank methods need few inputs and outputs).

    Examples
    --------
    >>> import scipy.sparse as sps
    >>> from mor import SparseLTI
    >>> A = sps.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(5000, 5000))
    >>> sys = SparseLTI(A, sps.eye(5000, 1), sps.eye(1, 5000, 4999))
    >>> sys
    SparseLTI(n=5000, nnz=14998, m=1, p=1, real, continuous)
    """

    __slots__ = ("E",)

    A: sps.csr_matrix
    B: np.ndarray
    C: np.ndarray
    D: np.ndarray
    dt: float | None
    E: sps.csr_matrix | None

    def __init__(self, A: Any, B: Any, C: Any, D: Any = None, dt: float | None = None, *, E: Any = None):
        parts = [A, B, C] + ([] if D is None else [D]) + ([] if E is None else [E])
        is_complex = any(_is_complex(x) for x in parts)
        A = _sparse_matrix(A, np.complex128 if is_complex else np.float64)
        n = A.shape[0]
        B = _thin(B, "B", is_complex, n, None)
        C = _thin(C, "C", is_complex, None, n)
        p, m = C.shape[0], B.shape[1]
        if D is None:
            D = np.zeros((p, m), dtype=A.dtype)
        else:
            D = as_array(D.toarray() if sps.issparse(D) else D, "D", complex_=is_complex)
            if D.ndim == 0:
                D = np.full((p, m), D, dtype=D.dtype)
            if D.shape != (p, m):
                raise DimensionError(f"D must have shape (p, m) = ({p}, {m}), got {D.shape}")
        dt = systems.check_dt(dt)  # the one rule for dt, shared with LTI
        if E is not None:
            E = _sparse_matrix(E, A.dtype, "E")
            if E.shape != A.shape:
                raise DimensionError(f"E must have the shape of A, {A.shape}, got {E.shape}")
            if (E != sps.identity(n, format="csr")).nnz == 0:
                E = None
        for arr in (B, C, D):
            arr.setflags(write=False)
        self._store(A, B, C, D, dt)
        object.__setattr__(self, "E", E)

    def __reduce__(self):
        return (_rebuild_sparse, (self.A, self.B, self.C, self.D, self.dt, self.E))

    @property
    def nnz(self) -> int:
        """Number of stored non-zero entries of ``A``."""
        return int(self.A.nnz)

    def __repr__(self) -> str:
        kind = "complex" if self.is_complex else "real"
        time = "continuous" if self.dt is None else f"discrete, dt={self.dt:g}"
        desc = ", descriptor" if self.E is not None else ""
        return f"SparseLTI(n={self.n}, nnz={self.nnz}, m={self.m}, p={self.p}, {kind}{desc}, {time})"

    def __call__(self, s: Any) -> np.ndarray:
        """The transfer function ``C (s E - A)^-1 B + D`` at ``s`` (:func:`mor.transfer_function`).

        Parameters
        ----------
        s : complex or (k,) array_like
            Evaluation point(s) (discrete: ``z``).

        Returns
        -------
        (p, m) or (k, p, m) complex ndarray
        """
        return operation("transfer")(self, s)

    # -- conversions --------------------------------------------------------
    def to_dense(self, *, force: bool = False) -> LTI:
        """The same system as a dense :class:`mor.LTI`.

        Parameters
        ----------
        force : bool
            Densify even above ``mor.systems.DENSIFY_LIMIT`` states (an ``n x n`` array of
            ``8 n^2`` or ``16 n^2`` bytes: the caller's responsibility).

        Raises
        ------
        SystemTypeError
            ``n > DENSIFY_LIMIT`` without ``force=True``.
        MemoryLimitError
            The ``n x n`` array does not fit in the memory available (checked before allocating).
        """
        limit = systems.DENSIFY_LIMIT
        if self.n > limit and not force:
            raise SystemTypeError(
                f"to_dense() of a sparse system with n = {self.n} > DENSIFY_LIMIT = {limit} states "
                f"needs force=True (it allocates {self.n}^2 entries)"
            )
        check_memory(
            float(self.A.dtype.itemsize) * self.n * self.n, f"to_dense() of a sparse system with n = {self.n} states",
            "keep the system sparse (balanced_truncation, low_rank_gramians, transfer_function and "
            "frequency_response work on it)",
        )  # fmt: skip
        E = None if self.E is None else np.asarray(self.E.toarray())
        return LTI(np.asarray(self.A.toarray()), self.B, self.C, self.D, self.dt, E=E)

    def to_control(self):
        """A :class:`control.StateSpace` of the dense system (python-control has no sparse type).

        Raises
        ------
        SystemTypeError
            ``n > DENSIFY_LIMIT`` (densify explicitly with ``to_dense(force=True).to_control()``),
            or a complex system.
        """
        return self.to_dense().to_control()

    def __neg__(self) -> SparseLTI:
        return SparseLTI(self.A, self.B, -self.C, -self.D, self.dt, E=self.E)

    def __add__(self, other: Any) -> SparseLTI:
        """Parallel connection ``G1 + G2`` (block-diagonal ``A``), kept sparse."""
        other = as_sparse_system(other)
        if (self.m, self.p) != (other.m, other.p):
            raise DimensionError(
                f"systems have different input/output sizes: (m, p) = {(self.m, self.p)} and {(other.m, other.p)}"
            )
        if self.dt != other.dt:
            raise ArgumentConflictError(f"systems have different time bases: dt={self.dt} and dt={other.dt}")
        A = sps.block_diag([self.A, other.A], format="csr")
        B = np.concatenate([self.B, other.B], axis=0)
        C = np.concatenate([self.C, other.C], axis=1)
        E = None
        if self.E is not None or other.E is not None:
            E = sps.block_diag([_mass(self), _mass(other)], format="csr")
        return SparseLTI(A, B, C, self.D + other.D, self.dt, E=E)

    __radd__ = __add__

    def __sub__(self, other: Any) -> SparseLTI:
        return self + (-as_sparse_system(other))

    def __rsub__(self, other: Any) -> SparseLTI:
        return as_sparse_system(other) + (-self)


def _rebuild_sparse(A, B, C, D, dt, E):
    return SparseLTI(A, B, C, D, dt, E=E)


def _mass(sys: SparseLTI) -> sps.csr_matrix:
    """``E`` of a sparse system, the identity when it has none."""
    return sps.identity(sys.n, format="csr", dtype=sys.dtype) if sys.E is None else sys.E


def as_sparse_system(sys: Any) -> SparseLTI:
    """``sys`` as one :class:`SparseLTI` (dense and unbatched diagonal systems are converted).

    A descriptor system keeps its ``E`` (as it is: the algebraic states of an index-1 system are
    eliminated by the routines that need it, :func:`mor.systems.descriptor.eliminate_algebraic`).

    Raises
    ------
    InvalidArgumentError
        For a batch of diagonal systems.
    SystemTypeError
        When ``sys`` is no system :func:`mor.as_system` accepts.
    """
    if isinstance(sys, SparseLTI):
        return sys
    if isinstance(sys, tuple) and 3 <= len(sys) <= 5 and is_sparse(sys[0]):
        return SparseLTI(*sys)
    sys = systems.as_dense_system(sys)
    if isinstance(sys, systems.DiagonalLTI):
        if sys.batch_shape:
            raise InvalidArgumentError("a sparse system is one system, not a batch of diagonal systems")
        sys = sys.to_dense()
    E = None if sys.E is None else sps.csr_matrix(sys.E)
    return SparseLTI(sps.csr_matrix(sys.A), sys.B, sys.C, sys.D, sys.dt, E=E)


def sparse_transfer(sys: SparseLTI, points: np.ndarray) -> np.ndarray:
    """``G(s) = C (s E - A)^-1 B + D`` at each point, one sparse LU factorisation per point.

    Parameters
    ----------
    sys : SparseLTI
        The system (``E = I`` when ``sys.E`` is ``None``; a singular ``E``, such as a
        differential-algebraic system's, is evaluated as it is).
    points : (k,) ndarray, complex
        Evaluation points ``s`` (for discrete systems ``z``).

    Returns
    -------
    G : (k, p, m) ndarray, complex
        ``inf`` entries where ``s I - A`` is exactly singular (a point on a pole).

    Notes
    -----
    Each point costs one ``scipy.sparse.linalg.splu`` factorisation of ``s E - A`` (ordering
    ``MMD_AT_PLUS_A``) and a solve with ``min(m, p)`` right-hand sides (``B``, or ``C^H`` with the
    conjugate-transposed factors when there are fewer outputs than inputs).
    """
    A = sys.A.tocsc()
    eye = _mass(sys).astype(np.complex128).tocsc()
    G = np.empty((len(points), sys.p, sys.m), dtype=np.complex128)
    by_outputs = sys.p < sys.m
    for k, s in enumerate(points):
        try:
            lu = spla.splu((s * eye - A).tocsc(), permc_spec="MMD_AT_PLUS_A")
        except RuntimeError:  # exactly singular: s is a pole
            G[k] = np.inf
            continue
        if by_outputs:
            X = lu.solve(np.ascontiguousarray(sys.C.conj().T, dtype=np.complex128), trans="H")
            G[k] = X.conj().T @ sys.B
        else:
            G[k] = sys.C @ lu.solve(np.ascontiguousarray(sys.B, dtype=np.complex128))
    logger.debug("sparse transfer function: %d points, n = %d", len(points), sys.n)
    return G + sys.D
