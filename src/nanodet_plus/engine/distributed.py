"""Process-group set-up for ``torchrun`` (NCCL on GPUs, gloo on CPU) and the training device."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from nanodet_plus.errors import UsageError

logger = logging.getLogger(__name__)


@dataclass
class DistContext:
    """Where this process runs: its rank, the world size and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False  # True when this context created the process group

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this rank's GPU if CUDA works, else CPU; ``cuda`` -> this rank's GPU."""
    preference = (preference or "auto").lower()
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"device '{preference}' requested but CUDA is not available")
        if preference == "cuda":
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return torch.device(preference)
    if preference != "cpu":
        raise UsageError(f"device '{preference}' is not auto, cpu, cuda or cuda:N")
    return torch.device("cpu")


def setup_distributed(preference: str, timeout_s: float = 1800.0) -> DistContext:
    """Join the ``torchrun`` process group named by the environment, or run as one process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if dist.is_available() and dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        return DistContext(rank, world_size, local_rank, pick_device(preference, local_rank))
    if world_size <= 1:
        return DistContext(0, 1, 0, pick_device(preference))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(preference, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    rank = dist.get_rank()
    logger.info("rank %d of %d on %s (%s)", rank, world_size, device, backend)
    return DistContext(rank, world_size, local_rank, device, owns_group=True)


def teardown_distributed(context: DistContext) -> None:
    """Leave the process group if this context created it."""
    if context.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def wait_for_all_ranks(context: DistContext) -> None:
    """Block until every rank gets here, so that no rank leaves the group while another
    still writes results (gloo can abort a process whose peer has already gone)."""
    if context.distributed:
        dist.barrier()


def broadcast_object(value: object, context: DistContext) -> object:
    """Rank 0's ``value`` on every rank."""
    if not context.distributed:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def any_rank(flags: list[bool], context: DistContext) -> list[bool]:
    """Per flag: whether it is set on at least one rank (a collective when distributed)."""
    if not context.distributed:
        return flags
    device = context.device if context.device.type == "cuda" else torch.device("cpu")
    tensor = torch.tensor([float(f) for f in flags], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(v) for v in tensor.tolist()]


def mean_over_ranks(values: dict[str, float], context: DistContext) -> dict[str, float]:
    """Each value averaged over the ranks (the same keys on every rank; a collective)."""
    if not context.distributed or not values:
        return values
    device = context.device if context.device.type == "cuda" else torch.device("cpu")
    keys = sorted(values)
    tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return dict(zip(keys, (tensor / context.world_size).tolist()))
