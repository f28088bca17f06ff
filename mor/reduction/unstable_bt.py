"""Balanced truncation of systems that are not asymptotically stable (SLICOT AB09MD / AB09ND; MATLAB ``balred``).

With the split ``G = G_s + G_u`` of :func:`mor.systems.stable_split.stable_split` (``nu`` kept poles in
``G_u``), the stable part is reduced by balanced truncation (or singular perturbation) to
``r - nu`` states and the unstable part is kept exactly::

    G_r = G_s,r + G_u,    A_r = diag(T11, A_s,r),   B_r = [B_u; B_s,r],   C_r = [C_u, C_s,r],   D_r = D_s,r

As in SLICOT and MATLAB the order ``r`` counts every kept state, so ``nu <= r <= n``.  The error
is that of the stable part alone, ``G - G_r = G_s - G_s,r``, so the balanced-truncation bound of
the stable part holds for the whole model::

    hsv_s[r - nu] <= ||G - G_r||_inf <= 2 (hsv_s[r - nu] + ... + hsv_s[n - nu - 1])

The Hankel singular values of the result follow MATLAB's ``hsvd`` convention: ``inf`` for each
kept (unstable) state, then the stable part's values, so that ``error_bound = 2 sum(hsv[r:])``
reads as for a stable system.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable

import numpy as np
import scipy.linalg as sla

from ..errors import OrderError, RankWarning
from ..systems.lti import LTI
from ..systems.stable_split import StableSplit

__all__ = ["reduce_unstable"]


def reduce_unstable(
    split: StableSplit,
    orders: list,
    tol: float | None,
    reduce_stable: Callable,
    *,
    replace: Callable = dataclasses.replace,
) -> list:
    """Reduce the stable part of ``split`` to each order and add the unstable part back.

    Parameters
    ----------
    split : StableSplit
        From :func:`mor.systems.stable_split.stable_split`, with ``nu = split.unstable.n >= 1``.
    orders : list of int or None
        Total orders ``r`` (``nu <= r <= n``) or ``None`` (the order is then chosen on the stable
        part by ``tol`` or its numerical rank, plus ``nu``).
    tol : float or None
        The bound tolerance of :func:`mor.balanced_truncation` (for a ``None`` order).
    reduce_stable : callable
        ``reduce_stable(stable, orders_s)`` -> list of :class:`mor.BalancedTruncationResult`, one
        per stable order (balanced truncation of the stable part on one set of Gramians).
    replace : callable
        ``replace(res, **changes)``: a copy of a stable part's result with ``changes``
        (:func:`dataclasses.replace`; :func:`mor.balanced_truncation` passes one that leaves a
        rounding floor due at its first read unread).

    Returns
    -------
    list of BalancedTruncationResult
        With ``n_unstable = nu`` and ``hsv`` starting with ``nu`` infinite values.

    Raises
    ------
    OrderError
        An order below ``nu``.
    """
    nu = split.unstable.n
    n = nu + split.stable.n
    for r in orders:
        if r is not None and r < nu:
            raise OrderError(
                f"order {r} is below the number of unstable (kept) poles nu = {nu} of this system (n = {n}): "
                f"balanced truncation keeps them all, so the order must lie in [{nu}, {n}] "
                "(or raise the poles' distance to the stability boundary with stability_margin)"
            )
    stable_orders = [None if r is None else r - nu for r in orders]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = reduce_stable(split.stable, stable_orders)
    for w in caught:  # re-issued at the caller, orders of the stable part named as such
        message = w.message
        if isinstance(message, RankWarning):
            message = RankWarning(f"{message} (orders of the stable part; {nu} unstable state(s) are kept besides)")
        warnings.warn(message, stacklevel=5)
    return [_combine(split, res, replace) for res in results]


def _combine(split: StableSplit, res, replace: Callable) -> object:
    """The result for ``G`` from the result for its stable part."""
    u, s = split.unstable, res.reduced
    nu = u.n
    reduced = LTI(sla.block_diag(u.A, s.A), np.concatenate([u.B, s.B]), np.concatenate([u.C, s.C], axis=1), s.D, s.dt)
    V = np.concatenate([split.V[:, :nu], split.V[:, nu:] @ res.V], axis=1)
    W = np.concatenate([split.W[:, :nu], split.W[:, nu:] @ res.W], axis=1)
    return replace(
        res,
        reduced=reduced,
        hsv=np.concatenate([np.full(nu, np.inf), res.hsv]),
        order=nu + res.order,
        V=V,
        W=W,
        padded=np.concatenate([np.zeros(nu, bool), res.padded]),
        n_unstable=nu,
    )
