"""Property-based tests (hypothesis) of the balanced-truncation theorem and of norm/HSV relations.

Systems are drawn as a structure + seed (:mod:`strategies`), never as raw arrays.  Numerical
tolerances use two scales, both measured (``benchmarks``-style calibration over 900 random systems,
both methods, every admissible order; worst cases quoted next to each constant):

* ``scale = sqrt(||P||_2 ||Q||_2)`` bounds every Hankel singular value and is the size of the
  rounding errors of everything computed from the Gramians: solving the Lyapunov equations,
  factoring, projecting.  The truncation error of the computed model exceeded ``2 sum(hsv[r:])`` by
  at most ``62 N eps scale`` (a defective dense ``A``); we allow ``1e3 N eps scale``.
* Hankel singular values of *dense* systems come from eigenvalue-clipped Gramian factors, whose
  error in the (near-)null directions of ``P`` or ``Q`` is ``sqrt(eps ||P||)``, so a computed value
  ``sigma`` carries an absolute error up to ``~ N eps scale^2 / sigma`` (first-order perturbation of
  ``eig(PQ)`` by ``eps N ||P|| ||Q||``), i.e. up to ``sqrt(eps) scale ~ 1.5e-8 scale`` for values
  that are truly zero (``test_dense_hsv_noise_floor`` pins that as a known defect).  Orders are
  therefore tested only where ``sigma_{r+1} > 1e-6 scale`` for dense systems (diagonal ones keep
  relative accuracy down to the smallest value, so there the reference's ``1e-9 sigma_1`` is used).

The H-infinity norm is certified: ``hinf_norm`` returns a value *attained* by ``sigma_max(G(jw))``
with ``||G||_inf <= g (1 + 1e-10)``.  Hence ``g`` never over-estimates (the upper checks need no
allowance for it) and under-estimates by at most ``1e-10`` relative (the lower checks allow ``1e-8``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st
from reliability_fuzz import _estimated_rounding
from strategies import SystemSpec, build, direct_sum, pole_separation, poles_of, system_specs

import mor
from mor import LTI, DiagonalLTI
from mor.errors import (
    AccuracyWarning,
    ArgumentTypeError,
    InvalidArgumentError,
    NonFiniteError,
    OrderError,
    RankWarning,
    UnstableSystemError,
)

EPS = np.finfo(float).eps
# These properties carry their own (absolute) rounding allowances; hinf_norm's AccuracyWarning for
# rounding-level norms (non-minimal systems, G - G_r of close reductions) is tested in test_reliability*.
pytestmark = pytest.mark.filterwarnings("ignore::mor.errors.AccuracyWarning")
HINF_RTOL = 1e-8  # hinf_norm is certified to 1e-10 relative; 1e-8 also absorbs the HSV relative error
UPPER_ABS = 1e3  # * N eps scale; measured worst 62
LOWER_ABS = 1e3  # * N eps scale^2 / sigma; measured worst: strictly satisfied (margin >= 1e-4 sigma)
GAP = 1 + 1e-6  # sigma_r > GAP sigma_{r+1}: the truncation is well defined (reference.md section 5)
DENSE_FLOOR = 1e-6  # dense: only orders with sigma_{r+1} > DENSE_FLOOR * scale (noise ~ 1.5e-8 scale)
DIAG_FLOOR = 1e-9  # diagonal: sigma_{r+1} > DIAG_FLOOR * sigma_1 (reference.md section 5)

FAST = settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)


# ------------------------------------------------------------------------------------------ helpers
def flat(x, sys):
    """View a per-member quantity as ``(members, ...)``."""
    shape = sys.batch_shape if isinstance(sys, DiagonalLTI) else ()
    x = np.asarray(x)
    return x.reshape((int(np.prod(shape, dtype=int)),) + x.shape[len(shape) :])


def member(sys, i):
    """Member ``i`` (flat index) of a possibly batched system (the system itself when unbatched)."""
    if isinstance(sys, DiagonalLTI) and sys.batch_shape:
        return sys[np.unravel_index(i, sys.batch_shape)]
    return sys


def gramian_scale(sys) -> np.ndarray:
    """``sqrt(||P||_2 ||Q||_2)`` per member, shape ``(members,)``."""
    P, Q = mor.gramians(sys)
    nP = np.linalg.norm(flat(P, sys), 2, axis=(-2, -1))
    nQ = np.linalg.norm(flat(Q, sys), 2, axis=(-2, -1))
    return np.sqrt(nP * nQ)


def hsv_error(sys, hsv, scale):
    """Absolute error model of computed Hankel singular values (see the module docstring)."""
    N = max(sys.n, 1)
    if isinstance(sys, DiagonalLTI):
        return 1e-9 * hsv + 1e3 * N * EPS * hsv[..., :1]
    first_order = LOWER_ABS * N * EPS * scale[:, None] ** 2 / np.maximum(hsv, 1e-300)
    return np.minimum(first_order, np.sqrt(LOWER_ABS * N * EPS) * scale[:, None])


def kappa(sys) -> float:
    """Sensitivity of the Gramians to a relative perturbation ``eps`` of the realisation: ``||A|| / sep``.

    Two realisations of one system (a similarity transform, the bilinear map) differ by rounding of
    their matrices, which moves the Hankel singular values by up to ``eps kappa`` relative, with
    ``sep`` the separation of the Lyapunov operator: ``2 min|Re lambda|`` (continuous) or
    ``1 - max|z|^2`` (discrete) for normal ``A``.
    """
    poles = np.ravel(poles_of(sys))
    if poles.size == 0:
        return 1.0
    if sys.dt is None:
        return float(np.abs(poles).max() / (2 * np.abs(poles.real).min()))
    return float(1.0 / (1.0 - np.abs(poles).max() ** 2))


def admissible_orders(sys, hsv, scale, spec):
    """Orders ``1 <= r < n`` with a gap and ``sigma_{r+1}`` above the accuracy floor, per member mask."""
    out = []
    for r in range(1, sys.n):
        ok = (hsv[:, r - 1] > GAP * hsv[:, r]) & (hsv[:, r] > DIAG_FLOOR * hsv[:, 0])
        if isinstance(sys, LTI):
            ok &= hsv[:, r] > DENSE_FLOOR * scale
        if spec.duplicate:  # truncate between the two copies of a repeated value only
            ok &= np.full_like(ok, r % 2 == 0)
        if ok.any():
            out.append((r, ok))
    return out


def pick(orders, seed):
    """At most three orders: the first, the last and one in between (chosen from the seed)."""
    if len(orders) <= 3:
        return orders
    mid = 1 + np.random.default_rng(seed).integers(0, len(orders) - 2)
    return [orders[0], orders[int(mid)], orders[-1]]


def well_separated(sys, spec) -> bool:
    """Poles of each diagonal member apart by more than 1e-6 max|lambda| (reference.md section 5).

    Duplicated subsystems repeat their poles on purpose (with disjoint inputs and outputs).
    """
    if isinstance(sys, LTI):
        return True
    poles = flat(sys.poles, sys)
    if spec.duplicate:
        poles = poles[:, : sys.n // 2]
    return all(pole_separation(p) > 1e-6 for p in poles)


S4D = [
    SystemSpec(kind="diag", family="s4d_lin", n=16, m=1, p=1, batch=3, seed=1),
    SystemSpec(kind="diag", family="s4d_lin", n=16, m=1, p=1, batch=2, discrete=True, seed=2),
    SystemSpec(kind="diag", family="s4d_inv", n=16, m=1, p=2, batch=3, seed=3),
    SystemSpec(kind="diag", family="s4d_inv", n=12, m=1, p=1, discrete=True, feedthrough=True, seed=4),
    SystemSpec(kind="dense", family="s4d_lin", n=8, m=1, p=1, complex_=True, seed=5),
    SystemSpec(kind="dense", family="s4d_inv", n=8, m=2, p=1, complex_=False, discrete=True, seed=6),
    SystemSpec(kind="diag", family="near_unstable", n=6, m=2, p=2, batch=2, duplicate=True, seed=7),
    SystemSpec(kind="dense", family="jordan", n=5, m=1, p=2, complex_=False, nonminimal=True, seed=8),
]


# ----------------------------------------------------------------------------- the BT theorem
@settings(FAST, max_examples=120)
@given(spec=system_specs(min_n=2, max_n=8), method=st.sampled_from(["sr", "bfsr"]))
@example(spec=S4D[0], method="sr")
@example(spec=S4D[1], method="bfsr")
@example(spec=S4D[2], method="bfsr")
@example(spec=S4D[3], method="sr")
@example(spec=S4D[4], method="sr")
@example(spec=S4D[5], method="bfsr")
@example(spec=S4D[6], method="sr")
@example(spec=S4D[7], method="bfsr")
@example(spec=SystemSpec(kind="dense", family="wide", n=6, complex_=False, seed=1), method="sr")
def test_balanced_truncation_error_bounds(spec, method):
    """``sigma_{r+1} <= ||G - G_r||_inf <= 2 sum(sigma[r:])`` (and the distinct-value bound for repeats)."""
    sys = build(spec)
    assume(well_separated(sys, spec))
    hsv = flat(mor.hankel_singular_values(sys), sys)
    scale = gramian_scale(sys)
    N = sys.n
    delta = hsv_error(sys, hsv, scale)
    orders = pick(admissible_orders(sys, hsv, scale, spec), spec.seed)
    event(f"{len(orders)} admissible order(s) tested")
    if not orders:
        event(f"no order: {spec.kind} {spec.family} n={spec.n} dup={spec.duplicate} nonmin={spec.nonminimal}")
    if spec.duplicate:  # Hankel singular values of one copy: sigma(G1 (+) G1) = sigma(G1) twice
        half = flat(mor.hankel_singular_values(first_copy(sys)), sys)
    for r, ok in orders:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RankWarning)  # batch members of lower rank get padded
            res = mor.balanced_truncation(sys, r, method=method)
        assert res.order == r and res.reduced.n == r
        assert type(res.reduced) is type(sys) and res.reduced.dt == sys.dt
        tail = 2 * hsv[:, r:].sum(axis=-1)
        own = 2 * flat(res.hsv, sys)[:, r:].sum(axis=-1)  # the bound is the formula on its own values ...
        np.testing.assert_allclose(flat(res.error_bound, sys), own, rtol=1e-12, atol=0)
        # ... which agree with hankel_singular_values' (a separate SVD, values only) to both one's errors
        assert np.all(np.abs(own - tail) <= 1e-12 * tail + 4 * delta[:, r:].sum(axis=-1))
        idx = np.flatnonzero(ok)
        for i in idx:
            Gi, Gri = member(sys, i), member(res.reduced, i)
            err = mor.hinf_norm(Gi - Gri)
            # the computed tail may undershoot the exact one by the HSV errors (dense: delta)
            upper = (tail[i] + 2 * delta[i, r:].sum()) * (1 + HINF_RTOL) + UPPER_ABS * N * EPS * scale[i]
            lower = hsv[i, r] * (1 - HINF_RTOL) - delta[i, r]
            msg = f"{spec}, r={r}, member {i}: hsv={hsv[i]}, err={err:.17g}"
            assert err <= upper, "upper bound violated: " + msg
            assert err >= lower, "lower bound violated: " + msg
            if spec.duplicate:  # Glover: twice the sum of the *distinct* tail values
                distinct = 2 * half[i, r // 2 :].sum()
                assert err <= distinct * (1 + HINF_RTOL) + UPPER_ABS * N * EPS * scale[i], msg


def first_copy(sys):
    """The subsystem ``G1`` of a direct sum ``diag(G1, G1)`` built by :func:`strategies.build`."""
    k, m, p = sys.n // 2, sys.m // 2, sys.p // 2
    if isinstance(sys, DiagonalLTI):
        if sys.dt is None:
            return DiagonalLTI(sys.poles[..., :k], sys.B[..., :k, :m], sys.C[..., :p, :k], sys.D[..., :p, :m])
        return DiagonalLTI.from_log_poles(
            sys.log_poles[..., :k], sys.B[..., :k, :m], sys.C[..., :p, :k], sys.D[..., :p, :m], sys.dt
        )
    return LTI(sys.A[:k, :k], sys.B[:k, :m], sys.C[:p, :k], sys.D[:p, :m], sys.dt)


@FAST
@given(spec=system_specs(max_n=6, allow_duplicate=False))
def test_repeated_hankel_singular_values_of_direct_sum(spec):
    """``sigma(diag(G, G))`` is ``sigma(G)`` with every value twice; ``diag(G, G')`` the union."""
    G = build(spec)
    both = direct_sum(G, G)
    one = flat(mor.hankel_singular_values(G), G)
    two = flat(mor.hankel_singular_values(both), both)
    expect = np.repeat(one, 2, axis=-1)
    scale = gramian_scale(G)
    # two independent computations, each within its own error model: their difference within the sum;
    # dense Gramians also carry the relative error n eps kappa of the Lyapunov solve (kappa = ||A|| / sep:
    # 'wide' pole families reach kappa ~ 1e5 and first-order HSV errors ~ 1e-11 relative)
    tol = hsv_error(G, one, scale) + hsv_error(both, one, scale)
    if not isinstance(G, DiagonalLTI):
        tol = tol + 10 * max(G.n, 1) * EPS * kappa(G) * one
    assert np.all(np.abs(two - expect) <= np.repeat(tol, 2, axis=-1)), (spec, one, two)


# ------------------------------------------------------------------------------- invariances
@FAST
@given(spec=system_specs(max_n=7, allow_duplicate=False), data=st.data())
def test_hsv_invariant_under_similarity(spec, data):
    """``(T^-1 A T, T^-1 B, C T)`` has the same Hankel singular values (``cond(T) <= e^2``)."""
    G = member(build(spec), 0)
    A = np.diag(G.poles) if isinstance(G, DiagonalLTI) else G.A
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="T seed"))
    from strategies import _similarity

    T = _similarity(rng, G.n, np.iscomplexobj(A))
    Ti = np.linalg.inv(T)
    if isinstance(G, DiagonalLTI) and G.dt is not None:
        A = np.diag(G.poles)
    H = LTI(Ti @ A @ T, Ti @ G.B, G.C @ T, G.D, G.dt)
    h1 = mor.hankel_singular_values(G)
    h2 = mor.hankel_singular_values(H)
    # the transformed system is dense: its error model, with its own (<= cond(T)^2 larger) scale
    scale = max(gramian_scale(G)[0], gramian_scale(H)[0])
    tol = hsv_error(H, h1[None], np.array([scale]))[0] * kappa(H) * np.linalg.cond(T) ** 2
    assert np.all(np.abs(h1 - h2) <= tol), (spec, h1, h2, np.abs(h1 - h2) / tol)


