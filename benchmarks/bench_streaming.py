"""Streaming inference: per-token latency and state memory of the pipeline's classifier, N = 64 vs 16 / 8 / 4.

The model: the default preset's architecture (``smnist``: DSS_EXP, Skew-HiPPO, 4 blocks, ``H = 64``,
``N = 64``, post-norm, a linear encoder of one pixel per token, 10 classes, kernel length 196; with
``--preset listops-mini`` that preset's), built with the
pipeline's :func:`mor_torch.lra.build_model` (seed 0, parameters moved off the initialisation as
training would), and the same model reduced by :func:`mor_torch.compress` (balanced truncation,
discrete Gramians, per-channel poles) to ``r = 16, 8, 4``.  The latency depends on the shapes only,
not on the values.

Each model streams one token at a time (batch 1, one thread, CPU, ``torch.inference_mode``):

``eager``     ``model.step(x_t, state)`` (the cached recurrent form, :meth:`SequenceClassifier.step`)
``exported``  the program of :func:`mor_torch.export_streaming`, run by ``program.module()``
``layer``     one DSS layer's recurrence alone (``H = 64``, ``N`` or ``r`` modes), eager
``batch``     ``model.step`` on a batch of ``--batch`` sequences side by side (64; time per batch step):
              where the per-operation overhead of batch 1 is shared, the arithmetic shows

After a warm-up, the models take turns token by token within each variant (every token timed on
its own), so a change in machine load hits them alike (the variants run one after the other: a
batch step evicts the caches of whatever is timed next); reported: the median microseconds per token, and each model's
median relative to the full model's (``r / N = 64``: below 1 the reduced model is faster).  Also:
the state (reals, and KiB in float32: the SSM states plus the ``H + 1`` of the pooling) and the
multiply-adds per token counted from the recurrence (:func:`mor_torch.lra.streaming.streaming_cost`).
Check: the streamed logits (eager and exported) against the convolution's on every prefix of 64
tokens (max relative difference).

Run:  python benchmarks/bench_streaming.py [--tokens 4000] [--orders 16 8 4] [--preset smnist]
"""

from __future__ import annotations

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _common  # noqa: F401  (pins one BLAS thread: must precede numpy and torch)

# isort: split
import argparse
import os
import platform
import time
from types import SimpleNamespace

import numpy as np
import torch

from mor_torch import compress, export_streaming
from mor_torch.lra import build_model, resolve_config
from mor_torch.lra.cli import DEFAULT_PRESET
from mor_torch.lra.streaming import streaming_cost

#: The shapes of the tasks' data (what build_model reads from a task): smnist has one real input per
#: token, 10 classes and L = 196; listops-mini 16 token ids, 10 classes and sequences < 200.
TASKS = {
    "smnist": SimpleNamespace(n_classes=10, vocab_size=None, d_input=1, dual=False, max_length=196),
    "listops-mini": SimpleNamespace(n_classes=10, vocab_size=16, d_input=1, dual=False, max_length=200),
}


#: The variants timed (see the module doc).
KINDS = ("eager", "exported", "layer", "batch")


def build_models(preset: str, task: SimpleNamespace, orders: list[int]) -> dict[str, torch.nn.Module]:
    """The preset's model (seed 0, parameters perturbed like a trained model) and its reductions."""
    cfg = resolve_config(preset)
    torch.manual_seed(0)
    full = build_model(cfg.model, task)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in full.dss_layers():
            for p in (layer.lambda_im, layer.W, layer.log_step, layer.D):
                p.add_(0.05 * p.abs().mean() * torch.randn(p.shape, generator=g))
    full.eval()
    models = {f"N={full.hparams['d_state']}": full}
    for r in orders:
        small, _ = compress(full, r, length=task.max_length)
        models[f"r={r}"] = small.eval()
    return models


def make_variants(models: dict[str, torch.nn.Module], length: int, batch: int) -> dict[tuple[str, str], tuple]:
    """``{(model, variant): (step function, initial state, one example token)}``."""
    out = {}
    for name, model in models.items():
        stream = model.recurrent()
        token = stream.example_input(1)
        out[(name, "eager")] = (model.step, model.initial_state(1), token)
        out[(name, "exported")] = (export_streaming(model).module(), model.initial_state(1), token)
        form = model.dss_layers()[0].recurrent(length)
        out[(name, "layer")] = (form, form.initial_state(1), form.example_input(1))
        out[(name, "batch")] = (model.step, model.initial_state(batch), stream.example_input(batch))
    return out


