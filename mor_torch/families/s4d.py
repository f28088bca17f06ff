"""The S4D family (Gu, Gupta, Goel, Re 2022, "On the parameterization and initialization of diagonal state
space models"): ``H`` SISO channels of ``N/2`` stored complex modes, conjugate pairs, zero-order hold.

Recognised parameters (the names of the authors' ``S4D`` module; its kernel in a direct child module,
``kernel`` there, or all on the module itself)::

    D           (H,)               skip, on the layer module
    log_dt      (H,)               Delta_h = exp(log_dt_h)
    C           (H, N/2) complex   stored complex or as view_as_real pairs (H, N/2, 2)
    log_A_real  (H, N/2)           Re A = -exp(log_A_real)
    A_imag      (H, N/2)           Im A

Kernel (paper, eq. for the ZOH-discretised diagonal SSM with conjugate pairs)::

    A = -exp(log_A_real) + i A_imag,   dtA = A Delta
    K_l = 2 Re sum_n C_n (exp(dtA_n) - 1) / A_n exp(dtA_n l),   y = K * u + D u

As a ``mor`` system this is a DSS_EXP layer with per-channel poles and ``W = 2 C``: channel ``h`` is
``(diag(A_h), 1, 2 C_h, D_h)`` (continuous) or its zero-order hold ``(diag(exp(dtA)), expm1(dtA)/A,
2 C_h, D_h)`` (discrete).  A reduced channel is written back as ``N/2 -> r`` stored modes with ``C = W/2``
(the reduced complex system, then ``2 Re``), so the reduced model stays an S4D model; ``log_dt`` is kept.
The bound ``2 sum(hsv[r:])`` of the complex system with ``C_mor = 2 C`` bounds the real output's
error (``||Re E||_inf <= ||E||_inf``); in terms of the system with the stored ``C`` it is ``4 sum``.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from mor import DiagonalLTI
from mor.errors import DimensionError, UnstableSystemError
from mor.systems.discretize import expm1_ratio

from .._tensors import to_numpy
from ..convert import from_lti
from ..dss import DSS
from .base import (
    Family,
    complex_parameter,
    holder,
    own_parameters,
    real_parameter,
    replace_parameters,
    unstable_reduction,
    update_size_attributes,
)

__all__ = ["KERNEL_PARAMETERS", "S4DFamily"]

#: The parameters of the S4D kernel (module or direct child).
KERNEL_PARAMETERS = ("log_dt", "C", "log_A_real", "A_imag")


class S4DFamily(Family):
    """S4D layers (see the module docstring)."""

    name = "s4d"
    layout = "channel"
    gramians = ("discrete", "continuous", "finite")
    signature = (*KERNEL_PARAMETERS, "D")

    def matches(self, module: nn.Module) -> bool:
        return not isinstance(module, DSS) and "D" in own_parameters(module) and holder(
            module, KERNEL_PARAMETERS) is not None  # fmt: skip

    def _parts(self, module: nn.Module) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``A (H, N/2)``, ``C (H, N/2)``, ``Delta (H,)``, ``D (H,)`` in float64 / complex128."""
        kernel = holder(module, KERNEL_PARAMETERS)
        D = real_parameter(module, "D")
        if D.ndim != 1:
            raise DimensionError(f"S4D parameter 'D' must have shape (H,), got {D.shape}")
        H = D.shape[0]
        C = complex_parameter(kernel, "C", 2)
        if C.shape[0] != H:
            raise DimensionError(f"S4D parameter 'C' must have shape ({H}, N/2), got {C.shape}")
        log_dt = real_parameter(kernel, "log_dt", (H,))
        A = -np.exp(real_parameter(kernel, "log_A_real", C.shape)) + 1j * real_parameter(kernel, "A_imag", C.shape)
        return A, C, np.exp(log_dt), D

    def state_size(self, module: nn.Module) -> int:
        return self._parts(module)[1].shape[1]

    def describe(self, module: nn.Module) -> tuple[str, bool]:
        return "zoh", False

    def to_lti(self, module: nn.Module, *, time: str = "continuous", length: int | None = None) -> DiagonalLTI:
        A, C, step, D = self._parts(module)
        H, n = C.shape
        W, Dm = 2 * C[:, None, :], D[:, None, None]
        if self.check_time(time) == "continuous":
            return DiagonalLTI(A, np.ones((H, n, 1)), W, Dm)
        return DiagonalLTI.from_log_poles(A * step[:, None], expm1_ratio(A, step[:, None])[..., None], W, Dm, dt=1.0)

    def rebuild(self, module: nn.Module, system: DiagonalLTI, skip: np.ndarray, *, length: int | None,
                name: str) -> nn.Module:  # fmt: skip
        kernel = holder(module, KERNEL_PARAMETERS)
        log_dt = real_parameter(kernel, "log_dt")
        D = real_parameter(module, "D") + skip
        try:  # the exact system -> (A, W) map of a DSS_EXP layer with per-channel poles, in float64
            dss = from_lti(system, mode="exp", log_step=log_dt, D=D, shared_poles=False, dtype=torch.float64)
        except UnstableSystemError as exc:
            remedy = "lower the order or use gramians='discrete'"
            raise unstable_reduction(exc, name, "S4D (Re A = -exp(log_A_real))", remedy) from exc
        old = self.state_size(module)
        new = copy.deepcopy(module)
        new_kernel = holder(new, KERNEL_PARAMETERS)
        replace_parameters(new_kernel, {
            "C": to_numpy(dss.weights()) / 2,
            "log_A_real": to_numpy(dss.lambda_re_log),
            "A_imag": to_numpy(dss.lambda_im),
        })  # fmt: skip
        replace_parameters(new, {"D": D})
        for m in {id(new): new, id(new_kernel): new_kernel}.values():
            update_size_attributes(m, old, dss.d_state)
        return new
