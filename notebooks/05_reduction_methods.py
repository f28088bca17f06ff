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
# # Reduction methods, layer-adaptive budgets and the compression curve
#
# Four ways to reduce a linear system, and three ways to share a state budget across the layers
# of a DSS model; each in one picture.
#
# | method | keeps | bound |
# |---|---|---|
# | balanced truncation (BT) | the high-frequency gain | `2 sum(hsv[r:])` |
# | balanced singular perturbation (BSP, `match_dc=True`) | the DC gain, exactly | the same |
# | modal truncation | the system's own poles | the dropped H-infinity scores |
# | IRKA (H2-optimal) | a local minimum of the H2 error | none |
#
# The guide page [Reduction methods](../guide/methods.md) has the details and the full experiment.

# %%
import json
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from mor import (
    DiagonalLTI,
    balanced_truncation,
    frequency_response,
    h2_norm,
    hankel_singular_values,
    hinf_norm,
    irka,
    modal_truncation,
)

t_start = time.perf_counter()
rng = np.random.default_rng(0)
n = 48  # one DSS-like channel: lightly damped modes spread over frequency
poles = -np.exp(rng.uniform(-2.5, 0.5, n)) + 1j * np.sort(rng.uniform(-30, 30, n))
C = (rng.standard_normal((1, n)) + 1j * rng.standard_normal((1, n))) / 4
sys = DiagonalLTI(poles, np.ones((n, 1)), C)
hsv = hankel_singular_values(sys)

# %% [markdown]
# ## Four reduced models of order 8
#
# Left: the Hankel singular values (BT's bound for order `r` is twice the sum of those to the right
# of `r`).  Right: the error `|G(j omega) - G_r(j omega)|` of each method.  BSP's error vanishes at
# `omega = 0` (the DC gain is kept) and is larger at high frequencies; modal truncation is exact at
# the poles it keeps and pays elsewhere; IRKA minimises the error's energy (the area under the
# squared curve), BT sits in between with a guaranteed bound.

# %%
r = 8
reduced = {
    "BT": balanced_truncation(sys, r).reduced,
    "BSP (match_dc)": balanced_truncation(sys, r, match_dc=True).reduced,
    "modal": modal_truncation(sys, r).reduced,
    "IRKA (H2)": irka(sys, r).reduced,
}
omega = np.concatenate([np.linspace(-40, 40, 4001), poles.imag])
omega.sort()
G = frequency_response(sys, omega)[:, 0, 0]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
ax1.semilogy(np.arange(1, n + 1), hsv, "o-", ms=3)
ax1.axvline(r + 0.5, color="k", ls="--", lw=0.8)
ax1.set(xlabel="index", ylabel="Hankel singular value", title=f"HSVs; BT bound at r = {r}: {2 * hsv[r:].sum():.2f}")
for name, red in reduced.items():
    err = sys - red
    ax2.semilogy(omega, np.abs(G - frequency_response(red, omega)[:, 0, 0]), lw=0.9,
                 label=f"{name}: Hinf {hinf_norm(err):.2f}, H2 {h2_norm(err):.2f}")
ax2.set(xlabel="omega", ylabel="|G - G_r|", title="error of each method")
ax2.legend(fontsize=7.5)
fig.tight_layout()
plt.show()

# %% [markdown]
# (In continuous time the H2 norm of BSP's error is infinite: its feedthrough `D_r` differs from
# `D`.)  The DSS layer computes the discrete system of each channel; there the same four methods
# are `reduce_layer(layer, r, reducer="bt" | "bsp" | "modal" | "h2")`.
#
# ## One budget for the whole model
#
# A small classifier (sequential MNIST, 2 layers of 16 channels with 16 states) is pre-trained for
# one epoch and compressed by every method at three fractions of its 512 states: the
# `compression-smoke` preset, which runs the code path of the `compression` experiment in
# seconds (its numbers mean little; the experiment's are on the guide page).

# %%
from mor_torch.lra import resolve_config, run_pipeline
from mor_torch.lra.compression import LABELS
from mor_torch.lra.report import format_table

run_dir = Path(tempfile.mkdtemp(prefix="mor-compression-")) / "run"
config = resolve_config("compression-smoke", {"run.threads": 1, "compression.fractions": [1.0, 0.5, 0.25, 0.125]})
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    results = run_pipeline(config, run_dir)
get_ipython().run_line_magic("matplotlib", "inline")  # noqa: F821 - the run's plots switched pyplot to Agg
print(format_table(results))
comp = json.loads((run_dir / "compression.json").read_text())

# %% [markdown]
# ## Which states each allocation keeps
#
# BT's allocation ranks the Hankel singular values of every channel, normalised by the sum over
# the layer; LAST ranks the modes' H-infinity norms and AIRE their impulse-response energies, both
# normalised LAMP-style.  Each keeps the top `S` globally, so a layer (and a channel) gets what its
# scores earn:

# %%
points = comp["per_seed"]["0"]["points"]
fractions = [f for f in comp["fractions"] if f < 1]
fig, axes = plt.subplots(1, len(fractions), figsize=(3.4 * len(fractions), 3.0), squeeze=False)
for ax, f in zip(axes[0], fractions, strict=True):
    for j, method in enumerate(("bt", "last", "aire")):
        p = next(p for p in points if p["method"] == method and p["fraction"] == f)
        x = np.arange(1, len(p["layer_states"]) + 1) + (j - 1) * 0.27
        ax.bar(x, p["layer_states"], width=0.27, label=LABELS[method])
    ax.set(title=f"{f:g} of the states", xlabel="layer", xticks=[1, 2])
axes[0][0].set_ylabel("states kept")
fig.legend(*axes[0][0].get_legend_handles_labels(), loc="upper center", ncol=3, fontsize=8, bbox_to_anchor=(0.5, 1.1))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## The compression curve
#
# Test accuracy without retraining against the fraction of states kept.  Every method starts at
# the pre-trained accuracy (fraction one keeps the model as it is).

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for method in comp["methods"]:
    c = comp["curves"][method]
    ax.plot(c["kept"], c["accuracy"], "o-", ms=3.5, label=comp["labels"][method])
ax.axhline(comp["pretrained"]["accuracy"], color="k", ls="--", lw=0.8, label="pre-trained")
ax.set(xscale="log", xlabel="fraction of SSM states kept", ylabel="test accuracy, no retraining")
ax.invert_xaxis()
ax.legend(fontsize=7)
plt.show()
print(f"notebook ran in {time.perf_counter() - t_start:.1f} s")
