"""Tensor <-> numpy helpers shared by the adapter's modules."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["to_numpy"]


def to_numpy(x: Any) -> np.ndarray:
    """A numpy array of ``x``: tensors are detached, moved to the CPU and resolved (conjugate views)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().resolve_conj().numpy()
    return np.asarray(x)
