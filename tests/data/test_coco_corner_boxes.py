"""COCO ``bbox`` written as ``x1, y1, x2, y2`` corners: one error saying so, instead of a
clipped-box warning per box and a check that passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nanodet_plus.data.datasets import LoadReport, load_coco
from nanodet_plus.errors import DataError

SIZE = (100, 80)  # width, height of every image


def _write(tmp_path: Path, boxes: list[list[float]]) -> Path:
    images = [{"id": i + 1, "file_name": f"{i}.jpg", "width": SIZE[0], "height": SIZE[1]}
              for i in range(len(boxes))]
    annotations = [{"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": box}
                   for i, box in enumerate(boxes)]
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "thing"}]}))
    return path


def _kinds(path: Path) -> list[str]:
    report = LoadReport(strict=False)
    load_coco(path.parent, path, None, report)
    return [issue.kind for issue in report.issues]


def test_corner_boxes_are_one_error(tmp_path: Path) -> None:
    # as corners all inside the image; as x, y, w, h two of four reach outside it
    path = _write(tmp_path, [[10, 10, 30, 40], [60, 50, 90, 75], [5, 5, 15, 12],
                             [50, 40, 70, 70]])
    assert _kinds(path) == ["corner-boxes", "clipped-box", "clipped-box"]
    with pytest.raises(DataError) as caught:
        load_coco(tmp_path, path)
    assert str(caught.value) == (
        f"{path}:annotations[1]: 2 of 4 boxes reach outside their image, and every 'bbox' fits "
        "inside it when read as x1, y1, x2, y2 corners (first: 60, 50, 90, 75): COCO boxes are "
        "[x, y, width, height]; convert them with width = x2 - x1 and height = y2 - y1")


def test_boxes_that_are_not_corners_stay_warnings(tmp_path: Path) -> None:
    # one box cannot be corners (width 5 < x 60): only clipped-box warnings
    path = _write(tmp_path, [[10, 10, 30, 40], [60, 50, 5, 40], [5, 5, 15, 12]])
    assert _kinds(path) == ["clipped-box"]
    # corners everywhere but only one box in ten outside: below the share, a warning
    boxes = [[1, 1, 20, 20]] * 9 + [[50, 40, 70, 70]]
    assert _kinds(_write(tmp_path, boxes)) == ["clipped-box"]
    # well-formed boxes: nothing to say
    assert _kinds(_write(tmp_path, [[10, 10, 30, 40], [60, 30, 40, 50]])) == []
