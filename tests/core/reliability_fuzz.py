"""Fuzz runners of the reliability tests (``test_reliability_fuzz.py``) and of ``benchmarks/fuzz_reliability.py``.

Each runner takes a list of seeds and returns a :class:`Tally`: per case one outcome,

``correct``        agrees with the reference within the stated tolerance
``warned``         an :class:`~mor.errors.AccuracyWarning` said the answer cannot be trusted
``<ErrorClass>``   a typed :class:`~mor.errors.MorError` (an answer refused, saying why)
``quietly wrong``  disagrees with the reference without a warning: a failure
``untyped``        any other exception: a failure

and the worst discrepancies seen, for the reliability page of the documentation.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sps
from oracles import (
    bt_error_system,
    fast_pole_system,
    hinf_oracle,
    mp_hsv,
    nonnormal_system,
    real_realisation,
    sigma_dense,
    time_scaled_pair,
)

import mor
from mor.errors import AccuracyWarning, MorError, RankWarning
from mor.norms import DenseEvaluator  # the estimate behind hinf_norm's warning

try:  # optional peer
    import slycot
except ImportError:  # pragma: no cover - the slycot tests are skipped then
    slycot = None

FAILURES = ("quietly wrong", "untyped")


@dataclasses.dataclass
class Tally:
    outcomes: dict = dataclasses.field(default_factory=dict)
    failures: list = dataclasses.field(default_factory=list)  # (seed, detail)
    worst: dict = dataclasses.field(default_factory=dict)  # name -> largest value seen

    def add(self, seed: int, outcome: str, detail: str = "") -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if outcome in FAILURES:
            self.failures.append((seed, f"{outcome}: {detail}"))

    def note(self, name: str, value: float) -> None:
        self.worst[name] = max(self.worst.get(name, 0.0), float(value))

    def count(self, name: str) -> None:
        """Count an event (listed with the worst values, as ``name (count)``)."""
        key = f"{name} (count)"
        self.worst[key] = self.worst.get(key, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())


def _run(tally: Tally, seed: int, case) -> None:
    """Run ``case()`` (which returns ``(outcome, detail)``) recording warnings and typed errors."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", RankWarning)
        try:
            outcome, detail = case()
        except MorError as exc:
            outcome, detail = type(exc).__name__, str(exc)
        except Exception as exc:  # every other exception is a failure of the contract
            outcome, detail = "untyped", f"{type(exc).__name__}: {exc}"
    warned = any(issubclass(w.category, AccuracyWarning) for w in caught)
    if warned and outcome == "quietly wrong":
        outcome = "warned"
    elif warned and outcome == "correct":
        tally.count("correct, yet warned")
    tally.add(seed, outcome, detail)


# --------------------------------------------------------------------------- H-infinity vs the oracle
def hinf_vs_oracle(seeds) -> Tally:
    """``hinf_norm`` of random BT error systems against :func:`oracles.hinf_oracle`.

    Wrong (the documented guarantee fails): below the oracle by more than ``1e-9`` relative (a
    missed peak) or a value that is not ``sigma_max`` at the returned peak, beyond twice the
    rounding error that ``hinf_norm`` estimates for its evaluation there (an
    ``AccuracyWarning`` when that estimate exceeds ``1e-4`` of the norm).
    """
    tally = Tally()
    for seed in seeds:

        def case(seed=seed):
            err, info = bt_error_system(seed)
            g, w = mor.hinf_norm(err, return_peak=True)
            ref, _ = hinf_oracle(err)
            est = _estimated_rounding(err, w)
            slack = 1e-9 * ref + 2 * est + 1e-15 * info["size"]
            tally.note("hinf below oracle (relative)", max(0.0, (ref - g) / max(ref, 1e-300)))
            if g < ref - slack:
                return "quietly wrong", f"hinf_norm {g!r} < oracle {ref!r} ({info})"
            at_peak = sigma_dense(err, w)[0] if np.isfinite(w) else np.linalg.svd(err.D, compute_uv=False)[0]
            tally.note("value vs sigma at the peak (relative)", abs(at_peak - g) / max(g, 1e-300))
            if abs(at_peak - g) > slack:
                return "quietly wrong", f"hinf_norm {g!r} not attained at its peak {w!r}: {at_peak!r} ({info})"
            return "correct", ""

        _run(tally, seed, case)
    return tally