@FAST
@given(spec=system_specs(max_n=7, discrete=False, allow_duplicate=False), dt=st.sampled_from([0.01, 0.3, 2.0]))
def test_hsv_invariant_under_bilinear_discretisation(spec, dt):
    """The bilinear (Tustin) map preserves the Hankel singular values (and the H-inf norm)."""
    G = member(build(spec), 0)
    dense = G.to_dense() if isinstance(G, DiagonalLTI) else G
    Gd = mor.discretize(dense, dt, method="bilinear")
    h1, h2 = mor.hankel_singular_values(G), mor.hankel_singular_values(Gd)
    scale = max(gramian_scale(dense)[0], gramian_scale(Gd)[0])
    tol = hsv_error(Gd, h1[None], np.array([scale]))[0] * max(kappa(G), kappa(Gd))
    assert np.all(np.abs(h1 - h2) <= tol), (spec, h1, h2, np.abs(h1 - h2) / tol)
    n1, n2 = mor.hinf_norm(G), mor.hinf_norm(Gd)
    assert n2 == pytest.approx(n1, rel=2 * HINF_RTOL, abs=1e3 * G.n * EPS * scale * max(kappa(G), kappa(Gd)))


@FAST
@given(spec=system_specs(kinds=("diag",), max_n=8).filter(lambda s: s.batch >= 2))
def test_batch_equals_members(spec):
    """Hankel singular values, H-inf and H2 norms of a batch equal the per-member results."""
    sys = build(spec)
    hsv = flat(mor.hankel_singular_values(sys), sys)
    hinf = flat(mor.hinf_norm(sys), sys)
    h2 = flat(mor.h2_norm(sys), sys)
    for i in range(hsv.shape[0]):
        Gi = member(sys, i)
        hi = mor.hankel_singular_values(Gi)
        np.testing.assert_allclose(hsv[i], hi, rtol=1e-12, atol=1e-14 * hi[0], err_msg=str(spec))
        assert hinf[i] == pytest.approx(mor.hinf_norm(Gi), rel=2e-10)  # both certified to 1e-10
        assert h2[i] == pytest.approx(mor.h2_norm(Gi), rel=1e-12)


