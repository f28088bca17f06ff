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
# # A DSS layer as a batch of LTI systems
#
# A DSS layer (Gupta, Gu, Berant 2022) with `H` channels and state size `N` is `H` single-input,
# single-output diagonal systems.  `mor_torch.to_lti` turns it into one batched
# `mor.DiagonalLTI` (batch shape `(H,)`), exactly: the layer's convolution kernel *is* the
# impulse response of that system.  Every `mor` routine then works on all channels at once:
# here the Hankel singular values per channel (the style of Figure 5 of Ezoe & Sato 2024:
# hidden size 16, `N = 128`, DSS_SOFTMAX) and balanced truncation of the whole layer.
#
# The layer below is freshly initialised (Skew-HiPPO poles, random weights), not trained, so its
# Hankel singular values decay slowly; trained layers are usually far more compressible.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

from mor import hankel_singular_values, impulse_response
from mor_torch import DSS, reduce_layer, to_lti

t_start = time.perf_counter()
torch.manual_seed(0)
H, N, L = 16, 128, 1024
layer = DSS(H, N, mode="softmax", init="skew-hippo", dtype=torch.float64)
print(layer)

# %% [markdown]
# ## The layer as a `mor` system
#
# `time="discrete"` gives the zero-order-hold system the layer computes (one sample per unit
# time); DSS_SOFTMAX depends on the kernel length, so `length=L` is required.  The kernel is the
# Markov sequence shifted by one sample: `K_k = Re(h[k+1]) = Re(C A^k B)`.

# %%
sys = to_lti(layer, time="discrete", length=L)
print(sys)
with torch.no_grad():
    K = layer.kernel(L).numpy()  # (H, L)
h = impulse_response(sys, L + 1)[:, 1:, 0, 0].real  # (H, L)
print("max |K - Re h[1:]| / max |K| =", np.abs(K - h).max() / np.abs(K).max())

# %% [markdown]
# ## Hankel singular values per channel
#
# One call computes the `H x N` Hankel singular values (pivoted Cholesky factors of the
# Cauchy-like Gramians, accurate to small relative error even far below `sigma_1`).  Left: the
# discrete Gramians of the system the layer computes; right: the continuous Gramians of
# `(diag(lambda), 1, C)`, which ignore the step `Delta` (the Skew-HiPPO imaginary parts reach far
# beyond the Nyquist frequency `pi / Delta`, so the two differ).

# %%
hsv = hankel_singular_values(sys)  # (H, N)
hsv_c = hankel_singular_values(to_lti(layer, time="continuous", length=L))
fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
for ax, values, title in [(axes[0], hsv, "discrete Gramians"), (axes[1], hsv_c, "continuous Gramians")]:
    for ch in range(H):
        ax.semilogy(np.arange(1, N + 1), values[ch] / values[ch, 0], lw=0.8)
    ax.set_title(title)
    ax.set_xlabel("i")
    ax.grid(True, which="both", alpha=0.3)
axes[0].set_ylabel(r"$\sigma_i / \sigma_1$ (one line per channel)")
plt.show()
print("sigma_1 per channel:", np.array2string(hsv[:, 0], precision=2))

# %% [markdown]
# ## Reducing the layer
#
# `reduce_layer` reduces all `H` channels by one batched balanced truncation (discrete Gramians,
# per-channel poles, balancing-free square root) and converts the result back into a DSS layer
# of state size `r` (DSS Proposition 1).  For every channel the l2 norm of the kernel error is at
# most that channel's bound `2 (sigma_{r+1} + ... + sigma_N)`.

# %%
errors = {}
for r in (8, 32):
    small, report = reduce_layer(layer, r, length=L)
    with torch.no_grad():
        K_r = small.kernel(L).numpy()
    err = np.linalg.norm(K - K_r, axis=1)
    assert np.all(err <= report.error_bound * (1 + 1e-8))
    errors[r] = (K_r, err, report.error_bound)
    print(f"r = {r:3d}: {small}")
    print(f"        max_h ||K_h - K_r,h||_2 = {err.max():.3f}, "
          f"max_h bound_h = {report.error_bound.max():.1f}, max_h error/bound = {(err / report.error_bound).max():.3f}")

# %% [markdown]
# The kernels of three channels, full (`N = 128`) and reduced:

# %%
fig, axes = plt.subplots(3, 1, figsize=(8, 6), sharex=True)
k = np.arange(L)
for ax, ch in zip(axes, (0, 5, 11), strict=True):
    ax.plot(k, K[ch], lw=1.2, label=f"N = {N}")
    for r, (K_r, _, _) in errors.items():
        ax.plot(k, K_r[ch], "--", lw=0.9, label=f"r = {r}")
    ax.set_xscale("symlog", linthresh=10)
    ax.set_ylabel(f"channel {ch}")
axes[0].legend(ncol=3, fontsize=8)
axes[-1].set_xlabel("k")
plt.show()

# %%
print(f"notebook executed in {time.perf_counter() - t_start:.1f} s")
