"""The transfer-function evaluator behind :mod:`mor.analysis.response` and :func:`mor.hinf_norm` (internal).

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

import functools

import numpy as np
import scipy.linalg as sla

from ..linalg._arrays import fro_norm, matrix_fro_norm
from ..linalg._exact import accurate_log
from ..linalg._expm1 import complex_expm1
from ..linalg.schur import SchurForm, complex_schur, is_upper_triangular
from ..systems.lti import LTI, DiagonalLTI

__all__ = [
    "DenseTransfer",
    "DiagonalTransfer",
    "log_resolvent",
    "resolvent",
    "rounding_floor",
    "shifted_backsolve",
    "transfer_evaluator",
]

#: Dense systems: up to this many points are solved one by one (LAPACK), more at once ...
LOOP_POINTS = 24
#: ... and up to n / 2 points for orders up to this one (the vectorised back substitution takes
#: ``n`` Python-level steps).
LOOP_MAX_ORDER = 256
_ZTRTRS = sla.lapack.ztrtrs
_ZTRSYL = sla.lapack.ztrsyl
_EPS = np.finfo(float).eps


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


    def rounding(self, points=None, *, log_points=None, idx=None) -> tuple[np.ndarray, np.ndarray]:
        """First-order bound of the rounding error of ``G`` at the points, and the size of its terms.

        ``G - D`` is a sum of ``n`` terms, each accurate to a few ``eps``: the estimate is
        ``eps (sqrt(n) sum_i ||C[:, i] B[i, :]||_F |r_i| + ||D||_F)``, large relative to ``G`` only
        where the terms cancel; the size is ``sum_i ||C[:, i] B[i, :]||_F |r_i| + ||D||_F``.  The
        factor ``sqrt(n)`` (not the worst case ``n``) is the usual estimate of rounding errors that
        accumulate over ``n`` operations (Higham 2002, section 3.6): the worst case overstated the
        measured error of ``G`` by orders of magnitude and warned on benign systems.

        Returns
        -------
        bound, size : (a, k) ndarray
        """
        idx = np.arange(self.size) if idx is None else idx
        nodes = self.nodes[idx][:, None, :]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self.discrete:
                if log_points is None:
                    log_points = np.log(np.asarray(points, dtype=complex))
                # |z - z_i| = |z| sqrt(expm1(d)^2 + 4 e^d sin(phi/2)^2), d + j phi = mu_i - log z:
                # real arithmetic, no cancellation near the pole, three times cheaper than the complex r
                x = np.asarray(log_points)[..., None]
                w = nodes - x
                dist = np.exp(x.real) * np.sqrt(np.expm1(w.real) ** 2 + 4 * np.exp(w.real) * np.sin(0.5 * w.imag) ** 2)
                r = 1.0 / dist
            else:
                r = 1.0 / np.abs(np.asarray(points)[..., None] - nodes)  # |1 / (s - lambda_i)|, 5x cheaper
        size = fro_norm(self.residues[idx][..., None])  # (a, n)
        with np.errstate(invalid="ignore", over="ignore"):
            terms = np.sum(r * size[:, None, :], axis=-1)
        d = fro_norm(self.D[idx])[:, None]
        return _EPS * (np.sqrt(size.shape[-1]) * terms + d), terms + d


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
        self.exact_schur = is_upper_triangular(sys.A)  # complex_schur returns a triangular A as it is
        # discrete: log of the eigenvalues, Re part exact near the unit circle (see __call__)
        self.log_diag = accurate_log(T.diagonal()) if self.discrete else None

    def __call__(self, points=None, *, log_points=None, idx=None) -> np.ndarray:
        """``G`` at ``points`` ``(1, k)`` (``s`` or ``z``) of the one member: ``(1, k, p, m)``.

        Discrete systems may pass ``log_points`` (``x = log z``; for a frequency ``j theta``
        exactly) instead or as well: the diagonal of ``z I - T`` is then formed as
        ``z - t_ii = -z expm1(log t_ii - x)``, without the cancellation of ``z - t_ii`` for a
        lightly damped pole at the peak (``log t_ii`` from :func:`accurate_log`).  ``idx`` is
        ignored.
        """
        x = None if log_points is None else np.asarray(log_points, dtype=complex).reshape(-1)
        pts = np.exp(x) if points is None else np.asarray(points, dtype=complex).reshape(-1)
        if self.n == 0:
            return np.broadcast_to(self.D, (1, pts.size, self.p, self.m)).astype(complex)
        if x is not None and self.discrete:
            with np.errstate(over="ignore", invalid="ignore"):
                shift = -pts[:, None] * complex_expm1(self.log_diag[None, :] - x[:, None])
        else:
            shift = pts[:, None] - self.T.diagonal()[None, :]
        if self._one_by_one(pts.size):
            X = self._solve_each(shift)
        else:
            X = shifted_backsolve(self.T, self.Bt, pts, shift=shift)
        with np.errstate(invalid="ignore", over="ignore"):  # inf/nan on a pole
            return (self.Ct @ X + self.D)[None]

    @functools.cached_property
    def _sizes(self) -> tuple[float, float, float, float]:
        """``(||T||, ||Bt||, ||Ct||, eps ||D||)`` (Frobenius norms, for :meth:`rounding`)."""
        return (*(matrix_fro_norm(M) for M in (self.T, self.Bt, self.Ct)), _EPS * matrix_fro_norm(self.D))

    @functools.cached_property
    def _abs_offdiag(self) -> np.ndarray:
        """``|T|`` without its diagonal (for :meth:`rounding`)."""
        M = np.abs(self.T)
        np.fill_diagonal(M, 0.0)
        return M

    def rounding(self, points=None, *, log_points=None) -> np.ndarray:
        """First-order bound of the rounding error of ``G`` at the points, ``(k,)`` (absolute).

        With ``R = (s I - T)^-1``, ``X = R Bt``, ``Y^H = Ct R``: the triangular solve is backward
        stable componentwise (``|dM| <= n eps |s I - T|``, the diagonal ``s - t_ii`` being formed
        accurately), which changes ``G`` by up to ``n eps || |Y|^T |s I - T| |X| ||``; the Schur
        form adds ``n eps ||A|| ||Y|| ||X||`` unless ``A`` was already triangular (then it is
        exact); the products with ``B``, ``C`` and the sum with ``D`` add
        ``n eps (||C|| ||X|| + ||Y|| ||B||) + eps ||D||``.  These worst-case bounds carry the factor
        ``n``; the estimate returned uses ``sqrt(n)``, the usual size of rounding errors
        accumulated over ``n`` operations (Higham 2002, section 3.6): the factor ``n`` overstated
        the measured error by orders of magnitude (a symmetric heat-equation model of 300 states
        was warned about).  Large where the resolvent is
        ill-conditioned (strongly non-normal ``A``, poles within rounding of the stability
        boundary).  Points and ``log_points`` as for ``__call__``.

        Returns
        -------
        bound, size : (k,) ndarray
            The bound, and the size of the computed terms ``||C|| ||X|| + ||Y|| ||B|| + ||D||``:
            their ratio is ``n eps`` times the amplification of rounding errors by the
            resolvent (the cancellation between terms, as in a difference ``G - G_r``, is not
            part of it).
        """
        x = None if log_points is None else np.asarray(log_points, dtype=complex).reshape(-1)
        pts = np.exp(x) if points is None else np.asarray(points, dtype=complex).reshape(-1)
        n = self.n
        nT, nB, nC, d_part = self._sizes
        if n == 0:
            return np.full(pts.size, d_part), np.full(pts.size, d_part / _EPS)
        if x is not None and self.discrete:
            shift = -pts[:, None] * complex_expm1(self.log_diag[None, :] - x[:, None])
        else:
            shift = pts[:, None] - self.T.diagonal()[None, :]
        if pts.size == 1:
            return self._rounding_one(shift[0])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            X, Y = self._both_solves(pts, shift, continuous=x is None or not self.discrete)
            aX, aY = np.abs(X), np.abs(Y)
            solve = fro_norm(np.swapaxes(aY, -1, -2) @ (self._abs_offdiag @ aX + np.abs(shift)[:, :, None] * aX))
            nx, ny = fro_norm(X), fro_norm(Y)
            schur = 0.0 if self.exact_schur else nT * ny * nx
            parts = nC * nx + ny * nB
            return _EPS * np.sqrt(n) * (solve + schur + parts) + d_part, parts + d_part / _EPS

    def _rounding_one(self, shift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`rounding` at one point (``shift = s - diag(T)``, ``(n,)``): the same bound, from one LAPACK
        triangular solve per side and dot-product norms (:func:`matrix_fro_norm`), with fewer numpy calls."""
        n = self.n
        nT, nB, nC, d_part = self._sizes
        M = np.array(-self.T, order="F")
        M.flat[:: n + 1] = shift
        X, info = _ZTRTRS(M, self.Bt)
        Y, info2 = _ZTRTRS(M, self.Ct.conj().T, trans=2)
        if info or info2:  # on a pole
            return np.array([np.inf]), np.array([np.inf])
        with np.errstate(invalid="ignore", over="ignore"):
            aX = np.abs(X)
            solve = matrix_fro_norm(np.abs(Y).T @ (self._abs_offdiag @ aX + np.abs(shift)[:, None] * aX))
            nx, ny = matrix_fro_norm(X), matrix_fro_norm(Y)
            schur = 0.0 if self.exact_schur else nT * ny * nx
            parts = nC * nx + ny * nB
            bound = _EPS * np.sqrt(n) * (solve + schur + parts) + d_part
        return np.array([bound]), np.array([parts + d_part / _EPS])

    def _both_solves(self, pts: np.ndarray, shift: np.ndarray, *, continuous: bool = False) -> tuple:
        """``X = (s I - T)^-1 Bt`` ``(k, n, m)`` and ``Y = (s I - T)^-H Ct^H`` ``(k, n, p)``.

        ``continuous`` (the diagonal of ``s I - T`` is ``s - t_ii`` as formed by LAPACK): up to
        ``SYLVESTER_MAX_ORDER`` states and for more than two points, both by one triangular
        Sylvester equation each (:func:`_sylvester_solves`).
        """
        if continuous and self.n <= SYLVESTER_MAX_ORDER and pts.size > 2:
            both = _sylvester_solves(self.T, self.Bt, self.Ct, pts)
            if both is not None:
                return both
        if self._one_by_one(pts.size):  # one LAPACK solve per point and side
            n, k = self.n, np.arange(self.n)
            X = np.empty((pts.size, n, self.m), dtype=complex)
            Y = np.empty((pts.size, n, self.p), dtype=complex)
            M = np.array(-self.T, order="F")
            Bt = np.asfortranarray(self.Bt, dtype=complex)
            Ch = np.asfortranarray(self.Ct.conj().T, dtype=complex)
            for i in range(pts.size):
                M[k, k] = shift[i]
                x, info = _ZTRTRS(M, Bt)
                y, info2 = _ZTRTRS(M, Ch, trans=2)
                if info or info2:  # on a pole
                    X[i], Y[i] = np.inf, np.inf
                else:
                    X[i], Y[i] = x, y
            return X, Y
        X = shifted_backsolve(self.T, self.Bt, pts, shift=shift)
        # J (s I - T)^H J is upper triangular (J the reversal)
        Tr = self.T.conj().T[::-1, ::-1]
        Y = shifted_backsolve(Tr, self.Ct.conj().T[::-1], pts.conj(), shift=shift.conj()[:, ::-1])[:, ::-1]
        return X, Y

    def _solve_each(self, shift: np.ndarray) -> np.ndarray:
        """``(s_k I - T)^-1 Bt`` by one LAPACK triangular solve per point (``shift[k] = s_k - diag(T)``)."""
        n = self.n
        X = np.empty((shift.shape[0], n, self.m), dtype=complex)
        M = np.array(-self.T, order="F")
        Bt = np.asfortranarray(self.Bt, dtype=complex)
        k = np.arange(n)
        for i in range(shift.shape[0]):
            M[k, k] = shift[i]
            x, info = _ZTRTRS(M, Bt)
            if info:  # s is a pole: inf/nan entries, as for diagonal systems
                X[i] = shifted_backsolve(self.T, self.Bt, shift[i, :1], shift=shift[i : i + 1])[0]
            else:
                X[i] = x
        return X

    def _one_by_one(self, points: int) -> bool:
        """Solve point by point (LAPACK ``ztrtrs``) rather than by the row-wise vectorised back
        substitution: few points, or moderate ``n`` (whose ``n`` Python-level rows cost more)."""
        return points <= LOOP_POINTS or (self.n <= LOOP_MAX_ORDER and 2 * points <= self.n)


