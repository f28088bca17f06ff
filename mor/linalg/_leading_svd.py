"""All singular values and only the leading singular vectors of a batch of small matrices (internal).

A balanced truncation to order ``r`` needs every Hankel singular value (the error bound sums the
tail) but only the ``r`` leading singular vectors of ``M = S^H R``.  LAPACK's full SVD with vectors
spends most of its time on the vectors (for ``64 x 64`` complex matrices, 2.4x the time of the
values).  Here each matrix goes through the steps of LAPACK's own drivers, keeping what they share::

    M = Q B P^H          ZGEBRD: Householder bidiagonalisation, B real upper bidiagonal
    sigma = svd(B)       DLASQ1 (dqds): every value to high relative accuracy; this is the
                         values-only path of ZGESDD, so the values are numpy.linalg.svd(M,
                         compute_uv=False)'s, bit for bit
    B v = sigma u        eigenvectors of the Golub-Kahan tridiagonal TGK = tridiag(d1, e1, d2, ...,
                         dn) (zero diagonal) of order 2n at the r leading values, which interleave
                         (v, u) / sqrt(2) (the method of LAPACK's DBDSVDX / ZGESVDX): one twisted
                         factorisation each, vectorised over the batch (Dhillon and Parlett 2004),
                         DSTEIN (inverse iteration) where that fails the check
    V_r = P v            ZUNMBR: the r right vectors back to M's coordinates
    U_r = Q u            the same for the left vectors, or (when only their span is needed, as
                         for an orthonormalised projection) U_r = M V_r / sigma, one batched product

The triplets of ``B`` are checked (``||B v - sigma u||``, ``||B^T u - sigma v||`` relative to
``sigma_1`` and the orthonormality of ``u`` and ``v``, at most ``CHECK_TOL max(m, n) eps``); ``Q`` and
``P`` are unitary to working precision, so these are the residuals of the triplets of ``M``.  A
matrix that fails the check, or on which a LAPACK step reports an error, gets
``numpy.linalg.svd`` instead.  The routines come from scipy's Cython LAPACK (``ctypes`` on
``scipy.linalg.cython_lapack``, as :mod:`mor.linalg.hammarling` does for BLAS); without them everything
goes to ``numpy.linalg.svd``.
"""

from __future__ import annotations

import ctypes
import logging

import numpy as np

from ._capi import scipy_routine

__all__ = ["BidiagonalSVD", "CHECK_TOL"]

log = logging.getLogger(__name__)

#: A triplet passes when its residuals and the loss of orthonormality are at most
#: ``CHECK_TOL * max(m, n) * eps`` (residuals relative to ``sigma_1``).
CHECK_TOL = 64.0


def _lapack(name: str, nargs: int):
    """A routine of scipy's ``cython_lapack`` as a ``ctypes`` function of ``nargs`` pointers, or ``None``."""
    return scipy_routine("lapack", name, [ctypes.c_void_p] * nargs)


_ZGEBRD = _lapack("zgebrd", 11)
_DLASQ1 = _lapack("dlasq1", 5)
_DSTEIN = _lapack("dstein", 13)
_ZUNMBR = _lapack("zunmbr", 14)
_AVAILABLE = None not in (_ZGEBRD, _DLASQ1, _DSTEIN, _ZUNMBR)
_CHARS = {c: ctypes.create_string_buffer(c.encode()) for c in "QPLNC"}


def _char(c: str) -> int:
    return ctypes.addressof(_CHARS[c])