# ------------------------------------------------------------------------------ norm relations
@FAST
@given(spec=system_specs(max_n=8), data=st.data())
def test_norm_relations(spec, data):
    """``sigma_1 <= ||G||_inf``; ``||G - D||_inf <= 2 sum(sigma)``; ``||G||_inf >= sigma_max(G(jw))``;
    discrete: ``||G||_2 <= sqrt(min(m, p)) ||G||_inf`` (``=`` for SISO: ``||G||_2 <= ||G||_inf``) and
    ``sum_{k<L} ||h_k||_F^2 <= ||G||_2^2``; continuous with ``D != 0``: ``||G||_2 = inf``."""
    sys = build(spec)
    hsv = flat(mor.hankel_singular_values(sys), sys)
    scale = gramian_scale(sys)
    hinf = flat(mor.hinf_norm(sys), sys)
    delta = hsv_error(sys, hsv, scale)
    N = sys.n
    assert np.all(hsv[:, 0] - delta[:, 0] <= hinf * (1 + HINF_RTOL)), spec
    D = flat(sys.D, sys)
    strictly_proper = flat(sys.D, sys).reshape(D.shape[0], -1)
    no_d = ~np.any(strictly_proper, axis=-1)
    bound = 2 * hsv.sum(axis=-1) * (1 + HINF_RTOL) + UPPER_ABS * N * EPS * scale
    assert np.all(hinf[no_d] <= bound[no_d]), spec
    # the norm is a supremum: no frequency response exceeds it (random points and the resonances)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="frequency seed"))
    poles = flat(poles_of(sys), sys)
    for i in range(hsv.shape[0]):
        Gi = member(sys, i)
        if sys.dt is None:
            w = np.concatenate([poles[i].imag, rng.standard_normal(16) * 10 ** rng.uniform(-2, 2, 16)])
        else:
            w = np.concatenate([np.angle(poles[i]), rng.uniform(-np.pi, np.pi, 16)]) / sys.dt
        G = mor.frequency_response(Gi, w)
        smax = np.linalg.norm(G, 2, axis=(-2, -1)).max()
        # evaluating G (here and inside hinf_norm) errs by ~ N eps ||C|| ||B|| ||(sI - A)^-1||
        A = np.diag(Gi.poles) if isinstance(Gi, DiagonalLTI) else Gi.A
        pts = 1j * w if sys.dt is None else np.exp(1j * w * sys.dt)
        resolvent = max(np.linalg.norm(np.linalg.inv(s * np.eye(N) - A), 2) for s in pts)
        noise = 1e3 * N * EPS * np.linalg.norm(Gi.B, 2) * np.linalg.norm(Gi.C, 2) * resolvent
        assert smax <= hinf[i] * (1 + 1e-9) + noise, (spec, i, smax, hinf[i])
    h2 = flat(mor.h2_norm(sys), sys)
    if sys.dt is None:
        assert np.all(np.isinf(h2) == ~no_d), spec
    else:
        assert np.all(h2 <= np.sqrt(min(sys.m, sys.p)) * hinf * (1 + HINF_RTOL)), (spec, h2, hinf)
        h = flat(mor.impulse_response(sys, 200), sys)
        energy = np.sum(np.abs(h) ** 2, axis=(-3, -2, -1))
        assert np.all(energy <= h2**2 * (1 + 1e-9) + 1e3 * N * EPS * scale**2), (spec, energy, h2**2)


