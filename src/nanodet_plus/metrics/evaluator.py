"""Run a detector over annotated images and compute every validation metric and figure.

``evaluate`` is shared by ``nanodet val`` and the trainer's periodic validation: it accepts a
:class:`~nanodet_plus.runtime.detector.Detector`, an in-memory PyTorch model (plus its config),
or any function mapping a list of BGR images to a list of :class:`Detections`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from nanodet_plus.errors import UsageError
from nanodet_plus.metrics.coco_eval import coco_evaluate
from nanodet_plus.metrics.detection_metrics import confusion_matrix, precision_recall_f1
from nanodet_plus.structures import Detections, ImageRecord
from nanodet_plus.utils.files import atomic_write_text

logger = logging.getLogger(__name__)

PredictFn = Callable[[list[np.ndarray]], list[Detections]]

# The official evaluation settings: a low score threshold so the whole PR curve is scored.
EVAL_SCORE_THR = 0.05
EVAL_IOU_THR = 0.6
EVAL_MAX_DET = 100


def make_predict_fn(
    predictor: Any,
    *,
    config: Any = None,
    class_names: Sequence[str] | None = None,
    input_size: tuple[int, int] | None = None,
    device: str | None = "cpu",
    batch_size: int = 8,
    score_thr: float = EVAL_SCORE_THR,
    iou_thr: float = EVAL_IOU_THR,
    max_det: int = EVAL_MAX_DET,
) -> PredictFn:
    """Turn a Detector, a PyTorch model (with its Config) or a callable into a batch predictor.

    A Detector's own thresholds are replaced by the evaluation ones; a model is wrapped in an
    eval-mode copy (the model passed in is not modified), with input size, normalisation and
    keep_ratio taken from ``config``. Any other callable is used as it is.
    """
    from torch import nn

    from nanodet_plus.runtime.detector import Detector

    options = {
        "score_thr": score_thr,
        "iou_thr": iou_thr,
        "max_det": max_det,
        "batch_size": batch_size,
    }
    if isinstance(predictor, Detector):
        detector = Detector(
            predictor.backend,
            class_names=class_names or predictor.class_names,
            input_size=input_size or predictor.input_size,
            keep_ratio=predictor.keep_ratio,
            fast_resize=predictor.fast_resize,
            **options,
        )
    elif isinstance(predictor, nn.Module):
        from nanodet_plus.runtime.torch_backend import TorchBackend

        backend = TorchBackend(predictor, device=device, config=config)
        detector = Detector(backend, class_names=class_names, input_size=input_size, **options)
    elif callable(predictor):
        return predictor
    else:
        raise UsageError(
            f"cannot evaluate a {type(predictor).__name__}: expected a Detector, a torch model "
            "or a function from a list of images to a list of Detections"
        )
    # detect() splits batches to a fixed-batch exported model's own batch size.
    return detector.detect


def predict_records(
    predict_fn: PredictFn,
    records: Sequence[ImageRecord],
    batch_size: int = 8,
    progress: bool = False,
) -> tuple[list[Detections], float]:
    """Detections for every record (images read one batch ahead) and seconds spent predicting."""
    from nanodet_plus.data.preprocess import read_image

    batches = [records[i : i + batch_size] for i in range(0, len(records), batch_size)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(records), desc="val", unit="img", leave=False)
    detections: list[Detections] = []
    predict_seconds = 0.0
    with ThreadPoolExecutor(max_workers=2) as pool:

        def submit(batch: Sequence[ImageRecord]):
            return [pool.submit(read_image, record.path) for record in batch]

        pending = submit(batches[0]) if batches else []
        for index in range(len(batches)):
            images = [future.result() for future in pending]
            if index + 1 < len(batches):
                pending = submit(batches[index + 1])
            start = time.perf_counter()
            batch_dets = list(predict_fn(images))
            predict_seconds += time.perf_counter() - start
            if len(batch_dets) != len(images):
                raise RuntimeError(
                    f"the predictor returned {len(batch_dets)} results for {len(images)} images"
                )
            detections.extend(batch_dets)
            if bar is not None:
                bar.update(len(images))
    if bar is not None:
        bar.close()
    return detections, predict_seconds


_NUMBER_LIST = re.compile(r"\[\s+([-+0-9.eE,\s]+?)\s+\]")


def metrics_json(summary: dict) -> str:
    """Indented JSON with each list of plain numbers (e.g. a confusion-matrix row) on one line."""
    text = json.dumps(summary, indent=2)
    return _NUMBER_LIST.sub(lambda match: "[" + " ".join(match.group(1).split()) + "]", text)


def score_detections(
    records: Sequence[ImageRecord],
    detections: Sequence[Detections],
    class_names: Sequence[str],
    out_dir: str | Path | None = None,
    *,
    category_ids: Sequence[int] | None = None,
    gt_json: str | Path | dict | None = None,
    conf: float = 0.35,
    plots: bool = True,
    num_samples: int = 4,
    engine: str = "faster_coco_eval",
    extra: dict | None = None,
) -> dict:
    """All metrics of ready detections; with ``out_dir`` also the result files and figures.

    Returns the COCO stats (``mAP``, ``AP_50``... see ``coco_eval.STAT_NAMES``), ``per_class``
    AP, ``precision``/``recall``/``f1`` at ``conf`` (IoU 0.5) with their per-class detail
    under ``prf``, and the ``confusion_matrix`` (rows true, columns predicted, last =
    background). ``extra`` entries are added to the dict (and to ``metrics.json``).
    """
    out_path = Path(out_dir) if out_dir is not None else None
    if out_path is not None:
        out_path.mkdir(parents=True, exist_ok=True)
    coco = coco_evaluate(
        records,
        detections,
        class_names,
        category_ids=category_ids,
        gt_json=gt_json,
        results_path=None if out_path is None else out_path / "results.json",
        engine=engine,
    )
    prf = precision_recall_f1(records, detections, class_names, conf=conf)
    matrix = confusion_matrix(records, detections, len(class_names), conf=conf)
    summary = {
        **coco.to_dict(),
        **prf.overall(),
        "prf": prf.to_dict(),
        "confusion_matrix": {
            "labels": [*class_names, "background"],
            "rows": "true",
            "columns": "predicted",
            "matrix": matrix.tolist(),
        },
        **(extra or {}),
    }
    if out_path is None:
        return summary
    atomic_write_text(out_path / "metrics.json", metrics_json(summary))
    if plots:
        from nanodet_plus.metrics.plots import (
            plot_confusion_matrix,
            plot_pr_curves,
            save_side_by_side,
        )

        plot_confusion_matrix(matrix, class_names, out_path / "confusion_matrix.png")
        plot_pr_curves(
            coco.precision,
            coco.recall_points,
            coco.iou_thresholds,
            class_names,
            out_path / "pr_curves.png",
        )
        save_side_by_side(records, detections, class_names, out_path, conf=conf, limit=num_samples)
    return summary


def evaluate(
    predictor: Any,
    records: Sequence[ImageRecord],
    class_names: Sequence[str],
    out_dir: str | Path | None = None,
    *,
    config: Any = None,
    category_ids: Sequence[int] | None = None,
    gt_json: str | Path | dict | None = None,
    input_size: tuple[int, int] | None = None,
    device: str | None = "cpu",
    batch_size: int = 8,
    conf: float = 0.35,
    score_thr: float = EVAL_SCORE_THR,
    iou_thr: float = EVAL_IOU_THR,
    max_det: int = EVAL_MAX_DET,
    plots: bool = True,
    num_samples: int = 4,
    progress: bool = False,
    engine: str = "faster_coco_eval",
) -> dict:
    """Predict on ``records`` with ``predictor`` and return (and optionally save) all metrics.

    ``predictor`` is a Detector, a PyTorch NanoDet-Plus model (give ``config`` for its input
    size and normalisation; e.g. the trainer's EMA model) or a function from a list of BGR
    images to a list of Detections. Detection uses the official evaluation settings
    (``score_thr`` 0.05, ``iou_thr`` 0.6, ``max_det`` 100); ``conf`` is only the threshold of
    precision/recall/F1, the confusion matrix and the drawn samples. ``category_ids`` and
    ``gt_json`` are passed to :func:`~nanodet_plus.metrics.coco_eval.coco_evaluate` (give a
    COCO split's annotation file for numbers identical to the official evaluator's). The
    dict is that of :func:`score_detections` plus ``speed`` (ms per image) and ``settings``;
    with ``out_dir`` it is saved as ``metrics.json`` beside ``results.json`` and the figures.
    """
    if not records:
        raise UsageError("no images to evaluate")
    predict_fn = make_predict_fn(
        predictor,
        config=config,
        class_names=class_names,
        input_size=input_size,
        device=device,
        batch_size=batch_size,
        score_thr=score_thr,
        iou_thr=iou_thr,
        max_det=max_det,
    )
    start = time.perf_counter()
    detections, predict_seconds = predict_records(predict_fn, records, batch_size, progress)
    total_seconds = time.perf_counter() - start
    extras = {
        "speed": {
            "predict_ms_per_image": 1000 * predict_seconds / len(records),
            "total_ms_per_image": 1000 * total_seconds / len(records),
        },
        "settings": {
            "score_thr": score_thr,
            "iou_thr": iou_thr,
            "max_det": max_det,
            "conf": conf,
            "batch_size": batch_size,
            "engine": engine,
        },
    }
    return score_detections(
        records,
        detections,
        class_names,
        out_dir,
        category_ids=category_ids,
        gt_json=gt_json,
        conf=conf,
        plots=plots,
        num_samples=num_samples,
        engine=engine,
        extra=extras,
    )
