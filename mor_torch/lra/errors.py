"""Errors of the pipeline :mod:`mor_torch.lra`: configuration, data, run directory, training.

They form their own tree (not :mod:`mor.errors`: none of them is about the numerical core)::

    LraError                                       every deliberate error of the pipeline
    ├── ConfigError (ValueError)                   an unknown key, a wrong type, a value out of range
    ├── DataError                                  the data of a task
    │   ├── DatasetNotFoundError (FileNotFoundError)  a file or folder is missing; lists where it looked
    │   ├── DatasetFormatError (ValueError)        a file is malformed; names the file and line
    │   └── DataOptionError (ValueError)           an unknown task or option, or an option value
    ├── RunDirectoryError                          the run directory does not fit the request
    │   └── CheckpointError                        a saved file is unreadable; names the file
    ├── DeviceError (RuntimeError)                 the requested device is not available
    ├── TrainingDivergedError (ArithmeticError)    the training loss became NaN or infinite
    └── WorkerError (RuntimeError)                 a seed worker process died (run.seed_workers)

The command line turns every one of them into a one-line message and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DataOptionError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DeviceError",
    "LraError",
    "RunDirectoryError",
    "TrainingDivergedError",
    "WorkerError",
]


class LraError(Exception):
    """Base class of every error raised deliberately by :mod:`mor_torch.lra`."""


class ConfigError(LraError, ValueError):
    """A configuration key is unknown, or a value has the wrong type or range."""


class DataError(LraError):
    """Base class of the data errors."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """A dataset directory or file is missing.

    The message lists every location that was searched and the layout the loader expects.
    """


class DatasetFormatError(DataError, ValueError):
    """A dataset file exists but does not follow the expected format.

    The message names the file, the line (or record) and what was expected.
    """


class DataOptionError(DataError, ValueError):
    """An unknown task or task option, or an option value the task cannot take."""


class RunDirectoryError(LraError):
    """The run directory is in a state that does not fit the request (it holds a run and
    ``--resume`` was not given, it holds a different configuration, it is missing on
    ``--resume``, or it cannot be written)."""


class CheckpointError(RunDirectoryError):
    """A file of the run directory (checkpoint, model, result, configuration) cannot be read.

    Attributes
    ----------
    path : str
        The unreadable file.
    """

    def __init__(self, message: str, *, path: str):
        super().__init__(message)
        self.path = path


class DeviceError(LraError, RuntimeError):
    """The requested device (for example ``cuda``) is not available or not understood."""


class TrainingDivergedError(LraError, ArithmeticError):
    """The training loss became NaN or infinite; the last good checkpoint is kept.

    Parameters
    ----------
    message : str
        The error message.
    stage : str
        The training stage.
    epoch, step : int
        Zero-based epoch and step of the offending batch.
    loss : float
        The non-finite loss.
    checkpoint : str or None
        The last good checkpoint.

    Attributes
    ----------
    stage : str
        The ``stage`` passed to :func:`mor_torch.lra.train.fit`.
    epoch, step : int
        Zero-based epoch and step of the offending batch.
    loss : float
        The non-finite loss (averaged over ranks under a process group).
    checkpoint : str or None
        Path of the last good checkpoint (None if no epoch completed or checkpoints are off).
    """

    def __init__(self, message: str, *, stage: str, epoch: int, step: int, loss: float, checkpoint):
        super().__init__(message)
        self.stage, self.epoch, self.step, self.loss, self.checkpoint = stage, epoch, step, loss, checkpoint


class WorkerError(LraError, RuntimeError):
    """A worker process that trained seeds (``run.seed_workers > 1``) died (killed, out of memory).

    What the workers finished stays in the run directory: ``--resume`` continues the run.
    """
