"""H2-optimal reduction by the iterative rational Krylov algorithm (IRKA; Gugercin, Antoulas &
Beattie 2008), for dense systems and batches of diagonal systems.

A reduced model in pole-residue form ``G_r(s) = D + sum_i c_i b_i^T / (s - lambda_i)``
(``c_i`` ``(p,)``, ``b_i`` ``(m,)``) is a stationary point of ``||G - G_r||_2`` when, at the
mirror images of its poles,

==============  ===============================  ========================================
time            interpolation point ``sigma_i``  conditions (``r_i = conj(b_i)``, ``l_i = c_i``)
==============  ===============================  ========================================
continuous      ``-conj(lambda_i)``              ``G(sigma_i) r_i = G_r(sigma_i) r_i``
discrete        ``1 / conj(lambda_i)``           ``l_i^H G(sigma_i) = l_i^H G_r(sigma_i)``
                                                 ``l_i^H G'(sigma_i) r_i = l_i^H G_r'(sigma_i) r_i``
==============  ===============================  ========================================

(the Meier-Luenberger conditions, tangential for MIMO systems; for complex systems the mirror
image carries the conjugate, for real ones the set ``{-lambda_i}`` is the same).  The Petrov-Galerkin
projection with

    V = [(sigma_1 I - A)^-1 B r_1, ...],   W = [(sigma_1 I - A)^-H C^H l_1, ...]
    A_r = (W^H V)^-1 W^H A V,   B_r = (W^H V)^-1 W^H B,   C_r = C V,   D_r = D

satisfies the three conditions at the points it was built from; IRKA repeats it with the mirror
images of the new reduced poles until the points stop moving (relative change below ``tol``).
Shifts are kept in the right half plane (outside the unit disc): a reduced pole that went
unstable is mirrored as ``|Re lambda| + j Im lambda`` (discrete: ``|Re log z|``).

Batches of diagonal systems run member-wise in one vectorised loop; a member stops (keeps the
model of its last projection) as soon as it converges.  Discrete diagonal systems are evaluated
from their log-poles (``1 / (sigma - z_k)`` without cancellation near the unit circle).  Real
dense systems give real models: the shifts are closed under conjugation and the bases are
replaced by real bases of the same spaces.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._display import compact_repr
from .._guard import guarded
from ..analysis._frequency import log_resolvent, resolvent, shifted_backsolve
from ..errors import AccuracyWarning, ArgumentConflictError, OrderError, RankWarning
from ..linalg._arrays import conj_transpose, reverse
from ..linalg.schur import complex_schur
from ..systems._diagonal_form import to_diagonal
from ..systems.convert import as_system
from ..systems.lti import LTI, DiagonalLTI
from ..systems.stability import check_stable, unstable_mask
from ..validation import check_choice, check_int, check_real
from .balanced import balanced_truncation
from .modal import modal_truncation

__all__ = ["INITS", "IrkaResult", "irka"]

#: Initial reduced models: balanced truncation, or modal truncation by H2 scores.
INITS = ("bt", "modal")
_USER = 3  # warnings point at the caller: helper -> irka -> guard wrapper -> caller
_MAX_COND = 1e14  # W^H V of a member above this: the projection is numerically singular


@dataclass(frozen=True)
class IrkaResult:
    """Outcome of :func:`irka`.

    Attributes
    ----------
    reduced : LTI or DiagonalLTI
        The reduced model: dense (real for a real system) for an :class:`LTI`, a re-diagonalised
        :class:`DiagonalLTI` of the same batch shape for diagonal input; ``D_r = D``.
    order : int
        The reduced order ``r``.
    shifts : (..., r) ndarray
        The interpolation points of the last projection of every member (``s``-plane, discrete:
        ``z``-plane); at convergence the mirror images of the reduced poles up to ``tol``.
    converged : bool or (...,) ndarray of bool
        Whether the relative change of the shifts fell below ``tol``.
    iterations : int or (...,) ndarray of int
        Projections computed for each member (0 for members left at the initial model).
    shift_change : float or (...,) ndarray
        The last relative change of the shifts (``0`` for members left at the initial model).
    padded : (..., r) ndarray of bool
        Reduced modes that are decoupled padding (``b = c = 0``): members whose numerical rank
        is below ``r`` keep balanced truncation's model, which already reproduces them.
    init : str
        ``"bt"``, ``"modal"`` or ``"model"`` (an initial model was given).
    fallback : bool or (...,) ndarray of bool
        Members whose last iterate was unstable and which therefore return the (stable) initial
        model (``converged`` is false for them).
    """

    __repr__ = compact_repr  # fits a screen: arrays by shape (mor._display)

    reduced: LTI | DiagonalLTI
    order: int
    shifts: np.ndarray
    converged: bool | np.ndarray
    iterations: int | np.ndarray
    shift_change: float | np.ndarray
    padded: np.ndarray
    init: str
    fallback: bool | np.ndarray = False


@guarded("irka", select=lambda res: (res.shifts, res.shift_change))
def irka(
    sys: Any, order: int, *, tol: float = 1e-6, maxit: int = 100, init: Any = "bt", rank_tol: float = 1e-12
) -> IrkaResult:
    """H2-optimal reduced model of a stable system (IRKA; see the module docstring).

    Parameters
    ----------
    sys : LTI, DiagonalLTI or convertible
        A stable system; a batched :class:`DiagonalLTI` is reduced member-wise in one
        vectorised loop.
    order : int
        ``1 <= r <= n``.
    tol : float
        Stop when ``max_i min_j |sigma_i - sigma_j^old| / |sigma_i|`` (and the same with the
        roles swapped) is below ``tol``.
    maxit : int
        Most projections per member.
    init : {"bt", "modal"} or LTI or DiagonalLTI
        The initial model whose mirrored poles and residue directions start the iteration:
        balanced truncation (``"bt"``, default), modal truncation by H2 scores (``"modal"``), or
        a stable model of order ``r`` (for a batch: a :class:`DiagonalLTI` of the same batch
        shape).
    rank_tol : float
        Members whose Hankel singular values ``sigma_r <= rank_tol * sigma_1`` (numerical rank
        below ``r``) keep balanced truncation's model (:class:`~mor.errors.RankWarning`).

    Returns
    -------
    IrkaResult

    Raises
    ------
    UnstableSystemError
        ``sys`` (or the initial model) is unstable.
    OrderError
        ``order`` outside ``[1, n]``.
    InvalidArgumentError
        ``tol`` not positive, ``maxit < 1``.
    ArgumentConflictError
        An initial model of another order, kind or shape than ``order`` and ``sys`` ask for, or
        ``init="modal"`` where modal truncation cannot give order ``order`` (conjugate pairs).

    Warns
    -----
    AccuracyWarning
        Some member did not converge within ``maxit`` (its last model is returned), its
        projection became singular, or its last model is unstable (the initial model is returned
        instead, see :attr:`IrkaResult.fallback`).

    Examples
    --------
    >>> import numpy as np
    >>> from mor import DiagonalLTI, balanced_truncation, h2_norm, irka
    >>> poles = -np.linspace(0.1, 3, 12) + 1j * np.linspace(-5, 5, 12)
    >>> sys = DiagonalLTI(poles, np.ones((12, 1)), np.linspace(1, 2, 12)[None, :])
    >>> res = irka(sys, 4)
    >>> bool(res.converged)
    True
    >>> bool(h2_norm(sys - res.reduced) <= h2_norm(sys - balanced_truncation(sys, 4).reduced))
    True
    """
    sys = as_system(sys)
    order = check_int(order, f"order (n = {sys.n})", minimum=1, maximum=sys.n, error=OrderError)
    tol = check_real(tol, "tol", minimum=0.0, include_min=False)
    maxit = check_int(maxit, "maxit")
    rank_tol = check_real(rank_tol, "rank_tol", minimum=0.0, maximum=1.0, include_max=False)
    check_stable(sys, "IRKA")
    op = _DiagonalOperator(sys) if isinstance(sys, DiagonalLTI) else _DenseOperator(sys)
    start, label = _initial_model(sys, order, init, rank_tol)
    fixed = np.any(start.padded, axis=-1)  # rank below r: balanced truncation's model is kept
    if np.any(fixed):
        warnings.warn(
            RankWarning(
                f"IRKA: {int(np.sum(fixed))} member(s) have numerical rank below order {order}; they keep balanced "
                "truncation's model (decoupled padding, see IrkaResult.padded)"
            ),
            stacklevel=_USER,
        )
    state = _iterate(op, start, ~fixed, tol, maxit)
    return _result(op, state, start, label)


# --------------------------------------------------------------------------- the initial model
@dataclass
class _Start:
    """The initial model's realisation ``(A, B, C)`` per member, its shifts and directions."""

    A: np.ndarray  # (..., r, r)
    B: np.ndarray  # (..., r, m)
    C: np.ndarray  # (..., p, r)
    padded: np.ndarray  # (..., r) bool


