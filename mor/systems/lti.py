"""Linear time-invariant system types: dense :class:`LTI` and batched :class:`DiagonalLTI`.

Conventions (see ``docs/conventions.md``)::

    continuous (dt is None):  x'(t)  = A x(t) + B u(t),   y = C x + D u,   G(s) = C (sI - A)^-1 B + D
    discrete   (dt > 0):      x[k+1] = A x[k] + B u[k],   y = C x + D u,   G(z) = C (zI - A)^-1 B + D

Both classes are immutable: their arrays are read-only and validated on construction.
Sparse input (:mod:`scipy.sparse` matrices or arrays) is densified when the system has at most
:data:`DENSIFY_LIMIT` states; larger sparse systems are :class:`mor.SparseLTI` objects, which
:func:`mor.as_system` hands only to the routines that keep sparsity (``keep_sparse=True``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ArgumentConflictError, DimensionError, InvalidArgumentError, SystemTypeError
from ..linalg._arrays import as_array
from ..validation import check_real
from ._statespace import FrozenStateSpace

__all__ = ["LTI", "DiagonalLTI", "as_dense_system", "DENSIFY_LIMIT"]

#: Largest state dimension ``n`` of a sparse system that is densified transparently (by
#: :class:`LTI` and by :func:`mor.as_system` for the routines that work on dense matrices only).
#: Above it those routines raise :class:`~mor.errors.SystemTypeError` instead of allocating
#: an ``n x n`` array.
DENSIFY_LIMIT = 2000


def _densify(x: Any, name: str, n: int) -> Any:
    """A scipy.sparse input as a dense array when the system is small enough (else a typed error)."""
    if not (hasattr(x, "toarray") and type(x).__module__.startswith("scipy.sparse")):
        return x
    if n > DENSIFY_LIMIT:
        raise SystemTypeError(
            f"{name} is a sparse matrix of a system with n = {n} > DENSIFY_LIMIT = {DENSIFY_LIMIT} states: "
            "build a mor.SparseLTI (or pass a tuple to mor.as_system / mor.balanced_truncation) to keep it sparse"
        )
    return x.toarray()


def _check_dt(dt: Any) -> float | None:
    """``None`` (continuous time) or a positive, finite sampling period as a float."""
    if dt is None:
        return None
    return check_real(dt, "dt (None for continuous time, else the sampling period)", minimum=0.0, include_min=False)


def _freeze(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


def _kind(dt: float | None) -> str:
    return "continuous" if dt is None else f"discrete, dt={dt:g}"


class LTI(FrozenStateSpace):
    """Dense state-space system, real or complex, continuous or discrete time.

    Parameters
    ----------
    A : (n, n) array_like
        State matrix.
    B : (n, m) array_like
        Input matrix.
    C : (p, n) array_like
        Output matrix.
    D : (p, m) array_like, optional
        Feedthrough matrix; zero when omitted.
    dt : float or None, optional
        ``None`` for continuous time, a positive sampling period for discrete time.

    Notes
    -----
    All four matrices share one dtype: complex128 when any of them is complex,
    float64 otherwise.  The arrays are read-only.  :mod:`scipy.sparse` matrices are
    densified when ``n <= DENSIFY_LIMIT``; a larger sparse ``A`` raises
    :class:`~mor.errors.SystemTypeError` (use :class:`mor.SparseLTI`).

    Examples
    --------
    >>> import numpy as np
    >>> from mor import LTI
    >>> sys = LTI([[-1.0, 0.0], [1.0, -2.0]], [[1.0], [0.0]], [[0.0, 1.0]])
    >>> sys
    LTI(n=2, m=1, p=1, real, continuous)
    """

    __slots__ = ()

    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    D: np.ndarray
    dt: float | None

    def __init__(self, A: Any, B: Any, C: Any, D: Any = None, dt: float | None = None):
        # sparse matrices are densified (up to DENSIFY_LIMIT states); then each matrix is converted
        # (and checked) on its own first: ragged lists, tensors that need .detach() and the like
        # raise ArgumentTypeError naming the matrix
        n_in = getattr(A, "shape", (0,))[0]
        given = {"A": A, "B": B, "C": C} | ({} if D is None else {"D": D})
        given = {k: _densify(v, k, n_in) for k, v in given.items()}
        arrays = {k: as_array(v, k, copy=False) for k, v in given.items()}
        is_complex = any(np.iscomplexobj(x) for x in arrays.values())
        A = as_array(arrays["A"], "A", complex_=is_complex)
        B = as_array(arrays["B"], "B", complex_=is_complex)
        C = as_array(arrays["C"], "C", complex_=is_complex)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise DimensionError(f"A must be a square 2-D array, got shape {A.shape}")
        n = A.shape[0]
        if B.ndim != 2 or B.shape[0] != n:
            raise DimensionError(f"B must have shape (n, m) = ({n}, m), got {B.shape}")
        if C.ndim != 2 or C.shape[1] != n:
            raise DimensionError(f"C must have shape (p, n) = (p, {n}), got {C.shape}")
        p, m = C.shape[0], B.shape[1]
        if D is None:
            D = np.zeros((p, m), dtype=A.dtype)
        else:
            D = as_array(arrays["D"], "D", complex_=is_complex)
            if D.ndim == 0:
                D = np.full((p, m), D, dtype=D.dtype)
            if D.shape != (p, m):
                raise DimensionError(f"D must have shape (p, m) = ({p}, {m}), got {D.shape}")
        dt = _check_dt(dt)
        _freeze(A, B, C, D)
        self._store(A, B, C, D, dt)

    def poles(self) -> np.ndarray:
        """Eigenvalues of ``A``, shape ``(n,)``."""
        return np.linalg.eigvals(self.A) if self.n else np.zeros(0, dtype=complex)

    def __repr__(self) -> str:
        kind = "complex" if self.is_complex else "real"
        return f"LTI(n={self.n}, m={self.m}, p={self.p}, {kind}, {_kind(self.dt)})"

    # -- arithmetic (parallel connections) --------------------------------
    def _check_compatible(self, other: LTI) -> None:
        if (self.m, self.p) != (other.m, other.p):
            raise DimensionError(
                f"systems have different input/output sizes: (m, p) = {(self.m, self.p)} "
                f"and {(other.m, other.p)}"
            )
        if self.dt != other.dt:
            raise ArgumentConflictError(f"systems have different time bases: dt={self.dt} and dt={other.dt}")

    def __add__(self, other: Any) -> LTI:
        other = as_dense_system(other)
        if isinstance(other, DiagonalLTI):
            other = other.to_dense()
        self._check_compatible(other)
        n1, n2 = self.n, other.n
        dtype = np.result_type(self.A, other.A)
        A = np.zeros((n1 + n2, n1 + n2), dtype=dtype)
        A[:n1, :n1] = self.A
        A[n1:, n1:] = other.A
        B = np.concatenate([self.B, other.B], axis=0)
        C = np.concatenate([self.C, other.C], axis=1)
        return LTI(A, B, C, self.D + other.D, self.dt)

    def __neg__(self) -> LTI:
        return LTI(self.A, self.B, -self.C, -self.D, self.dt)

    def __sub__(self, other: Any) -> LTI:
        return self + (-as_dense_system(other))

    # -- interop ------------------------------------------------------------
    def to_scipy(self):
        """Return a :class:`scipy.signal.StateSpace` (real systems only in older scipy)."""
        from scipy import signal  # here, not at the top: scipy.signal doubles the import time of mor

        if self.dt is None:
            return signal.StateSpace(self.A, self.B, self.C, self.D)
        return signal.StateSpace(self.A, self.B, self.C, self.D, dt=self.dt)

    def to_control(self):
        """Return a :class:`control.StateSpace`.

        Raises
        ------
        SystemTypeError
            For complex systems: python-control would silently drop the imaginary parts.
        """
        import control  # optional dependency

        if self.is_complex:
            raise SystemTypeError(
                "python-control casts complex systems to real; refusing to drop the imaginary parts"
            )
        dt = 0 if self.dt is None else self.dt
        return control.ss(self.A, self.B, self.C, self.D, dt)

    @classmethod
    def from_scipy(cls, sys: Any) -> LTI:
        """Build from a :mod:`scipy.signal` ``StateSpace`` (or any ``lti``/``dlti``).

        Parameters
        ----------
        sys : scipy.signal.StateSpace, TransferFunction, ZerosPolesGain, lti or dlti
            Converted to state space first when needed; ``dt`` is kept.
        """
        try:
            ss = sys.to_ss() if hasattr(sys, "to_ss") else sys
        except ValueError as exc:  # improper transfer functions have no state-space realisation
            raise SystemTypeError(f"cannot convert {type(sys).__name__} to state space: {exc}") from exc
        dt = getattr(ss, "dt", None)
        return cls(ss.A, ss.B, ss.C, ss.D, dt if dt else None)

    @classmethod
    def from_control(cls, sys: Any) -> LTI:
        """Build from a :class:`control.StateSpace`.

        Parameters
        ----------
        sys : control.StateSpace or control.TransferFunction
            The system; ``dt=0`` is continuous time.  A transfer function is converted
            with ``control.ss`` (a minimal realisation of a proper transfer function).

        Raises
        ------
        SystemTypeError
            ``dt=True``, or an improper transfer function (no state-space realisation).

        Notes
        -----
        python-control uses ``dt=0`` for continuous time and ``dt=True`` for an
        unspecified sampling period; the latter is rejected because the
        sampling period matters (it sets ``exp(j w dt)``).
        """
        dt = sys.dt
        if dt is True:
            raise SystemTypeError(
                f"control.{type(sys).__name__} has dt=True (unspecified sampling period); give it a value"
            )
        if not hasattr(sys, "A"):  # a transfer function (or another python-control LTI object)
            import control  # optional dependency; the object came from it

            try:
                sys = control.ss(sys)
            except ValueError as exc:
                raise SystemTypeError(f"cannot convert {type(sys).__name__} to state space: {exc}") from exc
        return cls(sys.A, sys.B, sys.C, sys.D, dt if dt else None)


class DiagonalLTI:
    """Batched diagonal state-space systems: ``A = diag(poles)``.

    Parameters
    ----------
    poles : (..., n) array_like
        Eigenvalues of ``A`` (continuous: ``lambda``; discrete: ``z``).
    B : (..., n, m) array_like
        Input matrices.
    C : (..., p, n) array_like
        Output matrices.
    D : (..., p, m) array_like, optional
        Feedthrough; zero when omitted.
    dt : float or None, optional
        ``None`` for continuous time, a positive sampling period for discrete time.
    log_poles : (..., n) array_like, optional
        Discrete time only: ``mu`` with ``poles = exp(mu)``.  Passing ``mu``
        (for a zero-order-hold discretisation, ``lambda * dt``) keeps
        ``1 - z_i conj(z_j) = -expm1(mu_i + conj(mu_j))`` accurate when
        ``|z|`` is close to one.  Computed as ``log(poles)`` when omitted.

    Notes
    -----
    The leading (batch) dimensions of all arrays are broadcast against each
    other, so one object holds, for example, the ``H`` channels of a DSS layer
    (batch shape ``(H,)``) or all layers of a model.  Every routine of
    :mod:`mor` works on the whole batch at once.  ``poles``, ``B`` and ``C``
    are complex128; ``D`` is float64 unless given complex.

    Examples
    --------
    >>> import numpy as np
    >>> from mor import DiagonalLTI
    >>> poles = -0.5 + 1j * np.pi * np.arange(4)          # S4D-Lin, one channel
    >>> sys = DiagonalLTI(poles[None].repeat(3, 0), np.ones((3, 4, 1)), np.ones((3, 1, 4)))
    >>> sys
    DiagonalLTI(batch=(3,), n=4, m=1, p=1, continuous)
    """

    __slots__ = ("poles", "B", "C", "D", "dt", "_log_poles")

    poles: np.ndarray
    B: np.ndarray
    C: np.ndarray
    D: np.ndarray
    dt: float | None
    _log_poles: np.ndarray | None  # as given (None: computed from the poles on demand)

    def __init__(
        self,
        poles: Any,
        B: Any,
        C: Any,
        D: Any = None,
        dt: float | None = None,
        *,
        log_poles: Any = None,
    ):
        dt = _check_dt(dt)
        if log_poles is not None:
            if dt is None:
                raise ArgumentConflictError("log_poles is only meaningful for discrete-time systems (give dt)")
            log_poles = as_array(log_poles, "log_poles", complex_=True)
            if poles is None:
                poles = np.exp(log_poles)
        poles = as_array(poles, "poles", complex_=True)
        B = as_array(B, "B", complex_=True)
        C = as_array(C, "C", complex_=True)
        if poles.ndim < 1:
            raise DimensionError(f"poles must have shape (..., n), got {poles.shape}")
        n = poles.shape[-1]
        if B.ndim < 2 or B.shape[-2] != n:
            raise DimensionError(f"B must have shape (..., n, m) with n={n}, got {B.shape}")
        if C.ndim < 2 or C.shape[-1] != n:
            raise DimensionError(f"C must have shape (..., p, n) with n={n}, got {C.shape}")
        m, p = B.shape[-1], C.shape[-2]
        if D is None:
            D = np.zeros((p, m))
        else:
            D = as_array(D, "D")
            if D.ndim == 0:
                D = np.full((p, m), D, dtype=D.dtype)
            if D.ndim < 2 or D.shape[-2:] != (p, m):
                raise DimensionError(f"D must have shape (..., p, m) = (..., {p}, {m}), got {D.shape}")
        shapes = [poles.shape[:-1], B.shape[:-2], C.shape[:-2], D.shape[:-2]]
        if log_poles is not None:
            if log_poles.shape[-1:] != (n,):
                raise DimensionError(f"log_poles must have shape (..., {n}), got {log_poles.shape}")
            shapes.append(log_poles.shape[:-1])
        try:
            batch = np.broadcast_shapes(*shapes)
        except ValueError as exc:
            raise DimensionError(
                "batch dimensions of poles, B, C, D do not broadcast: "
                + ", ".join(str(s) for s in shapes)
            ) from exc
        poles = np.ascontiguousarray(np.broadcast_to(poles, batch + (n,)))
        B = np.ascontiguousarray(np.broadcast_to(B, batch + (n, m)))
        C = np.ascontiguousarray(np.broadcast_to(C, batch + (p, n)))
        D = np.ascontiguousarray(np.broadcast_to(D, batch + (p, m)))
        if log_poles is not None:
            log_poles = np.ascontiguousarray(np.broadcast_to(log_poles, batch + (n,)))
            if not np.allclose(np.exp(log_poles), poles, rtol=1e-12, atol=0):
                raise ArgumentConflictError("poles and exp(log_poles) disagree; pass only one of them")
        _freeze(*(a for a in (poles, B, C, D, log_poles) if a is not None))
        for name, value in zip(self.__slots__, (poles, B, C, D, dt, log_poles), strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self):
        return (_rebuild_diagonal, (self.poles, self.B, self.C, self.D, self.dt, self._log_poles))

    @classmethod
    def from_log_poles(cls, log_poles: Any, B: Any, C: Any, D: Any = None, dt: float = 1.0):
        """Discrete-time system with poles ``exp(log_poles)``, keeping ``log_poles`` exactly.

        Parameters
        ----------
        log_poles : (..., n) array_like
            ``mu``; the poles are ``z = exp(mu)``.  For a zero-order-hold
            discretisation of ``lambda`` with step ``Delta``: ``mu = lambda * Delta``.
        B, C, D, dt
            As for :class:`DiagonalLTI`.
        """
        return cls(None, B, C, D, dt, log_poles=log_poles)

    # -- shape and kind ---------------------------------------------------
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading batch dimensions."""
        return self.poles.shape[:-1]

    @property
    def n(self) -> int:
        """State dimension of each system."""
        return self.poles.shape[-1]

    @property
    def m(self) -> int:
        """Number of inputs."""
        return self.B.shape[-1]

    @property
    def p(self) -> int:
        """Number of outputs."""
        return self.C.shape[-2]

    @property
    def is_discrete(self) -> bool:
        """True for discrete-time systems."""
        return self.dt is not None

    @property
    def is_complex(self) -> bool:
        """Always True: diagonal systems are stored complex."""
        return True

    @property
    def log_poles(self) -> np.ndarray:
        """Discrete time: the log-poles ``mu`` with ``poles = exp(mu)``, shape ``(..., n)``.

        The values given to the constructor (for a zero-order hold, ``lambda * dt`` exactly),
        otherwise ``log(poles)`` (``-inf`` for a pole at ``0``).  Every discrete formula of
        :mod:`mor` is evaluated from them.

        Raises
        ------
        SystemTypeError
            For a continuous-time system (its poles have no logarithm convention).
        """
        if self.dt is None:
            raise SystemTypeError("log_poles (mu = log z) are defined for discrete-time systems only")
        if self._log_poles is not None:
            return self._log_poles
        with np.errstate(divide="ignore"):
            return np.log(self.poles)

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("an unbatched DiagonalLTI has no length")
        return self.batch_shape[0]

    def __getitem__(self, index: Any) -> DiagonalLTI:
        """Index the batch dimensions: ``sys[3]`` is the fourth system."""
        if not self.batch_shape:
            raise DimensionError("cannot index an unbatched DiagonalLTI")
        if not isinstance(index, tuple):
            index = (index,)
        if any(i is Ellipsis for i in index):
            raise InvalidArgumentError("Ellipsis indexing of a DiagonalLTI batch is not supported")
        poles = self.poles[index]
        if poles.ndim < 1:  # pragma: no cover - guarded by the trailing axis
            raise DimensionError("index removes the state dimension")
        extra = (slice(None),)
        return DiagonalLTI(
            poles,
            self.B[index + extra * 2],
            self.C[index + extra * 2],
            self.D[index + extra * 2],
            self.dt,
            log_poles=None if self._log_poles is None else self._log_poles[index],
        )

    def __repr__(self) -> str:
        batch = f"batch={self.batch_shape}, " if self.batch_shape else ""
        return f"DiagonalLTI({batch}n={self.n}, m={self.m}, p={self.p}, {_kind(self.dt)})"

    # -- conversions --------------------------------------------------------
    def to_dense(self) -> LTI:
        """The equivalent dense :class:`LTI` (unbatched systems only)."""
        if self.batch_shape:
            raise DimensionError(
                f"to_dense() needs a single system; this one has batch shape {self.batch_shape}: "
                "index it first, e.g. sys[0].to_dense()"
            )
        return LTI(np.diag(self.poles), self.B, self.C, self.D, self.dt)

    def __neg__(self) -> DiagonalLTI:
        return DiagonalLTI(self.poles, self.B, -self.C, -self.D, self.dt, log_poles=self._log_poles)

    def __add__(self, other: Any) -> Any:
        other = as_dense_system(other)
        if isinstance(other, LTI):
            return self.to_dense() + other
        if (self.m, self.p) != (other.m, other.p):
            raise DimensionError(f"cannot add {self!r} and {other!r}: input/output sizes differ")
        if self.dt != other.dt:
            raise ArgumentConflictError(f"cannot add {self!r} and {other!r}: time bases differ")
        batch = np.broadcast_shapes(self.batch_shape, other.batch_shape)

        def bc(x, tail):
            return np.broadcast_to(x, batch + tail)

        n1, n2, m, p = self.n, other.n, self.m, self.p
        poles = np.concatenate([bc(self.poles, (n1,)), bc(other.poles, (n2,))], axis=-1)
        B = np.concatenate([bc(self.B, (n1, m)), bc(other.B, (n2, m))], axis=-2)
        C = np.concatenate([bc(self.C, (p, n1)), bc(other.C, (p, n2))], axis=-1)
        log_poles = None
        if self.dt is not None and (self._log_poles is not None or other._log_poles is not None):
            log_poles = np.concatenate([bc(self.log_poles, (n1,)), bc(other.log_poles, (n2,))], axis=-1)
            poles = None
        return DiagonalLTI(poles, B, C, self.D + other.D, self.dt, log_poles=log_poles)

    def __sub__(self, other: Any) -> Any:
        return self + (-as_dense_system(other))


