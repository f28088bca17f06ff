"""Typed errors and warnings raised by :mod:`mor`.

Every class subclasses a builtin (``ValueError`` or ``TypeError``), so callers
that already catch the builtin keep working, while callers that care can catch
the precise class.  Messages name the offending argument and values.
"""

from __future__ import annotations

__all__ = [
    "MorError",
    "DimensionError",
    "NonFiniteError",
    "NumericalError",
    "UnstableSystemError",
    "OrderError",
    "MethodError",
    "SystemTypeError",
    "RankWarning",
    "BackendUnavailableError",
]


class MorError(Exception):
    """Base class of every error raised deliberately by :mod:`mor`."""


class DimensionError(MorError, ValueError):
    """An array has the wrong number of dimensions or mismatched sizes."""


class NonFiniteError(MorError, ValueError):
    """An input array holds NaN or infinite entries."""


class NumericalError(MorError, ArithmeticError):
    """A computation on finite input overflowed or failed to converge.

    Raised instead of returning NaN/Inf, typically for systems whose entries
    are near the floating-point range limits; rescaling the system helps.
    """


class UnstableSystemError(MorError, ValueError):
    """A system has poles outside the stability region.

    Infinite-horizon Gramians, Hankel singular values, H2 and H-infinity norms
    are defined only for asymptotically stable systems: continuous time
    ``Re(lambda) < 0``, discrete time ``|z| < 1``.

    Attributes
    ----------
    poles : ndarray
        The offending poles.
    index : list of tuple
        For batched diagonal systems, the index ``(*batch, mode)`` of every
        offending pole; for dense systems the position in ``eigvals(A)``.
    """

    def __init__(self, message: str, poles=None, index=None):
        super().__init__(message)
        self.poles = poles
        self.index = index


class OrderError(MorError, ValueError):
    """A requested reduced order (or tolerance) is out of range."""


class MethodError(MorError, ValueError):
    """An unknown ``method`` (or other option) name was given."""


class SystemTypeError(MorError, TypeError):
    """An object cannot be interpreted as a linear time-invariant system."""


class BackendUnavailableError(MorError, ImportError):
    """An optional backend (for example slycot) was requested but is not installed."""


class RankWarning(UserWarning):
    """A requested reduced order exceeds the numerical rank and was capped."""