def _as_realisation(model: LTI | DiagonalLTI, batch: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(model, LTI):
        return model.A, model.B, model.C
    A = np.zeros(model.batch_shape + (model.n, model.n), complex)
    idx = np.arange(model.n)
    A[..., idx, idx] = model.poles
    return (np.broadcast_to(A, batch + A.shape[-2:]), np.broadcast_to(model.B, batch + model.B.shape[-2:]),
            np.broadcast_to(model.C, batch + model.C.shape[-2:]))  # fmt: skip


def _initial_model(sys: LTI | DiagonalLTI, r: int, init: Any, rank_tol: float) -> tuple[_Start, str]:
    """The starting realisation; members of rank below ``r`` get balanced truncation's model."""
    batch = sys.batch_shape if isinstance(sys, DiagonalLTI) else ()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankWarning)  # reported by irka itself
        bt = balanced_truncation(sys, r, method="bfsr", rank_tol=rank_tol)
    padded = np.broadcast_to(bt.padded, batch + (r,)) if bt.order == r else np.ones(batch + (r,), bool)
    if isinstance(sys, LTI) and bt.order < r:  # one dense system of rank below r: keep its minimal model
        bt_A = np.zeros((r, r), sys.A.dtype)
        bt_A[: bt.order, : bt.order] = bt.reduced.A
        bt_A[bt.order :, bt.order :] = -np.eye(r - bt.order) if sys.dt is None else 0.0
        B, C = np.zeros((r, sys.m), sys.A.dtype), np.zeros((sys.p, r), sys.A.dtype)
        B[: bt.order], C[:, : bt.order] = bt.reduced.B, bt.reduced.C
        return _Start(bt_A, B, C, np.arange(r) >= bt.order), "bt"
    if isinstance(init, (LTI, DiagonalLTI)):
        model, label = _check_init_model(sys, init, r), "model"
    else:
        check_choice(init, "init", INITS)
        model = bt.reduced if init == "bt" else modal_truncation(sys, r, score="h2").reduced
        if model.n != r:
            raise ArgumentConflictError(
                f"init='modal': modal truncation of a real system keeps conjugate pairs whole and gives order "
                f"{model.n}, not {r}; use init='bt' or an initial model"
            )
        label = init
    A, B, C = _as_realisation(model, batch)
    if np.any(padded):  # the rank-deficient members start (and stay) at balanced truncation's model
        A0, B0, C0 = _as_realisation(bt.reduced, batch)
        member = np.any(padded, axis=-1)[..., None, None]
        A, B, C = np.where(member, A0, A), np.where(member, B0, B), np.where(member, C0, C)
    return _Start(np.array(A), np.array(B), np.array(C), padded), label


