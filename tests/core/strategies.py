"""Hypothesis strategies for random stable systems: draw a *shape and a seed*, build with numpy.

Drawing raw float arrays through hypothesis wastes its budget on degenerate matrices (and shrinks
towards zeros); instead a :class:`SystemSpec` names the structure (dense or batched diagonal, real or
complex, continuous or discrete, the pole family, non-minimal, direct sum of two identical copies,
feedthrough) and a seed, and :func:`build` turns it into a system with ``numpy.random``.  Shrinking
then acts on the structure (smaller ``n``, simpler pole family), which gives readable
counterexamples, and ``@example(spec=SystemSpec(...))`` pins named systems (S4D-Lin, S4D-Inv).

Pole families (continuous ``lambda``; discrete systems use ``z = exp(lambda dt)``, diagonal ones keep
``mu = lambda dt`` exactly):

``generic``        ``Re lambda`` in ``-[0.05, 2]``, ``Im lambda`` in ``[-5, 5]``
``near_unstable``  ``Re lambda = -1e-3 |lambda|`` for half of the poles (``|z| ~ 1 - 1e-3 |lambda| dt``)
``clustered``      all poles within ``1e-3`` (relative) of two centres
``wide``           ``|lambda|`` spread over ``1e-3 .. 1e3`` (graded Gramians)
``s4d_lin``        ``-1/2 + i pi k``                    (S4D-Lin initialisation)
``s4d_inv``        ``-1/2 + i (N/pi)(N/(2k+1) - 1)``    (S4D-Inv initialisation)
``jordan``         dense only: a defective ``A`` (one Jordan block per distinct pole pair)
``random_matrix``  dense only: a shifted Gaussian matrix (non-normal, no modal structure)
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import strategies as st

from mor import LTI, DiagonalLTI

DIAG_FAMILIES = ("generic", "near_unstable", "clustered", "wide", "s4d_lin", "s4d_inv")
DENSE_FAMILIES = DIAG_FAMILIES + ("jordan", "random_matrix")
DT = 0.1


@dataclasses.dataclass(frozen=True)
class SystemSpec:
    """Structure and seed of a random stable system; :func:`build` makes it."""

    kind: str = "diag"  # "dense" | "diag"
    family: str = "generic"
    n: int = 4  # order of one copy (the direct sum has 2 n)
    m: int = 1
    p: int = 1
    complex_: bool = True  # dense only (diagonal systems are always complex)
    discrete: bool = False
    nonminimal: bool = False  # some modes uncontrollable / unobservable, an unused input / output
    duplicate: bool = False  # direct sum diag(G1, G1): every Hankel singular value repeated
    batch: int = 0  # diagonal only: 0 = unbatched, else a batch of that many members
    feedthrough: bool = False
    seed: int = 0

    @property
    def order(self) -> int:
        return 2 * self.n if self.duplicate else self.n


def _continuous_poles(family: str, n: int, rng: np.random.Generator, real: bool) -> np.ndarray:
    """``n`` stable continuous poles; for ``real`` systems closed under conjugation (pairs + reals)."""
    k = (n + 1) // 2 if real else n  # number of "upper" poles to draw
    idx = np.arange(k)
    if family == "generic":
        lam = -rng.uniform(0.05, 2.0, k) + 1j * rng.uniform(-5, 5, k)
    elif family == "near_unstable":
        mag = rng.uniform(0.5, 5.0, k)
        ang = rng.uniform(0, np.pi, k)
        lam = mag * (-np.sin(ang) * 0.5 - 0.05 + 1j * np.cos(ang))
        light = rng.random(k) < 0.5
        light[0] = True
        lam[light] = np.abs(lam[light]) * (-1e-3 + 1j * np.sign(rng.standard_normal(light.sum())))
    elif family == "clustered":
        centres = np.array([-0.5 + 2j, -1.0 - 1j])[rng.integers(0, 2, k)]
        lam = centres * (1 + 1e-3 * (rng.uniform(-1, 1, k) + 1j * rng.uniform(-1, 1, k)))
    elif family == "wide":
        mag = 10.0 ** rng.uniform(-3, 3, k)
        ang = rng.uniform(0.05, np.pi - 0.05, k)
        lam = mag * (-np.sin(ang) + 1j * np.cos(ang))
    elif family == "s4d_lin":
        lam = -0.5 + 1j * np.pi * idx
    elif family == "s4d_inv":
        N = 2 * k
        lam = -0.5 + 1j * (N / np.pi) * (N / (2 * idx + 1) - 1)
    else:
        raise ValueError(family)
    if not real:
        return lam
    # real system: conjugate pairs; when n is odd the last pole is real
    pairs = lam[: n // 2]
    pairs = pairs.real + 1j * np.where(np.abs(pairs.imag) < 1e-3 * np.abs(pairs), 1e-3 * np.abs(pairs), pairs.imag)
    out = np.concatenate([pairs, np.conj(pairs)])
    if n % 2:
        out = np.concatenate([out, [-np.abs(lam[-1])]])
    return out


def _modal_real(poles: np.ndarray, discrete: bool) -> np.ndarray:
    """Real block-diagonal matrix with the given (conjugate-closed, pairs first) eigenvalues."""
    n = poles.size
    A = np.zeros((n, n))
    half = n // 2
    vals = np.exp(poles * DT) if discrete else poles
    for i in range(half):
        a, b = vals[i].real, vals[i].imag
        A[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [[a, b], [-b, a]]
    if n % 2:
        A[-1, -1] = vals[-1].real
    return A


def pole_separation(poles: np.ndarray) -> float:
    """Smallest distance between two poles, relative to the largest modulus (inf for one pole)."""
    poles = np.ravel(poles)
    if poles.size < 2:
        return np.inf
    d = np.abs(poles[:, None] - poles[None, :])
    d[np.diag_indices(poles.size)] = np.inf
    return float(d.min() / max(np.abs(poles).max(), 1e-300))


def _similarity(rng: np.random.Generator, n: int, complex_: bool) -> np.ndarray:
    """A random well-conditioned ``T`` (cond(T) <= e^2 ~ 7.4): ``Q1 diag(exp(u)) Q2``, ``u in [-1, 1]``."""

    def orth():
        X = rng.standard_normal((n, n)) + (1j * rng.standard_normal((n, n)) if complex_ else 0)
        return np.linalg.qr(X)[0]

    return orth() @ np.diag(np.exp(rng.uniform(-1, 1, n))) @ orth()


def _draw(rng, shape, complex_):
    x = rng.standard_normal(shape)
    return x + 1j * rng.standard_normal(shape) if complex_ else x


def _dense_one(spec: SystemSpec, rng: np.random.Generator) -> tuple[LTI, np.ndarray]:
    n, m, p, cx = spec.n, spec.m, spec.p, spec.complex_
    dt = DT if spec.discrete else None
    if spec.family == "random_matrix":
        A = _draw(rng, (n, n), cx) / np.sqrt(n)
        ev = np.linalg.eigvals(A)
        if spec.discrete:
            A = A * (rng.uniform(0.3, 0.99) / max(np.abs(ev).max(), 1e-12))
        else:
            A = A - (ev.real.max() + rng.uniform(0.05, 1.0)) * np.eye(n)
        B, C = _draw(rng, (n, m), cx), _draw(rng, (p, n), cx)
        poles = np.linalg.eigvals(A)
    else:
        if spec.family == "jordan":
            # one Jordan block of size k = min(n, 3) (defective A), the rest generic
            k = min(n, 3)
            a = -rng.uniform(0.1, 1.0) + (1j * rng.uniform(-3, 3) if cx else 0)
            a = np.exp(a * DT) if spec.discrete else a
            J = a * np.eye(k) + np.diag(np.full(k - 1, 0.5 * abs(a)), 1)
            rest = _continuous_poles("generic", n - k, rng, real=not cx) if n > k else np.zeros(0)
            rest_poles = np.exp(rest * DT) if spec.discrete else rest
            R = np.diag(rest_poles) if cx else _modal_real(rest, spec.discrete)
            A0 = np.zeros((n, n), complex if cx else float)
            A0[:k, :k] = J
            A0[k:, k:] = R
            poles = np.concatenate([np.full(k, a), rest_poles])
        else:
            lam = _continuous_poles(spec.family, n, rng, real=not cx)
            poles = np.exp(lam * DT) if spec.discrete else lam
            A0 = np.diag(poles) if cx else _modal_real(lam, spec.discrete)
        B0, C0 = _draw(rng, (n, m), cx), _draw(rng, (p, n), cx)
        if spec.nonminimal and n >= 2:
            # uncontrollable / unobservable modes (modal coordinates; whole real 2x2 blocks)
            blocks = [slice(2 * i, 2 * i + 2) for i in range(n // 2)] if not cx else [slice(i, i + 1) for i in range(n)]
            blocks = blocks or [slice(0, 1)]
            B0[blocks[0], :] = 0
            C0[:, blocks[-1]] = 0
        T = _similarity(rng, n, cx)
        Ti = np.linalg.inv(T)
        A, B, C = T @ A0 @ Ti, T @ B0, C0 @ Ti
    if spec.nonminimal:
        if m > 1:
            B[:, -1] = 0
        if p > 1:
            C[0, :] = 0
    D = _draw(rng, (p, m), cx) if spec.feedthrough else None
    return LTI(A, B, C, D, dt), np.asarray(poles)


def _diag_one(spec: SystemSpec, rng: np.random.Generator, batch: tuple) -> DiagonalLTI:
    n, m, p = spec.n, spec.m, spec.p
    count = int(np.prod(batch, dtype=int))
    lam = np.stack([_continuous_poles(spec.family, n, rng, real=False) for _ in range(count)]).reshape(batch + (n,))
    B = _draw(rng, batch + (n, m), True)
    C = _draw(rng, batch + (p, n), True)
    if spec.family in ("s4d_lin", "s4d_inv"):
        B = np.ones(batch + (n, m), complex)  # the S4D convention: B = 1, C trained (random here)
    if spec.nonminimal and n >= 2:
        B[..., 0, :] = 0  # mode 0 uncontrollable
        C[..., :, -1] = 0  # last mode unobservable
        if m > 1:
            B[..., :, -1] = 0
        if p > 1:
            C[..., 0, :] = 0
    D = _draw(rng, batch + (p, m), True) if spec.feedthrough else None
    if spec.discrete:
        return DiagonalLTI.from_log_poles(lam * DT, B, C, D, DT)
    return DiagonalLTI(lam, B, C, D)


def build(spec: SystemSpec) -> LTI | DiagonalLTI:
    """The system a spec describes (deterministic in ``spec.seed``)."""
    rng = np.random.default_rng(spec.seed)
    if spec.kind == "dense":
        sys, _ = _dense_one(spec, rng)
    else:
        batch = (spec.batch,) if spec.batch else ()
        sys = _diag_one(spec, rng, batch)
    if spec.duplicate:
        sys = direct_sum(sys, sys)
    return sys


def poles_of(sys: LTI | DiagonalLTI) -> np.ndarray:
    return sys.poles if isinstance(sys, DiagonalLTI) else sys.poles()


def direct_sum(G1: LTI | DiagonalLTI, G2: LTI | DiagonalLTI) -> LTI | DiagonalLTI:
    """``diag(G1, G2)``: block-diagonal realisation with separate inputs and outputs."""
    if isinstance(G1, DiagonalLTI):
        z = np.zeros
        shp = G1.batch_shape
        B = np.concatenate(
            [np.concatenate([G1.B, z(shp + (G1.n, G2.m))], -1), np.concatenate([z(shp + (G2.n, G1.m)), G2.B], -1)], -2
        )
        C = np.concatenate(
            [np.concatenate([G1.C, z(shp + (G1.p, G2.n))], -1), np.concatenate([z(shp + (G2.p, G1.n)), G2.C], -1)], -2
        )
        D = np.concatenate(
            [np.concatenate([G1.D, z(shp + (G1.p, G2.m))], -1), np.concatenate([z(shp + (G2.p, G1.m)), G2.D], -1)], -2
        )
        if G1.dt is None:
            return DiagonalLTI(np.concatenate([G1.poles, G2.poles], -1), B, C, D)
        return DiagonalLTI.from_log_poles(np.concatenate([G1.log_poles, G2.log_poles], -1), B, C, D, G1.dt)
    from scipy.linalg import block_diag

    return LTI(block_diag(G1.A, G2.A), block_diag(G1.B, G2.B), block_diag(G1.C, G2.C), block_diag(G1.D, G2.D), G1.dt)


@st.composite
def system_specs(
    draw,
    *,
    kinds=("dense", "diag"),
    max_n: int = 8,
    min_n: int = 1,
    max_io: int = 3,
    discrete=None,
    allow_duplicate: bool = True,
    allow_feedthrough: bool = True,
    max_batch: int = 4,
    siso: bool = False,
) -> SystemSpec:
    """Specs of random asymptotically stable systems (see the module docstring)."""
    kind = draw(st.sampled_from(kinds))
    family = draw(st.sampled_from(DENSE_FAMILIES if kind == "dense" else DIAG_FAMILIES))
    n = draw(st.integers(min_n, max_n))
    m = 1 if siso else draw(st.integers(1, max_io))
    p = 1 if siso else draw(st.integers(1, max_io))
    return SystemSpec(
        kind=kind,
        family=family,
        n=n,
        m=m,
        p=p,
        complex_=True if kind == "diag" else draw(st.booleans()),
        discrete=draw(st.booleans()) if discrete is None else discrete,
        nonminimal=draw(st.booleans()),
        duplicate=(not siso) and allow_duplicate and draw(st.booleans()) and n <= max_n // 2 + 1,
        batch=draw(st.integers(0, max_batch)) if kind == "diag" else 0,
        feedthrough=allow_feedthrough and draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)),
    )
