"""The two claims of Ezoe & Sato (2024), tested on a run's results (``claims.json``).

Claim 1: balanced truncation of a pre-trained DSS model followed by main training (``bt_init``)
beats a model of the same (small) state size trained from Skew-HiPPO initialisation.  Tested
against ``skew_hippo`` (the paper's baseline: the main-training budget) and against
``skew_hippo_matched`` (the same training compute as BT's whole path, pre-training included):
the paired difference of test accuracy over seeds, its 95% t interval, and a verdict ("holds" when
the interval lies above 0, "reversed" when below, "inconclusive" otherwise, "not enough data" with
one seed).

Claim 2: a more accurate original model gives a more accurate compressed one.  The pre-training
weights after each of ``claims.checkpoints`` epochs (every seed) are evaluated (``x``: test
accuracy), reduced by balanced truncation and main-trained (``y``: final test accuracy); Spearman's
rank correlation of the points, a bootstrap 95% interval, and the verdict ("holds" when the
interval lies above 0).

Which initialisation wins after main training (``inits``): for every order of ``claims.orders``
(``reduce.order`` by default) and every reducer of ``claims.inits``, the pre-trained model of each
seed is reduced (the same weights for every arm) and main-trained; per order the mean and standard
deviation of every arm, the best arm by mean, and each arm minus ``bt_init`` paired over seeds
with its 95% t interval and a verdict ("beats BT", "loses to BT", "inconclusive").

The regulariser (``hsv_reg``, with ``claims.hsv_reg > 0``): pre-training with the
Hankel-singular-value tail penalty from the same initial weights, then balanced truncation to every
order, without and with main training, each paired over seeds against plain pre-training + the
same balanced truncation ("regularised better", "regularised worse", "inconclusive").

A claim that does not hold on a task is a finding, reported as it came out.
"""

from __future__ import annotations

import re
from typing import Any

from .config import Config
from .stats import describe, paired_difference, spearman, verdict

__all__ = ["CLAIM1_BASELINES", "arm_orders", "arm_stages", "evaluate_claims", "hsv_reg_stages", "split_stage"]

#: The baselines of claim 1.
CLAIM1_BASELINES = ("skew_hippo", "skew_hippo_matched")


#: The stage of the regularised pre-training (``claims.hsv_reg``).
HSV_REG_PRETRAINED = "pretrained_hsvreg"


def arm_orders(config: Config) -> tuple[int, ...]:
    """The reduced orders of the initialisation arms: ``claims.orders``, or ``(reduce.order,)``.

    Parameters
    ----------
    config : Config
        The run's configuration.

    Returns
    -------
    tuple of int
        Largest first.
    """
    return config.claims.orders or (config.reduce.order,)


def _suffix(config: Config, order: int) -> str:
    return "" if order == config.reduce.order else f"_r{order}"


def arm_stages(config: Config, init: str, order: int) -> tuple[str, str]:
    """The stage names of one initialisation arm: ``(reduced stage, main-trained stage)``.

    Parameters
    ----------
    config : Config
        The run's configuration (``reduce.order`` names the stages without a suffix).
    init : str
        A name of :data:`mor_torch.lra.choices.INIT_REDUCERS`.
    order : int
        The arm's reduced order.

    Returns
    -------
    tuple of str
        ``("reduced", "bt_init")`` for BT at ``reduce.order``, ``("<init>_reduced", "<init>_init")``
        for another reducer, each with the suffix ``_r<order>`` at another order.
    """
    end = _suffix(config, order)
    return ("reduced" if init == "bt" else f"{init}_reduced") + end, f"{init}_init{end}"


def hsv_reg_stages(config: Config, order: int) -> tuple[str, str]:
    """The stage names of the regularised arm at ``order``: ``("hsvreg_reduced", "hsvreg_bt_init")`` (+ suffix).

    Parameters
    ----------
    config : Config
        The run's configuration.
    order : int
        The reduced order.

    Returns
    -------
    tuple of str
    """
    end = _suffix(config, order)
    return f"hsvreg_reduced{end}", f"hsvreg_bt_init{end}"


def split_stage(stage: str) -> tuple[str, int | None]:
    """``("bt_init", 2)`` from ``"bt_init_r2"``; ``(stage, None)`` for a stage at ``reduce.order``.

    Parameters
    ----------
    stage : str
        A stage name.

    Returns
    -------
    tuple
        The name without its order suffix, and the order (``None`` without a suffix).
    """
    match = re.fullmatch(r"(.+?)_r(\d+)", stage)
    return (stage, None) if match is None else (match[1], int(match[2]))


def _accuracies(records: dict[int, dict[str, dict]], stage: str) -> list[float]:
    return [records[s][stage]["test_accuracy"] for s in sorted(records)]


def _versus(a: list[float], b: list[float], positive: str, negative: str) -> dict[str, Any]:
    diff = paired_difference(a, b)
    return {**diff, "verdict": verdict(diff["ci95"], positive=positive, negative=negative)}


