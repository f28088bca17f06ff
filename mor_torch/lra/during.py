"""Reduction during training (the design of CompreSSM, ICLR 2026), an arm of the pipeline.

The arm starts from the pre-trained model's initial weights (size ``N``) and pre-trains with the
``pretrain`` recipe; after each epoch ``e_k`` of ``during.epochs`` every DSS layer is reduced by
balanced truncation (:func:`mor_torch.compress`, the options of ``[reduce]``) to the ``k``-th order of
the schedule, and training continues on the smaller model: a new optimiser for the reduced
parameters (its Adam moments start at zero), the learning-rate schedule where it was.  The orders:

* ``during.orders = [r_1, ..., r_K]``: layer sizes after each reduction, strictly decreasing, with
  ``r_K = reduce.order``;
* ``during.energy = eps``: after each reduction but the last, each layer keeps the smallest ``r``
  with ``sum(hsv[h, r:]) <= eps * sum(hsv[h, :])`` for every channel ``h`` (clamped to
  ``[reduce.order, current size]``; a layer already there is left alone); the last reduction goes
  to ``reduce.order``.

The model of the epochs after the last reduction with the best validation accuracy ends the stage
``during_pretrained``; the stage ``during`` main-trains it with the ``main`` recipe, so the arm's
path trains on ``T_p + T_m`` tokens, those of ``bt_init`` (pre-train, reduce, main-train) and of
``skew_hippo_matched``.  :func:`summarise` pairs the arm with both over seeds; :func:`arm_wall_times`
gives each arm's wall time (``timing.json``: a resumed run must write the same ``results.json``).
"""

from __future__ import annotations

import copy
import logging
import time
from typing import Any

import numpy as np
from torch import nn

from ..dss import DSS
from ..reduce import compress
from .config import Config
from .stats import describe, paired_difference

logger = logging.getLogger(__name__)

__all__ = ["ARMS", "DURING_STAGES", "ReductionSchedule", "arm_wall_times", "format_during", "summarise"]

#: The arm's stages, with their table labels.
DURING_STAGES = {
    "during_pretrained": "during-training pre-training (r)",
    "during": "reduced during training + main (r)",
}

#: The arms compared at equal training tokens: label and the stages whose wall times add up to the arm's.
ARMS = {
    "during": ("reduced during training + main (r)", ("during_pretrained", "during")),
    "bt_init": ("pre-train, BT, main training (r)", ("pretrained", "reduced", "bt_init")),
    "skew_hippo_matched": ("Skew-HiPPO, BT's compute (r)", ("skew_hippo_matched",)),
}


def _layer_orders(model: nn.Module) -> list[int]:
    """The state size of every layer of ``model``'s ``hparams`` (an int or one entry per layer)."""
    hp = model.hparams
    d_state = hp["d_state"]
    return list(d_state) if isinstance(d_state, (list, tuple)) else [int(d_state)] * int(hp["n_layers"])


class ReductionSchedule:
    """The ``reshape`` callback of :func:`mor_torch.lra.train.fit` that reduces at the scheduled epochs.

    Stateless between calls (the orders come from the model and the configuration), so a resumed
    stage continues with the same decisions.

    Parameters
    ----------
    config : Config
        ``during`` (epochs, orders or energy), ``reduce`` (final order, Gramians, structure).
    """

    def __init__(self, config: Config):
        self.epochs = tuple(config.during.epochs)
        self.orders = tuple(config.during.orders)
        self.energy = float(config.during.energy)
        self.final = int(config.reduce.order)
        self.options = {"gramians": config.reduce.gramians, "structure": config.reduce.structure}

    def __call__(self, model: nn.Module, row: dict[str, Any]) -> tuple[nn.Module | None, dict[str, Any]]:
        """After the epoch ``row["epoch"]`` (one-based): the reduced model (or None) and row entries.

        Parameters
        ----------
        model : SequenceClassifier
            The model as trained in that epoch (not modified).
        row : dict
            The epoch's history row.

        Returns
        -------
        new_model : SequenceClassifier or None
            A CPU model reduced to the scheduled orders; ``None`` when the epoch is not scheduled
            or no layer shrinks.
        extra : dict
            ``d_state`` (per layer, as trained in the epoch) and, when reduced, ``reduced_to`` (per
            layer) and ``reduce_s`` (wall seconds of the reduction).
        """
        current = _layer_orders(model)
        extra: dict[str, Any] = {"d_state": current}
        if row["epoch"] not in self.epochs:
            return None, extra
        t0 = time.perf_counter()
        step = self.epochs.index(row["epoch"])
        cpu = copy.deepcopy(model).to("cpu")
        length = model.hparams["length"]
        if step == len(self.epochs) - 1 or self.orders:
            target = [self.orders[step] if self.orders else self.final] * len(current)
        else:  # the energy rule: the orders balanced truncation would choose, clamped
            _, rep = compress(cpu, energy=1.0 - self.energy, length=length, **self.options)
            target = [max(self.final, min(c, lay.order)) for c, lay in zip(current, rep.layers.values(), strict=True)]
        names = [n for n, m in cpu.named_modules() if isinstance(m, DSS)]
        order = {n: t for n, t, c in zip(names, target, current, strict=True) if t < c}
        if not order:
            return None, extra
        small, _ = compress(cpu, order, length=length, **self.options)
        extra.update(reduced_to=_layer_orders(small), reduce_s=time.perf_counter() - t0)
        logger.info("[during] epoch %d: layer orders %s -> %s", row["epoch"], current, extra["reduced_to"])
        return small, extra