def _check_init_model(sys: LTI | DiagonalLTI, init: LTI | DiagonalLTI, r: int) -> LTI | DiagonalLTI:
    if init.n != r:
        raise ArgumentConflictError(f"the initial model has order {init.n}, not order = {r}")
    if (init.m, init.p, init.dt) != (sys.m, sys.p, sys.dt):
        raise ArgumentConflictError(
            f"the initial model {init!r} does not match the system {sys!r} (inputs, outputs, time base)"
        )
    if isinstance(sys, DiagonalLTI) and not (isinstance(init, DiagonalLTI) and init.batch_shape == sys.batch_shape):
        raise ArgumentConflictError(f"a batch of diagonal systems needs a DiagonalLTI of batch shape {sys.batch_shape}")
    check_stable(init, "the initial model of IRKA")
    return init


# --------------------------------------------------------------------------- the iteration
def _mirror(lam: np.ndarray, discrete: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(sigma, log sigma)``: ``-conj(lambda)`` (continuous; log unused) or ``1 / conj(lambda)``, kept
    in the right half plane / outside the unit disc."""
    if not discrete:
        sigma = np.abs(lam.real) + 1j * lam.imag
        return sigma, sigma
    with np.errstate(divide="ignore"):
        mu = np.log(lam.astype(complex))
    nu = np.minimum(np.abs(mu.real), 700.0) + 1j * mu.imag  # log(1 / conj(z)); 700: z = 0 stays finite
    return np.exp(nu), nu


def _directions(b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right ``conj(b_i)`` ``(..., m, r)`` and left ``c_i`` ``(..., p, r)`` directions, unit length
    (any non-zero scalar multiple spans the same space; all ones for one input / output)."""

    def unit(x: np.ndarray) -> np.ndarray:
        if x.shape[-2] == 1:
            return np.ones_like(x)
        norm = np.linalg.norm(x, axis=-2, keepdims=True)
        return np.where(norm > 0, x / np.where(norm > 0, norm, 1.0), 1.0 / np.sqrt(x.shape[-2]))

    return unit(np.conj(np.swapaxes(b, -1, -2))), unit(c)


def _change(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Relative distance between two sets of shifts (order-free, symmetric), per member."""
    d = np.abs(new[..., :, None] - old[..., None, :])
    rel_new = d / np.maximum(np.abs(new), 1e-300)[..., :, None]
    rel_old = d / np.maximum(np.abs(old), 1e-300)[..., None, :]
    return np.maximum(rel_new.min(axis=-1).max(axis=-1), rel_old.min(axis=-2).max(axis=-1))


@dataclass
class _State:
    """The model and bookkeeping of every member."""

    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    shifts: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    change: np.ndarray
    failed: np.ndarray


def _shifts_of(op, A: np.ndarray, B: np.ndarray, C: np.ndarray):
    """Mirrored poles, their logs and the tangential directions of models ``(A, B, C)``."""
    lam, X = np.linalg.eig(A)
    sigma, log_sigma = _mirror(lam, op.discrete)
    R, L = _directions(np.linalg.solve(X, B), C @ X)
    return sigma, log_sigma, R, L


def _iterate(op, start: _Start, active: np.ndarray, tol: float, maxit: int) -> _State:
    """Project until every active member's shifts move less than ``tol`` (or ``maxit``)."""
    batch = active.shape
    state = _State(start.A, start.B, start.C, np.zeros(batch + (start.A.shape[-1],), complex),
                   np.zeros(batch, bool), np.zeros(batch, int), np.zeros(batch), np.zeros(batch, bool))  # fmt: skip
    active = np.array(active)
    state.converged |= ~active
    sigma, log_sigma, R, L = _shifts_of(op, start.A, start.B, start.C)
    for it in range(1, maxit + 1):
        if not active.any():
            break
        A, B, C, ok = op.interpolant(sigma, log_sigma, R, L)
        state.failed |= active & ~ok
        active &= ok
        new_sigma, new_log, new_R, new_L = _shifts_of(op, np.where(ok[..., None, None], A, state.A),
                                                      np.where(ok[..., None, None], B, state.B),
                                                      np.where(ok[..., None, None], C, state.C))  # fmt: skip
        change = _change(new_sigma, sigma)
        keep = active[..., None, None]
        state.A, state.B, state.C = np.where(keep, A, state.A), np.where(keep, B, state.B), np.where(keep, C, state.C)
        state.shifts = np.where(active[..., None], sigma, state.shifts)
        state.iterations = np.where(active, it, state.iterations)
        state.change = np.where(active, change, state.change)
        done = active & (change < tol)
        state.converged |= done
        active &= ~done
        sigma = np.where(active[..., None], new_sigma, sigma)
        log_sigma = np.where(active[..., None], new_log, log_sigma)
        R, L = np.where(active[..., None, None], new_R, R), np.where(active[..., None, None], new_L, L)
    return state


def _result(op, state: _State, start: _Start, label: str) -> IrkaResult:
    """The result, with warnings for members that failed, did not converge or ended unstable."""
    r, padded = state.A.shape[-1], start.padded
    if np.any(state.failed):
        warnings.warn(
            AccuracyWarning(
                f"IRKA: the projection of {int(state.failed.sum())} member(s) became numerically singular; they keep "
                "their last model (not converged)"
            ),
            stacklevel=_USER + 1,
        )
    late = ~state.converged & ~state.failed
    if np.any(late):
        warnings.warn(
            AccuracyWarning(
                f"IRKA: {int(late.sum())} member(s) did not converge in {int(state.iterations.max())} iterations "
                f"(largest relative shift change {float(np.max(state.change[late])):.3g}); their last model is "
                "returned"
            ),
            stacklevel=_USER + 1,
        )
    reduced = op.model(state.A, state.B, state.C)
    unstable = np.any(unstable_mask(reduced), axis=-1)
    if np.any(unstable):  # the iteration left the stable set: the (stable) initial model is returned
        warnings.warn(
            AccuracyWarning(
                f"IRKA: the last model of {int(unstable.sum())} member(s) is unstable (the iteration left the "
                "stable set); they keep the initial model (IrkaResult.fallback)"
            ),
            stacklevel=_USER + 1,
        )
        keep = unstable[..., None, None]
        state.A, state.B, state.C = (np.where(keep, s, x) for s, x in
                                     ((start.A, state.A), (start.B, state.B), (start.C, state.C)))  # fmt: skip
        state.converged = state.converged & ~unstable
        reduced = op.model(state.A, state.B, state.C)
    scalar = state.converged.ndim == 0
    return IrkaResult(
        reduced=reduced, order=r, shifts=state.shifts,
        converged=bool(state.converged) if scalar else state.converged,
        iterations=int(state.iterations) if scalar else state.iterations,
        shift_change=float(state.change) if scalar else state.change,
        padded=np.array(padded), init=label, fallback=bool(unstable) if scalar else unstable,
    )  # fmt: skip


# --------------------------------------------------------------------------- the two kinds of systems
def _petrov_galerkin(V: np.ndarray, W: np.ndarray, AV: np.ndarray, B: np.ndarray, C: np.ndarray):
    """``(A_r, B_r, C_r, ok)`` from orthonormalised bases; ``ok`` False where ``W^H V`` is singular."""
    Wh = conj_transpose(W)
    E = Wh @ V
    cond = np.linalg.cond(E)
    ok = np.isfinite(cond) & (cond < _MAX_COND)
    E = np.where(ok[..., None, None], E, np.eye(E.shape[-1]))
    Ar = np.linalg.solve(E, Wh @ AV)
    Br = np.linalg.solve(E, Wh @ B)
    Cr = C @ V
    ok &= np.all(np.isfinite(Ar), axis=(-2, -1)) & np.all(np.isfinite(Br), axis=(-2, -1))
    return Ar, Br, Cr, ok


class _DiagonalOperator:
    """A batch of diagonal systems: bases from Cauchy-like resolvent tables."""

    def __init__(self, sys: DiagonalLTI):
        self.sys = sys
        self.discrete = sys.dt is not None

    def interpolant(self, sigma, log_sigma, R, L):
        s = self.sys
        if self.discrete:
            res = log_resolvent(s.log_poles[..., :, None], log_sigma[..., None, :])  # 1 / (sigma_j - z_k)
        else:
            res = resolvent(s.poles[..., :, None], sigma[..., None, :])
        V = np.linalg.qr((s.B @ R) * res)[0]
        W = np.linalg.qr(np.conj(res) * (conj_transpose(s.C) @ L))[0]
        return _petrov_galerkin(V, W, s.poles[..., :, None] * V, s.B, s.C)

    def model(self, A, B, C) -> DiagonalLTI:
        D = np.broadcast_to(self.sys.D, A.shape[:-2] + self.sys.D.shape[-2:])
        return to_diagonal(A, B, C, D, self.sys.dt, what="IRKA", stacklevel=_USER + 2)[0]


class _DenseOperator:
    """One dense system: bases by triangular solves with its complex Schur form."""

    def __init__(self, sys: LTI):
        self.sys = sys
        self.discrete = sys.dt is not None
        self.T, Z = complex_schur(sys.A)
        self.Z = Z
        self.Bt = Z.conj().T @ sys.B  # Z^H B
        self.Ct = conj_transpose(sys.C @ Z)  # Z^H C^H
        self.Tr = reverse(conj_transpose(self.T))  # J T^H J, upper triangular

    def interpolant(self, sigma, log_sigma, R, L):
        s, Z = self.sys, self.Z
        X = shifted_backsolve(self.T, self.Bt, sigma)  # (r, n, m): (sigma_i I - T)^-1 Z^H B
        V = Z @ np.einsum("inm,mi->ni", X, R)
        Y = shifted_backsolve(self.Tr, self.Ct[::-1], np.conj(sigma))[:, ::-1]  # (conj(sigma) I - T^H)^-1 Z^H C^H
        W = Z @ np.einsum("inp,pi->ni", Y, L)
        if not s.is_complex:  # the shifts are closed under conjugation: real bases of the same spaces
            V, W = _real_basis(V), _real_basis(W)
        V, W = np.linalg.qr(V)[0], np.linalg.qr(W)[0]
        return _petrov_galerkin(V, W, s.A @ V, s.B, s.C)

    def model(self, A, B, C) -> LTI:
        if not self.sys.is_complex:
            A, B, C = A.real, B.real, C.real
        return LTI(A, B, C, self.sys.D, self.sys.dt)


def _real_basis(V: np.ndarray) -> np.ndarray:
    """A real orthonormal basis of ``span(V) = span(conj(V))`` (``r`` columns)."""
    U = sla.svd(np.concatenate([V.real, V.imag], axis=1), full_matrices=False)[0]
    return U[:, : V.shape[1]]
