"""Builders of small ground-truth records and detections for the metric tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nanodet_plus.structures import Detections, ImageRecord


def make_record(
    image_id: int,
    boxes: Sequence[Sequence[float]],
    labels: Sequence[int],
    ignore: Sequence[Sequence[float]] = (),
    size: tuple[int, int] = (640, 480),
) -> ImageRecord:
    """An ``ImageRecord`` with the given xyxy boxes (no image file behind it)."""
    return ImageRecord(
        path=f"/nonexistent/{image_id}.jpg",
        width=size[0],
        height=size[1],
        boxes=np.asarray(boxes, np.float32).reshape(-1, 4),
        labels=np.asarray(labels, np.int64).reshape(-1),
        ignore_boxes=np.asarray(ignore, np.float32).reshape(-1, 4),
        image_id=image_id,
        file_name=f"{image_id}.jpg",
    )


def make_dets(
    boxes: Sequence[Sequence[float]], scores: Sequence[float], labels: Sequence[int]
) -> Detections:
    """``Detections`` sorted by descending score, as every runtime returns them."""
    scores_arr = np.asarray(scores, np.float32).reshape(-1)
    order = np.argsort(-scores_arr, kind="stable")
    return Detections(
        boxes=np.asarray(boxes, np.float32).reshape(-1, 4)[order],
        scores=scores_arr[order],
        labels=np.asarray(labels, np.int64).reshape(-1)[order],
    )


def gt_as_dets(record: ImageRecord) -> Detections:
    """The record's own boxes as detections with score 1."""
    return make_dets(record.boxes, np.ones(len(record.labels)), record.labels)


def random_case(
    seed: int, num_images: int = 20, num_classes: int = 3
) -> tuple[list[ImageRecord], list[Detections]]:
    """Random ground truth of all sizes, crowd regions, and jittered / spurious detections."""
    rng = np.random.default_rng(seed)
    records, dets = [], []
    for image_id in range(num_images):
        n = int(rng.integers(0, 8))
        xy = rng.uniform(0, 500, (n, 2))
        wh = rng.uniform(4, 200, (n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        labels = rng.integers(0, num_classes, n)
        ignore = [[0, 0, 60, 60]] if rng.random() < 0.3 else []
        records.append(make_record(image_id + 100, boxes, labels, ignore))
        keep = rng.random(n) < 0.8
        jitter = rng.normal(0, 0.08, (n, 4)) * np.concatenate([wh, wh], axis=1)
        det_boxes = (boxes + jitter)[keep]
        det_labels = np.where(rng.random(n) < 0.9, labels, rng.integers(0, num_classes, n))[keep]
        m = int(rng.integers(0, 6))
        xy_fp = rng.uniform(0, 500, (m, 2))
        fp_boxes = np.concatenate([xy_fp, xy_fp + rng.uniform(4, 150, (m, 2))], axis=1)
        all_boxes = np.concatenate([det_boxes, fp_boxes])
        all_labels = np.concatenate([det_labels, rng.integers(0, num_classes, m)])
        scores = rng.uniform(0.05, 1.0, len(all_labels))
        dets.append(make_dets(all_boxes, scores, all_labels))
    return records, dets
