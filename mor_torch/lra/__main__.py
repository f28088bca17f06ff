"""``python -m mor_torch.lra``: the pipeline's command line (:mod:`mor_torch.lra.cli`).

Thread policy: OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads its runtime.  Nothing has
imported torch when this module starts (:mod:`mor_torch` and :mod:`mor_torch.lra` load their names
lazily), so the default set here, ``PASSIVE`` (idle OpenMP threads sleep instead of spinning, which
matters with 2 threads on a busy 2-core machine), takes effect; a value already in the environment
wins.  Likewise numpy's OpenBLAS (torch uses its own MKL) gets one thread unless told otherwise: the
reductions run many small batched factorisations, and on a loaded 2-core machine a multithreaded
OpenBLAS made IRKA of one layer 17x slower (148 s against 8.8 s, 64 channels, N = 64 -> r = 32).
"""

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .cli import main

sys.exit(main())