def _estimated_rounding(sys: mor.LTI, w: float) -> float:
    """The absolute rounding bound ``hinf_norm`` estimates for ``sigma_max`` at ``w`` (its warning's basis)."""
    ev = DenseEvaluator(sys)
    if not np.isfinite(w) or sys.n == 0 or not hasattr(ev, "rounding"):  # (older versions: no estimate)
        return 0.0
    x = np.array([w * sys.dt if sys.dt is not None else w])
    return float(ev.rounding(np.array([0]), x)[0][0])


# --------------------------------------------------------------------------- HSVs and BT vs SLICOT
def _slicot_bt(sys: mor.LTI, order: int):
    n, m, p = sys.n, sys.m, sys.p
    dico = "D" if sys.dt is not None else "C"
    ldwork = 4 * n * (2 * n + max(n, m, p) + 5)  # slycot's default under-allocates
    nr, Ar, Br, Cr, hsv = slycot.ab09ad(
        dico, "B", "N", n, m, p, sys.A.copy(), sys.B.copy(), sys.C.copy(), nr=order, tol=0.0, ldwork=ldwork
    )
    return mor.LTI(Ar[:nr, :nr], Br[:nr], Cr[:, :nr], sys.D, sys.dt), hsv


def bt_nonnormal(seeds) -> Tally:
    """BT of strongly non-normal dense systems: the error bound, checked with the oracle.

    Wrong: ``||G - G_r|| > (error_bound + rounding) (1 + 1e-7) + 1e-12 sigma_1`` without a
    warning (unwarned, ``rounding`` is at most 5% of the bound).  Noted: SLICOT's models above
    the bound, warned cases whose error exceeds the bound (measured in double precision, which
    is itself inaccurate there), and the HSV agreement with SLICOT.
    """
    tally = Tally()
    for seed in seeds:

        def case(seed=seed):
            sys, kappa = nonnormal_system(seed)
            r = int(np.random.default_rng(seed + 7).integers(1, sys.n))
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = mor.balanced_truncation(sys, r)
                _ = res.error_bound  # (a dense system's floor, and its warning, come at this first read)
            warned = any(issubclass(w.category, AccuracyWarning) for w in caught)
            if res.n_unstable:  # stable in exact arithmetic, not as rounded (kappa eps moves the poles):
                return "unstable part kept", ""  # the stored A is unstable; SLICOT's AB09AD refuses it
            hsv = res.hsv
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AccuracyWarning)  # the oracle's own evaluation, below
                err, _ = hinf_oracle(sys - res.reduced)
            if slycot is not None:
                peer, peer_hsv = _slicot_bt(sys, r)
                tally.note("HSV vs SLICOT (/ sigma_1)", np.max(np.abs(peer_hsv[: sys.n] - hsv)) / hsv[0])
                peer_err, _ = hinf_oracle(sys - peer)
                if peer_err > res.error_bound * (1 + 1e-7) + 1e-12 * hsv[0]:
                    tally.count("slicot above bound")
            rounding = getattr(res, "rounding", 0.0)
            above = err > (res.error_bound + rounding) * (1 + 1e-7) + 1e-12 * hsv[0]
            if warned:
                if err > res.error_bound * (1 + 1e-7):
                    tally.count("warned, bound exceeded")
                return "warned", ""
            tally.note("unwarned error / bound", err / res.error_bound)
            if above:
                return "quietly wrong", f"error {err:.4g} > bound {res.error_bound:.4g} (kappa {kappa:.1e}, r={r})"
            return "correct", ""

        _run(tally, seed, case)
    return tally


