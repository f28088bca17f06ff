"""Layer-adaptive allocation of states under one budget: how many states each channel of each layer keeps.

Every state (mode ``k`` of channel ``h`` of layer ``l``) gets a score, the scores are normalised per
layer so that they compare across layers, and the ``S`` states of largest normalised score are
kept (``S``, the budget, counts per-channel states summed over channels and layers).  Within a
channel the normalised scores decrease with the rank of the state, so the kept states of a
channel are its first ``r_{l,h}`` and the allocation is the table of orders ``r_{l,h}`` with
``sum r_{l,h} = S`` exactly.

=============  =============================================  ======================================
allocation     score of a state                                normalisation within layer ``l``
=============  =============================================  ======================================
``"hsv"``      Hankel singular value ``sigma_{l,h,k}`` of the  ``sigma / sum_{h,k} sigma_{l,h,k}``
               channel's system (balanced truncation's own
               ranking)
``"last"``     ``g = ||c_k b_k|| / (1 - |z_k|)``, the          ``g^2 / sum_{g' >= g} g'^2`` (over the
               H-infinity norm of the mode's subsystem         layer's states with a score at least
               (LAST, Gwak et al. 2024)                        ``g``: LAMP-style, as LAST publishes)
``"aire"``     ``e = ||c_k b_k||^2 / (1 - |z_k|^2)``, the      ``e / sum_{e' >= e} e'``
               mode's total impulse-response energy (the
               squared H2 norm; AIRE-Prune 2026)
=============  =============================================  ======================================

(continuous systems: ``|Re lambda|`` in place of ``1 - |z|``, ``2 |Re lambda|`` for ``1 - |z|^2``.)
What the ``"hsv"`` allocation optimises: keeping the largest ``sigma / E_l`` minimises
``sum_l (sum_h 2 sum_{k >= r_{l,h}} sigma_{l,h,k}) / (2 E_l)`` -- the sum over layers of each
layer's balanced-truncation bounds (summed over its channels), relative to its total
``E_l = sum_{h,k} sigma_{l,h,k}`` -- among all allocations of ``S`` states.  It bounds each
channel's transfer-function error, channel by channel and layer by layer; it says nothing direct
about the whole nonlinear model (GELU, the output linear, the norms and the next layers in between).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mor.errors import DimensionError
from mor.validation import check_choice, check_int

__all__ = ["ALLOCATIONS", "allocate_states", "normalise_scores"]

#: The allocations (see the module docstring).
ALLOCATIONS = ("hsv", "last", "aire")


def normalise_scores(scores: np.ndarray, allocation: str) -> np.ndarray:
    """The scores of one layer normalised so that they compare across layers.

    Parameters
    ----------
    scores : (H, N) array_like
        Non-negative raw scores of the layer's states: Hankel singular values (``"hsv"``), the
        H-infinity norms of the modes (``"last"``) or their H2 norms (``"aire"``, squared here).
    allocation : {"hsv", "last", "aire"}
        Which normalisation (see the module docstring).

    Returns
    -------
    (H, N) ndarray
        In ``[0, 1]``; zero for a layer whose scores are all zero.
    """
    check_choice(allocation, "allocation", ALLOCATIONS)
    s = np.asarray(scores, dtype=float)
    if s.ndim != 2 or np.any(~np.isfinite(s)) or np.any(s < 0):
        raise DimensionError(f"scores must be a finite non-negative (H, N) array, got shape {s.shape}")
    if allocation == "hsv":
        total = s.sum()
        return s / total if total > 0 else np.zeros_like(s)
    energy = s.ravel() ** 2
    order = np.argsort(energy, kind="stable")  # ascending
    at_least = np.cumsum(energy[order][::-1])[::-1]  # sum of the energies >= each one
    out = np.zeros_like(energy)
    out[order] = np.where(at_least > 0, energy[order] / np.where(at_least > 0, at_least, 1.0), 0.0)
    return out.reshape(s.shape)


def allocate_states(scores: Sequence[np.ndarray], budget: int) -> list[np.ndarray]:
    """Orders per channel of every layer that keep the ``budget`` states of largest normalised score.

    Parameters
    ----------
    scores : sequence of (H_l, N_l) array_like
        Normalised scores of each layer (:func:`normalise_scores`); a row holds the states of one
        channel in any order (only how many of them are chosen matters).
    budget : int
        ``S``: the number of states kept, ``0 <= S <= sum_l H_l N_l``.

    Returns
    -------
    list of (H_l,) ndarray of int
        ``r_{l,h}``, summing to ``S`` exactly.  Ties in the score are broken by layer, channel
        and rank within the channel (earlier first).
    """
    arrays = [np.asarray(s, dtype=float) for s in scores]
    for i, a in enumerate(arrays):
        if a.ndim != 2 or np.any(~np.isfinite(a)):
            raise DimensionError(f"scores of layer {i} must be a finite (H, N) array, got shape {a.shape}")
    arrays = [-np.sort(-a, axis=1) for a in arrays]  # each channel's states by decreasing score
    total = sum(a.size for a in arrays)
    budget = check_int(budget, f"budget (at most {total} states)", minimum=0, maximum=total)
    flat = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
    layer = np.concatenate([np.full(a.size, i) for i, a in enumerate(arrays)]) if arrays else np.zeros(0, int)
    position = np.concatenate([np.arange(a.size) for a in arrays]) if arrays else np.zeros(0, int)
    chosen = np.lexsort((position, layer, -flat))[:budget]
    orders = []
    for i, a in enumerate(arrays):
        mine = position[chosen[layer[chosen] == i]]
        orders.append(np.bincount(mine // a.shape[1], minlength=a.shape[0]).astype(int))
    return orders
