"""Pivoted Cholesky factors of Cauchy-like Gramians, computed from their generators.

The Gramians of a diagonal system are Cauchy-like matrices::

    continuous:  M_ij = g_i conj(g_j) / (x_i + conj(x_j)),      x = -lambda,  Re x > 0
    discrete:    M_ij = g_i conj(g_j) / (1 - z_i conj(z_j)),    z = exp(mu),  |z| < 1

Eliminating the pivot ``p`` leaves a Schur complement of the same form with the
generator multiplied by a Blaschke factor::

    continuous:  g_i <- g_i (x_i - x_p) / (x_i + conj(x_p))
    discrete:    g_i <- g_i (z_i - z_p) / (1 - z_i conj(z_p))

Nothing cancels in these updates, so every entry of the pivoted factor is
computed to small *relative* error (Demmel 1999, "Accurate singular value
decompositions of structured matrices").  The discrete formulas are evaluated
from ``mu = log z`` as ``1 - z_i conj(z_p) = -expm1(mu_i + conj(mu_p))`` and
``z_i - z_p = z_p expm1(mu_i - mu_p)``, which stays accurate when ``|z|`` is
close to one.
"""

from __future__ import annotations

import numpy as np

from ._expm1 import expm1_half_angle
from .validation import check_int, check_real

__all__ = ["cauchy_cholesky"]


def cauchy_cholesky(
    nodes: np.ndarray,
    G: np.ndarray,
    *,
    discrete: bool = False,
    rtol: float = 0.0,
    max_rank: int | None = None,
) -> np.ndarray:
    """Diagonally pivoted Cholesky factor of a (sum of) Cauchy-like matrices.

    Computes ``L`` with ``M = L L^H`` where (continuous)
    ``M_ij = sum_k G_ik conj(G_jk) / (x_i + conj(x_j))`` or (discrete)
    ``M_ij = sum_k G_ik conj(G_jk) / (1 - exp(mu_i + conj(mu_j)))``.
    Each generator column ``k`` is factorised separately and the factors are
    concatenated, which keeps the relative accuracy of the single-column
    (displacement rank one) algorithm.

    Parameters
    ----------
    nodes : (..., n) ndarray, complex
        ``x = -lambda`` (continuous, ``Re x > 0``) or ``mu = log z`` (discrete, ``Re mu < 0``).
    G : (..., n, k) ndarray, complex
        Generator columns.
    discrete : bool
        Selects the Stein (discrete) form.
    rtol : float
        Pivoting stops for a column once the largest remaining diagonal entry
        is at most ``rtol`` times the first pivot (of that generator column).
        The default 0 pivots to completion (until the Schur complement is
        exactly zero): the extra steps cost ``O(n^2)`` per factor, less than the
        SVD that follows, and keep Hankel singular values far below
        ``1e-16 sigma_1`` accurate.  A positive ``rtol`` gives the low-rank path
        (``O(n r)`` per factor for rank ``r``): with ``rtol = 1e-4 tau^2`` every
        Hankel singular value above ``tau sigma_1`` keeps ~7 digits.
    max_rank : int, optional
        At most this many pivots per generator column.

    Returns
    -------
    L : (..., n, r) ndarray, complex
        Columns in pivot order (largest pivot first) within each generator
        column block; trailing columns that are zero in every batch member
        are dropped.  Rows are in the original order.
    """
    rtol = check_real(rtol, "rtol", minimum=0.0)
    if max_rank is not None:
        max_rank = check_int(max_rank, "max_rank", minimum=0)
    nodes = np.asarray(nodes, dtype=np.complex128)
    G = np.asarray(G, dtype=np.complex128)
    batch = np.broadcast_shapes(nodes.shape[:-1], G.shape[:-2])
    n, k = G.shape[-2], G.shape[-1]
    size = int(np.prod(batch, dtype=int))
    nodes = np.broadcast_to(nodes, (*batch, n)).reshape(size, n)
    G = np.broadcast_to(G, (*batch, n, k)).reshape(size, n, k)
    r_max = n if max_rank is None else min(max_rank, n)
    blocks = [_cholesky_one(nodes, G[:, :, j], discrete, rtol, r_max) for j in range(k)]
    if len(blocks) == 1:
        L = blocks[0]
    else:
        L = np.concatenate(blocks, axis=-1) if blocks else np.zeros((nodes.shape[0], n, 0), complex)
    return L.reshape(*batch, n, L.shape[-1])


