"""Stacks of dense systems of one size: :class:`BatchedLTI`, and the member-wise driver of the batched routines.

A parameter sweep, a gain-scheduled family or the operating points of a nonlinear model give many
dense systems with the same ``n``, ``m`` and ``p``.  :class:`BatchedLTI` holds them as one stack
(``A (..., n, n)``, ``B (..., n, m)``, ``C (..., p, n)``, ``D (..., p, m)``, one ``dt``), and
:func:`as_batch` also turns a *list* of systems (:class:`~mor.LTI`, ``control.StateSpace``,
:mod:`scipy.signal` ``StateSpace``/``lti``/``dlti``, tuples) into one.  :func:`mor.balanced_truncation`,
:func:`mor.hankel_singular_values`, :func:`mor.hinf_norm` and :func:`mor.h2_norm` accept either and
return arrays of the batch shape.

:func:`map_members` runs a one-system routine on every member: each member's answer is the one
the routine gives for that system alone (so every guarantee of the routine holds member by
member), a warning names the member it concerns, and an error names the member that raised it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import DimensionError, InvalidArgumentError, MorError, SystemTypeError
from ..linalg._arrays import as_array
from .convert import as_system
from .lti import LTI, DiagonalLTI, check_dt

__all__ = ["BatchedLTI", "as_batch", "map_members"]


class BatchedLTI:
    """A stack of dense state-space systems of one size, real or complex, one time base.

    Member ``k`` (a multi-index over ``batch_shape``) is the system
    ``x' = A[k] x + B[k] u, y = C[k] x + D[k] u`` (discrete: ``x[t+1] = A[k] x[t] + B[k] u[t]``),
    ``G_k(s) = C[k] (sI - A[k])^-1 B[k] + D[k]``.

    Parameters
    ----------
    A : (..., n, n) array_like
        State matrices; the leading axes are the batch shape.
    B : (..., n, m) array_like
        Input matrices (batch axes broadcast against those of ``A``).
    C : (..., p, n) array_like
        Output matrices (likewise).
    D : (..., p, m) array_like, optional
        Feedthrough; zero when omitted.
    dt : float, bool or None, optional
        The time base of every member, as for :class:`~mor.LTI`.

    Raises
    ------
    DimensionError
        Shapes that do not fit, batch axes that do not broadcast, or no batch axis at all
        (use :class:`~mor.LTI` for one system).
    NonFiniteError
        NaN or Inf entries.

    Notes
    -----
    The arrays are read-only and share one dtype (complex128 when any is complex).  Indexing
    (``batch[3]``, ``batch[2:5]``) gives an :class:`~mor.LTI` when no batch axis is left, else a
    :class:`BatchedLTI`.

    Examples
    --------
    >>> import numpy as np
    >>> from mor.systems.batched import BatchedLTI
    >>> A = -np.eye(2) - np.arange(3.0)[:, None, None] * np.eye(2)   # three members
    >>> BatchedLTI(A, np.ones((2, 1)), np.ones((1, 2)))
    BatchedLTI(batch=(3,), n=2, m=1, p=1, real, continuous)
    """

    __slots__ = ("A", "B", "C", "D", "dt")

    def __init__(self, A: Any, B: Any, C: Any, D: Any = None, dt: Any = None):
        arrays = {k: as_array(v, k, copy=False) for k, v in {"A": A, "B": B, "C": C}.items()}
        if D is not None:
            arrays["D"] = as_array(D, "D", copy=False)
        cplx = any(np.iscomplexobj(x) for x in arrays.values())
        A, B, C = (as_array(arrays[k], k, complex_=cplx) for k in "ABC")
        if A.ndim < 3 or A.shape[-1] != A.shape[-2]:
            raise DimensionError(f"A must have shape (..., n, n) with at least one batch axis, got {A.shape}")
        n = A.shape[-1]
        if B.ndim < 2 or B.shape[-2] != n:
            raise DimensionError(f"B must have shape (..., n, m) with n = {n}, got {B.shape}")
        if C.ndim < 2 or C.shape[-1] != n:
            raise DimensionError(f"C must have shape (..., p, n) with n = {n}, got {C.shape}")
        p, m = C.shape[-2], B.shape[-1]
        D = np.zeros((p, m)) if D is None else as_array(arrays["D"], "D", complex_=cplx)
        if D.ndim < 2 or D.shape[-2:] != (p, m):
            raise DimensionError(f"D must have shape (..., p, m) = (..., {p}, {m}), got {D.shape}")
        shapes = [A.shape[:-2], B.shape[:-2], C.shape[:-2], D.shape[:-2]]
        try:
            batch = np.broadcast_shapes(*shapes)
        except ValueError as exc:
            raise DimensionError(f"the batch axes of A, B, C, D do not broadcast: {shapes}") from exc
        dtype = np.complex128 if cplx else np.float64
        stacked = [np.ascontiguousarray(np.broadcast_to(x, batch + x.shape[-2:]), dtype=dtype) for x in (A, B, C, D)]
        for name, x in zip("ABCD", stacked, strict=True):
            x.setflags(write=False)
            object.__setattr__(self, name, x)
        object.__setattr__(self, "dt", check_dt(dt))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self):
        return (BatchedLTI, (self.A, self.B, self.C, self.D, self.dt))

    @classmethod
    def from_systems(cls, systems: Any) -> BatchedLTI:
        """Stack a list of systems of one size and one time base.

        Parameters
        ----------
        systems : list
            Non-empty list of anything :func:`mor.as_system` turns into a dense
            :class:`~mor.LTI` (python-control and scipy systems included; descriptor systems
            in their standard form).

        Returns
        -------
        BatchedLTI
            Batch shape ``(len(systems),)``.

        Raises
        ------
        DimensionError
            An empty list, or members of different ``(n, m, p)``.
        SystemTypeError
            A member that is not a dense system (a :class:`~mor.DiagonalLTI`: use ``to_dense()``)
            or members with different time bases.
        """
        if len(systems) == 0:
            raise DimensionError("a batch needs at least one system, got an empty list")
        members = [as_system(s) for s in systems]
        for k, s in enumerate(members):
            if not isinstance(s, LTI):
                raise SystemTypeError(f"member {k} of the list is a {type(s).__name__}, not a dense system")
        first = members[0]
        for k, s in enumerate(members):
            if (s.n, s.m, s.p) != (first.n, first.m, first.p):
                raise DimensionError(
                    f"the members of a batch must have one size: member 0 has (n, m, p) = "
                    f"{(first.n, first.m, first.p)}, member {k} has {(s.n, s.m, s.p)}"
                )
            if s.dt != first.dt:
                raise SystemTypeError(f"the members of a batch share one time base: member 0 has dt={first.dt}, "
                                      f"member {k} has dt={s.dt}")  # fmt: skip
        stack = [np.stack([getattr(s, name) for s in members]) for name in "ABCD"]
        return cls(*stack, dt=first.dt)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The leading axes: ``A.shape[:-2]``."""
        return self.A.shape[:-2]

    @property
    def n(self) -> int:
        """Number of states of every member."""
        return self.A.shape[-1]

    @property
    def m(self) -> int:
        """Number of inputs."""
        return self.B.shape[-1]

    @property
    def p(self) -> int:
        """Number of outputs."""
        return self.C.shape[-2]

    @property
    def size(self) -> int:
        """Number of members (the product of the batch shape)."""
        return int(np.prod(self.batch_shape, dtype=int))

    @property
    def is_complex(self) -> bool:
        """Whether the data are complex."""
        return bool(np.iscomplexobj(self.A))

    @property
    def is_discrete(self) -> bool:
        """Whether the members are discrete-time systems."""
        return self.dt is not None

    def __len__(self) -> int:
        return self.batch_shape[0]

    def __getitem__(self, index: Any) -> LTI | BatchedLTI:
        """Index the batch axes: an :class:`~mor.LTI` when none is left, else a :class:`BatchedLTI`."""
        if not isinstance(index, tuple):
            index = (index,)
        if any(i is Ellipsis or i is None for i in index) or len(index) > len(self.batch_shape):
            raise InvalidArgumentError("index a BatchedLTI by its batch axes only (no Ellipsis or newaxis)")
        parts = [x[index] for x in (self.A, self.B, self.C, self.D)]
        if parts[0].ndim == 2:
            return LTI(*parts, dt=self.dt)
        return BatchedLTI(*parts, dt=self.dt)

    def members(self) -> list[LTI]:
        """Every member as an :class:`~mor.LTI`, in C order of the batch axes."""
        flat = [x.reshape((self.size,) + x.shape[-2:]) for x in (self.A, self.B, self.C, self.D)]
        return [LTI(a, b, c, d, self.dt) for a, b, c, d in zip(*flat, strict=True)]

    def __repr__(self) -> str:
        kind = "continuous" if self.dt is None else f"discrete, dt={self.dt:g}"
        return (f"BatchedLTI(batch={self.batch_shape}, n={self.n}, m={self.m}, p={self.p}, "
                f"{'complex' if self.is_complex else 'real'}, {kind})")  # fmt: skip


