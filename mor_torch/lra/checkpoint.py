"""Checkpoints (written atomically, see :mod:`mor_torch.lra.files`) and RNG state capture/restore.

A checkpoint holds tensors, numbers, strings and dicts only, so it is read back with
``torch.load(weights_only=True)``; a file that cannot be read raises
:class:`~mor_torch.lra.errors.CheckpointError` naming it.
"""

from __future__ import annotations

import io
import logging
import pickle
import random
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import CheckpointError
from .files import atomic_write_bytes

logger = logging.getLogger(__name__)

__all__ = ["capture_rng_state", "load_checkpoint", "restore_rng_state", "save_checkpoint"]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Serialise ``state`` with :func:`torch.save` and write it atomically.

    Parameters
    ----------
    path : str or Path
        Destination.
    state : dict
        Tensors, numbers, strings, lists and dicts.
    """
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())
    logger.debug("checkpoint written: %s", path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (tensors, numbers, strings, dicts only).

    Parameters
    ----------
    path : str or Path
        The file.
    map_location : str or torch.device
        Where the tensors go.

    Returns
    -------
    dict

    Raises
    ------
    CheckpointError
        The file is missing, truncated, corrupt or holds something else than a checkpoint.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():  # garbage bytes make torch warn about "pickle protocol N"
            warnings.filterwarnings("ignore", message=".*pickle protocol", category=UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:  # torch's message suggests weights_only=False: not for a damaged file
        raise CheckpointError(
            f"cannot read {path}: not a checkpoint written by this pipeline (damaged, or another kind of file)",
            path=str(path),
        ) from None
    except (
        OSError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile,
        # what the unpickler raises on arbitrary damaged bytes (an opcode popping an empty stack,
        # a memo key that was never stored, ...): about 1 garbage file in 25
        IndexError, KeyError, TypeError, AttributeError, MemoryError, OverflowError, RecursionError,
    ) as exc:  # fmt: skip
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(f"cannot read {path}: {type(exc).__name__}: {detail}", path=str(path)) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a checkpoint (it holds a {type(state).__name__})", path=str(path))
    return state


def capture_rng_state() -> dict[str, Any]:
    """The states of Python's, NumPy's and torch's (CPU and CUDA) global generators.

    Stored as tensors / plain values only, so that :func:`load_checkpoint` can use
    ``weights_only=True``.

    Returns
    -------
    dict
    """
    py_state = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 - the legacy global generator
    state = {
        "python_version": py_state[0],
        "python_state": torch.tensor(py_state[1], dtype=torch.int64),
        "python_gauss": py_state[2] if py_state[2] is not None else float("nan"),
        "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`.

    Parameters
    ----------
    state : dict
        What :func:`capture_rng_state` returned.
    """
    gauss = state["python_gauss"]
    random.setstate(
        (
            state["python_version"],
            tuple(int(v) for v in state["python_state"].tolist()),
            None if gauss != gauss else gauss,
        )
    )
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            state["numpy_keys"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_gauss"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
