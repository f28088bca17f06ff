"""Plain references for the reliability fuzzes: an H-infinity oracle and hostile system families.

``hinf_oracle`` shares no code with :func:`mor.hinf_norm`: ``sigma_max(G)`` by dense
``numpy.linalg.solve`` of ``(s I - A) X = B`` at every point, on

* a dense grid (continuous: ``0`` and ``+-geomspace(1e-3 min|lambda|, 1e3 max|lambda|)``;
  discrete: ``theta`` uniform in ``[-pi, pi]``),
* every pole frequency ``Im(lambda)`` (discrete: ``angle(z)``) and the half-power points
  ``Im(lambda) +- |Re(lambda)|`` (discrete: ``angle(z) +- (1 - |z|)``),

then the largest local maxima are refined by bounded scalar minimisation (Brent) between their
grid neighbours.  It returns a value that is attained, hence a lower bound of the true norm up to
rounding; a correct ``hinf_norm`` is never below it by more than its tolerance.

The families (deterministic in a seed) are those of the issue: random balanced-truncation error
systems ``G - G_r`` (continuous and discrete, SISO and MIMO, real and complex), strongly
non-normal dense systems, time-scaled dense systems and discrete diagonal systems with very fast
poles (``z = exp(mu)`` tiny or underflowing).
"""

from __future__ import annotations

import mpmath
import numpy as np
import scipy.optimize as so

import mor
from mor import LTI, DiagonalLTI


def sigma_dense(sys: LTI, x: np.ndarray) -> np.ndarray:
    """``sigma_max(G)`` at frequencies ``x`` (rad/time; ``theta = x dt`` for discrete) by dense solves."""
    x = np.atleast_1d(np.asarray(x, dtype=float))
    s = np.exp(1j * x * sys.dt) if sys.dt is not None else 1j * x
    out = np.empty(x.size)
    n = sys.n
    for lo in range(0, x.size, 512):
        chunk = s[lo : lo + 512]
        M = chunk[:, None, None] * np.eye(n) - sys.A
        with np.errstate(all="ignore"):
            try:
                G = sys.C @ np.linalg.solve(M, np.broadcast_to(sys.B, (chunk.size, n, sys.m))) + sys.D
            except np.linalg.LinAlgError:  # a point exactly on a (numerically marginal) pole: inf there
                G = np.stack([_solve_or_inf(sys, Mk) for Mk in M])
        out[lo : lo + 512] = np.linalg.svd(np.nan_to_num(G, nan=np.inf), compute_uv=False)[:, 0]
    return out


def _solve_or_inf(sys: LTI, M: np.ndarray) -> np.ndarray:
    try:
        return sys.C @ np.linalg.solve(M, sys.B) + sys.D
    except np.linalg.LinAlgError:
        return np.full((sys.p, sys.m), np.inf)


