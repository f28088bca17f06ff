"""The pipeline's statistics against plain references (scipy, hand computation)."""

import numpy as np
import pytest
from scipy import stats as sps

pytest.importorskip("torch")

from mor.errors import DimensionError
from mor_torch.lra.stats import describe, paired_difference, spearman, verdict


def test_describe():
    assert describe([0.5]) == {"mean": 0.5, "std": 0.0, "n": 1}
    d = describe([0.1, 0.2, 0.6])
    assert d["mean"] == pytest.approx(0.3) and d["std"] == pytest.approx(np.std([0.1, 0.2, 0.6], ddof=1))


def test_paired_difference_matches_scipy_t_interval():
    a = [0.81, 0.79, 0.84, 0.80, 0.83]
    b = [0.75, 0.78, 0.77, 0.74, 0.80]
    out = paired_difference(a, b)
    d = np.subtract(a, b)
    low, high = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
    assert out["mean_diff"] == pytest.approx(d.mean()) and out["n_seeds"] == 5
    assert out["ci95"] == pytest.approx([low, high], rel=1e-12)
    assert sps.ttest_rel(a, b).pvalue < 0.05 and out["ci95"][0] > 0  # the interval and the test agree
    single = paired_difference([0.5], [0.4])
    assert single["ci95"] is None and single["mean_diff"] == pytest.approx(0.1)
    with pytest.raises(DimensionError):
        paired_difference([1, 2], [1])
    with pytest.raises(DimensionError):
        spearman([[1, 2, 3]], [[1, 2, 3]])


def test_spearman_matches_scipy_and_the_bootstrap_is_seeded():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=12)
    y = x + 0.3 * rng.standard_normal(12)
    out = spearman(x, y, n_boot=500, seed=3)
    assert out["rho"] == pytest.approx(sps.spearmanr(x, y).statistic, rel=1e-12)
    assert out["n_points"] == 12 and out["n_boot"] == 500
    assert out["ci95"][0] <= out["rho"] <= out["ci95"][1]
    assert spearman(x, y, n_boot=500, seed=3) == out  # reproducible
    ties = spearman([1, 1, 2, 3], [4, 3, 2, 1], n_boot=100)
    assert ties["rho"] == pytest.approx(sps.spearmanr([1, 1, 2, 3], [4, 3, 2, 1]).statistic)
    assert spearman([1, 2], [1, 2])["rho"] is None
    assert spearman([1, 1, 1], [1, 2, 3])["rho"] is None


def test_verdict():
    assert verdict([0.01, 0.2], positive="holds", negative="reversed") == "holds"
    assert verdict([-0.2, -0.01], positive="holds", negative="reversed") == "reversed"
    assert verdict([-0.1, 0.1], positive="holds", negative="reversed") == "inconclusive"
    assert verdict(None, positive="holds", negative="reversed") == "not enough data"
