# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Compressing a model trained elsewhere: S4D, then streaming it token by token
#
# `mor_torch` reduces not only its own `DSS` layers but the diagonal state-space layers people train
# with other code: S4D, LRU and S5, recognised by their parameter names (see the guide page
# [Layer families](../guide/families.md)).  Here an S4D model, written from the formulas of the S4D paper
# (Gu, Gupta, Goel, Re 2022) and *not* from `mor_torch`, is trained briefly on sequential MNIST
# (14 x 14 pixels, `L = 196`), compressed with `compress(model, ...)` by each reducer, and streamed
# token by token before and after, with the latency per token.
#
# The S4D layer keeps `N/2` complex modes per channel, `A = -exp(log_A_real) + i A_imag`, a step
# `dt = exp(log_dt)` per channel and `C` as `view_as_real` pairs; its kernel is
# `K_l = 2 Re sum_n C_n (exp(dt A_n) - 1) / A_n exp(dt A_n l)` and the layer computes `y = K * u + D u`.

# %%
import math
import statistics
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from mor_torch import compress
from mor_torch.families import family_of, recurrent
from mor_torch.lra.data import load_task

t_start = time.perf_counter()
torch.set_num_threads(1)
torch.manual_seed(0)


class S4DKernel(nn.Module):
    """The S4D convolution kernel (paper formulas), S4D-Lin initialisation."""

    def __init__(self, H, N, dt_min=1e-3, dt_max=1e-1):
        super().__init__()
        self.log_dt = nn.Parameter(math.log(dt_min) + torch.rand(H) * (math.log(dt_max) - math.log(dt_min)))
        self.C = nn.Parameter(torch.view_as_real(torch.randn(H, N // 2, dtype=torch.cfloat) * 0.5**0.5))
        self.log_A_real = nn.Parameter(torch.log(0.5 * torch.ones(H, N // 2)))
        self.A_imag = nn.Parameter(math.pi * torch.arange(N // 2, dtype=torch.float32).repeat(H, 1))

    def forward(self, L):
        dtA = (-torch.exp(self.log_A_real) + 1j * self.A_imag) * torch.exp(self.log_dt)[:, None]
        A = dtA / torch.exp(self.log_dt)[:, None]
        coef = torch.view_as_complex(self.C) * torch.expm1(dtA) / A
        return 2 * torch.einsum("hn,hnl->hl", coef, torch.exp(dtA[..., None] * torch.arange(L))).real


class S4D(nn.Module):
    """An S4D layer: ``y = K * u + D u`` by FFT convolution; input ``(batch, L, H)``."""

    def __init__(self, H, N):
        super().__init__()
        self.h, self.n = H, N
        self.D = nn.Parameter(torch.randn(H))
        self.kernel = S4DKernel(H, N)

    def forward(self, u):
        L = u.shape[1]
        k_f = torch.fft.rfft(self.kernel(L), n=2 * L)
        y = torch.fft.irfft(torch.fft.rfft(u.transpose(1, 2), n=2 * L) * k_f, n=2 * L)[..., :L]
        return y.transpose(1, 2) + u * self.D


class Classifier(nn.Module):
    """Encoder, residual blocks (S4D -> GELU -> linear, then layer norm), mean pooling, decoder."""

    def __init__(self, H=32, N=64, depth=2, n_classes=10):
        super().__init__()
        self.encoder = nn.Linear(1, H)
        self.ssm = nn.ModuleList(S4D(H, N) for _ in range(depth))
        self.mix = nn.ModuleList(nn.Linear(H, H) for _ in range(depth))
        self.norm = nn.ModuleList(nn.LayerNorm(H) for _ in range(depth))
        self.decoder = nn.Linear(H, n_classes)

    def block(self, i, x, y):  # what follows the SSM in block i (shared by the streaming form)
        return self.norm[i](x + self.mix[i](torch.nn.functional.gelu(y)))

    def forward(self, u):
        x = self.encoder(u)
        for i, ssm in enumerate(self.ssm):
            x = self.block(i, x, ssm(x))
        return self.decoder(x.mean(dim=1))


# %% [markdown]
# ## Training briefly on sequential MNIST
#
# The default task of the pipeline (`mor_torch.lra`'s `smnist` loader: the offline 5,000-image
# subset, 2 x 2 averaged to 14 x 14), here five epochs on 2,000 images (about a minute on one core),
# enough for a model whose compression can be judged; the test set has 1,000 images.

# %%
data = load_task("smnist", n_train=2000, n_val=200, n_test=1000, resolution=14)
x_train, y_train = data.train.pixels, torch.as_tensor(data.train.labels)
x_test, y_test = data.test.pixels, torch.as_tensor(data.test.labels)
model = Classifier()
print(
    "layers:",
    {name: family_of(m).name for name, m in model.named_modules() if name.startswith("ssm.") and name.count(".") == 1},
)
ssm_params = [p for n, p in model.named_parameters() if ".kernel." in n]
other = [p for n, p in model.named_parameters() if ".kernel." not in n]
opt = torch.optim.AdamW([{"params": ssm_params, "weight_decay": 0.0}, {"params": other}], lr=1e-2, weight_decay=0.01)


def accuracy(net, x=x_test, y=y_test):
    with torch.no_grad():
        return float(torch.cat([net(xb).argmax(-1) for xb in x.split(500)]).eq(y).float().mean())


t_train = time.perf_counter()
for epoch in range(5):
    perm = torch.randperm(len(y_train))
    for idx in perm.split(50):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
        loss.backward()
        opt.step()
    print(f"epoch {epoch}: last batch loss {loss.item():.3f}")
model.eval()
acc_full = accuracy(model)
print(f"trained in {time.perf_counter() - t_train:.0f} s; test accuracy {acc_full:.3f}")

# %% [markdown]
# ## `compress` with each reducer
#
# `compress(model, r)` finds both S4D layers (by their parameter names), converts each channel to
# a `mor` system (a DSS_EXP channel with `W = 2 C`, zero-order hold), reduces it and writes it back
# as an S4D layer with `r` stored modes (`N = 64 -> 2 r`): the same class, smaller tensors, still
# `2 Re` of a complex system.  No retraining.  BT and BSP report a bound per channel on the
# H-infinity error of the layer's linear map (large here: the trained modes decay slowly, and the
# bound covers all time, not only the 196 steps of a sequence); modal truncation and IRKA have none.
# The `kernel` reducer (`mor.finite_length_reduction`) fits the first `L = 196` kernel taps by least
# squares from BT's model, with every pole kept inside the unit circle: it uses what the model
# actually computes, and has no bound.

# %%
r = 8
REDUCERS = ("bt", "bsp", "modal", "h2", "kernel")
options = {"kernel": {"length": 196}}  # the kernel fit works on the first L taps
results, table = {}, {}
t_compress = time.perf_counter()
for order in (16, r):
    for reducer in REDUCERS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # IRKA and the kernel fit report channels that did not converge
            small, report = compress(model, order, reducer=reducer, **options.get(reducer, {}))
        bounds = [float(np.max(rep.error_bound)) for rep in report.layers.values() if rep.error_bound is not None]
        table[order, reducer] = (accuracy(small), max(bounds) if bounds else float("nan"))
        if order == r:
            results[reducer] = (small, table[order, reducer][0])
print(
    f"{len(table)} compressions in {time.perf_counter() - t_compress:.0f} s; S4D C of the reduced model: "
    f"{tuple(results['bt'][0].ssm[0].kernel.C.shape)} (was {tuple(model.ssm[0].kernel.C.shape)})"
)
print(f"test accuracy without retraining (full model, N = 64: {acc_full:.3f})")
print("reducer   N = 32 (r = 16)   N = 16 (r = 8)   largest channel bound at r = 16 / 8")
for reducer in REDUCERS:
    (a16, b16), (a8, b8) = table[16, reducer], table[r, reducer]
    print(f"{reducer:>7}   {a16:15.3f}   {a8:14.3f}   {b16:.3g} / {b8:.3g}")

# %% [markdown]
# ## Streaming, token by token
#
# `mor_torch.families.recurrent(layer)` is the layer's recurrence, discretised once from its current
# parameters: `x_k = exp(dt A) x_{k-1} + (exp(dt A) - 1) / A u_k`, `y_k = 2 Re(C x_k) + D u_k`, with
# `initial_state(batch)` and `step(u_t, state) -> (y_t, state)`.  The rest of each block works on one
# token as it is, and mean pooling becomes a running sum.  The streamed logits equal the convolution
# model's; the cost of a token is what a reduction removes: `H N/2` complex state updates per layer.


# %%
class Streaming:
    """A trained Classifier run one token at a time."""

    def __init__(self, net):
        self.net, self.cells = net, [recurrent(ssm) for ssm in net.ssm]

    def start(self, batch):
        return [c.initial_state(batch) for c in self.cells], torch.zeros(batch, self.net.decoder.in_features)

    def step(self, u_t, states, total):
        x = self.net.encoder(u_t)
        new = []
        for i, cell in enumerate(self.cells):
            y, s = cell.step(x, states[i])
            x = self.net.block(i, x, y)
            new.append(s)
        return new, total + x

    def logits(self, u):
        states, total = self.start(u.shape[0])
        for t in range(u.shape[1]):
            states, total = self.step(u[:, t], states, total)
        return self.net.decoder(total / u.shape[1])


def latency_per_token(stream, u):
    """Median seconds per token (batch 1) of the whole model's step and of its SSM recurrences alone."""
    states, total = stream.start(1)
    whole, ssm = [], []
    for t in range(u.shape[1]):
        t0 = time.perf_counter()
        states, total = stream.step(u[:1, t], states, total)
        whole.append(time.perf_counter() - t0)
        x = torch.randn(1, stream.net.decoder.in_features)
        t0 = time.perf_counter()
        for cell, s in zip(stream.cells, states, strict=True):
            cell.step(x, s)
        ssm.append(time.perf_counter() - t0)
    return statistics.median(whole), statistics.median(ssm)


with torch.no_grad():
    sample = x_test[:64]
    for name, net in (("full", model), ("bt", results["bt"][0])):
        diff = (Streaming(net).logits(sample) - net(sample)).abs().max().item()
        print(f"{name}: max |streamed - convolution logits| = {diff:.2e}")
    latency, n_states = {}, {}
    for name, net in (("full", model), *((k, v[0]) for k, v in results.items())):
        stream = Streaming(net)
        runs = np.array([latency_per_token(stream, x_test[i : i + 1]) for i in range(5)])
        latency[name] = np.median(runs, axis=0)
        n_states[name] = sum(c.initial_state(1)[0, 0].numel() for c in stream.cells)
print("model   complex states   us/token (model)   us/token (SSM steps)   SSM speed-up")
for name, (whole, ssm) in latency.items():
    print(
        f"{name:>5}   {n_states[name]:14d}   {1e6 * whole:16.1f}   {1e6 * ssm:20.1f}   "
        f"{latency['full'][1] / ssm:11.2f}x"
    )

# %% [markdown]
# ## Accuracy and latency per token
#
# The reduction keeps a quarter of the states (`N = 64 -> 16` per channel).  At this size (32
# channels, two layers) a token costs a few dozen small `torch` operations, and their dispatch
# overhead, not the state update, sets the latency: the whole step barely changes, and even the
# SSM steps alone gain less than the state count.  The payoff grows with the state size and on
# hardware without per-operation overhead; `benchmarks/bench_streaming.py` measures the
# pipeline's model.

# %%
names = ["full", *REDUCERS]
acc = [acc_full] + [results[k][1] for k in names[1:]]  # r = 8
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
colours = ["k", "C0", "C1", "C2", "C3", "C4"]
ax1.bar(names, acc, color=colours)
ax1.set(ylabel="test accuracy", ylim=(0, 1), title=f"S4D on sMNIST 14x14: N = 64 -> {2 * r}, no retraining")
ax2.bar(names, [1e6 * latency[k][0] for k in names], color="0.8", label="whole model step")
ax2.bar(names, [1e6 * latency[k][1] for k in names], color=colours, label="SSM steps")
ax2.set(ylabel="microseconds per token", title="streaming, batch 1, one thread (median)")
ax2.legend()
fig.tight_layout()
plt.show()
print(f"notebook ran in {time.perf_counter() - t_start:.0f} s")
