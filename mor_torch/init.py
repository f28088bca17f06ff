"""Pole initialisations for DSS layers.

A DSS layer keeps ``N`` complex modes *without* conjugate partners and takes the real part of
the output, so an ``N``-mode DSS layer represents the same real system as an S4D layer of state
size ``2N`` (which keeps ``N`` modes of its ``2N`` and takes ``2 Re``).  Every initialisation here
therefore returns ``N`` poles with positive (or zero) imaginary part, real part ``-1/2`` unless
stated otherwise:

========================  =======================================================================
``"skew-hippo"``          DSS paper: eigenvalues of the skew-symmetric part of the ``2N x 2N``
                          HiPPO-LegS matrix, the ``N`` with positive imaginary part, real part
                          ``-1/2`` (``O(N)`` memory above ``N = 400``).
``"s4d-lin"``             ``-1/2 + i pi n``, ``n = 0..N-1`` (S4D-Lin of state size ``2N``).
``"s4d-inv"``             ``-1/2 + i (2N/pi) (2N/(2n+1) - 1)``, ``n = 0..N-1``: the S4D-Inv formula
                          for state size ``2N``.  (With ``N`` in place of ``2N`` and ``n`` running
                          to ``N-1`` half of the frequencies would be negative, i.e. duplicates of
                          the others once the real part is taken.)
``"random"``              ``-U(0.1, 1) + i pi U(0, N)``: real parts spread over one decade,
                          frequencies uniform over the S4D-Lin band; sorted by frequency.
========================  =======================================================================

All functions return complex128 numpy arrays of shape ``(N,)``.
"""

from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from scipy.linalg import eigvalsh_tridiagonal, lapack

from mor.errors import NumericalError
from mor.validation import check_choice, check_int, check_memory

__all__ = [
    "DEFAULT_INIT",
    "DENSE_MAX_N",
    "INITS",
    "init_poles",
    "random_poles",
    "s4d_inv",
    "s4d_lin",
    "skew_hippo",
]


_log = logging.getLogger(__name__)
#: Peak bytes of the structured skew-HiPPO route: ``_STRUCTURED_BYTES[0] N + _STRUCTURED_BYTES[1]``
#: (tracemalloc: 300 N + 1.6 MB at N = 1200 and 3000; with a margin).
_STRUCTURED_BYTES = (400.0, 4e6)


def _check_n(n: int) -> int:
    return check_int(n, "the number of modes N")


#: Above this many modes ``skew_hippo`` takes the structured route (``O(N)`` memory, ``O(N^2)``
#: time, every frequency to a few units of rounding); at and below, the dense one (measured: see
#: :func:`skew_hippo`).
DENSE_MAX_N = 400
#: From this many modes on, the structured route's last results are remembered (``_remembered``):
#: every layer of a model asks for the same ``N``, and each answer costs seconds to minutes.
_REMEMBER_MIN_N = 4096
#: Fewest shifts per thread in a sweep of counts (smaller shares cost more in overhead than they save).
_LANES_PER_THREAD = 4096
#: Block size of the far-field expansion in the simultaneous (Aberth) correction.
_BLOCK = 64
#: A frequency is final once the Newton step is below this fraction of it (the next one would
#: move it by about the square of that, far below rounding).
_NEWTON_TOL = 1e-10


