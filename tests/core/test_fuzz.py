"""Fuzz test: >= 10,000 random (often hostile) systems through every public routine.

Each case is built from ``numpy.random.default_rng(seed)`` over a fixed seed list (deterministic; no
hypothesis), so a failure message names the seed that reproduces it::

    python -c "import tests.core.test_fuzz as f; f.run_case(SEED, verbose=True)"

Hostile inputs: scales 1e-150 .. 1e150 on A, B and C, zero matrices, NaN/Inf entries, unstable and
marginally stable poles, defective A (Jordan blocks), repeated poles, m = 0 or p = 0, n = 0,
order = n, tolerances from 0 to 1e300, real A with complex B/C.  The contract checked: every call
either returns finite arrays (``h2_norm`` may be ``inf`` for a continuous system with ``D != 0``,
as documented) or raises a :class:`mor.errors.MorError` subclass.  Any other exception type, or a
NaN/Inf in an output, fails with the seed.  :class:`mor.RankWarning` is expected (orders above the
numerical rank); :class:`mor.errors.AccuracyWarning` is the documented way of saying "this answer
may be wrong" and is expected for systems whose transfer function is ill-conditioned (poles within
rounding of the stability boundary, Jordan blocks, scaled poles), but it fails the case for the
well-conditioned flavours (:data:`QUIET_FLAVOURS`), where it would be a false alarm.  Other
warnings are recorded and reported as failures too (a ``RuntimeWarning`` from numpy is how a silent
overflow starts).
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings

import numpy as np
import pytest

import mor
from mor import LTI, DiagonalLTI
from mor.errors import AccuracyWarning, MorError, RankWarning

N_DENSE = 2000  # single dense systems
N_BATCHES = 250  # diagonal batches ...
BATCH = 32  # ... of this many members: 2000 + 250 * 32 = 10,000 systems per run

# Failures matched here on (routine name prefix, detail substring) would be tolerated as known defects.
# None are left: the ones this test found are fixed and now fail test_fuzz_public_api if they return:
#   F1 hinf_norm with p = 0 or m = 0 (IndexError); F2 hinf_norm with a discrete pole at z = 0 (warning);
#   F3 cauchy_cholesky with m = 0 or p = 0 in a batch (reshape error); F4 entries near the overflow range
#   (NaN/Inf output or untyped LinAlgError; now mor.errors.NumericalError).
KNOWN_DEFECTS: dict[str, tuple[str, str]] = {}
SCALES = (0.0, 1e-150, 1e-100, 1e-30, 1e-8, 1.0, 1.0, 1.0, 1.0, 1e8, 1e30, 1e100, 1e150)
#: Flavours whose transfer functions are well conditioned: an AccuracyWarning there is a failure.
QUIET_FLAVOURS = ("gaussian", "stable", "zeroA", "n0", "repeated")


@dataclasses.dataclass
class Outcome:
    systems: int = 0
    calls: int = 0
    typed: dict = dataclasses.field(default_factory=dict)  # error class name -> count
    warned: dict = dataclasses.field(default_factory=dict)  # flavour -> AccuracyWarning count
    failures: list = dataclasses.field(default_factory=list)  # (seed, what, detail)


def _draw(rng, shape, cx):
    x = rng.standard_normal(shape)
    return x + 1j * rng.standard_normal(shape) if cx else x


def _scale(rng):
    return SCALES[rng.integers(len(SCALES))] if rng.random() < 0.35 else 1.0


def _poles(rng, n, discrete, cx):
    """Poles of a random flavour: stable, nearly unstable, marginal, unstable, repeated, zero."""
    kind = rng.choice(["stable", "stable", "stable", "near", "marginal", "unstable", "repeated", "zero", "huge"])
    lam = -rng.uniform(1e-3, 3, n) + 1j * rng.uniform(-5, 5, n)
    if kind == "near":
        lam = np.abs(lam) * (-(10.0 ** rng.uniform(-12, -3, n)) + 1j)
    elif kind == "marginal":
        lam[rng.integers(n)] = 1j * lam[0].imag
    elif kind == "unstable":
        lam[rng.integers(n)] *= -1
    elif kind == "repeated":
        lam[:] = lam[0]
    elif kind == "zero":
        lam[: rng.integers(1, n + 1)] = 0
    elif kind == "huge":
        lam = lam * 10.0 ** rng.choice([-150, -100, 100, 150])
    if not cx:
        lam = lam.real
    if discrete:
        with np.errstate(over="ignore", under="ignore"):
            return np.exp(lam * 0.1), kind
    return lam, kind


def make_dense(seed: int):
    """A random, possibly hostile dense system (or the exception its construction raises)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 7))
    m, p = int(rng.integers(0, 4)), int(rng.integers(0, 4))
    if rng.random() < 0.85:
        m, p = max(m, 1), max(p, 1)
    cx = rng.random() < 0.5
    discrete = rng.random() < 0.5
    flavour = "n0"
    if n:
        style = rng.choice(["modal", "jordan", "gaussian", "zero"])
        if style == "gaussian":
            A = _draw(rng, (n, n), cx) / np.sqrt(n)
            ev = np.linalg.eigvals(A)
            A = A * (0.9 / np.abs(ev).max()) if discrete else A - (ev.real.max() + rng.uniform(-0.2, 1.0)) * np.eye(n)
            flavour = "gaussian"
        elif style == "zero":
            A = np.zeros((n, n))
            flavour = "zeroA"
        else:
            poles, flavour = _poles(rng, n, discrete, True)
            if not cx:  # real: use the real parts only (still all flavours)
                poles = poles.real
            A = np.diag(poles)
            if style == "jordan" and n >= 2:
                A[0, 1] = A[1, 2 % n] = 1.0
                A[1, 1] = A[0, 0]
                if n >= 3:
                    A[2, 2] = A[0, 0]
                flavour += "+jordan"
            T = _draw(rng, (n, n), cx) + 2 * np.eye(n)
            A = np.linalg.solve(T, A @ T)
        A = A * (_scale(rng) if rng.random() < 0.2 else 1.0)
    else:
        A = np.zeros((0, 0))
    B = _draw(rng, (n, m), cx and rng.random() < 0.8) * _scale(rng)
    C = _draw(rng, (p, n), cx and rng.random() < 0.8) * _scale(rng)
    D = _draw(rng, (p, m), False) * _scale(rng) if rng.random() < 0.4 else None
    if rng.random() < 0.03:  # a non-finite entry somewhere
        target = [A, B, C] if D is None else [A, B, C, D]
        arr = target[rng.integers(len(target))]
        if arr.size:
            arr.flat[rng.integers(arr.size)] = rng.choice([np.nan, np.inf, -np.inf])
    return LTI(A, B, C, D, 0.1 if discrete else None), flavour


