"""Drawing detections: stable per-class colours, boxes drawn on a copy, low scores skipped."""

from __future__ import annotations

import numpy as np

from nanodet_plus.structures import Detections
from nanodet_plus.visualize import class_color, draw_detections


def _dets(scores: list[float]) -> Detections:
    n = len(scores)
    boxes = np.array([[20, 30, 80, 90]] * n, np.float32) + np.arange(n)[:, None] * 100
    return Detections(
        boxes=boxes, scores=np.array(scores, np.float32), labels=np.arange(n, dtype=np.int64),
        names=[f"class{i}" for i in range(n)],
    )


def test_class_colors_are_stable_and_distinct():
    colors = [class_color(i) for i in range(80)]
    assert colors == [class_color(i) for i in range(80)]
    assert len(set(colors)) == 80
    assert all(0 <= c <= 255 for color in colors for c in color)


def test_draw_boxes_on_a_copy_in_class_color():
    image = np.zeros((300, 300, 3), np.uint8)
    drawn = draw_detections(image, _dets([0.9, 0.2]), score_thr=0.5, line_width=3)
    assert image.max() == 0
    assert tuple(int(v) for v in drawn[60, 20]) == class_color(0)  # left edge of box 0
    assert drawn[150:200, 120:180].max() == 0  # box 1 is below the score threshold
    assert drawn[:30, 20:80].any()  # label above box 0
