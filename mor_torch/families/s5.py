"""The S5 family (Smith, Warrington, Linderman, ICLR 2023, "Simplified state space layers for sequence
modeling"): one continuous diagonal MIMO system per layer, discretised per state.

Recognised parameters (the authors' names; aliases of the widely used PyTorch ports in brackets)::

    Lambda_re, Lambda_im  (P,)          Lambda = Lambda_re + i Lambda_im  [Lambda: one complex (P,)]
    B                     (P, H)        complex, stored as real pairs (P, H, 2) or complex
    C                     (H, P)        complex, stored as real pairs (H, P, 2) or complex
    D                     (H,)          skip per channel
    log_step              (P,) or (P, 1)  Delta_p = exp(log_step_p) (times ``step_rescale``, if set)

Module attributes read: ``discretization`` (``"zoh"`` or ``"bilinear"``; else the name of a
``discretize`` function attribute containing ``zoh`` or ``bilinear``; default ``"zoh"``), ``conj_sym``
(conjugate symmetry: ``P`` stored modes of ``2P`` and ``y = 2 Re(C x)``; default ``False``, ``y =
Re(C x)``), ``step_rescale`` (default 1), ``clip_eigs`` (``Re(Lambda)`` used as
``min(Lambda_re, -1e-4)``; default ``False``).  ``bidir``, ``liquid`` or ``degree != 1`` variants are
refused (:class:`~mor_torch.errors.LayerConversionError`).

Discretisation (paper, section 2 and appendix)::

    ZOH:       Lambda_bar = exp(Lambda Delta),  B_bar = (Lambda_bar - 1) / Lambda * B
    bilinear:  Lambda_bar = (1 + Lambda Delta / 2) / (1 - Lambda Delta / 2),  B_bar = Delta / (1 - Lambda Delta / 2) B
    x_k = Lambda_bar x_{k-1} + B_bar u_k,   y_k = Re(C~ x_k) + D u_k,   C~ = 2 C (conj_sym) or C

As a ``mor`` system: ``(diag(Lambda_bar), B_bar, C~, diag(D))``, ``dt = 1``, in the shifted convention
of :mod:`mor_torch.families.base`, reduced as one MIMO system (one bound for the layer; for
``conj_sym`` the bound of the complex system with ``C~ = 2 C`` bounds the real output, ``4 sum`` of the
system with the stored ``C``).  Written back: each reduced mode takes the step ``Delta`` of the
original mode nearest to it in the ``z``-plane (exact for any step: ``Lambda = log(z) / Delta`` for
ZOH, ``Lambda = 2 tanh(log(z) / 2) / Delta`` for bilinear), ``B`` from ``B_bar``, ``C = C~ / 2`` or
``C~``.
"""

from __future__ import annotations

import copy

import numpy as np
from torch import nn

from mor import DiagonalLTI
from mor.errors import DimensionError
from mor.systems.discretize import expm1_ratio

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
from .lru import skip_update

__all__ = ["CLIP", "DISCRETIZATIONS", "S5Family", "discretization"]

#: The two discretisations of S5.
DISCRETIZATIONS = ("zoh", "bilinear")
#: With ``clip_eigs``, S5 uses ``min(Lambda_re, -CLIP)``.
CLIP = 1e-4


def discretization(module: nn.Module) -> str:
    """``"zoh"`` or ``"bilinear"`` from the module's attributes (see the module docstring).

    Parameters
    ----------
    module : nn.Module
        An S5 layer.

    Returns
    -------
    str
    """
    value = getattr(module, "discretization", None)
    if value is None:
        fn = getattr(module, "discretize", None)
        fn_name = getattr(fn, "__name__", "") if fn is not None else ""
        value = "bilinear" if "bilinear" in fn_name else "zoh"
    if value not in DISCRETIZATIONS:
        raise LayerConversionError(f"S5 discretization must be one of {DISCRETIZATIONS}, got {value!r}")
    return value


def _poles(module: nn.Module) -> np.ndarray:
    params = own_parameters(module)
    if "Lambda_re" in params and "Lambda_im" in params:
        re, im = real_parameter(module, "Lambda_re"), real_parameter(module, "Lambda_im")
        if re.ndim != 1 or re.shape != im.shape:
            raise LayerConversionError(
                f"S5 Lambda_re and Lambda_im must have one shape (P,) (a diagonal A), got {re.shape}, {im.shape}"
            )
        return re + 1j * im
    shape = tuple(params["Lambda"].shape)
    if shape[:1] != shape or not params["Lambda"].is_complex():
        if not (len(shape) == 2 and shape[1] == 2 and not params["Lambda"].is_complex()):
            raise LayerConversionError(
                f"S5 Lambda must be complex (P,) or real pairs (P, 2) (a diagonal A), got {shape}"
            )
    return complex_parameter(module, "Lambda", 1)