# ---------------------------------------------------------------------------- invalid inputs
def destabilise(sys, how: str):
    """Move one pole (``"unstable"``) or the rightmost pole (``"marginal"``) out of/onto the boundary."""
    if isinstance(sys, DiagonalLTI):
        if sys.dt is None:
            lam = sys.poles.copy()
            lam[..., 0] = (abs(lam[..., 0].real) if how == "unstable" else 0.0) + 1j * lam[..., 0].imag
            return DiagonalLTI(lam, sys.B, sys.C, sys.D)
        mu = sys.log_poles.copy()
        mu[..., 0] = (abs(mu[..., 0].real) if how == "unstable" else 0.0) + 1j * mu[..., 0].imag
        return DiagonalLTI.from_log_poles(mu, sys.B, sys.C, sys.D, sys.dt)
    if how == "marginal":  # an exact boundary pole: 0 (continuous) or 1 (discrete), decoupled
        edge = 0.0 if sys.dt is None else 1.0
        n = sys.n
        A = np.zeros((n + 1, n + 1), sys.dtype)
        A[0, 0], A[1:, 1:] = edge, sys.A
        B = np.concatenate([np.ones((1, sys.m)), sys.B])
        C = np.concatenate([np.ones((sys.p, 1)), sys.C], axis=1)
        return LTI(A, B, C, sys.D, sys.dt)
    ev = sys.poles()
    if sys.dt is None:
        return LTI(sys.A + (-ev.real.max() + 0.5 * np.abs(ev).max()) * np.eye(sys.n), sys.B, sys.C, sys.D)
    return LTI(sys.A * (1.5 / np.abs(ev).max()), sys.B, sys.C, sys.D, sys.dt)


