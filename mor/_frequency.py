"""The transfer-function evaluator behind :mod:`mor.response` and :func:`mor.hinf_norm` (internal).

``G(s) = C (s I - A)^-1 B + D`` at many points, for a batch of diagonal systems or one dense
system.  Points are passed as ``s`` (continuous time) or, for discrete time, as ``z`` and/or
its logarithm ``x = log z``: a frequency ``omega`` is the log-point ``x = j omega dt``
exactly, and ``z = exp(x)`` is never needed by diagonal systems.

Diagonal systems (``A = diag(lambda)``, residues ``C[:, i] B[i, :]``)::

    G = D + sum_i C[:, i] B[i, :] r_i,
    continuous:  r_i = 1 / (s - lambda_i)
    discrete:    r_i = 1 / (z - z_i) = -exp(-x) / expm1(mu_i - x)      (|z| >= |z_i|)
                                     =  exp(-mu_i) / expm1(x - mu_i)    (|z| <  |z_i|)

with the log-poles ``mu_i = log z_i`` (:attr:`mor.DiagonalLTI.log_poles`): ``z - z_i`` has no
cancellation when ``z`` is close to ``z_i`` (lightly damped poles near the unit circle), and
the ``expm1`` argument has a non-positive real part, so ``z = 0`` and ``z_i = 0`` need no
special case.  ``expm1`` is :func:`mor.discretize.complex_expm1` (numpy's complex ``expm1``
is not cancellation-free).

Dense systems, through the one complex Schur form ``A = Z T Z^H`` (:func:`mor.complex_schur`)::

    G = (C Z) (s I - T)^-1 (Z^H B) + D

one triangular solve per point, or for many points one back substitution vectorised over
the points.  Points on a pole give ``inf``/``nan`` entries for both kinds of systems.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ._expm1 import complex_expm1
from .schur import SchurForm, complex_schur
from .systems import LTI, DiagonalLTI

__all__ = [
    "DenseTransfer",
    "DiagonalTransfer",
    "log_resolvent",
    "resolvent",
    "shifted_backsolve",
    "transfer_evaluator",
]

#: Dense systems: up to this many points are solved one by one (LAPACK), more at once.
LOOP_POINTS = 24


def resolvent(poles: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``1 / (s - poles)`` (broadcast); ``inf`` on a pole."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 / (s - poles)


def log_resolvent(log_poles: np.ndarray, log_z: np.ndarray) -> np.ndarray:
    """``1 / (z - z_i)`` from ``mu_i = log z_i`` and ``x = log z`` (broadcast), without cancellation.

    ``-exp(-x) / expm1(mu_i - x)`` where ``Re x >= Re mu_i``, else ``exp(-mu_i) / expm1(x - mu_i)``.
    """
    log_poles, log_z = np.broadcast_arrays(np.asarray(log_poles, complex), np.asarray(log_z, complex))
    outside = log_z.real >= log_poles.real  # |z| >= |z_i|
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        num = np.exp(-np.where(outside, log_z, log_poles))
        den = complex_expm1(np.where(outside, log_poles - log_z, log_z - log_poles))
        return np.where(outside, -num, num) / den


class DiagonalTransfer:
    """``G`` of a (flattened) batch of diagonal systems at per-member points.

    Parameters
    ----------
    sys : DiagonalLTI
        The systems; the batch is flattened to ``size`` members.
    """

    def __init__(self, sys: DiagonalLTI):
        n, m, p = sys.n, sys.m, sys.p
        self.size = int(np.prod(sys.batch_shape, dtype=int))
        self.p, self.m = p, m
        self.discrete = sys.dt is not None
        nodes = sys.log_poles if self.discrete else sys.poles
        self.nodes = nodes.reshape(self.size, n)
        B = sys.B.reshape(self.size, n, m)
        C = sys.C.reshape(self.size, p, n)
        self.residues = (np.swapaxes(C, -1, -2)[..., :, :, None] * B[..., :, None, :]).reshape(self.size, n, p * m)
        self.D = sys.D.reshape(self.size, 1, p * m)

    def __call__(self, points=None, *, log_points=None, idx=None) -> np.ndarray:
        """``G`` at ``points`` ``(a, k)`` (``s``, or ``z``) of members ``idx`` ``(a,)``: ``(a, k, p, m)``.

        Parameters
        ----------
        points : (a, k) ndarray, optional
            ``s`` (continuous) or ``z`` (discrete; only used when ``log_points`` is not given).
        log_points : (a, k) ndarray, optional
            Discrete: ``log z`` (for a frequency: ``j omega dt`` exactly).
        idx : (a,) ndarray of int, optional
            Members (all by default).
        """
        idx = np.arange(self.size) if idx is None else idx
        nodes = self.nodes[idx][:, None, :]
        if self.discrete:
            if log_points is None:
                with np.errstate(divide="ignore"):
                    log_points = np.log(np.asarray(points, dtype=complex))
            r = log_resolvent(nodes, np.asarray(log_points)[..., None])
        else:
            r = resolvent(nodes, np.asarray(points)[..., None])
        with np.errstate(invalid="ignore", over="ignore"):  # inf/nan on a pole
            G = r @ self.residues[idx] + self.D[idx]
        return G.reshape(*G.shape[:2], self.p, self.m)


class DenseTransfer:
    """``G`` of one dense system through its complex Schur form.

    Parameters
    ----------
    sys : LTI
        The system.
    schur : SchurForm, optional
        ``complex_schur(sys.A)`` when already computed.
    """

    size = 1

    def __init__(self, sys: LTI, schur: SchurForm | None = None):
        self.n, self.p, self.m = sys.n, sys.p, sys.m
        self.discrete = sys.dt is not None
        self.D = sys.D
        if self.n == 0:
            self.T = np.zeros((0, 0), complex)
            self.Bt = np.zeros((0, self.m), complex)
            self.Ct = np.zeros((self.p, 0), complex)
            return
        T, Z = complex_schur(sys.A) if schur is None else schur
        self.T, self.Bt, self.Ct = T, Z.conj().T @ sys.B, sys.C @ Z

    def __call__(self, points=None, *, log_points=None, idx=None) -> np.ndarray:
        """``G`` at ``points`` ``(1, k)`` (``s`` or ``z``; discrete ``z = exp(log_points)`` when
        only ``log_points`` is given): ``(1, k, p, m)``; ``idx`` is ignored (one member)."""
        if points is None:
            points = np.exp(np.asarray(log_points))
        pts = np.asarray(points, dtype=complex).reshape(-1)
        if self.n == 0:
            return np.broadcast_to(self.D, (1, pts.size, self.p, self.m)).astype(complex)
        X = self._solve_each(pts) if pts.size <= LOOP_POINTS else shifted_backsolve(self.T, self.Bt, pts)
        with np.errstate(invalid="ignore", over="ignore"):  # inf/nan on a pole
            return (self.Ct @ X + self.D)[None]

    def _solve_each(self, pts: np.ndarray) -> np.ndarray:
        """``(s_k I - T)^-1 Bt`` by one LAPACK triangular solve per point."""
        n = self.n
        X = np.empty((pts.size, n, self.m), dtype=complex)
        M = -self.T
        diag = np.diag(M).copy()
        k = np.arange(n)
        for i, s in enumerate(pts):
            M[k, k] = diag + s
            try:
                X[i] = sla.solve_triangular(M, self.Bt, check_finite=False)
            except np.linalg.LinAlgError:  # s is a pole: inf/nan entries, as for diagonal systems
                X[i] = shifted_backsolve(self.T, self.Bt, pts[i : i + 1])[0]
        return X


def shifted_backsolve(T: np.ndarray, Y: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``X[k] = (s_k I - T)^-1 Y`` for upper triangular ``T (n, n)``, ``Y (n, m)``: ``(k, n, m)``.

    Row-wise back substitution vectorised over the points:
    ``x_i = (y_i + sum_{j>i} T_ij x_j) / (s - T_ii)``.
    """
    n, m = Y.shape
    k = s.size
    X = np.empty((n, k, m), dtype=complex)
    diag = np.diag(T)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(n - 1, -1, -1):
            rhs = np.broadcast_to(Y[i], (k, m))
            if i < n - 1:
                rhs = rhs + (T[i, i + 1 :] @ X[i + 1 :].reshape(n - i - 1, k * m)).reshape(k, m)
            X[i] = rhs / (s - diag[i])[:, None]
    return np.transpose(X, (1, 0, 2))


def transfer_evaluator(sys: LTI | DiagonalLTI, schur: SchurForm | None = None) -> DiagonalTransfer | DenseTransfer:
    """The evaluator for ``sys``: :class:`DiagonalTransfer` or :class:`DenseTransfer`."""
    if isinstance(sys, DiagonalLTI):
        return DiagonalTransfer(sys)
    return DenseTransfer(sys, schur)
