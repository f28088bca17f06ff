"""Cholesky factors of Lyapunov and Stein solutions, computed directly (Hammarling 1982).

For an upper triangular ``T`` (a complex Schur form) and ``B (n, m)``, find the upper
triangular ``U`` with ``X = U U^H`` and::

    continuous:  T X + X T^H + B B^H = 0          (Re t_ii < 0)
    discrete:    T X T^H - X + B B^H = 0          (|t_ii| < 1)

Partition with the last index, ``T = [[T1, t], [0, tau]]``, ``U = [[U1, u], [0, upsilon]]``,
``B = [[B1], [b]]`` and write ``beta = b / ||b||``.  The last diagonal entry, the last
column and the rank-``m`` right-hand side of the remaining ``(n-1)``-sized problem are::

    continuous:  upsilon = ||b|| / rho,               rho = sqrt(-2 Re tau)
                 (T1 + conj(tau) I) u = -(upsilon t + rho B1 beta^H)
                 B1 <- B1 - rho u beta
    discrete:    upsilon = ||b|| / alpha,             alpha = sqrt(1 - |tau|^2)  (evaluated exactly)
                 (conj(tau) T1 - I) u = -(conj(tau) upsilon t + alpha B1 beta^H)
                 B1 <- B1 + (alpha (T1 u + upsilon t) - (1 + tau) B1 beta^H) beta

(substituting the last-column equation into the leading block shows that the new ``B1``
reproduces its right-hand side).  ``b = 0`` gives ``upsilon = 0``, ``u = 0`` and an
unchanged ``B1`` (rows below ``2^-500 max |B|`` count as zero: a backward perturbation far
below rounding).  ``||b||`` and ``beta`` are computed from an exact power-of-2 rescaling of ``b``:
on non-normal matrices the running right-hand side decays below ``1e-154`` within a few steps,
where ``sqrt(b^H b)`` underflows and an unscaled ``beta`` is no longer a unit vector (the update
of ``B1`` then adds an error of the size of ``u``; residuals of 1e-10..1e-2 on convection-diffusion
models with n = 900..1600 before this was fixed).

Working on the factor instead of ``X`` keeps the small singular values of ``U``, and hence
small Hankel singular values, accurate to about ``eps ||U||`` rather than ``sqrt(eps ||X||)``.

Each step is one shifted triangular solve with the leading ``k x k`` block (BLAS ``ztrsv``
with leading dimension ``n``: nothing is copied), ``O(k^2)``, ``n^3 / 3`` complex multiply-adds
in all; small matrices go through scipy's wrapper on the whole matrix, with a right-hand side
that is zero below row ``k``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.linalg.blas import ztrsv

from ._capi import scipy_routine
from ._exact import one_minus_abs2

__all__ = ["triangular_lyapunov_factor"]

#: A row ``b`` of the running right-hand side with ``|b| <= _NEGLIGIBLE max|B|`` is treated as zero:
#: a backward perturbation of ``B`` far below rounding, which skips columns that only carry
#: ~1e-151 of the solution (the factor keeps fewer columns, and real systems skip the compaction).
_NEGLIGIBLE = 2.0**-500
_SUBNORMAL_SAFE = 2.0**-900
_UP = 2.0**600
_TINY_POLE = 1e-100  # discrete: below this |tau|, (conj(tau) T1 - I)^-1 = -(I + conj(tau) T1 + ...)


def _unit_scaled(b: np.ndarray, amax: float) -> tuple[np.ndarray, int]:
    """``(b 2^-e, e)`` with ``max |b 2^-e|`` in ``[1/2, 1)``: an exact rescaling (powers of 2).

    ``||b||`` and ``b / ||b||`` from the rescaled vector cannot underflow; computed from ``b``
    itself, ``sum |b_i|^2`` underflows below ``~1e-154``, and ``beta = b / ||b||`` is then far
    from unit norm, which breaks the update of the right-hand side (see the module docstring).
    """
    e = math.frexp(amax)[1]
    half = -e // 2  # two steps: 2^-e alone overflows for subnormal b
    return (b * math.ldexp(1.0, half)) * math.ldexp(1.0, -e - half), e


#: From this order on, each step solves with the leading ``k x k`` block only (BLAS called with
#: the leading dimension ``n`` through scipy's Cython BLAS); below it, the whole matrix goes to
#: scipy's ``ztrsv`` wrapper (a call costs less; the zero part of the right-hand side is cheap).
_LEADING_MIN_ORDER = 96


def _ztrsv_ctypes():
    import ctypes

    p_int = ctypes.POINTER(ctypes.c_int)
    chars = [ctypes.c_char_p] * 3
    return scipy_routine("blas", "ztrsv", chars + [p_int, ctypes.c_void_p, p_int, ctypes.c_void_p, p_int])


_ZTRSV = _ztrsv_ctypes()


def _leading_solver(W: np.ndarray, x: np.ndarray):
    """``solve(k)``: overwrite ``x[:k]`` with ``W[:k, :k]^-1 x[:k]`` and return that view.

    ``W`` is upper triangular, Fortran-ordered ``(n, n)``; ``x`` is contiguous ``(n,)``.
    """
    n = W.shape[0]
    if n >= _LEADING_MIN_ORDER and _ZTRSV is not None:
        import ctypes

        k_c, ld, one = ctypes.c_int(0), ctypes.c_int(n), ctypes.c_int(1)
        args = (ctypes.byref(k_c), W.ctypes.data, ctypes.byref(ld), x.ctypes.data, ctypes.byref(one))

        def solve(k: int) -> np.ndarray:
            k_c.value = k
            _ZTRSV(b"U", b"N", b"N", *args)
            return x[:k]

        return solve

    def solve_full(k: int) -> np.ndarray:
        x[k:] = 0.0  # the solution is zero there too
        ztrsv(W, x, overwrite_x=1)  # in place: x is contiguous complex128
        return x[:k]

    return solve_full


def _norm_and_direction(b: np.ndarray, single: bool, negligible: float) -> tuple[float, Any]:
    """``(||b||, b / ||b||)`` of one row of the running right-hand side, ``(0, None)`` if negligible.

    One input: ``|b|`` by ``hypot`` (no underflow) and a unit complex number; several: from the
    exact rescaling of :func:`_unit_scaled`, so ``beta`` has unit norm however small ``b`` is.
    """
    if single:
        b0 = complex(b[0])
        nb = abs(b0)
        if nb <= negligible:
            return 0.0, None
        if nb < _SUBNORMAL_SAFE:  # |b| near or below the subnormal range: rescale exactly first
            b2 = b0 * _UP
            return nb, b2 / abs(b2)
        return nb, b0 / nb
    scale = np.abs(b).max()
    if scale <= negligible:
        return 0.0, None
    bs, e = _unit_scaled(b, scale)
    nbs = math.sqrt((np.conj(bs) @ bs).real)
    return math.ldexp(nbs, e), bs / nbs


def triangular_lyapunov_factor(T: np.ndarray, B: np.ndarray, *, discrete: bool = False) -> np.ndarray:
    """Upper triangular ``U`` with ``X = U U^H`` solving the (upper triangular) Lyapunov/Stein equation.

    Parameters
    ----------
    T : (n, n) complex ndarray
        Upper triangular, with ``Re t_ii < 0`` (continuous) or ``|t_ii| < 1`` (discrete);
        the caller checks stability.
    B : (n, m) ndarray
        Right-hand-side factor.
    discrete : bool
        ``T X T^H - X + B B^H = 0`` instead of ``T X + X T^H + B B^H = 0``.

    Returns
    -------
    U : (n, n) complex ndarray
        Upper triangular; column ``k`` is zero where the ``k``-th row of the running
        right-hand side vanishes (uncontrollable in Schur coordinates).
    """
    n = T.shape[0]
    m = B.shape[1]
    U = np.zeros((n, n), dtype=np.complex128)
    if n == 0 or m == 0:
        return U
    T = np.ascontiguousarray(T, dtype=np.complex128)
    W = np.array(T, dtype=np.complex128, order="F")  # shifted copy for the triangular solves
    B = np.array(B, dtype=np.complex128)
    d = np.diag(T).copy()
    margin = one_minus_abs2(d) if discrete else None  # 1 - |t_kk|^2 exactly (poles near the unit circle)
    wd = W.reshape(-1, order="F")[:: n + 1]  # a view of W's diagonal (W is Fortran-contiguous)
    x = np.zeros(n, dtype=np.complex128)
    solve = _leading_solver(W, x)
    single = m == 1
    negligible = _NEGLIGIBLE * float(np.abs(B).max())  # rows below this count as zero
    for k in range(n - 1, -1, -1):
        nb, beta = _norm_and_direction(B[k], single, negligible)
        if nb == 0.0:
            continue
        tau = complex(d[k])
        if discrete:
            alpha = math.sqrt(margin[k])
            ups = nb / alpha
        else:
            rho = math.sqrt(-2.0 * tau.real)
            ups = nb / rho
        U[k, k] = ups
        if k == 0:
            break
        B1 = B[:k]
        if single and not discrete:  # as below, with fewer temporaries (W[:k, k] = T[:k, k])
            np.add(d, tau.conjugate(), out=wd)
            xk = x[:k]
            np.multiply(W[:k, k], ups, out=xk)
            xk += (rho * beta.conjugate()) * B1[:, 0]
            y = solve(k)  # u = -y
            np.negative(y, out=U[:k, k])
            B1[:, 0] += (rho * beta) * y
            continue
        proj = B1[:, 0] * beta.conjugate() if single else B1 @ np.conj(beta)  # B1 beta^H, (k,)
        if discrete:
            rhs = tau.conjugate() * ups * T[:k, k] + alpha * proj
            if abs(tau) < _TINY_POLE:
                u = rhs + tau.conjugate() * (T[:k, :k] @ rhs)
            else:
                # (conj(tau) T1 - I) u = -rhs  <=>  (T1 - I / conj(tau)) u = -rhs / conj(tau)
                np.subtract(d, 1.0 / tau.conjugate(), out=wd)
                x[:k] = -rhs / tau.conjugate()
                u = solve(k)
            w = T[:k, :k] @ u + ups * T[:k, k]
            B1 += (alpha * w - (1.0 + tau) * proj)[:, None] * beta
        else:
            np.add(d, tau.conjugate(), out=wd)
            x[:k] = ups * T[:k, k] + rho * proj
            u = -solve(k)
            B1 -= (rho * u)[:, None] * beta
        U[:k, k] = u
    return U
