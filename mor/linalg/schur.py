"""One complex Schur form ``A = Z T Z^H`` for the whole package, with exact eigenvalues.

The Lyapunov solvers, the Hammarling factors, the H-infinity norm and the transfer
functions all work on the upper triangular ``T`` of :func:`complex_schur`.

A complex ``A`` goes to LAPACK ``zgees``.  A real ``A`` goes to LAPACK ``dgees`` (about half
the cost), ``A = Zr Tr Zr^T``, whose quasi-triangular ``Tr`` has *standardised* 2x2 blocks
for the complex pairs::

    [[a, b], [c, a]],   b c < 0,   eigenvalues  a +- j sqrt(|b|) sqrt(|c|)

The eigenvalues are computed in exactly that form: ``b c`` itself underflows (or overflows)
for badly scaled matrices (``A * 1e-200``), which would turn a complex pair into a double
real eigenvalue.  Each block is triangularised by the unitary

    Q = [[c_k, -s_k], [s_k, conj(c_k)]]     (s_k real),
    first column  v ~ [sign(b) sqrt(|b|), j sqrt(|c|)]   (the eigenvector of a + j omega),

and with ``G`` the block-diagonal matrix of all ``Q^H``::

    T = G Tr G^H,   Z = Zr G^H,   diag(T) set to the exact eigenvalues.

Setting the diagonal matters for lightly damped modes: the rotation itself would move
``Re(lambda)`` by about ``eps |b|``.  A block that is not standardised (not produced by
``dgees``) falls back to the general 2x2 formula, evaluated on the block scaled by a power
of two.  A :class:`SchurForm` keeps ``Zr`` and the rotations, so that
:func:`mor.linalg.lyapunov.solve_lyapunov` transforms real right-hand sides in real arithmetic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg as sla

from ..errors import InvalidArgumentError
from ._arrays import as_array, lower_indices

__all__ = ["SchurForm", "complex_schur", "quasi_triangular_eigvals"]


# --------------------------------------------------------------------------- 2x2 blocks


def _blocks(T: np.ndarray) -> np.ndarray:
    """First index ``i`` of every 2x2 diagonal block (rows/columns ``i, i+1``) of a real Schur form."""
    i = np.flatnonzero(T.diagonal(-1))
    if i.size > 1 and (i[1:] - i[:-1]).min() < 2:
        raise InvalidArgumentError("the matrix is not quasi-triangular: its 2x2 diagonal blocks overlap")
    return i


def _standardised(a, b, c, d) -> np.ndarray:
    """Mask of the blocks in LAPACK's standard form ``[[a, b], [c, a]]`` with ``b c < 0``."""
    return (a == d) & (np.sign(b) * np.sign(c) < 0)


