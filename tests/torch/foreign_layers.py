"""S4D, LRU and S5 layers written for the tests from their papers' formulas (not the authors' code), with
the parameter names the authors publish (and, for the port variants, the aliases of PyTorch ports).

Every forward pass is the family's own computation (S4D: the Vandermonde kernel and an FFT convolution;
LRU and S5: the plain recurrence), independent of :mod:`mor_torch`'s conversions.  Inputs are
``(batch, L, H)``.
"""

import math

import torch
from torch import nn


class S4DKernel(nn.Module):
    """S4D kernel (Gu et al. 2022): ``K_l = 2 Re sum_n C_n (exp(dtA_n) - 1) / A_n exp(dtA_n l)``."""

    def __init__(self, H, N, *, complex_C=False, dtype=torch.float64):
        super().__init__()
        self.log_dt = nn.Parameter(math.log(1e-3) + torch.rand(H, dtype=dtype) * math.log(100.0))
        C = torch.randn(H, N // 2, dtype=torch.complex128) * 0.5
        self.C = nn.Parameter(C.to(dtype.to_complex()) if complex_C else torch.view_as_real(C).to(dtype))
        self.log_A_real = nn.Parameter(
            torch.log(0.5 * torch.ones(H, N // 2, dtype=dtype)) + 0.3 * torch.randn(H, N // 2, dtype=dtype)
        )
        self.A_imag = nn.Parameter(
            math.pi * torch.arange(N // 2, dtype=dtype).repeat(H, 1) + torch.rand(H, N // 2, dtype=dtype)
        )

    def forward(self, L):
        dt = torch.exp(self.log_dt)
        C = self.C if self.C.is_complex() else torch.view_as_complex(self.C)
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag
        dtA = A * dt[:, None]
        vander = torch.exp(dtA[..., None] * torch.arange(L, dtype=dt.dtype))  # (H, N/2, L)
        return 2 * torch.einsum("hn,hnl->hl", C * (torch.exp(dtA) - 1) / A, vander).real


class S4D(nn.Module):
    """An S4D layer: ``D`` here, the kernel in the child ``kernel``; ``y = K * u + D u``."""

    def __init__(self, H, N, **kw):
        super().__init__()
        self.h, self.n = H, N
        self.D = nn.Parameter(torch.randn(H, dtype=kw.get("dtype", torch.float64)))
        self.kernel = S4DKernel(H, N, **kw)

    def forward(self, u):
        L = u.shape[1]
        k = self.kernel(L)
        y = torch.fft.irfft(torch.fft.rfft(u.transpose(1, 2), n=2 * L) * torch.fft.rfft(k, n=2 * L), n=2 * L)[..., :L]
        return y.transpose(1, 2) + u * self.D


class LRU(nn.Module):
    """LRU (Orvieto et al. 2023): ``x_k = lambda x_{k-1} + gamma (B u_k)``, ``y_k = Re(C x_k) + D u_k``.

    ``port=True``: the aliases of the PyTorch ports (complex ``B``, ``C``; full ``D (H, H)``;
    ``state_features``).
    """

    def __init__(self, H, N, *, port=False, r_min=0.4, r_max=0.99, max_phase=2 * math.pi, dtype=torch.float64):
        super().__init__()
        u1, u2 = torch.rand(N, dtype=dtype), torch.rand(N, dtype=dtype)
        self.nu_log = nn.Parameter(torch.log(-0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2)))
        self.theta_log = nn.Parameter(torch.log(max_phase * u2))
        self.gamma_log = nn.Parameter(torch.log(torch.sqrt(1 - torch.exp(-2 * torch.exp(self.nu_log.detach())))))
        B = torch.randn(N, H, dtype=torch.complex128) / math.sqrt(2 * H)
        C = torch.randn(H, N, dtype=torch.complex128) / math.sqrt(N)
        self.port = port
        if port:
            self.B = nn.Parameter(B.to(dtype.to_complex()))
            self.C = nn.Parameter(C.to(dtype.to_complex()))
            self.D = nn.Parameter(torch.randn(H, H, dtype=dtype) / math.sqrt(H))
            self.state_features = N
        else:
            self.B_re, self.B_im = nn.Parameter(B.real.to(dtype)), nn.Parameter(B.imag.to(dtype))
            self.C_re, self.C_im = nn.Parameter(C.real.to(dtype)), nn.Parameter(C.imag.to(dtype))
            self.D = nn.Parameter(torch.randn(H, dtype=dtype))

    def forward(self, u):
        lam = torch.exp(-torch.exp(self.nu_log) + 1j * torch.exp(self.theta_log))
        B = self.B if self.port else torch.complex(self.B_re, self.B_im)
        C = self.C if self.port else torch.complex(self.C_re, self.C_im)
        Bn = torch.exp(self.gamma_log)[:, None] * B
        x = torch.zeros(u.shape[0], lam.shape[0], dtype=lam.dtype)
        ys = []
        for k in range(u.shape[1]):
            x = lam * x + u[:, k].to(lam.dtype) @ Bn.T
            skip = u[:, k] @ self.D.T if self.port else self.D * u[:, k]
            ys.append((x @ C.T).real + skip)
        return torch.stack(ys, 1)


def discretize_bilinear(Lambda, B, step):
    """S5 bilinear map (its name tells the family the discretisation, as in PyTorch ports)."""
    half = Lambda * step / 2
    return (1 + half) / (1 - half), (step / (1 - half))[:, None] * B


def discretize_zoh(Lambda, B, step):
    """S5 zero-order hold."""
    Lbar = torch.exp(Lambda * step)
    return Lbar, ((Lbar - 1) / Lambda)[:, None] * B


class S5(nn.Module):
    """S5 (Smith et al. 2023): one MIMO diagonal system, ``x_k = Lbar x_{k-1} + Bbar u_k``,
    ``y_k = Re(C~ x_k) + D u_k``.

    ``port=True``: one complex ``Lambda`` and ``C``, the discretisation as a ``discretize`` function
    attribute, no ``conj_sym`` attribute (``y = Re(C x)``).
    """

    def __init__(self, H, P, *, discretization="zoh", conj_sym=False, port=False, dtype=torch.float64):
        super().__init__()
        lam = torch.complex(
            -0.5 * torch.exp(0.5 * torch.randn(P, dtype=torch.float64)), 3 * torch.randn(P, dtype=torch.float64)
        )
        B = torch.randn(P, H, dtype=torch.complex128) / math.sqrt(H)
        C = torch.randn(H, P, dtype=torch.complex128) / math.sqrt(P)
        self.port = port
        if port:
            self.Lambda = nn.Parameter(lam.to(dtype.to_complex()))
            self.C = nn.Parameter(C.to(dtype.to_complex()))
            self.discretize = discretize_bilinear if discretization == "bilinear" else discretize_zoh
        else:
            self.Lambda_re, self.Lambda_im = nn.Parameter(lam.real.to(dtype)), nn.Parameter(lam.imag.to(dtype))
            self.C = nn.Parameter(torch.view_as_real(C).to(dtype))
            self.discretization, self.conj_sym = discretization, conj_sym
            self.discretize = discretize_bilinear if discretization == "bilinear" else discretize_zoh
        self.B = nn.Parameter(torch.view_as_real(B).to(dtype))
        self.D = nn.Parameter(torch.randn(H, dtype=dtype))
        self.log_step = nn.Parameter(math.log(1e-2) + torch.rand(P, 1, dtype=dtype) * math.log(100.0))
        self.P = P

    def forward(self, u):
        lam = self.Lambda if self.port else torch.complex(self.Lambda_re, self.Lambda_im)
        C = self.C if self.C.is_complex() else torch.view_as_complex(self.C)
        if not self.port and self.conj_sym:
            C = 2 * C
        Lbar, Bbar = self.discretize(lam, torch.view_as_complex(self.B), torch.exp(self.log_step[:, 0]))
        x = torch.zeros(u.shape[0], lam.shape[0], dtype=lam.dtype)
        ys = []
        for k in range(u.shape[1]):
            x = Lbar * x + u[:, k].to(lam.dtype) @ Bbar.T
            ys.append((x @ C.T).real + self.D * u[:, k])
        return torch.stack(ys, 1)


def make(kind, H=3, N=8, seed=0, dtype=torch.float64):
    """One layer of each test kind (seeded)."""
    torch.manual_seed(seed)
    return {
        "s4d": lambda: S4D(H, 2 * N, dtype=dtype),
        "s4d-complex": lambda: S4D(H, 2 * N, complex_C=True, dtype=dtype),
        "lru": lambda: LRU(H, N, dtype=dtype),
        "lru-port": lambda: LRU(H, N, port=True, dtype=dtype),
        "s5-zoh": lambda: S5(H, N, dtype=dtype),
        "s5-bilinear-conj": lambda: S5(H, N, discretization="bilinear", conj_sym=True, dtype=dtype),
        "s5-port": lambda: S5(H, N, discretization="bilinear", port=True, dtype=dtype),
    }[kind]()


KINDS = ("s4d", "s4d-complex", "lru", "lru-port", "s5-zoh", "s5-bilinear-conj", "s5-port")


def impulse_kernels(layer, L):
    """``K[k, :, j]``: the layer's own response at step ``k`` to a unit impulse in input ``j`` at step 0."""
    H_in = layer.D.shape[-1]
    u = torch.zeros(H_in, L, H_in, dtype=torch.float64)
    u[torch.arange(H_in), 0, torch.arange(H_in)] = 1.0
    with torch.no_grad():
        y = layer(u)  # (H_in, L, H_out)
    return y.permute(1, 2, 0).numpy()  # (L, H_out, H_in)
