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

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._display import format_matrices
from ..errors import ArgumentConflictError, DimensionError, InvalidArgumentError, MorError, SystemTypeError
from ..linalg._arrays import as_array, eigenvalues
from ..validation import check_real
from ._statespace import FrozenStateSpace
from .realform import real_diagonal_matrices

__all__ = [
    "DENSIFY_LIMIT",
    "LTI",
    "OPERATIONS",
    "UNSPECIFIED_DT",
    "DiagonalLTI",
    "as_dense_system",
    "check_dt",
    "operation",
]

#: The operations of the system types that are implemented by modules above this one, by name.
#: Those modules enter their functions here when they are imported (and importing any part of
#: :mod:`mor` imports them all, through the package's ``__init__``), so that the types offer
#: python-control's habits without importing upwards:
#:
#: ==================  ===================================  ======================================
#: name                filled by                            used by
#: ==================  ===================================  ======================================
#: ``"series"``        :mod:`mor.systems.interconnect`      ``*`` (both operand orders)
#: ``"parallel"``      :mod:`mor.systems.interconnect`      ``+``, ``-`` (both operand orders)
#: ``"feedback"``      :mod:`mor.systems.interconnect`      :meth:`LTI.feedback`
#: ``"standard_form"`` :mod:`mor.systems.descriptor`        :meth:`LTI.to_control` of ``E`` systems
#: ``"transfer"``      :mod:`mor.analysis.response`         ``sys(s)``
#: ==================  ===================================  ======================================
OPERATIONS: dict[str, Callable[..., Any]] = {}


def operation(name: str) -> Callable[..., Any]:
    """The function registered in :data:`OPERATIONS` under ``name``.

    Parameters
    ----------
    name : str
        A key of :data:`OPERATIONS`.

    Returns
    -------
    callable

    Raises
    ------
    MorError
        Nothing registered under ``name`` (the module that implements it was not imported:
        ``import mor`` imports them all).
    """
    try:
        return OPERATIONS[name]
    except KeyError:
        raise MorError(f"the operation {name!r} of the system types is not registered: import mor first") from None

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


#: The sampling period given to a discrete system whose period python-control leaves unspecified
#: (``dt=True`` or ``dt=-1``): one time unit, so frequencies are in rad/sample.
UNSPECIFIED_DT = 1.0


def check_dt(dt: Any) -> float | None:
    """``None`` (continuous time) or a positive, finite sampling period as a float.

    python-control's conventions are accepted too: ``dt=0`` (and ``False``) is continuous time,
    ``dt=True`` and ``dt=-1`` (discrete, period unspecified) become :data:`UNSPECIFIED_DT`.

    Parameters
    ----------
    dt : float, bool or None
        The time base as given.

    Returns
    -------
    float or None

    Raises
    ------
    ArgumentTypeError
        Not a number (nor a bool or ``None``).
    InvalidArgumentError
        Negative (other than ``-1``), infinite or NaN.
    """
    number = isinstance(dt, (int, float, np.number)) and not isinstance(dt, (bool, np.bool_))
    if dt is None or dt is False or (number and dt == 0):
        return None
    if dt is True or (number and dt == -1):
        return UNSPECIFIED_DT
    return check_real(
        dt, "dt (None or 0 for continuous time, True or -1 for an unspecified period, else the sampling period)",
        minimum=0.0, include_min=False,
    )


