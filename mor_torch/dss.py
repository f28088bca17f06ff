"""The DSS layer (Gupta, Gu, Berant 2022): diagonal state spaces as a causal convolution.

Channel ``h`` of a layer is the continuous SISO system ``x' = diag(lambda) x + u``,
``y = Re(W x)`` with ``N`` complex modes and no conjugate partners, discretised by zero-order
hold with the channel's step ``Delta_h = exp(log_step_h)``.  The layer computes
``y = K * u + D u`` with the kernel of :mod:`mor_torch.kernels` (DSS_EXP or DSS_SOFTMAX).

Names: ``step`` (``Delta``) is a layer's per-channel discretisation step; ``dt`` always means the
sampling period of a :mod:`mor` system; ``length`` is the kernel length ``L``.

Parameters (complex values stored as real pairs)::

    lambda_re_log  (N,) or (H, N)   exp mode:  Re(lambda) = -exp(lambda_re_log)  (stable)
    lambda_re      (N,) or (H, N)   softmax mode: Re(lambda), unconstrained
    lambda_im      (N,) or (H, N)   Im(lambda)
    W              (H, N, 2)        W = W[..., 0] + i W[..., 1]
    log_step       (H,)             log Delta, initialised uniform in [log step_min, log step_max]
    D              (H,)             skip connection

The pole parameters, ``W`` and ``log_step`` are the SSM parameters (:meth:`DSS.ssm_parameters`),
which the optimiser trains in their own group.

Streaming: :meth:`DSS.initial_state` and :meth:`DSS.step` run the layer one token at a time by its
recurrence (:mod:`mor_torch.streaming`); over a sequence they give the convolution's output.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mor.errors import AccuracyWarning, ArgumentTypeError, DimensionError, NonFiniteError, UnstableSystemError
from mor.validation import check_choice, check_int, check_real

from . import kernels
from ._tensors import to_numpy
from .errors import DeviceUnavailableError, LayerConversionError
from .init import DEFAULT_INIT, INITS, init_poles
from .streaming import DSSRecurrence

__all__ = ["DEFAULT_MODE", "DEFAULT_STEP_RANGE", "DSS", "MODES"]

#: Kernel parametrisations (see :mod:`mor_torch.kernels`).
MODES = ("exp", "softmax")
#: The default mode of every layer, block, model and configuration in this package: DSS_EXP.  It is
#: stable by construction, so every trained layer has infinite-horizon Gramians and balanced
#: truncation's error bound, and its kernel does not depend on the kernel length.  (The DSS paper's
#: LRA runs used DSS_SOFTMAX; the presets that follow them say ``mode = "softmax"``.)
DEFAULT_MODE = "exp"
#: Default range ``(step_min, step_max)`` of the initial steps ``Delta`` (log-uniform), as in DSS.
DEFAULT_STEP_RANGE = (1e-3, 1e-1)


def _check_device(device: Any) -> torch.device | None:
    """``device`` as a ``torch.device``, refused with a typed error when this machine lacks it."""
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ArgumentTypeError(f"device must be a torch device or its name, got {device!r}: {exc}") from exc
    if dev.type == "cuda" and (not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise DeviceUnavailableError(f"device {str(dev)!r} was asked for, but this machine has {count} CUDA device(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceUnavailableError(f"device {str(dev)!r} was asked for, but MPS is not available on this machine")
    return dev


def _compute_dtype(x: Tensor) -> Tensor:
    """Half-precision parameters (after ``.half()`` / ``.bfloat16()``) in float32 for the kernel.

    torch has no complex half arithmetic on most devices, and a kernel of exponentials in 11-bit
    precision would be worthless anyway; the result is cast back to the input's dtype.
    """
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _check_dtype(dtype: torch.dtype | None) -> torch.dtype:
    dtype = torch.get_default_dtype() if dtype is None else dtype
    return check_choice(dtype, "dtype (the real dtype of the parameters)", (torch.float32, torch.float64))


class DSS(nn.Module):
    """Diagonal state-space layer (DSS_EXP or DSS_SOFTMAX), ``(batch, L, H) -> (batch, L, H)``.

    Parameters
    ----------
    d_model : int
        Number of channels ``H``.
    d_state : int
        Number of complex modes ``N`` per channel.
    mode : {"exp", "softmax"}
        Kernel parametrisation (see :mod:`mor_torch.kernels`); :data:`DEFAULT_MODE`.
    init : {"skew-hippo", "s4d-lin", "s4d-inv", "random"}
        Pole initialisation (see :mod:`mor_torch.init`).
    shared_poles : bool
        ``True``: one set of ``N`` poles for all channels; ``False``: ``(H, N)`` poles.
    step_min, step_max : float
        ``log_step`` is drawn uniformly from ``[log step_min, log step_max]``.
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
        mode: str = DEFAULT_MODE,
        init: str = DEFAULT_INIT,
        shared_poles: bool = True,
        step_min: float = DEFAULT_STEP_RANGE[0],
        step_max: float = DEFAULT_STEP_RANGE[1],
        eps: float = kernels.DEFAULT_EPS,
        device: Any = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        H = check_int(d_model, "d_model")
        N = check_int(d_state, "d_state")
        mode = check_choice(mode, "mode", MODES)
        dtype = _check_dtype(dtype)
        device = _check_device(device)
        check_choice(init, "init", tuple(INITS))
        step_min = check_real(step_min, "step_min", minimum=0.0, include_min=False)
        step_max = check_real(step_max, "step_max", minimum=step_min)
        seed = int(torch.randint(0, 2**62, (1,)).item()) if init == "random" else None
        poles = init_poles(init, N, seed)
        if not shared_poles:
            poles = np.broadcast_to(poles, (H, N))
        W = (torch.randn(H, N, 2, dtype=torch.float64) / math.sqrt(2)).numpy()
        log_step = np.log(step_min) + torch.rand(H, dtype=torch.float64).numpy() * (
            np.log(step_max) - np.log(step_min)
        )
        D = torch.randn(H, dtype=torch.float64).numpy()
        self._setup(poles, W[..., 0] + 1j * W[..., 1], log_step, D, mode, eps, device, dtype)

    # -- construction from values --------------------------------------------------
    def _setup(self, poles, W, log_step, D, mode, eps, device, dtype) -> None:
        poles = np.asarray(poles, dtype=np.complex128)
        W = np.asarray(W, dtype=np.complex128)
        log_step = np.asarray(log_step, dtype=np.float64)
        D = np.asarray(D, dtype=np.float64)
        if W.ndim != 2:
            raise DimensionError(f"W must have shape (d_model, d_state), got {W.shape}")
        H, N = W.shape
        if poles.shape not in ((N,), (H, N)):
            raise DimensionError(f"poles must have shape ({N},) or ({H}, {N}), got {poles.shape}")
        if log_step.shape != (H,) or D.shape != (H,):
            raise DimensionError(f"log_step and D must have shape ({H},), got {log_step.shape} and {D.shape}")
        for name, arr in (("poles", poles), ("W", W), ("log_step", log_step), ("D", D)):
            if not np.all(np.isfinite(arr)):
                raise NonFiniteError(f"DSS parameter {name} contains non-finite values")
        eps = check_real(eps, "eps", minimum=0.0)
        self.d_model, self.d_state, self.mode = H, N, mode
        self.shared_poles = poles.ndim == 1
        self.eps = eps
        self._recurrence: tuple[Any, DSSRecurrence] | None = None  # (key, recurrent form); see recurrent()

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
        self.log_step = param(log_step)
        self.D = param(D)

    @classmethod
    def from_parameters(
        cls,
        poles: Any,
        W: Any,
        log_step: Any,
        D: Any = None,
        *,
        mode: str = DEFAULT_MODE,
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
        log_step : (H,) real array_like
            ``log Delta`` per channel.
        D : (H,) real array_like, optional
            Zero when omitted.
        mode, eps, device, dtype
            As for :class:`DSS`.
        """
        mode = check_choice(mode, "mode", MODES)
        dtype = _check_dtype(dtype)
        device = _check_device(device)
        W = to_numpy(W)
        if W.ndim != 2:
            raise DimensionError(f"W must have shape (d_model, d_state), got {W.shape}")
        D = np.zeros(W.shape[0]) if D is None else to_numpy(D)
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._setup(to_numpy(poles), W, to_numpy(log_step), D, mode, eps, device, dtype)
        return self

    # -- parameter views -------------------------------------------------------------
    def poles(self) -> Tensor:
        """``lambda``, complex ``(N,)`` (shared) or ``(H, N)``."""
        re = -torch.exp(_compute_dtype(self.lambda_re_log)) if self.mode == "exp" else _compute_dtype(self.lambda_re)
        return torch.complex(re, _compute_dtype(self.lambda_im))

    def weights(self) -> Tensor:
        """``W``, complex ``(H, N)`` (complex64 for half-precision parameters)."""
        return torch.view_as_complex(_compute_dtype(self.W))

    def delta(self) -> Tensor:
        """Steps ``Delta = exp(log_step)``, real ``(H,)``."""
        return torch.exp(_compute_dtype(self.log_step))

    def ssm_parameters(self) -> list[nn.Parameter]:
        """Pole parameters, ``W`` and ``log_step`` (optimised with lr 1e-3, no weight decay)."""
        re = self.lambda_re_log if self.mode == "exp" else self.lambda_re
        return [re, self.lambda_im, self.W, self.log_step]

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
        length = check_int(length, "length")
        check_choice(method, "method", ("fast", "naive"))
        p, W, step = self.poles(), self.weights(), self.delta()
        if self.mode == "exp":
            fn = kernels.kernel_exp if method == "fast" else kernels.kernel_exp_naive
            return fn(p, W, step, length)
        fn = kernels.kernel_softmax if method == "fast" else kernels.kernel_softmax_naive
        return fn(p, W, step, length, self.eps)

    def forward(self, u: Tensor, *, length: int | None = None) -> Tensor:
        """``y = K * u + D u`` (causal convolution by FFT, zero-padded to ``2L``).

        Parameters
        ----------
        u : (batch, L, H) Tensor
            Input sequences.
        length : int, optional
            Kernel length ``L_K >= L``.  A DSS_SOFTMAX kernel depends on its length (the softmax
            normalises over it): with ``length`` the kernel is computed at ``L_K`` and its first
            ``L`` taps are used, so an output does not depend on how much the batch is padded.
            DSS_EXP kernels do not depend on it and are always computed at ``L``.  Default: ``L``.

        Returns
        -------
        y : (batch, L, H) Tensor

        Raises
        ------
        DimensionError
            ``u`` is not ``(batch, L, H)``, or ``L > length``.
        """
        if u.ndim != 3 or u.shape[-1] != self.d_model:
            raise DimensionError(
                f"DSS input must have shape (batch, length, {self.d_model}), got {tuple(u.shape)}"
            )
        L = u.shape[-2]
        if length is not None and length < L:
            raise DimensionError(f"input length {L} exceeds the kernel length {length}")
        K = self.kernel(L if length is None or self.mode == "exp" else length)[:, :L]
        if u.dtype in (torch.float16, torch.bfloat16):  # no half-precision FFT on the CPU: convolve in float32
            y = kernels.causal_conv(u.float(), K.float()) + u.float() * self.D.float()
            return y.to(u.dtype)
        return kernels.causal_conv(u, K.to(u.dtype)) + u * self.D.to(u.dtype)

    # -- streaming -------------------------------------------------------------------------
    def _recurrence_key(self, length: int | None) -> tuple:
        """What the recurrent form depends on: the length, ``eps`` and every parameter's identity and version.

        (Inference tensors, made under ``torch.inference_mode``, keep no version counter: a layer
        whose parameters were created there and then changed in place is not noticed.)
        """
        params = tuple(self._parameters.values())  # the pole parameters, W, log_step, D (no __getattr__: cheap)
        versions = tuple(None if p.is_inference() else p._version for p in params)
        return (length, self.eps, params[0].dtype, params[0].device, *map(id, params), *versions)

    def recurrent(self, length: int | None = None) -> DSSRecurrence:
        """The layer's recurrent form (:class:`mor_torch.streaming.DSSRecurrence`), cached.

        ``z = exp(lambda Delta)`` and ``c`` (:func:`mor_torch.kernels.recurrence_coefficients`) are
        computed once, in float64, and rounded to the layer's dtype; the same object is returned
        until a parameter changes (an optimiser step, ``load_state_dict``, ``.to()``) or another
        ``length`` is asked for.  The form is a snapshot: no gradient flows through it.

        Parameters
        ----------
        length : int, optional
            Kernel length ``L``; required for DSS_SOFTMAX, whose coefficients
            ``c = W s(lambda) / G(lambda Delta)`` are normalised over ``L``: streamed tokens
            ``0..L-1`` then equal ``forward(u, length=L)``.  Ignored by DSS_EXP.

        Returns
        -------
        DSSRecurrence

        Raises
        ------
        LayerConversionError
            DSS_SOFTMAX without ``length``.

        Warns
        -----
        AccuracyWarning
            A growing softmax mode's coefficient ``c`` underflows in the layer's dtype (``Re(lambda
            Delta) (L - 1)`` beyond its exponent range): its late taps are lost; use a float64 layer.
        """
        if self.mode == "exp":
            length = None
        elif length is None:
            raise LayerConversionError(
                "the recurrence of a DSS_SOFTMAX layer depends on the kernel length: pass length=L "
                "(c = W s(lambda) / sum_{j<L} exp(lambda Delta j))"
            )
        else:
            length = check_int(length, "length")
        key = self._recurrence_key(length)
        cached = getattr(self, "_recurrence", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        with torch.no_grad():
            poles, W = self.poles().to(torch.complex128), self.weights().to(torch.complex128)
            z, c = kernels.recurrence_coefficients(poles, W, self.delta().double(), self.mode, length, self.eps)
            complex_dtype = torch.complex64 if self.W.dtype == torch.float32 else torch.complex128
            low = c.to(complex_dtype)
            lost = (c != 0) & (low.abs() < torch.finfo(self.W.dtype).tiny)
            if bool(lost.any()):
                h, n = (int(i) for i in torch.nonzero(lost)[0])
                warnings.warn(
                    f"DSS recurrence: channel {h}, mode {n}: the coefficient of a growing softmax mode "
                    f"({complex(c[h, n]):.3g}) underflows in {self.W.dtype}; its late kernel taps are lost "
                    "(use a float64 layer)",
                    AccuracyWarning,
                    stacklevel=2,
                )
            form = DSSRecurrence(z.to(complex_dtype), low, self.D.detach())
        self._recurrence = (key, form)
        return form

    def initial_state(self, batch_size: int) -> Tensor:
        """The zero state of :meth:`step`, real ``(batch_size, H, N, 2)`` (real and imaginary parts).

        Parameters
        ----------
        batch_size : int
            Number of sequences streamed side by side.

        Returns
        -------
        (batch_size, H, N, 2) Tensor
            Zeros in the layer's dtype and device.
        """
        B = check_int(batch_size, "batch_size")
        return torch.zeros(B, self.d_model, self.d_state, 2, dtype=self.W.dtype, device=self.W.device)

    def step(self, u_t: Tensor, state: Tensor, *, length: int | None = None) -> tuple[Tensor, Tensor]:
        """One token of the layer: ``x <- z x + c u_t``, ``y_t = Re(sum_n x_n) + D u_t``.

        Streaming ``u[:, 0], u[:, 1], ...`` from :meth:`initial_state` gives ``forward(u)`` token by
        token (for DSS_SOFTMAX: ``forward(u, length=length)``).  Inference only: the recurrent
        form is a snapshot of the parameters (:meth:`recurrent`), and ``step`` follows the
        module's ``training`` flag in nothing (the layer has no dropout).

        The discretisation steps ``Delta`` are :meth:`delta` (one name, one meaning: ``step`` is the
        recurrence).

        Parameters
        ----------
        u_t : (batch, H) Tensor
            The token, in the layer's dtype.
        state : (batch, H, N, 2) Tensor
            The state after the previous tokens.
        length : int, optional
            Kernel length ``L`` (required for DSS_SOFTMAX; see :meth:`recurrent`).

        Returns
        -------
        y_t : (batch, H) Tensor
        new_state : (batch, H, N, 2) Tensor
        """
        return self.recurrent(length)(u_t, state)

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, d_state={self.d_state}, mode={self.mode!r}, "
            f"shared_poles={self.shared_poles}"
        )
