"""YOLO txt reader in the Ultralytics layout.

``img_path`` is the image folder (e.g. ``root/images/train``). Labels live beside it in the
folder given by ``ann_path``, or, when ``ann_path`` is empty or a ``data.yaml`` file, in the
same relative place under ``labels`` instead of ``images`` (``root/labels/train``). Each
image ``a/b.jpg`` takes its boxes from ``a/b.txt``; an image without a label file is a negative.
Each line is ``class cx cy w h`` normalised to the image size as displayed (EXIF orientation
applied, as OpenCV loads it), read from the image header; values above 1 (pixels) are an error.
Class names come from the config, else from the ``names`` of a ``data.yaml``.
Image ids are ``1 + index`` over the images sorted by relative path.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import yaml

from nanodet_plus.data.datasets.base import (
    IMAGE_EXTENSIONS,
    LoadReport,
    RecordSet,
    make_record,
    read_image_size,
)
from nanodet_plus.errors import DataError

YOLO_TOLERANCE = 1e-6  # float rounding of coordinates written as exactly 0 or 1


def labels_dir_for(img_root: Path) -> Path:
    """The Ultralytics labels folder of an image folder: the last ``images`` part -> ``labels``."""
    parts = list(img_root.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    return img_root


def _find_data_yaml(img_root: Path, ann_path: str) -> Path | None:
    if ann_path and Path(ann_path).suffix.lower() in (".yaml", ".yml"):
        return Path(ann_path)
    for folder in [img_root, *list(img_root.parents)[:3]]:
        candidate = folder / "data.yaml"
        if candidate.is_file():
            return candidate
    return None


def read_yaml_names(path: Path) -> list[str]:
    """Class names from a data.yaml ``names`` entry (a list or an ``{index: name}`` mapping)."""
    if not path.is_file():
        raise DataError(f"{path}: data.yaml not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({exc})") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        try:
            return [str(names[i]) for i in range(len(names))]
        except KeyError:
            raise DataError(f"{path}: 'names' keys must be 0..{len(names) - 1}") from None
    if isinstance(names, list):
        return [str(n) for n in names]
    raise DataError(f"{path}: missing 'names' (a list or a mapping of class names)")


def _parse_line(text: str, txt_file: Path, line_no: int, report: LoadReport):
    fields = text.split()
    if len(fields) != 5:
        report.error("bad-line", txt_file,
                     f"expected 5 numbers 'class cx cy w h', got {len(fields)}: {text.strip()!r}",
                     f"line {line_no}")
        return None
    try:
        values = [float(v) for v in fields]
    except ValueError:
        report.error("bad-number", txt_file, f"not a number in {text.strip()!r}", f"line {line_no}")
        return None
    cls = values[0]
    if not math.isfinite(cls) or cls != int(cls):
        report.error("unknown-class", txt_file, f"class id {fields[0]!r} is not an integer",
                     f"line {line_no}")
        return None
    return int(cls), values[1:]


def _read_label_file(
    txt_file: Path, width: int, height: int, report: LoadReport
) -> tuple[list[list[float]], list[int], list[str]]:
    """The xyxy pixel boxes, labels and line names of one label file; a file whose values go
    above 1 is one error (pixel units), a negative value an error of its line."""
    try:
        lines = txt_file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        report.error("bad-file", txt_file, "not a UTF-8 text file")
        return [], [], []
    boxes, labels, wheres, above_one, count = [], [], [], [], 0
    for line_no, text in enumerate(lines, start=1):
        parsed = _parse_line(text, txt_file, line_no, report) if text.strip() else None
        if parsed is None:
            continue
        count += 1
        cls, (cx, cy, w, h) = parsed
        if max(cx, cy, w, h) > 1 + YOLO_TOLERANCE:
            above_one.append((line_no, parsed[1]))
            continue
        if min(cx, cy, w, h) < -YOLO_TOLERANCE:
            report.error("negative-value", txt_file,
                         f"negative value in {text.strip()!r}: 'cx cy w h' are fractions 0-1 "
                         "of the image size", f"line {line_no}")
            continue
        boxes.append([(cx - w / 2) * width, (cy - h / 2) * height,
                      (cx + w / 2) * width, (cy + h / 2) * height])
        labels.append(cls)
        wheres.append(f"line {line_no}")
    if above_one:
        line_no, values = above_one[0]
        report.error(
            "pixel-units", txt_file,
            f"{len(above_one)} of {count} boxes have values above 1 (first: "
            f"{' '.join(f'{v:g}' for v in values)}): they look like pixels, not normalised 0-1 "
            f"coordinates; divide x and w by the image width ({width}) and y and h by its "
            f"height ({height})",
            f"line {line_no}",
        )
    return boxes, labels, wheres


def load_yolo(
    img_path: str | Path,
    ann_path: str | Path = "",
    class_names: Sequence[str] | None = None,
    report: LoadReport | None = None,
) -> RecordSet:
    """Read an Ultralytics-layout YOLO dataset whose images are under ``img_path``."""
    report = report if report is not None else LoadReport()
    img_root = Path(img_path)
    if not img_root.is_dir():
        raise DataError(f"{img_root}: YOLO image folder not found")
    ann_text = str(ann_path or "")
    is_yaml = Path(ann_text).suffix.lower() in (".yaml", ".yml")
    labels_root = Path(ann_text) if ann_text and not is_yaml else labels_dir_for(img_root)
    if class_names is None:
        data_yaml = _find_data_yaml(img_root, ann_text)
        if data_yaml is None:
            raise DataError(
                f"{img_root}: YOLO datasets need class_names in the config or a data.yaml"
            )
        class_names = read_yaml_names(data_yaml)
    images = sorted(
        p for p in img_root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )
    records = []
    for index, image_file in enumerate(images):
        relative = image_file.relative_to(img_root)
        txt_file = labels_root / relative.with_suffix(".txt")
        try:
            width, height = read_image_size(image_file)
        except DataError as exc:
            report.bad_image(image_file, exc)
            continue
        boxes, labels, wheres = (
            _read_label_file(txt_file, width, height, report) if txt_file.is_file()
            else ([], [], [])
        )
        records.append(
            make_record(
                path=image_file,
                file_name=relative.as_posix(),
                image_id=index + 1,
                width=width,
                height=height,
                boxes=boxes,
                labels=labels,
                num_classes=len(class_names),
                report=report,
                ann_file=txt_file,
                wheres=wheres,
            )
        )
    if labels_root.is_dir():
        stems = {p.relative_to(img_root).with_suffix("").as_posix() for p in images}
        for txt_file in sorted(labels_root.rglob("*.txt")):
            if txt_file.relative_to(labels_root).with_suffix("").as_posix() not in stems:
                report.warn("orphan-label", txt_file, "label file has no image: ignored")
    ids = list(range(1, len(class_names) + 1))
    return RecordSet(records, list(class_names), ids, str(labels_root), report)
