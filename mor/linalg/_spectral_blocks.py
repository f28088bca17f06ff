"""Block-diagonal form of a dense matrix with its near-defective eigenvalue clusters kept together (internal).

Modal truncation needs ``A = W diag(A_1, ..., A_k) W^-1``.  With eigenvectors (``A_g`` all 1 x 1,
or real 2 x 2 for a conjugate pair of a real matrix) an eigenvalue ``lambda_i`` whose spectral
projector ``P_i = x_i y_i^H / (y_i^H x_i)`` has a large norm ``kappa_i = ||P_i||`` (its eigenvector
condition number) belongs to a near-defective cluster: its residue is ``kappa_i`` times too large,
and cancels only against its neighbours'.  Keeping one mode of such a cluster and dropping another
is the quiet failure of a 2 x 2 Jordan block split by rounding (``||G_r|| = 1.4e8`` for
``||G|| = 48``).  So the clusters are found and kept as blocks (Bavely & Stewart 1979, the
block-diagonalisation of MATLAB's ``bdschur``):

1. ``kappa_i`` for every eigenvalue from ``eig`` (``||y_i|| ||x_i||`` with ``Y = X^-1``).
2. An eigenvalue with ``kappa_i > CLUSTER_CONDITION`` starts a cluster, which absorbs the nearest
   eigenvalue outside it (with its conjugate for a real matrix) until the cluster's own spectral
   projector has norm ``<= CLUSTER_CONDITION``.  That norm is ``1 / s`` from LAPACK ``trsen``,
   which moves the cluster to the top of the Schur form (the Schur eigenvalues are matched to those
   of ``eig`` one to one by a linear assignment).
3. Basis: an eigenvector per well-conditioned eigenvalue (``[Re x, Im x]`` for a pair of a real
   matrix), the orthonormal Schur vectors of the invariant subspace per cluster; then
   ``A_g``, ``B_g``, ``C_g`` are the diagonal blocks of ``W^-1 A W``, ``W^-1 B``, ``C W``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack, schur
from scipy.optimize import linear_sum_assignment

from ..errors import InvalidArgumentError
from .schur import quasi_triangular_eigvals

__all__ = ["CLUSTER_CONDITION", "SpectralBlocks", "conjugate_partners", "eigen_conditions", "spectral_blocks"]

#: Spectral projector norm above which an eigenvalue is grouped with its neighbours (random
#: dense matrices of order 3-60 measured: at most 190, median 9).
CLUSTER_CONDITION = 1e3
#: Condition number of the block basis above which the blocks are refused as untrustworthy.
MAX_BASIS_CONDITION = 1e12


@dataclass(frozen=True)
class SpectralBlocks:
    """The blocks of a (real or complex) dense ``A``.

    Attributes
    ----------
    lam : (n,) ndarray
        Eigenvalues (``numpy.linalg.eig`` order).
    groups : list of (k_g,) int ndarray
        Eigenvalue indices of each block, in basis order.
    clusters : list of (k_g,) int ndarray
        The groups that are near-defective clusters (a subset of ``groups``).
    W : (n, n) ndarray
        The basis; ``W^-1 A W`` is block diagonal with blocks of sizes ``len(groups[g])``.
    """

    lam: np.ndarray
    groups: list[np.ndarray]
    clusters: list[np.ndarray]
    W: np.ndarray

    def blocks(self, A: np.ndarray, B: np.ndarray, C: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(A_g, B_g, C_g)`` of every group: the diagonal blocks of ``W^-1 A W``, ``W^-1 B``, ``C W``."""
        At, Bt, Ct = np.linalg.solve(self.W, A @ self.W), np.linalg.solve(self.W, B), C @ self.W
        out, k = [], 0
        for g in self.groups:
            s = slice(k, k + g.size)
            out.append((At[s, s], Bt[s], Ct[:, s]))
            k += g.size
        return out


def conjugate_partners(lam: np.ndarray) -> np.ndarray:
    """For a real matrix: the index of each eigenvalue's conjugate (itself for real ones).

    LAPACK returns a complex pair consecutively, positive imaginary part first.

    Parameters
    ----------
    lam : (n,) ndarray
        Eigenvalues of a real matrix from ``numpy.linalg.eig``.

    Returns
    -------
    (n,) int ndarray
    """
    partner = np.arange(lam.size)
    complex_ = np.flatnonzero(lam.imag > 0)
    partner[complex_], partner[complex_ + 1] = complex_ + 1, complex_
    return partner


def eigen_conditions(V: np.ndarray) -> np.ndarray:
    """``kappa_i = ||y_i|| ||x_i||``, the norms of the spectral projectors (``inf`` for a singular ``V``).

    Parameters
    ----------
    V : (n, n) ndarray
        Right eigenvectors (columns).

    Returns
    -------
    (n,) ndarray
    """
    try:
        Y = np.linalg.inv(V)
    except np.linalg.LinAlgError:
        return np.full(V.shape[1], np.inf)
    kappa = np.linalg.norm(Y, axis=1) * np.linalg.norm(V, axis=0)
    return np.where(np.isfinite(kappa), kappa, np.inf)


