"""Generalised Gramians of dense descriptor systems ``E x' = A x + B u`` (``E`` non-singular).

Equations (``^H`` the conjugate transpose), every finite eigenvalue of ``A - lambda E`` stable::

    continuous:  A P E^H + E P A^H + B B^H = 0          A^H Q E + E^H Q A + C^H C = 0
    discrete:    A P A^H - E P E^H + B B^H = 0          A^H Q A - E^H Q E + C^H C = 0

The Hankel singular values are ``sigma_i = sqrt(lambda_i(P E^H Q E))``, the singular values of
``S^H E R`` for factors ``P = R R^H``, ``Q = S S^H``.  ``P`` is also the controllability Gramian
of the standard-form system ``(E^-1 A, E^-1 B, C, D)``, whose observability Gramian is
``E^H Q E``: the two realisations have the same transfer function and Hankel singular values.

The factors come from the complex generalised Schur form ``A = Qz S Z^H``, ``E = Qz T Z^H`` and
the generalised Hammarling factor of the triangular pencil (:mod:`mor.linalg.pencil`):
``P = (Z U)(Z U)^H``.  The observability equation is the same problem for the reversed pencil
``(J S^H J, J T^H J)`` and ``J (C Z)^H`` (``J`` the reversal), and ``Q = (Qz J U)(Qz J U)^H``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..linalg.pencil import check_stable_pencil, generalized_schur, triangular_pencil_factor
from ..validation import check_choice

__all__ = ["descriptor_gramian_factors"]


def descriptor_gramian_factors(sys: Any, which: str = "both") -> tuple[np.ndarray | None, np.ndarray | None]:
    """Factors ``R`` (``P = R R^H``) and ``S`` (``Q = S S^H``) of the generalised Gramians.

    Equations (see the module notes)::

        continuous:  A P E^H + E P A^H + B B^H = 0          A^H Q E + E^H Q A + C^H C = 0
        discrete:    A P A^H - E P E^H + B B^H = 0          A^H Q A - E^H Q E + C^H C = 0

    Parameters
    ----------
    sys : LTI
        A dense descriptor system (``sys.E`` not ``None``; ``E = I`` when it is ``None``).
    which : {"both", "c", "o"}
        Which factors to compute (the other is ``None``).

    Returns
    -------
    R, S : (n, n) ndarray or None
        Complex for complex systems; real systems get real factors (``[Re, Im]`` of the complex
        factor, compacted to ``n`` columns by a QR factorisation).

    Raises
    ------
    SystemTypeError
        ``E`` singular.
    UnstableSystemError
        An eigenvalue of the pencil outside the stability region.
    """
    check_choice(which, "which", ("both", "c", "o"))
    n = sys.n
    E = np.eye(n) if sys.E is None else sys.E
    discrete = sys.dt is not None
    if n == 0:
        empty = np.zeros((0, 0), dtype=sys.dtype)
        return empty, empty
    S, T, Qz, Z = generalized_schur(sys.A, E)
    check_stable_pencil(S, T, discrete)
    R = Sf = None
    if which in ("both", "c"):
        U = triangular_pencil_factor(S, T, Qz.conj().T @ sys.B, discrete=discrete)
        R = _as_real(Z @ U, sys.is_complex)
    if which in ("both", "o"):
        J = slice(None, None, -1)
        Sr, Tr = S.conj().T[J, J], T.conj().T[J, J]
        U = triangular_pencil_factor(Sr, Tr, (sys.C @ Z).conj().T[J], discrete=discrete)
        Sf = _as_real(Qz @ U[J], sys.is_complex)
    return R, Sf


def _as_real(R: np.ndarray, is_complex: bool) -> np.ndarray:
    """``R`` itself (complex systems), else a real factor of the real ``R R^H`` (n columns at most)."""
    if is_complex:
        return R
    Y = np.concatenate([R.real, R.imag], axis=1)
    return Y if Y.shape[1] <= Y.shape[0] else np.linalg.qr(Y.T, mode="r").T