def _check_descriptor(E: Any, n: int, is_complex: bool) -> np.ndarray | None:
    """``E`` as a read-only ``(n, n)`` array of the system's dtype; ``None`` for ``None`` or the identity."""
    if E is None:
        return None
    E = as_array(_densify(E, "E", n), "E", complex_=is_complex)
    if E.shape != (n, n):
        raise DimensionError(f"E must have shape (n, n) = ({n}, {n}), got {E.shape}")
    if np.array_equal(E, np.eye(n)):
        return None
    E.setflags(write=False)
    return E


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
    dt : float, bool or None, optional
        ``None`` (or python-control's ``0``) for continuous time, a positive sampling period for
        discrete time; ``True`` or ``-1`` (python-control: discrete, period unspecified) become
        ``dt = 1.0`` (:data:`UNSPECIFIED_DT`, frequencies in rad/sample).
    E : (n, n) array_like, optional
        Descriptor matrix: ``E x' = A x + B u`` (discrete ``E x[k+1] = A x[k] + B u[k]``),
        ``G(s) = C (s E - A)^-1 B + D``.  ``None`` (or the identity) for a standard system.
        See :mod:`mor.systems.descriptor`: the Gramian routines solve the generalised Lyapunov
        equations; every other routine works on the standard form ``(E^-1 A, E^-1 B, C, D)``.

    Notes
    -----
    All matrices share one dtype: complex128 when any of them is complex,
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

    __slots__ = ("E",)
    __array_ufunc__ = None  # ``array * sys`` and ``array + sys`` defer to the reflected operators

    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    D: np.ndarray
    dt: float | None
    E: np.ndarray | None

    def __init__(self, A: Any, B: Any, C: Any, D: Any = None, dt: float | None = None, *, E: Any = None):
        # sparse matrices are densified (up to DENSIFY_LIMIT states); then each matrix is converted
        # (and checked) on its own first: ragged lists, tensors that need .detach() and the like
        # raise ArgumentTypeError naming the matrix
        n_in = getattr(A, "shape", (0,))[0]
        given = {"A": A, "B": B, "C": C} | ({} if D is None else {"D": D})
        given = {k: _densify(v, k, n_in) for k, v in given.items()}
        arrays = {k: as_array(v, k, copy=False) for k, v in given.items()}
        is_complex = any(np.iscomplexobj(x) for x in arrays.values()) or (
            E is not None and np.iscomplexobj(E.data if hasattr(E, "tocsr") else np.asarray(E))
        )
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
        dt = check_dt(dt)
        E = _check_descriptor(E, n, is_complex)
        _freeze(A, B, C, D)
        self._store(A, B, C, D, dt)
        object.__setattr__(self, "E", E)

    def __reduce__(self):
        return (_rebuild_lti, (self.A, self.B, self.C, self.D, self.dt, self.E))

    @classmethod
    def from_checked(cls, A: np.ndarray, B: np.ndarray, C: np.ndarray, D: np.ndarray, dt: float | None) -> LTI:
        """A standard system from arrays the library itself computed (internal; validation skipped).

        For results of the routines (a reduced model built from a validated system): the matrices
        are 2-D float64 or complex128 arrays of consistent shapes and ``dt`` is already checked, so
        only the common dtype is enforced and the arrays are frozen (they must not be shared with
        anything that writes to them).  Finiteness is checked by the routine's guard
        (:mod:`mor._guard`).

        Parameters
        ----------
        A, B, C, D : ndarray
            ``(n, n)``, ``(n, m)``, ``(p, n)``, ``(p, m)``.
        dt : float or None
            A value of an existing system's ``dt``.

        Returns
        -------
        LTI
        """
        dtype = np.result_type(A, B, C, D, np.float64)
        arrays = [np.asarray(x, dtype=dtype) for x in (A, B, C, D)]
        _freeze(*arrays)
        self = object.__new__(cls)
        self._store(*arrays, dt)
        object.__setattr__(self, "E", None)
        return self

    @property
    def is_descriptor(self) -> bool:
        """True when the system has a descriptor matrix ``E`` (not the identity)."""
        return self.E is not None

    def poles(self) -> np.ndarray:
        """Eigenvalues of ``A`` (descriptor systems: the finite eigenvalues of ``A - lambda E``), shape ``(n,)``."""
        if not self.n:
            return np.zeros(0, dtype=complex)
        if self.E is None:
            return eigenvalues(self.A)
        lam = sla.eigvals(self.A, self.E)
        return lam[np.isfinite(lam)]

    def __repr__(self) -> str:
        kind = "complex" if self.is_complex else "real"
        desc = ", descriptor" if self.E is not None else ""
        return f"LTI(n={self.n}, m={self.m}, p={self.p}, {kind}{desc}, {_kind(self.dt)})"

    def __str__(self) -> str:
        names = [("A", self.A), ("B", self.B), ("C", self.C), ("D", self.D)]
        return format_matrices(repr(self), ([("E", self.E)] if self.E is not None else []) + names)

    def __call__(self, s: Any) -> Any:
        """The transfer function at ``s`` (discrete: ``z``): :func:`mor.transfer_function`.

        Parameters
        ----------
        s : complex or (k,) array_like
            Evaluation point(s).

        Returns
        -------
        (p, m) or (k, p, m) complex ndarray
        """
        return operation("transfer")(self, s)

    # -- arithmetic (parallel connections) --------------------------------
    def __add__(self, other: Any) -> LTI:
        return operation("parallel")(self, other)

    def __radd__(self, other: Any) -> LTI:
        return operation("parallel")(other, self)

    def __neg__(self) -> LTI:
        return LTI(self.A, self.B, -self.C, -self.D, self.dt, E=self.E)

    def __sub__(self, other: Any) -> LTI:
        return operation("parallel")(self, other, sign=-1)

    def __rsub__(self, other: Any) -> LTI:
        return operation("parallel")(other, self, sign=-1)

    def __mul__(self, other: Any) -> LTI:
        """``self * other``: ``other`` first, then ``self`` (python-control's series convention)."""
        return operation("series")(other, self)

    def __rmul__(self, other: Any) -> LTI:
        return operation("series")(self, other)

    def feedback(self, other: Any = 1, sign: int = -1) -> LTI:
        """Feedback connection with ``other`` in the feedback path (:func:`mor.feedback`).

        Parameters
        ----------
        other : system or scalar or array_like
            The feedback system (a static gain is allowed); default unity feedback.
        sign : {-1, 1}
            Negative (default) or positive feedback.

        Returns
        -------
        LTI
        """
        return operation("feedback")(self, other, sign=sign)

    # -- interop ------------------------------------------------------------
    def to_scipy(self):
        """Return a :class:`scipy.signal.StateSpace` (a descriptor system in its standard form ``E^-1 A``)."""
        from scipy import signal  # here, not at the top: scipy.signal doubles the import time of mor

        # scipy has no descriptor matrix: the standard form (algebraic states eliminated)
        sys = self if self.E is None else operation("standard_form")(self)
        if sys.dt is None:
            return signal.StateSpace(sys.A, sys.B, sys.C, sys.D)
        return signal.StateSpace(sys.A, sys.B, sys.C, sys.D, dt=sys.dt)

    def to_control(self):
        """Return a :class:`control.StateSpace` (a descriptor system in its standard form ``E^-1 A``).

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
        # python-control has no descriptor matrix: the standard form (algebraic states eliminated)
        sys = self if self.E is None else operation("standard_form")(self)
        dt = 0 if sys.dt is None else sys.dt
        return control.ss(sys.A, sys.B, sys.C, sys.D, dt)

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
            An improper transfer function (no state-space realisation).

        Notes
        -----
        python-control uses ``dt=0`` for continuous time and ``dt=True`` (or ``-1``) for a
        discrete system with an unspecified sampling period, the default of ``control.drss``;
        the latter becomes ``dt = 1.0`` (:data:`UNSPECIFIED_DT`: frequencies in rad/sample).
        """
        dt = sys.dt
        if not hasattr(sys, "A"):  # a transfer function (or another python-control LTI object)
            import control  # optional dependency; the object came from it

            try:
                sys = control.ss(sys)
            except ValueError as exc:
                raise SystemTypeError(f"cannot convert {type(sys).__name__} to state space: {exc}") from exc
        return cls(sys.A, sys.B, sys.C, sys.D, dt)


def _rebuild_lti(A, B, C, D, dt, E):
    return LTI(A, B, C, D, dt, E=E)


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
    __array_ufunc__ = None  # ``array * sys`` and ``array + sys`` defer to the reflected operators

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
        dt = check_dt(dt)
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

    def __radd__(self, other: Any) -> Any:
        return as_dense_system(other) + self

    def __rsub__(self, other: Any) -> Any:
        return as_dense_system(other) + (-self)

    def __mul__(self, other: Any) -> LTI:
        """``self * other``: ``other`` first, then ``self`` (series; unbatched systems, dense result)."""
        return operation("series")(other, self)

    def __rmul__(self, other: Any) -> LTI:
        return operation("series")(self, other)

    def __call__(self, s: Any) -> np.ndarray:
        """The transfer function at ``s`` (discrete: ``z``): :func:`mor.transfer_function`.

        Parameters
        ----------
        s : complex or (k,) array_like
            Evaluation point(s).

        Returns
        -------
        (..., p, m) or (..., k, p, m) complex ndarray
        """
        return operation("transfer")(self, s)

    def __str__(self) -> str:
        return format_matrices(repr(self), [("poles", self.poles), ("B", self.B), ("C", self.C), ("D", self.D)])

    def to_control(self):
        """Return a :class:`control.StateSpace` with real matrices (unbatched systems).

        Real poles with real ``B``, ``C``, ``D`` give ``diag(poles)``; complex poles must come in
        conjugate pairs with conjugate rows of ``B`` and columns of ``C`` (a real system), and each
        pair becomes the real 2x2 block ``[[Re l, -Im l], [Im l, Re l]]``
        (:func:`mor.systems.realform.real_diagonal_matrices`).

        Raises
        ------
        DimensionError
            A batch (index it first: ``sys[0].to_control()``, or a list comprehension).
        SystemTypeError
            The data are not those of a real system (python-control would drop imaginary parts).
        """
        if self.batch_shape:
            raise DimensionError(
                f"to_control() converts one system; this one has batch shape {self.batch_shape}: "
                "use [s.to_control() for s in sys] or sys[i].to_control()"
            )
        return LTI(*real_diagonal_matrices(self.poles, self.B, self.C, self.D), self.dt).to_control()


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
