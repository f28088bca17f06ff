"""The DSS family: :class:`mor_torch.DSS` layers (this package's own), through the family seam.

Conversion is :func:`mor_torch.convert.dss_to_lti` and :func:`mor_torch.from_lti` (DSS Proposition 1).
A DSS layer has ``H`` SISO channels, ``N`` complex modes each, ``y = Re(W x)``; besides
``structure="channel"`` it can be reduced as one single-input, ``H``-output system
(``structure="shared"``, shared-pole layers), and it supports all three Gramians.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from mor import DiagonalLTI, check_stable
from mor.errors import ArgumentConflictError, UnstableSystemError

from .._tensors import to_numpy
from ..convert import dss_to_lti, from_lti
from ..dss import DSS
from ..errors import LayerUnstableError
from .base import Family, unstable_reduction

__all__ = ["DSSFamily"]


class DSSFamily(Family):
    """:class:`mor_torch.DSS` layers (recognised by class)."""

    name = "dss"
    layout = "channel"
    gramians = ("discrete", "continuous", "finite")
    signature = ("lambda_im", "W", "log_step", "D")

    def matches(self, module: nn.Module) -> bool:
        return isinstance(module, DSS)

    def to_lti(self, module: DSS, *, time: str = "continuous", length: int | None = None) -> DiagonalLTI:
        return dss_to_lti(module, time=time, length=length)

    def state_size(self, module: DSS) -> int:
        return module.d_state

    def describe(self, module: DSS) -> tuple[str, bool]:
        return module.mode, module.shared_poles

    def check_stable(self, module: DSS, name: str, gramians: str) -> None:
        lam = to_numpy(module.poles()).astype(np.complex128)
        ones = np.ones(lam.shape + (1,))
        try:
            check_stable(DiagonalLTI(lam, ones, np.swapaxes(ones, -1, -2)), f"{gramians} Gramians (infinite horizon)")
        except UnstableSystemError as exc:
            first = exc.index[0]
            channel, mode = (None, first[0]) if module.shared_poles else first
            where = "every channel (shared poles)" if channel is None else f"channel {channel}"
            raise LayerUnstableError(
                f"layer {name!r}: {where}, mode {mode}: lambda = {lam[first]:.6g} has Re(lambda) >= 0 "
                f"({len(exc.index)} growing mode(s) in total); {gramians} Gramians (infinite horizon) need a "
                "stable layer: use gramians='finite' (time-limited over the kernel length)",
                layer=name, channel=channel, mode=mode, poles=exc.poles, index=exc.index,
            ) from None  # fmt: skip

    def reduction_system(self, module: DSS, gramians: str, structure: str, length: int | None,
                         name: str) -> DiagonalLTI:  # fmt: skip
        time = "continuous" if gramians == "continuous" else "discrete"
        if structure == "channel":
            return dss_to_lti(module, time=time, length=length)
        return _shared_system(module, time, gramians, length, name)

    def rebuild(self, module: DSS, system: DiagonalLTI, skip: np.ndarray, *, length: int | None,
                name: str) -> DSS:  # fmt: skip
        D = to_numpy(module.D).astype(np.float64) + skip if np.any(skip) else None
        try:
            new = from_lti(system, mode=module.mode, length=length, template=module, D=D)
        except UnstableSystemError as exc:
            remedy = "lower the order, use gramians='discrete' or a softmax layer"
            raise unstable_reduction(exc, name, "DSS_EXP", remedy) from exc
        old = dict(module.named_parameters())
        for pname, p in new.named_parameters():
            if pname in old:
                p.requires_grad_(old[pname].requires_grad)
        return new.train(module.training)


def _shared_system(layer: DSS, time: str, gramians: str, length: int | None, name: str) -> DiagonalLTI:
    """The layer as one single-input, ``H``-output system (``structure="shared"``)."""
    if not layer.shared_poles:
        raise ArgumentConflictError(
            f"layer {name!r}: structure='shared' needs a shared-pole layer (this one has per-channel poles)"
        )
    sys = dss_to_lti(layer, time=time, length=length)
    H = layer.d_model
    if time == "discrete":
        step = to_numpy(layer.delta())
        if not np.all(step == step[0]):
            raise ArgumentConflictError(
                f"layer {name!r}: structure='shared' with {gramians!r} Gramians needs one step Delta for "
                "all channels (different steps give different discrete poles); use gramians='continuous' "
                "or structure='channel'"
            )
        return DiagonalLTI.from_log_poles(sys.log_poles[0], sys.B[0], sys.C[:, 0, :], np.zeros((H, 1)), dt=1.0)
    return DiagonalLTI(sys.poles[0], sys.B[0], sys.C[:, 0, :], np.zeros((H, 1)))