def _inits(config: Config, records: dict[int, dict[str, dict]]) -> dict[str, Any]:
    """Per order: every initialisation arm before and after main training, and each minus BT."""
    orders = {}
    for order in arm_orders(config):
        stages = {init: arm_stages(config, init, order) for init in config.claims.inits}
        trained = {init: _accuracies(records, st[1]) for init, st in stages.items()}
        means = {init: describe(v)["mean"] for init, v in trained.items()}
        orders[str(order)] = {
            "stages": {init: st[1] for init, st in stages.items()},
            "reduced": {init: describe(_accuracies(records, st[0])) for init, st in stages.items()},
            "trained": {init: describe(v) for init, v in trained.items()},
            "best": max(means, key=means.get),
            "minus_bt": {init: _versus(v, trained["bt"], "beats BT", "loses to BT")
                         for init, v in trained.items() if init != "bt"},
        }  # fmt: skip
    return {
        "statement": "which reduction of the pre-trained model is the best initialisation for main training",
        "metric": "test accuracy after main training; each initialisation minus BT, paired over seeds",
        "orders": orders,
    }


def _hsv_reg(config: Config, records: dict[int, dict[str, dict]]) -> dict[str, Any] | None:
    """Regularised pre-training + BT minus plain pre-training + BT, per order, without and with main training."""
    if not config.claims.hsv_reg:
        return None

    def pair(reg: str, plain: str) -> dict[str, Any]:
        a, b = _accuracies(records, reg), _accuracies(records, plain)
        return {"regularised": describe(a), "plain": describe(b),
                **_versus(a, b, "regularised better", "regularised worse")}  # fmt: skip

    orders = {}
    for order in arm_orders(config):
        reduced, trained = hsv_reg_stages(config, order)
        plain_reduced, plain_trained = arm_stages(config, "bt", order)
        orders[str(order)] = {"reduced": pair(reduced, plain_reduced), "bt_init": pair(trained, plain_trained)}
    return {
        "statement": "HSV-regularised pre-training gives a better BT-reduced model, without and with main training",
        "metric": "test accuracy, regularised minus plain pre-training (same BT, same main training), paired",
        "weight": config.claims.hsv_reg,
        "penalty_order": config.recipe("pretrain").hsv_reg_order,
        "pretrained": pair(HSV_REG_PRETRAINED, "pretrained"),
        "orders": orders,
    }


def _claim1(records: dict[int, dict[str, dict]]) -> dict[str, Any]:
    seeds = sorted(records)
    bt = [records[s]["bt_init"]["test_accuracy"] for s in seeds]
    out: dict[str, Any] = {
        "statement": "BT init + main training beats Skew-HiPPO init at the same state size",
        "metric": "test accuracy, bt_init minus baseline, paired over seeds",
    }
    if any(b not in records[seeds[0]] for b in CLAIM1_BASELINES):  # claims.baselines = false
        return {**out, **{b: {"verdict": "not run"} for b in CLAIM1_BASELINES}}
    for baseline in CLAIM1_BASELINES:
        diff = paired_difference(bt, [records[s][baseline]["test_accuracy"] for s in seeds])
        out[baseline] = {**diff, "verdict": verdict(diff["ci95"], positive="holds", negative="reversed")}
    return out


def _claim2(records: dict[int, dict[str, dict]], n_boot: int) -> dict[str, Any]:
    points = [
        {
            "seed": s,
            "epoch": rec["pretrained_epoch"],
            "pretrained_test_accuracy": rec["pretrained_test_accuracy"],
            "final_test_accuracy": rec["test_accuracy"],
        }
        for s in sorted(records)
        for stage, rec in sorted(records[s].items())
        if stage.startswith("claim2_epoch")
    ]
    corr = spearman(
        [p["pretrained_test_accuracy"] for p in points], [p["final_test_accuracy"] for p in points], n_boot=n_boot
    )
    rho_ci = corr["ci95"]
    return {
        "statement": "a more accurate pre-trained model gives a more accurate model after BT + main training",
        "metric": "Spearman rank correlation of pre-trained vs final test accuracy over (seed, checkpoint epoch)",
        **corr,
        "verdict": verdict(rho_ci, positive="holds", negative="reversed") if points else "not run",
        "points": points,
    }


def evaluate_claims(config: Config, runs_records: dict[int, dict[str, dict]]) -> dict[str, Any]:
    """The claims, the initialisations and the regulariser from the per-seed stage records of a run.

    Parameters
    ----------
    config : Config
        The run's configuration (``claims.bootstrap``, the seeds, the checkpoints).
    runs_records : dict
        ``{seed: {stage: record}}`` as the pipeline keeps them.

    Returns
    -------
    dict
        ``{"claim1": {...}, "claim2": {...}, "inits": {...}, "hsv_reg": {...} or None, "task", "order",
        "seeds", "checkpoints"}``.
    """
    return {
        "task": config.task.name,
        "order": config.reduce.order,
        "seeds": list(config.run.seeds),
        "checkpoints": list(config.claims.checkpoints),
        "claim1": _claim1(runs_records),
        "claim2": _claim2(runs_records, config.claims.bootstrap),
        "inits": _inits(config, runs_records),
        "hsv_reg": _hsv_reg(config, runs_records),
    }
