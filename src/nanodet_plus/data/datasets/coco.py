"""COCO instances json reader.

Category ids, sorted, map to contiguous labels ``0..K-1``; ``iscrowd``/``ignore`` annotations
become ignore boxes; images are ordered by id and an image with no annotation is a negative.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nanodet_plus.data.datasets.base import (
    CLIP_TOLERANCE,
    LoadReport,
    RecordSet,
    check_class_names,
    clean_boxes,
)
from nanodet_plus.errors import DataError
from nanodet_plus.structures import ImageRecord


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: annotation file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg.removesuffix(' starting at')})"
        ) from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: the top level must be an object with 'images'")
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{path}: missing or invalid '{key}' list")
    if not isinstance(data.get("annotations", []), list):
        raise DataError(f"{path}: 'annotations' must be a list")
    return data


def _int_field(entry: dict, key: str, path: Path, where: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{path}:{where}: field '{key}' must be an integer, got {value!r}")
    return value


def load_coco(
    img_path: str | Path,
    ann_path: str | Path,
    class_names: Sequence[str] | None = None,
    report: LoadReport | None = None,
) -> RecordSet:
    """Read a COCO json (``ann_path``) whose ``file_name`` entries are relative to ``img_path``."""
    report = report if report is not None else LoadReport()
    ann_path = Path(ann_path)
    data = _read_json(ann_path)
    category_ids, names = _read_categories(data["categories"], ann_path)
    check_class_names(names, class_names, report, ann_path)
    label_of = {cid: label for label, cid in enumerate(category_ids)}
    images = _read_images(data["images"], ann_path, report)
    if "annotations" not in data:
        report.warn(
            "no-annotations", ann_path,
            f"no 'annotations' list: all {len(images.entries)} images are negatives (no "
            "objects); fine for background images, otherwise the annotations are missing",
        )
    boxes = _read_boxes(data.get("annotations", []), images, label_of, ann_path, report)
    records = _make_records(images, boxes, str(Path(img_path)))
    return RecordSet(records, list(class_names or names), category_ids, str(ann_path), report)


def _read_categories(categories: list, ann_path: Path) -> tuple[list[int], list[str]]:
    """Category ids in ascending order (label ``k`` is the ``k``-th) and their names."""
    pairs = sorted(
        (_int_field(c, "id", ann_path, f"categories[{i}]"), str(c.get("name", c.get("id"))))
        for i, c in enumerate(categories)
    )
    return [cid for cid, _ in pairs], [name for _, name in pairs]


@dataclass
class _Images:
    """The valid ``images`` entries in file order, and each image id's position among them."""

    entries: list[dict] = field(default_factory=list)
    slot_of: dict[int, int] = field(default_factory=dict)


def _read_images(images: list, ann_path: Path, report: LoadReport) -> _Images:
    """Validate the ``images`` entries; a repeated id is reported and its repeat skipped."""
    result = _Images()
    for i, image in enumerate(images):
        where = f"images[{i}]"
        image_id = _int_field(image, "id", ann_path, where)
        width = _int_field(image, "width", ann_path, where)
        height = _int_field(image, "height", ann_path, where)
        if width <= 0 or height <= 0:
            raise DataError(f"{ann_path}:{where}: image size {width}x{height} is not positive")
        if not isinstance(image.get("file_name"), str):
            raise DataError(f"{ann_path}:{where}: missing 'file_name'")
        if image_id in result.slot_of:
            report.error("duplicate-id", ann_path, f"image id {image_id} appears twice", where)
            continue
        result.slot_of[image_id] = len(result.entries)
        result.entries.append(image)
    return result


@dataclass
class _Boxes:
    """Kept annotations grouped by image: image ``slot``'s rows are ``starts[slot]:starts[slot+1]``.

    ``labels`` is -1 for an ignore (crowd) box; ``boxes`` are float32 xyxy pixels.
    """

    labels: np.ndarray
    boxes: np.ndarray
    starts: np.ndarray


