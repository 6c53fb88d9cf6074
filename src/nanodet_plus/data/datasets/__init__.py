"""Dataset readers (COCO json, Pascal VOC xml, YOLO txt) that all yield :class:`ImageRecord`."""

from __future__ import annotations

from collections.abc import Sequence

from nanodet_plus.config.schema import DatasetConfig
from nanodet_plus.data.datasets.base import (
    ImageHeader,
    Issue,
    LoadReport,
    RecordSet,
    load_image,
    read_image_header,
    read_image_size,
)
from nanodet_plus.data.datasets.coco import load_coco
from nanodet_plus.data.datasets.voc import load_voc
from nanodet_plus.data.datasets.yolo import load_yolo
from nanodet_plus.errors import DataError
from nanodet_plus.structures import ImageRecord

__all__ = [
    "ImageHeader",
    "Issue",
    "LoadReport",
    "RecordSet",
    "load_coco",
    "load_image",
    "load_record_set",
    "load_records",
    "load_voc",
    "load_yolo",
    "read_image_header",
    "read_image_size",
]


def load_record_set(
    dataset_config: DatasetConfig,
    class_names: Sequence[str] | None = None,
    report: LoadReport | None = None,
) -> RecordSet:
    """Read one split in whichever format its config names.

    ``report=None`` is strict: the first problem that is an error raises :class:`DataError`.
    Pass ``LoadReport(strict=False)`` to collect every problem instead (``data check``).
    """
    report = report if report is not None else LoadReport()
    fmt = dataset_config.format
    if fmt == "coco":
        return load_coco(dataset_config.img_path, dataset_config.ann_path, class_names, report)
    if fmt == "voc":
        return load_voc(dataset_config.img_path, dataset_config.ann_path, class_names,
                        dataset_config.use_difficult, report)
    if fmt == "yolo":
        return load_yolo(dataset_config.img_path, dataset_config.ann_path, class_names, report)
    raise DataError(f"unknown dataset format '{fmt}' (expected coco, voc or yolo)")


def load_records(
    dataset_config: DatasetConfig,
    class_names: Sequence[str] | None = None,
    report: LoadReport | None = None,
) -> list[ImageRecord]:
    """The :class:`ImageRecord` list of one split (see :func:`load_record_set`)."""
    return load_record_set(dataset_config, class_names, report).records
