"""Statistics of the pipeline's results: means over seeds, paired differences, rank correlation.

* :func:`describe`: mean and sample standard deviation (``ddof = 1``) of per-seed values.
* :func:`paired_difference`: ``a - b`` paired by seed, with the Student-t 95% confidence interval of
  the mean difference, ``mean +- t_{0.975, n-1} sd / sqrt(n)`` (``None`` below two seeds).
* :func:`spearman`: Spearman's rank correlation (average ranks for ties) with a percentile
  bootstrap 95% confidence interval over the points (seeded, so a run is reproducible).
* :func:`verdict`: what an interval says about a claimed sign.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from mor.errors import DimensionError

__all__ = ["describe", "paired_difference", "spearman", "verdict"]


def describe(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation and count of ``values``.

    Parameters
    ----------
    values : sequence of float
        One value per seed.

    Returns
    -------
    dict
        ``mean``, ``std`` (``ddof = 1``; 0 for a single value) and ``n``.
    """
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Mean of ``a - b`` over paired values, with its 95% t confidence interval.

    Parameters
    ----------
    a, b : sequence of float
        Values paired by position (the same seeds in the same order).

    Returns
    -------
    dict
        ``mean_diff``, ``std_diff``, ``ci95`` (``[low, high]``, or ``None`` for fewer than two pairs)
        and ``n_seeds``.

    Raises
    ------
    DimensionError
        ``a`` and ``b`` not equally long 1-D sequences, or empty.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise DimensionError(f"need two equally long, non-empty sequences, got {a.shape} and {b.shape}")
    d = a - b
    n = d.size
    out: dict[str, Any] = {"mean_diff": float(d.mean()), "std_diff": None, "ci95": None, "n_seeds": int(n)}
    if n > 1:
        sd = float(d.std(ddof=1))
        half = float(sps.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
        out.update(std_diff=sd, ci95=[float(d.mean() - half), float(d.mean() + half)])
    return out


def _ranks(x: np.ndarray) -> np.ndarray:
    return sps.rankdata(x, method="average")


def _rho(x: np.ndarray, y: np.ndarray) -> float:
    rx, ry = _ranks(x), _ranks(y)
    dx, dy = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float(dx @ dx) * float(dy @ dy))
    return float(dx @ dy) / den if den > 0 else float("nan")


def spearman(x: Sequence[float], y: Sequence[float], *, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Spearman's rank correlation of paired points, with a percentile bootstrap 95% interval.

    Parameters
    ----------
    x, y : sequence of float
        Paired values.
    n_boot : int
        Bootstrap resamples of the points (with replacement); resamples in which a coordinate is
        constant are skipped.
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``rho`` (``None`` with fewer than 3 points or a constant coordinate), ``ci95``
        (``[low, high]`` or ``None``), ``n_points``, ``n_boot`` (resamples used).

    Raises
    ------
    DimensionError
        ``x`` and ``y`` not paired 1-D sequences.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise DimensionError(f"x and y must be paired 1-D sequences, got {x.shape} and {y.shape}")
    out: dict[str, Any] = {"rho": None, "ci95": None, "n_points": int(x.size), "n_boot": 0}
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return out
    out["rho"] = _rho(x, y)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    boot = [_rho(x[i], y[i]) for i in idx if np.ptp(x[i]) > 0 and np.ptp(y[i]) > 0]
    if boot:
        out["ci95"] = [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))]
        out["n_boot"] = len(boot)
    return out


def verdict(ci95: Sequence[float] | None, *, positive: str, negative: str) -> str:
    """What a 95% interval says about a quantity claimed to be positive.

    Parameters
    ----------
    ci95 : [low, high] or None
        The interval.
    positive, negative : str
        Words for an interval above zero and below zero.

    Returns
    -------
    str
        ``positive`` when the interval lies above 0, ``negative`` when below, ``"inconclusive"`` when
        it contains 0, ``"not enough data"`` without an interval.
    """
    if ci95 is None:
        return "not enough data"
    low, high = ci95
    if low > 0:
        return positive
    if high < 0:
        return negative
    return "inconclusive"