@settings(max_examples=40, deadline=None)
@given(spec=system_specs(max_n=6), how=st.sampled_from(["unstable", "marginal"]))
def test_unstable_systems_raise(spec, how):
    """Every infinite-horizon routine raises :class:`UnstableSystemError` naming the poles; balanced
    truncation of a dense system keeps the unstable part instead (tests/core/test_unstable.py)."""
    sys = destabilise(build(spec), how)
    routines = [mor.hankel_singular_values, mor.gramians, mor.h2_norm, mor.hinf_norm]
    if isinstance(sys, DiagonalLTI):
        routines.append(lambda s: mor.balanced_truncation(s, 1))
    for f in routines:
        with pytest.raises(UnstableSystemError) as info:
            f(sys)
        assert info.value.poles is not None and len(info.value.poles) >= 1
    if isinstance(sys, LTI):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # hostile specs may be ill-conditioned (AccuracyWarning) or low-rank
            res = mor.balanced_truncation(sys, sys.n)
        assert res.n_unstable >= 1 and np.all(np.isinf(res.hsv[: res.n_unstable]))


@settings(max_examples=30, deadline=None)
@given(
    spec=system_specs(max_n=5, allow_duplicate=False),
    which=st.sampled_from(["A", "B", "C", "D"]),
    bad=st.sampled_from([np.nan, np.inf, -np.inf]),
    data=st.data(),
)
def test_non_finite_entries_raise(spec, which, bad, data):
    """A NaN or infinite entry anywhere is refused on construction with :class:`NonFiniteError`."""
    sys = member(build(spec), 0)
    if isinstance(sys, DiagonalLTI):
        parts = {"A": sys.poles, "B": sys.B, "C": sys.C, "D": sys.D}
    else:
        parts = {"A": sys.A, "B": sys.B, "C": sys.C, "D": sys.D}
    arr = parts[which].copy()
    flat_idx = data.draw(st.integers(0, arr.size - 1), label="entry")
    arr.flat[flat_idx] = bad
    parts[which] = arr
    with pytest.raises(NonFiniteError):
        if isinstance(sys, DiagonalLTI):
            DiagonalLTI(parts["A"], parts["B"], parts["C"], parts["D"], sys.dt)
        else:
            LTI(parts["A"], parts["B"], parts["C"], parts["D"], sys.dt)