def _read_boxes(
    annotations: list, images: _Images, label_of: dict[int, int], ann_path: Path,
    report: LoadReport,
) -> _Boxes:
    """Validate the annotations, clip their boxes to the image and group them by image."""
    slots, index, labels, xywh = [], [], [], []
    for i, ann in enumerate(annotations):
        slot = images.slot_of.get(ann.get("image_id"))
        label = _annotation_label(ann, slot, label_of, ann_path, f"annotations[{i}]", report)
        if label is not None:
            slots.append(slot)
            index.append(i)
            labels.append(label)
            xywh.append(ann["bbox"])
    slot_array = np.asarray(slots, np.int64)
    label_array = np.asarray(labels, np.int64)
    boxes = np.asarray(xywh, np.float64).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    widths = np.array([e["width"] for e in images.entries], np.float64)
    heights = np.array([e["height"] for e in images.entries], np.float64)
    _check_corner_boxes(np.asarray(xywh, np.float64).reshape(-1, 4), widths[slot_array],
                        heights[slot_array], index, ann_path, report)
    keep = clean_boxes(boxes, widths[slot_array], heights[slot_array], report, str(ann_path),
                       lambda row: f"annotations[{index[row]}]")
    slot_array, label_array = slot_array[keep], label_array[keep]
    boxes = boxes[keep].astype(np.float32)
    order = np.argsort(slot_array, kind="stable")
    starts = np.searchsorted(slot_array[order], np.arange(len(images.entries) + 1))
    return _Boxes(label_array[order], boxes[order], starts)


CORNER_SHARE = 0.2  # share of boxes outside their image from which corner boxes are named


def _check_corner_boxes(
    xywh: np.ndarray, widths: np.ndarray, heights: np.ndarray, index: list[int],
    ann_path: Path, report: LoadReport,
) -> None:
    """One error when the ``bbox`` values are ``x1, y1, x2, y2`` corners, not COCO's ``x, y,
    width, height``: many boxes then reach outside their image, while every box read as
    corners lies inside it (otherwise each would only be a clipped-box warning)."""
    if len(xywh) == 0:
        return
    x, y, w, h = xywh.T
    outside = (x + w > widths + CLIP_TOLERANCE) | (y + h > heights + CLIP_TOLERANCE)
    as_corners = (w > x) & (h > y) & (w <= widths + CLIP_TOLERANCE) & (
        h <= heights + CLIP_TOLERANCE)
    if outside.mean() < CORNER_SHARE or not as_corners.all():
        return
    first = int(np.flatnonzero(outside)[0])
    report.error(
        "corner-boxes", ann_path,
        f"{int(outside.sum())} of {len(xywh)} boxes reach outside their image, and every "
        f"'bbox' fits inside it when read as x1, y1, x2, y2 corners (first: "
        f"{', '.join(f'{v:g}' for v in xywh[first])}): COCO boxes are [x, y, width, height]; "
        "convert them with width = x2 - x1 and height = y2 - y1",
        f"annotations[{index[first]}]",
    )


def _annotation_label(
    ann: dict, slot: int | None, label_of: dict[int, int], ann_path: Path, where: str,
    report: LoadReport,
) -> int | None:
    """The annotation's label (-1 for an ignore box), or None when it is reported unusable."""
    if slot is None:
        report.error("unknown-image", ann_path,
                     f"image_id {ann.get('image_id')!r} is not in 'images'", where)
        return None
    bbox = ann.get("bbox")
    if type(bbox) is not list or len(bbox) != 4 or not all(
        type(v) in (int, float) for v in bbox
    ):
        report.error("bad-box", ann_path, f"'bbox' must be 4 numbers, got {bbox!r}", where)
        return None
    if ann.get("iscrowd") or ann.get("ignore"):
        return -1
    label = label_of.get(ann.get("category_id"))
    if label is None:
        report.error("unknown-class", ann_path,
                     f"category_id {ann.get('category_id')!r} is not among the categories",
                     where)
    return label


def _make_records(images: _Images, boxes: _Boxes, img_root: str) -> list[ImageRecord]:
    """One record per image, ordered by image id; an image without annotations is a negative."""
    entries = images.entries
    records = []
    for slot in sorted(range(len(entries)), key=lambda k: entries[k]["id"]):
        entry = entries[slot]
        part = slice(boxes.starts[slot], boxes.starts[slot + 1])
        part_labels, part_boxes = boxes.labels[part], boxes.boxes[part]
        normal = part_labels >= 0
        records.append(ImageRecord(
            path=os.path.join(img_root, entry["file_name"]),
            width=int(entry["width"]),
            height=int(entry["height"]),
            boxes=np.ascontiguousarray(part_boxes[normal]),
            labels=part_labels[normal],
            ignore_boxes=np.ascontiguousarray(part_boxes[~normal]),
            image_id=int(entry["id"]),
            file_name=entry["file_name"],
        ))
    return records