#: Largest order whose rounding bound solves by triangular Sylvester equations (LAPACK ``ztrsyl``:
#: level 2, but one call for all the points instead of one or two per point).
SYLVESTER_MAX_ORDER = 128


def _sylvester_solves(T: np.ndarray, Bt: np.ndarray, Ct: np.ndarray, s: np.ndarray):
    """``X[k] = (s_k I - T)^-1 Bt`` ``(k, n, m)`` and ``Y[k] = (s_k I - T)^-H Ct^H`` ``(k, n, p)``.

    All points at once: ``T X + X diag(-s) = -[Bt, ..., Bt]`` (LAPACK ``ztrsyl``; column ``k`` is
    the back substitution of ``(s_k I - T) x = Bt``, the same pivots ``t_ii - s_k``) and its
    adjoint ``T^H Y + Y diag(-conj(s)) = -[Ct^H, ...]``.  ``None`` when LAPACK scaled or
    perturbed the solution (a point within rounding of a pole): the caller then solves point
    by point.
    """
    n, k = Bt.shape[0], s.size
    out = []
    for rhs, shifts, trana in ((Bt, -s, "N"), (Ct.conj().T, -np.conj(s), "C")):
        w = rhs.shape[1]
        if w == 0:  # no inputs (outputs): nothing to solve
            out.append(np.zeros((k, n, 0), dtype=complex))
            continue
        D = np.zeros((k * w, k * w), dtype=complex)
        D.flat[:: k * w + 1] = np.repeat(shifts, w)
        C = -np.tile(rhs, (1, k))  # column (k, a): rhs[:, a]
        X, scale, info = _ZTRSYL(T, D, C, trana=trana, tranb="N", isgn=1)
        if info != 0 or scale != 1.0:
            return None
        out.append(X.reshape(n, k, w).transpose(1, 0, 2))
    return out[0], out[1]


