"""H-infinity norm: analytic values, slycot ab13dd, dense grids, batches, errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import random_dense, random_diagonal

from mor import LTI, DiagonalLTI
from mor.errors import ArgumentTypeError, InvalidArgumentError, SystemTypeError, UnstableSystemError
from mor.norms import hinf_norm


def G_ref(sys, x):
    """Plain reference: sigma_max(C (s I - A)^-1 B + D) by dense solves, x = omega (rad/time)."""
    if isinstance(sys, DiagonalLTI):
        sys = sys.to_dense()
    n = sys.n
    out = []
    for w in np.atleast_1d(x):
        s = np.exp(1j * w * sys.dt) if sys.dt is not None else 1j * w
        G = sys.C @ np.linalg.solve(s * np.eye(n) - sys.A, sys.B) + sys.D
        out.append(np.linalg.svd(G, compute_uv=False)[0])
    return np.array(out)


def modal_second_order(zeta, w0=3.0):
    """w0^2 / (s^2 + 2 zeta w0 s + w0^2) in real modal form (Re(lambda) = -zeta w0 exactly)."""
    wd = w0 * np.sqrt(1 - zeta**2)
    A = [[-zeta * w0, wd], [-wd, -zeta * w0]]
    return LTI(A, [[0.0], [1.0]], [[w0**2 / wd, 0.0]])


# -- analytic values -------------------------------------------------------------------------
@pytest.mark.parametrize("a", [0.01, 1.0, 250.0])
def test_first_order(a):
    g, w = hinf_norm(LTI([[-a]], [[1.0]], [[1.0]]), return_peak=True)
    assert g == pytest.approx(1 / a, rel=1e-13)
    assert w == 0.0


@pytest.mark.parametrize("zeta", [1e-4, 1e-6])
def test_lightly_damped_second_order(zeta):
    w0 = 3.0
    exact = 1 / (2 * zeta * np.sqrt(1 - zeta**2))
    g, w = hinf_norm(modal_second_order(zeta, w0), return_peak=True)
    assert g == pytest.approx(exact, rel=1e-10)
    # the peak is a relative width ~zeta wide: the frequency is right to ~sqrt(tol) of it
    assert abs(w - w0 * np.sqrt(1 - 2 * zeta**2)) < 1e-4 * zeta * w0
    # a frequency sweep misses this peak
    grid = np.geomspace(1e-2, 10 * w0, 2000)
    assert G_ref(modal_second_order(zeta, w0), grid).max() < 0.9 * exact


def test_lightly_damped_companion_form():
    zeta, w0 = 1e-4, 3.0
    sys = LTI([[0.0, 1.0], [-(w0**2), -2 * zeta * w0]], [[0.0], [1.0]], [[w0**2, 0.0]])
    assert hinf_norm(sys) == pytest.approx(1 / (2 * zeta * np.sqrt(1 - zeta**2)), rel=1e-10)


@pytest.mark.parametrize("b", [-2.0, -0.3, 5.0])
def test_complex_first_order_peak_at_imag_pole(b):
    a = 0.7
    pole = -a + 1j * b
    for sys in (LTI([[pole]], [[1.0]], [[1.0]]), DiagonalLTI([pole], [[1.0]], [[1.0]])):
        g, w = hinf_norm(sys, return_peak=True)
        assert g == pytest.approx(1 / a, rel=1e-12)
        assert w == pytest.approx(b, abs=1e-6)


@pytest.mark.parametrize("a", [0.5, -0.5, 0.99, -0.999])
def test_discrete_first_order(a):
    dt = 0.1
    g, w = hinf_norm(LTI([[a]], [[1.0]], [[1.0]], dt=dt), return_peak=True)
    assert g == pytest.approx(1 / (1 - abs(a)), rel=1e-12)
    assert w == pytest.approx(0.0 if a > 0 else np.pi / dt, abs=1e-6)


def test_discrete_complex_pole_peak_at_angle():
    r, phi, dt = 0.95, -1.2, 0.5
    z = r * np.exp(1j * phi)
    g, w = hinf_norm(DiagonalLTI.from_log_poles([np.log(z)], [[1.0]], [[1.0]], dt=dt), return_peak=True)
    assert g == pytest.approx(1 / (1 - r), rel=1e-12)
    assert w * dt == pytest.approx(phi, abs=1e-6)
    assert hinf_norm(LTI([[z]], [[1.0]], [[1.0]], dt=dt)) == pytest.approx(1 / (1 - r), rel=1e-12)


def test_discrete_lightly_damped_resonance():
    # ZOH-discretised lightly damped pair: |z| = exp(-1e-6): peak ~ 1 / (1 - |z|)
    dt, zeta, w0 = 0.01, 1e-5, 2.0
    lam = -zeta * w0 + 1j * w0
    mu = np.array([lam, np.conj(lam)]) * dt
    sys = DiagonalLTI.from_log_poles(mu, [[1.0], [1.0]], [[1.0, 1.0]], dt=dt)
    g, w = hinf_norm(sys, return_peak=True)
    mpmath = pytest.importorskip("mpmath")

    def G_mp(x):  # |sum_i 1 / (exp(j x dt) - exp(mu_i))| in 40 digits
        with mpmath.workdps(40):
            z = mpmath.exp(1j * mpmath.mpf(x) * dt)
            return float(abs(sum(1 / (z - mpmath.exp(mpmath.mpc(m.real, m.imag))) for m in mu)))

    assert g == pytest.approx(G_mp(w), rel=1e-12)
    fine = np.linspace(w0 - 3 * zeta * w0, w0 + 3 * zeta * w0, 61)
    assert g >= max(G_mp(x) for x in fine) * (1 - 1e-10)
    # dense path (poles z from exp(mu): the evaluation there is accurate to ~eps/(1 - |z|))
    assert hinf_norm(sys.to_dense()) == pytest.approx(g, rel=1e-8)


def test_feedthrough_peak_at_infinity():
    # G = 1 - 1/(s + 2): |G(0)| = 1/2, |G(j inf)| = 1
    g, w = hinf_norm(LTI([[-2.0]], [[1.0]], [[-1.0]], [[1.0]]), return_peak=True)
    assert g == pytest.approx(1.0, rel=1e-13)
    assert w == np.inf


def test_feedthrough_adds_to_peak():
    # G = 1 + 1/(s + 1): peak 2 at omega = 0
    assert hinf_norm(LTI([[-1.0]], [[1.0]], [[1.0]], [[1.0]])) == pytest.approx(2.0, rel=1e-13)


def test_zero_and_constant_systems():
    A = -np.eye(3)
    assert hinf_norm(LTI(A, np.zeros((3, 2)), np.ones((1, 3))), return_peak=True) == (0.0, 0.0)
    assert hinf_norm(LTI(A, np.ones((3, 1)), np.zeros((2, 3))), return_peak=True) == (0.0, 0.0)
    g, w = hinf_norm(LTI(A / 2, np.zeros((3, 1)), np.ones((1, 3)), [[-3.0]], dt=0.5), return_peak=True)
    assert (g, w) == (3.0, 0.0)
    # B and C non-zero, but no input reaches an observed state: G == 0
    sys = LTI(np.diag([-1.0, -2.0]), [[1.0], [0.0]], [[0.0, 1.0]])
    assert hinf_norm(sys, return_peak=True) == (0.0, 0.0)
    batch = DiagonalLTI(-np.ones((2, 2)), np.array([np.ones((2, 1)), np.zeros((2, 1))]), np.ones((2, 1, 2)))
    np.testing.assert_array_equal(hinf_norm(batch), [2.0, 0.0])


def test_no_states():
    sys = LTI(np.zeros((0, 0)), np.zeros((0, 2)), np.zeros((2, 0)), [[3.0, 0.0], [0.0, 4.0]])
    assert hinf_norm(sys, return_peak=True) == (4.0, 0.0)


# -- against slycot --------------------------------------------------------------------------
def _ab13dd(sys):
    slycot = pytest.importorskip("slycot")
    n, m, p = sys.n, sys.m, sys.p
    return slycot.ab13dd(
        "C" if sys.dt is None else "D", "I", "N", "D", n, m, p,
        sys.A.copy(), np.eye(n), sys.B.copy(), sys.C.copy(), sys.D.copy(), tol=1e-12,
    )[0]


@pytest.mark.slycot
@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_matches_ab13dd_real_mimo(seed, discrete):
    n, m, p = (5, 8, 24)[seed % 3], 1 + seed % 3, 1 + (seed + 1) % 3
    sys = random_dense(n, m, p, seed=seed, discrete=discrete, d=seed % 2 == 0)
    assert hinf_norm(sys) == pytest.approx(_ab13dd(sys), rel=1e-8)


@pytest.mark.slycot
def test_complex_system_where_slycot_drops_imaginary_parts():
    # slycot casts to real; the real embedding [[Re, -Im], [Im, Re]] has the same norm
    sys = random_dense(10, 2, 2, complex_=True, seed=3, d=True)

    def emb(X):
        return np.block([[X.real, -X.imag], [X.imag, X.real]])

    real = LTI(emb(sys.A), emb(sys.B), emb(sys.C), emb(sys.D))
    assert hinf_norm(sys) == pytest.approx(_ab13dd(real), rel=1e-8)
    assert hinf_norm(real) == pytest.approx(hinf_norm(sys), rel=1e-9)


# -- dense grids, peaks, batches -------------------------------------------------------------
@pytest.mark.parametrize(
    "sys",
    [
        random_dense(12, 2, 3, seed=1),
        random_dense(12, 3, 2, seed=2, d=True, complex_=True),
        random_dense(9, 1, 1, seed=3, discrete=True, complex_=True),
        random_dense(9, 2, 2, seed=4, discrete=True, d=True),
        random_diagonal((), 10, 2, 1, seed=5),
        random_diagonal((), 10, 1, 2, seed=6, discrete=True),
    ],
    ids=["real", "complex-D", "disc-complex", "disc-D", "diag", "diag-disc"],
)
def test_bounds_dense_grid_and_peak_is_attained(sys):
    g, w = hinf_norm(sys, return_peak=True)
    poles = sys.poles if isinstance(sys, DiagonalLTI) else sys.poles()
    if sys.dt is None:
        wmax = 3 * np.abs(poles).max()
        grid = np.concatenate([np.linspace(-wmax, wmax, 3001), poles.imag])
    else:
        grid = np.concatenate([np.linspace(-np.pi, np.pi, 3001), np.angle(poles)]) / sys.dt
    vals = G_ref(sys, grid)
    assert np.all(vals <= g * (1 + 1e-10))
    assert G_ref(sys, [w])[0] == pytest.approx(g, rel=1e-12)
    if not np.iscomplexobj(getattr(sys, "A", 1j)):
        assert w >= 0


@pytest.mark.parametrize("discrete", [False, True])
def test_batched_diagonal_equals_members(discrete):
    sys = random_diagonal((3, 4), 8, 2, 2, discrete=discrete, seed=7)
    g, w = hinf_norm(sys, return_peak=True)
    assert g.shape == w.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            gi = hinf_norm(sys[i, j])
            assert g[i, j] == pytest.approx(gi, rel=1e-12)
            assert hinf_norm(sys[i, j].to_dense()) == pytest.approx(gi, rel=1e-9)
            assert G_ref(sys[i, j], [w[i, j]])[0] == pytest.approx(g[i, j], rel=1e-12)


def test_batched_with_feedthrough():
    sys = random_diagonal(5, 6, 2, 3, seed=8)
    rng = np.random.default_rng(0)
    sys = DiagonalLTI(sys.poles, sys.B, sys.C, rng.standard_normal((5, 3, 2)))
    g = hinf_norm(sys)
    np.testing.assert_allclose(g, [hinf_norm(sys[i].to_dense()) for i in range(5)], rtol=1e-9)


@pytest.mark.parametrize("complex_", [False, True])
def test_similarity_invariance(complex_):
    sys = random_dense(10, 2, 2, seed=9, complex_=complex_, d=True)
    rng = np.random.default_rng(1)
    Tm = rng.standard_normal((10, 10)) + 3 * np.eye(10)
    Ti = np.linalg.inv(Tm)
    other = LTI(Ti @ sys.A @ Tm, Ti @ sys.B, sys.C @ Tm, sys.D)
    assert hinf_norm(other) == pytest.approx(hinf_norm(sys), rel=1e-9)


def test_input_conversions():
    sys = random_dense(6, 1, 1, seed=10)
    g = hinf_norm(sys)
    assert hinf_norm((sys.A, sys.B, sys.C)) == pytest.approx(g, rel=1e-14)
    assert hinf_norm(sys.to_scipy()) == pytest.approx(g, rel=1e-14)
    control = pytest.importorskip("control")
    assert hinf_norm(control.ss(sys.A, sys.B, sys.C, sys.D)) == pytest.approx(g, rel=1e-14)


def test_many_resonances():
    # 20 lightly damped modes of similar height: the largest is found and certified
    rng = np.random.default_rng(2)
    w = np.sort(rng.uniform(1, 50, 20))
    lam = -1e-4 * w + 1j * w
    poles = np.concatenate([lam, lam.conj()])
    b = rng.uniform(0.9, 1.1, 20) * 1e-4 * w
    sys = DiagonalLTI(poles, np.ones((40, 1)), np.concatenate([b, b])[None].astype(complex))
    g, pk = hinf_norm(sys, return_peak=True)
    near = np.concatenate([np.linspace(x - 1e-3 * x, x + 1e-3 * x, 401) for x in w])
    assert g >= G_ref(sys, near).max() * (1 - 1e-10)
    assert G_ref(sys, [pk])[0] == pytest.approx(g, rel=1e-12)


# -- helpers against plain references --------------------------------------------------------
def test_dense_many_points_path_matches_reference():
    # > 24 evaluation points at once use the vectorised back substitution
    sys = random_dense(30, 2, 2, seed=12, complex_=True)
    g, w = hinf_norm(sys, return_peak=True)
    assert G_ref(sys, [w])[0] == pytest.approx(g, rel=1e-12)


# -- errors ----------------------------------------------------------------------------------
def test_unstable_continuous_lists_poles():
    with pytest.raises(UnstableSystemError) as info:
        hinf_norm(LTI(np.diag([-1.0, 0.5, 0.0]), np.ones((3, 1)), np.ones((1, 3))))
    assert info.value.poles.size == 2
    assert isinstance(info.value, ValueError)


def test_unstable_discrete_and_batched():
    with pytest.raises(UnstableSystemError):
        hinf_norm(LTI([[1.0]], [[1.0]], [[1.0]], dt=1.0))
    poles = np.array([[-1.0, -2.0], [-1.0, 1e-3 + 1j]])
    with pytest.raises(UnstableSystemError) as info:
        hinf_norm(DiagonalLTI(poles, np.ones((2, 2, 1)), np.ones((2, 1, 2))))
    assert info.value.index == [(1, 1)]
    with pytest.raises(UnstableSystemError):
        hinf_norm(DiagonalLTI.from_log_poles([[-0.1, 0.0]], np.ones((1, 2, 1)), np.ones((1, 1, 2)), dt=1.0))


@pytest.mark.parametrize("tol", [0.0, -1e-3, 1.0, 1e-17, "1e-8", True, np.nan])
def test_bad_tol(tol):
    with pytest.raises(InvalidArgumentError, match="tol"):
        hinf_norm(LTI([[-1.0]], [[1.0]], [[1.0]]), tol=tol)


@pytest.mark.parametrize("flag", [1, "yes", None])
def test_bad_return_peak(flag):
    with pytest.raises(ArgumentTypeError, match="return_peak"):
        hinf_norm(LTI([[-1.0]], [[1.0]], [[1.0]]), return_peak=flag)


def test_bad_system():
    with pytest.raises(SystemTypeError):
        hinf_norm([[1.0]])


def test_loose_tolerance_still_a_lower_bound():
    sys = random_dense(15, 2, 2, seed=13)
    g_loose, w = hinf_norm(sys, tol=1e-3, return_peak=True)
    g = hinf_norm(sys)
    assert g_loose <= g * (1 + 1e-14)
    assert g_loose >= g / (1 + 1e-3)
    assert G_ref(sys, [w])[0] == pytest.approx(g_loose, rel=1e-12)


@pytest.mark.parametrize(
    "sys",
    [
        random_dense(40, 1, 1, seed=21),
        random_dense(40, 2, 3, complex_=True, seed=22),
        random_dense(40, 2, 2, discrete=True, seed=23),
    ],
    ids=["real-siso", "complex-mimo", "discrete-mimo"],
)
def test_the_refined_bound_is_certified_by_a_hamiltonian_eigensolve(sys, monkeypatch):
    """The returned value is certified: the level-set step runs (at least one Hamiltonian eigenvalue
    solve) after the local refinement, and the value is attained at the returned peak.  How many
    solves and refinements it takes (one each here, measured) is a speed property that rounding
    can change, not asserted."""
    import mor.norms as norms

    calls = {"crossings": 0, "golden": 0}
    crossings, golden = norms._crossings, norms._maximise

    def count_crossings(*a, **k):
        calls["crossings"] += 1
        return crossings(*a, **k)

    def count_golden(*a, **k):
        calls["golden"] += 1
        return golden(*a, **k)

    monkeypatch.setattr(norms, "_crossings", count_crossings)
    monkeypatch.setattr(norms, "_maximise", count_golden)
    g, w = hinf_norm(sys, return_peak=True)
    assert calls["crossings"] >= 1 and calls["golden"] >= 1
    assert G_ref(sys, [w])[0] == pytest.approx(g, rel=1e-12)  # attained at the returned peak
