"""Singular perturbation: residualise the trailing states of a realisation (Fernando & Nicholson 1982;
Liu & Anderson 1989; discrete time: Al-Saggaf & Franklin 1987).

Partition a realisation ``x = [x_1; x_2]`` with ``x_1`` the ``r`` leading states::

    A = [[A11, A12], [A21, A22]],   B = [B1; B2],   C = [C1, C2]

and set the trailing states to their steady state (``x_2' = 0`` in continuous time,
``x_2[k+1] = x_2[k]`` in discrete time).  With ``K = A22 - zeta I`` (``zeta = 0`` continuous,
``zeta = 1`` discrete, the point ``s = 0`` or ``z = 1`` that stands for DC)::

    A_r = A11 - A12 K^-1 A21        B_r = B1 - A12 K^-1 B2
    C_r = C1  - C2  K^-1 A21        D_r = D  - C2  K^-1 B2

The reduced model matches the DC gain exactly, ``G_r(zeta) = G(zeta)`` (a Schur-complement
identity), and keeps the high-frequency behaviour only approximately (``D_r != D``), the mirror
image of truncation.  Applied to a *balanced* realisation (:func:`mor.balanced_truncation` with
``match_dc=True``) the reduced model is stable and obeys the balanced-truncation bound
``||G - G_r||_inf <= 2 (sigma_{r+1} + ... + sigma_n)``.  The formulas are invariant under
block-diagonal changes of coordinates ``diag(T_1, T_2)`` only (not under block-triangular ones),
which is why a balancing-free projection must build the two blocks' bases separately.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import AccuracyWarning, NumericalError

__all__ = ["MAX_CONDITION", "residualize"]

#: ``||A||_2 / sigma_min(A22 - zeta I)`` above which the result is reported as inaccurate.
MAX_CONDITION = 1e10


def residualize(
    A: np.ndarray, B: np.ndarray, C: np.ndarray, D: np.ndarray, order: int, *, discrete: bool, stacklevel: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keep the ``order`` leading states of a (batched) realisation and residualise the others.

    Parameters
    ----------
    A : (..., n, n) ndarray
        State matrices.
    B : (..., n, m) ndarray
        Input matrices.
    C : (..., p, n) ndarray
        Output matrices.
    D : (..., p, m) ndarray
        Feedthrough.
    order : int
        ``r``, the number of leading states kept (``0 <= r <= n``).
    discrete : bool
        ``True``: residualise at ``z = 1`` (``zeta = 1``); ``False``: at ``s = 0``.
    stacklevel : int
        Passed to :func:`warnings.warn` for the :class:`~mor.errors.AccuracyWarning`.

    Returns
    -------
    A_r : (..., r, r) ndarray
    B_r : (..., r, m) ndarray
    C_r : (..., p, r) ndarray
    D_r : (..., p, m) ndarray
        The formulas of the module docstring.

    Raises
    ------
    NumericalError
        ``A22 - zeta I`` is singular (a residualised state has a pole at DC).

    Warns
    -----
    AccuracyWarning
        ``||A||_2 / sigma_min(A22 - zeta I)`` exceeds :data:`MAX_CONDITION`.

    Examples
    --------
    >>> import numpy as np
    >>> from mor.reduction.spa import residualize
    >>> A = np.array([[-1.0, 0.5], [0.2, -10.0]]); B = np.array([[1.0], [1.0]]); C = np.array([[1.0, 2.0]])
    >>> Ar, Br, Cr, Dr = residualize(A, B, C, np.zeros((1, 1)), 1, discrete=False)
    >>> G0 = (C @ np.linalg.solve(-A, B))[0, 0]; Gr0 = (Cr @ np.linalg.solve(-Ar, Br) + Dr)[0, 0]
    >>> bool(np.isclose(G0, Gr0))
    True
    """
    r = order
    n = A.shape[-1]
    if r == n:
        return A, B, C, D
    K = A[..., r:, r:] - (1.0 if discrete else 0.0) * np.eye(n - r)
    smallest = np.linalg.svd(K, compute_uv=False)[..., -1]
    scale = np.linalg.norm(A, 2, axis=(-2, -1))
    if np.any(smallest == 0):
        raise NumericalError("singular perturbation: A22 - zeta I is singular (a residualised state sits at DC)")
    ratio = float(np.max(scale / smallest))
    if ratio > MAX_CONDITION:
        warnings.warn(
            AccuracyWarning(
                f"singular perturbation: ||A|| / sigma_min(A22 - zeta I) is {ratio:.3g}, so the DC-matched model may "
                "be inaccurate (a residualised state is nearly a pole at DC)"
            ),
            stacklevel=stacklevel,
        )
    # one factorisation of K for both right-hand sides: K^-1 [A21, B2]
    X = np.linalg.solve(K, np.concatenate([A[..., r:, :r], B[..., r:, :]], axis=-1))
    KA21, KB2 = X[..., :, :r], X[..., :, r:]
    A12, C2 = A[..., :r, r:], C[..., :, r:]
    return (
        A[..., :r, :r] - A12 @ KA21,
        B[..., :r, :] - A12 @ KB2,
        C[..., :, :r] - C2 @ KA21,
        D - C2 @ KB2,
    )