def shifted_backsolve(T: np.ndarray, Y: np.ndarray, s: np.ndarray, *, shift: np.ndarray | None = None) -> np.ndarray:
    """``X[k] = (s_k I - T)^-1 Y`` for upper triangular ``T (n, n)``, ``Y (n, m)``: ``(k, n, m)``.

    Row-wise back substitution vectorised over the points:
    ``x_i = (y_i + sum_{j>i} T_ij x_j) / (s - T_ii)``; ``shift (k, n)``, when given, holds the
    denominators ``s_k - T_ii`` (computed more accurately by the caller).
    """
    n, m = Y.shape
    k = s.size
    X = np.empty((n, k, m), dtype=complex)
    if shift is None:
        shift = s[:, None] - T.diagonal()[None, :]
    den = np.ascontiguousarray(shift.T)[:, :, None]  # (n, k, 1)
    with np.errstate(divide="ignore", invalid="ignore"):  # inf/nan on a pole
        for i in range(n - 1, -1, -1):
            rhs = Y[i] if i == n - 1 else Y[i] + (T[i, i + 1 :] @ X[i + 1 :].reshape(n - i - 1, k * m)).reshape(k, m)
            X[i] = rhs / den[i]
    return np.transpose(X, (1, 0, 2))


def transfer_evaluator(sys: LTI | DiagonalLTI, schur: SchurForm | None = None) -> DiagonalTransfer | DenseTransfer:
    """The evaluator for ``sys``: :class:`DiagonalTransfer` or :class:`DenseTransfer`."""
    if isinstance(sys, DiagonalLTI):
        return DiagonalTransfer(sys)
    return DenseTransfer(sys, schur)


