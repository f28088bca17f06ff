"""What the immutable state-space classes share (internal).

:class:`mor.LTI` (dense) and :class:`mor.SparseLTI` hold the same five fields ``A, B, C, D, dt``
with one common dtype; this base gives them immutability, pickling and the shape and kind
properties.  Each subclass validates its fields in ``__init__`` and stores them with
:meth:`FrozenStateSpace._store`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FrozenStateSpace"]


class FrozenStateSpace:
    __slots__ = ("A", "B", "C", "D", "dt")

    def _store(self, A: Any, B: np.ndarray, C: np.ndarray, D: np.ndarray, dt: float | None) -> None:
        for name, value in zip(FrozenStateSpace.__slots__, (A, B, C, D, dt), strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self):
        return (type(self), (self.A, self.B, self.C, self.D, self.dt))

    @property
    def n(self) -> int:
        """State dimension."""
        return self.A.shape[0]

    @property
    def m(self) -> int:
        """Number of inputs."""
        return self.B.shape[1]

    @property
    def p(self) -> int:
        """Number of outputs."""
        return self.C.shape[0]

    @property
    def is_discrete(self) -> bool:
        """True for discrete-time systems (``dt`` is not None)."""
        return self.dt is not None

    @property
    def is_complex(self) -> bool:
        """True when the matrices are complex."""
        return np.iscomplexobj(self.B)

    @property
    def dtype(self) -> np.dtype:
        """Common dtype of the matrices (float64 or complex128)."""
        return self.B.dtype
