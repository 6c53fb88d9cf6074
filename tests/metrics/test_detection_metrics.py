"""Precision/recall/F1 and the confusion matrix on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest
from metric_cases import gt_as_dets, make_dets, make_record, random_case

from nanodet_plus.metrics.detection_metrics import (
    confusion_matrix,
    match_by_iou,
    match_by_score,
    precision_recall_f1,
)
from nanodet_plus.metrics.report import prf_table
from nanodet_plus.structures import Detections


def test_score_order_greedy_match_gives_gt_to_the_higher_score():
    gt = np.array([[0, 0, 10, 10]])
    # The first (higher-scored) detection overlaps less but still wins the only GT.
    dets = np.array([[0, 0, 10, 8], [0, 0, 10, 10]])
    assert match_by_score(dets, np.array([0, 0]), gt, np.array([0])).tolist() == [0, -1]
    # The wrong class never matches.
    assert match_by_score(dets, np.array([1, 1]), gt, np.array([0])).tolist() == [-1, -1]
    # Class-agnostic IoU matching prefers the exact box instead.
    assert match_by_iou(dets, gt).tolist() == [-1, 0]


def test_precision_recall_f1_hand_case():
    """Class a: 2 GT, dets TP + FP (+ one below conf). Class b: 1 GT, 1 TP. Class c: 1 GT, none.

    a: P 1/2, R 1/2, F1 1/2; b: P 1, R 1, F1 1; c: P 0, R 0, F1 0.
    Overall: TP 2, FP 1, GT 4 -> P 2/3, R 1/2, F1 = 2*(2/3)(1/2)/(7/6) = 4/7.
    """
    record = make_record(
        1,
        [[0, 0, 50, 50], [100, 0, 150, 50], [200, 0, 250, 50], [300, 0, 350, 50]],
        [0, 0, 1, 2],
    )
    dets = make_dets(
        [[0, 0, 50, 50], [400, 400, 450, 450], [100, 0, 150, 50], [200, 0, 250, 50]],
        [0.9, 0.8, 0.2, 0.7],
        [0, 0, 0, 1],
    )
    prf = precision_recall_f1([record], [dets], ["a", "b", "c"], conf=0.35)
    assert prf.tp.tolist() == [1, 1, 0]
    assert prf.fp.tolist() == [1, 0, 0]
    assert prf.num_gt.tolist() == [2, 1, 1]
    np.testing.assert_allclose(prf.precision, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(prf.recall, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(prf.f1, [0.5, 1.0, 0.0])
    overall = prf.overall()
    assert overall["precision"] == pytest.approx(2 / 3)
    assert overall["recall"] == pytest.approx(0.5)
    assert overall["f1"] == pytest.approx(4 / 7)
    # Lowering the threshold lets the 0.2 detection in: class a recall 1.
    assert precision_recall_f1([record], [dets], ["a", "b", "c"], conf=0.1).tp.tolist() == [2, 1, 0]
    as_dict = prf.to_dict()
    assert as_dict["per_class"][1] == {
        "name": "b",
        "tp": 1,
        "fp": 0,
        "num_gt": 1,
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
    }
    last_row = prf_table(as_dict).splitlines()[-1].split()
    assert last_row == ["all", "4", "2", "1", "66.67", "50.00", "57.14"]


def test_detection_in_ignore_region_is_not_counted():
    record = make_record(1, [[0, 0, 50, 50]], [0], ignore=[[100, 100, 300, 300]])
    dets = make_dets([[0, 0, 50, 50], [120, 120, 200, 200]], [0.9, 0.9], [0, 0])
    prf = precision_recall_f1([record], [dets], ["a"])
    assert (prf.tp.tolist(), prf.fp.tolist()) == ([1], [0])
    cm = confusion_matrix([record], [dets], 1)
    assert cm.tolist() == [[1, 0], [0, 0]]


def test_confusion_matrix_hand_case():
    """Rows true (a, b, background), columns predicted (a, b, background).

    GT: a at A, b at B, b at C. Detections: a on A (right), a on B (confused b -> a),
    b on empty space (FP of b); C is missed; a low-score detection is below conf.
    """
    record = make_record(1, [[0, 0, 50, 50], [100, 0, 150, 50], [200, 0, 250, 50]], [0, 1, 1])
    dets = make_dets(
        [[0, 0, 50, 50], [100, 0, 150, 50], [400, 400, 450, 450], [200, 0, 250, 50]],
        [0.9, 0.8, 0.7, 0.1],
        [0, 0, 1, 1],
    )
    cm = confusion_matrix([record], [dets], num_classes=2, conf=0.35)
    assert cm.tolist() == [
        [1, 0, 0],
        [1, 0, 1],
        [0, 1, 0],
    ]


def test_perfect_detections_fill_the_diagonal_only():
    records, _ = random_case(seed=5, num_images=10)
    dets = [gt_as_dets(r) for r in records]
    cm = confusion_matrix(records, dets, num_classes=3)
    counts = np.bincount(np.concatenate([r.labels for r in records]), minlength=3)
    np.testing.assert_array_equal(np.diag(cm)[:3], counts)
    assert cm.sum() == counts.sum()
    prf = precision_recall_f1(records, dets, ["a", "b", "c"])
    assert prf.overall() == {"precision": 1.0, "recall": 1.0, "f1": 1.0}


def test_empty_inputs():
    record = make_record(1, [], [])
    prf = precision_recall_f1([record], [Detections.empty()], ["a"])
    assert prf.overall() == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert confusion_matrix([record], [Detections.empty()], 1).sum() == 0
    with pytest.raises(ValueError, match="1 records but 0"):
        confusion_matrix([record], [], 1)
