"""Precision, recall, F1 and a confusion matrix at one score threshold and IoU 0.5.

COCO AP summarises every threshold; these numbers answer "what happens if I deploy with
``--conf 0.35``": how many detections are right, how many objects are found, and which classes
are confused with each other or with the background.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nanodet_plus.ops.boxes import box_ioa, box_iou
from nanodet_plus.structures import Detections, ImageRecord


def _box_tensor(boxes: np.ndarray) -> torch.Tensor:
    """Boxes of any ``[n, 4]``-shaped array as float64, the precision the metrics work in."""
    return torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float64).reshape(-1, 4))


def _pairwise_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """IoU ``[n, m]`` of xyxy boxes (0 for pairs of zero-area boxes), in float64."""
    return box_iou(_box_tensor(boxes_a), _box_tensor(boxes_b)).numpy()


def _in_ignore_region(boxes: np.ndarray, ignore_boxes: np.ndarray, iou_thr: float) -> np.ndarray:
    """True for boxes lying (IoA >= ``iou_thr``) inside an ignore region."""
    if len(boxes) == 0 or len(ignore_boxes) == 0:
        return np.zeros(len(boxes), dtype=bool)
    ioa = box_ioa(_box_tensor(boxes), _box_tensor(ignore_boxes)).numpy()
    return (ioa >= iou_thr).any(axis=1)


def match_by_score(
    det_boxes: np.ndarray,
    det_labels: np.ndarray,
    gt_boxes: np.ndarray,
    gt_labels: np.ndarray,
    iou_thr: float = 0.5,
) -> np.ndarray:
    """Greedy same-class matching in the given (descending score) order, as COCO does.

    Each detection takes the unmatched ground truth of its class with the highest IoU, if that
    IoU reaches ``iou_thr``. Returns, per detection, the matched GT index or -1.
    """
    matched_gt = np.full(len(det_boxes), -1, dtype=np.int64)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return matched_gt
    iou = _pairwise_iou(det_boxes, gt_boxes)
    iou[np.asarray(det_labels)[:, None] != np.asarray(gt_labels)[None, :]] = -1.0
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for det in np.flatnonzero((iou >= iou_thr).any(axis=1)):
        row = np.where(taken, -1.0, iou[det])
        best = int(row.argmax())
        if row[best] >= iou_thr:
            matched_gt[det] = best
            taken[best] = True
    return matched_gt


def match_by_iou(det_boxes: np.ndarray, gt_boxes: np.ndarray, iou_thr: float = 0.5) -> np.ndarray:
    """Class-agnostic one-to-one matching, highest IoU pairs first; per detection GT or -1."""
    matched_gt = np.full(len(det_boxes), -1, dtype=np.int64)
    if len(det_boxes) == 0 or len(gt_boxes) == 0:
        return matched_gt
    iou = _pairwise_iou(det_boxes, gt_boxes)
    det_idx, gt_idx = np.nonzero(iou >= iou_thr)
    order = np.argsort(-iou[det_idx, gt_idx], kind="stable")
    gt_taken = np.zeros(len(gt_boxes), dtype=bool)
    for det, gt in zip(det_idx[order].tolist(), gt_idx[order].tolist()):
        if matched_gt[det] < 0 and not gt_taken[gt]:
            matched_gt[det] = gt
            gt_taken[gt] = True
    return matched_gt


def _confident(dets: Detections, conf: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = np.asarray(dets.scores, np.float64).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] >= conf]
    boxes = np.asarray(dets.boxes, np.float64).reshape(-1, 4)[order]
    labels = np.asarray(dets.labels, np.int64).reshape(-1)[order]
    return boxes, labels, scores[order]


def _check_aligned(records: Sequence[ImageRecord], detections: Sequence[Detections]) -> None:
    if len(records) != len(detections):
        raise ValueError(f"{len(records)} records but {len(detections)} detection sets")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, np.float64)
    denominator = np.asarray(denominator, np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


@dataclass
class PrecisionRecall:
    """Per-class and overall (micro-averaged) precision, recall and F1 at one threshold."""

    class_names: list[str]
    conf: float
    iou: float
    tp: np.ndarray  # [K] detections matched to a GT of their class
    fp: np.ndarray  # [K] other detections (outside ignore regions)
    num_gt: np.ndarray  # [K]

    @property
    def precision(self) -> np.ndarray:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> np.ndarray:
        return _ratio(self.tp, self.num_gt)

    @property
    def f1(self) -> np.ndarray:
        p, r = self.precision, self.recall
        return _ratio(2 * p * r, p + r)

    def overall(self) -> dict[str, float]:
        """Micro-averaged precision, recall and F1 over all classes."""
        tp, fp, n = self.tp.sum(), self.fp.sum(), self.num_gt.sum()
        precision = float(_ratio(tp, tp + fp))
        recall = float(_ratio(tp, n))
        f1 = float(_ratio(2 * precision * recall, precision + recall))
        return {"precision": precision, "recall": recall, "f1": f1}

    def to_dict(self) -> dict:
        """JSON-ready form with the overall values and one entry per class."""
        return {
            "conf": self.conf,
            "iou": self.iou,
            **self.overall(),
            "per_class": [
                {
                    "name": name,
                    "tp": int(tp),
                    "fp": int(fp),
                    "num_gt": int(n),
                    "precision": float(p),
                    "recall": float(r),
                    "f1": float(f),
                }
                for name, tp, fp, n, p, r, f in zip(
                    self.class_names,
                    self.tp,
                    self.fp,
                    self.num_gt,
                    self.precision,
                    self.recall,
                    self.f1,
                )
            ],
        }


def precision_recall_f1(
    records: Sequence[ImageRecord],
    detections: Sequence[Detections],
    class_names: Sequence[str],
    conf: float = 0.35,
    iou_thr: float = 0.5,
) -> PrecisionRecall:
    """Count TP/FP per class among detections scoring >= ``conf``, matched greedily per class.

    Unmatched detections inside an ignore region are neither TP nor FP, as in COCO.
    """
    _check_aligned(records, detections)
    num_classes = len(class_names)
    tp = np.zeros(num_classes, dtype=np.int64)
    fp = np.zeros(num_classes, dtype=np.int64)
    num_gt = np.zeros(num_classes, dtype=np.int64)
    for record, dets in zip(records, detections):
        gt_labels = np.asarray(record.labels, np.int64).reshape(-1)
        num_gt += np.bincount(gt_labels, minlength=num_classes)[:num_classes]
        boxes, labels, _ = _confident(dets, conf)
        if len(labels) == 0:
            continue
        matched = match_by_score(boxes, labels, record.boxes, gt_labels, iou_thr) >= 0
        ignored = ~matched & _in_ignore_region(boxes, record.ignore_boxes, iou_thr)
        tp += np.bincount(labels[matched], minlength=num_classes)[:num_classes]
        fp += np.bincount(labels[~matched & ~ignored], minlength=num_classes)[:num_classes]
    return PrecisionRecall(list(class_names), float(conf), float(iou_thr), tp, fp, num_gt)


def confusion_matrix(
    records: Sequence[ImageRecord],
    detections: Sequence[Detections],
    num_classes: int,
    conf: float = 0.35,
    iou_thr: float = 0.5,
) -> np.ndarray:
    """Counts ``[K + 1, K + 1]``: rows are true classes, columns predicted classes.

    Index ``K`` is the background: row ``K`` counts detections matching no object (false
    positives), column ``K`` counts objects no detection matched (misses). Detections and
    objects are paired class-agnostically, highest IoU first, so a right box with the wrong
    class lands off the diagonal.
    """
    _check_aligned(records, detections)
    background = num_classes
    matrix = np.zeros((num_classes + 1, num_classes + 1), dtype=np.int64)
    for record, dets in zip(records, detections):
        gt_labels = np.asarray(record.labels, np.int64).reshape(-1)
        boxes, labels, _ = _confident(dets, conf)
        matched_gt = match_by_iou(boxes, record.boxes, iou_thr)
        hit = matched_gt >= 0
        np.add.at(matrix, (gt_labels[matched_gt[hit]], labels[hit]), 1)
        missed = np.ones(len(gt_labels), dtype=bool)
        missed[matched_gt[hit]] = False
        np.add.at(matrix, (gt_labels[missed], background), 1)
        spurious = ~hit & ~_in_ignore_region(boxes, record.ignore_boxes, iou_thr)
        np.add.at(matrix, (background, labels[spurious]), 1)
    return matrix
