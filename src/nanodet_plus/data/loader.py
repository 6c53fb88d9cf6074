"""DataLoader construction with epoch-seeded, worker-independent sampling."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from nanodet_plus.data.collate import collate_detection
from nanodet_plus.data.memory import tune_allocator


class EpochSampler(Sampler):
    """Yields ``(epoch, index)`` pairs: the order is a function of (seed, epoch) only.

    With ``num_replicas > 1`` each rank takes every ``num_replicas``-th index of the shared
    order (padded by wrapping so all ranks get the same count), like DistributedSampler.
    Carrying the epoch with each index lets the dataset seed the sample without shared state.
    """

    def __init__(
        self,
        size: int,
        shuffle: bool,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
    ) -> None:
        self.size = size
        self.shuffle = shuffle
        self.seed = int(seed)
        self.num_replicas = num_replicas
        self.rank = rank
        self.drop_last = drop_last
        self.epoch = 0
        if drop_last and size % num_replicas:
            self.per_rank = size // num_replicas
        else:
            self.per_rank = math.ceil(size / num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.per_rank

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch, 0x5EED]).permutation(self.size)
        else:
            order = np.arange(self.size)
        total = self.per_rank * self.num_replicas
        if total > self.size:
            order = np.concatenate([order, order[: total - self.size]])
        for index in order[self.rank : total : self.num_replicas]:
            yield self.epoch, int(index)


def _worker_init(worker_id: int) -> None:
    tune_allocator()
    torch.set_num_threads(1)


def build_dataloader(
    dataset,
    batch_size: int,
    shuffle: bool,
    workers: int = 0,
    drop_last: bool = False,
    distributed: bool = False,
    pin_memory: bool | None = None,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader over ``dataset`` with :func:`collate_detection` and an :class:`EpochSampler`.

    Call :func:`set_epoch` (or ``loader.sampler.set_epoch``) before each epoch. ``distributed``
    takes rank and world size from ``torch.distributed``. ``pin_memory=None`` pins when CUDA is
    available. Workers are persistent: the epoch travels with each index.
    """
    num_replicas, rank = 1, 0
    if distributed and torch.distributed.is_available() and torch.distributed.is_initialized():
        num_replicas = torch.distributed.get_world_size()
        rank = torch.distributed.get_rank()
    sampler = EpochSampler(len(dataset), shuffle, seed, num_replicas, rank, drop_last)
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_detection,
        drop_last=drop_last,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if workers > 0 else None,
        persistent_workers=workers > 0,
    )


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Set the epoch of the loader's sampler and dataset (order and augmentation)."""
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)
