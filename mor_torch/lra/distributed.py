"""Process-group helpers for training under ``torchrun`` (DistributedDataParallel).

Single-process runs need none of this: every helper degrades to the identity
when :func:`torch.distributed.is_initialized` is false.  Under ``torchrun`` the
environment variables ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` are set;
:func:`init_from_env` then joins the process group (``nccl`` on CUDA devices,
``gloo`` on CPU) and only rank 0 writes files and prints.
"""

from __future__ import annotations

import logging
import os

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)

__all__ = [
    "all_reduce_sum",
    "barrier",
    "cleanup",
    "init_from_env",
    "is_distributed",
    "is_main_process",
    "rank",
    "world_size",
]


def is_distributed() -> bool:
    """True inside an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank (0 outside a process group)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes (1 outside a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on rank 0 (and in single-process runs): the process that writes files and prints."""
    return rank() == 0


def init_from_env(device: str = "auto") -> bool:
    """Join the process group described by ``torchrun``'s environment variables.

    Returns True when a process group was initialised (``WORLD_SIZE > 1``), False
    otherwise.  The backend is ``nccl`` for CUDA devices, ``gloo`` for CPU.
    """
    if is_distributed():
        return True
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return False
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend)
    logger.info("process group initialised: backend=%s rank=%d world=%d", backend, rank(), world_size())
    return True


def cleanup(*, synchronise: bool = True) -> None:
    """Leave the process group if one is active.

    Parameters
    ----------
    synchronise : bool
        Wait for every rank first (a barrier): with gloo, a rank that leaves while a peer still
        talks to it can make that peer abort ("terminate called without an active exception").
        ``False`` on error paths, where the other ranks may never reach the barrier.
    """
    if is_distributed():
        if synchronise:
            dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    """Synchronise all ranks (no-op outside a process group)."""
    if is_distributed():
        dist.barrier()


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum a float64 tensor over all ranks (returns the input unchanged in single-process runs)."""
    if not is_distributed():
        return values
    backend = dist.get_backend()
    work = values.to("cuda") if backend == "nccl" else values.to("cpu")
    dist.all_reduce(work, op=dist.ReduceOp.SUM)
    return work.to(values.device)
