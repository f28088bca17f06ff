"""``python -m mor_torch.lra``: the pipeline's command line (:mod:`mor_torch.lra.cli`).

Thread policy: OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads its runtime.  Nothing has
imported torch when this module starts (:mod:`mor_torch` and :mod:`mor_torch.lra` load their names
lazily), so the default set here, ``PASSIVE`` (idle OpenMP threads sleep instead of spinning, which
matters with 2 threads on a busy 2-core machine), takes effect; a value already in the environment
wins.
"""

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .cli import main

sys.exit(main())
