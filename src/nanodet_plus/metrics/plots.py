"""Evaluation figures: confusion matrix, PR curves and ground-truth / prediction pairs.

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend
change, no display needed); matplotlib is imported only when a figure is made.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from nanodet_plus.errors import MissingDependencyError
from nanodet_plus.structures import Detections, ImageRecord

logger = logging.getLogger(__name__)

MAX_ANNOTATED_CLASSES = 30  # above this, cells carry no numbers and curves no legend


def _new_figure(size: tuple[float, float]):
    """A matplotlib Figure bound to an Agg canvas."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MissingDependencyError(
            "matplotlib is required for plots: pip install matplotlib"
        ) from exc
    figure = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def plot_confusion_matrix(
    matrix: np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    normalize: bool = True,
) -> Path:
    """Save the ``[K + 1, K + 1]`` matrix (rows true, columns predicted) as a PNG.

    With ``normalize`` each row is divided by its total, so a cell reads "share of the objects
    of this true class predicted as that class"; the background row (false positives) is
    divided by its own total.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    labels = [*class_names, "background"]
    if matrix.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix shape {matrix.shape} does not fit {len(labels)} labels")
    values = matrix
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        values = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    side = min(4 + 0.45 * len(labels), 40)
    figure = _new_figure((side + 1.5, side))
    axes = figure.add_subplot()
    image = axes.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(len(labels))
    axes.set_xticks(ticks, labels, rotation=90, fontsize=8)
    axes.set_yticks(ticks, labels, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Confusion matrix" + (" (row-normalised)" if normalize else ""))
    if len(labels) <= MAX_ANNOTATED_CLASSES:
        threshold = 0.6 * values.max() if values.max() > 0 else 1
        for row, col in np.ndindex(values.shape):
            if matrix[row, col] == 0:
                continue
            text = f"{values[row, col]:.2f}" if normalize else f"{int(matrix[row, col])}"
            color = "white" if values[row, col] > threshold else "black"
            axes.text(col, row, text, ha="center", va="center", fontsize=7, color=color)
    figure.tight_layout()
    return _save(figure, path)


def plot_pr_curves(
    precision: np.ndarray | None,
    recall_points: np.ndarray,
    iou_thresholds: np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
) -> Path:
    """Save per-class precision-recall curves at IoU 0.5 (area all, last maxDets) as a PNG.

    ``precision`` is COCOeval's ``[T, R, K, A, M]`` array; classes without ground truth are left
    out, and the mean over the others is drawn bold. None (no detections) gives empty axes.
    """
    figure = _new_figure((8, 6))
    axes = figure.add_subplot()
    recall = np.asarray(recall_points, dtype=np.float64)
    curves: list[np.ndarray] = []
    if precision is not None:
        iou50 = int(np.argmin(np.abs(np.asarray(iou_thresholds) - 0.5)))
        per_class = np.asarray(precision)[iou50, :, :, 0, -1]  # [R, K]
        show_legend = len(class_names) <= MAX_ANNOTATED_CLASSES
        for k, name in enumerate(class_names):
            curve = per_class[:, k]
            if (curve < 0).all():
                continue
            curve = np.clip(curve, 0, None)
            curves.append(curve)
            label = f"{name} {curve.mean():.3f}" if show_legend else None
            axes.plot(recall, curve, linewidth=1, alpha=0.8, label=label)
    if curves:
        mean_curve = np.mean(curves, axis=0)
        axes.plot(
            recall,
            mean_curve,
            color="black",
            linewidth=3,
            label=f"all classes {mean_curve.mean():.3f} AP50",
        )
        axes.legend(loc="lower left", fontsize=7)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_title("Precision-recall at IoU 0.5")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return _save(figure, path)


def _draw_boxes(
    image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> np.ndarray:
    """Ground-truth boxes with class names, coloured like ``visualize.draw_detections``."""
    from nanodet_plus.visualize import class_color

    canvas = image.copy()
    thickness = max(1, round(sum(canvas.shape[:2]) / 600))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for box, label in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(labels).tolist()):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        color = class_color(label)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, thickness)
        name = class_names[label] if label < len(class_names) else str(label)
        (text_w, text_h), baseline = cv2.getTextSize(name, font, 0.45, 1)
        top = max(y1 - text_h - baseline, 0)
        cv2.rectangle(canvas, (x1, top), (x1 + text_w, top + text_h + baseline), color, -1)
        luminance = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
        ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        cv2.putText(canvas, name, (x1, top + text_h), font, 0.45, ink, 1, cv2.LINE_AA)
    return canvas


def _titled(image: np.ndarray, title: str) -> np.ndarray:
    bar = np.full((28, image.shape[1], 3), 32, dtype=np.uint8)
    cv2.putText(bar, title, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([bar, image], axis=0)


def side_by_side(
    image: np.ndarray,
    record: ImageRecord,
    detections: Detections,
    class_names: Sequence[str],
    conf: float = 0.35,
) -> np.ndarray:
    """Ground truth (left) and detections scoring >= ``conf`` (right) on one BGR image."""
    from nanodet_plus.visualize import draw_detections

    keep = np.asarray(detections.scores) >= conf
    left = _draw_boxes(image, record.boxes, record.labels, class_names)
    right = draw_detections(image, detections, score_thr=conf, class_names=class_names)
    gap = np.full((image.shape[0] + 28, 8, 3), 255, dtype=np.uint8)
    return np.concatenate(
        [
            _titled(left, f"ground truth ({len(record.labels)})"),
            gap,
            _titled(right, f"predictions >= {conf:g} ({int(keep.sum())})"),
        ],
        axis=1,
    )


def save_side_by_side(
    records: Sequence[ImageRecord],
    detections: Sequence[Detections],
    class_names: Sequence[str],
    out_dir: str | Path,
    conf: float = 0.35,
    limit: int = 4,
) -> list[Path]:
    """Write ``limit`` side-by-side JPEGs (first records whose image can be read)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for record, dets in zip(records, detections):
        if len(written) >= limit:
            break
        image = cv2.imread(record.path, cv2.IMREAD_COLOR)
        if image is None:
            logger.warning("cannot read %s; no side-by-side image for it", record.path)
            continue
        path = out_dir / f"val_{Path(record.file_name).stem}.jpg"
        cv2.imwrite(str(path), side_by_side(image, record, dets, class_names, conf))
        written.append(path)
    return written
