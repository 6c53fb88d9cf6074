"""Optional 4-image mosaic (not in the official recipe; ``AugmentConfig.mosaic`` probability).

Four images, each scaled so its longer side equals the output's, are placed around a random
centre of a canvas twice the output size, one per quadrant so they never overlap. The canvas
then goes through the normal random warp. Boxes are clipped to their tile.
"""

from __future__ import annotations

import cv2
import numpy as np


def build_mosaic(
    images: list[np.ndarray],
    boxes: list[np.ndarray],
    labels: list[np.ndarray],
    ignore_boxes: list[np.ndarray],
    out_wh: tuple[int, int],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Canvas, boxes, labels, ignore boxes and the first tile's matrix (original -> canvas)."""
    out_w, out_h = out_wh
    canvas_w, canvas_h = 2 * out_w, 2 * out_h
    center_x = rng.uniform(0.5, 1.5) * out_w
    center_y = rng.uniform(0.5, 1.5) * out_h
    canvas = np.zeros((canvas_h, canvas_w, 3), np.uint8)
    all_boxes, all_labels, all_ignore, first_matrix = [], [], [], None
    for tile, image in enumerate(images[:4]):
        height, width = image.shape[:2]
        scale = min(out_w / width, out_h / height)
        tile_w, tile_h = width * scale, height * scale
        left = center_x - tile_w if tile in (0, 2) else center_x
        top = center_y - tile_h if tile in (0, 1) else center_y
        matrix = np.array([[scale, 0, left], [0, scale, top], [0, 0, 1]], np.float64)
        cv2.warpPerspective(image, matrix, (canvas_w, canvas_h), dst=canvas,
                            borderMode=cv2.BORDER_TRANSPARENT)
        region = np.array([max(left, 0), max(top, 0), min(left + tile_w, canvas_w),
                           min(top + tile_h, canvas_h)])
        for source, target in ((boxes[tile], all_boxes), (ignore_boxes[tile], all_ignore)):
            moved = source.astype(np.float64) * scale + np.array([left, top, left, top])
            moved[:, [0, 2]] = moved[:, [0, 2]].clip(region[0], region[2])
            moved[:, [1, 3]] = moved[:, [1, 3]].clip(region[1], region[3])
            target.append(moved.astype(np.float32))
        all_labels.append(labels[tile])
        if first_matrix is None:
            first_matrix = matrix
    return (
        canvas,
        np.concatenate(all_boxes).reshape(-1, 4),
        np.concatenate(all_labels).astype(np.int64),
        np.concatenate(all_ignore).reshape(-1, 4),
        first_matrix,
    )
