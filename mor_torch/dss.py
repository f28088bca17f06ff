"""The DSS layer (Gupta, Gu, Berant 2022): diagonal state spaces as a causal convolution.

Channel ``h`` of a layer is the continuous SISO system ``x' = diag(lambda) x + u``,
``y = Re(W x)`` with ``N`` complex modes and no conjugate partners, discretised by zero-order
hold with step ``Delta_h = exp(log_dt_h)``.  The layer computes ``y = K * u + D u`` with the
kernel of :mod:`mor_torch.kernels` (DSS_EXP or DSS_SOFTMAX).

Parameters (complex values stored as real pairs)::

    lambda_re_log  (N,) or (H, N)   exp mode:  Re(lambda) = -exp(lambda_re_log)  (stable)
    lambda_re      (N,) or (H, N)   softmax mode: Re(lambda), unconstrained
    lambda_im      (N,) or (H, N)   Im(lambda)
    W              (H, N, 2)        W = W[..., 0] + i W[..., 1]
    log_dt         (H,)             log Delta, initialised uniform in [log dt_min, log dt_max]
    D              (H,)             skip connection

The pole parameters, ``W`` and ``log_dt`` are the SSM parameters (:meth:`DSS.ssm_parameters`),
which the optimiser trains in their own group.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mor.errors import DimensionError, MethodError, NonFiniteError, UnstableSystemError

from . import kernels
from .init import INITS, init_poles

__all__ = ["DSS", "MODES"]

MODES = ("exp", "softmax")


def _complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return {torch.float32: torch.complex64, torch.float64: torch.complex128}[dtype]


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DimensionError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise MethodError(f"unknown DSS mode {mode!r}; choose 'exp' or 'softmax'")
    return mode


def _check_dtype(dtype: torch.dtype | None) -> torch.dtype:
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if dtype not in (torch.float32, torch.float64):
        raise MethodError(f"dtype must be torch.float32 or torch.float64 (the real dtype), got {dtype}")
    return dtype


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().resolve_conj().numpy()
    return np.asarray(x)


class DSS(nn.Module):
    """Diagonal state-space layer (DSS_EXP or DSS_SOFTMAX), ``(batch, L, H) -> (batch, L, H)``.

    Parameters
    ----------
    d_model : int
        Number of channels ``H``.
    d_state : int
        Number of complex modes ``N`` per channel.
    mode : {"exp", "softmax"}
        Kernel parametrisation (see :mod:`mor_torch.kernels`).
    init : {"skew-hippo", "s4d-lin", "s4d-inv", "random"}
        Pole initialisation (see :mod:`mor_torch.init`).
    shared_poles : bool
        ``True``: one set of ``N`` poles for all channels; ``False``: ``(H, N)`` poles.
    dt_min, dt_max : float
        ``log_dt`` is drawn uniformly from ``[log dt_min, log dt_max]``.
    eps : float
        Softmax mode: the ``eps`` of the safe reciprocal ``conj(x) / (|x|^2 + eps)``.
    device, dtype
        Device and real dtype (float32 or float64) of the parameters.

    Notes
    -----
    ``W`` is drawn complex standard normal (``E|W|^2 = 1``) and ``D`` standard normal, from
    torch's global generator (``torch.manual_seed`` makes layers reproducible).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int,
        *,
        mode: str = "exp",
        init: str = "skew-hippo",
        shared_poles: bool = True,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        eps: float = kernels.DEFAULT_EPS,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        H = _check_positive_int(d_model, "d_model")
        N = _check_positive_int(d_state, "d_state")
        mode = _check_mode(mode)
        dtype = _check_dtype(dtype)
        if init not in INITS:
            raise MethodError(f"unknown pole initialisation {init!r}; choose one of {sorted(INITS)}")
        if not (0 < dt_min <= dt_max and math.isfinite(dt_max)):
            raise DimensionError(f"need 0 < dt_min <= dt_max < inf, got dt_min={dt_min}, dt_max={dt_max}")
        seed = int(torch.randint(0, 2**62, (1,)).item()) if init == "random" else None
        poles = init_poles(init, N, seed)
        if not shared_poles:
            poles = np.broadcast_to(poles, (H, N))
        W = (torch.randn(H, N, 2, dtype=torch.float64) / math.sqrt(2)).numpy()
        log_dt = np.log(dt_min) + torch.rand(H, dtype=torch.float64).numpy() * (
            np.log(dt_max) - np.log(dt_min)
        )
        D = torch.randn(H, dtype=torch.float64).numpy()
        self._setup(poles, W[..., 0] + 1j * W[..., 1], log_dt, D, mode, eps, device, dtype)

    # -- construction from values --------------------------------------------------
    def _setup(self, poles, W, log_dt, D, mode, eps, device, dtype) -> None:
        poles = np.asarray(poles, dtype=np.complex128)
        W = np.asarray(W, dtype=np.complex128)
        log_dt = np.asarray(log_dt, dtype=np.float64)
        D = np.asarray(D, dtype=np.float64)
        if W.ndim != 2:
            raise DimensionError(f"W must have shape (d_model, d_state), got {W.shape}")
        H, N = W.shape
        if poles.shape not in ((N,), (H, N)):
            raise DimensionError(f"poles must have shape ({N},) or ({H}, {N}), got {poles.shape}")
        if log_dt.shape != (H,) or D.shape != (H,):
            raise DimensionError(f"log_dt and D must have shape ({H},), got {log_dt.shape} and {D.shape}")
        for name, arr in (("poles", poles), ("W", W), ("log_dt", log_dt), ("D", D)):
            if not np.all(np.isfinite(arr)):
                raise NonFiniteError(f"DSS parameter {name} contains non-finite values")
        if not (isinstance(eps, (int, float)) and eps >= 0):
            raise DimensionError(f"eps must be a non-negative number, got {eps!r}")
        self.d_model, self.d_state, self.mode = H, N, mode
        self.shared_poles = poles.ndim == 1
        self.eps = float(eps)

        def param(x: np.ndarray) -> nn.Parameter:
            return nn.Parameter(torch.tensor(np.ascontiguousarray(x), dtype=dtype, device=device))

        if mode == "exp":
            if np.any(poles.real >= 0):
                bad = np.argwhere(poles.real >= 0)[0]
                raise UnstableSystemError(
                    f"DSS_EXP needs Re(lambda) < 0 (lambda = -exp(lambda_re_log) + i lambda_im); pole "
                    f"{tuple(int(i) for i in bad)} is {poles[tuple(bad)]:.6g}; use mode='softmax'",
                    poles=poles[poles.real >= 0],
                    index=[tuple(int(i) for i in b) for b in np.argwhere(poles.real >= 0)],
                )
            self.lambda_re_log = param(np.log(-poles.real))
        else:
            self.lambda_re = param(poles.real)
        self.lambda_im = param(poles.imag)
        self.W = param(np.stack([W.real, W.imag], axis=-1))
        self.log_dt = param(log_dt)
        self.D = param(D)

    @classmethod
    def from_parameters(
        cls,
        poles: Any,
        W: Any,
        log_dt: Any,
        D: Any = None,
        *,
        mode: str = "exp",
        eps: float = kernels.DEFAULT_EPS,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ) -> DSS:
        """Build a layer from parameter values.

        Parameters
        ----------
        poles : (N,) or (H, N) complex array_like
            ``lambda``; ``(N,)`` gives a shared-pole layer, ``(H, N)`` per-channel poles.
            DSS_EXP needs ``Re(lambda) < 0`` (:class:`~mor.errors.UnstableSystemError` otherwise).
        W : (H, N) complex array_like
        log_dt : (H,) real array_like
        D : (H,) real array_like, optional
            Zero when omitted.
        mode, eps, device, dtype
            As for :class:`DSS`.
        """
        mode = _check_mode(mode)
        dtype = _check_dtype(dtype)
        W = _to_numpy(W)
        if W.ndim != 2:
            raise DimensionError(f"W must have shape (d_model, d_state), got {W.shape}")
        D = np.zeros(W.shape[0]) if D is None else _to_numpy(D)
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._setup(_to_numpy(poles), W, _to_numpy(log_dt), D, mode, eps, device, dtype)
        return self

    # -- parameter views -------------------------------------------------------------
    def poles(self) -> Tensor:
        """``lambda``, complex ``(N,)`` (shared) or ``(H, N)``."""
        re = -torch.exp(self.lambda_re_log) if self.mode == "exp" else self.lambda_re
        return torch.complex(re, self.lambda_im)

    def weights(self) -> Tensor:
        """``W``, complex ``(H, N)``."""
        return torch.view_as_complex(self.W)

    def delta(self) -> Tensor:
        """Steps ``Delta = exp(log_dt)``, real ``(H,)``."""
        return torch.exp(self.log_dt)

    def ssm_parameters(self) -> list[nn.Parameter]:
        """Pole parameters, ``W`` and ``log_dt`` (optimised with lr 1e-3, no weight decay)."""
        re = self.lambda_re_log if self.mode == "exp" else self.lambda_re
        return [re, self.lambda_im, self.W, self.log_dt]

    # -- computation ---------------------------------------------------------------------
    def kernel(self, length: int, *, method: str = "fast") -> Tensor:
        """Convolution kernel ``K``, real ``(H, L)``.

        Parameters
        ----------
        length : int
            Kernel length ``L`` (the sequence length).
        method : {"fast", "naive"}
            ``"fast"``: chunked powers (default); ``"naive"``: the ``(H, N, L)``
            complex-exponential reference.

        Returns
        -------
        K : (H, L) Tensor, real
        """
        length = _check_positive_int(length, "length")
        if method not in ("fast", "naive"):
            raise MethodError(f"unknown kernel method {method!r}; choose 'fast' or 'naive'")
        p, W, dt = self.poles(), self.weights(), self.delta()
        if self.mode == "exp":
            fn = kernels.kernel_exp if method == "fast" else kernels.kernel_exp_naive
            return fn(p, W, dt, length)
        fn = kernels.kernel_softmax if method == "fast" else kernels.kernel_softmax_naive
        return fn(p, W, dt, length, self.eps)

    def forward(self, u: Tensor) -> Tensor:
        """``y = K * u + D u`` (causal convolution by FFT, zero-padded to ``2L``).

        Parameters
        ----------
        u : (batch, L, H) Tensor
            Input sequences.

        Returns
        -------
        y : (batch, L, H) Tensor
        """
        if u.ndim != 3 or u.shape[-1] != self.d_model:
            raise DimensionError(
                f"DSS input must have shape (batch, length, {self.d_model}), got {tuple(u.shape)}"
            )
        K = self.kernel(u.shape[-2])
        return kernels.causal_conv(u, K.to(u.dtype)) + u * self.D.to(u.dtype)

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, d_state={self.d_state}, mode={self.mode!r}, "
            f"shared_poles={self.shared_poles}"
        )