@settings(max_examples=30, deadline=None)
@given(spec=system_specs(max_n=5), order=st.sampled_from(["zero", "negative", "above", "float", "bool", "str"]))
def test_bad_orders_raise(spec, order):
    """Orders outside ``[1, n]`` raise :class:`OrderError`, orders that are not integers
    :class:`ArgumentTypeError`; a bad ``tol`` or both ``order`` and ``tol`` :class:`InvalidArgumentError`."""
    sys = build(spec)
    value = {"zero": 0, "negative": -1, "above": sys.n + 1, "float": 1.5, "bool": True, "str": "2"}[order]
    with pytest.raises(OrderError if order in ("zero", "negative", "above") else ArgumentTypeError):
        mor.balanced_truncation(sys, value)
    with pytest.raises(InvalidArgumentError):
        mor.balanced_truncation(sys, tol=-1.0)
    with pytest.raises(InvalidArgumentError):
        mor.balanced_truncation(sys, tol=float("nan"))
    with pytest.raises(InvalidArgumentError):
        mor.balanced_truncation(sys, 1, tol=1.0)


# ------------------------------------------------------------------------------ known defects
def _transfer_function_is_constant(seed: int, duplicate: bool = False) -> LTI:
    """Real, stable, n = 4: the first mode pair uncontrollable, the second unobservable: ``G == D``."""
    spec = SystemSpec(
        kind="dense", family="generic", n=4, m=1, p=3, complex_=False, nonminimal=True, duplicate=duplicate, seed=seed
    )
    return build(spec)