class BidiagonalSVD:
    """SVD of a batch ``M (b, m, n)``: every singular value at once, leading vectors on demand.

    Parameters
    ----------
    M : (b, m, n) ndarray, complex

    Attributes
    ----------
    s : (b, k) ndarray
        Singular values, decreasing, ``k = min(m, n)``.

    Notes
    -----
    Shapes other than ``n <= m < 17 n / 9`` (where ZGESDD would not bidiagonalise ``M`` itself, so
    that the values would differ from ``numpy.linalg.svd``'s in the last digits) and batches
    without the LAPACK routines go to ``numpy.linalg.svd`` entirely.
    """

    def __init__(self, M: np.ndarray):
        M = np.asarray(M, dtype=np.complex128)
        self._M = M
        b, m, n = M.shape
        k = min(m, n)
        self._k = k
        self.fallback = np.zeros(b, dtype=bool)  # members done by numpy.linalg.svd
        self.recomputed = 0  # members whose vectors the last leading() call took from numpy.linalg.svd
        # ZGESDD bidiagonalises M itself (the values below are then numpy's) for n <= m < 17 n / 9
        # only: other shapes (wide, or tall enough for a QR first) go to numpy.linalg.svd
        if not _AVAILABLE or k == 0 or b == 0 or not n <= m < (n * 17) // 9:
            self.s = np.linalg.svd(M, compute_uv=False) if k else np.zeros((b, 0))
            self.fallback[:] = True
            return
        self._A = np.ascontiguousarray(np.swapaxes(M, 1, 2))  # (b, n, m): each member's Fortran array
        self._mm, self._nn = mm, nn = m, n
        self._d = np.empty((b, nn))
        self._e = np.zeros((b, nn))
        self._tauq = np.empty((b, nn), complex)
        self._taup = np.empty((b, nn), complex)
        s = np.empty((b, nn))
        lwork = (mm + nn) * 64
        work = np.empty(max(lwork, 4 * nn), complex)
        rwork = np.empty(4 * nn)
        iv = np.array([mm, nn, mm, lwork, 0], dtype=np.int32)
        ip = [iv.ctypes.data + 4 * i for i in range(5)]
        for h in range(b):
            _ZGEBRD(ip[0], ip[1], self._A[h].ctypes.data, ip[2], self._d[h].ctypes.data, self._e[h].ctypes.data,
                    self._tauq[h].ctypes.data, self._taup[h].ctypes.data, work.ctypes.data, ip[3], ip[4])  # fmt: skip
            if iv[4] != 0:  # pragma: no cover (only argument errors)
                self.fallback[h] = True
                continue
            s[h] = self._d[h]
            ee = self._e[h].copy()
            _DLASQ1(ip[1], s[h].ctypes.data, ee.ctypes.data, rwork.ctypes.data, ip[4])
            if iv[4] != 0:
                self.fallback[h] = True
        # ZGESDD scales M into [SMLNUM, BIGNUM] by its largest entry first (max|M_ij| <= s_1 <=
        # max(m, n) max|M_ij|): members that it may have scaled are left to it
        tiny = np.sqrt(np.finfo(float).tiny) / np.finfo(float).eps
        with np.errstate(invalid="ignore"):
            s1 = s[:, 0]
            self.fallback |= ~np.isfinite(s).all(axis=1) | ((s1 > 0) & (s1 < max(m, n) * tiny)) | (s1 > 1.0 / tiny)
        if self.fallback.any():
            log.debug("leading SVD: %d of %d members by numpy.linalg.svd (LAPACK info)", self.fallback.sum(), b)
            s[self.fallback] = np.linalg.svd(M[self.fallback], compute_uv=False)
        self.s = s

    def leading(self, r: int, *, left: str = "vectors") -> tuple[np.ndarray, np.ndarray]:
        """``(U_r, Vh_r)``: the ``r`` leading left singular vectors ``(b, m, r)`` and right ones ``(b, r, n)``.

        Parameters
        ----------
        r : int
        left : {"vectors", "span"}
            ``"vectors"``: ``U_r = Q u`` (ZUNMBR), the triplets of a backward-stable SVD
            (``||M^H U_r - V_r diag(s_r)|| ~ eps sigma_1``).  ``"span"``: ``U_r = M V_r diag(s_r)^-1``
            (zero columns where ``s = 0``), one batched product: ``M V_r = U_r diag(s_r)`` holds to
            rounding and ``span(U_r)`` is as accurate as a backward-stable SVD's, but ``u_j`` may lean
            towards the leading ``u_i`` by ``eps sigma_1 / sigma_j`` (for a projection onto the span).

        Members whose bidiagonal triplets fail the check are recomputed by ``numpy.linalg.svd``.
        """
        M = self._M
        b, m, n = M.shape
        r = min(r, self._k)
        V = np.zeros((b, n, r), complex)
        U = np.zeros((b, m, r), complex)
        if r == 0 or b == 0:
            return U, np.conj(np.swapaxes(V, 1, 2))
        todo = ~self.fallback
        if todo.any():
            # (b, r, 2 nn): (v1, u1, v2, u2, ...) / sqrt(2); twisted factorisations, DSTEIN where they fail
            Z = self._twisted_vectors(r, todo)
            ok = todo & self._check(Z, r)
            again = todo & ~ok
            if again.any():
                log.debug("leading SVD: %d of %d members by DSTEIN", again.sum(), b)
                Z[again] = self._bidiagonal_vectors(r, again)[again]
                ok |= again & self._check(Z, r)
            todo = ok
            Z *= np.sqrt(2.0)
            self._back_transform("P", Z[:, :, 0::2], todo, V)  # v
            if left == "vectors":
                self._back_transform("Q", Z[:, :, 1::2], todo, U)  # u
        if left != "vectors":
            s = self.s[:, :r]
            with np.errstate(divide="ignore"):
                inv = np.where(s > 0, 1.0 / s, 0.0)
            U = (M @ V) * inv[:, None, :]
        redo = ~todo
        self.recomputed = int(redo.sum())
        if redo.any():
            log.debug("leading SVD: %d of %d members by numpy.linalg.svd", redo.sum(), b)
            Uf, _, Vhf = np.linalg.svd(M[redo], full_matrices=False)
            U[redo] = Uf[:, :, :r]
            V[redo] = np.conj(np.swapaxes(Vhf[:, :r, :], 1, 2))
        return U, np.conj(np.swapaxes(V, 1, 2))

    def _twisted_vectors(self, r: int, members: np.ndarray) -> np.ndarray:
        """Eigenvectors ``(b, r, 2 nn)`` of the TGK matrices for the ``r`` leading values, from one twisted
        factorisation each (vectorised over members and values; Dhillon and Parlett 2004).

        ``TGK - sigma I = L+ D+ L+^T = U- D- U-^T`` (top-down and bottom-up), twisted at the index
        ``k`` of the smallest ``|gamma_k| = |D+_k + D-_k + sigma|``; then ``x_k = 1``,
        ``x_j = -L+_j x_(j+1)`` above and ``x_(j+1) = -U-_j x_j`` below, normalised.  With ``sigma``
        accurate to a few ulps (DLASQ1) this is one step of inverse iteration from the best start;
        rows with a non-finite entry are zero (the check sends them on to DSTEIN).
        """
        b, nn = self._d.shape
        N = 2 * nn
        t = np.zeros((N - 1, b, 1))
        t[0::2, :, 0] = self._d.T
        t[1::2, :, 0] = self._e[:, : nn - 1].T
        sig = self.s[:, :r]  # (b, r): the lanes
        lower = np.empty((N, b, r))  # -L+_j (row N - 1 unused)
        upper = np.empty((N, b, r))  # -U-_j
        Dp = np.empty((N, b, r))
        Dm = np.empty((N, b, r))
        with np.errstate(all="ignore"):
            Dp[0] = -sig
            for j in range(N - 1):
                np.divide(t[j], Dp[j], out=lower[j])
                Dp[j + 1] = -sig - lower[j] * t[j]
            Dm[N - 1] = -sig
            for j in range(N - 2, -1, -1):
                np.divide(t[j], Dm[j + 1], out=upper[j])
                Dm[j] = -sig - upper[j] * t[j]
            gamma = np.abs(Dp + Dm + sig)
            gamma[~np.isfinite(gamma)] = np.inf
            k = np.argmin(gamma, axis=0)  # (b, r)
            np.negative(lower, out=lower)
            np.negative(upper, out=upper)
            x = np.zeros((N, b, r))
            np.put_along_axis(x, k[None], 1.0, axis=0)
            for j in range(N - 2, -1, -1):  # above the twist
                x[j] = np.where(j < k, lower[j] * x[j + 1], x[j])
            for j in range(N - 1):  # below it
                x[j + 1] = np.where(j + 1 > k, upper[j] * x[j], x[j + 1])
            x /= np.sqrt(np.einsum("jbr,jbr->br", x, x))
        Z = np.ascontiguousarray(x.transpose(1, 2, 0))
        Z[~np.isfinite(Z).all(axis=2)] = 0.0
        Z[~members] = 0.0
        return Z

    def _bidiagonal_vectors(self, r: int, members: np.ndarray) -> np.ndarray:
        """Eigenvectors ``(b, r, 2 nn)`` of the TGK matrix for the ``r`` leading values (DSTEIN), in
        decreasing order: ``(v1, u1, v2, u2, ...) / sqrt(2)`` with ``B v = sigma u``, ``B^T u = sigma v``."""
        b, nn = self._d.shape
        n2 = 2 * nn
        off = np.zeros(max(n2 - 1, 1))
        zero_diag = np.zeros(n2)
        iblock = np.ones(r, dtype=np.int32)
        isplit = np.zeros(n2, dtype=np.int32)
        isplit[0] = n2
        Z = np.zeros((b, r, n2))  # each member: Fortran (n2, r), vector j in row j
        work = np.empty(5 * n2)
        iwork = np.empty(n2, dtype=np.int32)
        ifail = np.empty(r, dtype=np.int32)
        w = np.empty(r)
        iv = np.array([n2, r, n2, 0], dtype=np.int32)  # n, m, ldz, info
        ip = [iv.ctypes.data + 4 * i for i in range(iv.size)]
        for h in np.flatnonzero(members):
            off[0::2] = self._d[h]
            off[1::2] = self._e[h, : nn - 1]
            w[:] = self.s[h, :r][::-1]  # ascending
            _DSTEIN(ip[0], zero_diag.ctypes.data, off.ctypes.data, ip[1], w.ctypes.data, iblock.ctypes.data,
                    isplit.ctypes.data, Z[h].ctypes.data, ip[2], work.ctypes.data, iwork.ctypes.data,
                    ifail.ctypes.data, ip[3])  # fmt: skip
            if iv[3] != 0:
                self.fallback[h] = True
        return Z[:, ::-1]  # decreasing values

    def _check(self, Z: np.ndarray, r: int) -> np.ndarray:
        """Members whose ``r`` eigenvectors ``z = (v1, u1, v2, u2, ...) / sqrt(2)`` of the TGK matrix
        pass: ``||TGK z - sigma z||`` (relative to ``sigma_1``), ``||Z Z^T - I||`` and ``||Z J Z^T||``
        (``J = diag(1, -1, 1, ...)``; with the first, ``u`` and ``v`` are orthonormal) at most
        ``CHECK_TOL max(m, n) eps``.

        ``Q`` and ``P`` are unitary to working precision, so these are the residuals
        ``||B v - sigma u||``, ``||B^T u - sigma v||`` and the orthonormality of the triplets of ``M``.
        """
        b, nn = self._d.shape
        t = np.empty((b, 1, 2 * nn - 1))
        t[:, 0, 0::2] = self._d
        t[:, 0, 1::2] = self._e[:, : nn - 1]
        Tz = -self.s[:, :r, None] * Z
        Tz[..., :-1] += t * Z[..., 1:]
        Tz[..., 1:] += t * Z[..., :-1]
        scale = np.maximum(self.s[:, :1], np.finfo(float).tiny)
        res = np.abs(Tz).max(axis=(1, 2)) / scale[:, 0]
        Zj = Z.copy()
        Zj[..., 1::2] *= -1.0
        Zt = np.swapaxes(Z, 1, 2)
        orth = np.maximum(np.abs(Z @ Zt - np.eye(r)).max(axis=(1, 2)), np.abs(Zj @ Zt).max(axis=(1, 2)))
        tol = CHECK_TOL * max(self._M.shape[1:]) * np.finfo(float).eps
        return (np.maximum(res, orth) <= tol) & ~self.fallback

    def _back_transform(self, vect: str, x: np.ndarray, members: np.ndarray, out: np.ndarray) -> None:
        """``P v`` (``vect = "P"``, ``x`` the right vectors of ``B``) or ``Q [u; 0]`` (``"Q"``, the left
        ones) by ZUNMBR, ``x (b, r, nn)``, for ``members``, written into ``out (b, rows, r)``."""
        mm, nn = self._mm, self._nn
        r = x.shape[1]
        lwork = max(1, r) * 64
        zwork = np.empty(lwork, complex)
        rows, k = (nn, mm) if vect == "P" else (mm, nn)
        C = np.zeros((r, rows), complex)  # Fortran (rows, r); rows nn.. of Q's argument stay zero
        tau = self._taup if vect == "P" else self._tauq
        iv = np.array([0, rows, r, k, mm, rows, lwork], dtype=np.int32)  # info, m, n, k, lda, ldc, lwork
        ip = [iv.ctypes.data + 4 * i for i in range(iv.size)]
        for h in np.flatnonzero(members):
            C[:, :nn] = x[h]
            C[:, nn:] = 0.0
            _ZUNMBR(_char(vect), _char("L"), _char("N"), ip[1], ip[2], ip[3], self._A[h].ctypes.data, ip[4],
                    tau[h].ctypes.data, C.ctypes.data, ip[5], zwork.ctypes.data, ip[6], ip[0])  # fmt: skip
            if iv[0] != 0:  # pragma: no cover (only argument errors)
                members[h] = False
                continue
            out[h] = C.T
