"""A shuffled, rank-sharded sampler whose order depends only on (seed, epoch) and can start late.

Starting part way into an epoch lets an interrupted run resume at the exact next batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler[tuple[int, int]]):
    """``(epoch, index)`` pairs of one rank: a ``(seed, epoch)`` permutation split over ranks.

    The epoch travels with each index so that dataset copies in persistent workers draw that
    epoch's augmentation without shared state.

    The permutation is padded by wrapping around so that every rank gets the same number of
    samples (as ``DistributedSampler`` does). ``set_epoch(epoch, skip)`` drops the first
    ``skip`` indices of this rank's share.
    """

    def __init__(self, size: int, rank: int = 0, world_size: int = 1, seed: int = 0,
                 shuffle: bool = True) -> None:
        if size < 1:
            raise ValueError("cannot sample from an empty dataset")
        self.size = size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.skip = 0
        self.per_rank = -(-size // world_size)

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select the epoch's permutation and how many of this rank's indices to leave out."""
        self.epoch = epoch
        self.skip = max(0, min(skip, self.per_rank))

    def indices(self) -> list[int]:
        """This rank's full share for the current epoch."""
        if self.shuffle:
            generator = torch.Generator()
            generator.manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        total = self.per_rank * self.world_size
        order = (order * (-(-total // self.size)))[:total]
        return order[self.rank::self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, index) for index in self.indices()[self.skip:]])

    def __len__(self) -> int:
        return self.per_rank - self.skip