def _cholesky_one(nodes: np.ndarray, g: np.ndarray, discrete: bool, rtol: float, r_max: int) -> np.ndarray:
    """Factor for one generator column; ``nodes`` and ``g`` have shape ``(b, n)``."""
    b, n = g.shape
    g = g.copy()
    rows = np.arange(b)
    if discrete:
        # 1 - |z_i|^2 = -expm1(2 Re mu_i)
        denom_diag = -np.expm1(2.0 * nodes.real)
    else:
        denom_diag = 2.0 * nodes.real
    L = np.zeros((b, n, r_max), dtype=np.complex128)
    first = None
    active = np.ones(b, dtype=bool)
    r_used = 0
    re, im = nodes.real, nodes.imag
    z = np.exp(nodes) if discrete else None  # once: the pivot steps only select from it
    for step in range(r_max):
        d = (g.real**2 + g.imag**2) / denom_diag  # diagonal of the current Schur complement
        p = np.argmax(d, axis=1)
        dp = d[rows, p]
        if first is None:
            first = dp.copy()
        active &= (dp > rtol * first) & (dp > 0)
        if not active.any():
            break
        r_used = step + 1
        gp = g[rows, p]
        xp = nodes[rows, p]
        if discrete:
            # 1 - z_i conj(z_p) = -expm1(mu_i + conj(mu_p)),  z_i - z_p = z_p expm1(mu_i - mu_p):
            # both arguments have the imaginary part Im(mu_i - mu_p), so they share sin and cos
            den, num = _stein_factors(re, im, xp, z, z[rows, p])
        else:
            den = nodes + np.conj(xp)[:, None]
            num = nodes - xp[:, None]
        inv_den = 1.0 / den
        scale = np.where(active, 1.0 / np.sqrt(np.where(active, dp, 1.0)), 0.0)
        L[:, :, step] = g * inv_den * (np.conj(gp) * scale)[:, None]
        g = np.where(active[:, None], g * num * inv_den, g)
        g[rows[active], p[active]] = 0.0  # exact: the pivot row is eliminated
    return L[:, :, :r_used]


def _stein_factors(re, im, xp, z, zp) -> tuple[np.ndarray, np.ndarray]:
    """``1 - z_i conj(z_p)`` and ``z_i - z_p`` from ``mu = re + j im``, the pivots ``xp = mu_p``,
    ``z = exp(mu)`` and ``zp = z_p`` (``(b, n)``, ``(b,)``, ``(b, n)``, ``(b,)``).

    ``exp(a + jb) - 1 = (e - 2 s^2 (1 + e)) + j 2 s c (1 + e)`` with ``e = expm1(a)``,
    ``s, c = sin(b/2), cos(b/2)`` (:func:`mor.discretize.complex_expm1`), evaluated for
    ``a = re_i + re_p`` and for the difference of the real parts, with the common
    ``b = im_i - im_p``.  The difference is factored out of the *larger* pole::

        z_i - z_p = -z_i expm1(mu_p - mu_i)     (|z_i| >= |z_p|)
                  =  z_p expm1(mu_i - mu_p)     (|z_i| <  |z_p|)

    so the ``expm1`` argument has a non-positive real part (no overflow) and the factor
    ``exp(mu)`` is as large as possible: ``z_p = exp(mu_p)`` underflows for fast poles
    (``Re mu_p < -745``) while ``z_i - z_p`` is still a normal number.  Both poles zero (or
    below the underflow threshold) give ``z_i - z_p = 0``.
    """
    half = 0.5 * (im - xp.imag[:, None])
    s, c = np.sin(half), np.cos(half)
    ss, sc = 2.0 * s * s, 2.0 * s * c
    den = expm1_half_angle(re + xp.real[:, None], ss, sc)
    re_p = xp.real[:, None]
    larger_i = re >= re_p  # |z_i| >= |z_p|
    with np.errstate(invalid="ignore"):
        diff = np.where(larger_i, re_p - re, re - re_p)
    diff = np.where(np.isnan(diff), -np.inf, diff)  # both -inf (z = 0): exp(-inf) = 0 below
    ratio = expm1_half_angle(diff, ss, np.where(larger_i, -sc, sc))
    num = np.where(larger_i, -z, zp[:, None]) * ratio
    return -den, num
