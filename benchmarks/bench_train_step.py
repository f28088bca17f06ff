"""One training step of the pipeline's classifier against a minimal S4D reference of the same widths.

Usage::

    python benchmarks/bench_train_step.py [--batch 50] [--length 400] [--H 64] [--N 64] [--layers 4]
                                          [--repeats 15] [--threads 1] [--modes exp softmax]

Both models: token embedding (16 ids) -> ``layers`` x [SSM convolution + D skip -> GELU -> linear,
residual, post-LayerNorm] -> mean pooling -> linear decoder (10 classes); AdamW; one thread.  A step is
forward, cross-entropy, backward and the optimiser update on a ``(batch, length)`` batch.

The reference is written here from the S4D paper's design (Gu, Gupta, Goel, Re 2022, "On the
parameterization and initialization of diagonal state space models", and its minimal ``s4d.py``):
per channel ``N`` complex modes ``A = -exp(log_A_real) + i A_imag`` (S4D-Lin), ZOH with a learned
step, the kernel ``K = 2 Re(sum_n C_n (exp(dt A_n) - 1)/A_n exp(dt A_n k))`` built from the full
``(H, N, L)`` Vandermonde table of complex exponentials, an FFT convolution of size ``2L`` in
``(B, H, L)`` layout with autograd's backward, and the LayerNorm applied through transposes.  It
has the same number of modes and channels as the DSS model, so the two do the same work per step
up to implementation.

Prints the median step time of each model (wall and process CPU time, interleaved in one process),
tokens per second, and the ratio mor / reference (lower is faster).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
from torch import nn

from mor_torch.lra.model import SequenceClassifier
from mor_torch.lra.process import keep_freed_memory


class S4DReferenceLayer(nn.Module):
    """Minimal S4D layer, ``(B, H, L) -> (B, H, L)``: Vandermonde kernel, FFT convolution, D skip."""

    def __init__(self, H: int, N: int, dt_min: float = 1e-3, dt_max: float = 1e-1):
        super().__init__()
        log_dt = torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)
        self.C = nn.Parameter(torch.view_as_real(torch.randn(H, N, dtype=torch.cfloat) / math.sqrt(2)))
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(H, N)))
        self.A_imag = nn.Parameter(math.pi * torch.arange(N, dtype=torch.float32).repeat(H, 1))
        self.D = nn.Parameter(torch.randn(H))

    def kernel(self, L: int) -> torch.Tensor:
        dt = torch.exp(self.log_dt)
        A = -torch.exp(self.log_A_real) + 1j * self.A_imag
        dtA = A * dt[:, None]
        C = torch.view_as_complex(self.C) * (torch.exp(dtA) - 1.0) / A
        vandermonde = torch.exp(dtA[:, :, None] * torch.arange(L, device=A.device))  # (H, N, L)
        return 2 * torch.einsum("hn,hnl->hl", C, vandermonde).real

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        L = u.shape[-1]
        k_f = torch.fft.rfft(self.kernel(L), n=2 * L)
        u_f = torch.fft.rfft(u, n=2 * L)
        return torch.fft.irfft(u_f * k_f, n=2 * L)[..., :L] + u * self.D[:, None]


class S4DReference(nn.Module):
    """The classifier of the pipeline with S4D reference layers, in (B, H, L) layout."""

    def __init__(self, vocab: int, n_classes: int, H: int, N: int, layers: int):
        super().__init__()
        self.encoder = nn.Embedding(vocab, H)
        self.ssm = nn.ModuleList(S4DReferenceLayer(H, N) for _ in range(layers))
        self.linear = nn.ModuleList(nn.Conv1d(H, H, 1) for _ in range(layers))
        self.norm = nn.ModuleList(nn.LayerNorm(H) for _ in range(layers))
        self.decoder = nn.Linear(H, n_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x).transpose(-1, -2)  # (B, H, L)
        for ssm, linear, norm in zip(self.ssm, self.linear, self.norm, strict=True):
            z = linear(nn.functional.gelu(ssm(h)))
            h = norm((h + z).transpose(-1, -2)).transpose(-1, -2)
        mask = (torch.arange(h.shape[-1])[None, :] < lengths[:, None]).to(h.dtype)
        return self.decoder((h * mask[:, None, :]).sum(-1) / lengths[:, None].to(h.dtype))


def make_step(model: nn.Module, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = nn.functional.cross_entropy(model(x, lengths), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--length", type=int, default=400)
    p.add_argument("--H", type=int, default=64)
    p.add_argument("--N", type=int, default=64)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--modes", nargs="+", default=["exp", "softmax"])
    p.add_argument("--no-allocator", action="store_true", help="leave glibc's allocator settings alone")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    kept = False if args.no_allocator else keep_freed_memory()
    B, L, H, N = args.batch, args.length, args.H, args.N
    torch.manual_seed(0)
    x = torch.randint(1, 16, (B, L))
    lengths = torch.full((B,), L)
    y = torch.randint(0, 10, (B,))
    steps = {"reference S4D": make_step(S4DReference(16, 10, H, N, args.layers), x, lengths, y)}
    for mode in args.modes:
        model = SequenceClassifier(n_classes=10, vocab_size=16, d_model=H, n_layers=args.layers, d_state=N,
                                   mode=mode, length=L)  # fmt: skip
        steps[f"mor DSS_{mode.upper()}"] = make_step(model, x, lengths, y)
    for step in steps.values():  # warm-up
        step()
        step()
    wall: dict[str, list[float]] = {k: [] for k in steps}
    cpu: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(args.repeats):  # interleaved, so load changes hit every model alike
        for name, step in steps.items():
            t, c = time.perf_counter(), time.process_time()
            step()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    print(f"B={B} L={L} H={H} N={N} layers={args.layers} threads={args.threads} "
          f"allocator keeps freed memory: {kept}; medians of {args.repeats} interleaved steps")  # fmt: skip
    ref_w, ref_c = statistics.median(wall["reference S4D"]), statistics.median(cpu["reference S4D"])
    print(f"{'model':<20} {'wall ms':>9} {'cpu ms':>9} {'tokens/s':>10} {'wall ratio':>11} {'cpu ratio':>10}")
    for name in steps:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"{name:<20} {w * 1e3:>9.1f} {c * 1e3:>9.1f} {B * L / w:>10.0f} {w / ref_w:>11.2f} {c / ref_c:>10.2f}")


if __name__ == "__main__":
    main()
