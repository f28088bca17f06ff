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
# The pipeline of Ezoe & Sato (2024), `python -m mor_torch.lra`, runs four stages per seed:
#
# 1. `pretrained`: a DSS classifier with state size `N` (Skew-HiPPO initialisation);
# 2. `reduced`: every DSS layer reduced to order `r` by balanced truncation, evaluated as is;
# 3. `bt_init`: the size-`r` model trained further from those reduced parameters;
# 4. `skew_hippo`: a size-`r` model trained from Skew-HiPPO initialisation with the same
#    recipe, seeds and budget (the baseline).
#
# Here we run the `smoke` preset (generated ListOps, one layer, `H = 16`, `N = 16 -> r = 4`) with
# three seeds and three epochs per stage, which takes seconds, and read what it leaves in the run
# directory.  The command line equivalent is
#
# ```bash
# python -m mor_torch.lra --preset smoke --seeds 0 1 2 --epochs 3 --out runs/smoke \
#     --set task.data_dir='"<data dir>"'
# ```
#
# At this size the accuracies say nothing about the method (ListOps has 10 classes; the
# majority class is about 17%): the point is the machinery and the reports.  `make run` runs the
# default `listops-mini` preset, which takes minutes.

# %%
import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

from mor_torch.lra import resolve_config, run_pipeline
from mor_torch.lra.report import format_table

t_start = time.perf_counter()
workdir = Path(tempfile.mkdtemp(prefix="mor-pipeline-"))
config = resolve_config(
    "smoke",
    {
        "task.data_dir": str(workdir / "data"),  # the generated ListOps files go here
        "run.seeds": [0, 1, 2],
        "train.epochs": 3,
        "run.threads": 2,
    },
)
run_dir = workdir / "run"
results = run_pipeline(config, run_dir)
print(format_table(results))

# %% [markdown]
# ## The run directory

# %%
for path in sorted(run_dir.rglob("*")):
    if path.is_file() and "seed1" not in path.parts and "seed2" not in path.parts:
        print(f"{path.relative_to(run_dir)!s:40} {path.stat().st_size:>9,d} bytes")

# %% [markdown]
# `results.json` holds the four-way comparison: mean and standard deviation of the test accuracy
# over the seeds (each measured with the weights of the best validation epoch), state size,
# parameter counts, the Pearson correlation between the pre-trained accuracy and the BT-init
# accuracy over seeds (the paper's second claim), and a per-layer summary of the Hankel singular
# values.

# %%
summary = json.loads((run_dir / "results.json").read_text())
for stage in ("pretrained", "reduced", "bt_init", "skew_hippo"):
    s = summary[stage]
    print(f"{stage:11s} d_state={s['d_state']:3d}  SSM params={s['ssm_params']:5d}  "
          f"test acc={s['accuracy']:.3f} +- {s['accuracy_std']:.3f}")
print("correlation:", summary["correlation"]["pretrained_vs_bt_init"])
print("HSV summary (seed 0):", json.dumps(summary["hsv"], indent=1))

# %% [markdown]
# `metrics.csv` has one row per stage, seed and epoch; the validation accuracy of seed 0:

# %%
with open(run_dir / "metrics.csv", newline="") as f:
    rows = list(csv.DictReader(f))
for row in rows:
    if row["seed"] == "0":
        print(f"{row['stage']:11s} epoch {row['epoch']}  val acc {float(row['val_accuracy']):.3f}")

# %% [markdown]
# The Hankel singular values of every layer and channel are saved as `seed<k>/reduced/hsv.npz`
# (one `(H, N)` array per layer), so the reduction can be inspected without re-running it:

# %%
with np.load(run_dir / "seed0" / "reduced" / "hsv.npz") as z:
    hsv = z["layer0"]
print("layer 0:", hsv.shape, " retained fraction of sum(hsv) at r = 4:",
      np.round(hsv[:, :4].sum(1) / hsv.sum(1), 3))
fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogy(np.arange(1, hsv.shape[1] + 1), hsv.T, lw=0.8)
ax.axvline(summary["order"] + 0.5, color="k", ls=":", label=f"r = {summary['order']}")
ax.set_xlabel("i")
ax.set_ylabel(r"$\sigma_i$ (one line per channel)")
ax.legend()
plt.show()

# %% [markdown]
# ## The plots the pipeline writes
#
# `plots/hsv_decay.png`, `plots/accuracy_curves.png` and `plots/comparison.png`:

# %%
for name in ("hsv_decay", "accuracy_curves", "comparison"):
    display(Image(filename=str(run_dir / "plots" / f"{name}.png")))

# %%
shutil.rmtree(workdir)  # the run directory was temporary
print(f"notebook executed in {time.perf_counter() - t_start:.1f} s")
