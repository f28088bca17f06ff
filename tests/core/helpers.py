"""Random test systems and plain references shared by the core tests."""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from mor import LTI, DiagonalLTI


def random_dense(n, m=1, p=1, *, complex_=False, discrete=False, seed=0, radius=0.9, d=False) -> LTI:
    """A random asymptotically stable dense system (eigenvalues well inside the region)."""
    rng = np.random.default_rng(seed)

    def draw(*shape):
        x = rng.standard_normal(shape)
        return x + 1j * rng.standard_normal(shape) if complex_ else x

    A = draw(n, n) / np.sqrt(n)
    ev = np.linalg.eigvals(A)
    if discrete:
        A = A * (radius / max(np.abs(ev).max(), 1e-12))
    else:
        A = A - (ev.real.max() + 0.1 + rng.uniform(0, 0.5)) * np.eye(n)
    D = draw(p, m) if d else None
    return LTI(A, draw(n, m), draw(p, n), D, 0.1 if discrete else None)


def random_diagonal(batch, n, m=1, p=1, *, discrete=False, seed=0, spread=(0.05, 2.0), freq=20.0):
    """A random batch of stable diagonal systems (continuous poles, optionally ZOH-discretised)."""
    rng = np.random.default_rng(seed)
    shape = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
    lam = -rng.uniform(*spread, (*shape, n)) + 1j * rng.uniform(-freq, freq, (*shape, n))
    B = rng.standard_normal((*shape, n, m)) + 1j * rng.standard_normal((*shape, n, m))
    C = rng.standard_normal((*shape, p, n)) + 1j * rng.standard_normal((*shape, p, n))
    if discrete:
        dt = 0.05
        return DiagonalLTI.from_log_poles(lam * dt, B, C, None, dt)
    return DiagonalLTI(lam, B, C)


def freq_grid(sys, k=2001, wmax=None):
    """A frequency grid covering both signs (complex systems are not symmetric)."""
    if sys.dt is not None:
        return np.linspace(-np.pi, np.pi, k) / sys.dt
    if wmax is None:
        poles = sys.poles if isinstance(sys, DiagonalLTI) else sys.poles()
        wmax = 2 * (np.abs(poles).max() + 1)
    return np.concatenate([-np.geomspace(wmax, 1e-3, k // 2), [0.0], np.geomspace(1e-3, wmax, k // 2)])


def reference_gramians(A, B, C, dt=None):
    """Plain dense Gramians by scipy's Bartels-Stewart solvers: ``(P, Q)``, continuous or discrete."""
    if dt is None:
        P = sla.solve_continuous_lyapunov(A, -B @ B.conj().T)
        Q = sla.solve_continuous_lyapunov(A.conj().T, -C.conj().T @ C)
    else:
        P = sla.solve_discrete_lyapunov(A, B @ B.conj().T)
        Q = sla.solve_discrete_lyapunov(A.conj().T, C.conj().T @ C)
    return P, Q