def random_tokens(example: torch.Tensor, n: int, vocab_size: int | None, seed: int) -> list[torch.Tensor]:
    """``n`` tokens shaped like ``example``: ids below ``vocab_size``, or standard normal reals."""
    gen = torch.Generator().manual_seed(seed)
    if example.dtype == torch.int64:
        return list(torch.randint(0, vocab_size, (n, *example.shape), generator=gen))
    return list(torch.randn(n, *example.shape, generator=gen, dtype=example.dtype))


def run(variants: dict, vocab_size: int | None, tokens: int, warmup: int) -> dict[tuple[str, str], np.ndarray]:
    """Per-token times of every variant, the variants taking turns token by token."""
    inputs = {k: random_tokens(v[2], tokens + warmup, vocab_size, 2) for k, v in variants.items()}
    states = {k: v[1] for k, v in variants.items()}
    times = {k: [] for k in variants}

    def go(key, t):
        fn, x = variants[key][0], inputs[key][t]
        t0 = time.perf_counter()
        _, states[key] = fn(x, states[key])
        return time.perf_counter() - t0

    with torch.inference_mode():
        for key in variants:
            for t in range(warmup):
                go(key, t)
        for t in range(warmup, warmup + tokens):
            for key in variants:
                times[key].append(go(key, t))
    return {k: np.array(v) for k, v in times.items()}


def check(models: dict, variants: dict, vocab_size: int | None, length: int = 64) -> dict[str, float]:
    """Max relative difference of the streamed logits (eager and exported) from the convolution's."""
    out = {}
    with torch.no_grad():
        for name, model in models.items():
            xs = random_tokens(variants[(name, "eager")][2], length, vocab_size, 3)
            x = torch.stack(xs, 1)  # (1, length) ids or (1, length, d_input)
            ref = torch.stack([model(x[:, : t + 1], torch.tensor([t + 1])) for t in range(length)], 1)
            for variant in ("eager", "exported"):
                fn, state, _ = variants[(name, variant)]
                got = []
                for t in range(length):
                    y, state = fn(xs[t], state)
                    got.append(y)
                got = torch.stack(got, 1)
                out[f"{name} {variant}"] = float((got - ref).abs().max() / ref.abs().max())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=4000, help="timed tokens per model and variant")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--orders", type=int, nargs="+", default=[16, 8, 4])
    ap.add_argument("--batch", type=int, default=64, help="sequences side by side in the batch variant")
    ap.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(TASKS))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    task = TASKS[args.preset]
    models = build_models(args.preset, task, args.orders)
    variants = make_variants(models, task.max_length, args.batch)
    print(f"python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}, 1 thread, "
          f"load average {os.getloadavg()[0]:.1f} (start); preset {args.preset}")
    diffs = check(models, variants, task.vocab_size)
    res = {}
    for kind in KINDS:  # one kind at a time: a batch step would evict the caches of the step timed after it
        res.update(run({k: v for k, v in variants.items() if k[1] == kind}, task.vocab_size, args.tokens, args.warmup))
    print(f"load average {os.getloadavg()[0]:.1f} (end); {args.tokens} tokens per variant, interleaved token by "
          "token; median us/token; ratio = this model's median / the full model's")
    full = next(iter(models))
    head = (f"{'model':<7} {'state':>7} {'KiB':>6} {'MACs/token':>10} {'SSM MACs':>9} | {'eager':>7} {'ratio':>5} | "
            f"{'exported':>8} {'ratio':>5} | {'layer':>6} {'ratio':>5} | {'batch':>7} {'ratio':>5} | {'max diff':>8}")
    print(head)
    print("-" * len(head))
    for name, model in models.items():
        cost = streaming_cost(model)
        reals = model.recurrent().state_size
        cells = []
        for variant in KINDS:
            t = float(np.median(res[(name, variant)]))
            ratio = t / float(np.median(res[(full, variant)]))
            cells.append(f"{t * 1e6:7.1f} {ratio:5.2f}")
        diff = max(diffs[f"{name} eager"], diffs[f"{name} exported"])
        print(f"{name:<7} {reals:>7} {reals * 4 / 1024:6.1f} {cost['macs_per_token']:>10} "
              f"{cost['ssm_macs_per_token']:>9} | {' | '.join(cells)} | {diff:8.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