def spectral_blocks(A: np.ndarray, lam: np.ndarray, V: np.ndarray, kappa: np.ndarray) -> SpectralBlocks:
    """The block basis of ``A`` (see the module docstring), given ``lam, V = eig(A)`` and ``kappa``.

    Parameters
    ----------
    A : (n, n) ndarray
        Real or complex.
    lam, V : ndarray
        ``numpy.linalg.eig(A)``.
    kappa : (n,) ndarray
        :func:`eigen_conditions` of ``V``.

    Returns
    -------
    SpectralBlocks

    Raises
    ------
    InvalidArgumentError
        The block basis itself is numerically singular (condition number above 1e12).
    """
    real = not np.iscomplexobj(A)
    partner = conjugate_partners(lam) if real else np.arange(lam.size)
    sf = _SchurClusters(A, lam, real)
    clusters: list[set[int]] = []
    for i in np.argsort(-kappa, kind="stable"):
        if kappa[i] <= CLUSTER_CONDITION or any(i in c for c in clusters):
            continue
        members = {int(i), int(partner[i])}
        while sf.condition(members) > CLUSTER_CONDITION and len(members) < lam.size:
            members |= _nearest(lam, members, partner)
            for c in [c for c in clusters if c & members]:
                clusters.remove(c)
                members |= c
        clusters.append(members)
    return _assemble(A, lam, V, partner, [np.array(sorted(c)) for c in clusters], sf)


def _nearest(lam: np.ndarray, members: set[int], partner: np.ndarray) -> set[int]:
    """The eigenvalue outside ``members`` nearest to it, with its conjugate partner."""
    inside = np.array(sorted(members))
    outside = np.setdiff1d(np.arange(lam.size), inside)
    dist = np.min(np.abs(lam[outside][:, None] - lam[inside][None, :]), axis=1)
    j = int(outside[np.argmin(dist)])
    return {j, int(partner[j])}


class _SchurClusters:
    """The Schur form of ``A``, its eigenvalues matched to ``eig``'s, and ``trsen`` on it."""

    def __init__(self, A: np.ndarray, lam: np.ndarray, real: bool):
        self.real = real
        self.T, self.Z = schur(A, output="real" if real else "complex")
        t = _schur_eigenvalues(self.T, real)
        rows, cols = linear_sum_assignment(np.abs(t[:, None] - lam[None, :]))
        self.eig_of_position = np.empty(lam.size, dtype=int)
        self.eig_of_position[rows] = cols

    def reorder(self, members: set[int]) -> tuple[np.ndarray, float]:
        """Orthonormal basis of the invariant subspace of ``members`` and its projector norm ``1 / s``."""
        select = np.isin(self.eig_of_position, list(members)).astype(np.int32)
        n, m = self.T.shape[0], int(select.sum())
        lwork = max(1, 2 * m * (n - m))
        if self.real:
            out = lapack.dtrsen(select, self.T, self.Z, job="E", lwork=lwork, liwork=max(1, m * (n - m)))
            Zs, s, info = out[1], out[5], out[7]
        else:
            out = lapack.ztrsen(select, self.T, self.Z, job="E", lwork=lwork)
            Zs, s, info = out[1], out[4], out[6]
        if info != 0 or out[4 if self.real else 3] != m:
            return Zs[:, :m], np.inf  # the reordering failed (too close eigenvalues): grow the cluster
        return Zs[:, :m], (1.0 / s if s > 0 else np.inf)

    def condition(self, members: set[int]) -> float:
        """``||P||`` of the cluster ``members`` (1 when it holds every eigenvalue)."""
        if len(members) == self.T.shape[0]:
            return 1.0
        return self.reorder(members)[1]


def _schur_eigenvalues(T: np.ndarray, real: bool) -> np.ndarray:
    return quasi_triangular_eigvals(T) if real else np.diag(T).copy()


def _assemble(A, lam, V, partner, clusters, sf: _SchurClusters) -> SpectralBlocks:
    """Groups and basis columns: clusters first, then the remaining eigenvalues (pairs whole)."""
    in_cluster = set().union(*map(set, clusters)) if clusters else set()
    groups, columns = [], []
    for c in clusters:
        groups.append(c)
        columns.append(sf.reorder(set(c.tolist()))[0] if c.size < lam.size else sf.Z)
    real = not np.iscomplexobj(A)
    for i in range(lam.size):
        if i in in_cluster or (real and lam[i].imag < 0):
            continue
        if real and partner[i] != i:
            groups.append(np.array([i, partner[i]]))
            columns.append(np.column_stack([V[:, i].real, V[:, i].imag]))
        else:
            groups.append(np.array([i]))
            columns.append(V[:, i : i + 1].real if real else V[:, i : i + 1])
    W = np.hstack(columns)
    cond = np.linalg.cond(W)
    if not np.isfinite(cond) or cond > MAX_BASIS_CONDITION:
        raise InvalidArgumentError(
            f"the block-diagonal basis of A has condition number {cond:.3g} (> {MAX_BASIS_CONDITION:.0e}) even "
            "with its near-defective eigenvalues grouped; modal coordinates are not trustworthy, use "
            "balanced_truncation"
        )
    return SpectralBlocks(lam, groups, clusters, W)
