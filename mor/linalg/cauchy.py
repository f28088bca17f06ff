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

from typing import Any

import numpy as np

from ..errors import DimensionError, InvalidArgumentError, NonFiniteError
from ..validation import check_int, check_real
from ._expm1 import expm1_half_angle

__all__ = ["cauchy_cholesky", "cauchy_cholesky_pair"]


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
    nodes, (G,) = _checked(nodes, [G], ["G"], discrete)
    batch = np.broadcast_shapes(nodes.shape[:-1], G.shape[:-2])
    n, k = G.shape[-2], G.shape[-1]
    size = int(np.prod(batch, dtype=int))
    nodes = np.broadcast_to(nodes, (*batch, n)).reshape(size, n)
    G = np.broadcast_to(G, (*batch, n, k)).reshape(size, n, k)
    r_max = n if max_rank is None else min(max_rank, n)
    (L,) = _factors(nodes, [G], discrete, rtol, r_max)
    return L.reshape(*batch, n, L.shape[-1])


def cauchy_cholesky_pair(
    nodes: np.ndarray, Gc: np.ndarray, Go: np.ndarray, *, discrete: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Both Gramian factors of a diagonal system, pivoted to completion, in one pass.

    ``(cauchy_cholesky(nodes, Gc), cauchy_cholesky(conj(nodes), Go))`` (``rtol = 0``): the
    controllability factor with the nodes ``x`` (``mu``) and the observability factor with their
    conjugates.  The pairwise factors ``1 / (x_i + conj(x_p))`` (``1 / (1 - z_i conj(z_p))``) and
    ``x_i - x_p`` (``z_i - z_p``) of the second are the conjugates of the first, so the
    transcendental functions are evaluated once for both.

    Parameters
    ----------
    nodes : (b, n) ndarray, complex
    Gc : (b, n, m) ndarray, complex
    Go : (b, n, p) ndarray, complex

    Returns
    -------
    R : (b, n, rc) ndarray, S : (b, n, ro) ndarray
        As :func:`cauchy_cholesky` returns them.
    """
    nodes, (Gc, Go) = _checked(nodes, [Gc, Go], ["Gc", "Go"], discrete)
    n = nodes.shape[-1]
    return _factors(nodes, [Gc, Go], discrete, 0.0, n)


def _checked(nodes: Any, Gs: list[Any], names: list[str], discrete: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """Nodes and generators as complex arrays, refused unless the Cauchy-like matrix is positive definite.

    Continuous time needs ``Re x > 0``, discrete time ``Re mu < 0``: otherwise a denominator
    ``x_i + conj(x_i)`` (``1 - |z_i|^2``) is zero or negative, and the factor would hold NaN.
    """
    try:
        nodes = np.asarray(nodes, dtype=np.complex128)
        Gs = [np.asarray(G, dtype=np.complex128) for G in Gs]
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"nodes and generators must be numeric arrays: {exc}") from exc
    zero_pole = discrete & (nodes.real == -np.inf) & np.isfinite(nodes.imag)  # mu = log 0: a valid pole z = 0
    finite = [("nodes", np.isfinite(nodes) | zero_pole)] + [(n, np.isfinite(G)) for n, G in zip(names, Gs, strict=True)]
    for name, ok in finite:
        if not np.all(ok):
            raise NonFiniteError(f"{name} has {int(np.sum(~ok))} non-finite entries")
    for name, G in zip(names, Gs, strict=True):
        if nodes.ndim < 1 or G.ndim < 2 or G.shape[-2] != nodes.shape[-1]:
            raise DimensionError(
                f"{name} must have shape (..., n, k) with n = {nodes.shape[-1:]} the length of nodes; got {G.shape}"
            )
    bad = nodes.real >= 0 if discrete else nodes.real <= 0
    if np.any(bad):
        need = "Re mu < 0 (|z| < 1)" if discrete else "Re x > 0 (x = -lambda of a stable pole)"
        raise InvalidArgumentError(
            f"{int(np.sum(bad))} node(s) violate {need}, for example {nodes[bad].ravel()[0]:.6g}: the Cauchy-like "
            "matrix is then not positive definite and has no Cholesky factor"
        )
    return nodes, Gs


#: Up to this many complex entries (``b n^2``, per chunk of batch members) the pairwise factors
#: of a factorisation pivoted to completion are tabulated once (``O(n^2)`` transcendental calls per
#: member instead of ``O(n^2)`` per generator column and Gramian, and no per-step evaluation).
TABLE_ENTRIES = 1 << 21


def _factors(nodes: np.ndarray, Gs: list[np.ndarray], discrete: bool, rtol: float, r_max: int) -> list[np.ndarray]:
    """Factors for ``nodes`` (``(b, n)``) and each generator ``Gs[0]``, conjugated nodes for ``Gs[1]``.

    Returns one ``(b, n, r)`` factor per generator (generator columns concatenated, trailing
    columns that are zero in every member dropped).  All generator columns of all generators run
    as one stacked batch through :func:`_cholesky_one`, the controllability columns first.
    """
    b, n = nodes.shape
    gens = [(which, G[:, :, j]) for which, G in enumerate(Gs) for j in range(G.shape[-1])]
    tabulate = rtol == 0.0 and r_max == n and n > 0
    chunk = max(1, TABLE_ENTRIES // max(n * n, 1)) if tabulate else max(b, 1)
    blocks: list[list[np.ndarray]] = [[] for _ in gens]
    for lo in range(0, b, chunk) if gens else ():
        sl = slice(lo, lo + chunk)
        x = nodes[sl]
        bc = x.shape[0]
        xs = [x, np.conj(x)]
        g = np.concatenate([gj[sl] for _, gj in gens], axis=0)
        node = np.concatenate([xs[which] for which, _ in gens], axis=0)
        tables = None
        if tabulate:
            member = np.concatenate([np.arange(bc) for _ in gens])
            first_conj = bc * sum(1 for which, _ in gens if which == 0)  # rows with conjugated nodes
            tables = (*_tables(x, discrete), member, first_conj)
        L, count = _cholesky_one(node, g, discrete, rtol, r_max, tables)
        for j in range(len(gens)):
            r_j = int(count[j * bc : (j + 1) * bc].max(initial=0))  # columns of this block in use
            blocks[j].append(L[j * bc : (j + 1) * bc, :, :r_j])
    out = []
    for which in range(len(Gs)):
        cols = [_stack(blocks[j], b, n) for j, (w, _) in enumerate(gens) if w == which]
        if not cols:
            out.append(np.zeros((b, n, 0), complex))
        elif len(cols) == 1:
            out.append(cols[0])
        else:
            out.append(np.concatenate(cols, axis=-1))
    return out


def _stack(parts: list[np.ndarray], b: int, n: int) -> np.ndarray:
    """Chunks of one factor block along the batch, brought to a common number of columns."""
    if not parts:
        return np.zeros((b, n, 0), complex)
    if len(parts) == 1:
        return parts[0]
    r = max(p.shape[-1] for p in parts)
    return np.concatenate([np.pad(p, ((0, 0), (0, 0), (0, r - p.shape[-1]))) for p in parts], axis=0)


def _tables(x: np.ndarray, discrete: bool) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise ``1 / den`` and ``num`` of the pivot updates, ``(b * n_p, n_i)``: row ``h n + p``
    holds the factors of member ``h`` for pivot ``p`` (nodes ``x``; for the conjugated nodes they
    are the conjugates).

    Discrete: ``den`` and ``num`` are Hermitian and skew-symmetric in ``(i, p)``
    (``1 - z_p conj(z_i) = conj(1 - z_i conj(z_p))``, ``z_p - z_i = -(z_i - z_p)``), so
    :func:`_stein_factors` runs on the pairs ``p < i`` only and the rest is mirrored.
    """
    b, n = x.shape
    if not discrete:
        inv_den = 1.0 / (x[:, None, :] + np.conj(x)[:, :, None])
        num = x[:, None, :] - x[:, :, None]
        return inv_den.reshape(-1, n), num.reshape(-1, n)
    pi, ii = np.triu_indices(n, 1)
    z = np.exp(x)
    re, im = x.real, x.imag

    def pairs(a, idx):  # (b, pairs), C-ordered (x[:, idx] would be column-major: slow ufuncs)
        return np.take(a, idx, axis=1)

    den_u, num_u = _stein_pairs(pairs(re, ii), pairs(im, ii), pairs(re, pi), pairs(im, pi), pairs(z, ii), pairs(z, pi))
    inv_u = 1.0 / den_u
    base = (np.arange(b) * (n * n))[:, None]
    upper, lower = (base + (pi * n + ii)).ravel(), (base + (ii * n + pi)).ravel()
    diag = (base + np.arange(n) * (n + 1)).ravel()
    inv_den = np.empty(b * n * n, complex)
    inv_den[upper] = inv_u.ravel()
    inv_den[lower] = np.conj(inv_u).ravel()
    inv_den[diag] = (-1.0 / np.expm1(2.0 * re)).ravel()
    num = np.empty(b * n * n, complex)
    num[upper] = num_u.ravel()
    num[lower] = -num_u.ravel()
    num[diag] = 0.0
    return inv_den.reshape(-1, n), num.reshape(-1, n)


def _cholesky_one(
    nodes: np.ndarray, g: np.ndarray, discrete: bool, rtol: float, r_max: int, tables=None
) -> tuple[np.ndarray, np.ndarray]:
    """Pivoted factor of a stack of single generator columns: ``nodes`` and ``g`` are ``(b, n)``.

    Returns ``L (b, n, r)`` and the number of pivots each row took.  ``tables``:
    ``(inv_den, num, member, first_conj)``, the pairwise factors of :func:`_tables` gathered
    instead of evaluated at every step (row ``h`` uses those of member ``member[h]``, conjugated
    from row ``first_conj`` on).
    """
    b, n = g.shape
    g = np.array(g, dtype=np.complex128, order="C")  # a copy: updated in place
    rows = np.arange(b)
    if discrete:
        # 1 - |z_i|^2 = -expm1(2 Re mu_i)
        denom_diag = -np.expm1(2.0 * nodes.real)
    else:
        denom_diag = 2.0 * nodes.real
    L = np.empty((r_max, b, n), dtype=np.complex128)  # step-major: each step writes a contiguous block
    count = np.zeros(b, dtype=int)
    first = None
    active = np.ones(b, dtype=bool)
    r_used = 0
    re, im = nodes.real, nodes.imag
    z = np.exp(nodes) if discrete and tables is None else None  # once: the pivot steps only select from it
    inv_diag = 1.0 / denom_diag
    h = np.empty_like(g)
    for step in range(r_max):
        d = np.square(g.real)
        d += np.square(g.imag)
        d *= inv_diag  # |g|^2 / denom: the diagonal of the current Schur complement
        p = np.argmax(d, axis=1)
        dp = d[rows, p]
        if first is None:
            first = dp.copy()
        active &= (dp > rtol * first) & (dp > 0)
        all_active = active.all()
        if not all_active and not active.any():
            break
        r_used = step + 1
        count += active
        gp = g[rows, p]
        if tables is not None:
            flat = tables[2] * n + p  # row p of the member's (n_p, n_i) tables
            inv_den, num = np.take(tables[0], flat, axis=0), np.take(tables[1], flat, axis=0)
            k = tables[3]
            if k < b:
                np.conj(inv_den[k:], out=inv_den[k:])
                np.conj(num[k:], out=num[k:])
        else:
            xp = nodes[rows, p]
            if discrete:
                # 1 - z_i conj(z_p) = -expm1(mu_i + conj(mu_p)),  z_i - z_p = z_p expm1(mu_i - mu_p):
                # both arguments have the imaginary part Im(mu_i - mu_p), so they share sin and cos
                den, num = _stein_factors(re, im, xp, z, z[rows, p])
            else:
                den = nodes + np.conj(xp)[:, None]
                num = nodes - xp[:, None]
            inv_den = 1.0 / den
        np.multiply(g, inv_den, out=h)
        if all_active:
            np.multiply(h, (np.conj(gp) * (1.0 / np.sqrt(dp)))[:, None], out=L[step])
            np.multiply(h, num, out=g)
            g[rows, p] = 0.0  # exact: the pivot row is eliminated
        else:
            scale = np.where(active, 1.0 / np.sqrt(np.where(active, dp, 1.0)), 0.0)
            np.multiply(h, (np.conj(gp) * scale)[:, None], out=L[step])
            np.multiply(h, num, out=h)
            g[active] = h[active]
            g[rows[active], p[active]] = 0.0
    return L[:r_used].transpose(1, 2, 0), count


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
    return _stein_pairs(re, im, xp.real[..., None], xp.imag[..., None], z, zp[..., None])


def _stein_pairs(re, im, re_p, im_p, z, zp) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise (broadcasting) core of :func:`_stein_factors`: ``1 - z conj(z_p)`` and
    ``z - z_p`` from ``mu = re + j im``, ``mu_p = re_p + j im_p``, ``z = exp(mu)``, ``zp = exp(mu_p)``."""
    half = im - im_p
    half *= 0.5
    s, c = np.sin(half), np.cos(half)
    ss = s * s
    ss *= 2.0  # 2 sin^2(b/2)
    sc = s * c
    sc *= 2.0  # 2 sin(b/2) cos(b/2)
    den = expm1_half_angle(re + re_p, ss, sc)  # exp(mu + conj(mu_p)) - 1
    np.negative(den, out=den)
    with np.errstate(invalid="ignore"):
        diff = re - re_p
    larger = diff >= 0  # |z| >= |z_p|: factor out z (the expm1 argument mu_p - mu, conjugate angle)
    np.abs(diff, out=diff)
    np.negative(diff, out=diff)  # -|Re(mu - mu_p)|
    nan = np.isnan(diff)
    if nan.any():
        diff[nan] = -np.inf  # both -inf (z = 0): exp(-inf) = 0 below
    np.negative(sc, out=sc, where=larger)
    ratio = expm1_half_angle(diff, ss, sc)
    num = np.where(larger, -z, zp)
    num *= ratio
    return den, num
