"""The Long Range Arena compression pipeline: ``python -m mor_torch.lra [--preset NAME] [options]``.

Pre-train a DSS classifier of state size ``N``, reduce every DSS layer to order ``r`` by balanced
truncation, evaluate the reduced model, main-train it, and compare with a size-``r`` model trained
from Skew-HiPPO initialisation (Ezoe & Sato 2024).  See :func:`run_pipeline`.

The package holds the whole training stack on top of the adapter :mod:`mor_torch`: the model
(:mod:`.model`), the training loop (:mod:`.train`), data (:mod:`.data`), configuration
(:mod:`.config`), the run directory (:mod:`.rundir`), reports (:mod:`.report`) and the command
line (:mod:`.cli`).  Names load on first use, like :mod:`mor_torch`'s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:  # what the lazy loader below resolves, for static analysis
    from .config import Config, available_presets, load_preset, resolve_config
    from .errors import (
        CheckpointError,
        ConfigError,
        DataError,
        DataOptionError,
        DatasetFormatError,
        DatasetNotFoundError,
        DeviceError,
        LraError,
        RunDirectoryError,
        TrainingDivergedError,
        WorkerError,
    )
    from .model import SequenceClassifier, build_model, load_model, save_model
    from .pipeline import run_pipeline
    from .train import evaluate, fit

_EXPORTS = {
    "CheckpointError": "errors",
    "Config": "config",
    "ConfigError": "errors",
    "DataError": "errors",
    "DataOptionError": "errors",
    "DatasetFormatError": "errors",
    "DatasetNotFoundError": "errors",
    "DeviceError": "errors",
    "LraError": "errors",
    "RunDirectoryError": "errors",
    "SequenceClassifier": "model",
    "TrainingDivergedError": "errors",
    "WorkerError": "errors",
    "available_presets": "config",
    "build_model": "model",
    "evaluate": "train",
    "fit": "train",
    "load_model": "model",
    "load_preset": "config",
    "resolve_config": "config",
    "run_pipeline": "pipeline",
    "save_model": "model",
}

__all__ = [
    "CheckpointError",
    "Config",
    "ConfigError",
    "DataError",
    "DataOptionError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DeviceError",
    "LraError",
    "RunDirectoryError",
    "SequenceClassifier",
    "TrainingDivergedError",
    "WorkerError",
    "available_presets",
    "build_model",
    "evaluate",
    "fit",
    "load_model",
    "load_preset",
    "resolve_config",
    "run_pipeline",
    "save_model",
]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
