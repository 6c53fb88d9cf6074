"""Evaluation figures are written as readable images of the expected layout."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from metric_cases import gt_as_dets, make_dets, make_record, random_case

from nanodet_plus.metrics.coco_eval import coco_evaluate
from nanodet_plus.metrics.detection_metrics import confusion_matrix
from nanodet_plus.metrics.plots import (
    plot_confusion_matrix,
    plot_pr_curves,
    save_side_by_side,
    side_by_side,
)
from nanodet_plus.structures import Detections

NAMES = ["a", "b", "c"]


def _read(path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} is not a readable image"
    return image


def test_confusion_matrix_png(tmp_path):
    records, dets = random_case(seed=0)
    matrix = confusion_matrix(records, dets, len(NAMES))
    path = plot_confusion_matrix(matrix, NAMES, tmp_path / "cm.png")
    assert _read(path).shape[2] == 3
    plot_confusion_matrix(matrix, NAMES, tmp_path / "cm_counts.png", normalize=False)
    assert (tmp_path / "cm_counts.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="does not fit 4 labels"):
        plot_confusion_matrix(np.zeros((3, 3)), NAMES, tmp_path / "bad.png")


def test_pr_curves_png_with_and_without_detections(tmp_path):
    records, dets = random_case(seed=1)
    metrics = coco_evaluate(records, dets, NAMES)
    path = plot_pr_curves(
        metrics.precision, metrics.recall_points, metrics.iou_thresholds, NAMES, tmp_path / "pr.png"
    )
    assert _read(path).shape == (600, 800, 3)
    empty = coco_evaluate(records, [Detections.empty() for _ in records], NAMES)
    path = plot_pr_curves(
        empty.precision, empty.recall_points, empty.iou_thresholds, NAMES, tmp_path / "pr0.png"
    )
    assert _read(path).shape == (600, 800, 3)


def test_side_by_side_draws_gt_left_and_predictions_right(tmp_path):
    image = np.zeros((120, 160, 3), np.uint8)
    record = make_record(1, [[10, 40, 60, 100]], [0], size=(160, 120))
    dets = make_dets([[100, 40, 150, 100], [0, 0, 5, 5]], [0.9, 0.1], [1, 2])
    pair = side_by_side(image, record, dets, NAMES, conf=0.35)
    assert pair.shape == (120 + 28, 2 * 160 + 8, 3)
    left, right = pair[28:, :160], pair[28:, 168:]
    assert left[70, 10].any() and not left[70, 100].any()  # GT box edge only on the left
    assert right[70, 100].any() and not right[70, 10].any()  # prediction edge only on the right
    assert not right[118, 2].any()  # the 0.1-score box is below conf: not drawn


def test_save_side_by_side_skips_unreadable_images(tmp_path):
    image_path = tmp_path / "img.jpg"
    cv2.imwrite(str(image_path), np.full((64, 64, 3), 90, np.uint8))
    good = make_record(1, [[5, 5, 40, 40]], [0], size=(64, 64))
    good.path, good.file_name = str(image_path), "img.jpg"
    missing = make_record(2, [[5, 5, 40, 40]], [0], size=(64, 64))
    written = save_side_by_side(
        [missing, good], [gt_as_dets(missing), gt_as_dets(good)], NAMES, tmp_path / "out", limit=3
    )
    assert [p.name for p in written] == ["val_img.jpg"]
    assert _read(written[0]).shape == (64 + 28, 2 * 64 + 8, 3)
