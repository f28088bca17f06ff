"""Argument checks shared by :mod:`mor`, :mod:`mor_torch` and the pipeline.

One family, one behaviour: each function returns the normalised value or raises a typed
error (:mod:`mor.errors`) whose message names the argument and the value it got.

================  ====================================================  ==========================
function          accepts                                               raises
================  ====================================================  ==========================
``check_int``     an integer (not a bool) in ``[minimum, maximum]``     ``ArgumentTypeError``,
                                                                        ``error`` (range)
``check_real``    a finite real number (not a bool) in the range        ``ArgumentTypeError``,
                                                                        ``error`` (range)
``check_choice``  one of ``choices``                                    ``MethodError``
``check_bool``    ``True``/``False`` (numpy bools too)                  ``ArgumentTypeError``
``check_memory``  an allocation estimate below the available memory     ``MemoryLimitError``
================  ====================================================  ==========================

>>> from mor.validation import check_int, check_real
>>> check_int(3, "order")
3
>>> check_real(0.5, "tol", minimum=0.0, maximum=1.0, include_max=False)
0.5
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import ArgumentTypeError, InvalidArgumentError, MemoryLimitError, MethodError

__all__ = ["available_memory", "check_bool", "check_choice", "check_int", "check_memory", "check_real"]


def check_int(
    value: Any,
    name: str,
    *,
    minimum: int | None = 1,
    maximum: int | None = None,
    error: type[Exception] = InvalidArgumentError,
) -> int:
    """``value`` as a Python int, checked to lie in ``[minimum, maximum]``.

    Parameters
    ----------
    value : object
        An ``int`` or numpy integer; bools and floats are refused.
    name : str
        The argument's name, for the message.
    minimum, maximum : int or None
        Inclusive bounds; ``None`` leaves that side open.  The default asks for a positive
        integer.
    error : type
        The exception raised for a value out of range (for example :class:`~mor.errors.OrderError`
        for a reduced order).

    Returns
    -------
    int

    Raises
    ------
    ArgumentTypeError
        ``value`` is not an integer.
    InvalidArgumentError
        (or ``error``) ``value`` is out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise error(f"{name} must satisfy {_interval(minimum, maximum, True, True)}, got {value}")
    return value


def check_real(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    include_min: bool = True,
    include_max: bool = True,
    allow_inf: bool = False,
    error: type[Exception] = InvalidArgumentError,
) -> float:
    """``value`` as a Python float, finite (unless ``allow_inf``) and inside the given range.

    Parameters
    ----------
    value : object
        A real number (int, float, numpy scalar); bools, complex numbers and strings are refused.
    name : str
        The argument's name, for the message.
    minimum, maximum : float or None
        Bounds; ``None`` leaves that side open.
    include_min, include_max : bool
        Whether each bound itself is allowed.
    allow_inf : bool
        Accept ``+-inf`` (still subject to the bounds); NaN is always refused.
    error : type
        The exception raised for a value out of range.

    Returns
    -------
    float

    Raises
    ------
    ArgumentTypeError
        ``value`` is not a real number.
    InvalidArgumentError
        (or ``error``) ``value`` is NaN, infinite (without ``allow_inf``) or out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise error(f"{name} must be a finite number, got {value!r}")
    low_bad = minimum is not None and (value < minimum or (value == minimum and not include_min))
    high_bad = maximum is not None and (value > maximum or (value == maximum and not include_max))
    if low_bad or high_bad:
        raise error(f"{name} must satisfy {_interval(minimum, maximum, include_min, include_max)}, got {value!r}")
    return value


def check_choice(value: Any, name: str, choices: Iterable[Any]) -> Any:
    """``value`` itself when it is one of ``choices``.

    Parameters
    ----------
    value : object
        The given option.
    name : str
        The argument's name, for the message.
    choices : iterable
        The allowed values (compared with ``==``; unhashable values are fine).

    Returns
    -------
    object
        ``value``.

    Raises
    ------
    MethodError
        ``value`` is not among ``choices``; the message lists them.
    """
    choices = tuple(choices)
    if not any(value is c or (type(value) is type(c) and value == c) for c in choices):
        raise MethodError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a Python bool; only ``True``/``False`` (and numpy bools) are accepted.

    Parameters
    ----------
    value : object
        The flag.
    name : str
        The argument's name, for the message.

    Returns
    -------
    bool

    Raises
    ------
    ArgumentTypeError
        ``value`` is not a bool (``0``, ``1``, ``"yes"`` are refused).
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ArgumentTypeError(f"{name} must be True or False, got {value!r}")


def available_memory() -> int:
    """Bytes of memory the process can still allocate.

    ``MemAvailable`` of ``/proc/meminfo``, lowered to what a cgroup (v2) memory limit leaves
    (``memory.max - memory.current``, as in a container); elsewhere (no ``/proc``) the physical
    memory from ``os.sysconf``; ``0`` if nothing is known.

    Returns
    -------
    int
    """
    try:
        with open("/proc/meminfo") as fh:
            available = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:"))
    except (OSError, ValueError, IndexError, StopIteration):
        try:
            return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (OSError, ValueError, AttributeError):
            return 0
    try:
        with open("/sys/fs/cgroup/memory.max") as fh_max, open("/sys/fs/cgroup/memory.current") as fh_cur:
            limit = fh_max.read().strip()
            if limit != "max":
                available = min(available, max(int(limit) - int(fh_cur.read().strip()), 1))
    except (OSError, ValueError):
        pass
    return available


def _size(nbytes: float) -> str:
    for unit, scale in (("TiB", 2.0**40), ("GiB", 2.0**30), ("MiB", 2.0**20)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{nbytes:.0f} bytes"


def check_memory(nbytes: float, what: str, advice: str) -> None:
    """Refuse an allocation of about ``nbytes`` bytes that the memory available cannot hold.

    Called *before* the arrays are allocated, so an impossible size ends in one typed error
    instead of a ``MemoryError`` (or the kernel's OOM killer) part-way through.

    Parameters
    ----------
    nbytes : float
        Estimated peak size of the arrays (a float: the product may exceed any integer type).
    what : str
        What needs them, for the message (``"impulse_response with length = 10^12"``).
    advice : str
        Which argument to change, for the message.

    Raises
    ------
    MemoryLimitError
        When ``nbytes`` exceeds :func:`available_memory` (unknown memory: never).
    """
    available = available_memory()
    if available and nbytes > available:
        raise MemoryLimitError(
            f"{what} needs about {_size(nbytes)} of memory, more than the {_size(available)} available; {advice}"
        )


def _interval(lo: Any, hi: Any, include_lo: bool, include_hi: bool) -> str:
    if lo is not None and hi is not None:
        return f"{lo} {'<=' if include_lo else '<'} value {'<=' if include_hi else '<'} {hi}"
    if lo is not None:
        return f"value {'>=' if include_lo else '>'} {lo}"
    if hi is not None:
        return f"value {'<=' if include_hi else '<'} {hi}"
    return "any value"