def make_batch(seed: int, size: int = BATCH):
    """A batch of random, possibly hostile diagonal systems (members differ in scale and pole flavour)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 7))
    m, p = int(rng.integers(0, 4)), int(rng.integers(0, 4))
    if rng.random() < 0.85:
        m, p = max(m, 1), max(p, 1)
    discrete = rng.random() < 0.5
    hostile = rng.random() < 0.5  # only some batches carry unstable / marginal members
    lam = -rng.uniform(1e-3, 3, (size, n)) + 1j * rng.uniform(-5, 5, (size, n))
    for b in range(size):
        if rng.random() < 0.3:
            poles, flav = _poles(rng, n, False, True)
            if flav in ("marginal", "unstable", "zero") and not hostile:
                continue
            lam[b] = poles
    B = _draw(rng, (size, n, m), True) * np.array([_scale(rng) for _ in range(size)])[:, None, None]
    C = _draw(rng, (size, p, n), True) * np.array([_scale(rng) for _ in range(size)])[:, None, None]
    D = _draw(rng, (size, p, m), True) if rng.random() < 0.4 else None
    if rng.random() < 0.02:
        B.flat[rng.integers(max(B.size, 1))] = np.nan if B.size else 0
    with np.errstate(over="ignore", invalid="ignore"):
        if discrete:
            return DiagonalLTI.from_log_poles(lam * 0.1, B, C, D, 0.1), "batch"
        return DiagonalLTI(lam, B, C, D), "batch"


def _finite(x) -> bool:
    if isinstance(x, mor.BalancedTruncationResult):
        red = x.reduced
        # hsv is documented as inf for the kept unstable states (MATLAB's convention), finite after them
        parts = [x.hsv[..., x.n_unstable :], x.V, x.W, np.asarray(x.error_bound, float)]
        parts += [red.B, red.C, red.D] + ([red.A] if isinstance(red, LTI) else [red.poles])
        return all(np.all(np.isfinite(a)) for a in parts)
    if isinstance(x, tuple):
        return all(_finite(a) for a in x)
    return bool(np.all(np.isfinite(np.asarray(x))))


def _read(res):
    """``res`` with its bound read: a dense system's rounding floor, and its warning, come at that first read."""
    _ = res.error_bound
    return res


