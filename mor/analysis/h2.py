"""The H2 norm from Gramian factors."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import NumericalError
from ..gramians.batched_modal import modal_form
from ..gramians.dense import controllability_gramian
from ..systems.batched import as_batch, map_members
from ..systems.convert import as_system

__all__ = ["h2_norm"]


def h2_norm(sys: Any, *, method: str | None = None) -> float | np.ndarray:
    """H2 norm of a stable system.

    Continuous time::

        ||G||_2^2 = (1 / 2 pi) int trace(G(jw)^H G(jw)) dw = trace(C P C^H),

    infinite when ``D != 0``.  Discrete time (independent of ``dt``)::

        ||G||_2^2 = sum_k ||h[k]||_F^2 = trace(C P C^H) + trace(D D^H),

    where ``P`` solves the controllability Lyapunov/Stein equation (see
    :func:`mor.controllability_gramian`).  Computed as ``||C R||_F`` from a
    factor ``P = R R^H`` (for diagonal systems the accurate pivoted Cholesky
    factor of the Cauchy-like Gramian), so the result is never negative.

    Parameters
    ----------
    sys : LTI, DiagonalLTI, BatchedLTI, list of systems, or convertible
        A stable system; a :class:`~mor.systems.batched.BatchedLTI` (or a list of systems of one
        size) gives the norm of every member: that of the one-system call to 1e-12 (the
        well-conditioned members through their modal form, vectorised; the others one by one).
    method : str, optional
        Gramian method (see :func:`mor.controllability_gramian`).

    Returns
    -------
    float or (...,) ndarray
        ``inf`` for continuous systems with a non-zero feedthrough ``D``.

    Raises
    ------
    UnstableSystemError
        For unstable systems.

    Examples
    --------
    >>> from mor import LTI, h2_norm
    >>> round(h2_norm(LTI([[-2.0]], [[1.0]], [[1.0]])), 12)   # 1/(s+2): sqrt(1/4)
    0.5
    """
    batch = as_batch(sys)
    if batch is not None:
        return _batch_h2(batch, method)
    sys = as_system(sys)
    R = controllability_gramian(sys, factor=True, method=method)
    with np.errstate(all="ignore"):
        parts = [sys.C @ R] + ([sys.D] if sys.dt is not None else [])
        value = _frobenius(parts)
        if not np.all(np.isfinite(value)):
            raise NumericalError("h2_norm overflowed; rescale the system (B, C, D) away from the range limits")
        if sys.dt is None:
            value = np.where(np.any(sys.D != 0, axis=(-2, -1)), np.inf, value)
    return float(value) if np.ndim(value) == 0 else value


def _batch_h2(batch: Any, method: Any) -> np.ndarray:
    """H2 norms of a :class:`~mor.systems.batched.BatchedLTI`: ``||C~ R~||_F`` of the modal form
    (``C R = (C X) R~``, :mod:`mor.gramians.batched_modal`) for the well-conditioned members, vectorised;
    the others (and every member with ``method``) one by one."""
    norms = np.zeros(batch.size)
    ok = np.zeros(batch.size, bool)
    if method is None:
        modal = modal_form(batch)
        ok = modal.ok
        if ok.any():
            norms[ok] = h2_norm(modal.diagonal)
    rest = np.flatnonzero(~ok)
    if rest.size:
        norms[rest] = map_members(batch, lambda s: h2_norm(s, method=method), "h2_norm", rest)
    return norms.reshape(batch.batch_shape)


def _frobenius(parts: list[np.ndarray]) -> np.ndarray:
    """``sqrt(sum ||X||_F^2)`` over the last two axes of every part, scaled against overflow."""
    scale = np.max([np.max(np.abs(X), axis=(-2, -1), initial=0.0) for X in parts], axis=0)
    safe = np.where(scale > 0, scale, 1.0)
    total = sum(np.sum(np.abs(X / safe[..., None, None]) ** 2, axis=(-2, -1)) for X in parts)
    return safe * np.sqrt(total)