def _schedule(config: Config) -> dict[str, Any]:
    dur = config.during
    return {"epochs": list(dur.epochs), "orders": list(dur.orders) or None, "energy": dur.energy or None,
            "final_order": config.reduce.order}  # fmt: skip


def summarise(config: Config, records: dict[int, dict[str, dict]]) -> dict[str, Any]:
    """The arm against ``bt_init`` and the Skew-HiPPO baselines at equal training tokens (``results.json``).

    Parameters
    ----------
    config : Config
        The run's configuration (the schedule).
    records : dict {seed: {stage: record}}
        Every seed's stage records, ``during_pretrained`` and ``during`` included.

    Returns
    -------
    dict
        ``schedule`` (``epochs``, ``orders``, ``energy``, ``final_order``); ``reductions``: per seed
        the list of ``{"epoch", "d_state", "reduced_to"}``; ``train_tokens`` per arm (mean over seeds);
        ``comparisons``: ``during`` minus each of ``bt_init``, ``skew_hippo_matched`` and
        ``skew_hippo``, test accuracy paired over seeds (:func:`mor_torch.lra.stats.paired_difference`).
    """
    seeds = sorted(records)
    ours = [records[s]["during"]["test_accuracy"] for s in seeds]
    reductions = {
        str(s): [{"epoch": r["epoch"], "d_state": r["d_state"], "reduced_to": r["reduced_to"]}
                 for r in records[s]["during_pretrained"]["history"] if "reduced_to" in r]
        for s in seeds
    }  # fmt: skip
    tokens = {arm: float(np.mean([records[s][arm]["train_tokens"] for s in seeds])) for arm in ARMS}
    comparisons = {
        base: paired_difference(ours, [records[s][base]["test_accuracy"] for s in seeds])
        for base in ("bt_init", "skew_hippo_matched", "skew_hippo")
    }
    return {"schedule": _schedule(config), "reductions": reductions, "train_tokens": tokens,
            "comparisons": comparisons}  # fmt: skip


def arm_wall_times(records: dict[int, dict[str, dict]]) -> dict[str, Any]:
    """Wall seconds of each arm of :data:`ARMS` per seed (the sum of its stages) and their mean.

    Also the mean seconds of a pre-training epoch of the arm at each state size it trained
    (``epoch_s_by_order``, keyed by the layers' size, or their sizes joined by ``/`` where they
    differ): the smaller model's epochs are the cheaper ones.

    Parameters
    ----------
    records : dict {seed: {stage: record}}
        Every seed's stage records.

    Returns
    -------
    dict
        ``{arm: {"per_seed": {seed: s}, "mean": s}}`` and ``epoch_s_by_order``.
    """
    seeds = sorted(records)
    out: dict[str, Any] = {}
    for arm, (_, stages) in ARMS.items():
        per = {str(s): float(sum(records[s][st].get("wall_s", records[s][st].get("reduce_s")) or 0.0 for st in stages))
               for s in seeds}  # fmt: skip
        out[arm] = {"per_seed": per, "mean": describe(list(per.values()))["mean"]}
    by_order: dict[str, list[float]] = {}
    for s in seeds:
        for row in records[s]["during_pretrained"]["history"]:
            sizes = row["d_state"]
            key = str(sizes[0]) if len(set(sizes)) == 1 else "/".join(map(str, sizes))
            by_order.setdefault(key, []).append(row["epoch_time_s"])
    out["epoch_s_by_order"] = {k: float(np.mean(v)) for k, v in by_order.items()}
    return out


def format_during(results: dict[str, Any]) -> str:
    """The arm's block of the results table: accuracy, tokens and wall time per arm, paired differences.

    Parameters
    ----------
    results : dict
        What :func:`mor_torch.lra.run_pipeline` returned (wall times from its ``timing``; absent when
        formatting ``results.json`` alone).

    Returns
    -------
    str
    """
    info = results["during_training"]
    sched = info["schedule"]
    rule = f"orders {sched['orders']}" if sched["orders"] else f"energy tail {sched['energy']:g}"
    walls = (results.get("timing") or {}).get("arms") or {}
    lines = [f"Reduction during training: after pre-training epochs {sched['epochs']} ({rule}; final r = "
             f"{sched['final_order']}); equal training tokens",
             f"  {'arm':<36} {'tokens':>9} {'test acc':>17} {'wall s/seed':>11}"]  # fmt: skip
    for arm, (label, _) in ARMS.items():
        st = results[arm]
        wall = f"{walls[arm]['mean']:.1f}" if arm in walls else "-"
        acc = f"{st['accuracy']:.4f} +- {st['accuracy_std']:.4f}"
        lines.append(f"  {label:<36} {info['train_tokens'][arm] / 1e6:>8.2f}M {acc:>17} {wall:>11}")
    for base, c in info["comparisons"].items():
        ci = "n/a" if c["ci95"] is None else f"[{c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}]"
        lines.append(f"  during minus {base:<23} {c['mean_diff']:+.4f}  {ci}  n={c['n_seeds']}")
    if walls.get("epoch_s_by_order"):
        epochs = ", ".join(f"N={k}: {v:.1f} s" for k, v in walls["epoch_s_by_order"].items())
        lines.append(f"  pre-training epoch time by layer sizes: {epochs}")
    return "\n".join(lines)
