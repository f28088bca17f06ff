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
