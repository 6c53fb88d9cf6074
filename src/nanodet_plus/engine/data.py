"""The trainer's data side: read and check the splits, batch the training set, score validation."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from nanodet_plus.config.schema import Config
from nanodet_plus.data.check import LoadedSplit, check_splits, read_splits
from nanodet_plus.data.datasets import RecordSet
from nanodet_plus.data.loader import EpochBatches, build_train_loader, epoch_batches
from nanodet_plus.engine.distributed import DistContext
from nanodet_plus.errors import DataError
from nanodet_plus.structures import ImageRecord

logger = logging.getLogger(__name__)

MAX_LISTED_ISSUES = 10


@dataclass
class TrainData:
    """Training records and loader, validation records, and the class names they share."""

    config: Config
    class_names: list[str]
    train_records: list[ImageRecord]
    val_records: list[ImageRecord]
    val_category_ids: list[int] | None
    loader: DataLoader

    @property
    def has_val(self) -> bool:
        return bool(self.val_records)

    @classmethod
    def build(
        cls,
        config: Config,
        dist: DistContext,
        check: bool = True,
        train_set: RecordSet | None = None,
        val_set: RecordSet | None = None,
    ) -> TrainData:
        """Read each split once, check it (errors stop every rank) and batch the training set.

        The start-up check works on the records read here, which the dataset then uses.
        ``train_set`` / ``val_set`` given in memory replace the config's splits (API use).
        """
        if train_set is None:
            train_set, val_set = read_record_sets(config, dist, check)
        elif not train_set.records:
            raise DataError("the train_set given holds no images: nothing to train on")
        class_names = list(config.class_names or train_set.class_names)
        val_records: list[ImageRecord] = []
        val_ids = None
        if val_set is not None:
            val_records, val_ids = list(val_set.records), list(val_set.category_ids)
        from nanodet_plus.data.dataset import DetectionDataset

        records = list(train_set.records)
        train_data = config.data
        if train_data.train_input_size is not None:
            train_data = dataclasses.replace(train_data, input_size=train_data.train_input_size)
        dataset = DetectionDataset(records, train_data, train=True, seed=config.train.seed)
        loader = build_train_loader(
            dataset, config.train.batch_size, seed=config.train.seed, rank=dist.rank,
            world_size=dist.world_size, workers=config.data.workers,
            pin_memory=dist.device.type == "cuda",
        )
        return cls(config, class_names, records, val_records, val_ids, loader)

    def batches(self, epoch: int, skip_batches: int = 0) -> EpochBatches:
        """Every field the collate made, per batch of ``epoch``, the first ones left out."""
        return epoch_batches(self.loader, epoch, skip_batches)

    def evaluate(self, model: nn.Module, config: Config, device: torch.device) -> dict[str, float]:
        """COCO metrics of ``model`` (the EMA weights) on the validation split."""
        from nanodet_plus.metrics.evaluator import evaluate

        result = evaluate(model, self.val_records, self.class_names, config=config,
                          category_ids=self.val_category_ids, device=str(device), plots=False)
        return {k: float(v) for k, v in result.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}


def read_record_sets(
    config: Config, dist: DistContext, check: bool = True
) -> tuple[RecordSet, RecordSet | None]:
    """The config's train and val record sets, read once and checked on rank 0."""
    if config.data.train is None:
        raise DataError("config has no data.train section: nothing to train on")
    splits = read_splits(config)
    if check:
        _check_at_start(splits, dist)
    train_set, *val_sets = [_usable_records(split, check) for split in splits]
    return train_set, (val_sets[0] if val_sets else None)


def _check_at_start(splits: list[LoadedSplit], dist: DistContext) -> None:
    """Rank 0 checks the splits read (annotations and image headers); errors stop every rank."""
    from nanodet_plus.engine.distributed import broadcast_object

    problem = None
    if dist.is_main:
        report = check_splits(splits)
        if report.ok:
            for line in report.format(max_issues=3).splitlines():
                logger.info("data check: %s", line)
        else:
            problem = f"the dataset check found errors:\n{report.format()}"
    problem = broadcast_object(problem, dist)
    if problem:
        raise DataError(str(problem))


def _usable_records(split: LoadedSplit, check: bool) -> RecordSet:
    """The split's records; :class:`DataError` listing the reading errors, or if it is empty."""
    report, dataset_config = split.report, split.dataset_config
    if report.errors:
        listed = "\n  ".join(str(issue) for issue in report.errors[:MAX_LISTED_ISSUES])
        more = len(report.errors) - MAX_LISTED_ISSUES
        extra = f"\n  ... and {more} more" if more > 0 else ""
        raise DataError(
            f"data.{split.name} ({split.source}): "
            f"{len(report.errors)} error(s); fix them or run 'nanodet data check':\n  "
            f"{listed}{extra}"
        )
    if not check and report.warnings:
        logger.warning("data.%s: %d warning(s), e.g. %s", split.name, len(report.warnings),
                       report.warnings[0])
    if split.record_set is None or not split.record_set.records:
        raise DataError(f"data.{split.name}: no images found in {dataset_config.img_path}")
    return split.record_set
