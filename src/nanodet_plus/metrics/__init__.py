"""Evaluation: COCO AP, precision/recall/F1, confusion matrix, figures, and ``evaluate``."""

from nanodet_plus.metrics.coco_eval import STAT_NAMES, CocoMetrics, coco_evaluate
from nanodet_plus.metrics.detection_metrics import confusion_matrix, precision_recall_f1
from nanodet_plus.metrics.evaluator import evaluate, score_detections
from nanodet_plus.metrics.report import format_report

__all__ = [
    "STAT_NAMES",
    "CocoMetrics",
    "coco_evaluate",
    "confusion_matrix",
    "evaluate",
    "format_report",
    "precision_recall_f1",
    "score_detections",
]