def _candidates(sys: LTI, grid: int) -> np.ndarray:
    lam = np.linalg.eigvals(sys.A) if sys.n else np.zeros(0, complex)
    real = not sys.is_complex
    if sys.dt is not None:
        th = np.angle(lam)
        width = np.abs(1 - np.abs(lam))
        pts = np.concatenate([np.linspace(-np.pi, np.pi, grid), th, th - width, th + width, [0.0, np.pi]])
        pts = np.clip(pts, -np.pi, np.pi) / sys.dt
    else:
        mag = np.abs(lam) if lam.size else np.ones(1)
        g = np.geomspace(max(mag.min(), 1e-300) * 1e-3, mag.max() * 1e3 + 1e-300, grid // 2)
        pts = np.concatenate([[0.0], g, -g, lam.imag, lam.imag - np.abs(lam.real), lam.imag + np.abs(lam.real)])
    if real:
        pts = np.abs(pts)
    return np.unique(pts)


def hinf_oracle(sys: LTI, grid: int = 4001, refine: int = 8) -> tuple[float, float]:
    """``(value, frequency)``: the largest ``sigma_max(G)`` found by grid, pole frequencies and refinement."""
    x = _candidates(sys, grid)
    v = sigma_dense(sys, x)
    best, where = float(np.max(v)), float(x[np.argmax(v)])
    left = np.concatenate([[-np.inf], v[:-1]])
    right = np.concatenate([v[1:], [-np.inf]])
    peaks = np.flatnonzero((v >= left) & (v >= right))
    for k in peaks[np.argsort(-v[peaks])][:refine]:
        lo, hi = x[max(k - 1, 0)], x[min(k + 1, x.size - 1)]
        if hi <= lo:
            continue
        xatol = 1e-14 * max(1, abs(hi))
        res = so.minimize_scalar(
            lambda w: -sigma_dense(sys, w)[0], bounds=(lo, hi), method="bounded", options={"xatol": xatol}
        )
        if -res.fun > best:
            best, where = float(-res.fun), float(res.x)
    if sys.dt is None and sys.D.size:
        d = float(np.linalg.svd(sys.D, compute_uv=False)[0])
        if d > best:
            best, where = d, np.inf
    return best, where


def mp_hsv(sys: mor.DiagonalLTI, dps: int = 60) -> np.ndarray:
    """HSVs of a discrete SISO diagonal system from its Gramians in mpmath (``exp(mu)`` cannot underflow)."""
    mu, b, c = sys.log_poles, sys.B[:, 0], sys.C[0]
    with mpmath.workdps(dps):
        z = [mpmath.exp(mpmath.mpc(m.real, m.imag)) for m in mu]
        n = len(z)
        P, Q = mpmath.matrix(n, n), mpmath.matrix(n, n)
        for i in range(n):
            for j in range(n):
                den = 1 - z[i] * mpmath.conj(z[j])
                P[i, j] = mpmath.mpc(b[i]) * mpmath.conj(mpmath.mpc(b[j])) / den
                Q[i, j] = mpmath.conj(mpmath.mpc(c[i])) * mpmath.mpc(c[j]) / mpmath.conj(den)
        ev, _ = mpmath.eig(P * Q)
        return np.sort(np.array([float(mpmath.sqrt(abs(e))) for e in ev]))[::-1]


# --------------------------------------------------------------------------- families
def bt_error_system(seed: int) -> tuple[LTI, dict]:
    """``G - G_r`` of a random stable system and its balanced truncation (continuous or discrete,
    SISO or MIMO, real or complex; some lightly damped)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 13))
    m, p = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    cx = rng.random() < 0.3
    discrete = rng.random() < 0.5

    def draw(*shape):
        x = rng.standard_normal(shape)
        return x + 1j * rng.standard_normal(shape) if cx else x

    A = draw(n, n) / np.sqrt(n)
    ev = np.linalg.eigvals(A)
    damping = 10 ** rng.uniform(-3, 0)
    if discrete:
        A = A * ((1 - damping / 3) / np.abs(ev).max())
    else:
        A = A - (ev.real.max() + damping) * np.eye(n)
    sys = LTI(A, draw(n, m), draw(p, n), draw(p, m) if rng.random() < 0.3 else None, 1.0 if discrete else None)
    r = int(rng.integers(1, n))
    res = mor.balanced_truncation(sys, r, method=str(rng.choice(["sr", "bfsr"])))
    grid = np.linspace(-np.pi, np.pi, 64) if discrete else np.concatenate([[0.0], np.geomspace(1e-2, 1e2, 63)])
    size = float(np.max(sigma_dense(sys, grid)))  # the size of G, of which G - G_r is a small part
    info = {"n": n, "m": m, "p": p, "complex": cx, "discrete": discrete, "order": r, "bound": res.error_bound}
    return sys - res.reduced, {**info, "size": size}


def nonnormal_system(seed: int) -> tuple[LTI, float]:
    """A real stable system ``A = T L T^-1`` with ``cond(T) = kappa`` up to 1e12 (and the kappa)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 15))
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    V, _ = np.linalg.qr(rng.standard_normal((n, n)))
    kappa = 10 ** rng.uniform(0, 12)
    T = U @ np.diag(np.geomspace(1, 1 / kappa, n)) @ V.T
    L = np.zeros((n, n))
    k = n // 2
    for j in range(k):
        a, b = -rng.uniform(0.1, 3), rng.uniform(0.1, 5)
        L[2 * j : 2 * j + 2, 2 * j : 2 * j + 2] = [[a, b], [-b, a]]
    for j in range(2 * k, n):
        L[j, j] = -rng.uniform(0.1, 3)
    A = T @ L @ np.linalg.solve(T, np.eye(n))
    m, p = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    return LTI(A, rng.standard_normal((n, m)), rng.standard_normal((p, n))), kappa


