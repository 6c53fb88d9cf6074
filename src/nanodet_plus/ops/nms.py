"""Non-maximum suppression that never mixes classes (or images) and keeps the best boxes first."""

from __future__ import annotations

import numpy as np
import torch
import torchvision

# Up to this many boxes NMS runs in numpy (every pair's IoU at once, then the greedy visit):
# right after a model call, 25 boxes take 0.13 ms, less than a cold torchvision call; at 64
# boxes the two cost the same (Zen 4, 1 thread).
SMALL = 64


def class_nms(
    boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray, iou_thr: float,
    loop_limit: int = SMALL,
) -> np.ndarray:
    """Indices (int64) of the kept boxes, by descending score; boxes only suppress boxes of
    their group.

    A box is dropped when its IoU (continuous coordinates, no +1) with a higher-scored kept
    box of the same group exceeds ``iou_thr``. ``groups`` is usually the class label, or
    ``image * num_classes + label`` to run a whole batch in one call. One torchvision NMS call
    on float64 boxes, moved to start at 0 and offset by ``group * (largest coordinate + 1)``:
    the offset keeps groups apart only for coordinates >= 0, and float64 keeps it from
    rounding the boxes. Up to ``loop_limit`` boxes, a numpy loop computes the same.
    """
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    if boxes.shape[0] <= loop_limit:
        return _greedy_nms(np.asarray(boxes, dtype=np.float64), np.asarray(scores),
                           np.asarray(groups), float(iou_thr))
    shifted = np.asarray(boxes, dtype=np.float64)
    shifted = shifted - shifted.min()  # IoU is unchanged by a translation
    offsets = np.asarray(groups, dtype=np.float64) * (shifted.max() + 1.0)
    keep = torchvision.ops.nms(torch.from_numpy(shifted + offsets[:, None]),
                               torch.from_numpy(np.asarray(scores, dtype=np.float64)),
                               float(iou_thr))
    return keep.numpy()


def _greedy_nms(boxes: np.ndarray, scores: np.ndarray, groups: np.ndarray,
                iou_thr: float) -> np.ndarray:
    """:func:`class_nms` as torchvision computes it (float64 areas, intersections and IoU,
    suppression when IoU > ``iou_thr``), visiting boxes by descending score. Every pair's
    verdict comes from one set of array operations; only the visit is a Python loop."""
    order = np.argsort(-scores, kind="stable")
    boxes, groups = boxes[order], groups[order]
    left, top, right, bottom = boxes.T
    areas = (right - left) * (bottom - top)
    width = np.maximum(0.0, np.minimum.outer(right, right) - np.maximum.outer(left, left))
    height = np.maximum(0.0, np.minimum.outer(bottom, bottom) - np.maximum.outer(top, top))
    overlap = width * height
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 is NaN: not suppressed
        iou = overlap / (areas[:, None] + areas[None, :] - overlap)
    suppresses = (iou > iou_thr) & (groups[:, None] == groups[None, :])
    suppressed = np.zeros(len(order), dtype=bool)
    kept = []
    for i in range(len(order)):
        if not suppressed[i]:
            kept.append(i)
            suppressed |= suppresses[i]  # marks i and earlier boxes too: already decided
    return order[np.asarray(kept, dtype=np.int64)]
