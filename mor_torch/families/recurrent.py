"""Streaming (token by token) form of any supported layer: the discrete diagonal recurrence it computes.

Protocol (the same for every streaming layer of :mod:`mor_torch`)::

    state = layer.initial_state(batch_size)      # Tensor
    y_t, state = layer.step(u_t, state)          # u_t, y_t: (batch, H)

:func:`recurrent` builds it from a layer's current parameters, discretised once (in float64, then cast
to the layer's real dtype), through the layer's family: the ``mor`` system of
:func:`mor_torch.to_lti` (``time="discrete"``), ``x_{k+1} = z x_k + Bbar u_k``,
``y_k = Re(C x_{k+1}) + D u_k``.  The complex state is kept as real and imaginary parts (real
arithmetic only, so the module also runs where complex tensors are not supported):

* channel layout (DSS, S4D): state ``(batch, 2, H, N)``, ``x = z * x + Bbar * u``, ``y = Re(sum_n C x) + D u``;
* MIMO layout (LRU, S5): state ``(batch, 2, N)``, ``x = z * x + Bbar u``, ``y = Re(C x) + D u``.

A step costs ``O(H N)`` (channel) or ``O(N H)`` (MIMO) multiply-adds: the state size a reduction removes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mor import DiagonalLTI
from mor.errors import DimensionError

from .registry import family_of

__all__ = ["DiagonalRecurrence", "recurrent"]


class DiagonalRecurrence(nn.Module):
    """The recurrence of a discrete diagonal system whose real output part is the layer output.

    Parameters
    ----------
    system : DiagonalLTI
        Discrete; batch ``(H,)`` of SISO systems (channel layout) or unbatched MIMO.
    dtype : torch.dtype
        Real dtype of the buffers and the state.
    device : torch.device, optional
    """

    def __init__(self, system: DiagonalLTI, dtype: torch.dtype = torch.float32, device: Any = None):
        super().__init__()
        if system.dt is None:
            raise DimensionError("a recurrence needs a discrete system (to_lti(layer, time='discrete'))")
        self.channels = system.batch_shape != ()
        if self.channels:
            b, c, d = system.B[..., 0], system.C[:, 0, :], np.real(system.D[:, 0, 0])
        else:
            b, c, d = system.B.T, system.C.T, np.real(system.D).T  # (m, N), (N, p), (m, p): right-multiplied
        z = np.broadcast_to(np.exp(system.log_poles), b.shape if self.channels else b.shape[1:])

        def buf(name: str, x: np.ndarray) -> None:
            self.register_buffer(name, torch.tensor(np.ascontiguousarray(x), dtype=dtype, device=device))

        for name, x in (("z", z), ("b", b), ("c", c)):
            buf(f"{name}_re", x.real)
            buf(f"{name}_im", x.imag)
        buf("d", d)
        self.state_shape = (2, *z.shape)

    def initial_state(self, batch_size: int) -> Tensor:
        """Zero state, ``(batch, 2, H, N)`` (channel layout) or ``(batch, 2, N)`` (MIMO): real, imaginary.

        Parameters
        ----------
        batch_size : int
            Number of sequences streamed together.

        Returns
        -------
        Tensor
            Of the recurrence's dtype and device.
        """
        return torch.zeros((batch_size, *self.state_shape), dtype=self.d.dtype, device=self.d.device)

    def step(self, u: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One token: ``x <- z x + Bbar u``, ``y = Re(C x) + D u``.

        Parameters
        ----------
        u : (batch, H_in) Tensor
            The token.
        state : Tensor
            From :meth:`initial_state` or the previous step.

        Returns
        -------
        y : (batch, H_out) Tensor
        state : Tensor
            The new state.
        """
        xr, xi = state[:, 0], state[:, 1]
        if self.channels:
            bu = u[..., None]
            nr = self.z_re * xr - self.z_im * xi + self.b_re * bu
            ni = self.z_re * xi + self.z_im * xr + self.b_im * bu
            y = (self.c_re * nr - self.c_im * ni).sum(-1) + self.d * u
        else:
            nr = self.z_re * xr - self.z_im * xi + u @ self.b_re
            ni = self.z_re * xi + self.z_im * xr + u @ self.b_im
            y = nr @ self.c_re - ni @ self.c_im + u @ self.d
        return y, torch.stack((nr, ni), dim=1)

    def forward(self, u: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """A whole sequence, step by step.

        Parameters
        ----------
        u : (batch, L, H_in) Tensor
        state : Tensor, optional
            Initial state; zero by default.

        Returns
        -------
        y : (batch, L, H_out) Tensor
        state : Tensor
            The state after the last token.
        """
        state = self.initial_state(u.shape[0]) if state is None else state
        ys = []
        for t in range(u.shape[1]):
            y, state = self.step(u[:, t], state)
            ys.append(y)
        return torch.stack(ys, dim=1), state


def recurrent(module: nn.Module, *, length: int | None = None) -> DiagonalRecurrence:
    """The streaming form of a layer of any supported family (see the module docstring).

    Parameters
    ----------
    module : nn.Module
        A DSS, S4D, LRU or S5 layer (:func:`mor_torch.families.family_of`).
    length : int, optional
        Kernel length; required for DSS_SOFTMAX (whose kernel depends on it).

    Returns
    -------
    DiagonalRecurrence
        With ``initial_state(batch_size)`` and ``step(u_t, state) -> (y_t, state)``; buffers of the
        layer's real dtype and device.  It is a snapshot: later changes of the layer's parameters are
        not seen.  It is the layer's linear state-space map (kernel and skip ``D``); what a module
        does around it (the authors' ``S4D`` module's activation and output linear, for instance) is
        not part of it and runs on each token as it is.
    """
    family = family_of(module, "recurrent")
    ref = next(iter(module.parameters()))
    dtype = ref.real.dtype if ref.is_complex() else ref.dtype
    return DiagonalRecurrence(family.to_lti(module, time="discrete", length=length), dtype=dtype, device=ref.device)