_THIRDS = np.arange(4) / 3.0
_THETA7 = np.linspace(-np.pi, np.pi, 7)
#: Poles (the least damped) whose resonance frequencies :func:`rounding_floor` samples.
FLOOR_POLES = 16


def _floor_points(poles: np.ndarray, discrete: bool, log_poles: np.ndarray | None) -> np.ndarray:
    """``(a, k)`` sample points for :func:`rounding_floor`: ``j omega`` (continuous) or ``j theta`` (discrete).

    The resonances of the ``FLOOR_POLES`` least damped poles, zero, and a coarse grid
    (continuous: ``+- geomspace(min|lambda|, max|lambda|, 4)``; discrete: 7 ``theta`` in
    ``[-pi, pi]``), where the resolvent, and with it the rounding error of ``G``, is large.
    """
    a, n = poles.shape
    if discrete:
        mu = log_poles
        damping = -mu.real
        centre = mu.imag
        grid = np.broadcast_to(_THETA7, (a, 7))
    else:
        mag = np.abs(poles)
        damping = -poles.real / np.where(mag > 0, mag, 1.0) if n > FLOOR_POLES else None
        centre = poles.imag
        if n:
            lo = np.maximum(mag.min(axis=-1), 1e-300)
            hi = np.maximum(mag.max(axis=-1), lo)
            g = lo[:, None] * (hi / lo)[:, None] ** _THIRDS  # geometric, 4 points
            g[:, -1] = hi
        else:
            g = np.ones((a, 4))
        grid = np.concatenate([g, -g], axis=-1)
    if n > FLOOR_POLES:  # (the order of the points does not matter: the floor is their maximum)
        keep = np.argsort(damping, axis=-1)[:, :FLOOR_POLES]
        centre = centre[np.arange(a)[:, None], keep]
    pts = np.concatenate([centre, np.zeros((a, 1)), grid], axis=-1)
    return 1j * pts


