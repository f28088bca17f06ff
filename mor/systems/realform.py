"""A real realisation of a diagonal system with the data of a real system.

A :class:`mor.DiagonalLTI` ``(lambda, B, C, D)`` of a real system has its complex poles in
conjugate pairs with conjugate rows of ``B`` and columns of ``C``.  A pole ``l = a + j w`` (row
``b``, column ``c``) and its partner are written in the real coordinates
``x_i = (x_r + j x_m) / sqrt(2)`` (a unitary change of coordinates of the pair)::

    A block  [[a, -w], [w, a]],   B rows  sqrt(2) [Re b; Im b],   C columns  sqrt(2) [Re c, -Im c]

Real poles (with real ``B`` rows and ``C`` columns) stay diagonal entries.
"""

from __future__ import annotations

import numpy as np

from ..errors import SystemTypeError

__all__ = ["real_diagonal_matrices"]

#: Relative tolerance for "real" and "conjugate" (to the largest pole, ``B`` and ``C`` entry).
TOL = 1e-12


def real_diagonal_matrices(
    poles: np.ndarray, B: np.ndarray, C: np.ndarray, D: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Real ``(A, B, C, D)`` with the transfer function of the diagonal system ``(poles, B, C, D)``.

    Parameters
    ----------
    poles : (n,) ndarray
        The poles of one (unbatched) diagonal system.
    B : (n, m) ndarray
        Input matrix.
    C : (p, n) ndarray
        Output matrix.
    D : (p, m) ndarray
        Feedthrough.

    Returns
    -------
    A : (n, n) ndarray
        Real, block diagonal (1x1 and 2x2 blocks, see the module notes).
    B : (n, m) ndarray
    C : (p, n) ndarray
    D : (p, m) ndarray
        All real.

    Raises
    ------
    SystemTypeError
        The data are not those of a real system (a complex pole without its conjugate partner,
        complex ``B``/``C`` entries of a real pole, or a complex ``D``).
    """
    lam = np.asarray(poles)
    n = lam.shape[0]
    tl = TOL * max(float(np.abs(lam).max(initial=0)), 1.0)
    tb = TOL * max(float(np.abs(B).max(initial=0)), np.finfo(float).tiny)
    tc = TOL * max(float(np.abs(C).max(initial=0)), np.finfo(float).tiny)
    if np.iscomplexobj(D) and np.any(np.abs(D.imag) > TOL * max(float(np.abs(D).max(initial=0)), 1.0)):
        raise SystemTypeError("D is complex: the system is not real (python-control would drop its imaginary part)")
    A, Br, Cr = np.zeros((n, n)), np.zeros((n, B.shape[1])), np.zeros((C.shape[0], n))
    used = np.zeros(n, bool)
    for i in range(n):
        if used[i]:
            continue
        used[i] = True
        if abs(lam[i].imag) <= tl:
            if np.abs(np.imag(B[i])).max(initial=0) > tb or np.abs(np.imag(C[:, i])).max(initial=0) > tc:
                raise SystemTypeError(f"mode {i} has a real pole but complex B or C entries: the system is not real")
            A[i, i], Br[i], Cr[:, i] = lam[i].real, np.real(B[i]), np.real(C[:, i])
            continue
        j = _partner(lam, B, C, i, used, (tl, tb, tc))
        if j is None:
            raise SystemTypeError(
                f"the complex pole {lam[i]:.6g} (mode {i}) has no conjugate partner with conjugate B and C "
                "entries: the system is not real"
            )
        used[j] = True
        a, w = lam[i].real, lam[i].imag
        A[i, i], A[i, j], A[j, i], A[j, j] = a, -w, w, a
        Br[i], Br[j] = np.sqrt(2) * B[i].real, np.sqrt(2) * B[i].imag
        Cr[:, i], Cr[:, j] = np.sqrt(2) * C[:, i].real, -np.sqrt(2) * C[:, i].imag
    return A, Br, Cr, np.real(D)


def _partner(lam, B, C, i, used, tols) -> int | None:
    """The first unused mode with ``conj`` of mode ``i``'s pole, ``B`` row and ``C`` column."""
    tl, tb, tc = tols
    for j in np.flatnonzero(~used):
        if (
            abs(lam[j] - np.conj(lam[i])) <= tl
            and np.all(np.abs(B[j] - np.conj(B[i])) <= tb)
            and np.all(np.abs(C[:, j] - np.conj(C[:, i])) <= tc)
        ):
            return int(j)
    return None
