"""The LRU family (Orvieto et al., ICML 2023, "Resurrecting recurrent neural networks for long sequences"):
one discrete diagonal MIMO system per layer.

Recognised parameters (the paper's names; aliases of the widely used PyTorch ports in brackets)::

    nu_log, theta_log  (N,)       lambda = exp(-exp(nu_log) + i exp(theta_log))
    gamma_log          (N,)       gamma = exp(gamma_log)  (optional: gamma = 1 without it)
    B_re, B_im         (N, H_in)  B = B_re + i B_im       [B: one complex (N, H_in) parameter]
    C_re, C_im         (H_out, N) C = C_re + i C_im       [C: one complex (H_out, N) parameter]
    D                  (H,)       skip per channel (the paper's ``D * u``, H_in = H_out = H)
                                  [(H_out, H_in): a full skip matrix, ``D @ u``, as in ports for
                                  system identification]

Recurrence (paper, eq. 7 and appendix A)::

    x_k = lambda x_{k-1} + gamma (B u_k),   y_k = Re(C x_k) + D u_k

As a ``mor`` system: ``(diag(lambda), diag(gamma) B, C, D)`` with ``dt = 1`` in the shifted convention
of :mod:`mor_torch.families.base` (``x_k`` is the ``mor`` state after input ``k``).  No conjugate pairs:
the layer takes ``Re``.  The reduction is of the whole MIMO system (one bound for the layer).  Written
back: ``nu_log = log(-log|lambda|)``, ``theta_log = log(theta)`` with ``theta`` the angle of ``lambda``
in ``(0, 2 pi]``, ``gamma = sqrt(1 - |lambda|^2)`` (the paper's normalisation) and ``B = B_r / gamma``.
"""

from __future__ import annotations

import copy

import numpy as np
from torch import nn

from mor import DiagonalLTI
from mor.errors import ArgumentConflictError, DimensionError

from ..errors import LayerConversionError
from .base import (
    Family,
    check_log_poles,
    complex_parameter,
    own_parameters,
    real_parameter,
    replace_parameters,
    update_size_attributes,
)

__all__ = ["LRUFamily"]


def _pair_or_complex(module: nn.Module, name: str) -> tuple[str, ...] | None:
    """``(name_re, name_im)`` or ``(name,)`` -- how the module stores a complex matrix -- or ``None``."""
    params = own_parameters(module)
    if f"{name}_re" in params and f"{name}_im" in params:
        return (f"{name}_re", f"{name}_im")
    return (name,) if name in params else None


def _matrix(module: nn.Module, name: str) -> np.ndarray:
    names = _pair_or_complex(module, name)
    if names is None:
        raise LayerConversionError(f"LRU parameter {name!r} (or {name}_re, {name}_im) is missing")
    if len(names) == 2:
        re, im = (real_parameter(module, n) for n in names)
        if re.shape != im.shape or re.ndim != 2:
            raise DimensionError(
                f"LRU parameters {names} must be two matrices of one shape, got {re.shape}, {im.shape}"
            )
        return re + 1j * im
    return complex_parameter(module, name, 2)


def skip_update(D: np.ndarray, skip: np.ndarray, name: str, family: str) -> np.ndarray:
    """``D + skip`` for a diagonal ``D (H,)`` or a full ``D (p, m)``.

    Parameters
    ----------
    D : (H,) or (p, m) ndarray
        The layer's skip.
    skip : (p, m) ndarray
        The correction.
    name, family : str
        The layer's name and family, for the error.

    Returns
    -------
    ndarray
        Of ``D``'s shape.

    Raises
    ------
    ArgumentConflictError
        A diagonal ``D`` cannot take a correction with off-diagonal entries (balanced singular
        perturbation of a MIMO layer).
    """
    if D.ndim == 2:
        return D + skip
    off = skip - np.diag(np.diag(skip))
    if np.any(off != 0):
        raise ArgumentConflictError(
            f"layer {name!r}: reducer='bsp' moves the DC gain of the removed states into the feedthrough, a full "
            f"{skip.shape[0]} x {skip.shape[1]} matrix here (largest off-diagonal entry {np.abs(off).max():.3g}), but "
            f"this {family} layer's skip D is diagonal (H,); use reducer='bt', 'modal' or 'h2'"
        )
    return D + np.diag(skip)


