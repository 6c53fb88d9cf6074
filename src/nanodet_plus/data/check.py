"""Dataset health check behind ``nanodet data check`` and the trainer's start-up check.

Per split: image, negative and per-class box counts; every problem with its file and line or
field (missing, empty or corrupt images, sizes that disagree with the image header, boxes
clipped or dropped, unknown classes, duplicate image ids or file names).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nanodet_plus.config.schema import Config, DatasetConfig
from nanodet_plus.data.datasets import (
    Issue,
    LoadReport,
    RecordSet,
    load_image,
    load_record_set,
    read_image_size,
)
from nanodet_plus.data.datasets.base import IssueList, report_exception
from nanodet_plus.errors import DataError

logger = logging.getLogger(__name__)


@dataclass
class SplitStats:
    """Counts of one split; ``loaded`` is False when its annotations could not be read at all."""

    name: str
    format: str
    source: str
    loaded: bool = True
    images: int = 0
    negatives: int = 0
    boxes_per_class: dict[str, int] = field(default_factory=dict)
    ignore_boxes: int = 0

    @property
    def boxes(self) -> int:
        return sum(self.boxes_per_class.values())


@dataclass
class DataCheckReport(IssueList):
    """The result of :func:`check_data`: split statistics and every issue found."""

    splits: list[SplitStats] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise :class:`DataError` naming the first errors (the trainer's start-up check)."""
        if self.errors:
            shown = "; ".join(str(i) for i in self.errors[:3])
            more = f" (and {len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
            raise DataError(
                f"{len(self.errors)} dataset error(s): {shown}{more}; run `nanodet data check`"
            )

    def format(self, max_issues: int = 8) -> str:
        """A summary that fits one screen: counts per split, then the first issues by level."""
        lines = []
        for split in self.splits:
            if not split.loaded:
                lines.append(f"{split.name} ({split.format}, {split.source}): NOT READABLE")
                continue
            lines.append(
                f"{split.name} ({split.format}, {split.source}): {split.images} images, "
                f"{split.negatives} negatives, {split.boxes} boxes, "
                f"{split.ignore_boxes} ignored"
            )
            per_class = ", ".join(f"{n} {c}" for n, c in split.boxes_per_class.items())
            lines.append(f"  boxes per class: {per_class}")
        for title, issues in (("errors", self.errors), ("warnings", self.warnings)):
            if not issues:
                continue
            kinds = Counter(i.kind for i in issues)
            summary = ", ".join(f"{k} {n}" for k, n in kinds.most_common())
            lines.append(f"{title} ({len(issues)}: {summary}):")
            lines.extend(f"  {issue}" for issue in issues[:max_issues])
            if len(issues) > max_issues:
                lines.append(f"  ... and {len(issues) - max_issues} more")
        status = "OK" if self.ok else "FAILED"
        lines.append(f"{status}: {len(self.errors)} errors, {len(self.warnings)} warnings")
        return "\n".join(lines)


def _check_images(records, report: LoadReport, decode: bool) -> None:
    checked: dict[str, tuple[int, int] | None] = {}
    for record in records:
        if record.path not in checked:
            try:
                size = read_image_size(record.path)
                if decode:
                    image = load_image(record.path)
                    size = (image.shape[1], image.shape[0])
            except DataError as exc:
                report_exception(report, record.path, exc)
                size = None
            checked[record.path] = size
        size = checked[record.path]
        if size is not None and size != (record.width, record.height):
            report.error(
                "size-mismatch", record.path,
                f"annotation says {record.width}x{record.height} but the image is "
                f"{size[0]}x{size[1]} (width x height)",
            )


def _check_duplicates(records, report: LoadReport, source: str) -> None:
    by_name: dict[str, list[int]] = defaultdict(list)
    for record in records:
        by_name[record.path].append(record.image_id)
    for path, ids in by_name.items():
        if len(ids) > 1:
            report.error(
                "duplicate-file", source,
                f"image file {path} is used by {len(ids)} images (ids {', '.join(map(str, ids))})",
            )


@dataclass
class LoadedSplit:
    """One split's annotations read in collecting mode, shared by the check and the dataset.

    ``record_set`` is None when the annotations could not be read at all; ``report`` holds
    every problem the reader met.
    """

    name: str
    dataset_config: DatasetConfig
    record_set: RecordSet | None
    report: LoadReport

    @property
    def source(self) -> str:
        return self.dataset_config.ann_path or self.dataset_config.img_path


def read_split(
    name: str, dataset_config: DatasetConfig, class_names: Sequence[str] | None
) -> LoadedSplit:
    """Read one split, collecting every problem (an unreadable file too) instead of raising."""
    split = LoadedSplit(name, dataset_config, None, LoadReport(strict=False))
    try:
        split.record_set = load_record_set(dataset_config, class_names, split.report)
    except DataError as exc:
        report_exception(split.report, split.source, exc)
    return split


def check_split(
    split: LoadedSplit, check_images: bool = True, decode: bool = False
) -> tuple[SplitStats, list[Issue]]:
    """Statistics of a split already read, and its reading problems followed by the check's."""
    stats = SplitStats(split.name, split.dataset_config.format, split.source)
    if split.record_set is None:
        stats.loaded = False
        return stats, list(split.report.issues)
    findings = LoadReport(strict=False)
    records = split.record_set.records
    names = split.record_set.class_names
    if not records:
        findings.error("empty", split.source, "the split has no images")
    _check_duplicates(records, findings, split.source)
    if check_images:
        _check_images(records, findings, decode)
    counts = np.zeros(len(names), np.int64)
    for record in records:
        counts += np.bincount(record.labels, minlength=len(names))[: len(names)]
        stats.ignore_boxes += len(record.ignore_boxes)
    stats.images = len(records)
    stats.negatives = sum(1 for r in records if len(r.boxes) == 0)
    stats.boxes_per_class = {n: int(c) for n, c in zip(names, counts)}
    return stats, split.report.issues + findings.issues


def check_splits(
    splits: Sequence[LoadedSplit], check_images: bool = True, decode: bool = False
) -> DataCheckReport:
    """Check splits already read (the trainer's start-up check reuses the records it trains on)."""
    result = DataCheckReport()
    for split in splits:
        stats, issues = check_split(split, check_images, decode)
        result.splits.append(stats)
        result.issues.extend(issues)
    if not result.splits:
        result.issues.append(Issue("error", "no-data", "config", "data",
                                   "no data.train or data.val split configured"))
    for issue in result.issues:
        if issue.level == "warning":
            logger.debug("%s", issue)
    return result


def check_data(
    config: Config,
    splits: Sequence[str] = ("train", "val"),
    check_images: bool = True,
    decode: bool = False,
) -> DataCheckReport:
    """Read and check the configured splits (``nanodet data check``)."""
    return check_splits(read_splits(config, splits), check_images, decode)


def read_splits(config: Config, splits: Sequence[str] = ("train", "val")) -> list[LoadedSplit]:
    """The configured splits, each read once; when the config names no classes, the splits
    after the first are read against the first one's class names, as training reads them."""
    loaded = []
    names = config.class_names
    for name in splits:
        dataset_config = getattr(config.data, name)
        if dataset_config is None:
            continue
        split = read_split(name, dataset_config, names)
        loaded.append(split)
        if names is None and split.record_set is not None:
            names = split.record_set.class_names
    return loaded
