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
# # Reading a pipeline run
#
# The pipeline of Ezoe & Sato (2024), `python -m mor_torch.lra`, runs these stages per seed:
#
# | stage | what | training compute (tokens) |
# |---|---|---|
# | `pretrained` | a DSS classifier of state size `N` from Skew-HiPPO | `T_p` |
# | `reduced` | every DSS layer reduced to order `r` by balanced truncation, evaluated as is | `T_p` |
# | `bt_init` | `reduced` main-trained: the method | `T_p + T_m` |
# | `modal_reduced`, `modal_init` | modal truncation to `r`, before and after main training | `T_p`, `T_p + T_m` |
# | `full_continued` | the size-`N` model trained on (the upper reference) | `T_p + T_m` |
# | `skew_hippo` | size `r` from Skew-HiPPO with the main recipe (the paper's baseline) | `T_m` |
# | `skew_hippo_matched` | the same for pre-training + main epochs (BT's compute) | `T_p + T_m` |
#
# (Modal truncation keeps, per channel, the `r` modes of largest H-infinity norm.)  Here we run the
# `claims-smoke` preset (sequential MNIST on 500 images, a small model,
# `N = 16 -> r = 4`, three seeds, and the second claim's extra runs from two pre-training
# checkpoints), which takes seconds, and read what it leaves in the run directory.  The command
# line equivalent is
#
# ```bash
# python -m mor_torch.lra --preset claims-smoke --out runs/claims-smoke
# ```
#
# At this size the accuracies say little about the method: the point is the machinery and the
# reports.  `make run` runs the default `smnist` preset (minutes), `--preset claims` the full
# claims experiment (about 35 minutes on 2 cores).

# %%
import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from IPython.display import Image, display

from mor_torch.lra import resolve_config, run_pipeline
from mor_torch.lra.report import format_table

t_start = time.perf_counter()
workdir = Path(tempfile.mkdtemp(prefix="mor-pipeline-"))
config = resolve_config("claims-smoke", {"run.threads": 2})
run_dir = workdir / "run"
results = run_pipeline(config, run_dir)
print(format_table(results))

# %% [markdown]
# ## The run directory

# %%
for path in sorted(run_dir.rglob("*")):
    if path.is_file() and "seed1" not in path.parts and "seed2" not in path.parts:
        print(f"{path.relative_to(run_dir)!s:44} {path.stat().st_size:>9,d} bytes")

# %% [markdown]
# `results.json` holds, per stage, the mean and standard deviation of the test accuracy over the
# seeds (each measured with the weights of the best validation epoch), the training compute of the
# stage's path in tokens, the state size and parameter counts; then `comparisons`, the method
# (`bt_init`) minus every other stage paired over seeds with a 95% t interval:

# %%
summary = json.loads((run_dir / "results.json").read_text())
for stage in ("pretrained", "bt_init", "skew_hippo", "skew_hippo_matched"):
    s = summary[stage]
    print(f"{stage:19s} d_state={s['d_state']:3d}  tokens={s['train_tokens']:>9,.0f}  "
          f"test acc={s['accuracy']:.3f} +- {s['accuracy_std']:.3f}")
for stage, c in summary["comparisons"].items():
    print(f"bt_init - {stage:19s} {c['mean_diff']:+.3f}  95% CI {np.round(c['ci95'], 3)}")

# %% [markdown]
# `claims.json` (also `results["claims"]`) states the paper's two claims and what this run says of
# them.  Claim 1 compares `bt_init` with both Skew-HiPPO baselines; claim 2 correlates, over the
# (seed, pre-training checkpoint) points, the accuracy of the pre-trained weights with the accuracy
# after reduction and main training:

# %%
claims = json.loads((run_dir / "claims.json").read_text())
for base in ("skew_hippo", "skew_hippo_matched"):
    print("claim 1 vs", base, {k: claims["claim1"][base][k] for k in ("mean_diff", "ci95", "verdict")})
c2 = claims["claim2"]
print("claim 2:", {k: c2[k] for k in ("rho", "ci95", "n_points", "verdict")})
for p in c2["points"]:
    print(f"  seed {p['seed']} epoch {p['epoch']}: pre-trained {p['pretrained_test_accuracy']:.3f} -> "
          f"final {p['final_test_accuracy']:.3f}")

# %% [markdown]
# `reduction` measures the two reductions per layer: for balanced truncation the fraction of the
# Hankel singular values' sum kept, the error bound relative to the kernel's norm and the measured
# relative kernel error (the bound must hold: `within_bound_fraction` is 1); for modal truncation
# the measured error only (it has no a-priori bound):

# %%
for reducer in ("reduced", "modal_reduced"):
    for layer in summary["reduction"][reducer]["layers"]:
        print(reducer, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in layer.items()})

# %% [markdown]
# `metrics.csv` has one row per stage, seed and epoch, with the tokens trained on since the start
# of the stage's path (`path_tokens`); the validation accuracy of seed 0:

# %%
with open(run_dir / "metrics.csv", newline="") as f:
    rows = list(csv.DictReader(f))
for row in rows:
    if row["seed"] == "0":
        print(f"{row['stage']:19s} epoch {row['epoch']}  tokens {int(float(row['path_tokens'])):>8,d}  "
              f"val acc {float(row['val_accuracy']):.3f}")

# %% [markdown]
# The Hankel singular values of every layer and channel are saved as `seed<k>/reduced/hsv.npz`
# (one `(H, N)` array per layer), so the reduction can be inspected without re-running it:

# %%
with np.load(run_dir / "seed0" / "reduced" / "hsv.npz") as z:
    hsv = z["layer0"]
print("layer 0:", hsv.shape, " kept fraction of sum(hsv) at r = 4:", np.round(hsv[:, :4].sum(1) / hsv.sum(1), 3))

# %% [markdown]
# ## The plots the pipeline writes
#
# Accuracy against training compute (BT's path is the pre-training curve continued by `bt_init`),
# the comparison with error bars over seeds, the Hankel singular values, and the second claim:

# %%
for name in ("accuracy_vs_compute", "comparison", "hsv_decay", "claim2"):
    display(Image(filename=str(run_dir / "plots" / f"{name}.png")))

# %%
shutil.rmtree(workdir)  # the run directory was temporary
print(f"notebook executed in {time.perf_counter() - t_start:.1f} s")