def _sturm(sigma: np.ndarray, delta: np.ndarray, derivative: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Inertia of ``i S - sigma I`` for many shifts at once, and ``d/dsigma log |det(i S - sigma I)|``.

    ``i S - sigma I = D (i K - sigma Delta) D`` with ``Delta = D^-2`` is congruent to
    ``H = i K - sigma Delta``.  Because every entry of ``K`` above the diagonal is ``1/2``, the
    Schur complements of ``H`` are ``i K - sigma Delta + c 1 1^T`` (``c`` real), so the ``LDL^H``
    factorisation is the scalar recurrence ``p_k = c_k - sigma delta_k``,
    ``c_{k+1} = -(1/4 + sigma delta_k c_k) / p_k``, and the number of negative pivots ``p_k`` is the
    number of eigenvalues of ``i S`` below ``sigma`` (Sylvester).  It runs on ``z = c / sigma``,
    ``g = delta_k - z = -p_k / sigma``: ``z_{k+1} = (delta_k z_k + a) / g_k`` with
    ``a = 1 / (4 sigma^2)``, and on ``z' = dz/dsigma`` for
    ``d/dsigma log|det| = 2N / sigma - sum_k z'_k / g_k``.  Nothing in it needs ``Delta = D^-2``:
    with ``delta_k = 2k + 1`` it is the same count for ``i S^-1 / 4 = i (E D^-1) K (E D^-1)``
    (``K^-1 = 4 E K E``, ``E = diag((-1)^k)``), whose eigenvalues are ``1 / (4 lambda)``.

    Parameters
    ----------
    sigma : (L,) float ndarray
        Positive shifts.
    delta : (2N,) float ndarray
        The diagonal of ``Delta``: ``1 / (2k + 1)`` for ``i S``, ``2k + 1`` for ``i S^-1 / 4``.
    derivative : bool
        Also return the logarithmic derivative of the determinant.

    Returns
    -------
    count : (L,) int ndarray
        Number of eigenvalues of ``i Delta^-1/2 K Delta^-1/2`` below each shift.
    logdet_prime : (L,) float ndarray or None
        ``sum_j 1 / (sigma - lambda_j)`` over all ``2N`` of those eigenvalues (not finite where a
        pivot vanished exactly).
    """
    a = 0.25 / (sigma * sigma)
    z, z_next, g = np.zeros_like(sigma), np.empty_like(sigma), np.empty_like(sigma)
    count, negative = np.zeros(sigma.shape, np.int64), np.empty(sigma.shape, bool)
    if derivative:
        dz, s, u, da = np.zeros_like(sigma), np.zeros_like(sigma), np.empty_like(sigma), -2.0 * a / sigma
    for dk in delta:
        np.subtract(dk, z, out=g)
        np.greater(g, 0.0, out=negative)  # pivot p_k = -sigma g_k < 0
        count += negative
        np.multiply(z, dk, out=z_next)
        z_next += a
        z_next /= g
        if derivative:
            np.divide(dz, g, out=u)
            s -= u
            np.add(z_next, dk, out=u)  # z'_{k+1} = ((delta_k + z_{k+1}) z'_k + a') / g_k
            u *= dz
            u += da
            np.divide(u, g, out=dz)
        z, z_next = z_next, z
    return count, (s + delta.size / sigma if derivative else None)


def _counts(sigma: np.ndarray, delta: np.ndarray, derivative: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`_sturm` over ``torch.get_num_threads()`` threads, each on a share of the shifts.

    numpy releases the GIL inside each vector operation, so the shares run in parallel; below
    ``_LANES_PER_THREAD`` shifts a share, one thread does it all.
    """
    threads = min(torch.get_num_threads(), sigma.size // _LANES_PER_THREAD)
    if threads <= 1:
        return _sturm(sigma, delta, derivative)
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda part: _sturm(part, delta, derivative), np.array_split(sigma, threads)))
    count = np.concatenate([c for c, _ in parts])
    return count, (np.concatenate([f for _, f in parts]) if derivative else None)


