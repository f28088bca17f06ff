"""Convolution kernels of DSS layers: plain references and fast chunked-power versions.

Notation (per channel ``h``, mode ``n``): poles ``lambda``, step ``Delta_h``,
``mu = lambda * Delta`` and ``k = 0..L-1``.

DSS_EXP::

    K_k = Re( sum_n W_n (exp(mu_n) - 1) / lambda_n * exp(mu_n k) )

DSS_SOFTMAX::

    K_k = Re( sum_n W_n s(lambda_n) softmax_k(mu_n k) ),    softmax_k(mu k) = exp(mu k) / sum_{j<L} exp(mu j)

with the safe reciprocal ``s(x) = conj(x) / (|x|^2 + eps)`` of the DSS reference.

The plain (``*_naive``) kernels build the ``(H, N, L)`` table of complex exponentials.  The fast
kernels never do: :func:`power_sum` writes ``k = i + c j`` (``c ~ sqrt(L)``), builds two small
tables ``exp(nu i)`` and ``exp(nu c j)`` and contracts them over the modes with one real batched
matrix product (only the real part is needed: ``Re(a b) = Re a Re b - Im a Im b``).  Every
exponential there has ``Re(nu) <= 0``, so no table entry exceeds one in magnitude: the
softmax kernel evaluates its growing modes (``Re mu > 0``) backwards in time, where they decay
(``softmax_k(mu k) = softmax_{L-1-k}(-mu k)``), and the normalisation is the closed form
``sum_{j<L} exp(nu j) = expm1(L nu) / expm1(nu)``.  Nothing overflows for any ``|Re(mu) L|``.

All functions are device-agnostic and differentiable; ``poles`` is ``(N,)`` (shared) or
``(H, N)`` complex, ``W`` ``(H, N)`` complex, ``step`` (``Delta``) ``(H,)`` real, and the kernels
are real ``(H, L)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mor.errors import InvalidArgumentError
from mor.validation import check_choice, check_int

__all__ = [
    "causal_conv",
    "fft_length",
    "geometric_sum",
    "kernel_exp",
    "kernel_exp_naive",
    "kernel_softmax",
    "kernel_softmax_naive",
    "power_sum",
    "recurrence_coefficients",
    "safe_reciprocal",
]

DEFAULT_EPS = 1e-7


def safe_reciprocal(x: Tensor, eps: float = DEFAULT_EPS) -> Tensor:
    """``conj(x) / (|x|^2 + eps)``: ``1/x`` for ``|x|^2 >> eps``, zero at ``x = 0``."""
    return x.conj() / (x.real**2 + x.imag**2 + eps)


def _mu(poles: Tensor, step: Tensor) -> Tensor:
    """``mu = lambda * Delta`` of shape ``(H, N)`` (shared poles are broadcast)."""
    return poles * step[:, None]


def geometric_sum(nu: Tensor, length: int) -> Tensor:
    """``sum_{j<L} exp(nu j) = expm1(L nu) / expm1(nu)`` (``L`` at ``nu = 0``), elementwise.

    Accurate for small ``|nu|`` (both ``expm1`` are relatively accurate); meant for
    ``Re(nu) <= 0`` where nothing overflows.
    """
    den = torch.expm1(nu)
    zero = den == 0
    den = torch.where(zero, torch.ones_like(den), den)
    return torch.where(zero, torch.full_like(den, float(length)), torch.expm1(length * nu) / den)


def _default_chunk(length: int) -> int:
    return max(1, math.ceil(math.sqrt(length)))


def _exp_table(nu: Tensor, steps: Tensor, cut: float) -> tuple[Tensor, Tensor]:
    """Real and imaginary parts of ``exp(nu * steps)``, ``(..., N, len(steps))``, in real arithmetic.

    ``exp(a + jb) = exp(a) cos b + j exp(a) sin b``: one real ``exp`` and a ``cos``/``sin`` pair
    instead of a complex ``exp`` (about half the time, forward and backward).  Entries with
    ``a < cut`` are flushed to zero.
    """
    a = nu.real[..., None] * steps
    b = nu.imag[..., None] * steps
    mag = torch.where(a < cut, 0, torch.exp(a))
    return mag * torch.cos(b), mag * torch.sin(b)


def power_sum(coef: Tensor, nu: Tensor, length: int, chunk: int | None = None) -> Tensor:
    """``S_k = Re( sum_n coef_n exp(nu_n k) )`` for ``k = 0..L-1`` without an ``(H, N, L)`` table.

    Parameters
    ----------
    coef : (H, N) complex Tensor
    nu : (H, N) complex Tensor
        Exponents; ``Re(nu) <= 0`` keeps every intermediate bounded by ``|coef|``.
    length : int
        ``L``.
    chunk : int, optional
        ``c`` in ``k = i + c j``; ``ceil(sqrt(L))`` by default.

    Returns
    -------
    (H, L) real Tensor
    """
    c = chunk or _default_chunk(length)
    J = math.ceil(length / c)
    real = nu.real.dtype
    i = torch.arange(c, dtype=real, device=nu.device)
    j = torch.arange(J, dtype=real, device=nu.device) * c
    # entries below sqrt(tiny) are flushed to zero, so neither the tables nor their products are
    # subnormal (subnormal arithmetic slows float32 matrix products by ~100x); a dropped term is
    # below 1e-19 |coef_n| (float32) or 1e-154 |coef_n| (float64)
    cut = 0.5 * math.log(torch.finfo(real).tiny)
    t1_re, t1_im = _exp_table(nu, i, cut)  # (H, N, c)
    e2_re, e2_im = _exp_table(nu, j, cut)  # (H, N, J)
    c_re, c_im = coef.real[..., None], coef.imag[..., None]
    t2_re = c_re * e2_re - c_im * e2_im  # coef exp(nu c j)
    t2_im = c_re * e2_im + c_im * e2_re
    # Re(T2 T1) = Re T2 Re T1 - Im T2 Im T1, contracted over the modes by one real matrix product
    left = torch.cat([t2_re, -t2_im], dim=-2).transpose(-1, -2)  # (H, J, 2N)
    right = torch.cat([t1_re, t1_im], dim=-2)  # (H, 2N, c)
    out = torch.matmul(left, right)  # (H, J, c): k = c j + i
    return out.reshape(*out.shape[:-2], J * c)[..., :length]


def _exp_coefficients(poles: Tensor, W: Tensor, mu: Tensor) -> Tensor:
    """``W (exp(mu) - 1) / lambda`` with ``expm1`` (no cancellation for small ``|mu|``)."""
    return W * torch.expm1(mu) / poles


def kernel_exp_naive(poles: Tensor, W: Tensor, step: Tensor, length: int) -> Tensor:
    """Reference DSS_EXP kernel from the full ``(H, N, L)`` table (see the module docstring)."""
    mu = _mu(poles, step)
    k = torch.arange(length, dtype=step.dtype, device=step.device)
    coef = _exp_coefficients(poles, W, mu)
    return (coef[..., None] * torch.exp(mu[..., None] * k)).sum(-2).real


def kernel_exp(poles: Tensor, W: Tensor, step: Tensor, length: int, chunk: int | None = None) -> Tensor:
    """Fast DSS_EXP kernel, ``(H, L)``; requires ``Re(lambda) <= 0`` (true by parametrisation)."""
    mu = _mu(poles, step)
    return power_sum(_exp_coefficients(poles, W, mu), mu, length, chunk)


def kernel_softmax_naive(
    poles: Tensor, W: Tensor, step: Tensor, length: int, eps: float = DEFAULT_EPS
) -> Tensor:
    """Reference DSS_SOFTMAX kernel: row softmax of the ``(H, N, L)`` table, max-shifted over ``k``."""
    mu = _mu(poles, step)
    k = torch.arange(length, dtype=step.dtype, device=step.device)
    P = mu[..., None] * k
    P = P - P.real.amax(-1, keepdim=True)
    E = torch.exp(P)
    sm = E / E.sum(-1, keepdim=True)
    return ((W * safe_reciprocal(poles, eps))[..., None] * sm).sum(-2).real


def kernel_softmax(
    poles: Tensor,
    W: Tensor,
    step: Tensor,
    length: int,
    eps: float = DEFAULT_EPS,
    chunk: int | None = None,
) -> Tensor:
    """Fast DSS_SOFTMAX kernel, ``(H, L)``, stable for any sign and size of ``Re(mu) L``.

    Decaying modes use ``exp(mu k) / G(mu)``; growing modes (``Re mu > 0``) use
    ``exp(-mu (L-1-k)) / G(-mu)``, the same softmax row, evaluated backwards in time;
    ``G(nu) = sum_{j<L} exp(nu j)``.
    """
    mu = _mu(poles, step)
    grow = mu.real > 0
    nu = torch.where(grow, -mu, mu)
    coef = W * safe_reciprocal(poles, eps) / geometric_sum(nu, length)
    zero = torch.zeros_like(coef)
    out = power_sum(torch.where(grow, zero, coef), nu, length, chunk)
    if bool(grow.any()):
        out = out + power_sum(torch.where(grow, coef, zero), nu, length, chunk).flip(-1)
    return out


def recurrence_coefficients(
    poles: Tensor, W: Tensor, step: Tensor, mode: str, length: int | None = None, eps: float = DEFAULT_EPS
) -> tuple[Tensor, Tensor]:
    """Modal form ``K_k = Re( sum_n c_n z_n^k )`` of a kernel: the coefficients of its recurrence.

    ``z = exp(mu)`` with ``mu = lambda Delta``, and

    * DSS_EXP: ``c = W expm1(mu) / lambda``;
    * DSS_SOFTMAX (decaying mode, ``Re mu <= 0``): ``c = W s(lambda) / G(mu)``;
    * DSS_SOFTMAX (growing mode, ``Re mu > 0``): ``c = W s(lambda) exp(-mu (L-1)) / G(-mu)``,

    with ``G(nu) = sum_{j<L} exp(nu j)`` (:func:`geometric_sum`) and ``s`` the safe reciprocal.  The
    two softmax forms are equal (``G(mu) = exp(mu (L-1)) G(-mu)``); the second never overflows and
    is the kernel of :func:`kernel_softmax` read forwards in time.  A streaming layer runs
    ``x[k+1] = z x[k] + c u[k]``, ``y[k] = Re(sum_n x_n[k+1]) + D u[k]``.

    Parameters
    ----------
    poles : (N,) or (H, N) complex Tensor
        ``lambda``.
    W : (H, N) complex Tensor
    step : (H,) real Tensor
        ``Delta``.
    mode : {"exp", "softmax"}
        The kernel parametrisation.
    length : int, optional
        Kernel length ``L``; required for ``"softmax"`` (the softmax normalises over it).
    eps : float
        ``eps`` of the safe reciprocal (softmax).

    Returns
    -------
    z, c : (H, N) complex Tensors
    """
    mu = _mu(poles, step)
    if check_choice(mode, "mode", ("exp", "softmax")) == "exp":
        return torch.exp(mu), _exp_coefficients(poles, W, mu)
    if length is None:
        raise InvalidArgumentError("DSS_SOFTMAX coefficients depend on the kernel length; pass length=L")
    length = check_int(length, "length")
    grow = mu.real > 0
    nu = torch.where(grow, -mu, mu)
    coef = W * safe_reciprocal(poles, eps) / geometric_sum(nu, length)
    return torch.exp(mu), torch.where(grow, coef * torch.exp(nu * (length - 1)), coef)


def fft_length(length: int) -> int:
    """The FFT size of a causal convolution of length ``L``: the smallest ``2^a 3^b 5^c 7^d >= 2L - 1``.

    ``2L - 1`` is the shortest length whose circular convolution equals the linear one on the first
    ``L`` samples; ``2L`` often has a large prime factor (``L = 397``: ``794 = 2 * 397``), which
    makes the FFT several times slower than at a nearby 7-smooth size.

    Parameters
    ----------
    length : int
        ``L >= 1``.

    Returns
    -------
    int
    """
    n = max(1, 2 * length - 1)
    while True:
        m = n
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


class _CausalConv(torch.autograd.Function):
    """``y = irfft(rfft(u, n) rfft(K, n), n)[..., :L]`` on ``(B, H, L)`` with its adjoint as backward.

    The backward pass reuses the forward's spectra: ``grad_u = irfft(G conj(Kf))[..., :L]`` and
    ``grad_K = irfft(sum_b G conj(Uf))[..., :L]`` with ``G = rfft(grad_y, n)`` (exact for
    ``n >= 2L - 1``): one forward and one inverse transform of the batch instead of autograd's
    padded complex transforms and copies.
    """

    @staticmethod
    def forward(ctx, u: Tensor, K: Tensor, n: int) -> Tensor:  # u (B, H, L), K (H, L)
        Uf = torch.fft.rfft(u, n=n)
        Kf = torch.fft.rfft(K, n=n)
        ctx.save_for_backward(Uf, Kf)
        ctx.n = n
        return torch.fft.irfft(Uf * Kf, n=n)[..., : u.shape[-1]]

    @staticmethod
    def backward(ctx, grad: Tensor):
        Uf, Kf = ctx.saved_tensors
        n, L = ctx.n, grad.shape[-1]
        G = torch.fft.rfft(grad, n=n)
        grad_u = torch.fft.irfft(G * Kf.conj(), n=n)[..., :L] if ctx.needs_input_grad[0] else None
        grad_K = None
        if ctx.needs_input_grad[1]:
            grad_K = torch.fft.irfft((G * Uf.conj()).sum(dim=tuple(range(G.ndim - 2))), n=n)[..., :L]
        return grad_u, grad_K, None


def causal_conv(u: Tensor, K: Tensor) -> Tensor:
    """Causal convolution ``y_k = sum_{j<=k} K_j u_{k-j}`` by FFT (size :func:`fft_length`).

    The transforms run along the last axis of a contiguous ``(B, H, L)`` copy of ``u``, and the
    result comes back as a contiguous ``(B, L, H)`` tensor, so the element-wise layers after it
    work on contiguous memory; the backward pass is hand-written (see ``_CausalConv``).

    Parameters
    ----------
    u : (batch, L, H) real Tensor
    K : (H, L) real Tensor

    Returns
    -------
    (batch, L, H) real Tensor
    """
    ut = u.transpose(-1, -2).contiguous()
    y = _CausalConv.apply(ut, K, fft_length(u.shape[-2]))
    return y.transpose(-1, -2).contiguous()
