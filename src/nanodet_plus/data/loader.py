"""The training data loader: a (seed, epoch)-shuffled, rank-sharded sampler that can start part
way into an epoch, the DataLoader built on it, and one epoch's batches as the trainer gets them.

Starting part way into an epoch lets an interrupted run resume at the exact next batch.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from typing import Any, TypedDict, cast

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from nanodet_plus.data.collate import collate_detection
from nanodet_plus.errors import DataError

logger = logging.getLogger(__name__)


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


class TrainBatch(TypedDict):
    """Every field :func:`collate_detection` puts in a batch, with box and label tensors."""

    img: torch.Tensor  # float32 [B, 3, H, W]
    gt_bboxes: list[torch.Tensor]  # per image: float32 [n, 4], xyxy input pixels
    gt_labels: list[torch.Tensor]  # per image: int64 [n]
    gt_bboxes_ignore: list[torch.Tensor]  # per image: float32 [m, 4]
    warp_matrix: list[np.ndarray]  # per image: float64 [3, 3], original -> input pixels
    img_info: dict[str, list[Any]]  # file_name, id, height, width: one entry per image


def build_train_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader of this rank's :class:`EpochSampler` share, batched by the collate.

    Only full batches, unless the share is smaller than one batch (then one smaller batch per
    epoch). Workers are persistent: the epoch travels with each index, not with the workers.
    """
    sampler = EpochSampler(len(dataset), rank, world_size, seed)
    drop_last = sampler.per_rank >= batch_size
    if not drop_last:
        logger.warning("only %d training images per process for batch size %d: using one "
                       "smaller batch per epoch", sampler.per_rank, batch_size)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
        collate_fn=collate_detection, drop_last=drop_last, pin_memory=pin_memory,
        persistent_workers=workers > 0, worker_init_fn=_init_worker if workers > 0 else None,
    )


def epoch_batches(loader: DataLoader, epoch: int, skip_batches: int = 0) -> EpochBatches:
    """The batches of ``epoch`` from a :func:`build_train_loader` loader, the first ones left out.

    The order depends on (seed, epoch) only, so skipping resumes an interrupted epoch exactly.
    """
    loader.sampler.set_epoch(epoch, skip_batches * loader.batch_size)
    return EpochBatches(loader)


class EpochBatches:
    """A loader view that yields :class:`TrainBatch` dicts and knows its length."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[TrainBatch]:
        batches = iter(self.loader)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except Exception as exc:
                _shut_down(self.loader, batches)
                if isinstance(exc, DataError):
                    raise DataError(_worker_message(str(exc))) from None
                raise
            yield _with_tensor_targets(batch)


def _shut_down(loader: DataLoader, batches: Iterator[Any]) -> None:
    """Stop the workers of a loader whose batch failed.

    They ignore SIGTERM (:func:`_init_worker`), so workers of a persistent iterator still alive
    at exit would make the interpreter wait for them forever.
    """
    shutdown = getattr(batches, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()
    if getattr(loader, "_iterator", None) is batches:
        loader._iterator = None


def _worker_message(message: str) -> str:
    """The one-line message of a :class:`DataError` raised in a loader worker.

    PyTorch hands a worker's exception to the main process as the same class built from
    "Caught DataError in DataLoader worker process N" and the worker's traceback, whose last
    line holds the original message.
    """
    if not message.startswith("Caught DataError"):
        return message
    last = message.rstrip().splitlines()[-1]
    _, _, original = last.partition("DataError: ")
    return original or last


def _with_tensor_targets(batch: dict[str, Any]) -> TrainBatch:
    """The collated batch with its per-image box and label arrays as tensors, zero-copy.

    The collate keeps them numpy so that workers do not hand over one small shared-memory
    tensor per image and field.
    """
    for key in ("gt_bboxes", "gt_bboxes_ignore"):
        batch[key] = [torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
                      for boxes in batch[key]]
    batch["gt_labels"] = [torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
                          for labels in batch["gt_labels"]]
    return cast(TrainBatch, batch)


def _init_worker(worker_id: int) -> None:
    """One thread per worker, and stop signals left to the main process."""
    torch.set_num_threads(1)
    # Ctrl-C and `kill -TERM -PGID` reach the whole process group. A loader worker that dies of
    # them makes the main process raise from inside the step, before it can write its
    # resumable checkpoint; the main process alone decides when to stop, and shuts the
    # workers down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
