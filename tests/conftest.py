"""Shared pytest configuration: the environment every test sees, whatever the shell exported.

* BLAS and OpenMP thread counts are pinned to 1 (not defaulted): a thread count the shell exported
  would change how sums are split and so the rounding of every result.  One thread per process is
  also the fastest here (two cores, no oversubscription).  Set before numpy or torch is imported.
* hypothesis profiles: ``ci`` (derandomised: the examples CI draws are the same on every run; the
  tolerances were measured on them) and ``dev``; ``HYPOTHESIS_PROFILE`` picks one, else ``CI`` set
  means ``ci``.  ``.ci/run`` sets ``HYPOTHESIS_PROFILE=ci`` explicitly.
* mpmath's global precision is restored after every test (a test that sets ``mp.dps`` cannot change
  the results of the tests after it).
* ``--reverse-order`` / ``--shuffle-seed=N`` run the collected tests backwards or in a seeded random
  order, to find tests that depend on the order (see CONTRIBUTING.md, "Perturbation runs").
"""

import os
import random

# The BLAS kernel choice (OPENBLAS_CORETYPE and the like) is left as the environment has it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"

import mpmath  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(autouse=True)
def _restore_mpmath_precision():
    """Every test starts at mpmath's default precision (15 digits), and leaves it there."""
    mpmath.mp.dps = 15
    yield
    mpmath.mp.dps = 15


def pytest_addoption(parser):
    group = parser.getgroup("order", "test order (perturbation runs)")
    group.addoption("--reverse-order", action="store_true", help="run the collected tests in reverse order")
    group.addoption("--shuffle-seed", type=int, default=None, help="run the collected tests in a random order")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--reverse-order"):
        items.reverse()
    seed = config.getoption("--shuffle-seed")
    if seed is not None:  # as pytest-randomly: the files in random order, and the tests within each file,
        rng = random.Random(seed)  # so that module-scoped fixtures are set up once
        files: dict[str, list] = {}
        for item in items:
            files.setdefault(item.nodeid.split("::")[0], []).append(item)
        groups = list(files.values())
        rng.shuffle(groups)
        for group in groups:
            rng.shuffle(group)
        items[:] = [item for group in groups for item in group]
