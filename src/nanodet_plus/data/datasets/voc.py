"""Pascal VOC xml reader.

Every ``*.xml`` under ``ann_path`` (sorted, subfolders included) is one image named by its
``filename`` relative to ``img_path``. Labels follow the config's ``class_names``; coordinates
may be decimals; ``difficult`` objects become ignore boxes unless ``use_difficult`` is set.
Image ids are ``1 + index`` in sorted order, as in the official reader.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from nanodet_plus.data.datasets.base import (
    LoadReport,
    RecordSet,
    make_record,
    report_exception,
)
from nanodet_plus.errors import DataError


def _text(node: ET.Element, tag: str) -> str | None:
    child = node.find(tag)
    if child is None or child.text is None:
        return None
    return child.text.strip()


def _number(node: ET.Element, tag: str, file: Path, where: str) -> float:
    text = _text(node, tag)
    if text is None:
        raise DataError(f"{file}:{where}: missing <{tag}>")
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{file}:{where}: <{tag}> is not a number: {text!r}") from None


def _parse_file(
    xml_file: Path,
    image_id: int,
    img_root: Path,
    class_index: dict[str, int],
    use_difficult: bool,
    report: LoadReport,
):
    try:
        root = ET.parse(xml_file).getroot()
    except ET.ParseError as exc:
        raise DataError(f"{xml_file}: not valid XML ({exc})") from None
    file_name = _text(root, "filename")
    if not file_name:
        raise DataError(f"{xml_file}: missing <filename>")
    size = root.find("size")
    if size is None:
        raise DataError(f"{xml_file}: missing <size> (image width and height)")
    width = _number(size, "width", xml_file, "size")
    height = _number(size, "height", xml_file, "size")
    if width <= 0 or height <= 0 or width != int(width) or height != int(height):
        raise DataError(f"{xml_file}:size: invalid image size {width:g}x{height:g}")
    boxes, labels, wheres, ignore, ignore_wheres = [], [], [], [], []
    for i, obj in enumerate(root.iter("object")):
        where = f"object {i}"
        name = _text(obj, "name")
        if name not in class_index:
            report.error("unknown-class", xml_file,
                         f"class name {name!r} is not in class_names {list(class_index)}", where)
            continue
        bndbox = obj.find("bndbox")
        if bndbox is None:
            report.error("bad-box", xml_file, "missing <bndbox>", where)
            continue
        box = [_number(bndbox, tag, xml_file, where) for tag in ("xmin", "ymin", "xmax", "ymax")]
        difficult = _text(obj, "difficult") in ("1", "true", "True")
        if difficult and not use_difficult:
            ignore.append(box)
            ignore_wheres.append(where)
            continue
        boxes.append(box)
        labels.append(class_index[name])
        wheres.append(where)
    return make_record(
        path=img_root / file_name,
        file_name=file_name,
        image_id=image_id,
        width=int(width),
        height=int(height),
        boxes=boxes,
        labels=labels,
        ignore_boxes=ignore,
        num_classes=len(class_index),
        report=report,
        ann_file=xml_file,
        wheres=wheres,
        ignore_wheres=ignore_wheres,
    )


def load_voc(
    img_path: str | Path,
    ann_path: str | Path,
    class_names: Sequence[str] | None,
    use_difficult: bool = False,
    report: LoadReport | None = None,
) -> RecordSet:
    """Read every VOC xml under ``ann_path``; ``class_names`` (from the config) is required."""
    report = report if report is not None else LoadReport()
    ann_root = Path(ann_path)
    if not class_names:
        raise DataError(f"{ann_root}: VOC datasets need class_names in the config")
    if not ann_root.is_dir():
        raise DataError(f"{ann_root}: VOC annotation folder not found")
    xml_files = sorted(ann_root.rglob("*.xml"))
    if not xml_files:
        raise DataError(f"{ann_root}: no .xml annotation files found")
    class_index = {name: i for i, name in enumerate(class_names)}
    records = []
    for index, xml_file in enumerate(xml_files):
        try:
            record = _parse_file(xml_file, index + 1, Path(img_path), class_index,
                                 use_difficult, report)
        except DataError as exc:
            if report.strict:
                raise
            report_exception(report, xml_file, exc)
            continue
        records.append(record)
    ids = list(range(1, len(class_names) + 1))
    return RecordSet(records, list(class_names), ids, str(ann_root), report)
