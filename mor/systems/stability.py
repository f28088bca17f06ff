"""Asymptotic stability, the condition of every infinite-horizon quantity.

Infinite-horizon Gramians, Hankel singular values, balanced truncation (with its error bound),
H2 and H-infinity norms exist only for asymptotically stable systems::

    continuous:  Re(lambda_i) < 0  for every pole
    discrete:    |z_i| < 1,  evaluated as Re(mu_i) < 0 from the log-poles mu = log z
                 of a DiagonalLTI (exact for zero-order-hold poles close to the unit circle)

:func:`check_stable` raises :class:`~mor.errors.UnstableSystemError` naming the offending
poles and their (batch) indices; :func:`unstable_mask` is the test itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import UnstableSystemError
from ..linalg._exact import one_minus_abs2
from .convert import as_system
from .lti import LTI, DiagonalLTI

__all__ = ["check_stable", "unstable_mask"]

_SHOWN = 8  # offending poles listed in the message


def unstable_mask(sys: LTI | DiagonalLTI, poles: np.ndarray | None = None) -> np.ndarray:
    """Which poles lie outside the open stability region.

    Parameters
    ----------
    sys : LTI or DiagonalLTI
        The system (its time base decides the region).
    poles : (n,) array_like, optional
        Dense systems: the eigenvalues of ``A`` when already known (for example the diagonal
        of a Schur form); computed otherwise.  Ignored for diagonal systems.

    Returns
    -------
    (..., n) ndarray of bool
        ``Re(lambda) >= 0`` (continuous), ``|z| >= 1`` (dense discrete; ``1 - |z|^2`` evaluated
        exactly, so a pole like ``exp(0.3j)`` rounded to float64, ``|z|^2 = 1 - 9.1e-17``, is
        stable) or ``Re(log_poles) >= 0``
        (diagonal discrete), in the order of ``sys.poles`` (dense: of ``poles`` or
        ``sys.poles()``).
    """
    if isinstance(sys, DiagonalLTI):
        return (sys.poles if sys.dt is None else sys.log_poles).real >= 0
    poles = sys.poles() if poles is None else np.asarray(poles)
    return poles.real >= 0 if sys.dt is None else one_minus_abs2(poles) <= 0


def check_stable(sys: Any, what: str = "this computation", poles: np.ndarray | None = None, hint: str = "") -> None:
    """Raise :class:`~mor.errors.UnstableSystemError` unless every pole is strictly stable.

    Continuous time needs ``Re(lambda) < 0``; discrete time ``|z| < 1`` (for a
    :class:`~mor.DiagonalLTI`, ``Re(log_poles) < 0``).

    Parameters
    ----------
    sys : LTI, DiagonalLTI or anything :func:`mor.as_system` accepts
        The system.
    what : str
        What needs stability, for the message (``"the H-infinity norm"``).
    poles : (n,) ndarray, optional
        Dense systems: the eigenvalues of ``A`` when already known, to avoid recomputing them.
    hint : str
        A way out, appended to the message (the Gramian functions point to
        :func:`mor.balanced_truncation`, which keeps the unstable part).

    Raises
    ------
    UnstableSystemError
        Some pole is not strictly stable.  The message lists up to eight offending poles with
        their indices; the exception's ``poles`` and ``index`` attributes list all of them
        (``index``: ``(*batch, mode)`` for diagonal systems, the position in the poles for
        dense ones).

    Examples
    --------
    >>> from mor import LTI, check_stable
    >>> check_stable(LTI([[-1.0]], [[1.0]], [[1.0]]))          # stable: returns None
    >>> check_stable(LTI([[0.5]], [[1.0]], [[1.0]]), "the H2 norm")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mor.errors.UnstableSystemError: the H2 norm needs an asymptotically stable system (Re(lambda) < 0); ...
    """
    sys = as_system(sys)
    bad = unstable_mask(sys, poles)
    if not np.any(bad):
        return
    if isinstance(sys, DiagonalLTI):
        poles = sys.poles
    elif poles is None:
        poles = sys.poles()
    poles = np.asarray(poles)
    idx = [tuple(int(i) for i in t) for t in np.argwhere(bad)]
    vals = poles[bad]
    region = "Re(lambda) < 0" if sys.dt is None else "|z| < 1"
    shown = ", ".join(f"{idx[i]}: {vals[i]:.6g}" for i in range(min(len(idx), _SHOWN)))
    more = f" (and {len(idx) - _SHOWN} more)" if len(idx) > _SHOWN else ""
    raise UnstableSystemError(
        f"{what} needs an asymptotically stable system ({region}); {len(idx)} unstable "
        f"pole(s) at index: value {shown}{more}{'; ' + hint if hint else ''}",
        poles=vals,
        index=idx,
    )
