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

A claim that does not hold on a task is a finding, reported as it came out.
"""

from __future__ import annotations

from typing import Any

from .config import Config
from .stats import paired_difference, spearman, verdict

__all__ = ["CLAIM1_BASELINES", "evaluate_claims"]

#: The baselines of claim 1.
CLAIM1_BASELINES = ("skew_hippo", "skew_hippo_matched")


def _claim1(records: dict[int, dict[str, dict]]) -> dict[str, Any]:
    seeds = sorted(records)
    bt = [records[s]["bt_init"]["test_accuracy"] for s in seeds]
    out: dict[str, Any] = {
        "statement": "BT init + main training beats Skew-HiPPO init at the same state size",
        "metric": "test accuracy, bt_init minus baseline, paired over seeds",
    }
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
    """Both claims from the per-seed stage records of a run.

    Parameters
    ----------
    config : Config
        The run's configuration (``claims.bootstrap``, the seeds, the checkpoints).
    runs_records : dict
        ``{seed: {stage: record}}`` as the pipeline keeps them.

    Returns
    -------
    dict
        ``{"claim1": {...}, "claim2": {...}, "task", "order", "seeds", "checkpoints"}``.
    """
    return {
        "task": config.task.name,
        "order": config.reduce.order,
        "seeds": list(config.run.seeds),
        "checkpoints": list(config.claims.checkpoints),
        "claim1": _claim1(runs_records),
        "claim2": _claim2(runs_records, config.claims.bootstrap),
    }
