"""Atomic file writes: a reader sees the previous complete file or the new complete one, never a torn one.

The data go to a hidden temporary file in the destination folder, which is flushed and
``fsync``-ed, then renamed over the destination with :func:`os.replace` (atomic on POSIX and
Windows), and the folder entry is synced.  A process killed midway leaves at most the temporary
file, which a later write of the same destination does not trip over.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_text"]


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform/filesystem allows opening directories
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, os.replace).

    Parameters
    ----------
    path : str or PathLike
        Destination; its folder is created when missing.
    data : bytes
        The content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write UTF-8 text (``\\n`` line ends kept as given).

    Parameters
    ----------
    path : str or PathLike
        Destination.
    text : str
        The content.
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (NaN/Inf are refused: ``allow_nan=False``).

    Parameters
    ----------
    path : str or PathLike
        Destination.
    obj : object
        JSON-serialisable data.
    """
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")