def time_scaled(seeds) -> Tally:
    """HSVs, the BT bound and the H-infinity norm under ``A -> a A``, ``B, C -> sqrt(a) B, C`` (invariant)."""
    tally = Tally()
    for seed in seeds:

        def case(seed=seed):
            ref, scaled, a = time_scaled_pair(seed)
            h0, h1 = mor.hankel_singular_values(ref), mor.hankel_singular_values(scaled)
            tally.note("HSV change (relative)", np.max(np.abs(h1 - h0) / h0[0]))
            if not np.allclose(h1, h0, rtol=1e-9, atol=1e-12 * h0[0]):
                return "quietly wrong", f"HSVs at a = {a:.3g}: {h1} vs {h0}"
            r = max(1, ref.n // 2)
            b0, b1 = mor.balanced_truncation(ref, r).error_bound, mor.balanced_truncation(scaled, r).error_bound
            if abs(b1 - b0) > 1e-9 * b0 + 1e-12 * h0[0]:
                return "quietly wrong", f"bound at a = {a:.3g}: {b1} vs {b0}"
            g0, g1 = mor.hinf_norm(ref), mor.hinf_norm(scaled)
            tally.note("H-inf change (relative)", abs(g1 - g0) / g0)
            if abs(g1 - g0) > 1e-10 * g0:
                return "quietly wrong", f"hinf_norm at a = {a:.3g}: {g1} vs {g0}"
            if slycot is not None:  # SLICOT on the scaled system, where it accepts it
                try:
                    _, peer = _slicot_bt(scaled, r)
                    tally.note("HSV vs SLICOT (/ sigma_1)", np.max(np.abs(peer[: ref.n] - h1)) / h1[0])
                except slycot.exceptions.SlycotError:  # "A is not stable" at extreme scales
                    tally.count("SLICOT refused")
            return "correct", ""

        _run(tally, seed, case)
    return tally


def fast_poles(seeds) -> Tally:
    """HSVs of discrete diagonal systems with very fast poles against mpmath (and SLICOT), and the
    BT bound against the oracle.  Wrong: an HSV above ``1e-12 sigma_1`` off by more than ``1e-10``
    relative, one below it above ``1e-12 sigma_1``, or ``||G - G_r|| > bound + 1e-12 sigma_1``."""
    tally = Tally()
    for seed in seeds:

        def case(seed=seed):
            sys = fast_pole_system(seed)
            hsv = mor.hankel_singular_values(sys)
            ref = mp_hsv(sys)
            big = ref > 1e-12 * ref[0]
            rel = np.max(np.abs(hsv[big] - ref[big]) / ref[big])
            tally.note("HSV vs mpmath (relative)", rel)
            if rel > 1e-10 or np.any(hsv[~big] > 1e-12 * ref[0]):
                return "quietly wrong", f"HSVs {hsv} vs mpmath {ref}"
            if slycot is not None:
                dense = real_realisation(sys)
                _, peer = _slicot_bt(dense, 1)
                tally.note("HSV vs SLICOT (/ sigma_1)", np.max(np.abs(peer[: sys.n] - hsv)) / hsv[0])
            r = int(np.clip(np.sum(big) - 1, 1, sys.n))
            res = mor.balanced_truncation(sys, r)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AccuracyWarning)  # a rounding-level error is fine here
                err, _ = hinf_oracle(real_realisation(sys) - res.reduced.to_dense())
            if err > res.error_bound * (1 + 1e-7) + 1e-12 * hsv[0]:
                return "quietly wrong", f"BT error {err:.4g} > bound {res.error_bound:.4g} (r={r}, hsv={hsv})"
            return "correct", ""

        _run(tally, seed, case)
    return tally


