"""DSS kernel speed: plain (H, N, L) table vs chunked powers.

Usage::

    python benchmarks/bench_kernel.py [--H 64] [--N 64] [--lengths 1024 4096] [--device cpu]
                                      [--repeats 7] [--threads T] [--backward]

Prints median times (ms) of ``layer.kernel(L)`` for both methods, both modes, float32 and float64:
wall-clock and process CPU time (the sum over threads; the fairer figure on a loaded machine),
the speed-ups, and the relative difference between the two kernels.  Skew-HiPPO poles,
``Delta`` in [1e-3, 1e-1].  With ``--backward`` the timed step is kernel + backward pass.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mor_torch import DSS


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn, repeats: int, device: torch.device) -> tuple[float, float]:
    """Median wall-clock and process CPU time of ``fn()`` in milliseconds."""
    fn()  # warm-up
    _sync(device)
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return 1e3 * statistics.median(wall), 1e3 * statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--H", type=int, default=64)
    ap.add_argument("--N", type=int, default=64)
    ap.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--modes", nargs="+", default=["exp", "softmax"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--backward", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {device}, "
          f"H={args.H}, N={args.N}, {'kernel + backward' if args.backward else 'kernel'}; medians of "
          f"{args.repeats}")
    print(f"{'mode':<8} {'dtype':<8} {'L':>6} | wall: {'naive':>8} {'fast':>7} {'ratio':>6} | cpu: "
          f"{'naive':>8} {'fast':>7} {'ratio':>6} | {'rel diff':>8}")
    for mode in args.modes:
        for dtype in (torch.float32, torch.float64):
            torch.manual_seed(0)
            layer = DSS(args.H, args.N, mode=mode, dtype=dtype, device=device)
            for L in args.lengths:
                def run(method, L=L, layer=layer):
                    if args.backward:
                        layer.zero_grad(set_to_none=True)
                        layer.kernel(L, method=method).sum().backward()
                    else:
                        with torch.no_grad():
                            layer.kernel(L, method=method)

                w_naive, c_naive = median_ms(lambda: run("naive"), args.repeats, device)
                w_fast, c_fast = median_ms(lambda: run("fast"), args.repeats, device)
                with torch.no_grad():
                    a, b = layer.kernel(L), layer.kernel(L, method="naive")
                    diff = float((a - b).abs().max() / b.abs().max())
                name = str(dtype).replace("torch.", "")
                print(f"{mode:<8} {name:<8} {L:>6} | wall: {w_naive:>8.1f} {w_fast:>7.2f} "
                      f"{w_naive / w_fast:>5.1f}x | cpu: {c_naive:>8.1f} {c_fast:>7.2f} "
                      f"{c_naive / c_fast:>5.1f}x | {diff:>8.1e}")


if __name__ == "__main__":
    main()