def _calls(sys, rng):
    """(name, callable, allowed-infinite predicate) for every public routine."""
    n = sys.n
    pts = (
        1j * rng.standard_normal(3) * 10.0 ** rng.uniform(-2, 2)
        if sys.dt is None
        else np.exp(1j * rng.uniform(-3, 3, 3))
    )
    calls = [
        ("hankel_singular_values", lambda: mor.hankel_singular_values(sys), None),
        ("gramians", lambda: mor.gramians(sys), None),
        ("gramian_factors", lambda: mor.gramians(sys, factor=True), None),
        ("h2_norm", lambda: mor.h2_norm(sys), "h2"),
        ("hinf_norm", lambda: mor.hinf_norm(sys), None),
        ("transfer_function", lambda: mor.transfer_function(sys, pts), None),
        ("impulse_response", lambda: mor.impulse_response(sys, 8, dt=None if sys.dt else 0.1), None),
    ]
    orders = {n, 1, int(rng.integers(1, n + 1))} if n else {1}
    for r in sorted(orders):
        for method in ("sr", "bfsr"):
            calls.append(
                (
                    f"balanced_truncation(order={r}, {method})",
                    lambda r=r, mt=method: _read(mor.balanced_truncation(sys, r, method=mt)),
                    None,
                )
            )
    tol = float(rng.choice([0.0, 1e-300, 1e-8, 1.0, 1e300]))
    calls.append((f"balanced_truncation(tol={tol:g})", lambda: _read(mor.balanced_truncation(sys, tol=tol)), None))
    calls.append(("balanced_truncation()", lambda: _read(mor.balanced_truncation(sys)), None))
    if sys.dt is not None:
        calls.append(("hankel_singular_values(horizon=16)", lambda: mor.hankel_singular_values(sys, horizon=16), None))
    return calls


def _h2_allowed_inf(sys, value) -> bool:
    """``h2_norm`` is documented as ``inf`` exactly for continuous members with ``D != 0``."""
    if sys.dt is not None:
        return False
    d_nonzero = np.any(sys.D != 0, axis=(-2, -1))
    v = np.asarray(value)
    return bool(np.all(np.isfinite(v) | (np.isposinf(v) & d_nonzero)))


def exercise(sys, seed: int, out: Outcome, members: int, flavour: str = "batch") -> None:
    rng = np.random.default_rng(seed + 1_000_003)
    out.systems += members
    for name, fn, special in _calls(sys, rng):
        out.calls += 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = fn()
            except MorError as exc:
                out.typed[type(exc).__name__] = out.typed.get(type(exc).__name__, 0) + 1
                value = None
            except Exception as exc:
                out.failures.append((seed, name, f"untyped {type(exc).__name__}: {exc}"[:300]))
                continue
        for w in caught:
            if issubclass(w.category, AccuracyWarning) and flavour not in QUIET_FLAVOURS:
                out.warned[flavour] = out.warned.get(flavour, 0) + 1
            elif not issubclass(w.category, RankWarning):
                out.failures.append((seed, name, f"warning {w.category.__name__}: {w.message}"[:300]))
        if value is None:
            continue
        if special == "h2" and _h2_allowed_inf(sys, value):
            continue
        if not _finite(value):
            out.failures.append((seed, name, "non-finite output"))


def run_case(seed: int, out: Outcome | None = None, verbose: bool = False) -> Outcome:
    """One fuzz case: seeds < 10**6 are dense systems, larger ones diagonal batches."""
    out = Outcome() if out is None else out
    maker = make_dense if seed < 10**6 else make_batch
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sys, flavour = maker(seed)
        for w in caught:
            out.failures.append((seed, "construction", f"warning {w.category.__name__}: {w.message}"[:300]))
    except MorError as exc:
        out.systems += 1 if seed < 10**6 else BATCH
        out.typed[type(exc).__name__] = out.typed.get(type(exc).__name__, 0) + 1
        return out
    except Exception as exc:
        out.failures.append((seed, "construction", f"untyped {type(exc).__name__}: {exc}"[:300]))
        return out
    before = len(out.failures)
    members = int(np.prod(sys.batch_shape, dtype=int)) if isinstance(sys, DiagonalLTI) else 1
    exercise(sys, seed, out, members, str(flavour))
    if verbose:
        print(sys, flavour, out.failures[before:])
    return out


def run_all(dense=N_DENSE, batches=N_BATCHES) -> tuple[Outcome, float]:
    out = Outcome()
    t0 = time.perf_counter()
    for seed in range(dense):
        run_case(seed, out)
    for b in range(batches):
        run_case(10**6 + b, out)
    return out, time.perf_counter() - t0


def classify(failure) -> str | None:
    _, what, detail = failure
    for name, (prefix, needle) in KNOWN_DEFECTS.items():
        if what.startswith(prefix) and needle in detail:
            return name
    return None


@functools.cache
def _run():
    return run_all()


def _report(failures, out, seconds):
    lines = "\n".join(f"seed {s}: {what}: {detail}" for s, what, detail in failures[:40])
    return (
        f"{len(failures)} failure(s) in {out.systems} systems / {out.calls} calls ({seconds:.1f} s); "
        f"reproduce with run_case(seed, verbose=True):\n{lines}"
    )


@pytest.mark.timeout(600)  # ~25 s alone; 107 s measured on 2 cores shared with ~8 busy processes
def test_fuzz_public_api():
    out, seconds = _run()
    assert out.systems >= 10_000, out.systems
    new = [f for f in out.failures if classify(f) is None]
    assert not new, _report(new, out, seconds)
