"""Frequency-limited Gramians for frequency-limited balanced truncation (Gawronski & Juang 1990).

The Gramians restricted to a frequency band ``Omega`` (continuous ``F(nu) = (j nu I - A)^-1``,
discrete ``F(theta) = (e^{j theta} I - A)^-1``)::

    P_Omega = (1/2pi) int_Omega F B B^H F^H,        Q_Omega = (1/2pi) int_Omega F^H C^H C F

are Hermitian positive semi-definite (integrals of such matrices) and equal, with the Gramians
``P``, ``Q`` of the whole axis (circle),::

    P_Omega = S P + P S^H,      Q_Omega = S^H Q + Q S

    continuous:  S = (1/2pi) int_Omega (j nu I - A)^-1 dnu
                   = (-j/2pi) [logm(j w2 I - A) - logm(j w1 I - A)]                   for Omega = [w1, w2]
    discrete:    S = (1/2pi) int_Omega (I - e^{-j theta} A)^-1 dtheta - (|Omega| / 4pi) I
                   = (1/2pi) [ (theta2 - theta1)/2 I - j (logm(I - e^{-j theta2} A) - logm(I - e^{-j theta1} A)) ]

(``theta = omega dt``).  Every matrix logarithm is taken of a matrix whose spectrum lies in the
open right half-plane (``A`` stable), where the principal branch is continuous along the band,
so no branch correction is needed.  Real systems are reduced on the symmetric band
``[-w2, -w1] U [w1, w2]`` (``S -> 2 Re S``: the transfer function is conjugate-symmetric);
complex systems on ``[w1, w2]`` only.

What holds and what does not.  The Gramians are semi-definite, but the Lyapunov (Stein)
equations they satisfy have indefinite right-hand sides (``S`` commutes with ``A``)::

    A P_Omega + P_Omega A^H + B_Omega = 0,     B_Omega = S B B^H + B B^H S^H
    A^H Q_Omega + Q_Omega A + C_Omega = 0,     C_Omega = S^H C^H C + C^H C S
    (discrete: A P_Omega A^H - P_Omega + B_Omega = 0, and likewise)

``variant="plain"`` (Gawronski-Juang) projects on the dominant subspaces of ``P_Omega``,
``Q_Omega``: the reduced model need not be stable (a :class:`~mor.errors.RankWarning` says so
when it is not) and no a-priori bound holds, neither in the band nor outside it
(``error_bound`` is ``None``).  ``variant="modified"`` (Gugercin & Antoulas 2004) replaces
``B_Omega``, ``C_Omega`` by their absolute values ``|B_Omega| = B~ B~^H``,
``|C_Omega| = C~^H C~`` (eigenvalues replaced by their moduli) and balances the system
``(A, B~, C~)`` instead: the reduced model is stable (it is a balanced truncation of that system)
and, with ``B = B~ K`` and ``C = L C~`` (least squares; ``B``, ``C`` lie in those ranges when the
residuals vanish, checked to ``1e-10``), ``G - G_r = L (G~ - G~_r) K`` gives the global bound::

    ||G - G_r||_inf <= 2 ||K||_2 ||L||_2 (sigma~_{r+1} + ... + sigma~_n)

which is typically loose (it bounds the error on the whole axis).  Measured (user guide), the
plain variant has much the smaller error inside the band; the modified one trades that for
stability and the bound.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.linalg as sla

from ..errors import AccuracyWarning, ArgumentConflictError, ArgumentTypeError, InvalidArgumentError, SystemTypeError
from ..systems.lti import LTI
from ..systems.sparse import SparseLTI
from ..validation import check_choice, check_real
from .dense import factors_and_schur, gramians, psd_factor

__all__ = ["band_operator", "check_band", "frequency_limited_factors", "frequency_limited_gramians"]


def check_band(
    band: Any, sys: Any, *, horizon: Any = None, match_dc: Any = False, route: Any = None, variant: Any = "plain"
):
    """The validated band ``(w1, w2)`` of :func:`mor.balanced_truncation` (``None`` when not given).

    Parameters
    ----------
    band : tuple of two floats or None
        ``(w1, w2)`` in rad per time unit; discrete systems: up to the Nyquist frequency ``pi / dt``.
    sys : LTI, DiagonalLTI or SparseLTI
        The system (its time base and dtype set the admissible range).
    horizon, match_dc, route : object
        Options of :func:`mor.balanced_truncation` that do not combine with a band.
    variant : {"plain", "modified"}
        The variant (:func:`frequency_limited_factors`); other than ``"plain"`` only with a band.

    Returns
    -------
    (w1, w2) : tuple of float, or None

    Raises
    ------
    ArgumentTypeError
        ``band`` is not a pair of real numbers.
    InvalidArgumentError
        ``w1 >= w2``; a real system with ``w1 < 0``; a discrete band beyond ``+-pi / dt``.
    ArgumentConflictError
        ``horizon`` or ``match_dc`` given with a band; ``variant="modified"`` without a band;
        ``route="low-rank"``, or a sparse system without ``route="dense"`` (frequency-limited
        Gramians are dense only).
    MethodError
        An unknown ``variant``.
    """
    check_choice(variant, "frequency_variant", ("plain", "modified"))
    if band is None:
        if variant != "plain":
            raise ArgumentConflictError(f"frequency_variant={variant!r} needs a frequency_band")
        return None
    if not isinstance(band, (tuple, list)) or len(band) != 2:
        raise ArgumentTypeError(f"frequency_band must be a pair (w1, w2), got {band!r}")
    nyquist = None if sys.dt is None else np.pi / sys.dt
    w1 = check_real(band[0], "frequency_band[0] (w1)", minimum=None if sys.is_complex else 0.0)
    w2 = check_real(band[1], "frequency_band[1] (w2)")
    if not w1 < w2:
        raise InvalidArgumentError(f"frequency_band (w1, w2) needs w1 < w2, got ({w1!r}, {w2!r})")
    if nyquist is not None and (w2 > nyquist or w1 < -nyquist):
        raise InvalidArgumentError(
            f"frequency_band ({w1:g}, {w2:g}) of a discrete system (dt = {sys.dt:g}) must lie within the Nyquist "
            f"range [{-nyquist if sys.is_complex else 0.0:g}, {nyquist:g}] (rad per time unit, theta = omega dt)"
        )
    if horizon is not None or match_dc:
        raise ArgumentConflictError("frequency_band does not combine with horizon or match_dc")
    if route == "low-rank" or (isinstance(sys, SparseLTI) and route != "dense"):
        raise ArgumentConflictError(
            "frequency_band needs the dense route (the frequency-limited Gramians are dense): pass route='dense' "
            "for a sparse system (densified up to DENSIFY_LIMIT states)"
        )
    return (w1, w2)


def _logm(M: np.ndarray) -> np.ndarray:
    """Principal matrix logarithm; scipy's accuracy warning becomes an :class:`AccuracyWarning`."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        L = sla.logm(M)
    if caught:
        warnings.warn(
            AccuracyWarning(
                f"frequency-limited Gramians: the matrix logarithm may be inaccurate ({caught[0].message})"
            ),
            stacklevel=5,
        )
    return np.asarray(L, dtype=np.complex128)