class S5Family(Family):
    """S5 layers (see the module docstring)."""

    name = "s5"
    layout = "mimo"
    gramians = ("discrete", "finite")
    signature = ("Lambda_re", "Lambda_im", "B", "C", "D", "log_step")

    def matches(self, module: nn.Module) -> bool:
        params = set(own_parameters(module))
        return {"B", "C", "D", "log_step"} <= params and ({"Lambda_re", "Lambda_im"} <= params or "Lambda" in params)

    def _parts(self, module: nn.Module):
        """``Lambda (P,)``, ``Delta (P,)``, ``B (P, H)``, ``C~ (H, P)``, ``D (H,)``."""
        for flag, ok in (("bidir", False), ("liquid", False), ("degree", 1)):
            if getattr(module, flag, ok) != ok:
                raise LayerConversionError(f"S5 variant {flag}={getattr(module, flag)!r} is not a linear diagonal "
                                           "system of the input; not supported")  # fmt: skip
        lam = _poles(module)
        if getattr(module, "clip_eigs", False):  # S5's option: Re(Lambda) clipped to at most -1e-4
            lam = np.minimum(lam.real, -CLIP) + 1j * lam.imag
        P = lam.shape[0]
        step = real_parameter(module, "log_step")
        if step.shape not in ((P,), (P, 1)):
            raise DimensionError(f"S5 log_step must have shape ({P},) or ({P}, 1), got {step.shape}")
        step = np.exp(step.reshape(P)) * float(getattr(module, "step_rescale", 1.0))
        B, C = complex_parameter(module, "B", 2), complex_parameter(module, "C", 2)
        D = real_parameter(module, "D")
        H = D.shape[0] if D.ndim == 1 else -1
        if B.shape != (P, H) or C.shape != (H, P):
            raise DimensionError(
                f"S5 needs B (P, H), C (H, P), D (H,) with P = {P}; got {B.shape}, {C.shape}, {D.shape}"
            )
        return lam, step, B, (2 if getattr(module, "conj_sym", False) else 1) * C, D

    def state_size(self, module: nn.Module) -> int:
        return _poles(module).shape[0]

    def describe(self, module: nn.Module) -> tuple[str, bool]:
        return discretization(module), True

    def to_lti(self, module: nn.Module, *, time: str = "discrete", length: int | None = None) -> DiagonalLTI:
        self.check_time(time)
        lam, step, B, C, D = self._parts(module)
        if discretization(module) == "zoh":
            mu, Bbar = lam * step, expm1_ratio(lam, step)[:, None] * B
        else:
            half = lam * step / 2
            mu, Bbar = np.log1p(half) - np.log1p(-half), (step / (1 - half))[:, None] * B
        return DiagonalLTI.from_log_poles(mu, Bbar, C, np.diag(D), dt=1.0)

    def rebuild(self, module: nn.Module, system: DiagonalLTI, skip: np.ndarray, *, length: int | None,
                name: str) -> nn.Module:  # fmt: skip
        mu = system.log_poles
        check_log_poles(mu, name, "an S5 layer (a stable continuous Lambda)", "mimo")
        lam0, step0, _, _, D = self._parts(module)
        old = self.to_lti(module, time="discrete").poles
        nearest = np.argmin(np.abs(np.exp(mu)[:, None] - old[None, :]), axis=1) if mu.size else np.zeros(0, int)
        step = step0[nearest]
        if discretization(module) == "zoh":
            lam = mu / step
            B = system.B / expm1_ratio(lam, step)[:, None]
        else:
            t = np.tanh(mu / 2)
            if not np.all(np.isfinite(t)) or np.any(t == 1):
                raise LayerConversionError(f"layer {name!r}: a reduced pole at z = -1 has no bilinear preimage")
            lam, B = 2 * t / step, system.B * ((1 - t) / step)[:, None]
        if getattr(module, "clip_eigs", False) and np.any(lam.real > -CLIP):
            raise LayerConversionError(
                f"layer {name!r}: a reduced pole has Re(Lambda) = {lam.real.max():.3g} > -{CLIP:g}, which this S5 "
                "layer's clip_eigs would move; lower the order or set clip_eigs = False"
            )
        C = system.C / (2 if getattr(module, "conj_sym", False) else 1)
        params = own_parameters(module)
        log_step = np.log(step / float(getattr(module, "step_rescale", 1.0))).reshape(
            (-1,) + params["log_step"].shape[1:]
        )
        values = {"B": B, "C": C, "D": skip_update(D, skip, name, "S5"), "log_step": log_step}
        values.update({"Lambda_re": lam.real, "Lambda_im": lam.imag} if "Lambda_re" in params else {"Lambda": lam})
        new = copy.deepcopy(module)
        replace_parameters(new, values)
        update_size_attributes(new, lam0.shape[0], system.n)
        return new