def time_scaled_pair(seed: int) -> tuple[LTI, LTI, float]:
    """A random stable system and its time-scaled twin ``(a A, sqrt(a) B, sqrt(a) C)``, ``a = 10^U(-250, 250)``."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    A = rng.standard_normal((n, n)) / 2
    A = A - (np.linalg.eigvals(A).real.max() + rng.uniform(0.1, 1.0)) * np.eye(n)
    B, C = rng.standard_normal((n, int(rng.integers(1, 3)))), rng.standard_normal((int(rng.integers(1, 3)), n))
    a = 10.0 ** rng.uniform(-250, 250)
    return LTI(A, B, C), LTI(A * a, B * np.sqrt(a), C * np.sqrt(a)), a


def fast_pole_system(seed: int) -> DiagonalLTI:
    """A discrete SISO diagonal system with a real transfer function whose log-poles mix ordinary and
    very fast ones (``Re mu`` down to ``-1e4``: ``z = exp(mu)`` tiny, subnormal or zero); the poles
    come as real ones and conjugate pairs (residues conjugate too), see :func:`real_realisation`."""
    rng = np.random.default_rng(seed)
    n_pairs, n_real = int(rng.integers(0, 3)), int(rng.integers(1, 3))

    def decay(k):
        return np.where(rng.random(k) < 0.5, -(10 ** rng.uniform(-3, 1, k)), -(10 ** rng.uniform(2.5, 4, k)))

    mu_pair = decay(n_pairs) + 1j * rng.uniform(0.05, np.pi - 0.05, n_pairs)
    b_pair = rng.standard_normal(n_pairs) + 1j * rng.standard_normal(n_pairs)
    c_pair = rng.standard_normal(n_pairs) + 1j * rng.standard_normal(n_pairs)
    mu = np.concatenate([mu_pair, mu_pair.conj(), decay(n_real) + 0j])
    b = np.concatenate([b_pair, b_pair.conj(), rng.standard_normal(n_real)])
    c = np.concatenate([c_pair, c_pair.conj(), rng.standard_normal(n_real)])
    return DiagonalLTI.from_log_poles(mu, b[:, None], c[None, :])


def real_realisation(sys: DiagonalLTI) -> LTI:
    """The real dense realisation of a conjugate-symmetric diagonal system (``fast_pole_system``):
    each pair ``(z, conj z)`` becomes ``[[Re z, Im z], [-Im z, Re z]]``."""
    n = sys.n
    k = int(np.sum(sys.log_poles.imag > 0))
    X = np.eye(n, dtype=complex)
    for j in range(k):
        i1, i2 = j, k + j
        X[np.ix_([i1, i2], [i1, i2])] = np.array([[1, 1], [1j, -1j]]) / np.sqrt(2)
    # the pair (i1, i2) maps to the real coordinates (i1, i2): A_r = X diag(z) X^-1
    Xi = np.linalg.inv(X)
    A = (X @ np.diag(sys.poles) @ Xi).real
    B = (X @ sys.B).real
    C = (sys.C @ Xi).real
    return LTI(A, B, C, sys.D.real, sys.dt)
