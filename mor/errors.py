"""Typed errors and warnings raised by :mod:`mor`.

Catch them by meaning::

    MorError                                   every deliberate error of mor
    ├── InvalidArgumentError (ValueError)      an argument has a value the routine cannot take
    │   ├── DimensionError                     array shapes wrong or mutually inconsistent
    │   ├── OrderError                         a reduced order outside 1 .. n (or above the rank)
    │   ├── MethodError                        an unknown method or option name
    │   ├── ArgumentConflictError              arguments that cannot be given together
    │   ├── NonFiniteError                     NaN or infinite entries in the input
    │   ├── UnstableSystemError                poles outside the stability region
    │   └── ArgumentTypeError (TypeError)      an argument of the wrong type
    │       └── SystemTypeError                an object that is not an LTI system
    ├── NumericalError (ArithmeticError)       a computation on valid input failed or overflowed
    │   └── ConvergenceError                   an iteration stopped before reaching its tolerance
    ├── BackendUnavailableError (ImportError)  an optional backend (slycot) is not installed
    └── MemoryLimitError (MemoryError)         a size whose arrays would not fit in memory (checked first)

    RankWarning (UserWarning)                  an order was capped at the numerical rank
    AccuracyWarning (UserWarning)              a result may be inaccurate; the message says why

Every class subclasses a builtin, so callers that already catch ``ValueError``,
``TypeError``, ``ArithmeticError``, ``ImportError`` or ``MemoryError`` keep working.  Messages name the
offending argument and its value.
"""

from __future__ import annotations

__all__ = [
    "MorError",
    "InvalidArgumentError",
    "DimensionError",
    "OrderError",
    "MethodError",
    "ArgumentConflictError",
    "NonFiniteError",
    "UnstableSystemError",
    "ArgumentTypeError",
    "SystemTypeError",
    "NumericalError",
    "ConvergenceError",
    "BackendUnavailableError",
    "MemoryLimitError",
    "RankWarning",
    "AccuracyWarning",
]


class MorError(Exception):
    """Base class of every error raised deliberately by :mod:`mor`."""


class InvalidArgumentError(MorError, ValueError):
    """An argument has a value the routine cannot take (a range, a sign, a combination).

    The subclasses below are raised where they describe the problem precisely; this class
    itself covers the rest (``dt <= 0``, ``tol`` outside its range, a ``schur=`` pair that is
    not a Schur form of ``A``, ...).
    """


class DimensionError(InvalidArgumentError):
    """An array has the wrong number of dimensions, or sizes that do not fit together."""


class OrderError(InvalidArgumentError):
    """A requested reduced order is outside ``1 .. n`` (or exceeds what the system allows)."""


class MethodError(InvalidArgumentError):
    """An unknown method or option name was given (the message lists the valid ones)."""


class ArgumentConflictError(InvalidArgumentError):
    """Arguments that are valid one by one but cannot be given together, or an option the given
    system does not support: ``order`` and ``tol`` both, ``match_dc`` with a finite ``horizon``,
    per-channel orders with a shared structure.  The message names both sides."""


class NonFiniteError(InvalidArgumentError):
    """An input array holds NaN or infinite entries."""


class UnstableSystemError(InvalidArgumentError):
    """A system has poles outside the stability region.

    Infinite-horizon Gramians, Hankel singular values, H2 and H-infinity norms
    are defined only for asymptotically stable systems: continuous time
    ``Re(lambda) < 0``, discrete time ``|z| < 1``.

    Parameters
    ----------
    message : str
        The error message.
    poles : ndarray, optional
        The offending poles.
    index : list of tuple, optional
        Where they are (see the attributes).

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


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument has the wrong type (a float where an integer or a bool is needed, ...)."""


class SystemTypeError(ArgumentTypeError):
    """An object cannot be interpreted as a linear time-invariant system, or the system is of the
    wrong kind for the operation (a continuous system where a discrete one is needed)."""


class NumericalError(MorError, ArithmeticError):
    """A computation on valid, finite input overflowed or failed to converge.

    Raised instead of returning NaN/Inf, typically for systems whose entries
    are near the floating-point range limits; the message says what to change.
    """


class ConvergenceError(NumericalError):
    """An iterative method (the low-rank ADI of :func:`mor.low_rank_gramians`) stopped at its step or
    rank limit before reaching its tolerance; the message gives the residual it reached.  Never a
    half-converged result returned quietly."""


class BackendUnavailableError(MorError, ImportError):
    """An optional backend (for example slycot) was requested but is not installed."""


class MemoryLimitError(MorError, MemoryError):
    """An argument asks for arrays larger than the memory available (or a routine's documented size
    cap), refused before allocating.

    The message names the estimated size, the memory available and the argument to change.
    """


class RankWarning(UserWarning):
    """A requested reduced order exceeds the numerical rank and was capped."""


class AccuracyWarning(UserWarning):
    """A result was computed but may be inaccurate; the message names the cause (conditioning,
    a tolerance that was not reached) and what it affects."""
