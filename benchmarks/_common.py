"""Shared by the benchmark scripts: one BLAS thread, and a median wall-clock timer.

Import this module before numpy (``from _common import median_time``): the thread settings only
take effect if they are in the environment when the BLAS library loads.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402


def median_time(repeats: int, fn: Callable[..., Any], *args: Any, warmup: bool = False, **kwargs: Any):
    """Median wall time of ``fn(*args, **kwargs)`` over ``repeats`` calls, and the last result.

    With ``warmup=True`` one untimed call comes first.
    """
    if warmup:
        fn(*args, **kwargs)
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def interleaved(
    repeats: int, fns: dict[str, Callable[[], Any]], *, inner: int = 1, warmup: bool = True, clock=time.perf_counter
):
    """Time several callables interleaved (one round calls each in turn), as ratios need.

    Each round times ``inner`` calls of every function (per-call time = total / inner, for calls
    too short to time singly); returns ``(medians, ratios, results)``: the median per-call
    seconds of each, the per-round ratio ``t[name] / t[first]`` (median over rounds, steadier on
    a shared machine than a ratio of medians), and the last result of each.  ``clock``:
    ``time.perf_counter`` (wall time, the default) or ``time.process_time`` (CPU time of this
    process: on a machine loaded by other jobs it leaves out the time spent waiting for a core).
    """
    names = list(fns)
    out: dict[str, Any] = {}
    if warmup:
        for name in names:
            out[name] = fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(repeats):
        for name in names:
            t0 = clock()
            for _ in range(inner):
                out[name] = fns[name]()
            times[name].append((clock() - t0) / inner)
    first = np.array(times[names[0]])
    med = {name: float(np.median(times[name])) for name in names}
    ratios = {name: float(np.median(np.array(times[name]) / first)) for name in names}
    return med, ratios, out
