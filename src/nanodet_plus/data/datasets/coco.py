"""COCO instances json reader.

Category ids, sorted, map to contiguous labels ``0..K-1``; ``iscrowd``/``ignore`` annotations
become ignore boxes; images are ordered by id and an image with no annotation is a negative.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from nanodet_plus.data.datasets.base import (
    DatasetError,
    LoadReport,
    RecordSet,
    check_class_names,
    make_record,
)


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

    images: dict[int, dict] = {}
    for i, image in enumerate(data["images"]):
        where = f"images[{i}]"
        image_id = _int_field(image, "id", ann_path, where)
        width = _int_field(image, "width", ann_path, where)
        height = _int_field(image, "height", ann_path, where)
        if width <= 0 or height <= 0:
            raise DatasetError(f"{ann_path}:{where}: image size {width}x{height} is not positive")
        if not isinstance(image.get("file_name"), str):
            raise DatasetError(f"{ann_path}:{where}: missing 'file_name'")
        if image_id in images:
            report.error("duplicate-id", ann_path, f"image id {image_id} appears twice", where)
            continue
        images[image_id] = {"entry": image, "boxes": [], "labels": [], "wheres": [],
                            "ignore": [], "ignore_wheres": []}

    for i, ann in enumerate(data.get("annotations", [])):
        where = f"annotations[{i}]"
        image_id = ann.get("image_id")
        if image_id not in images:
            report.error("unknown-image", ann_path, f"image_id {image_id!r} is not in 'images'",
                         where)
            continue
        bbox = ann.get("bbox")
        if not isinstance(bbox, list) or len(bbox) != 4:
            report.error("bad-box", ann_path, f"'bbox' must be 4 numbers, got {bbox!r}", where)
            continue
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError):
            report.error("bad-number", ann_path, f"'bbox' has a non-number: {bbox!r}", where)
            continue
        if not all(math.isfinite(v) for v in (x, y, w, h)):
            report.error("bad-number", ann_path, f"non-finite bbox {bbox!r}", where)
            continue
        slot = images[image_id]
        xyxy = [x, y, x + w, y + h]
        if ann.get("iscrowd", 0) or ann.get("ignore", 0):
            slot["ignore"].append(xyxy)
            slot["ignore_wheres"].append(where)
            continue
        category = ann.get("category_id")
        if category not in label_of:
            report.error("unknown-class", ann_path,
                         f"category_id {category!r} is not among the categories", where)
            continue
        slot["boxes"].append(xyxy)
        slot["labels"].append(label_of[category])
        slot["wheres"].append(where)

    records = []
    for image_id in sorted(images):
        slot = images[image_id]
        entry = slot["entry"]
        records.append(
            make_record(
                path=img_root / entry["file_name"],
                file_name=entry["file_name"],
                image_id=image_id,
                width=entry["width"],
                height=entry["height"],
                boxes=slot["boxes"],
                labels=slot["labels"],
                ignore_boxes=slot["ignore"],
                num_classes=len(names),
                report=report,
                ann_file=ann_path,
                wheres=slot["wheres"],
                ignore_wheres=slot["ignore_wheres"],
            )
        )
    return RecordSet(records, list(class_names or names), category_ids, str(ann_path), report)
