"""The Long Range Arena compression pipeline: ``python -m mor_torch.lra [--preset NAME] [options]``.

Pre-train a DSS classifier of state size ``N``, reduce every DSS layer to order ``r`` by balanced
truncation, evaluate the reduced model, main-train it, and compare with a size-``r`` model trained
from Skew-HiPPO initialisation (Ezoe & Sato 2024).  See :func:`run_pipeline`.
"""

from .config import ConfigError, available_presets, load_preset, resolve_config
from .pipeline import RunDirectoryError, run_pipeline

__all__ = [
    "ConfigError",
    "RunDirectoryError",
    "available_presets",
    "load_preset",
    "resolve_config",
    "run_pipeline",
]
