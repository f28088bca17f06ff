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
# # Balanced truncation of a large sparse model
#
# A 2-D convection-diffusion model on the unit square, discretised by central finite differences
# on a 100 x 100 grid: `n = 10,000` states, five non-zeros per row of `A`, two inputs (heat
# sources on two squares) and two outputs (mean temperatures on two others).  It is a *generated
# stand-in* ([`mor.models.convection_diffusion_2d`][mor.models.convection_diffusion_2d]) for the
# PDE models of the SLICOT benchmark collection, whose files cannot be downloaded here.
#
# Dense balanced truncation would cost `O(n^3)` (hours at this size).  The low-rank route of
# [`balanced_truncation`][mor.reduction.balanced.balanced_truncation] computes Gramian factors
# `P ~= Z Z^T`, `Q ~= Y Y^T` with a few dozen columns by the low-rank ADI iteration, certifies
# how accurate they are, and reduces through them.

# %%
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np

from mor import AccuracyWarning, balanced_truncation, frequency_response, low_rank_gramians
from mor.models import convection_diffusion_2d

t_start = time.perf_counter()
sys = convection_diffusion_2d(100)
print(sys)

# %% [markdown]
# ## Low-rank Gramians and their residuals
#
# [`low_rank_gramians`][mor.gramians.lowrank.low_rank_gramians] runs the controllability and the
# observability iterations in lockstep: each shift costs one sparse LU factorisation of
# `A + p I`, and the observability iteration solves with its conjugate transpose.  Shifts are
# Ritz values of `A` on the latest iterates, and shifts already factorised are reused.  The
# residual `||A Z Z^T + Z Z^T A^T + B B^T|| / ||B||^2` is known at every step (it equals
# `||W_j||^2` for the residual factor `W_j`); the returned `residuals` are certified upper bounds
# that include the rounding errors of the solves.

# %%
t0 = time.perf_counter()
g = low_rank_gramians(sys)
print(f"{time.perf_counter() - t0:.2f} s: {g.steps} ADI steps on {g.factorizations} factorisations, "
      f"factor ranks {g.Z.shape[1]} and {g.Y.shape[1]}")
print(f"certified residuals: P {g.residuals[0]:.1e}, Q {g.residuals[1]:.1e}")
print(g.note)
print(f"=> ||P - Z Z^T|| <= {g.gramian_errors[0]:.2e} (||Z Z^T|| = {g.norms[0]:.2e}), "
      f"||Q - Y Y^T|| <= {g.gramian_errors[1]:.2e} (||Y Y^T|| = {g.norms[1]:.2e})")

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.semilogy(np.arange(1, len(g.residual_history[0]) + 1), g.residual_history[0], ".-", label="P")
ax.semilogy(np.arange(1, len(g.residual_history[1]) + 1), g.residual_history[1], "x-", label="Q")
ax.axhline(1e-10, color="gray", ls=":", label="tol")
ax.set_xlabel("ADI step")
ax.set_ylabel("relative residual")
ax.set_title(f"Residual history ({g.factorizations} sparse LU factorisations)")
ax.legend()
ax.grid(True, which="both", alpha=0.3)
plt.show()

# %% [markdown]
# ## Hankel singular values, and which of them are certified
#
# The Hankel singular values are those of `Y^T Z`.  From the certified Gramian errors, Weyl's
# inequality gives an interval for every true value; `certificate.certified` counts the leading
# values known to `hsv_rtol` (relative `1e-3` by default), and every true value the factors do
# not resolve lies below `certificate.unresolved_hsv`.

# %%
res = balanced_truncation(sys, 8)
cert = res.certificate
print("route:", res.route)
print(cert.note)
k = 20
fig, ax = plt.subplots(figsize=(6, 3.4))
i = np.arange(1, k + 1)
ax.semilogy(i, res.hsv[:k], "o", ms=4, label=r"computed $\tilde\sigma_i$")
ax.fill_between(i, cert.hsv_lower[:k], cert.hsv_upper[:k], alpha=0.3, label="certified enclosure")
ax.axhline(cert.unresolved_hsv, color="gray", ls=":", label="resolution of the residuals")
ax.axvline(cert.certified + 0.5, color="k", lw=0.8)
ax.set_ylim(bottom=res.hsv[k - 1] / 10)  # the enclosures of the unresolved values reach down to 0
ax.set_xlabel("i")
ax.set_ylabel(r"$\sigma_i$")
ax.legend(fontsize=8)
ax.grid(True, which="both", alpha=0.3)
plt.show()

# %% [markdown]
# ## Measured error against the bound
#
# The error of each reduced model is sampled on a frequency grid with the full sparse model's
# response (one sparse LU factorisation per frequency, shared by all orders).  The bound
# `2 (sigma_{r+1} + ...)` of the approximate Gramians is qualified by the certificate:
# `certificate.meaningful` says whether the first truncated value is resolved by the residuals
# (an [`AccuracyWarning`][mor.errors.AccuracyWarning] otherwise; counted here).

# %%
w = np.concatenate([[0.0], np.logspace(-1, 4, 60)])
G = frequency_response(sys, w)
orders = [2, 4, 6, 8, 10]
errors, bounds, meaningful = [], [], []
for r in orders:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AccuracyWarning)
        res_r = balanced_truncation(sys, r)
    Gr = frequency_response(res_r.reduced, w)
    errors.append(np.linalg.norm(G - Gr, ord=2, axis=(1, 2)).max())
    bounds.append(res_r.error_bound)
    meaningful.append(res_r.certificate.meaningful and not caught)
    assert errors[-1] <= bounds[-1] and np.all(res_r.reduced.poles().real < 0)
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.semilogy(orders, bounds, "s-", label=r"bound $2\sum_{i>r}\tilde\sigma_i$")
ax.semilogy(orders, errors, "o-", label="sampled error")
ax.semilogy(orders, res.hsv[orders], "v-", label=r"$\tilde\sigma_{r+1}$")
ax.set_xlabel("reduced order r")
ax.legend()
ax.grid(True, which="both", alpha=0.3)
plt.show()
for r, e, b, ok in zip(orders, errors, bounds, meaningful, strict=True):
    print(f"r = {r:2d}: sampled error {e:.3e} <= bound {b:.3e}   (bound resolved by the residuals: {ok})")

# %% [markdown]
# ## The reduced model is a plain state space
#
# `W^T V = I`, so the reduced model is `(W^T A V, W^T B, C V, D)` with no descriptor matrix:
# its poles and responses are read from `A_r` directly.  (pyMOR's reduced models carry an `E`
# with `max |E - I|` of order one for this model; see `benchmarks/bench_sparse_bt.py`.)

# %%
red = res.reduced
print(red, "  max |W^T V - I| =", np.abs(res.W.T @ res.V - np.eye(8)).max())
print("poles:", np.sort_complex(red.poles()))
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.loglog(w[1:], np.abs(G[1:, 0, 0]), label="full, n = 10,000")
ax.loglog(w[1:], np.abs(frequency_response(red, w[1:])[:, 0, 0]), "--", label="reduced, r = 8")
ax.loglog(w[1:], np.abs(G[1:, 0, 0] - frequency_response(red, w[1:])[:, 0, 0]), ":", label="error")
ax.set_xlabel(r"$\omega$")
ax.set_ylabel(r"$|G_{11}(j\omega)|$")
ax.legend(fontsize=8)
ax.grid(True, which="both", alpha=0.3)
plt.show()
print(f"notebook run time: {time.perf_counter() - t_start:.1f} s")
