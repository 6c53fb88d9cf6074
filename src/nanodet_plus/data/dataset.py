"""Torch dataset of detection samples: decode, (mosaic,) warp, colour jitter, normalise.

An image that cannot be read stops with a :class:`DataError` naming it, or, with
``data.skip_bad_images``, is replaced by the next readable one with a warning.

Each sample's randomness comes from a generator seeded by ``(seed, epoch, index)``
(:func:`sample_rng`), so worker count, rank count and resuming do not change a batch. The
epoch is set with :meth:`DetectionDataset.set_epoch`, or travels with the index when the
sampler yields ``(epoch, index)`` pairs (the training loader's :class:`EpochSampler` does), which
also works with persistent workers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from nanodet_plus.config.schema import DataConfig, DatasetConfig
from nanodet_plus.data.datasets import load_records
from nanodet_plus.data.datasets.base import load_image
from nanodet_plus.data.memory import tune_allocator
from nanodet_plus.data.transforms.mosaic import build_mosaic
from nanodet_plus.data.transforms.pipeline import TransformPipeline, sample_rng
from nanodet_plus.errors import DataError
from nanodet_plus.structures import ImageRecord

logger = logging.getLogger(__name__)


class DetectionDataset(Dataset):
    """Samples ``{img, gt_bboxes, gt_labels, gt_bboxes_ignore, warp_matrix, img_info}``.

    ``img`` is a float32 CHW tensor in input coordinates; boxes, labels and the warp matrix
    are numpy arrays (float32 [n,4], int64 [n], float32 [m,4], float64 [3,3]); ``img_info``
    holds the original ``file_name``, ``id``, ``height`` and ``width``.
    """

    def __init__(
        self, records: Sequence[ImageRecord], data_config: DataConfig, train: bool, seed: int = 0
    ) -> None:
        self.records = list(records)
        self.data_config = data_config
        self.train = train
        self.seed = int(seed)
        self.epoch = 0
        self.pipeline = TransformPipeline(data_config, train)
        self._skipped: set[str] = set()

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws plain integer indices use."""
        self.epoch = int(epoch)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        tune_allocator()
        if isinstance(key, (tuple, list)):
            epoch, index = int(key[0]), int(key[1])
        else:
            epoch, index = self.epoch, int(key)
        rng = sample_rng(self.seed, epoch, index) if self.train else None
        record, image = self.load(index)
        boxes, labels, ignore = record.boxes, record.labels, record.ignore_boxes
        base_matrix = np.eye(3)
        mosaic_p = self.data_config.augment.mosaic
        if self.train and mosaic_p > 0 and rng.random() < mosaic_p:
            others = [self.load(int(i)) for i in rng.integers(0, len(self.records), 3)]
            tiles = [record] + [tile for tile, _ in others]
            image, boxes, labels, ignore, base_matrix = build_mosaic(
                [image] + [tile_image for _, tile_image in others],
                [r.boxes for r in tiles],
                [r.labels for r in tiles],
                [r.ignore_boxes for r in tiles],
                tuple(self.data_config.input_size),
                rng,
            )
        sample = self.pipeline(image, boxes, labels, ignore, rng)
        return {
            "img": torch.from_numpy(sample.image),
            "gt_bboxes": sample.boxes,
            "gt_labels": sample.labels,
            "gt_bboxes_ignore": sample.ignore_boxes,
            "warp_matrix": sample.warp_matrix @ base_matrix,
            "img_info": {
                "file_name": record.file_name,
                "id": record.image_id,
                "height": record.height,
                "width": record.width,
            },
        }

    def load(self, index: int) -> tuple[ImageRecord, np.ndarray]:
        """The record at ``index`` and its decoded image, checked against the record's size.

        An image that cannot be read is a :class:`DataError` naming the file; with
        ``data.skip_bad_images`` it is a warning instead (once per file and process) and the
        next readable record takes its place, the same one on every run.
        """
        count = len(self.records)
        for step in range(count):
            record = self.records[(index + step) % count]
            try:
                return record, _load_checked(record)
            except DataError as exc:
                if not self.data_config.skip_bad_images:
                    raise
                if record.path not in self._skipped:
                    self._skipped.add(record.path)
                    logger.warning("%s; skipped (data.skip_bad_images): the next image "
                                   "takes its place", exc)
        raise DataError(f"none of the {count} images of the dataset can be read (first: "
                        f"{self.records[index].path}); every one was skipped")


def _load_checked(record: ImageRecord) -> np.ndarray:
    """The record's image; :class:`DataError` when it does not have the record's size (the
    boxes would land in the wrong place)."""
    image = load_image(record.path)
    height, width = image.shape[:2]
    if (width, height) != (record.width, record.height):
        raise DataError(
            f"{record.path}: the image loads as {width}x{height} (width x height, EXIF "
            f"orientation applied) but its annotation says {record.width}x{record.height}; "
            "run `nanodet data check`"
        )
    return image


def build_dataset(
    dataset_config: DatasetConfig,
    class_names: Sequence[str] | None,
    data_config: DataConfig,
    train: bool,
    seed: int = 0,
) -> DetectionDataset:
    """Read a split strictly and wrap it in a torch :class:`DetectionDataset`."""
    records = load_records(dataset_config, class_names)
    return DetectionDataset(records, data_config, train=train, seed=seed)