def _scaled(*entries: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Exponents ``e`` and the entries times ``2^-e``, ``e`` the binary exponent of the largest."""
    big = np.maximum.reduce([np.abs(x) for x in entries])
    e = np.frexp(np.where(big > 0, big, 1.0))[1]
    return e, [np.ldexp(x, -e) for x in entries]


def _ldexp_complex(z: np.ndarray, e: np.ndarray) -> np.ndarray:
    return np.ldexp(z.real, e) + 1j * np.ldexp(z.imag, e)


def _block_eigvals(a, b, c, d) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``(lam1, lam2)`` of the real 2x2 blocks ``[[a, b], [c, d]]`` (arrays).

    Standardised blocks (``a = d``, ``b c < 0``): ``a +- j sqrt|b| sqrt|c|``, free of
    under/overflow.  Other blocks: the general formula on the block scaled by a power of two;
    a complex pair comes as ``(lam, conj(lam))`` with ``Im lam > 0``, real eigenvalues without
    cancellation (``lam2 = det / lam1``).
    """
    a, b, c, d = (np.asarray(x, dtype=np.float64) for x in (a, b, c, d))
    lam1 = a + 1j * (np.sqrt(np.abs(b)) * np.sqrt(np.abs(c)))
    lam2 = np.conj(lam1)
    g = ~_standardised(a, b, c, d)
    if np.any(g):
        e, (sa, sb, sc, sd) = _scaled(a[g], b[g], c[g], d[g])
        mean, half = 0.5 * (sa + sd), 0.5 * (sa - sd)
        disc = half * half + sb * sc
        root = np.sqrt(np.abs(disc))
        pair = disc < 0
        r1 = np.where(pair, mean + 1j * root, mean + np.copysign(root, mean))
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(pair, np.conj(r1), np.where(r1 != 0, (sa * sd - sb * sc) / r1, 0.0))
        lam1[g], lam2[g] = _ldexp_complex(r1, e), _ldexp_complex(r2, e)
    return lam1, lam2


def quasi_triangular_eigvals(T: np.ndarray) -> np.ndarray:
    """Eigenvalues of a real quasi-triangular (real Schur) matrix, in diagonal order.

    Parameters
    ----------
    T : (n, n) ndarray, real
        Upper quasi-triangular: 1x1 and 2x2 diagonal blocks (LAPACK ``dgees``, SLICOT).

    Returns
    -------
    (n,) ndarray, complex
        The eigenvalue of each 1x1 block, and of each 2x2 block the pair
        ``(lam, conj(lam))`` with ``Im lam > 0`` (see the module description for the formula).

    Raises
    ------
    InvalidArgumentError
        The 2x2 diagonal blocks of ``T`` overlap.
    """
    T = np.asarray(T)
    t = np.diagonal(T).astype(np.complex128)
    i = _blocks(T)
    t[i], t[i + 1] = _block_eigvals(T[i, i], T[i, i + 1], T[i + 1, i], T[i + 1, i + 1])
    return t


def _block_rotations(Tr: np.ndarray):
    """Rotations ``(i, c, s)`` triangularising the 2x2 blocks of ``Tr``, and their eigenvalues.

    Rotation ``k`` acts on rows/columns ``i[k], i[k] + 1`` as ``G = [[conj(c), s], [-s, c]]``
    (``s >= 0`` real); ``G^H`` has the eigenvector of ``lam1[k]`` as its first column, so
    ``G T_kk G^H = [[lam1, x], [0, lam2]]``.
    """
    i = _blocks(Tr)
    j = i + 1
    a, b, c, d = Tr[i, i], Tr[i, j], Tr[j, i], Tr[j, j]
    if not ((a != d) | (b == 0) | (np.signbit(b) == np.signbit(c))).any():  # all standardised
        sb, sc = np.sqrt(np.abs(b)), np.sqrt(np.abs(c))
        lam1 = a + 1j * (sb * sc)
        nrm = np.hypot(sb, sc)
        # v = [sign(b) sqrt|b|, j sqrt|c|] / nrm, phase-rotated so that the second entry is real
        return (i, -1j * (np.copysign(sb, b) / nrm), sc / nrm), lam1, lam1.conj()
    lam1, lam2 = _block_eigvals(a, b, c, d)
    # eigenvector of lam1: standardised blocks [sign(b) sqrt|b|, j sqrt|c|] (no under/overflow);
    # others the larger of [b, lam1 - a] and [lam1 - d, c] of the block scaled by a power of two
    v0 = (np.sign(b) * np.sqrt(np.abs(b))).astype(np.complex128)
    v1 = 1j * np.sqrt(np.abs(c))
    g = ~_standardised(a, b, c, d)
    if np.any(g):
        e, (sa, sb, sc, sd) = _scaled(a[g], b[g], c[g], d[g])
        sl = _ldexp_complex(lam1[g], -e)
        first = np.abs(sb) ** 2 + np.abs(sl - sa) ** 2 >= np.abs(sl - sd) ** 2 + np.abs(sc) ** 2
        v0[g] = np.where(first, sb, sl - sd)
        v1[g] = np.where(first, sl - sa, sc)
    nrm = np.hypot(np.abs(v0), np.abs(v1))
    v0, v1 = v0 / nrm, v1 / nrm
    s = np.abs(v1)
    # rotate the phase so that the second entry is real: c = v0 conj(v1) / |v1|
    c = np.where(s > 0, v0 * np.conj(v1) / np.where(s > 0, s, 1.0), 1.0)
    return (i, c, s), lam1, lam2


def _rot_rows(M: np.ndarray, rot, *, inverse: bool) -> np.ndarray:
    """In place: ``G M`` (``inverse=False``) or ``G^H M`` (``inverse=True``) for the block rotation G."""
    i, c, s = rot
    j = i + 1
    Mi, Mj = M[i], M[j]
    ci, sc = (c[:, None], s[:, None])
    if inverse:  # G^H = [[c, -s], [s, conj(c)]]
        M[i], M[j] = ci * Mi - sc * Mj, sc * Mi + ci.conj() * Mj
    else:  # G = [[conj(c), s], [-s, c]]
        M[i], M[j] = ci.conj() * Mi + sc * Mj, -sc * Mi + ci * Mj
    return M


def _rot_cols(M: np.ndarray, rot, *, inverse: bool) -> np.ndarray:
    """In place: ``M G^H`` (``inverse=False``) or ``M G`` (``inverse=True``)."""
    i, c, s = rot
    j = i + 1
    Mi, Mj = M[:, i], M[:, j]
    if inverse:  # M G, G = [[conj(c), s], [-s, c]]
        M[:, i], M[:, j] = Mi * c.conj() - Mj * s, Mi * s + Mj * c
    else:  # M G^H, G^H = [[c, -s], [s, conj(c)]]
        M[:, i], M[:, j] = Mi * c + Mj * s, -Mi * s + Mj * c.conj()
    return M


# --------------------------------------------------------------------------- the form


class SchurForm(tuple):
    """The pair ``(T, Z)`` returned by :func:`complex_schur`; unpacks like a plain tuple.

    Its items are ``T`` ``(n, n)``, the upper triangular complex Schur factor, and ``Z``
    ``(n, n)``, the unitary Schur vectors, with ``A = Z T Z^H``.  For a real matrix it also
    keeps the real Schur vectors and the 2x2 rotations, so that :meth:`to_schur_basis` and
    :meth:`from_schur_basis` run their ``n^3`` products in real arithmetic (about four times
    fewer flops) for real data.  ``SchurForm(T, Z)`` wraps a pair from elsewhere (complex
    products only); the third argument ``(Zr, rotations)``, ``Z = Zr G^H``, is set by
    :func:`complex_schur`.
    """

    _real: tuple | None

    def __new__(cls, T: np.ndarray, Z: np.ndarray, real: tuple | None = None) -> SchurForm:
        self = super().__new__(cls, (T, Z))
        self._real = real
        return self

    def __reduce__(self) -> tuple:
        """Pickle and copy as ``SchurForm(T, Z, real)`` (a tuple subclass is rebuilt from ``__new__``'s arguments)."""
        return (type(self), (self[0], self[1], self._real))

    @property
    def T(self) -> np.ndarray:
        """(n, n) complex upper triangular factor."""
        return self[0]

    @property
    def Z(self) -> np.ndarray:
        """(n, n) complex unitary factor."""
        return self[1]

    @property
    def eigenvalues(self) -> np.ndarray:
        """(n,) the diagonal of ``T``: the eigenvalues of ``A``."""
        return np.diagonal(self[0])

    def real_basis(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``(Zr, G^H U)`` with ``Z U = Zr (G^H U)`` and ``Zr`` real, when ``A`` is real; else ``None``.

        Parameters
        ----------
        U : (n, k) ndarray
            Coordinates in the complex Schur basis (not modified).

        Returns
        -------
        (Zr, V) : ((n, n) real ndarray, (n, k) complex ndarray) or None
            The real Schur vectors and ``V = G^H U`` (``O(n k)`` work: the 2x2 block rotations),
            so that products with ``Z`` become real ones.
        """
        if self._real is None:
            return None
        Zr, rot = self._real
        return Zr, _rot_rows(np.array(U, dtype=np.complex128), rot, inverse=True)

    def to_schur_basis(self, Q: np.ndarray) -> np.ndarray:
        """``Z^H Q Z`` (complex128), in real arithmetic up to the rotations when possible.

        Parameters
        ----------
        Q : (n, n) ndarray
            Matrix in the original basis.

        Returns
        -------
        (n, n) ndarray, complex
        """
        if self._real is None:
            Z = self[1]
            return np.asarray(Z.conj().T @ Q @ Z, dtype=np.complex128)
        Zr, rot = self._real
        C = (Zr.T @ Q @ Zr).astype(np.complex128)
        return _rot_cols(_rot_rows(C, rot, inverse=False), rot, inverse=False)

    def from_schur_basis(self, Y: np.ndarray, *, real: bool = False) -> np.ndarray:
        """``Z Y Z^H``; with ``real=True`` its real part, formed in real arithmetic.

        Parameters
        ----------
        Y : (n, n) ndarray
            Matrix in the Schur basis (overwritten when ``A`` is real).
        real : bool
            Return the real part (for real data whose result is known to be real).

        Returns
        -------
        (n, n) ndarray
        """
        if self._real is None:
            Z = self[1]
            X = Z @ Y @ Z.conj().T
        else:
            Zr, rot = self._real
            Y = _rot_cols(_rot_rows(np.asarray(Y, dtype=np.complex128), rot, inverse=True), rot, inverse=True)
            X = Zr @ (Y.real if real else Y) @ Zr.T
        return X.real if real else X


def complex_schur(A: Any) -> SchurForm:
    """Complex Schur form ``A = Z T Z^H`` with the eigenvalues of real 2x2 blocks exact.

    Parameters
    ----------
    A : (n, n) array_like
        Real or complex square matrix.

    Returns
    -------
    SchurForm
        The pair ``(T, Z)``: ``T`` ``(n, n)`` complex upper triangular, its diagonal the
        eigenvalues of ``A``; ``Z`` ``(n, n)`` complex unitary.

    Raises
    ------
    DimensionError
        ``A`` is not a square 2-D array.
    NonFiniteError
        ``A`` has NaN or infinite entries.

    Notes
    -----
    An upper triangular ``A`` is its own Schur form (``T = A``, ``Z = I``, exact).  Otherwise a
    real ``A`` is reduced to real Schur form (LAPACK ``dgees``, about half the cost of
    ``zgees``) whose standardised 2x2 blocks ``[[a, b], [c, a]]`` are triangularised by
    unitary 2x2 transformations; the diagonal of ``T`` is set to the eigenvalues
    ``a +- j sqrt(|b|) sqrt(|c|)`` (see the module description).  The result is a
    :class:`SchurForm` (a tuple), which :func:`mor.linalg.lyapunov.solve_lyapunov` accepts as
    ``schur=`` and uses without complex ``n^3`` transformations when ``A`` is real.

    Examples
    --------
    >>> import numpy as np
    >>> T, Z = complex_schur([[0.0, 1.0], [-2.0, -3.0]])
    >>> np.allclose(Z @ T @ Z.conj().T, [[0.0, 1.0], [-2.0, -3.0]])
    True
    """
    A = as_array(A, "A", square=True, copy=False)
    if is_upper_triangular(A):  # already triangular (a diagonal system made dense): exact, Z = I
        eye = np.eye(A.shape[0])
        none = (np.zeros(0, dtype=int), np.zeros(0, dtype=np.complex128), np.zeros(0))
        real = None if np.iscomplexobj(A) else (eye, none)
        return SchurForm(A.astype(np.complex128), eye.astype(np.complex128), real)
    if np.iscomplexobj(A):
        T, Z = _lapack_schur(sla.lapack.zgees, A)
        T[lower_indices(A.shape[0])] = 0.0
        return SchurForm(T, Z)
    Tr, Zr = _lapack_schur(sla.lapack.dgees, A)
    rot, lam1, lam2 = _block_rotations(Tr)
    i = rot[0]
    if A.shape[0] <= _MATMUL_MAX_ORDER:  # G Tr G^H and Zr G^H as products: fewer numpy calls
        G = _rotation_matrix(A.shape[0], rot)
        Gh = G.conj().T
        T, Z = (G @ Tr) @ Gh, Zr @ Gh
    else:
        T = _rot_cols(_rot_rows(Tr.astype(np.complex128), rot, inverse=False), rot, inverse=False)
        Z = _rot_cols(Zr.astype(np.complex128), rot, inverse=False)
    T[i, i], T[i + 1, i + 1] = lam1, lam2
    T[i + 1, i] = 0.0  # the rest of the lower triangle is exactly zero (rotations within 2x2 blocks)
    return SchurForm(T, Z, (Zr, rot))


#: Up to this order :func:`complex_schur` applies the block rotations as matrix products.
_MATMUL_MAX_ORDER = 32


def _rotation_matrix(n: int, rot) -> np.ndarray:
    """The block-diagonal unitary ``G`` (identity outside the 2x2 blocks) of the rotations ``rot``."""
    i, c, s = rot
    G = np.eye(n, dtype=np.complex128)
    G[i, i], G[i, i + 1], G[i + 1, i], G[i + 1, i + 1] = c.conj(), s, -s, c
    return G


def _no_sort(*_: Any) -> bool:  # pragma: no cover - LAPACK calls it only when sorting
    return False


def _lapack_schur(gees: Any, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(T, Z)`` from LAPACK ``dgees``/``zgees`` (no sorting; ``A`` is finite: checked by the caller)."""
    out = gees(_no_sort, A, compute_v=1, sort_t=0, overwrite_a=0)
    info = out[-1]
    if info != 0:
        raise np.linalg.LinAlgError(f"Schur form not found (LAPACK gees info = {info})")
    return out[0], out[-3]


def is_upper_triangular(A: np.ndarray) -> bool:
    """Whether the square ``A`` is zero below its diagonal.

    Parameters
    ----------
    A : (n, n) ndarray

    Returns
    -------
    bool
    """
    return not A[lower_indices(A.shape[0])].any()
