"""Triangular pencils: the generalised Schur form and a generalised Hammarling factor.

For a pencil ``A - lambda E`` (``E`` non-singular) the complex generalised Schur form (QZ) is
``A = Qz S Z^H``, ``E = Qz T Z^H`` with ``S``, ``T`` upper triangular and unitary ``Qz``, ``Z``
(:func:`generalized_schur`).  :func:`triangular_pencil_factor` solves the generalised Lyapunov
(Stein) equation of a triangular pencil for an upper triangular factor ``U``, ``X = U U^H``,
by the generalised Hammarling recursion (Penzl 1998).  Partition with the last index,
``S = [[S1, s], [0, sigma]]``, ``T = [[T1, t], [0, tau]]``, ``U = [[U1, u], [0, upsilon]]``,
``B = [[B1], [b]]``, ``beta = b / ||b||``, ``w1 = S1 u + upsilon s``, ``w2 = T1 u + upsilon t``::

    continuous  (S X T^H + T X S^H + B B^H = 0):
        rho = sqrt(-2 Re(sigma conj(tau))),   upsilon = ||b|| / rho
        (conj(tau) S1 + conj(sigma) T1) u = -(upsilon (conj(tau) s + conj(sigma) t) + rho B1 beta^H)
        B1 <- B1 - (rho / tau) w2 beta
    discrete    (S X S^H - T X T^H + B B^H = 0):
        alpha = sqrt(|tau|^2 - |sigma|^2),   upsilon = ||b|| / alpha
        (conj(sigma) S1 - conj(tau) T1) u = -(upsilon (conj(sigma) s - conj(tau) t) + alpha B1 beta^H)
        B1 <- B1 + ((conj(sigma) + tau) w1 - (conj(tau) + sigma) w2) beta / alpha

(with ``T = I`` these are the recursions of :mod:`mor.linalg.hammarling`).  The Gramians of
descriptor systems built on them are :mod:`mor.gramians.descriptor`.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..errors import SystemTypeError, UnstableSystemError

__all__ = ["check_stable_pencil", "generalized_schur", "triangular_pencil_factor"]


def _step_continuous(S, T, B, k, sig, tau, nb, beta):
    rho2 = -2.0 * (sig * tau.conjugate()).real
    rho = np.sqrt(rho2)
    ups = nb / rho
    M = tau.conjugate() * S[:k, :k] + sig.conjugate() * T[:k, :k]
    rhs = ups * (tau.conjugate() * S[:k, k] + sig.conjugate() * T[:k, k]) + rho * (B[:k] @ beta.conj())
    u = -sla.solve_triangular(M, rhs, check_finite=False)
    w2 = T[:k, :k] @ u + ups * T[:k, k]
    B[:k] -= ((rho / tau) * w2)[:, None] * beta
    return ups, u


def _step_discrete(S, T, B, k, sig, tau, nb, beta):
    alpha = np.sqrt((abs(tau) - abs(sig)) * (abs(tau) + abs(sig)))
    ups = nb / alpha
    M = sig.conjugate() * S[:k, :k] - tau.conjugate() * T[:k, :k]
    rhs = ups * (sig.conjugate() * S[:k, k] - tau.conjugate() * T[:k, k]) + alpha * (B[:k] @ beta.conj())
    u = -sla.solve_triangular(M, rhs, check_finite=False)
    w1 = S[:k, :k] @ u + ups * S[:k, k]
    w2 = T[:k, :k] @ u + ups * T[:k, k]
    B[:k] += (((sig.conjugate() + tau) * w1 - (tau.conjugate() + sig) * w2) / alpha)[:, None] * beta
    return ups, u


def triangular_pencil_factor(S: np.ndarray, T: np.ndarray, B: np.ndarray, *, discrete: bool = False) -> np.ndarray:
    """Upper triangular ``U`` with ``X = U U^H`` for a triangular pencil (generalised Hammarling).

    Solves ``S X T^H + T X S^H + B B^H = 0`` (continuous) or ``S X S^H - T X T^H + B B^H = 0``
    (discrete) for upper triangular ``S``, ``T`` (see the module notes for the recursion).

    Parameters
    ----------
    S, T : (n, n) complex ndarray
        Upper triangular; ``T`` non-singular and the eigenvalues ``s_ii / t_ii`` stable
        (``Re < 0``; discrete ``|.| < 1``): the caller checks.
    B : (n, m) ndarray
        Right-hand-side factor.
    discrete : bool
        The discrete-time (Stein) equation.

    Returns
    -------
    U : (n, n) complex ndarray
        Upper triangular; column ``k`` is zero where the ``k``-th row of the running right-hand
        side vanishes.
    """
    n = S.shape[0]
    U = np.zeros((n, n), dtype=np.complex128)
    B = np.array(B, dtype=np.complex128)
    if n == 0 or B.shape[1] == 0:
        return U
    S = np.asarray(S, dtype=np.complex128)
    T = np.asarray(T, dtype=np.complex128)
    negligible = 2.0**-500 * float(np.abs(B).max())
    step = _step_discrete if discrete else _step_continuous
    for k in range(n - 1, -1, -1):
        b = B[k]
        scale = float(np.abs(b).max())
        if scale <= negligible:
            continue
        bs = b / scale
        nbs = float(np.sqrt((bs.conj() @ bs).real))
        nb, beta = scale * nbs, bs / nbs
        ups, u = step(S, T, B, k, complex(S[k, k]), complex(T[k, k]), nb, beta)
        U[k, k] = ups
        U[:k, k] = u
    return U


def generalized_schur(A: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Complex generalised Schur form ``A = Qz S Z^H``, ``E = Qz T Z^H`` (LAPACK ``zgges``).

    Parameters
    ----------
    A, E : (n, n) array_like
        The pencil.

    Returns
    -------
    S, T : (n, n) complex ndarray
        Upper triangular; the generalised eigenvalues are ``diag(S) / diag(T)``.
    Qz, Z : (n, n) complex ndarray
        Unitary.
    """
    S, T, Qz, Z = sla.qz(np.asarray(A, dtype=complex), np.asarray(E, dtype=complex), output="complex")
    return S, T, Qz, Z


