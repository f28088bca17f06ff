"""mor: model-order reduction for linear time-invariant systems.

Dense and batched diagonal systems, continuous and discrete time: Gramians,
Hankel singular values, square-root balanced truncation and system norms.
Depends on numpy and scipy only (never on torch).

>>> from mor import balanced_truncation
"""

from . import errors
from .errors import (
    BackendUnavailableError,
    DimensionError,
    MethodError,
    MorError,
    NonFiniteError,
    OrderError,
    RankWarning,
    SystemTypeError,
    UnstableSystemError,
)
from .systems import LTI, DiagonalLTI, as_system

__version__ = "0.1.0"

__all__ = [
    "LTI",
    "BackendUnavailableError",
    "DiagonalLTI",
    "DimensionError",
    "MethodError",
    "MorError",
    "NonFiniteError",
    "OrderError",
    "RankWarning",
    "SystemTypeError",
    "UnstableSystemError",
    "__version__",
    "as_system",
    "errors",
]