def rounding_floor(sys: LTI | DiagonalLTI, schur: SchurForm | None = None) -> np.ndarray:
    """``max`` over sample frequencies of the rounding bound of ``G`` (``(size,)``, absolute).

    An estimate of how far ``G`` computed in floating point (hence any model derived from it, such
    as a balanced truncation) can lie from the exact ``G`` of the given data, in the H-infinity
    norm: see ``DenseTransfer.rounding`` and ``DiagonalTransfer.rounding`` for the bound at one
    point, and :func:`_floor_points` for where it is sampled.
    """
    ev = transfer_evaluator(sys, schur)
    discrete = sys.dt is not None
    if isinstance(sys, DiagonalLTI):
        poles = sys.poles.reshape(ev.size, sys.n)
        mu = sys.log_poles.reshape(ev.size, sys.n) if discrete else None
        x = _floor_points(poles, discrete, mu)
        with np.errstate(invalid="ignore"):
            r, _ = ev.rounding(log_points=x) if discrete else ev.rounding(x)
        return np.max(r, axis=-1, initial=0.0)
    poles = ev.T.diagonal()[None]
    x = _floor_points(poles, discrete, ev.log_diag[None] if discrete else None)[0]
    r, _ = ev.rounding(log_points=x) if discrete else ev.rounding(x)
    return np.array([np.max(r, initial=0.0)])
