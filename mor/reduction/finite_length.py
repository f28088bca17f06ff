"""Reduction that knows the kernel length: a stable least-squares fit of the first ``L`` Markov
parameters, started from balanced truncation.

A discrete system used as a convolution kernel of length ``L`` (the layers of a state-space
sequence model) only matters through its first ``L`` Markov parameters
``h[k] = C A^(k-1) B``, ``k = 1 .. L``.  Balanced truncation minimises (a bound of) the error over
the infinite horizon; its time-limited variant (Gramians over ``L`` steps) targets the right
window but returns growing modes for poles near the unit circle.  This reducer minimises the
quantity itself::

    minimise   E(z, B_r, C_r) = sum_{k=0}^{L-1} || h[k+1] - C_r diag(z)^k B_r ||_F^2
    over       z_i = exp(mu_i),   mu_i = -(delta + exp(a_i)) + i omega_i,   delta = -log(max_radius)

so every reduced pole satisfies ``|z_i| = exp(Re mu_i) <= max_radius < 1`` by construction
(stability is a property of the parametrisation, not of the optimiser).  With ``real_output=True``
only the real parts enter, ``sum_k ||Re(h[k+1] - h_r[k+1])||_F^2`` (a layer that reads the real
part of a complex system, such as DSS and S4D).

The fit is a batched Levenberg-Marquardt iteration on the real parameters ``a``, ``omega``,
``Re/Im C_r`` and, for ``m > 1``, ``Re/Im B_r`` (``B_r = 1`` for single-input systems, where
``C_r`` holds the residues).  A step is taken only where it lowers ``E``, so the error never
exceeds that of the initial model (balanced truncation with its poles clipped to ``max_radius``).
The feedthrough is kept: ``D_r = D`` (``h[0]`` is exact).  Cost per member and iteration:
``O(L p m P^2)`` for ``P = 2r(1 + p)`` real parameters (``2r(1 + p + m)`` for ``m > 1``), at most
``maxiter`` iterations; meant for the single-input channels of diagonal layers (one member of a
large MIMO system beyond :data:`MAX_JACOBIAN_ENTRIES` is refused).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._guard import guarded
from ..analysis.response import impulse_response
from ..errors import AccuracyWarning, MemoryLimitError, OrderError, RankWarning, SystemTypeError
from ..systems import DiagonalLTI, as_system
from ..validation import check_bool, check_int, check_real
from .balanced import balanced_truncation

__all__ = ["MAX_JACOBIAN_ENTRIES", "FiniteLengthResult", "finite_length_reduction"]

_USER = 4  # warnings point at the caller: _result -> finite_length_reduction -> guard wrapper -> caller
#: ``log(-Re mu)`` is capped here: a mode without effect must not drift to ``z = 0`` (``log z = -inf``).
_MAX_LOG_DECAY = np.log(30.0)
#: Largest Jacobian (entries) built at once; the batch is fitted in chunks below it.
_CHUNK_ENTRIES = 4_000_000
#: Largest Jacobian of one member (about 1.6 GB in float64); above it a typed error, not an allocation.
MAX_JACOBIAN_ENTRIES = 200_000_000


@dataclass(frozen=True)
class FiniteLengthResult:
    """Outcome of :func:`finite_length_reduction`.

    Attributes
    ----------
    reduced : DiagonalLTI
        The fitted model, same batch shape, ``order`` states, ``dt`` and ``D`` of the input;
        every pole has ``|z| <= max_radius < 1``.
    error : (...,) ndarray
        Relative kernel error of the fit, ``sqrt(E / sum_k ||h[k+1]||_F^2)`` (real parts only
        for ``real_output``); 0 for a member whose kernel is zero.
    initial_error : (...,) ndarray
        The same for the initial model (balanced truncation, poles clipped to ``max_radius``);
        ``error <= initial_error`` always.
    converged : (...,) ndarray of bool
        Whether the relative decrease of ``E`` fell below ``rtol`` (or the gradient vanished)
        within ``maxiter`` iterations.
    iterations : int
        Levenberg-Marquardt iterations run (the largest over the batch).
    length : int
        ``L``.
    """

    reduced: DiagonalLTI
    error: np.ndarray
    initial_error: np.ndarray
    converged: np.ndarray
    iterations: int
    length: int


@dataclass
class _Fit:
    """The parameters of one chunk: ``a``, ``omega`` ``(b, r)``, ``B (b, r, m)``, ``C (b, p, r)``."""

    a: np.ndarray
    omega: np.ndarray
    B: np.ndarray
    C: np.ndarray
    delta: float
    fit_B: bool

    def take(self, idx: np.ndarray) -> _Fit:
        """The members ``idx``."""
        return _Fit(self.a[idx], self.omega[idx], self.B[idx], self.C[idx], self.delta, self.fit_B)

    def log_poles(self) -> np.ndarray:
        return -(self.delta + np.exp(self.a)) + 1j * self.omega

    def vector(self) -> np.ndarray:
        parts = [self.a, self.omega, self.C.real.reshape(len(self.a), -1), self.C.imag.reshape(len(self.a), -1)]
        if self.fit_B:
            parts += [self.B.real.reshape(len(self.a), -1), self.B.imag.reshape(len(self.a), -1)]
        return np.concatenate(parts, axis=1)

    def with_vector(self, x: np.ndarray) -> _Fit:
        b, r = self.a.shape
        p, m = self.C.shape[1], self.B.shape[2]
        cuts = np.cumsum([r, r, p * r, p * r, r * m])
        a, omega, c_re, c_im, b_re, b_im = np.split(x, cuts, axis=1)
        a = np.minimum(a, _MAX_LOG_DECAY)  # |z| >= exp(-exp(_MAX_LOG_DECAY)): no pole at z = 0
        C = (c_re + 1j * c_im).reshape(b, p, r)
        B = (b_re + 1j * b_im).reshape(b, r, m) if self.fit_B else self.B
        return _Fit(a, omega, B, C, self.delta, self.fit_B)


def _powers(mu: np.ndarray, length: int) -> np.ndarray:
    """``z^k = exp(mu k)``, ``k = 0 .. L-1``: shape ``(b, r, L)``."""
    return np.exp(mu[..., None] * np.arange(length))


def _residual(fit: _Fit, target: np.ndarray, real_output: bool) -> np.ndarray:
    """``h_r - h`` as a real vector per member, ``(b, R)``."""
    Z = _powers(fit.log_poles(), target.shape[1])
    diff = np.einsum("bpi,bik,bim->bkpm", fit.C, Z, fit.B) - target
    flat = diff.reshape(len(diff), -1)
    return flat.real if real_output else np.concatenate([flat.real, flat.imag], axis=1)


def _jacobian(fit: _Fit, length: int, real_output: bool) -> np.ndarray:
    """``d(h_r) / d(parameters)`` as a real ``(b, R, P)`` array (the ordering of :meth:`_Fit.vector`)."""
    b, r = fit.a.shape
    p, m = fit.C.shape[1], fit.B.shape[2]
    Z = _powers(fit.log_poles(), length)  # (b, r, L)
    k = np.arange(length)
    mode = np.einsum("bpi,bik,bim->bkpmi", fit.C, Z, fit.B)  # one term per mode, (b, L, p, m, r)
    d_mu = mode * k[:, None, None, None]
    cols = [d_mu * -np.exp(fit.a)[:, None, None, None, :], 1j * d_mu]
    eye_p = np.eye(p)
    d_c = np.einsum("bik,bim,pq->bkpmqi", Z, fit.B, eye_p).reshape(b, length, p, m, p * r)
    cols += [d_c, 1j * d_c]
    if fit.fit_B:
        d_b = np.einsum("bpi,bik,mn->bkpmin", fit.C, Z, np.eye(m)).reshape(b, length, p, m, r * m)
        cols += [d_b, 1j * d_b]
    J = np.concatenate(cols, axis=-1).reshape(b, length * p * m, -1)
    return J.real if real_output else np.concatenate([J.real, J.imag], axis=1)


def _damped_step(J: np.ndarray, e: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Levenberg-Marquardt step ``-(J^T J + lam diag(J^T J))^-1 J^T e`` and the gradient ``J^T e``."""
    g, A = np.einsum("brp,br->bp", J, e), np.einsum("brp,brq->bpq", J, J)
    diag = np.diagonal(A, axis1=1, axis2=2)
    scale = np.maximum(diag, 1e-12 * diag.max(axis=1, keepdims=True) + 1e-300)  # parameters without effect
    damped = A + (lam[:, None] * scale)[:, :, None] * np.eye(A.shape[-1])
    return -np.linalg.solve(damped, g[..., None])[..., 0], g