def as_batch(sys: Any) -> BatchedLTI | None:
    """A :class:`BatchedLTI` for a batch or a list of systems; ``None`` for anything else.

    Parameters
    ----------
    sys : object
        A :class:`BatchedLTI` (returned as it is), a list of systems
        (:meth:`BatchedLTI.from_systems`), or anything else (``None``: not a batch of dense
        systems; a tuple ``(A, B, C, ...)`` is one system).

    Returns
    -------
    BatchedLTI or None
    """
    if isinstance(sys, BatchedLTI):
        return sys
    if isinstance(sys, list):
        if sys and all(isinstance(s, DiagonalLTI) for s in sys):
            raise SystemTypeError("a list of DiagonalLTI: stack them into one batched DiagonalLTI instead")
        return BatchedLTI.from_systems(sys)
    return None


def map_members(batch: BatchedLTI, fn: Callable[[LTI], Any], what: str, flat: Any = None) -> list:
    """``[fn(member) for member in batch.members()]``, with warnings and errors naming the member.

    Parameters
    ----------
    batch : BatchedLTI
    fn : callable
        A one-system routine.
    what : str
        The routine's name, for the messages.
    flat : sequence of int, optional
        Only these members (flat indices, C order of the batch axes); all when omitted.

    Returns
    -------
    list
        One result per member taken (C order of the batch axes, or the order of ``flat``).

    Raises
    ------
    MorError
        Whatever ``fn`` raises for a member, re-raised (the same exception) with
        ``"<what>, batch member <index>: "`` in front of its message.

    Warns
    -----
    Warning
        Every warning ``fn`` gives for a member, of the same category, its message prefixed the same way.
    """
    out = []
    shape = batch.batch_shape
    stack = [x.reshape((batch.size,) + x.shape[-2:]) for x in (batch.A, batch.B, batch.C, batch.D)]
    for k in range(batch.size) if flat is None else flat:
        member = LTI(*(x[k] for x in stack), batch.dt)
        where = f"{what}, batch member {_index(int(k), shape)}"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                out.append(fn(member))
            except MorError as exc:  # the same error, its message naming the member
                exc.args = (f"{where}: {exc.args[0] if exc.args else ''}", *exc.args[1:])
                raise
        for w in caught:
            warnings.warn(w.category(f"{where}: {w.message}"), stacklevel=4)
    return out


def _index(flat: int, shape: tuple[int, ...]) -> Any:
    """The member's index as the user writes it: an int for one batch axis, else a tuple."""
    return flat if len(shape) == 1 else tuple(int(i) for i in np.unravel_index(flat, shape))
