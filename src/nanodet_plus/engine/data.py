"""The trainer's data side: read and check the splits, batch the training set, score validation."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from nanodet_plus.config.schema import Config
from nanodet_plus.engine.distributed import DistContext
from nanodet_plus.engine.sampler import EpochSampler
from nanodet_plus.errors import NanoDetError
from nanodet_plus.structures import ImageRecord

logger = logging.getLogger(__name__)

MAX_LISTED_ISSUES = 10


class DataError(NanoDetError, ValueError):
    """The dataset cannot be trained on; the message lists the problems found."""


@dataclass
class TrainData:
    """Training records and loader, validation records, and the class names they share."""

    config: Config
    class_names: list[str]
    train_records: list[ImageRecord]
    val_records: list[ImageRecord]
    val_category_ids: list[int] | None
    loader: DataLoader
    sampler: EpochSampler

    @property
    def has_val(self) -> bool:
        return bool(self.val_records)

    @classmethod
    def build(cls, config: Config, dist: DistContext, check: bool = True) -> TrainData:
        """Read both splits (every problem collected, errors stop training) and the loader."""
        if config.data.train is None:
            raise DataError("config has no data.train section: nothing to train on")
        if check:
            _check_at_start(config, dist)
        train_set = _read_split(config, "train", config.class_names, check)
        class_names = list(config.class_names or train_set.class_names)
        val_records: list[ImageRecord] = []
        val_ids = None
        if config.data.val is not None:
            val_set = _read_split(config, "val", class_names, check)
            val_records, val_ids = list(val_set.records), list(val_set.category_ids)
        from nanodet_plus.data.collate import collate_detection
        from nanodet_plus.data.dataset import DetectionDataset

        records = list(train_set.records)
        dataset = DetectionDataset(records, config.data, train=True, seed=config.train.seed)
        batch_size = config.train.batch_size
        sampler = EpochSampler(len(records), dist.rank, dist.world_size, config.train.seed)
        drop_last = sampler.per_rank >= batch_size
        if not drop_last:
            logger.warning("only %d training images per process for batch size %d: using one "
                           "smaller batch per epoch", sampler.per_rank, batch_size)
        workers = config.data.workers
        loader = DataLoader(
            dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
            collate_fn=collate_detection, drop_last=drop_last,
            pin_memory=dist.device.type == "cuda", persistent_workers=workers > 0,
            worker_init_fn=_worker_init if workers > 0 else None,
        )
        return cls(config, class_names, records, val_records, val_ids, loader, sampler)

    def train_loader(self, epoch: int, skip_batches: int = 0) -> Iterator[tuple[Any, Any, Any]]:
        """Batches ``(images, gt_boxes, gt_labels)`` of ``epoch``, leaving out the first ones."""
        self.sampler.set_epoch(epoch, skip_batches * self.config.train.batch_size)
        return _Batches(self.loader)

    def evaluate(self, model: nn.Module, config: Config, device: torch.device) -> dict[str, float]:
        """COCO metrics of ``model`` (the EMA weights) on the validation split."""
        from nanodet_plus.metrics.evaluator import evaluate

        result = evaluate(model, self.val_records, self.class_names, config=config,
                          category_ids=self.val_category_ids, device=str(device), plots=False)
        return {k: float(v) for k, v in result.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}


class _Batches:
    """A loader view that yields tensors ready for ``training_losses`` and knows its length."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]]:
        for batch in self.loader:
            boxes = [torch.as_tensor(b, dtype=torch.float32).reshape(-1, 4)
                     for b in batch["gt_bboxes"]]
            labels = [torch.as_tensor(label, dtype=torch.int64).reshape(-1)
                      for label in batch["gt_labels"]]
            yield batch["img"], boxes, labels


def _worker_init(worker_id: int) -> None:
    torch.set_num_threads(1)
    # Ctrl-C and `kill -TERM -PGID` reach the whole process group. A loader worker that dies of
    # them makes the main process raise from inside the step, before it can write its
    # resumable checkpoint; the main process alone decides when to stop, and shuts the
    # workers down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _check_at_start(config: Config, dist: DistContext) -> None:
    """Rank 0 runs ``data check`` (annotations and image headers); errors stop every rank."""
    from nanodet_plus.engine.distributed import broadcast_object

    problem = None
    if dist.is_main:
        from nanodet_plus.data.check import check_data

        report = check_data(config)
        if report.ok:
            for line in report.format(max_issues=3).splitlines():
                logger.info("data check: %s", line)
        else:
            problem = f"the dataset check found errors:\n{report.format()}"
    problem = broadcast_object(problem, dist)
    if problem:
        raise DataError(str(problem))


def _read_split(config: Config, split: str, class_names: list[str] | None, check: bool) -> Any:
    from nanodet_plus.data.datasets import LoadReport, load_record_set

    dataset_config = getattr(config.data, split)
    report = LoadReport(strict=False)
    record_set = load_record_set(dataset_config, class_names, report)
    if report.errors:
        listed = "\n  ".join(str(issue) for issue in report.errors[:MAX_LISTED_ISSUES])
        more = len(report.errors) - MAX_LISTED_ISSUES
        extra = f"\n  ... and {more} more" if more > 0 else ""
        raise DataError(
            f"data.{split} ({dataset_config.ann_path or dataset_config.img_path}): "
            f"{len(report.errors)} error(s); fix them or run 'nanodet data check':\n  "
            f"{listed}{extra}"
        )
    if not check and report.warnings:
        logger.warning("data.%s: %d warning(s), e.g. %s", split, len(report.warnings),
                       report.warnings[0])
    if not record_set.records:
        raise DataError(f"data.{split}: no images found in {dataset_config.img_path}")
    return record_set
