"""Additive stable/unstable decomposition ``G = G_stable + G_unstable`` (SLICOT TB01KD; MATLAB ``stabsep``).

An ordered Schur form puts the poles to keep first (``nu`` of them) and the strictly stable
ones last::

    A = Z [[T11, T12], [0, T22]] Z^H,     T11: the kept poles,   T22: the stable ones

and one Sylvester equation decouples the two blocks::

    T11 X - X T22 + T12 = 0,     M = [[I, X], [0, I]],     M^-1 Z^H A Z M = diag(T11, T22)

so that, with ``Z^H B = [B1; B2]`` and ``C Z = [C1, C2]``::

    G_unstable = (T11, B1 - X B2, C1, 0),      G_stable = (T22, B2, C1 X + C2, D).

The feedthrough ``D`` goes with the stable part.  Real systems use the real Schur form (LAPACK
``dgees`` with eigenvalue selection, then ``dtrsyl``) and stay real; complex ones the complex form
(``zgees``, ``ztrsyl``).  The split exists whenever no eigenvalue of ``T11`` equals one of ``T22``;
its condition is ``||X||`` (:class:`~mor.errors.AccuracyWarning` above :data:`MAX_COUPLING`).

Which poles are kept (the "unstable" part) is set by ``stability_margin`` ``delta >= 0``::

    continuous:  Re(lambda) >= -delta          discrete:  |z| >= 1 - delta

the complement of SLICOT's ``ALPHA``-stable domain with ``ALPHA = -delta`` (continuous) or
``ALPHA = 1 - delta`` (discrete).  A positive margin keeps marginal poles that rounding moved
just inside the stability region (the double eigenvalue ``0`` of a double integrator comes out
of a Schur form as ``+-1e-8``) together with their unstable partners, where a split between them
would be arbitrarily ill-conditioned.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg as sla
from scipy.linalg import lapack

from .._guard import guarded
from ..errors import AccuracyWarning, SystemTypeError
from ..validation import check_real
from .convert import as_system
from .lti import LTI

__all__ = ["DEFAULT_MARGIN", "MAX_COUPLING", "StableSplit", "kept_mask", "stable_split"]

#: Default ``stability_margin`` when a system that is not asymptotically stable is reduced (as MATLAB's
#: ``balred`` ``Offset``): poles with ``Re(lambda) >= -1e-8`` (``|z| >= 1 - 1e-8``) are kept exactly.
DEFAULT_MARGIN = 1e-8
#: ``||X||_2`` of the decoupling Sylvester solution above which the split is reported as inaccurate.
MAX_COUPLING = 1e8


class StableSplit(NamedTuple):
    """Outcome of :func:`stable_split`: ``G = stable + unstable``.

    Attributes
    ----------
    stable : LTI
        The strictly stable part ``(T22, B2, C1 X + C2, D)`` (``n - nu`` states, carries ``D``).
    unstable : LTI
        The kept part ``(T11, B1 - X B2, C1, 0)`` (``nu`` states, zero feedthrough).
    V : (n, n) ndarray
        Change of coordinates ``x = V [x_u; x_s]``: ``V = Z M``.
    W : (n, n) ndarray
        Its inverse as ``W^H = M^-1 Z^H`` (``W^H V = I``).
    """

    stable: LTI
    unstable: LTI
    V: np.ndarray
    W: np.ndarray


def kept_mask(poles: np.ndarray, discrete: bool, margin: float) -> np.ndarray:
    """Which poles the split keeps: ``Re(lambda) >= -margin`` (continuous), ``|z| >= 1 - margin`` (discrete).

    Parameters
    ----------
    poles : (n,) ndarray
        Eigenvalues of ``A``.
    discrete : bool
        Discrete time (the unit disc) or continuous time (the left half-plane).
    margin : float
        The stability margin ``delta >= 0``.

    Returns
    -------
    (n,) ndarray of bool
    """
    poles = np.asarray(poles)
    return np.abs(poles) >= 1.0 - margin if discrete else poles.real >= -margin


@guarded("stable_split")
def stable_split(sys: Any, stability_margin: float = DEFAULT_MARGIN) -> StableSplit:
    """Split a dense system into a strictly stable part and the part holding every other pole.

    Parameters
    ----------
    sys : LTI or convertible
        A dense system, continuous or discrete, real or complex.
    stability_margin : float
        ``delta >= 0``: poles with ``Re(lambda) >= -delta`` (discrete ``|z| >= 1 - delta``) go to
        the unstable part (see the module description).

    Returns
    -------
    StableSplit
        ``(stable, unstable, V, W)`` with ``G = G_stable + G_unstable``.

    Raises
    ------
    SystemTypeError
        A :class:`~mor.DiagonalLTI` (its split is a selection of modes) or a sparse system.
    InvalidArgumentError
        ``stability_margin`` negative (or ``>= 1`` in discrete time).

    Warns
    -----
    AccuracyWarning
        ``||X||_2 > MAX_COUPLING``: kept and stable poles are so close that the two parts are
        large and cancel (the sum stays accurate, each part may not).

    Examples
    --------
    >>> import numpy as np
    >>> from mor import LTI
    >>> from mor.systems.stable_split import stable_split
    >>> sys = LTI([[1.0, 1.0], [0.0, -2.0]], [[1.0], [1.0]], [[1.0, 1.0]])
    >>> parts = stable_split(sys)
    >>> parts.unstable.poles().real, parts.stable.poles().real
    (array([1.]), array([-2.]))
    """
    sys = as_system(sys)
    if not isinstance(sys, LTI):
        raise SystemTypeError(
            f"stable_split needs a dense LTI, got {type(sys).__name__}: the split of a diagonal system is a "
            "selection of its modes (use to_dense() to split it here)"
        )
    discrete = sys.dt is not None
    margin = check_real(stability_margin, "stability_margin", minimum=0.0, maximum=1.0 if discrete else None,
                        include_max=False)  # fmt: skip
    T, Z, nu = _ordered_schur(sys.A, discrete, margin)
    X = _decouple(T, nu)
    n = sys.n
    Bt, Ct = Z.conj().T @ sys.B, sys.C @ Z
    B1, B2, C1, C2 = Bt[:nu], Bt[nu:], Ct[:, :nu], Ct[:, nu:]
    unstable = LTI(T[:nu, :nu], B1 - X @ B2, C1, np.zeros_like(sys.D), sys.dt)
    stable = LTI(T[nu:, nu:], B2, C1 @ X + C2, sys.D, sys.dt)
    M = np.eye(n, dtype=T.dtype)
    M[:nu, nu:] = X
    Minv_h = np.eye(n, dtype=T.dtype)
    Minv_h[nu:, :nu] = -X.conj().T  # (M^-1)^H
    return StableSplit(stable, unstable, Z @ M, Z @ Minv_h)


def _ordered_schur(A: np.ndarray, discrete: bool, margin: float) -> tuple[np.ndarray, np.ndarray, int]:
    """``(T, Z, nu)``: Schur form with the ``nu`` kept poles leading (real for real ``A``)."""
    if A.shape[0] == 0:
        return A.copy(), np.eye(0, dtype=A.dtype), 0
    if np.iscomplexobj(A):
        T, Z, nu = sla.schur(A, output="complex", sort=lambda z: bool(kept_mask(z, discrete, margin)))
        return np.triu(T), Z, int(nu)
    T, Z, nu = sla.schur(A, output="real", sort=lambda re, im: bool(kept_mask(re + 1j * im, discrete, margin)))
    return T, Z, int(nu)


def _decouple(T: np.ndarray, nu: int) -> np.ndarray:
    """``X`` with ``T11 X - X T22 + T12 = 0`` (LAPACK ``trsyl``), warned when ``||X||`` is large."""
    T11, T12, T22 = T[:nu, :nu], T[:nu, nu:], T[nu:, nu:]
    if T12.size == 0:
        return T12.copy()
    trsyl = lapack.ztrsyl if np.iscomplexobj(T) else lapack.dtrsyl
    X, scale, info = trsyl(T11, T22, -T12, trana="N", tranb="N", isgn=-1)
    X = X / scale
    coupling = float(np.linalg.norm(X, 2))
    if info == 1 or coupling > MAX_COUPLING:
        warnings.warn(
            AccuracyWarning(
                f"stable_split: the decoupling solution has norm {coupling:.3g} (kept and stable poles nearly "
                "coincide); the two parts are large and cancel. Raise stability_margin to keep the nearby "
                "stable poles too"
            ),
            stacklevel=4,
        )
    return X
