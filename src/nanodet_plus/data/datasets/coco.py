"""COCO instances json reader.

Category ids, sorted, map to contiguous labels ``0..K-1``; ``iscrowd``/``ignore`` annotations
become ignore boxes; images are ordered by id and an image with no annotation is a negative.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nanodet_plus.data.datasets.base import (
    DatasetError,
    LoadReport,
    RecordSet,
    check_class_names,
    clean_boxes,
)
from nanodet_plus.structures import ImageRecord


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(f"{path}: annotation file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a UTF-8 text file") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: the top level must be an object with 'images'")
    for key in ("images", "categories"):
        if not isinstance(data.get(key), list):
            raise DatasetError(f"{path}: missing or invalid '{key}' list")
    if not isinstance(data.get("annotations", []), list):
        raise DatasetError(f"{path}: 'annotations' must be a list")
    return data


def _int_field(entry: dict, key: str, path: Path, where: str) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DatasetError(f"{path}:{where}: field '{key}' must be an integer, got {value!r}")
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
    img_root = Path(img_path)
    data = _read_json(ann_path)

    categories = sorted(
        (_int_field(c, "id", ann_path, f"categories[{i}]"), str(c.get("name", c.get("id"))))
        for i, c in enumerate(data["categories"])
    )
    category_ids = [cid for cid, _ in categories]
    names = [name for _, name in categories]
    check_class_names(names, class_names, report, ann_path)
    label_of = {cid: label for label, cid in enumerate(category_ids)}

    entries: list[dict] = []
    slot_of: dict[int, int] = {}
    for i, image in enumerate(data["images"]):
        where = f"images[{i}]"
        image_id = _int_field(image, "id", ann_path, where)
        width = _int_field(image, "width", ann_path, where)
        height = _int_field(image, "height", ann_path, where)
        if width <= 0 or height <= 0:
            raise DatasetError(f"{ann_path}:{where}: image size {width}x{height} is not positive")
        if not isinstance(image.get("file_name"), str):
            raise DatasetError(f"{ann_path}:{where}: missing 'file_name'")
        if image_id in slot_of:
            report.error("duplicate-id", ann_path, f"image id {image_id} appears twice", where)
            continue
        slot_of[image_id] = len(entries)
        entries.append(image)

    ann_slots, ann_index, ann_labels, ann_boxes = [], [], [], []
    crowd_keys = ("iscrowd", "ignore")
    for i, ann in enumerate(data.get("annotations", [])):
        slot = slot_of.get(ann.get("image_id"))
        if slot is None:
            report.error("unknown-image", ann_path,
                         f"image_id {ann.get('image_id')!r} is not in 'images'",
                         f"annotations[{i}]")
            continue
        bbox = ann.get("bbox")
        if type(bbox) is not list or len(bbox) != 4 or not all(
            type(v) in (int, float) for v in bbox
        ):
            report.error("bad-box", ann_path, f"'bbox' must be 4 numbers, got {bbox!r}",
                         f"annotations[{i}]")
            continue
        if ann.get(crowd_keys[0]) or ann.get(crowd_keys[1]):
            label = -1  # ignore box
        else:
            label = label_of.get(ann.get("category_id"), -2)
            if label == -2:
                report.error("unknown-class", ann_path,
                             f"category_id {ann.get('category_id')!r} is not among the "
                             "categories", f"annotations[{i}]")
                continue
        ann_slots.append(slot)
        ann_index.append(i)
        ann_labels.append(label)
        ann_boxes.append(bbox)

    slots = np.asarray(ann_slots, np.int64)
    labels = np.asarray(ann_labels, np.int64)
    boxes = np.asarray(ann_boxes, np.float64).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy
    widths = np.array([e["width"] for e in entries], np.float64)
    heights = np.array([e["height"] for e in entries], np.float64)
    keep = clean_boxes(boxes, widths[slots], heights[slots], report, str(ann_path),
                       lambda row: f"annotations[{ann_index[row]}]")
    slots, labels, boxes = slots[keep], labels[keep], boxes[keep].astype(np.float32)
    order = np.argsort(slots, kind="stable")
    slots, labels, boxes = slots[order], labels[order], boxes[order]
    starts = np.searchsorted(slots, np.arange(len(entries) + 1))

    root_text = str(img_root)
    records = []
    for slot in sorted(range(len(entries)), key=lambda k: entries[k]["id"]):
        entry = entries[slot]
        part = slice(starts[slot], starts[slot + 1])
        part_labels, part_boxes = labels[part], boxes[part]
        normal = part_labels >= 0
        records.append(ImageRecord(
            path=os.path.join(root_text, entry["file_name"]),
            width=int(entry["width"]),
            height=int(entry["height"]),
            boxes=np.ascontiguousarray(part_boxes[normal]),
            labels=part_labels[normal],
            ignore_boxes=np.ascontiguousarray(part_boxes[~normal]),
            image_id=int(entry["id"]),
            file_name=entry["file_name"],
        ))
    return RecordSet(records, list(class_names or names), category_ids, str(ann_path), report)
