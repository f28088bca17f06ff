"""Interconnections of systems: series, parallel, feedback (python-control's conventions).

For ``G1 = (A1, B1, C1, D1)`` and ``G2 = (A2, B2, C2, D2)`` with the stacked state ``[x1; x2]``::

    series(G1, G2) = G2 * G1     (u -> G1 -> G2 -> y; G(s) = G2(s) G1(s))
        A = [[A1, 0], [B2 C1, A2]],  B = [[B1], [B2 D1]],  C = [D2 C1, C2],  D = D2 D1
    parallel(G1, G2) = G1 + G2   (G(s) = G1(s) + G2(s); sign=-1: G1 - G2)
        A = diag(A1, A2),  B = [[B1], [B2]],  C = [C1, C2],  D = D1 + D2
    feedback(G1, G2, sign=-1)    (u1 = u + sign * y2, u2 = y1, y = y1;
                                  G = G1 (I - sign G2 G1)^-1)
        F = (I - sign D2 D1)^-1,
        A = [[A1 + sign B1 F D2 C1, sign B1 F C2], [B2 (I + sign D1 F D2) C1, A2 + sign B2 D1 F C2]]
        B = [[B1 F], [B2 D1 F]],  C = [(I + sign D1 F D2) C1, sign D1 F C2],  D = D1 F

Descriptor systems keep their ``E`` (block diagonal; the identity for a standard block).  ``*``
between mor systems is python-control's series: ``G2 * G1`` means ``G1`` first, then ``G2``.
Any operand :func:`mor.as_system` accepts may be used, in either order (python-control and
scipy.signal objects, transfer functions converted to state space first), and a scalar or a
``(p, m)`` array is a static gain (a scalar stands for ``k I``).  Batched diagonal systems are
refused (index them first); the result is a dense :class:`mor.LTI`.

The operators of the system types (``*``, ``+``, ``-`` with a foreign operand on either side,
:meth:`mor.LTI.feedback`) call these functions through :data:`mor.systems.lti.OPERATIONS`,
which importing this module fills (``"series"``, ``"parallel"``, ``"feedback"``).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..errors import ArgumentConflictError, DimensionError, NumericalError, SystemTypeError
from ..validation import check_choice
from .convert import as_system
from .lti import LTI, OPERATIONS, DiagonalLTI

__all__ = ["feedback", "parallel", "series"]


def _gain(k: Any, rows: int, cols: int) -> np.ndarray:
    """A static gain as a ``(rows, cols)`` array: a scalar is ``k I`` (square sizes only)."""
    K = np.asarray(k)
    if K.ndim == 0:
        if rows != cols:
            raise DimensionError(
                f"a scalar gain stands for k I and needs a square system, got (p, m) = ({rows}, {cols})"
            )
        return K * np.eye(rows)
    if K.shape != (rows, cols):
        raise DimensionError(f"a static gain must have shape {(rows, cols)}, got {K.shape}")
    return K


def _is_gain(x: Any) -> bool:
    return isinstance(x, numbers.Number) or (isinstance(x, np.ndarray) and x.dtype.kind in "biufc")


def _operands(G1: Any, G2: Any, shape1, shape2) -> tuple[LTI, LTI]:
    """Both operands as dense ``LTI`` (a gain gets the shape ``shapeX(other)`` and the other's dt)."""
    if _is_gain(G1) and _is_gain(G2):
        raise SystemTypeError("at least one operand must be a system")
    if _is_gain(G1):
        s2 = _dense(G2)
        p, m = shape1(s2)
        return LTI(np.zeros((0, 0)), np.zeros((0, m)), np.zeros((p, 0)), _gain(G1, p, m), s2.dt), s2
    s1 = _dense(G1)
    if _is_gain(G2):
        p, m = shape2(s1)
        return s1, LTI(np.zeros((0, 0)), np.zeros((0, m)), np.zeros((p, 0)), _gain(G2, p, m), s1.dt)
    s2 = _dense(G2)
    if s1.dt != s2.dt:
        raise ArgumentConflictError(f"systems have different time bases: dt={s1.dt} and dt={s2.dt}")
    return s1, s2


def _dense(G: Any) -> LTI:
    sys = as_system(G, descriptor=True)
    if isinstance(sys, DiagonalLTI):
        if sys.batch_shape:
            raise DimensionError(f"interconnections take single systems; {sys!r} is a batch (index it first)")
        sys = sys.to_dense()
    return sys


def _E(sys: LTI) -> np.ndarray:
    return np.eye(sys.n) if sys.E is None else sys.E


def _assemble(A, B, C, D, dt, parts: tuple[LTI, LTI]) -> LTI:
    """The interconnection's ``LTI``, with the block-diagonal ``E`` when a part is a descriptor system."""
    s1, s2 = parts
    E = None
    if s1.E is not None or s2.E is not None:
        E = _blockdiag(_E(s1), _E(s2))
    return LTI(A, B, C, D, dt, E=E)


def _blockdiag(X1: np.ndarray, X2: np.ndarray) -> np.ndarray:
    n1, n2 = X1.shape[0], X2.shape[0]
    out = np.zeros((n1 + n2, n1 + n2), dtype=np.result_type(X1, X2))
    out[:n1, :n1] = X1
    out[n1:, n1:] = X2
    return out


def series(G1: Any, G2: Any) -> LTI:
    """Series connection: ``G1`` first, then ``G2`` (``G = G2 G1``, python-control's ``G2 * G1``).

    Parameters
    ----------
    G1, G2 : system or static gain
        Anything :func:`mor.as_system` accepts, or a scalar / ``(p, m)`` array (one of them).

    Returns
    -------
    LTI
        State ``[x1; x2]`` (see the module notes).

    Raises
    ------
    DimensionError
        ``G1.p != G2.m``.
    ArgumentConflictError
        Different time bases.
    """
    s1, s2 = _operands(G1, G2, lambda s2: (s2.m, s2.m), lambda s1: (s1.p, s1.p))
    if s1.p != s2.m:
        raise DimensionError(f"series: G1 has {s1.p} outputs but G2 has {s2.m} inputs")
    n1, n2 = s1.n, s2.n
    dtype = np.result_type(s1.A, s2.A, s1.D, s2.D)
    A = np.zeros((n1 + n2, n1 + n2), dtype=dtype)
    A[:n1, :n1] = s1.A
    A[n1:, :n1] = s2.B @ s1.C
    A[n1:, n1:] = s2.A
    B = np.concatenate([s1.B, s2.B @ s1.D], axis=0)
    C = np.concatenate([s2.D @ s1.C, s2.C], axis=1)
    return _assemble(A, B, C, s2.D @ s1.D, s1.dt, (s1, s2))


def parallel(G1: Any, G2: Any, *, sign: int = 1) -> LTI:
    """Parallel connection ``G1 + G2`` (``sign=-1``: ``G1 - G2``).

    Parameters
    ----------
    G1, G2 : system or static gain
        Anything :func:`mor.as_system` accepts, or a scalar / ``(p, m)`` array (one of them).
    sign : {1, -1}
        Sign of ``G2``.

    Returns
    -------
    LTI
        State ``[x1; x2]``.

    Raises
    ------
    DimensionError
        Different numbers of inputs or outputs.
    ArgumentConflictError
        Different time bases.
    """
    check_choice(sign, "sign", (1, -1))
    s1, s2 = _operands(G1, G2, lambda s2: (s2.p, s2.m), lambda s1: (s1.p, s1.m))
    if (s1.m, s1.p) != (s2.m, s2.p):
        raise DimensionError(
            f"systems have different input/output sizes: (m, p) = {(s1.m, s1.p)} and {(s2.m, s2.p)}"
        )
    A = _blockdiag(s1.A, s2.A)
    B = np.concatenate([s1.B, s2.B], axis=0)
    C = np.concatenate([s1.C, sign * s2.C], axis=1)
    return _assemble(A, B, C, s1.D + sign * s2.D, s1.dt, (s1, s2))


def feedback(G1: Any, G2: Any = 1, *, sign: int = -1) -> LTI:
    """Feedback connection: ``G1`` in the forward path, ``G2`` in the feedback path.

    ``u1 = u + sign * y2``, ``u2 = y1``, ``y = y1``: ``G = G1 (I - sign G2 G1)^-1``
    (python-control's ``feedback(sys1, sys2, sign=-1)``).

    Parameters
    ----------
    G1 : system
        Forward path.
    G2 : system or static gain
        Feedback path (default unity feedback, ``1``).
    sign : {-1, 1}
        Negative (default) or positive feedback.

    Returns
    -------
    LTI
        State ``[x1; x2]`` (see the module notes).

    Raises
    ------
    DimensionError
        ``G2`` does not map the outputs of ``G1`` to its inputs.
    NumericalError
        ``I - sign D2 D1`` singular (an ill-posed algebraic loop).
    """
    check_choice(sign, "sign", (1, -1))
    s1, s2 = _operands(G1, G2, lambda s2: (s2.m, s2.p), lambda s1: (s1.m, s1.p))
    if (s2.m, s2.p) != (s1.p, s1.m):
        raise DimensionError(f"feedback: G2 must have {s1.p} inputs and {s1.m} outputs, got {s2.m} and {s2.p}")
    M = np.eye(s1.m) - sign * (s2.D @ s1.D)
    if np.linalg.cond(M) > 1 / np.finfo(float).eps:
        raise NumericalError("feedback: I - sign D2 D1 is singular (an ill-posed algebraic loop)")
    F = np.linalg.inv(M)
    K = np.eye(s1.p) + sign * (s1.D @ F @ s2.D)  # y1 = K C1 x1 + sign D1 F C2 x2 + D1 F u
    A = np.block([
        [s1.A + sign * (s1.B @ F @ s2.D @ s1.C), sign * (s1.B @ F @ s2.C)],
        [s2.B @ K @ s1.C, s2.A + sign * (s2.B @ s1.D @ F @ s2.C)],
    ])
    B = np.concatenate([s1.B @ F, s2.B @ s1.D @ F], axis=0)
    C = np.concatenate([K @ s1.C, sign * (s1.D @ F @ s2.C)], axis=1)
    return _assemble(A, B, C, s1.D @ F, s1.dt, (s1, s2))


OPERATIONS.update(series=series, parallel=parallel, feedback=feedback)