def _levenberg_marquardt(fit: _Fit, target: np.ndarray, real_output: bool, maxiter: int, rtol: float):
    """Batched Levenberg-Marquardt on ``E``; a member moves only where ``E`` decreases.

    Returns ``(fit, cost, initial_cost, converged, iterations)``.
    """
    x = fit.vector()
    cost = np.sum(_residual(fit, target, real_output) ** 2, axis=1)
    initial, lam, done = cost.copy(), np.full(len(x), 1e-3), cost == 0
    iterations = 0
    while iterations < maxiter and not done.all():
        iterations += 1
        active = np.flatnonzero(~done)
        sub = fit.take(active)
        J = _jacobian(sub, target.shape[1], real_output)
        step, g = _damped_step(J, _residual(sub, target[active], real_output), lam[active])
        x_new = x.copy()
        x_new[active] += step
        trial = fit.with_vector(x_new)  # a capped, so x_new is read back
        x_new = trial.vector()
        new_cost = np.sum(_residual(trial.take(active), target[active], real_output) ** 2, axis=1)
        old = cost[active]
        better = np.isfinite(new_cost) & (new_cost < old)
        moved = active[better]
        x[moved], cost[moved] = x_new[moved], new_cost[better]
        lam[active] = np.where(better, lam[active] / 3, lam[active] * 4)
        small_gain = better & (old - np.where(better, new_cost, old) < rtol * old)
        flat = np.sqrt(np.sum(g**2, axis=1)) <= 1e-14 * np.sqrt(old)
        done[active] = small_gain | flat | (lam[active] > 1e12)  # lam that large: no decrease left to find
        fit = fit.with_vector(x)
    return fit, cost, initial, done, iterations


