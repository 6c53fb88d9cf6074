"""Dataset health check behind ``nanodet data check`` and the trainer's start-up check.

Per split: image, negative and per-class box counts; every problem with its file and line or
field (missing, empty, truncated or corrupt images, sizes that disagree with the image header
as displayed, boxes clipped or dropped, unknown classes, duplicate image ids or file names, a
training split without a single box).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nanodet_plus.config.schema import Config, DatasetConfig
from nanodet_plus.data.datasets import (
    ImageHeader,
    Issue,
    LoadReport,
    RecordSet,
    load_image,
    load_record_set,
    read_image_header,
)
from nanodet_plus.data.datasets.base import IssueList, report_exception
from nanodet_plus.errors import DataError

logger = logging.getLogger(__name__)

# Issue kinds that leave a box (or a whole label file) out of the records
DROPPING_KINDS = frozenset({"degenerate-box", "unknown-class", "bad-line", "bad-number",
                            "pixel-units", "negative-value", "bad-box", "unknown-image"})


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


def _check_images(records, report: LoadReport, decode: bool) -> set[str]:
    """Read each image's header (and pixels with ``decode``) and compare its size with the
    annotation's; the paths of unreadable images that are skipped (data.skip_bad_images)."""
    checked: dict[str, ImageHeader | None] = {}
    for record in records:
        if record.path not in checked:
            try:
                header = read_image_header(record.path)
                if decode:
                    image = load_image(record.path)
                    header = ImageHeader(image.shape[1], image.shape[0], header.orientation)
            except DataError as exc:
                report.bad_image(record.path, exc)
                header = None
            checked[record.path] = header
        header = checked[record.path]
        if header is not None and (header.width, header.height) != (record.width, record.height):
            report.error(
                "size-mismatch", record.path,
                f"annotation says {record.width}x{record.height} but the image is "
                f"{header.width}x{header.height} (width x height){_rotation_hint(header)}",
            )
    return {path for path, header in checked.items() if header is None}


def _rotation_hint(header: ImageHeader) -> str:
    if header.orientation < 5:
        return ""
    return (f"; its EXIF orientation {header.orientation} turns it a quarter turn when loaded: "
            "give the size and boxes of the image as displayed")


def _check_has_boxes(split: LoadedSplit, stats: SplitStats, report: LoadReport) -> None:
    """A training split without one box (all negatives, or every box dropped) is an error:
    training would run and learn nothing. A validation split without boxes is a warning."""
    if stats.boxes or not stats.images:
        return
    dropped = Counter(i.kind for i in split.report.issues if i.kind in DROPPING_KINDS)
    if split.name != "train":
        report.warn("no-boxes", split.source,
                    f"the {split.name} split has no box: mAP cannot be measured on it")
    elif dropped:
        summary = ", ".join(f"{kind} {n}" for kind, n in dropped.most_common())
        report.error("no-boxes", split.source,
                     f"every box of the training split was dropped ({summary}): nothing to "
                     "learn from; fix the annotations")
    else:
        report.error("no-boxes", split.source,
                     f"the training split's {stats.images} images hold no box at all: "
                     "nothing to learn from (negatives alone cannot train a detector)")


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
    name: str,
    dataset_config: DatasetConfig,
    class_names: Sequence[str] | None,
    skip_bad_images: bool = False,
) -> LoadedSplit:
    """Read one split, collecting every problem (an unreadable file too) instead of raising;
    ``skip_bad_images`` makes an unreadable image a warning (data.skip_bad_images)."""
    report = LoadReport(strict=False, skip_bad_images=skip_bad_images)
    split = LoadedSplit(name, dataset_config, None, report)
    try:
        split.record_set = load_record_set(dataset_config, class_names, split.report)
    except DataError as exc:
        report_exception(split.report, split.source, exc)
    return split


def check_split(
    split: LoadedSplit, check_images: bool = True, decode: bool = False
) -> tuple[SplitStats, list[Issue]]:
    """Statistics of a split already read, and its reading problems followed by the check's.

    With data.skip_bad_images, each image that cannot be read is named in a warning, and its
    record is removed from a validation split's ``record_set`` (evaluated by one process); a
    training split keeps every record, so that all processes of a run sample the same list,
    and the loader puts the next readable image in place of a bad one.
    """
    stats = SplitStats(split.name, split.dataset_config.format, split.source)
    if split.record_set is None:
        stats.loaded = False
        return stats, list(split.report.issues)
    findings = LoadReport(strict=False, skip_bad_images=split.report.skip_bad_images)
    records = split.record_set.records
    names = split.record_set.class_names
    if not records:
        findings.error("empty", split.source, "the split has no images")
    _check_duplicates(records, findings, split.source)
    skipped = _check_images(records, findings, decode) if check_images else set()
    if skipped and findings.skip_bad_images:
        usable = [r for r in records if r.path not in skipped]
        if not usable:
            findings.error("empty", split.source,
                           f"none of the split's {len(records)} images can be read")
        if split.name != "train":
            split.record_set.records = usable
        records = usable
    counts = np.zeros(len(names), np.int64)
    for record in records:
        counts += np.bincount(record.labels, minlength=len(names))[: len(names)]
        stats.ignore_boxes += len(record.ignore_boxes)
    stats.images = len(records)
    stats.negatives = sum(1 for r in records if len(r.boxes) == 0)
    stats.boxes_per_class = {n: int(c) for n, c in zip(names, counts)}
    _check_has_boxes(split, stats, findings)
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
        split = read_split(name, dataset_config, names, config.data.skip_bad_images)
        loaded.append(split)
        if names is None and split.record_set is not None:
            names = split.record_set.class_names
    return loaded