def test_dense_hsv_noise_floor():
    # D1 (fixed): eigenvalue-clipped dense Gramian factors once kept rounding-level eigenvalues as
    # sqrt(eps)-sized columns, so a system with G == D got Hankel singular values ~1e-8 instead of ~1e-16.
    sys = _transfer_function_is_constant(207819684)
    G_minus_D = sys - LTI(np.zeros((0, 0)), np.zeros((0, 1)), np.zeros((3, 0)), sys.D)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g, w = mor.hinf_norm(G_minus_D, return_peak=True)
    assert g <= 1e2 * EPS * gramian_scale(sys)[0]  # G - D is pure rounding
    # a warning exactly where the documented estimate demands it (rounding above 1e-4 of the norm at
    # the peak); whether the rounding leaves G - D exactly 0 (no peak to judge) depends on the CPU
    demanded = g > 0 and np.isfinite(w) and _estimated_rounding(G_minus_D, w) > 1e-4 * g
    said = [str(x.message) for x in caught if issubclass(x.category, AccuracyWarning)]
    assert bool(said) == demanded and all("small difference" in m for m in said), said
    hsv = mor.hankel_singular_values(sys)
    scale = gramian_scale(sys)[0]
    assert hsv[0] <= 1e3 * sys.n * EPS * scale, hsv / scale


def test_dense_truncation_of_noise_is_stable_or_warns():
    # D2 (fixed): truncating rounding noise could return unstable poles silently; now it warns.
    # ~20% of (seed, order, method) give an unstable model here; the exact cases depend on rounding
    # (they moved between runs), so the test sweeps 10 seeds: every one should be stable or warn
    silent_unstable = []
    for seed in range(10):
        sys = _transfer_function_is_constant(seed, duplicate=True)  # n = 8, G == D
        for r in range(1, sys.n):
            for method in ("sr", "bfsr"):
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    res = mor.balanced_truncation(sys, r, method=method)
                warned = any(issubclass(w.category, RankWarning) for w in caught)
                if not warned and np.any(res.reduced.poles().real >= 0):
                    silent_unstable.append((seed, r, method))
    assert not silent_unstable, silent_unstable