def check_stable_pencil(S: np.ndarray, T: np.ndarray, discrete: bool) -> np.ndarray:
    """The eigenvalues ``s_ii / t_ii`` of a triangular pencil, after checking ``T`` and stability.

    Parameters
    ----------
    S, T : (n, n) complex ndarray
        Upper triangular (the generalised Schur form of ``(A, E)``).
    discrete : bool
        Stability region ``|lambda| < 1`` (else ``Re(lambda) < 0``).

    Returns
    -------
    (n,) complex ndarray

    Raises
    ------
    SystemTypeError
        ``T`` (so ``E``) singular: infinite eigenvalues.
    UnstableSystemError
        An eigenvalue outside the stability region.
    """
    s, t = np.diag(S), np.diag(T)
    tmax = float(np.abs(t).max(initial=0.0))
    if np.any(np.abs(t) <= S.shape[0] * np.finfo(float).eps * max(tmax, np.finfo(float).tiny)):
        raise SystemTypeError(
            "E is singular (the pencil A - lambda E has infinite eigenvalues): the generalised Gramians here "
            "need a non-singular E; semi-explicit index-1 systems are reduced first by "
            "mor.systems.descriptor.eliminate_algebraic"
        )
    lam = s / t
    bad = (s * t.conj()).real >= 0 if not discrete else np.abs(s) >= np.abs(t)
    if np.any(bad):
        region = "|lambda| < 1" if discrete else "Re(lambda) < 0"
        raise UnstableSystemError(
            f"the generalised Gramians need every eigenvalue of the pencil A - lambda E stable ({region}); "
            f"{int(bad.sum())} unstable: {', '.join(f'{x:.6g}' for x in lam[bad][:8])}",
            poles=lam[bad],
            index=[(int(i),) for i in np.flatnonzero(bad)],
        )
    return lam
