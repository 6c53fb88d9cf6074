"""Thin wrappers over ``torch.distributed`` that also work in a single process."""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True when a ``torch.distributed`` process group is up."""
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    """Number of ranks, 1 without a process group."""
    return dist.get_world_size() if is_distributed() else 1


def get_rank() -> int:
    """This process's rank, 0 without a process group."""
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    """True on rank 0 (and in a single process): the one that logs and writes files."""
    return get_rank() == 0


def reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean of ``tensor`` over all ranks (a new float tensor); the tensor itself in one process.

    Every rank must call this the same number of times in the same order (it is a collective).
    Integer tensors are averaged as floats. The input is never modified and no gradient flows.
    """
    if get_world_size() == 1:
        return tensor
    averaged = tensor.detach().clone()
    if not averaged.is_floating_point():
        averaged = averaged.to(torch.float32)
    dist.all_reduce(averaged, op=dist.ReduceOp.SUM)
    return averaged / get_world_size()
