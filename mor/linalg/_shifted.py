"""Shifted sparse solves with cached LU factorisations, for the low-rank ADI iteration (internal).

The ADI iteration of :mod:`mor.gramians.lowrank` works on a *continuous-time* operator ``F`` and solves
``(F + p I) V = W`` (and the adjoint ``(F^# + p^# I) V = W``) for shifts ``p`` with ``Re p < 0``.
``#`` is the transpose for real problems (the shift is kept: a complex shift stands for the pair
``p, conj(p)``) and the conjugate transpose for complex ones (``p^# = conj(p)``).  In both cases
the adjoint solve reuses the factorisation of the forward one: the observability equation costs
no factorisation of its own.

``F = A`` for continuous systems.  Discrete systems use the Cayley transform (which preserves
both Gramians)::

    F = (A - I)(A + I)^-1,   B_F = sqrt(2) (A + I)^-1 B,   C_F = sqrt(2) C (A + I)^-1
    (F + p I)^-1 = (A + I) M_p^-1,   M_p = (1 + p) A - (1 - p) I

so every shift still costs one sparse LU of a shifted ``A``.

Descriptor systems (continuous time only) work on the pencil: ``F = E^-1 A`` is never formed;
the shifted solves are ``(A + p E) V = W`` (adjoint ``(A + p E)^# V = W``), their residuals
``(A + p E) V - W``, and :meth:`ShiftedOperator.mass` applies ``E`` (``E^#``) where the ADI
iteration of :mod:`mor.gramians.lowrank` needs it.  Each solve also returns its residual
``delta = (F + p I) V - W``, computed with products by ``A`` (never by an inverse, except one
solve with the cached ``A + I`` in the discrete adjoint case), from which :mod:`mor.gramians.lowrank`
bounds the true Lyapunov residual.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sps
import scipy.sparse.linalg as spla

from ..errors import NumericalError, SystemTypeError

__all__ = ["ShiftedOperator", "orthonormal"]

logger = logging.getLogger(__name__)

#: Fill-reducing ordering of SuperLU: minimum degree on ``A^T + A`` suits the nearly
#: structurally symmetric matrices of discretised PDEs and mechanical models (measured 1.5-2x
#: less fill than COLAMD on 2-D grids).
ORDERING = "MMD_AT_PLUS_A"


def orthonormal(X: np.ndarray) -> np.ndarray:
    """Orthonormal basis of the columns of ``X`` (economic QR; rank-deficient columns are kept)."""
    if X.shape[1] == 0:
        return X
    return sla.qr(X, mode="economic", check_finite=False)[0]


class ShiftedOperator:
    """The operator ``F`` (``A``, or the Cayley transform of a discrete ``A``) and its shifted solves.

    Parameters
    ----------
    A : scipy.sparse matrix
        The state matrix.
    discrete : bool
        Use the Cayley transform (discrete-time Gramians).
    complex_mode : bool
        Complex arithmetic (``#`` is the conjugate transpose); else real arithmetic with
        complex shifts standing for conjugate pairs.
    E : scipy.sparse matrix, optional
        Descriptor matrix (continuous time only; ``None`` for the identity).
    """

    def __init__(self, A: sps.spmatrix, discrete: bool, complex_mode: bool, E: sps.spmatrix | None = None):
        dtype = np.complex128 if complex_mode else np.float64
        self.A = sps.csc_matrix(A, dtype=dtype)
        self.AT = self.A.conj().T.tocsr() if complex_mode else self.A.T.tocsr()
        self.A = self.A.tocsr()
        self.n = self.A.shape[0]
        if E is not None and discrete:
            raise SystemTypeError("discrete-time descriptor systems have no low-rank route (densify, or give E = I)")
        self.E = None if E is None else sps.csr_matrix(E, dtype=dtype)
        self.ET = None if E is None else (self.E.conj().T if complex_mode else self.E.T).tocsr()
        self._lu_E = None
        self.discrete = discrete
        self.complex_mode = complex_mode
        self.trans = "H" if complex_mode else "T"
        self._eye = sps.identity(self.n, format="csc")
        self._lu: dict[complex, spla.SuperLU] = {}
        self._plus = None  # LU of A + I (discrete only)
        self.factor_entries = 0  # nnz(L + U) of the cached shifted factorisations

    # -- factorisations -----------------------------------------------------
    @property
    def factorizations(self) -> int:
        """Number of shifted factorisations computed (the cached ones)."""
        return len(self._lu)

    @property
    def shifts(self) -> list[complex]:
        """The shifts with a cached factorisation."""
        return list(self._lu)

    def _factor(self, M: sps.spmatrix, what: str) -> spla.SuperLU:
        t0 = time.perf_counter()
        try:
            lu = spla.splu(sps.csc_matrix(M), permc_spec=ORDERING)
        except RuntimeError as exc:  # exactly singular
            raise NumericalError(f"sparse LU of {what} failed ({exc}): the matrix is singular") from exc
        logger.debug("splu of %s: %.3f s, nnz(L+U) = %d", what, time.perf_counter() - t0, lu.nnz)
        return lu

    def lu(self, p: complex) -> spla.SuperLU:
        """The (cached) factorisation for shift ``p``: of ``A + p I`` or of ``M_p``."""
        if p not in self._lu:
            shift = p.real if p.imag == 0 else p
            if self.discrete:
                M = (1 + shift) * self.A - (1 - shift) * self._eye
            else:
                M = self.A + shift * (self._eye if self.E is None else self.E)
            self._lu[p] = self._factor(M, f"the shifted matrix (shift {p:.6g})")
            self.factor_entries += self._lu[p].nnz
        return self._lu[p]

    def _lu_plus(self) -> spla.SuperLU:
        if self._plus is None:
            self._plus = self._factor(self.A + self._eye, "A + I (Cayley transform)")
        return self._plus

    def _apply_lu(self, lu: spla.SuperLU, W: np.ndarray, trans: str = "N") -> np.ndarray:
        if lu.L.dtype.kind != "c" and np.iscomplexobj(W):  # real factors, complex right-hand side
            both = lu.solve(np.ascontiguousarray(np.concatenate([W.real, W.imag], axis=1)), trans=trans)
            k = W.shape[1]
            return both[:, :k] + 1j * both[:, k:]
        dtype = np.complex128 if lu.L.dtype.kind == "c" else np.float64
        return lu.solve(np.ascontiguousarray(W, dtype=dtype), trans=trans)

    # -- the operator ---------------------------------------------------------
    def mass(self, X: np.ndarray, adjoint: bool = False) -> np.ndarray:
        """``E X`` (or ``E^# X``); ``X`` itself without a descriptor matrix."""
        if self.E is None:
            return X
        return (self.ET if adjoint else self.E) @ X

    def apply(self, X: np.ndarray, adjoint: bool = False) -> np.ndarray:
        """``F X`` (or ``F^# X``); descriptor systems ``E^-1 A X`` (``E^-# A^# X``)."""
        M = self.AT if adjoint else self.A
        if self.E is not None:
            if self._lu_E is None:
                self._lu_E = self._factor(self.E, "E (the descriptor matrix)")
            return self._apply_lu(self._lu_E, M @ X, self.trans if adjoint else "N")
        if not self.discrete:
            return M @ X
        if adjoint:  # F^# = (A + I)^-# (A - I)^#
            return self._apply_lu(self._lu_plus(), M @ X - X, self.trans)
        Y = self._apply_lu(self._lu_plus(), X)
        return M @ Y - Y

    def start(self, G: np.ndarray, adjoint: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The right-hand-side factor of ``F`` (``B_F`` or ``C_F^#``) and the one it represents exactly.

        Returns ``(W0, G_exact)`` with ``W0 = G`` (continuous) or ``W0 = sqrt(2) (A + I)^-1 G``
        (discrete; ``^-#`` for the adjoint), and ``G_exact`` the input factor for which ``W0`` is
        exact: ``(A + I) W0 / sqrt(2)`` computed by a product (``G`` itself when continuous).
        """
        if not self.discrete:
            return G, G
        lu = self._lu_plus()
        W0 = np.sqrt(2.0) * self._apply_lu(lu, G, self.trans if adjoint else "N")
        M = self.AT if adjoint else self.A
        return W0, (M @ W0 + W0) / np.sqrt(2.0)

    def solve(self, p: complex, W: np.ndarray, adjoint: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``V = (F + p I)^-1 W`` (adjoint: ``(F^# + p^# I)^-1 W``) and its residual ``(F + p I) V - W``."""
        lu = self.lu(p)
        shift = p.real if p.imag == 0 else p
        shift_adj = np.conj(shift) if self.complex_mode else shift
        if not self.discrete:
            trans = self.trans if adjoint else "N"
            V = self._apply_lu(lu, W, trans)
            M = self.AT if adjoint else self.A
            return V, M @ V + (shift_adj if adjoint else shift) * self.mass(V, adjoint) - W
        if not adjoint:  # (F + pI)^-1 = (A + I) M_p^-1
            U = self._apply_lu(lu, W)
            V = self.A @ U + U
            return V, (1 + shift) * (self.A @ U) - (1 - shift) * U - W
        # (F^# + p^# I)^-1 = M_p^-# (A + I)^#
        X = self.AT @ W + W
        V = self._apply_lu(lu, X, self.trans)
        dX = (1 + shift_adj) * (self.AT @ V) - (1 - shift_adj) * V - X
        return V, self._apply_lu(self._lu_plus(), dX, self.trans)

    def ritz_values(self, X: np.ndarray) -> np.ndarray:
        """Eigenvalues of ``Q^H F Q`` (of the pencil ``(Q^H A Q, Q^H E Q)``) for an orthonormal basis ``Q``
        of the columns of ``X``."""
        Q = orthonormal(X)
        if Q.shape[1] == 0:
            return np.zeros(0, complex)
        if self.E is not None:  # the projected pencil (Q^H A Q, Q^H E Q)
            return sla.eigvals(Q.conj().T @ (self.A @ Q), Q.conj().T @ (self.E @ Q))
        H = Q.conj().T @ self.apply(Q)
        return np.linalg.eigvals(H)

    def plus_norm_bound(self) -> float:
        """``||A + I||_2 <= sqrt(||A + I||_1 ||A + I||_inf)`` (rigorous, cheap)."""
        M = abs(self.A + sps.identity(self.n, format="csr"))
        return float(np.sqrt(M.sum(axis=0).max() * M.sum(axis=1).max()))