def band_operator(sys: LTI, band: tuple[float, float]) -> np.ndarray:
    """The matrix ``S`` of the module description (``P_Omega = S P + P S^H``).

    Parameters
    ----------
    sys : LTI
        A stable dense system.
    band : (w1, w2)
        Validated by :func:`check_band`.

    Returns
    -------
    S : (n, n) ndarray
        Real for real systems (the symmetric band), complex otherwise.
    """
    w1, w2 = band
    n = sys.n
    eye = np.eye(n)
    if sys.dt is None:
        S = (-1j / (2 * np.pi)) * (_logm(1j * w2 * eye - sys.A) - _logm(1j * w1 * eye - sys.A))
    else:
        t1, t2 = w1 * sys.dt, w2 * sys.dt
        logs = _logm(eye - np.exp(-1j * t2) * sys.A) - _logm(eye - np.exp(-1j * t1) * sys.A)
        S = ((t2 - t1) / 2 * eye - 1j * logs) / (2 * np.pi)
    return S if sys.is_complex else 2 * S.real


def frequency_limited_gramians(sys: Any, band: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """The frequency-limited Gramians ``(P_Omega, Q_Omega)`` of a stable dense system.

    Parameters
    ----------
    sys : LTI
        Stable, dense, continuous or discrete, real or complex.
    band : (w1, w2)
        The band in rad per time unit (see :func:`check_band`; real systems: the symmetric band).

    Returns
    -------
    P_Omega, Q_Omega : (n, n) ndarray
        Hermitian positive semi-definite (up to rounding).

    Raises
    ------
    SystemTypeError
        A diagonal or sparse system (use ``to_dense()``).
    UnstableSystemError
        ``A`` not asymptotically stable.

    Examples
    --------
    >>> import numpy as np
    >>> from mor import LTI, gramians
    >>> from mor.gramians.frequency_limited import frequency_limited_gramians
    >>> sys = LTI([[-1.0]], [[1.0]], [[1.0]])
    >>> P_band = frequency_limited_gramians(sys, (0.0, 1.0))[0]   # (1/pi) atan(1) = 1/4
    >>> bool(np.isclose(P_band[0, 0], 0.25))
    True
    """
    _check_dense(sys)
    band = check_band(band, sys)
    P, Q = gramians(sys)
    S = band_operator(sys, band)
    SP = S @ P
    QS = Q @ S
    return SP + SP.conj().T, QS + QS.conj().T


def frequency_limited_factors(sys: Any, band: tuple[float, float], variant: str = "plain") -> tuple:
    """Gramian factors for frequency-limited balanced truncation, and the scale of its bound.

    Parameters
    ----------
    sys : LTI
        Stable and dense.
    band : (w1, w2)
        The band (see :func:`check_band`).
    variant : {"plain", "modified"}
        ``"plain"``: factors of ``P_Omega``, ``Q_Omega`` (:func:`frequency_limited_gramians`) from
        their eigendecompositions, eigenvalues at rounding level (negative ones included) set to
        zero (:func:`mor.gramians.psd_factor`).  ``"modified"``: the Hammarling factors of the
        Gramians of ``(A, B~, C~)`` (module description).

    Returns
    -------
    R, S : (n, k) ndarray
        ``P = R R^H``, ``Q = S S^H``.
    scale : float or None
        ``"modified"``: ``||K||_2 ||L||_2`` of the bound ``2 scale sum(sigma~[r:])``; ``None`` for
        ``"plain"`` or where ``B``, ``C`` are not in the ranges of ``B~``, ``C~^H``.
    """
    _check_dense(sys)
    if variant == "plain":
        P, Q = frequency_limited_gramians(sys, band)
        return psd_factor(P), psd_factor(Q), None
    S = band_operator(sys, check_band(band, sys))
    BB, CC = sys.B @ sys.B.conj().T, sys.C.conj().T @ sys.C
    Bt = _abs_factor(S @ BB + BB @ S.conj().T)
    Ct = _abs_factor(S.conj().T @ CC + CC @ S).conj().T
    R, Sf = factors_and_schur(LTI(sys.A, Bt, Ct, None, sys.dt))[:2]
    K = _range_coefficients(Bt, sys.B)
    L = _range_coefficients(Ct.conj().T, sys.C.conj().T)
    scale = None if K is None or L is None else float(np.linalg.norm(K, 2) * np.linalg.norm(L, 2))
    return R, Sf, scale


def _check_dense(sys: Any) -> None:
    if not isinstance(sys, LTI):
        raise SystemTypeError(
            f"frequency-limited balanced truncation works on dense systems, got {type(sys).__name__} "
            "(use to_dense(), or route='dense' for a sparse system)"
        )


def _abs_factor(X: np.ndarray) -> np.ndarray:
    """``F`` with ``F F^H = |X|`` (the eigenvalues of the Hermitian ``X`` replaced by their moduli)."""
    w, U = np.linalg.eigh((X + X.conj().T) / 2)
    keep = np.abs(w) > X.shape[0] * np.finfo(float).eps * max(np.abs(w).max(initial=0.0), np.finfo(float).tiny)
    F = U[:, keep] * np.sqrt(np.abs(w[keep]))
    return F if np.iscomplexobj(X) else F.real


def _range_coefficients(F: np.ndarray, B: np.ndarray) -> np.ndarray | None:
    """``K`` with ``B = F K`` (least squares), or ``None`` when ``B`` is not in the range of ``F``."""
    if F.shape[1] == 0:
        return None if np.any(B) else np.zeros((0, B.shape[1]))
    K = np.linalg.lstsq(F, B, rcond=None)[0]
    return K if np.linalg.norm(F @ K - B) <= 1e-10 * max(np.linalg.norm(B), np.finfo(float).tiny) else None
