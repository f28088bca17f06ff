"""Displays (internal): short reprs of result records, and listings of a system's matrices.

A result such as :class:`mor.BalancedTruncationResult` holds ``n x r`` projection matrices; the
dataclass repr would print all of them.  :func:`compact_repr` prints numbers and strings as they
are, short arrays (up to :data:`SHOWN` entries) with 4 significant digits, longer ones as
``ndarray(shape, dtype)``, systems by their own (one-line) repr and nested records by class name.
:func:`format_matrices` is the ``print`` of a system: its repr, then each matrix by name.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["compact_repr", "format_matrices"]

#: Arrays with at most this many entries are shown (rounded); longer ones by shape and dtype.
SHOWN = 8


def _value(v: Any) -> str:
    if isinstance(v, np.ndarray):
        if v.size <= SHOWN and v.ndim <= 1:
            return np.array2string(v, precision=4, separator=", ")
        return f"ndarray(shape={v.shape}, dtype={v.dtype})"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return f"{type(v).__name__}(...)"
    if isinstance(v, tuple) and len(v) > SHOWN:
        return f"tuple(len={len(v)})"
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    text = repr(v)
    return text if len(text) <= 100 else text[:97] + "..."


def compact_repr(self: Any) -> str:
    """``Name(field=value, ...)`` on one line per field, with arrays summarised (see the module notes).

    Parameters
    ----------
    self : dataclass instance
        The record.

    Returns
    -------
    str
    """
    fields = [f"    {f.name}={_value(getattr(self, f.name))}," for f in dataclasses.fields(self) if f.repr]
    return f"{type(self).__name__}(\n" + "\n".join(fields) + "\n)"


def _matrix(name: str, X: np.ndarray) -> str:
    if X.size == 0:
        return f"{name} = []"
    body = np.array2string(np.asarray(X), precision=4, suppress_small=True, max_line_width=100, threshold=200)
    lines = body.splitlines()
    pad = " " * (len(name) + 3)
    return "\n".join([f"{name} = {lines[0]}", *((pad + line).rstrip() for line in lines[1:])])


def format_matrices(header: str, matrices: list[tuple[str, np.ndarray]]) -> str:
    """``header`` and a readable listing of named matrices (python-control's ``print`` of a system).

    Parameters
    ----------
    header : str
        The first line (a system's one-line repr).
    matrices : list of (str, ndarray)
        Names and matrices, listed in this order (large ones summarised by numpy's ``...``).

    Returns
    -------
    str
    """
    return f"{header}\n\n" + "\n\n".join(_matrix(name, X) for name, X in matrices)
