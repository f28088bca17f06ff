"""Turn floating-point trouble inside a public routine into typed errors.

Inputs are validated on construction (shapes, NaN/Inf), but badly scaled finite
input (entries near 1e150, poles far outside the unit circle over a long
horizon) can still overflow in intermediate results.  :func:`guarded` runs a
routine with numpy's floating-point warnings silenced, then checks every array
it returns: a non-finite value, or a LAPACK failure caused by one, raises
:class:`mor.errors.NumericalError` naming the routine instead of returning NaN.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .errors import NumericalError

F = TypeVar("F", bound=Callable[..., Any])


def _inexact(out: Any):
    """The floating-point arrays and numbers in ``out`` (nested tuples, lists and dataclasses)."""
    if isinstance(out, np.ndarray):
        if out.dtype.kind in "fc":
            yield out
    elif isinstance(out, (float, complex, np.inexact)):
        yield out
    elif isinstance(out, (tuple, list)):
        for item in out:
            yield from _inexact(item)
    elif dataclasses.is_dataclass(out) and not isinstance(out, type):
        for f in dataclasses.fields(out):
            yield from _inexact(getattr(out, f.name))


def check_finite(value: np.ndarray, subject: str, advice: str) -> None:
    """Raise :class:`NumericalError` ``"<subject> has <k> non-finite entries; <advice>"`` if ``value`` has any."""
    bad = int(np.sum(~np.isfinite(value)))
    if bad:
        raise NumericalError(f"{subject} has {bad} non-finite entr{'y' if bad == 1 else 'ies'}; {advice}")


def guarded(what: str, *, select: Callable[[Any], Any] | None = None) -> Callable[[F], F]:
    """Decorator: run under ``np.errstate(all="ignore")`` and reject non-finite output.

    Parameters
    ----------
    what : str
        Name of the computation, for the message.
    select : callable, optional
        Picks the part of the result that must be finite (default: all of it),
        for results where ``inf`` is a documented value of another part.
    """

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with np.errstate(all="ignore"):
                try:
                    out = fn(*args, **kwargs)
                except np.linalg.LinAlgError as exc:
                    raise NumericalError(
                        f"{what} failed in LAPACK ({exc}); the input is probably badly scaled "
                        "(entries near the overflow range) or numerically singular"
                    ) from exc
            for a in _inexact(out if select is None else select(out)):  # (integers and bools are finite)
                if not np.isfinite(a).all():
                    check_finite(
                        np.asarray(a), f"{what} overflowed: the result",
                        "rescale the system (B, C, D or the time unit) so that its entries are far from the "
                        "floating-point range limits",
                    )  # fmt: skip
            return out

        return wrapper  # type: ignore[return-value]

    return deco