def _midpoints(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Bisection points: geometric over wide brackets, arithmetic over narrow ones, ``hi / 4`` from 0."""
    with np.errstate(invalid="ignore"):
        geometric = np.sqrt(lo * hi)
    return np.where(lo <= 0.0, 0.25 * hi, np.where(hi > 4.0 * lo, geometric, 0.5 * (lo + hi)))


def _brackets(n: int, delta: np.ndarray) -> tuple[np.ndarray, ...]:
    """Brackets ``lo_k < w_k <= hi_k`` with counts, and first estimates, from two sweeps of counts.

    The first sweep counts at ``N`` geometrically spaced shifts up to ``||S||_F < (2N)^2 / 2``; the
    second at the shifts where the interpolated counting function passes ``N + k + 3/2`` (between
    ``w_k`` and ``w_{k+1}``), which isolates most frequencies in a bracket of their own.
    """
    m = 2 * n
    top = 0.5 * m * m
    grid = np.geomspace(1e-2, top, max(n, 16), endpoint=False)
    counts = np.maximum.accumulate(_counts(grid, delta, False)[0])
    between = np.unique(np.interp(n + np.arange(n - 1) + 1.5, counts, grid))
    grid = np.concatenate([[0.0], grid, between, [top]])
    counts = np.concatenate([[n], counts, _counts(between, delta, False)[0], [m]])
    order = np.argsort(grid, kind="stable")
    grid, counts = grid[order], np.maximum.accumulate(counts[order])
    target = n + np.arange(n)
    j = np.searchsorted(counts, target + 1)  # first shift with more than N + k eigenvalues below it
    lo, hi, clo, chi = grid[j - 1], grid[j], counts[j - 1], counts[j]
    x = np.interp(target + 0.5, counts, grid)
    outside = ~((x > lo) & (x < hi))
    x[outside] = _midpoints(lo[outside], hi[outside])
    return lo, hi, clo, chi, x


def _neighbour_sum(x: np.ndarray) -> np.ndarray:
    """``sum_{j != k} 1 / (x_k - y_j)`` over the current estimates ``y = (-x[::-1], x)`` of all eigenvalues.

    The sorted estimates are cut into blocks of ``_BLOCK``: the block of ``x_k`` and its two
    neighbours are summed exactly, every farther block by its expansion about its mean ``c``,
    ``n / d + M_2 / d^3 + M_3 / d^4`` with ``d = x_k - c`` and the central moments ``M_2``, ``M_3``
    (the dipole term vanishes).  ``O(N^2 / _BLOCK)`` operations in ``O(N)`` memory.
    """
    n, B = x.size, _BLOCK
    nb = -(-2 * n // B)
    y = np.full(nb * B, np.nan)
    y[: 2 * n] = np.concatenate([-x[::-1], x])
    blocks = y.reshape(nb, B)
    count = np.sum(~np.isnan(blocks), axis=1)
    centre = np.nanmean(blocks, axis=1)
    m2, m3 = np.nansum((blocks - centre[:, None]) ** 2, axis=1), np.nansum((blocks - centre[:, None]) ** 3, axis=1)
    total = np.empty(n)
    own = (n + np.arange(n)) // B
    step = 4 * B  # lanes per piece: pieces of 4 B x nb ~ 8 N entries, O(N) memory
    for s in range(0, n, step):
        lanes = slice(s, min(n, s + step))
        xs, b0 = x[lanes, None], own[lanes]
        near = (b0[:, None] + np.arange(-1, 2)[None, :]).clip(-1, nb)  # -1 and nb: no block
        d = xs - centre[None, :]
        far = count / d + m2 / d**3 + m3 / d**4
        far[np.arange(xs.shape[0])[:, None], near.clip(0, nb - 1)] = 0.0
        pos = near[:, :1] * B + np.arange(3 * B)[None, :]
        valid = (pos >= 0) & (pos < 2 * n) & (pos != (n + np.arange(s, lanes.stop))[:, None])
        yy = np.where(valid, y[pos.clip(0, 2 * n - 1)], np.inf)
        total[lanes] = far.sum(axis=1) + np.sum(1.0 / (xs - yy), axis=1)
    return total


def _refine(n: int, delta: np.ndarray, lo, hi, clo, chi, x) -> np.ndarray:
    """Every ``w_k`` from its bracket: simultaneous Newton (Aberth) steps guarded by Sturm counts.

    Each sweep evaluates, at the estimates still moving, the count and ``f = (log det)'``; the
    count narrows the bracket; a lane whose bracket holds one eigenvalue steps to
    ``x - 1 / (f - sum_{j != k} 1/(x - x_j))`` (or Newton's ``x - 1/f``) when that stays inside,
    otherwise bisects.  A lane is final when it is isolated and the Newton step is below
    ``_NEWTON_TOL x``, or when its bracket is a few units of rounding wide.
    """
    target, act, eps = n + np.arange(n), np.arange(n), np.finfo(np.float64).eps
    for sweep in range(200):
        xa = x[act]
        count, f = _counts(xa, delta, True)
        ok = np.isfinite(f) & (f != 0.0)
        below, above = ok & (count <= target[act]), ok & (count > target[act])
        lo[act[below]], clo[act[below]] = xa[below], count[below]
        hi[act[above]], chi[act[above]] = xa[above], count[above]
        la, ha = lo[act], hi[act]
        isolated = ok & (chi[act] - clo[act] == 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = xa - 1.0 / f
            aberth = xa - 1.0 / (f - _neighbour_sum(x)[act])
        inside_n = isolated & (newton > la) & (newton < ha)
        inside_a = isolated & (aberth > la) & (aberth < ha) & (np.abs(aberth - xa) >= 1e-3 * np.abs(newton - xa))
        done = isolated & (np.abs(newton - xa) <= _NEWTON_TOL * xa)
        tiny = ha - la <= 4.0 * eps * ha
        step = np.where(inside_a, aberth, np.where(inside_n, newton, _midpoints(la, ha)))
        step = np.where(done, np.clip(newton, la, ha), np.where(ok, step, xa * (1.0 + 8.0 * eps)))
        x[act] = np.where(tiny & ~done, 0.5 * (la + ha), step)
        act = act[~(done | tiny)]
        _log.debug("skew-HiPPO, N = %d: sweep %d leaves %d frequencies to refine", n, sweep, act.size)
        if act.size == 0:
            return x
    raise NumericalError(f"the skew-HiPPO frequencies did not converge in 200 sweeps ({act.size} of {n} left)")


def skew_hippo(n: int, method: str = "auto") -> np.ndarray:
    """Skew-HiPPO poles (DSS): ``-1/2 + i w`` for the positive eigenvalue halves of ``S``.

    ``S = (A - A^T) / 2`` with the ``2N x 2N`` HiPPO-LegS matrix
    ``A_ij = -sqrt((2i+1)(2j+1))`` for ``i > j``, ``-(i+1)`` on the diagonal, ``0`` above, i.e.
    ``S_ij = sign(j - i) sqrt((2i+1)(2j+1)) / 2 = (D K D)_ij`` with ``D = diag(sqrt(2i+1))`` and
    ``K_ij = sign(j - i) / 2``.  ``S`` is real skew-symmetric; its eigenvalues are ``+-i w``.

    Two routes give the ``w``:

    - ``"dense"``: an orthogonal Hessenberg reduction of ``S`` (LAPACK ``dgehrd``) makes it
      tridiagonal with sub-diagonal ``e``; the zero-diagonal symmetric tridiagonal with
      off-diagonal ``|e|`` has eigenvalues ``+-w`` (``stebz``).  ``36 N^2`` bytes, ``O(N^3)``
      time.  Its absolute error, about ``eps ||S||``, is large relative to the lowest frequencies
      (``3e-12`` at N = 512), so one Newton step of the structured recurrence follows
      (:func:`_polish`).
    - ``"structured"``: ``i S - sigma I = D (i K - sigma D^-2) D`` is congruent to a matrix whose
      ``LDL^H`` factorisation is a scalar recurrence (:func:`_sturm`), so the number of
      eigenvalues below ``sigma`` and ``(log det(i S - sigma I))'`` cost ``O(N)`` time and memory
      per shift.  Two sweeps of counts bracket every frequency; simultaneous Newton (Aberth)
      steps, kept inside the brackets by the counts, converge to a few units of rounding relative
      to each frequency; the upper half gets one Newton step on ``S^-1`` (whose rounding is
      relative to the highest frequencies).  ``O(N)`` memory (``300 N`` bytes and 2 MB measured),
      ``O(N^2)`` time: about 11 sweeps of ``N`` shifts over ``2N`` rows.  The shifts are shared
      among ``torch.get_num_threads()`` threads; from N = 4096 on, the last four answers are
      remembered (every layer of a model asks for the same ``N``).

    ``"auto"`` takes the dense route for ``N <= DENSE_MAX_N = 400`` and the structured one above:
    the CPU seconds (one thread, best of 3; N = 400: 0.09 dense, 0.11 structured; N = 512: 0.23,
    0.14) cross there.  Measured on one core of an Intel Xeon shared with other jobs (CPU time;
    wall time was up to 7x longer under that load):

    ======== ============== ================= ==============================================
    N        dense (CPU s)  structured (CPU)  largest relative difference between the routes
    ======== ============== ================= ==============================================
    1000     2.2            0.3               3e-16 (both within 1.1e-15 of an 80-bit refinement)
    2000     19.2           0.5               2e-15
    10000    ~2400 (N^3),   7.3               (2.3e-15 from an 80-bit refinement)
             14 GB
    30000    (130 GB)       62
    100001   (336 GiB)      751 (2 threads)   (<= 5.5e-15 from an 80-bit refinement, 22 sampled
                                              frequencies; wall 33 min under the load)
    ======== ============== ================= ==============================================

    Relative error on every frequency against 40-digit eigenvalues (mpmath, N <= 40) and against
    an 80-bit refinement (N = 64 .. 10^4): at most ``3e-15`` for both routes (``3e-14`` at
    N = 40 and ``3e-12`` at N = 512 for the dense route without its Newton step; ``6e-14`` on
    the highest frequency at N = 10^4 for the structured one without the step on ``S^-1``).

    Parameters
    ----------
    n : int
        Number of modes ``N``.
    method : {"auto", "dense", "structured"}
        The route (see above).

    Returns
    -------
    poles : (N,) complex ndarray
        ``-1/2 + i w_k``, ``w`` ascending and positive.

    Raises
    ------
    MemoryLimitError
        When the route's arrays do not fit in the memory available, checked before allocating
        them: the dense ``2N x 2N`` matrix (``36 N^2`` bytes: N = 100001 would need 336 GiB) or the
        structured route's ``O(N)`` vectors (reserved as ``400 N + 4e6`` bytes: 42 MiB at N = 100001).
    NumericalError
        When a LAPACK routine fails or the structured iteration does not converge.
    """
    n = _check_n(n)
    method = check_choice(method, "method (the skew-HiPPO route)", ("auto", "dense", "structured"))
    dense = method == "dense" or (method == "auto" and n <= DENSE_MAX_N)
    if dense:
        w = _dense(n)
    else:
        w = _remembered(n) if n >= _REMEMBER_MIN_N else _structured(n)
    return -0.5 + 1j * w

def _dense(n: int) -> np.ndarray:
    """The ``N`` positive frequencies from the dense ``2N x 2N`` matrix (Hessenberg, then ``stebz``)."""
    m = 2 * n
    check_memory(9.0 * m * m, f"the dense skew-HiPPO route with N = {n} modes (a {m} x {m} matrix)",
                 'use method="structured" (O(N) memory), fewer modes or another initialisation')
    r = np.sqrt(2 * np.arange(m, dtype=np.float64) + 1)
    S = np.multiply.outer(r, r)
    S *= 0.5
    np.negative(S, out=S, where=np.tri(m, k=-1, dtype=bool))  # S_ij = -r_i r_j / 2 below the diagonal
    np.fill_diagonal(S, 0.0)
    lwork = int(lapack.dgehrd_lwork(m)[0]) if m > 1 else 1
    H, _, info = lapack.dgehrd(S.T, lo=0, hi=max(m - 1, 0), lwork=max(lwork, 1), overwrite_a=1)  # S.T: no copy
    if info != 0:
        raise NumericalError(f"the Hessenberg reduction of the skew-HiPPO matrix failed (LAPACK info = {info})")
    off = np.abs(np.diagonal(H, -1))
    del S, H
    w = eigvalsh_tridiagonal(np.zeros(m), off, check_finite=False)[n:]  # ascending, +-pairs
    # error about eps ||S||: each half polished in the recurrence whose rounding is relative to it
    return _polish(_polish(w, np.arange(n // 2), inverse=False), np.arange(n // 2, n), inverse=True)




def _polish(w: np.ndarray, lanes: np.ndarray, inverse: bool) -> np.ndarray:
    """One Newton step of the structured recurrence on the frequencies ``w[lanes]``.

    With ``inverse=False`` the step is on ``det(i S - w I)`` (``delta_k = 1 / (2k+1)``), whose
    rounding is relative to the lowest frequencies; with ``inverse=True`` on the same recurrence
    for ``S^-1 = 4 (E D^-1) K (E D^-1)`` (``E = diag((-1)^k)``), i.e. ``i K - nu D^2`` with
    ``delta_k = 2k + 1`` and ``nu = 1 / (4 w)``, relative to the highest.  A step is taken only
    where it is below ``1e-8`` of the value (a neighbour of the eigenvalue it refines) and when
    the frequencies stay in order; otherwise ``w`` comes back unchanged.
    """
    n = w.size
    odd = 2.0 * np.arange(2 * n, dtype=np.float64) + 1.0
    x = 0.25 / w[lanes] if inverse else w[lanes]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        step = 1.0 / _counts(x, odd if inverse else 1.0 / odd, True)[1]
    take = np.isfinite(step) & (np.abs(step) <= 1e-8 * x)
    out = w.copy()
    out[lanes[take]] = 0.25 / (x - step)[take] if inverse else (x - step)[take]
    if np.all(np.diff(out) > 0):
        return out
    _log.debug("skew-HiPPO, N = %d: the Newton polish would reorder the frequencies; not taken", n)
    return w


@functools.lru_cache(maxsize=4)
def _remembered(n: int) -> np.ndarray:
    """:func:`_structured`, its last four answers kept (read-only; callers get ``-1/2 + i w``, a new array)."""
    w = _structured(n)
    w.flags.writeable = False
    return w


def _structured(n: int) -> np.ndarray:
    """The ``N`` positive frequencies in ``O(N)`` memory (Sturm counts and Newton steps, see :func:`_sturm`)."""
    check_memory(_STRUCTURED_BYTES[0] * n + _STRUCTURED_BYTES[1], f"the skew-HiPPO initialisation with N = {n} modes",
                 "use fewer modes or another initialisation (s4d-lin, s4d-inv, random)")
    _log.info("skew-HiPPO with N = %d modes: the structured route, O(N) memory and O(N^2) time", n)
    delta = 1.0 / (2.0 * np.arange(2 * n, dtype=np.float64) + 1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        w = _refine(n, delta, *_brackets(n, delta))
    if not (np.all(np.isfinite(w)) and np.all(w > 0) and np.all(np.diff(w) > 0)):
        raise NumericalError(f"the skew-HiPPO frequencies for N = {n} came out unordered or not finite")
    return _polish(w, np.arange(n // 2, n), inverse=True)  # the upper half, relative to itself


def s4d_lin(n: int) -> np.ndarray:
    """S4D-Lin poles ``-1/2 + i pi k``, ``k = 0..N-1``.

    Parameters
    ----------
    n : int
        Number of poles ``N``.

    Returns
    -------
    (N,) ndarray, complex
    """
    n = _check_n(n)
    return -0.5 + 1j * np.pi * np.arange(n)


def s4d_inv(n: int) -> np.ndarray:
    """S4D-Inv poles for state size ``2N``: ``-1/2 + i (2N/pi)(2N/(2k+1) - 1)``, ``k = 0..N-1``.

    Parameters
    ----------
    n : int
        Number of poles ``N`` (S4D's formula at state size ``2N``, whose conjugate
        halves DSS does not keep).

    Returns
    -------
    (N,) ndarray, complex
    """
    n = _check_n(n)
    k = np.arange(n)
    m = 2 * n
    return -0.5 + 1j * (m / np.pi) * (m / (2 * k + 1) - 1)


def random_poles(n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Random poles ``-U(0.1, 1) + i pi U(0, N)``, sorted by imaginary part, shape ``(N,)``.

    Parameters
    ----------
    n : int
        Number of modes.
    rng : numpy Generator, int seed or None
        Source of randomness (``None``: fresh entropy).
    """
    n = _check_n(n)
    rng = np.random.default_rng(rng)
    re = -rng.uniform(0.1, 1.0, n)
    im = np.sort(np.pi * rng.uniform(0.0, n, n))
    return re + 1j * im


#: The initialisations by name (the allowed values of every ``init`` option).
INITS = {"skew-hippo": skew_hippo, "s4d-lin": s4d_lin, "s4d-inv": s4d_inv, "random": random_poles}
#: The default of every layer, block and model: Skew-HiPPO, as in DSS.
DEFAULT_INIT = "skew-hippo"


def init_poles(name: str, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Poles of the named initialisation (see the module docstring).

    Parameters
    ----------
    name : {"skew-hippo", "s4d-lin", "s4d-inv", "random"}
        The initialisation.
    n : int
        Number of poles ``N``.
    rng : numpy.random.Generator or int, optional
        Random source for ``"random"``.

    Returns
    -------
    (N,) ndarray, complex
    """
    check_choice(name, "init (the pole initialisation)", tuple(INITS))
    if name == "random":
        return random_poles(n, rng)
    return INITS[name](n)