# --------------------------------------------------------------------------- round three (issue 19)
def defective_system(seed: int) -> tuple[mor.LTI, dict]:
    """A random similarity of a matrix with a Jordan-like block whose eigenvalues are ``delta`` apart.

    ``delta`` in ``{0, 1e-12, 1e-9, 1e-6, 1e-3}``; the block is 2 x 2 or 3 x 3 on a real eigenvalue,
    or a real 4 x 4 on a complex pair; continuous or discrete (``expm`` of the continuous matrix:
    the same Jordan structure), real or complex, ``n = 4 .. 10``.
    """
    rng = np.random.default_rng(seed)
    delta = float(rng.choice([0.0, 1e-12, 1e-9, 1e-6, 1e-3]))
    kind = str(rng.choice(["real2", "real3", "pair"]))
    lam = -rng.uniform(0.1, 3.0)
    if kind == "pair":
        w = rng.uniform(0.5, 5.0)
        R = np.array([[lam, w], [-w, lam]])
        J = np.block([[R, np.eye(2)], [np.zeros((2, 2)), R + delta * np.eye(2)]])
    else:
        k = 2 if kind == "real2" else 3
        J = lam * np.eye(k) + np.eye(k, k=1) + np.diag(delta * np.arange(k))
    n = int(rng.integers(J.shape[0] + 1, 11))
    rest = np.diag(-rng.uniform(0.1, 3.0, n - J.shape[0]))
    M = np.block([[J, np.zeros((J.shape[0], n - J.shape[0]))], [np.zeros((n - J.shape[0], J.shape[0])), rest]])
    X = rng.standard_normal((n, n))
    A = np.linalg.solve(X, M @ X)
    discrete = bool(rng.integers(2))
    if discrete:
        A = sla.expm(0.5 * A)
    m, p = int(rng.integers(1, 3)), int(rng.integers(1, 3))
    B, C = rng.standard_normal((n, m)), rng.standard_normal((p, n))
    if rng.integers(4) == 0:  # a complex system
        A = A + 0.5j * np.eye(n) if not discrete else A * np.exp(0.3j)  # real parts (moduli) unchanged
        B = B + 1j * rng.standard_normal((n, m))
    sys = mor.LTI(A, B, C, dt=1.0 if discrete else None)
    return sys, {"delta": delta, "kind": kind, "n": n, "discrete": discrete, "complex": sys.is_complex}


DEFECTIVE_METHODS = ("modal", "bt", "bsp", "irka")


