"""Modal truncation: keep the modes whose single-mode subsystems weigh most.

In modal coordinates ``A = V diag(lambda) V^-1``, ``b_i`` (row ``i`` of ``V^-1 B``) and ``c_i``
(column ``i`` of ``C V``), the transfer function is a sum of first-order terms
``G(s) = D + sum_i c_i b_i / (s - lambda_i)``.  Modal truncation keeps the ``r`` terms of largest
score and drops the rest; the reduced model keeps the system's own poles.  The scores are the
norms of the single-mode subsystems ``c_i b_i / (s - lambda_i)``::

    score="hinf"   continuous  ||c_i|| ||b_i|| / |Re lambda_i|
                   discrete    ||c_i|| ||b_i|| / (1 - |z_i|)          (1 - |z| = -expm1(Re mu))
    score="h2"     continuous  ||c_i|| ||b_i|| / sqrt(2 |Re lambda_i|)
                   discrete    ||c_i|| ||b_i|| / sqrt(1 - |z_i|^2)     (= sqrt(-expm1(2 Re mu)))

(``||c_i b_i||_2 = ||c_i|| ||b_i||`` for the rank-one residue.)

Near-defective clusters.  A dense ``A`` whose eigenvalue has a spectral projector of norm above
``1e3`` (a Jordan block split by rounding, or eigenvalues nearly so) has residues that are that much
too large and cancel only within their cluster: such clusters are found and kept or dropped whole
(:mod:`mor._spectral_blocks`: a block-diagonal Schur form with condition-aware clustering).  Then
``G(s) = D + sum_g G_g(s)`` over the blocks ``(A_g, B_g, C_g)``, and the score of a block of more
than one state is the H-infinity (H2) norm of ``G_g`` itself; every mode of a block carries the
block's score, and :attr:`ModalTruncationResult.clusters` lists the clusters.

The H-infinity score is the
state score of layer-adaptive state pruning (LAST, Gwak et al. 2024); the H2 score is the energy
of the mode's impulse response.  Unlike balanced truncation there is no a-priori error bound:
``||G - G_r||_inf <= sum`` of the dropped H-infinity scores holds (triangle inequality), and that
sum is what :attr:`ModalTruncationResult.error_bound` reports for ``score="hinf"``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from .._display import compact_repr
from .._guard import guarded
from ..analysis.h2 import h2_norm
from ..analysis.norms import hinf_norm
from ..errors import InvalidArgumentError, OrderError, RankWarning
from ..linalg._spectral_blocks import (
    CLUSTER_CONDITION,
    SpectralBlocks,
    conjugate_partners,
    eigen_conditions,
    spectral_blocks,
)
from ..systems.convert import as_system
from ..systems.lti import LTI, DiagonalLTI
from ..systems.stability import check_stable
from ..validation import check_choice, check_int

__all__ = ["ModalTruncationResult", "modal_scores", "modal_truncation"]

_SCORES = ("hinf", "h2")
_MAX_EIGVEC_COND = 1e12  # dense systems: above this the modal coordinates are not trustworthy


@dataclass(frozen=True)
class ModalTruncationResult:
    """Outcome of :func:`modal_truncation`.

    Attributes
    ----------
    reduced : LTI or DiagonalLTI
        The reduced model: a :class:`DiagonalLTI` of the same batch shape for diagonal input; for
        a dense :class:`LTI` a dense model in modal form (real block-diagonal for real systems).
    scores : (..., n) ndarray
        The score of every mode of the original, in its mode order (dense: the order of
        ``numpy.linalg.eigvals``).
    kept : (..., order) ndarray of int
        Indices of the kept modes, by decreasing score.
    order : int
        The reduced order (for real dense systems it may be one less than asked: a complex pair
        is kept whole or not at all; with near-defective clusters, kept or dropped whole, it may be
        less than asked by up to a cluster's size, with a :class:`~mor.errors.RankWarning`).
    score : str
        ``"hinf"`` or ``"h2"``.
    error_bound : float or (...,) ndarray or None
        ``score="hinf"``: the sum of the dropped scores (a dropped block counted once), an upper
        bound of ``||G - G_r||_inf``; ``None`` for ``"h2"``.
    clusters : tuple of ndarray
        Dense systems: the near-defective eigenvalue clusters (indices into ``scores``) that were
        kept or dropped as one block (see the module docstring); empty when there are none.
    """

    __repr__ = compact_repr  # fits a screen: arrays by shape (mor._display)

    reduced: LTI | DiagonalLTI
    scores: np.ndarray
    kept: np.ndarray
    order: int
    score: str
    error_bound: float | np.ndarray | None
    clusters: tuple[np.ndarray, ...] = ()


def _decay(poles: np.ndarray, log_poles: np.ndarray | None, discrete: bool, score: str) -> np.ndarray:
    """The denominator of the score: ``|Re lambda|``, ``1 - |z|`` or their H2 counterparts."""
    if not discrete:
        gap = np.abs(poles.real)
        return gap if score == "hinf" else np.sqrt(2.0 * gap)
    re_mu = log_poles.real if log_poles is not None else np.log(np.abs(poles))
    return -np.expm1(re_mu) if score == "hinf" else np.sqrt(-np.expm1(2.0 * re_mu))


def modal_scores(
    poles: np.ndarray, b: np.ndarray, c: np.ndarray, *, discrete: bool, score: str = "hinf",
    log_poles: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Scores of the single-mode subsystems ``c_i b_i / (s - lambda_i)`` (see the module docstring).

    Parameters
    ----------
    poles : (..., n) ndarray
        ``lambda_i`` (continuous) or ``z_i`` (discrete); every one strictly stable.
    b : (..., n, m) ndarray
        Input rows in modal coordinates.
    c : (..., p, n) ndarray
        Output columns in modal coordinates.
    discrete : bool
        Discrete-time formulas.
    score : {"hinf", "h2"}
        Which norm.
    log_poles : (..., n) ndarray, optional
        Discrete time: ``log z``, for ``1 - |z|`` without cancellation near the unit circle.

    Returns
    -------
    (..., n) ndarray
    """
    check_choice(score, "score", _SCORES)
    weight = np.linalg.norm(b, axis=-1) * np.linalg.norm(c, axis=-2)
    return weight / _decay(np.asarray(poles), log_poles, discrete, score)


@guarded("modal_truncation", select=lambda res: res.scores)
def modal_truncation(sys: Any, order: int, *, score: str = "hinf") -> ModalTruncationResult:
    """Keep the ``order`` modes of largest score (a stable system's own poles).

    Parameters
    ----------
    sys : LTI, DiagonalLTI or convertible
        A stable system; a batched :class:`DiagonalLTI` keeps ``order`` modes per member in one
        vectorised call.  Dense systems are diagonalised (``A = V diag(lambda) V^-1``).
    order : int
        ``1 <= order <= n``.
    score : {"hinf", "h2"}
        The norm of the single-mode subsystems that ranks the modes (see the module docstring).

    Returns
    -------
    ModalTruncationResult

    Raises
    ------
    UnstableSystemError
        A pole outside the stability region.
    OrderError
        ``order`` outside ``[1, n]``, or ``order = 1`` for a real dense system without a real pole
        (conjugate pairs are kept whole), or an order below the size of every block of a dense
        system whose near-defective (or strongly non-normal) eigenvalues form clusters.
    InvalidArgumentError
        A dense ``A`` whose block basis is numerically singular (condition number above 1e12)
        even with its near-defective clusters grouped: modal coordinates do not exist in
        floating point.

    Examples
    --------
    >>> import numpy as np
    >>> from mor import DiagonalLTI, modal_truncation
    >>> sys = DiagonalLTI([-1.0, -0.01 + 2j, -5.0], [[1.0], [0.1], [1.0]], [[1.0, 1.0, 1.0]])
    >>> res = modal_truncation(sys, 1)
    >>> res.reduced.poles, np.round(res.scores, 3)
    (array([-0.01+2.j]), array([ 1. , 10. ,  0.2]))
    """
    sys = as_system(sys)
    check_choice(score, "score", _SCORES)
    order = check_int(order, "order", minimum=1, maximum=sys.n, error=OrderError)
    check_stable(sys, "modal truncation")
    if isinstance(sys, DiagonalLTI):
        return _modal_diagonal(sys, order, score)
    return _modal_dense(sys, order, score)


def _bound(scores: np.ndarray, kept: np.ndarray, score: str) -> float | np.ndarray | None:
    if score != "hinf":
        return None
    dropped = scores.sum(axis=-1) - np.take_along_axis(scores, kept, axis=-1).sum(axis=-1)
    return float(dropped) if np.ndim(dropped) == 0 else np.maximum(dropped, 0.0)


def _modal_diagonal(sys: DiagonalLTI, order: int, score: str) -> ModalTruncationResult:
    discrete = sys.dt is not None
    log_poles = sys.log_poles if discrete else None
    scores = modal_scores(sys.poles, sys.B, sys.C, discrete=discrete, score=score, log_poles=log_poles)
    kept = np.argsort(-scores, axis=-1, kind="stable")[..., :order]
    B = np.take_along_axis(sys.B, kept[..., None], axis=-2)
    C = np.take_along_axis(sys.C, kept[..., None, :], axis=-1)
    if discrete:
        reduced = DiagonalLTI.from_log_poles(np.take_along_axis(log_poles, kept, axis=-1), B, C, sys.D, sys.dt)
    else:
        reduced = DiagonalLTI(np.take_along_axis(sys.poles, kept, axis=-1), B, C, sys.D)
    return ModalTruncationResult(reduced, scores, kept, order, score, _bound(scores, kept, score))


def _modal_coordinates(sys: LTI, lam: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cond = np.linalg.cond(V)
    if not np.isfinite(cond) or cond > _MAX_EIGVEC_COND:
        raise InvalidArgumentError(
            f"modal truncation needs a diagonalisable A: the eigenvector matrix has condition number {cond:.3g} "
            f"(> {_MAX_EIGVEC_COND:.0e}); use balanced_truncation"
        )
    return lam, np.linalg.solve(V, sys.B), sys.C @ V


def _select_real(scores: np.ndarray, partner: np.ndarray, order: int) -> np.ndarray:
    """Modes by decreasing score, a conjugate pair only when both fit in ``order`` states."""
    chosen: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if i in chosen or partner[i] in chosen:
            continue
        need = 1 if partner[i] == i else 2
        if len(chosen) + need <= order:
            chosen += [int(i)] if need == 1 else [int(i), int(partner[i])]
    return np.array(chosen, dtype=int)


def _real_modal_form(lam, b, c, kept, partner) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Real block-diagonal realisation of the kept modes of a real system.

    A pair ``lambda = a + jw`` with ``b``, ``c`` gives ``[[a, -w], [w, a]]``, ``[Re b; Im b]`` and
    ``[2 Re c, -2 Im c]`` (the states ``Re x, Im x`` of the mode; the conjugate mode is implied).
    """
    blocks_A, blocks_B, blocks_C = [], [], []
    for i in kept:
        if partner[i] == i:
            blocks_A.append(np.array([[lam[i].real]]))
            blocks_B.append(b[i : i + 1].real)
            blocks_C.append(c[:, i : i + 1].real)
        elif lam[i].imag > 0:
            a, w = lam[i].real, lam[i].imag
            blocks_A.append(np.array([[a, -w], [w, a]]))
            blocks_B.append(np.vstack([b[i].real, b[i].imag]))
            blocks_C.append(np.column_stack([2 * c[:, i].real, -2 * c[:, i].imag]))
    A = np.zeros((len(kept), len(kept)))
    k = 0
    for blk in blocks_A:
        A[k : k + blk.shape[0], k : k + blk.shape[0]] = blk
        k += blk.shape[0]
    return A, np.vstack(blocks_B), np.hstack(blocks_C)


def _modal_dense(sys: LTI, order: int, score: str) -> ModalTruncationResult:
    lam, V = np.linalg.eig(sys.A)
    kappa = eigen_conditions(V)
    if np.any(kappa > CLUSTER_CONDITION):
        return _modal_blocks(sys, order, score, spectral_blocks(sys.A, lam, V, kappa))
    lam, b, c = _modal_coordinates(sys, lam, V)
    discrete = sys.dt is not None
    scores = modal_scores(lam, b, c, discrete=discrete, score=score)
    if sys.is_complex:
        kept = np.argsort(-scores, kind="stable")[:order]
        reduced = LTI(np.diag(lam[kept]), b[kept], c[:, kept], sys.D, sys.dt)
    else:
        partner = conjugate_partners(lam)
        kept = _select_real(scores, partner, order)
        if kept.size == 0:
            raise OrderError(
                "order 1 cannot hold a mode of this real system: every mode is one of a complex conjugate pair, "
                "which is kept whole (2 states); ask for order >= 2"
            )
        A, B, C = _real_modal_form(lam, b, c, kept, partner)
        reduced = LTI(A, B, C, sys.D, sys.dt)
    return ModalTruncationResult(reduced, scores, kept, reduced.n, score, _bound(scores, kept, score))


def _block_score(sys: LTI, lam: np.ndarray, group: np.ndarray, block, score: str) -> float:
    """Score of one block: the single-mode formula for one state, else the norm of ``(A_g, B_g, C_g)``."""
    A_g, B_g, C_g = block
    discrete = sys.dt is not None
    if group.size == 1:
        return float(modal_scores(lam[group], B_g, C_g, discrete=discrete, score=score)[0])
    part = LTI(A_g, B_g, C_g, None, sys.dt)
    return float(hinf_norm(part) if score == "hinf" else h2_norm(part))


def _modal_blocks(sys: LTI, order: int, score: str, sb: SpectralBlocks) -> ModalTruncationResult:
    """Modal truncation over the blocks of ``sb``: whole blocks by decreasing score, as many as fit."""
    blocks = sb.blocks(sys.A, sys.B, sys.C)
    group_scores = np.array([_block_score(sys, sb.lam, g, b, score) for g, b in zip(sb.groups, blocks, strict=True)])
    chosen, size = [], 0
    for g in np.argsort(-group_scores, kind="stable"):
        if size + sb.groups[g].size <= order:
            chosen.append(int(g))
            size += sb.groups[g].size
    if not chosen:
        smallest = min(g.size for g in sb.groups)
        raise OrderError(
            f"order {order} cannot hold a block of this system: its smallest block has {smallest} states, because "
            "A is not diagonalisable in floating point there (near-defective or strongly non-normal: no smaller "
            "group of its eigenvalues has a spectral projector of norm <= 1e3, and keeping part of one would "
            "inflate the model); ask for a larger order or use balanced_truncation"
        )
    if size < order:
        left = ", ".join(str(sb.groups[g].size) for g in range(len(sb.groups)) if g not in chosen)
        warnings.warn(
            RankWarning(
                f"modal truncation kept {size} states, not the {order} asked for: whole blocks are kept by "
                f"decreasing score, and none of the blocks left ({left} states) fits; near-defective "
                "eigenvalue clusters are not split"
            ),
            stacklevel=3,
        )
    A = sla.block_diag(*(blocks[g][0] for g in chosen))
    reduced = LTI(A, np.vstack([blocks[g][1] for g in chosen]), np.hstack([blocks[g][2] for g in chosen]),
                  sys.D, sys.dt)  # fmt: skip
    scores = np.empty(sb.lam.size)
    for g, val in zip(sb.groups, group_scores, strict=True):
        scores[g] = val
    kept = np.concatenate([sb.groups[g] for g in chosen])
    bound = float(group_scores.sum() - group_scores[chosen].sum()) if score == "hinf" else None
    return ModalTruncationResult(reduced, scores, kept, reduced.n, score,
                                 None if bound is None else max(bound, 0.0), tuple(sb.clusters))  # fmt: skip
