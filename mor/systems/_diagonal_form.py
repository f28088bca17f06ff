"""A batch of small dense realisations back in diagonal form (internal).

Reductions of a :class:`~mor.DiagonalLTI` that are not projections of ``diag(poles)`` (the
singular perturbation of :mod:`mor.reduction.spa`, the interpolation models of
:mod:`mor.reduction.h2_optimal`) end with a dense ``(A_r, B_r, C_r, D_r)`` per batch member.
:func:`to_diagonal` returns it as a ``DiagonalLTI`` of the same batch shape::

    A_r = X diag(lambda_r) X^-1,   B <- X^-1 B_r,   C <- C_r X,   D <- D_r

Discrete systems keep ``log_poles = log(lambda_r)``.  The eigenvector matrix ``X`` is returned too
(to carry bases along) and its condition number is checked: above :data:`MAX_CONDITION` the
diagonal form amplifies rounding errors by that much and an :class:`~mor.errors.AccuracyWarning`
says so.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import AccuracyWarning
from .lti import DiagonalLTI

__all__ = ["MAX_CONDITION", "to_diagonal"]

#: Eigenvector condition number above which the diagonal form is reported as inaccurate.
MAX_CONDITION = 1e8


def to_diagonal(
    A: np.ndarray, B: np.ndarray, C: np.ndarray, D: np.ndarray, dt: float | None, *, what: str, stacklevel: int = 3
) -> tuple[DiagonalLTI, np.ndarray]:
    """``(DiagonalLTI, X)`` for the batch ``A (..., r, r)``, ``B (..., r, m)``, ``C (..., p, r)``, ``D (..., p, m)``.

    ``what`` names the computation in the warning; ``stacklevel`` points it at the user's call.
    """
    r = A.shape[-1]
    if r == 0:
        lam, X = np.zeros(A.shape[:-1], complex), np.zeros(A.shape, complex)
    else:
        lam, X = np.linalg.eig(A)
        cond = np.linalg.cond(X)
        worst = float(np.max(cond)) if cond.size else 1.0
        if not np.isfinite(worst) or worst > MAX_CONDITION:
            warnings.warn(
                AccuracyWarning(
                    f"{what}: the reduced state matrix is close to defective (eigenvector condition number "
                    f"{worst:.3g}); its diagonal form may be inaccurate by that factor"
                ),
                stacklevel=stacklevel,
            )
        B = np.linalg.solve(X, B)
        C = C @ X
    if dt is None:
        return DiagonalLTI(lam, B, C, D), X
    with np.errstate(divide="ignore"):
        mu = np.log(lam.astype(complex))
    return DiagonalLTI.from_log_poles(mu, B, C, D, dt), X