def defective(seeds) -> Tally:
    """Modal truncation, BT, balanced singular perturbation (BSP) and IRKA of defective and near-defective A.

    The method is chosen by ``seed % 4``.  Wrong, unwarned: modal truncation with
    ``||G - G_r|| > error_bound`` or ``||G_r|| > 100 ||G||`` (a kept half of a split cluster);
    BT or BSP with ``||G - G_r|| > (bound + rounding)(1 + 1e-7) + 1e-12 sigma_1``; IRKA with a
    non-finite or unstable reduced model.  Norms by :func:`oracles.hinf_oracle`.
    """
    tally = Tally()
    for seed in seeds:

        def case(seed=seed):
            sys, info = defective_system(seed)
            method = DEFECTIVE_METHODS[seed % 4]
            r = int(np.random.default_rng(seed + 11).integers(1, sys.n))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AccuracyWarning)  # the oracle evaluating G - G_r near zero
                norm, _ = hinf_oracle(sys)
            if method == "modal":
                res = mor.modal_truncation(sys, r)
                reduced, bound = res.reduced, res.error_bound
            elif method == "irka":
                res = mor.irka(sys, r)
                reduced, bound = res.reduced, None
                lam = np.linalg.eigvals(reduced.A) if reduced.n else np.zeros(0)
                stable = np.all(np.abs(lam) < 1) if sys.dt is not None else np.all(lam.real < 0)
                if not (np.all(np.isfinite(reduced.A)) and stable):
                    return "quietly wrong", f"IRKA model non-finite or unstable, poles {lam} ({info}, r={r})"
            else:
                res = mor.balanced_truncation(sys, r, match_dc=method == "bsp")
                reduced, bound = res.reduced, res.error_bound + getattr(res, "rounding", 0.0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", AccuracyWarning)
                err, _ = hinf_oracle(sys - reduced)
                size_r, _ = hinf_oracle(reduced)
            tally.note(f"{method}: error / ||G||", err / norm)
            if bound is not None and err > bound * (1 + 1e-7) + 1e-9 * norm:
                return "quietly wrong", f"{method}: error {err:.4g} > bound {bound:.4g} ({info}, r={r})"
            if method == "modal" and size_r > 100 * norm:
                return "quietly wrong", f"modal: ||G_r|| = {size_r:.4g} for ||G|| = {norm:.4g} ({info}, r={r})"
            return "correct", ""

        _run(tally, seed, case)
    return tally


_FORMATS = ("bsr", "coo", "csc", "csr", "dia", "dok", "lil")
SPARSE_FORMATS = tuple(f"{f}_{k}" for f in _FORMATS for k in ("matrix", "array"))
SPARSE_ROUTINES = (
    "hankel_singular_values", "controllability_gramian", "balanced_truncation", "h2_norm", "hinf_norm",
    "low_rank_gramians", "frequency_response", "transfer_function", "modal_truncation", "irka",
    "impulse_response", "SparseLTI",
)  # fmt: skip


def _sparse_call(name: str, system, r: int):
    """The comparable numbers of routine ``name`` on ``system`` (a tuple or a :class:`mor.LTI`)."""
    if name == "balanced_truncation":
        return mor.balanced_truncation(system, r).hsv
    if name == "modal_truncation":
        return np.sort(mor.modal_truncation(system, r).scores)
    if name == "irka":
        return np.array([mor.h2_norm(mor.irka(system, r).reduced)])
    if name == "low_rank_gramians":
        g = mor.low_rank_gramians(system, max_rank=200)
        return g.Z @ g.Z.conj().T
    if name == "frequency_response":
        return mor.frequency_response(system, [0.0, 0.7, 3.0])
    if name == "transfer_function":
        return mor.transfer_function(system, [0.5 + 1j])
    if name == "impulse_response":
        return mor.impulse_response(system, 8, dt=0.1)
    if name == "SparseLTI":
        sys = system if isinstance(system, mor.LTI) else mor.SparseLTI(*system).to_dense()
        return sys.A
    return np.atleast_1d(getattr(mor, name)(system))


def sparse_formats(seeds) -> Tally:
    """Every scipy.sparse format (matrix and array flavour) as ``A`` of every routine, against the dense answer.

    Per seed one format (``seed % 14``) and one routine (``seed // 14 % 12``); wrong: a result that
    differs from the dense system's by more than ``1e-8`` relative.
    """
    tally = Tally()
    for seed in seeds:

        def case(seed=seed):
            rng = np.random.default_rng(seed)
            n = int(rng.integers(3, 9))
            A = rng.standard_normal((n, n)) / np.sqrt(n)
            A[np.abs(A) < 0.3] = 0.0  # genuinely sparse
            A -= (np.max(np.linalg.eigvals(A).real) + rng.uniform(0.2, 2)) * np.eye(n)  # stable
            B, C = rng.standard_normal((n, 1)), rng.standard_normal((1, n))
            fmt, name = SPARSE_FORMATS[seed % 14], SPARSE_ROUTINES[seed // 14 % 12]
            r = max(1, n // 2)
            ref = _sparse_call(name, mor.LTI(A, B, C), r)
            got = _sparse_call(name, (getattr(sps, fmt)(A), B, C), r)
            scale = max(float(np.max(np.abs(ref))), 1e-300)
            diff = float(np.max(np.abs(np.asarray(got) - ref))) / scale
            tally.note("difference from dense (relative)", diff)
            if diff > 1e-8:
                return "quietly wrong", f"{name} with {fmt}: {diff:.3g} from the dense answer"
            return "correct", ""

        _run(tally, seed, case)
    return tally


def scaled_low_rank(seeds) -> Tally:
    """The low-rank route on scaled systems: ``(a A, a B, C)`` (continuous; Gramians ``a P``, ``Q / a``)
    or ``(A, b B, C / b)`` (discrete, Gramians ``b^2 P``, ``Q / b^2``), ``a = 10^U(-300, 300)``,
    ``b = 10^U(-150, 150)`` (representable Gramians).

    Wrong: ``Z Z^H`` or ``Y Y^H`` (rescaled) off the dense Gramians of the unscaled system by more
    than ``1e-7`` of their norm, or Hankel singular values (dense and low-rank BT routes) off by more
    than ``1e-8 sigma_1``.
    """
    tally = Tally()
    for seed in seeds:

        def case(seed=seed):
            rng = np.random.default_rng(seed)
            n = int(rng.integers(4, 30))
            A = sps.diags([rng.uniform(0.1, 1, n - 1), -rng.uniform(1, 3, n), rng.uniform(-1, 0.1, n - 1)], [-1, 0, 1])
            A = A.toarray()
            discrete = bool(rng.integers(2))
            if discrete:
                A = A / (1.2 * np.max(np.abs(np.linalg.eigvals(A))))
            B, C = rng.standard_normal((n, 1)), rng.standard_normal((1, n))
            a = 10.0 ** rng.uniform(-150, 150) if discrete else 10.0 ** rng.uniform(-300, 300)  # P = a^2 P_ref
            ref = mor.LTI(A, B, C, dt=1.0 if discrete else None)
            scaled = mor.LTI(A, a * B, C / a, dt=1.0) if discrete else mor.LTI(a * A, a * B, C)
            P, Q = mor.controllability_gramian(ref), mor.observability_gramian(ref)
            g = mor.low_rank_gramians((sps.csr_matrix(scaled.A), scaled.B, scaled.C, None, scaled.dt), max_rank=400)
            zs, ys = (a, 1 / a) if discrete else (np.sqrt(a), 1 / np.sqrt(a))  # Z = zs Z_ref, Y = ys Y_ref
            Pz, Qy = (g.Z / zs) @ (g.Z / zs).conj().T, (g.Y / ys) @ (g.Y / ys).conj().T
            dP = np.max(np.abs(Pz - P)) / np.max(np.abs(P))
            dQ = np.max(np.abs(Qy - Q)) / np.max(np.abs(Q))
            tally.note("low-rank Gramian error (relative)", max(dP, dQ))
            if not dP <= 1e-7 or not dQ <= 1e-7:
                return "quietly wrong", f"Gramians at a = {a:.3g}: relative errors {dP:.3g}, {dQ:.3g}"
            h0, h1 = mor.hankel_singular_values(ref), mor.hankel_singular_values(scaled)
            tally.note("HSV change (/ sigma_1)", np.max(np.abs(h1 - h0)) / h0[0])
            if np.max(np.abs(h1 - h0)) > 1e-8 * h0[0]:
                return "quietly wrong", f"HSVs at a = {a:.3g}: {h1[:3]} vs {h0[:3]}"
            return "correct", ""

        _run(tally, seed, case)
    return tally


def memory_hungry(seeds) -> Tally:
    """Sizes whose arrays cannot fit in memory (terabytes: numpy fails at once, nothing is touched).

    Accepted: a typed error (``MemoryLimitError``, or another :class:`~mor.errors.MorError` saying
    why); a failure: numpy's ``MemoryError`` or any other untyped exception, or an answer.
    Caution: a version without the memory check evaluates the frequency-response case
    (``seed % 4 == 3``) piece by piece and grows without bound (11 GiB after a minute, measured on
    571791e): leave those seeds out there.
    """
    tally = Tally()
    for seed in seeds:

        def case(seed=seed):
            rng = np.random.default_rng(seed)
            which = seed % 4
            n = int(rng.integers(2, 6))
            A = np.diag(rng.uniform(0.1, 0.9, n))
            if which == 0:
                length = 10 ** int(rng.integers(12, 16))
                mor.impulse_response(mor.LTI(A, np.ones((n, 1)), np.ones((1, n)), dt=1.0), length)
            elif which == 1:
                poles = -rng.uniform(0.1, 1, (10**4, n))
                mor.impulse_response(mor.DiagonalLTI(poles, np.ones((1, n, 1)), np.ones((1, 1, n))), 10**9, dt=0.1)
            elif which == 2:
                big = 10 ** int(rng.integers(6, 8))
                mor.SparseLTI(sps.diags(-np.ones(big)), np.ones((big, 1)), np.ones((1, big))).to_dense(force=True)
            else:
                poles = -rng.uniform(0.1, 1, (10**4, n))
                mor.frequency_response(mor.DiagonalLTI(poles, np.ones((1, n, 1)), np.ones((1, 1, n))),
                                       np.linspace(0.0, 1.0, 10**7))  # fmt: skip
            return "quietly wrong", "an impossible size returned an answer"

        _run(tally, seed, case)
    return tally
