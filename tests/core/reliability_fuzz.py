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
