"""Draw detections on BGR images with OpenCV: one stable colour per class, name and score."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np

from nanodet_plus.structures import Detections

_GOLDEN = 0.618033988749895


def class_color(label: int) -> tuple[int, int, int]:
    """A BGR colour that depends only on the class index, well spread over the hue circle."""
    hue = (0.1 + label * _GOLDEN) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return int(blue * 255), int(green * 255), int(red * 255)


def _text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    blue, green, red = background
    luminance = 0.114 * blue + 0.587 * green + 0.299 * red
    return (0, 0, 0) if luminance > 140 else (255, 255, 255)


def draw_detections(
    image: np.ndarray,
    detections: Detections,
    *,
    score_thr: float = 0.0,
    class_names: Sequence[str] | None = None,
    line_width: int | None = None,
) -> np.ndarray:
    """A copy of ``image`` (BGR) with each detection above ``score_thr`` boxed and labelled.

    Labels read ``name score``; the name comes from ``detections.names``, else
    ``class_names``, else the class index. Line width scales with the image size by default.
    """
    canvas = image.copy()
    height, width = canvas.shape[:2]
    thickness = line_width or max(1, round((height + width) / 600))
    font_scale = max(0.4, thickness / 3)
    font = cv2.FONT_HERSHEY_SIMPLEX
    order = np.argsort(detections.scores, kind="stable")  # best drawn last, on top
    for i in order:
        score = float(detections.scores[i])
        if score < score_thr:
            continue
        label = int(detections.labels[i])
        if i < len(detections.names):
            name = detections.names[i]
        elif class_names is not None and label < len(class_names):
            name = class_names[label]
        else:
            name = str(label)
        color = class_color(label)
        x1, y1, x2, y2 = (round(float(v)) for v in detections.boxes[i])
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness, cv2.LINE_AA)
        text = f"{name} {score:.2f}"
        (text_w, text_h), baseline = cv2.getTextSize(text, font, font_scale, max(1, thickness - 1))
        top = y1 - text_h - baseline - 2
        if top < 0:  # no room above the box: put the label inside it
            top = y1
        cv2.rectangle(canvas, (x1, top), (x1 + text_w + 2, top + text_h + baseline + 2), color, -1)
        cv2.putText(
            canvas, text, (x1 + 1, top + text_h + 1), font, font_scale, _text_color(color),
            max(1, thickness - 1), cv2.LINE_AA,
        )
    return canvas
