"""3x3 warp matrices and box mapping shared by training, validation and inference.

A warp matrix ``M`` maps original-image pixel coordinates to network-input coordinates; the
image itself is always produced with ``cv2.warpPerspective(img, M, out_wh)`` (reference-spec §12:
not ``cv2.resize``). Post-processing maps boxes back with ``warp_boxes(boxes, inv(M), orig_wh)``.
"""

from __future__ import annotations

import math

import numpy as np


def _min_shape(src_wh: tuple[int, int], dst_wh: tuple[int, int], divisible: int) -> tuple[int, int]:
    src_w, src_h = src_wh
    dst_w, dst_h = dst_wh
    ratio = dst_h / src_h if src_w / src_h < dst_w / dst_h else dst_w / src_w
    out_w, out_h = int(ratio * src_w), int(ratio * src_h)
    if divisible > 0:
        out_w = max(divisible, math.ceil(out_w / divisible) * divisible)
        out_h = max(divisible, math.ceil(out_h / divisible) * divisible)
    return out_w, out_h


def resize_matrix(
    src_wh: tuple[int, int], dst_wh: tuple[int, int], keep_ratio: bool, divisible: int = 0
) -> tuple[np.ndarray, tuple[int, int]]:
    """Plain resize warp and the output size ``(w, h)``.

    ``keep_ratio=False`` stretches to ``dst_wh`` (the official evaluation pipeline).
    ``keep_ratio=True`` scales by the smaller ratio to the "minimum shape" (each side rounded
    up to ``divisible`` if set) and centres the image in it, as the official ShapeTransform does;
    the batch is later padded bottom-right to a multiple of 32.
    """
    src_w, src_h = src_wh
    if not keep_ratio:
        dst_w, dst_h = dst_wh
        matrix = np.diag([dst_w / src_w, dst_h / src_h, 1.0])
        return matrix, (int(dst_w), int(dst_h))
    out_w, out_h = _min_shape(src_wh, dst_wh, divisible)
    ratio = out_h / src_h if src_w / src_h < out_w / out_h else out_w / src_w
    to_origin = np.array([[1, 0, -src_w / 2], [0, 1, -src_h / 2], [0, 0, 1]], dtype=np.float64)
    scale = np.diag([ratio, ratio, 1.0])
    to_center = np.array([[1, 0, out_w / 2], [0, 1, out_h / 2], [0, 0, 1]], dtype=np.float64)
    return to_center @ scale @ to_origin, (out_w, out_h)


def warp_boxes(boxes: np.ndarray, matrix: np.ndarray, clip_wh: tuple[float, float]) -> np.ndarray:
    """Map xyxy boxes ``[n, 4]`` through ``matrix`` by their four corners, then clip.

    Each box becomes the min/max of its warped corners (homogeneous divide); x is clipped to
    ``[0, w]`` and y to ``[0, h]``. Degenerate boxes are returned as they are, never dropped.
    """
    boxes = np.asarray(boxes, dtype=np.float32)
    if boxes.shape[0] == 0:
        return boxes.reshape(0, 4)
    matrix = np.asarray(matrix, dtype=np.float64)
    if (matrix[0, 1] == 0 and matrix[1, 0] == 0 and matrix[2, 0] == 0 and matrix[2, 1] == 0
            and matrix[2, 2] == 1 and matrix[0, 0] > 0 and matrix[1, 1] > 0):
        # scale + translation (every resize): the corners' min/max are the min/max of the
        # mapped x1, x2 and y1, y2: the same float64 values as the general path below
        scale = np.array([matrix[0, 0], matrix[1, 1]] * 2)
        shift = np.array([matrix[0, 2], matrix[1, 2]] * 2)
        mapped = boxes.astype(np.float64) * scale + shift
        out = np.concatenate([np.minimum(mapped[:, :2], mapped[:, 2:]),
                              np.maximum(mapped[:, :2], mapped[:, 2:])], axis=1)
        width, height = clip_wh
        return np.clip(out, 0, [width, height, width, height]).astype(np.float32)
    n = boxes.shape[0]
    corners = np.ones((n * 4, 3), dtype=np.float64)
    corners[:, :2] = boxes[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(n * 4, 2)
    warped = corners @ np.asarray(matrix, dtype=np.float64).T
    warped = (warped[:, :2] / warped[:, 2:3]).reshape(n, 8)
    xs, ys = warped[:, 0::2], warped[:, 1::2]
    out = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1)
    width, height = clip_wh
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out.astype(np.float32)
