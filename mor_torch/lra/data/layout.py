"""Where the datasets live: the data root and the LRA nesting levels.

The LRA release archive ``lra_release.gz`` unpacks to ``lra_release/`` which
holds a second ``lra_release/``.  :func:`find_lra_dir` accepts all three
placements of a task folder (``listops-1000``, ``tsv_data``, ``pathfinder32``...)::

    <data_dir>/lra_release/lra_release/<folder>
    <data_dir>/lra_release/<folder>
    <data_dir>/<folder>

and ``data_dir`` pointing at the folder itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import DatasetNotFoundError

__all__ = ["find_lra_dir", "generated_data_dir", "resolve_data_dir"]

logger = logging.getLogger(__name__)

#: Environment variable naming the default data root.
DATA_DIR_ENV = "MOR_DATA_DIR"


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """Return the data root: ``data_dir``, else ``$MOR_DATA_DIR``, else ``./data``.

    Parameters
    ----------
    data_dir : str or PathLike or None
        Explicit data root; ``None`` selects the environment variable or ``./data``.

    Returns
    -------
    Path
        The data root with ``~`` expanded (it need not exist).
    """
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or "data"
    return Path(data_dir).expanduser()


def generated_data_dir() -> Path:
    """Where generated tasks are cached when no data root is given: ``$XDG_CACHE_HOME/mor/data``.

    ``~/.cache/mor/data`` when ``XDG_CACHE_HOME`` is unset: generated data goes to a per-user
    cache, never into a ``./data`` folder of whatever directory the command was started from.

    Returns
    -------
    Path
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~").expanduser() / ".cache")
    return Path(base).expanduser() / "mor" / "data"


def lra_candidates(data_dir: Path, folder: str) -> list[Path]:
    """The locations searched for the LRA task folder ``folder``, in order of preference."""
    candidates = [
        data_dir / "lra_release" / "lra_release" / folder,
        data_dir / "lra_release" / folder,
        data_dir / folder,
    ]
    if data_dir.name == folder:
        candidates.append(data_dir)
    return candidates


def find_lra_dir(data_dir: Path, folder: str, required: Sequence[str], layout: str) -> Path:
    """Find the LRA task folder that holds every path in ``required``.

    Parameters
    ----------
    data_dir : Path
        The data root.
    folder : str
        Name of the task folder inside the release (``"listops-1000"``, ``"tsv_data"``...).
    required : sequence of str
        Paths, relative to the folder, that must all exist.
    layout : str
        Human-readable description of the expected layout, used in the error message.

    Returns
    -------
    Path
        The first candidate folder (see :func:`lra_candidates`) holding every required path.

    Raises
    ------
    DatasetNotFoundError
        No candidate holds the required paths; the message lists the files looked for.
    """
    candidates = lra_candidates(data_dir, folder)
    for candidate in candidates:
        if all((candidate / rel).exists() for rel in required):
            logger.debug("found %s at %s", folder, candidate)
            return candidate
    looked = "\n  ".join(str(c / required[0]) for c in candidates)
    partial = [c for c in candidates if c.is_dir()]
    extra = ""
    if partial:
        missing = [str(partial[0] / rel) for rel in required if not (partial[0] / rel).exists()]
        extra = f"\nThe folder {partial[0]} exists but lacks: {', '.join(missing)}."
    raise DatasetNotFoundError(
        f"LRA data folder {folder!r} not found under data_dir={str(data_dir)!r}. Looked for:\n  {looked}"
        f"{extra}\nExpected layout: {layout}\n(Unpack lra_release.gz from "
        "https://github.com/google-research/long-range-arena into data_dir; set data_dir or "
        f"${DATA_DIR_ENV}.)"
    )