def _rebuild_diagonal(poles, B, C, D, dt, log_poles):
    return DiagonalLTI(None if log_poles is not None else poles, B, C, D, dt, log_poles=log_poles)


def as_dense_system(sys: Any) -> LTI | DiagonalLTI:
    """Interpret ``sys`` as an :class:`LTI` or :class:`DiagonalLTI`, densifying a small sparse system.

    The dense half of :func:`mor.as_system` (which also builds a :class:`mor.SparseLTI` from a
    tuple with a sparse ``A`` first): this module knows the sparse type only through their common
    base, so that the import arrows run ``sparse -> lti`` and never back.

    Parameters
    ----------
    sys : object
        ``LTI`` or ``DiagonalLTI`` (returned unchanged), :class:`mor.SparseLTI` of at most
        ``DENSIFY_LIMIT`` states, :class:`control.StateSpace` or ``TransferFunction``,
        :mod:`scipy.signal` ``StateSpace``/``lti``/``dlti``, or a tuple ``(A, B, C[, D[, dt]])``.

    Returns
    -------
    LTI or DiagonalLTI

    Raises
    ------
    SystemTypeError
        When ``sys`` is none of these, a transfer function that is improper (no state-space
        realisation), or sparse with ``n > DENSIFY_LIMIT``.
    """
    if isinstance(sys, (LTI, DiagonalLTI)):
        return sys
    if isinstance(sys, FrozenStateSpace):  # the sparse system type (mor.SparseLTI)
        if sys.n > DENSIFY_LIMIT:
            raise SystemTypeError(
                f"this routine works on dense matrices, and the sparse system has n = {sys.n} > "
                f"DENSIFY_LIMIT = {DENSIFY_LIMIT} states; the routines that keep sparsity are "
                "balanced_truncation, low_rank_gramians, transfer_function and frequency_response "
                "(or densify explicitly with sys.to_dense(force=True))"
            )
        return sys.to_dense()
    if isinstance(sys, tuple):
        if not 3 <= len(sys) <= 5:
            raise SystemTypeError(
                f"a system tuple must be (A, B, C), (A, B, C, D) or (A, B, C, D, dt); got length {len(sys)}"
            )
        return LTI(*sys)
    module = type(sys).__module__ or ""
    if module.startswith("control") and hasattr(sys, "dt") and (hasattr(sys, "A") or hasattr(sys, "num")):
        return LTI.from_control(sys)
    if module.startswith("scipy.signal"):
        try:
            return LTI.from_scipy(sys)
        except AttributeError as exc:
            raise SystemTypeError(f"cannot convert scipy object {sys!r} to state space: {exc}") from exc
    raise SystemTypeError(
        f"expected mor.LTI, mor.DiagonalLTI, mor.SparseLTI, control.StateSpace or TransferFunction, a scipy.signal "
        "system or a "
        f"tuple (A, B, C[, D[, dt]]); got {type(sys).__name__}"
    )