def _initial_fit(sys: DiagonalLTI, order: int, delta: float) -> _Fit:
    """Balanced truncation's model in the fit's parametrisation (poles clipped to ``|z| <= exp(-delta)``)."""
    with warnings.catch_warnings():  # rank-deficient members are padded; the fit may use those states
        warnings.simplefilter("ignore", RankWarning)
        red = balanced_truncation(sys, order, method="bfsr").reduced
    b = int(np.prod(sys.batch_shape, dtype=int))
    mu = red.log_poles.reshape(b, order)
    decay = np.clip(-mu.real - delta, np.finfo(float).tiny, np.exp(_MAX_LOG_DECAY))
    B, C = red.B.reshape(b, order, sys.m), red.C.reshape(b, sys.p, order)
    fit_B = sys.m > 1
    if not fit_B:  # single input: B_r = 1, the residues go to C_r
        C, B = C * B[:, :, 0][:, None, :], np.ones_like(B)
    return _Fit(np.log(decay), mu.imag.copy(), B, C, delta, fit_B)


def _chunks(b: int, entries_per_member: int) -> list[slice]:
    size = max(1, _CHUNK_ENTRIES // max(entries_per_member, 1))
    return [slice(i, min(i + size, b)) for i in range(0, b, size)]


def _check_system(sys: Any) -> DiagonalLTI:
    sys = as_system(sys)
    if sys.dt is None:
        raise SystemTypeError(
            "finite_length_reduction fits the first L Markov parameters of a discrete-time system; "
            "discretise the continuous system first (mor.discretize)"
        )
    if not isinstance(sys, DiagonalLTI):
        raise SystemTypeError(
            f"finite_length_reduction expects a DiagonalLTI (the form of diagonal state-space layers), got "
            f"{type(sys).__name__}: bring a dense system to modal form first (mor.modal_truncation with order=n)"
        )
    return sys


@guarded("finite_length_reduction")
def finite_length_reduction(
    sys: Any,
    order: int,
    *,
    length: int,
    real_output: bool = False,
    max_radius: float = 1.0 - 1e-9,
    maxiter: int = 100,
    rtol: float = 1e-6,
) -> FiniteLengthResult:
    """Stable reduced model whose first ``length`` Markov parameters fit those of ``sys``.

    Minimises ``E = sum_{k=0}^{L-1} ||h[k+1] - C_r diag(z)^k B_r||_F^2`` over stable poles
    ``|z_i| <= max_radius < 1`` and ``B_r``, ``C_r`` (see the module docstring), from balanced
    truncation's model; ``D_r = D``.

    Parameters
    ----------
    sys : DiagonalLTI
        Discrete-time, stable (balanced truncation gives the initial model), any batch shape,
        ``m`` inputs and ``p`` outputs.
    order : int
        ``1 <= r <= n``.
    length : int
        ``L >= 1``, the number of Markov parameters ``h[1] .. h[L]`` fitted (the kernel length).
    real_output : bool
        Fit the real parts only: ``E = sum_k ||Re(h[k+1] - h_r[k+1])||_F^2`` (for layers that
        read the real part of a complex system).
    max_radius : float in (0, 1)
        Every reduced pole has ``|z| <= max_radius`` (to the rounding of ``exp``); the default keeps
        ``1 - |z| >= 1e-9``.
    maxiter : int
        Most Levenberg-Marquardt iterations.
    rtol : float
        A member has converged when an accepted step lowers ``E`` by less than the fraction
        ``rtol``.

    Returns
    -------
    FiniteLengthResult

    Raises
    ------
    SystemTypeError
        ``sys`` continuous-time or not a :class:`DiagonalLTI`.
    UnstableSystemError
        ``sys`` unstable (no balanced truncation to start from).
    OrderError
        ``order`` outside ``[1, n]``.
    InvalidArgumentError
        ``length``, ``maxiter`` below 1, ``max_radius`` outside ``(0, 1)``, ``rtol`` not positive.
    MemoryLimitError
        One member's Jacobian would exceed :data:`MAX_JACOBIAN_ENTRIES` (``L p m`` times the
        ``2r(1 + p)`` -- for ``m > 1`` ``2r(1 + p + m)`` -- real parameters; twice that for
        complex output).

    Warns
    -----
    AccuracyWarning
        Some member did not converge within ``maxiter`` (its best model so far is returned).

    Examples
    --------
    >>> import numpy as np
    >>> from mor import DiagonalLTI, finite_length_reduction
    >>> z = np.exp(-np.geomspace(1e-4, 1.0, 12) + 1j * np.linspace(0, 2, 12))
    >>> sys = DiagonalLTI(z, np.ones((12, 1)), np.ones((1, 12)), dt=1.0)
    >>> res = finite_length_reduction(sys, 3, length=50)
    >>> bool(np.all(np.abs(res.reduced.poles) < 1) and res.error <= res.initial_error)
    True
    """
    sys = _check_system(sys)
    order = check_int(order, f"order (n = {sys.n})", minimum=1, maximum=sys.n, error=OrderError)
    length = check_int(length, "length (the number of Markov parameters fitted)")
    real_output = check_bool(real_output, "real_output")
    max_radius = check_real(max_radius, "max_radius", minimum=0.0, maximum=1.0, include_min=False, include_max=False)
    maxiter = check_int(maxiter, "maxiter")
    rtol = check_real(rtol, "rtol", minimum=0.0, include_min=False)
    start = _initial_fit(sys, order, -np.log(max_radius))
    b, P = len(start.a), start.vector().shape[1]
    _check_size(length * sys.p * sys.m * P * (1 if real_output else 2), length, sys, P)
    target = impulse_response(sys, length + 1)[..., 1:, :, :].reshape((-1, length, sys.p, sys.m))
    parts, iterations = [], 0
    for sl in _chunks(b, length * sys.p * sys.m * P * 2):
        fitted, cost, initial, done, its = _levenberg_marquardt(start.take(sl), target[sl], real_output, maxiter, rtol)
        parts.append((fitted, cost, initial, done))
        iterations = max(iterations, its)
    return _result(sys, target, parts, real_output, iterations, length)


def _check_size(entries: int, length: int, sys: DiagonalLTI, P: int) -> None:
    if entries > MAX_JACOBIAN_ENTRIES:
        raise MemoryLimitError(
            f"finite_length_reduction: the Jacobian of one member would have {entries:.3g} entries "
            f"({8 * entries / 2**30:.3g} GiB; L = {length}, "
            f"p = {sys.p}, m = {sys.m}, {P} real parameters) > MAX_JACOBIAN_ENTRIES = {MAX_JACOBIAN_ENTRIES:.3g}; "
            "the fit is meant for channels with few inputs and outputs: reduce large MIMO systems with "
            "balanced_truncation or irka"
        )


def _result(sys: DiagonalLTI, target: np.ndarray, parts: list, real_output: bool, iterations: int, length: int):
    """Assemble the chunks into a :class:`FiniteLengthResult`."""
    batch = sys.batch_shape
    mu = np.concatenate([f.log_poles() for f, *_ in parts])
    B = np.concatenate([f.B for f, *_ in parts])
    C = np.concatenate([f.C for f, *_ in parts])
    cost, initial, done = (np.concatenate([part[i] for part in parts]) for i in (1, 2, 3))
    norm2 = np.sum((target.real if real_output else np.abs(target)) ** 2, axis=(1, 2, 3))
    safe = np.where(norm2 > 0, norm2, 1.0)
    r = mu.shape[-1]
    reduced = DiagonalLTI.from_log_poles(
        mu.reshape(batch + (r,)), B.reshape(batch + (r, sys.m)), C.reshape(batch + (sys.p, r)), sys.D, sys.dt
    )
    if not done.all():
        warnings.warn(
            AccuracyWarning(
                f"finite_length_reduction: {int((~done).sum())} of {done.size} member(s) did not converge within "
                "maxiter; their best model so far is returned"
            ),
            stacklevel=_USER,
        )
    return FiniteLengthResult(
        reduced=reduced,
        error=np.sqrt(cost / safe).reshape(batch),
        initial_error=np.sqrt(initial / safe).reshape(batch),
        converged=done.reshape(batch),
        iterations=iterations,
        length=length,
    )