class LRUFamily(Family):
    """LRU layers (see the module docstring)."""

    name = "lru"
    layout = "mimo"
    gramians = ("discrete", "finite")
    signature = ("nu_log", "theta_log", "gamma_log", "B_re", "B_im", "C_re", "C_im", "D")

    def matches(self, module: nn.Module) -> bool:
        params = own_parameters(module)
        return {"nu_log", "theta_log", "D"} <= set(params) and all(
            _pair_or_complex(module, n) is not None for n in ("B", "C"))  # fmt: skip

    def _parts(self, module: nn.Module):
        """``mu = log lambda (N,)``, ``gamma (N,)``, ``B (N, m)``, ``C (p, N)``, ``D`` as stored."""
        nu = real_parameter(module, "nu_log")
        if nu.ndim != 1:
            raise LayerConversionError(f"LRU parameter 'nu_log' must have shape (N,) (a diagonal A), got {nu.shape}")
        N = nu.shape[0]
        mu = -np.exp(nu) + 1j * np.exp(real_parameter(module, "theta_log", (N,)))
        has_gamma = "gamma_log" in own_parameters(module)
        gamma = np.exp(real_parameter(module, "gamma_log", (N,))) if has_gamma else np.ones(N)
        B, C = _matrix(module, "B"), _matrix(module, "C")
        if B.shape[0] != N or C.shape[1] != N:
            raise DimensionError(f"LRU B must be (N, H_in) and C (H_out, N) with N = {N}, got {B.shape}, {C.shape}")
        D = real_parameter(module, "D")
        if D.shape not in ((C.shape[0], B.shape[1]),) and not (D.ndim == 1 and D.shape[0] == B.shape[1] == C.shape[0]):
            raise DimensionError(f"LRU D must be (H,) or (H_out, H_in) = {(C.shape[0], B.shape[1])}, got {D.shape}")
        return mu, gamma, B, C, D

    def state_size(self, module: nn.Module) -> int:
        return own_parameters(module)["nu_log"].shape[0]

    def describe(self, module: nn.Module) -> tuple[str, bool]:
        return "discrete", True

    def to_lti(self, module: nn.Module, *, time: str = "discrete", length: int | None = None) -> DiagonalLTI:
        self.check_time(time)
        mu, gamma, B, C, D = self._parts(module)
        return DiagonalLTI.from_log_poles(mu, gamma[:, None] * B, C, np.diag(D) if D.ndim == 1 else D, dt=1.0)

    def rebuild(self, module: nn.Module, system: DiagonalLTI, skip: np.ndarray, *, length: int | None,
                name: str) -> nn.Module:  # fmt: skip
        mu = system.log_poles
        check_log_poles(mu, name, "an LRU layer (|lambda| = exp(-exp(nu_log)) < 1)", "mimo")
        D = skip_update(self._parts(module)[4], skip, name, "LRU")
        theta = np.where(mu.imag > 0, mu.imag, mu.imag + 2 * np.pi)  # the angle in (0, 2 pi]
        values = {"nu_log": np.log(-mu.real), "theta_log": np.log(theta), "D": D}
        B = system.B
        if "gamma_log" in own_parameters(module):
            gamma = np.sqrt(-np.expm1(2 * mu.real))  # sqrt(1 - |lambda|^2)
            values["gamma_log"] = np.log(gamma)
            B = B / gamma[:, None]
        for mat, name_ in ((B, "B"), (system.C, "C")):
            names = _pair_or_complex(module, name_)
            values.update({names[0]: mat.real, names[1]: mat.imag} if len(names) == 2 else {name_: mat})
        old = self.state_size(module)
        new = copy.deepcopy(module)
        replace_parameters(new, values)
        update_size_attributes(new, old, system.n)
        return new
