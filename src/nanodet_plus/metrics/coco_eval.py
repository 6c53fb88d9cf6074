"""COCO box metrics (AP, AP50, AR...) of detections against ``ImageRecord`` ground truth.

Ground truth and detections are turned into COCO dictionaries in memory, so any dataset format
(COCO, VOC, YOLO) is scored with the same standard protocol: 10 IoU thresholds 0.50:0.95, 101
recall points, maxDets 1/10/100 and the small/medium/large area ranges. The default engine is
``faster_coco_eval`` (C++); ``pycocotools`` gives identical numbers and is kept as a check.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nanodet_plus.errors import DataError, FileMissingError, MissingDependencyError, UsageError
from nanodet_plus.structures import Detections, ImageRecord
from nanodet_plus.utils.files import atomic_write_text

logger = logging.getLogger(__name__)

# Names of the 12 standard COCO summary statistics, in the order COCOeval.stats holds them.
# The first six carry the official NanoDet names, so ``mAP`` selects the best checkpoint.
STAT_NAMES: tuple[str, ...] = (
    "mAP",
    "AP_50",
    "AP_75",
    "AP_small",
    "AP_m",
    "AP_l",
    "AR_1",
    "AR_10",
    "AR_100",
    "AR_small",
    "AR_m",
    "AR_l",
)
ENGINES = ("faster_coco_eval", "pycocotools")


@dataclass
class ClassAP:
    """AP of one class at area "all" and maxDets 100; None when the class has no ground truth."""

    name: str
    category_id: int
    num_gt: int
    ap: float | None
    ap50: float | None


@dataclass
class CocoMetrics:
    """Summary statistics, per-class AP and the raw precision array of one evaluation.

    ``stats`` follows COCO conventions: values in [0, 1], and -1 when a statistic is undefined
    (no ground truth in that area range). ``precision`` is COCOeval's ``[T, R, K, A, M]`` array
    (IoU thresholds, recall points, classes, area ranges, maxDets), None when nothing was
    detected. ``iou_thresholds`` and ``recall_points`` index its first two axes.
    """

    stats: dict[str, float]
    per_class: list[ClassAP]
    precision: np.ndarray | None = None
    iou_thresholds: np.ndarray = field(default_factory=lambda: np.linspace(0.5, 0.95, 10))
    recall_points: np.ndarray = field(default_factory=lambda: np.linspace(0.0, 1.0, 101))
    num_images: int = 0
    num_detections: int = 0

    def to_dict(self) -> dict:
        """JSON-ready form: the stats plus a per-class list (None for undefined AP)."""
        return {
            **{name: float(value) for name, value in self.stats.items()},
            "num_images": self.num_images,
            "num_detections": self.num_detections,
            "per_class": [
                {
                    "name": c.name,
                    "category_id": c.category_id,
                    "num_gt": c.num_gt,
                    "AP": c.ap,
                    "AP_50": c.ap50,
                }
                for c in self.per_class
            ],
        }


def default_category_ids(num_classes: int) -> list[int]:
    """COCO category ids 1..K for contiguous labels 0..K-1."""
    return list(range(1, num_classes + 1))


def _check_category_ids(
    class_names: Sequence[str], category_ids: Sequence[int] | None
) -> list[int]:
    if category_ids is None:
        return default_category_ids(len(class_names))
    ids = [int(i) for i in category_ids]
    if len(ids) != len(class_names):
        raise UsageError(
            f"category_ids has {len(ids)} entries but there are {len(class_names)} class names"
        )
    if len(set(ids)) != len(ids):
        raise UsageError(f"category_ids are not unique: {ids}")
    return ids


def _xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def build_coco_ground_truth(
    records: Sequence[ImageRecord],
    class_names: Sequence[str],
    category_ids: Sequence[int] | None = None,
) -> dict:
    """COCO ground-truth dict from records: boxes become annotations, ignore boxes crowd ones.

    Label ``i`` maps to ``category_ids[i]`` (1..K by default). The area of an annotation is its
    box area unless the record carries per-box ``areas`` (e.g. COCO segmentation areas). Ignore
    boxes become ``iscrowd=1`` annotations of their class when the record has
    ``ignore_labels``, otherwise of every class, so a detection inside one is never a false
    positive.
    """
    ids = _check_category_ids(class_names, category_ids)
    images, annotations = [], []
    seen_image_ids: set[int] = set()
    for record in records:
        image_id = int(record.image_id)
        if image_id in seen_image_ids:
            raise DataError(f"duplicate image_id {image_id} ({record.file_name})")
        seen_image_ids.add(image_id)
        images.append(
            {
                "id": image_id,
                "file_name": record.file_name,
                "width": int(record.width),
                "height": int(record.height),
            }
        )
        labels = np.asarray(record.labels, dtype=np.int64).reshape(-1)
        if labels.size and (labels.min() < 0 or labels.max() >= len(ids)):
            raise DataError(
                f"{record.file_name}: label {int(labels.max())} outside 0..{len(ids) - 1}"
            )
        xywh = _xyxy_to_xywh(record.boxes)
        areas = getattr(record, "areas", None)
        areas = xywh[:, 2] * xywh[:, 3] if areas is None else np.asarray(areas, np.float64)
        for box, label, area in zip(xywh.tolist(), labels.tolist(), areas.tolist()):
            annotations.append(
                {
                    "image_id": image_id,
                    "category_id": ids[label],
                    "bbox": box,
                    "area": float(area),
                    "iscrowd": 0,
                }
            )
        ignore_xywh = _xyxy_to_xywh(record.ignore_boxes)
        ignore_labels = getattr(record, "ignore_labels", None)
        for index, box in enumerate(ignore_xywh.tolist()):
            crowd_ids = ids if ignore_labels is None else [ids[int(ignore_labels[index])]]
            for category_id in crowd_ids:
                annotations.append(
                    {
                        "image_id": image_id,
                        "category_id": category_id,
                        "bbox": box,
                        "area": box[2] * box[3],
                        "iscrowd": 1,
                    }
                )
    for ann_id, annotation in enumerate(annotations, start=1):
        annotation["id"] = ann_id
    categories = [{"id": cid, "name": name} for cid, name in zip(ids, class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def detections_to_coco(
    records: Sequence[ImageRecord],
    detections: Sequence[Detections],
    category_ids: Sequence[int],
) -> list[dict]:
    """COCO results list (``image_id, category_id, bbox xywh, score``), records aligned with dets.

    Boxes are rounded to 1/1000 pixel and scores to 1e-5 so the results file and the in-memory
    evaluation see the same numbers.
    """
    if len(records) != len(detections):
        raise ValueError(f"{len(records)} records but {len(detections)} detection sets")
    ids = np.asarray(category_ids, dtype=np.int64)
    results: list[dict] = []
    for record, dets in zip(records, detections):
        if len(dets) == 0:
            continue
        labels = np.asarray(dets.labels, dtype=np.int64).reshape(-1)
        if labels.min() < 0 or labels.max() >= len(ids):
            raise ValueError(
                f"{record.file_name}: detection label {int(labels.max())} outside 0..{len(ids) - 1}"
            )
        xywh = np.round(_xyxy_to_xywh(dets.boxes), 3).tolist()
        scores = np.round(np.asarray(dets.scores, dtype=np.float64).reshape(-1), 5).tolist()
        image_id = int(record.image_id)
        for box, category_id, score in zip(xywh, ids[labels].tolist(), scores):
            results.append(
                {"image_id": image_id, "category_id": category_id, "bbox": box, "score": score}
            )
    return results


def write_results_json(path: str | Path, results: list[dict]) -> Path:
    """Write a COCO results list (compact JSON) atomically."""
    return atomic_write_text(path, json.dumps(results, separators=(",", ":")))


def _run_cocoeval(gt_dict: dict, results: list[dict], engine: str):
    """Run bbox COCOeval with ``engine`` and return the evaluator (stats and eval filled)."""
    if engine == "faster_coco_eval":
        try:
            from faster_coco_eval import COCO, COCOeval_faster
        except ImportError as exc:
            raise MissingDependencyError(
                "faster-coco-eval is required for evaluation: pip install faster-coco-eval"
            ) from exc
        coco_gt = COCO(gt_dict)
        coco_dt = coco_gt.loadRes([dict(r) for r in results])
        evaluator = COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=logger.debug)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        return evaluator
    if engine == "pycocotools":
        try:
            from pycocotools.coco import COCO as PyCOCO
            from pycocotools.cocoeval import COCOeval
        except ImportError as exc:
            raise MissingDependencyError(
                "pycocotools is not installed: pip install pycocotools"
            ) from exc
        with contextlib.redirect_stdout(io.StringIO()):
            coco_gt = PyCOCO()
            coco_gt.dataset = gt_dict
            coco_gt.createIndex()
            coco_dt = coco_gt.loadRes([dict(r) for r in results])
            evaluator = COCOeval(coco_gt, coco_dt, "bbox")
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        return evaluator
    raise UsageError(f"unknown evaluation engine {engine!r}; choose one of {ENGINES}")


def _class_ap(precision: np.ndarray, class_index: int, iou_index: int | None) -> float | None:
    """Mean of the valid (> -1) precision entries of one class at area all, last maxDets."""
    values = precision[:, :, class_index, 0, -1]
    if iou_index is not None:
        values = values[iou_index]
    values = values[values > -1]
    return float(values.mean()) if values.size else None


def per_class_ap(
    precision: np.ndarray,
    iou_thresholds: np.ndarray,
    class_names: Sequence[str],
    category_ids: Sequence[int],
    num_gt: Sequence[int],
) -> list[ClassAP]:
    """Per-class AP (0.50:0.95) and AP50 from COCOeval's precision array."""
    if precision.shape[2] != len(class_names):
        raise ValueError(
            f"precision array has {precision.shape[2]} classes, expected {len(class_names)}"
        )
    iou50 = int(np.argmin(np.abs(np.asarray(iou_thresholds) - 0.5)))
    return [
        ClassAP(
            name=name,
            category_id=int(cid),
            num_gt=int(count),
            ap=_class_ap(precision, k, None),
            ap50=_class_ap(precision, k, iou50),
        )
        for k, (name, cid, count) in enumerate(zip(class_names, category_ids, num_gt))
    ]


def load_coco_ground_truth(source: str | Path | dict, image_ids: Sequence[int]) -> dict:
    """A COCO annotation file (or dict) cut down to ``image_ids``, ready for COCOeval.

    Annotations without ``area`` get their box area and those without ``iscrowd`` get 0.
    """
    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileMissingError(f"{path}: COCO annotation file not found") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not valid JSON ({exc})") from None
    wanted = set(image_ids)
    images = [image for image in data["images"] if int(image["id"]) in wanted]
    missing = wanted - {int(image["id"]) for image in images}
    if missing:
        raise DataError(f"{len(missing)} evaluated image ids are not in the annotation file")
    annotations = []
    for ann in data.get("annotations", []):
        if int(ann["image_id"]) not in wanted:
            continue
        ann = dict(ann)
        ann.setdefault("area", float(ann["bbox"][2]) * float(ann["bbox"][3]))
        ann.setdefault("iscrowd", 0)
        annotations.append(ann)
    return {"images": images, "annotations": annotations, "categories": data["categories"]}


def _count_json_gt(gt_dict: dict, category_ids: Sequence[int]) -> list[int]:
    counts = dict.fromkeys(category_ids, 0)
    for ann in gt_dict["annotations"]:
        if not ann.get("iscrowd", 0) and ann["category_id"] in counts:
            counts[ann["category_id"]] += 1
    return [counts[cid] for cid in category_ids]


def _count_gt(records: Sequence[ImageRecord], num_classes: int) -> list[int]:
    counts = np.zeros(num_classes, dtype=np.int64)
    for record in records:
        labels = np.asarray(record.labels, dtype=np.int64).reshape(-1)
        counts += np.bincount(labels, minlength=num_classes)[:num_classes]
    return counts.tolist()


def coco_evaluate(
    records: Sequence[ImageRecord],
    detections: Sequence[Detections],
    class_names: Sequence[str],
    *,
    category_ids: Sequence[int] | None = None,
    gt_json: str | Path | dict | None = None,
    results_path: str | Path | None = None,
    engine: str = "faster_coco_eval",
) -> CocoMetrics:
    """Score ``detections`` (aligned with ``records``) with the standard COCO bbox protocol.

    ``category_ids[i]`` is the COCO category id of label ``i`` (1..K by default; pass a
    dataset's original ids to get a results file that matches its annotation json). With
    ``gt_json`` (a COCO annotation file or dict) the ground truth is read from it, restricted
    to the records' images, instead of being rebuilt from the records: this keeps COCO's
    segmentation areas, per-class crowd regions and unclipped boxes, so the numbers equal the
    official evaluator's. With ``results_path`` the COCO results list is also written there.
    No detections at all gives every statistic 0, as the official evaluator does.
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown evaluation engine {engine!r}; choose one of {ENGINES}")
    ids = _check_category_ids(class_names, category_ids)
    if gt_json is None:
        gt_dict = build_coco_ground_truth(records, class_names, ids)
        num_gt = _count_gt(records, len(class_names))
    else:
        gt_dict = load_coco_ground_truth(gt_json, [int(r.image_id) for r in records])
        known = {int(c["id"]) for c in gt_dict["categories"]}
        unknown = [cid for cid in ids if cid not in known]
        if unknown:
            raise DataError(f"category ids {unknown} are not in the annotation file")
        num_gt = _count_json_gt(gt_dict, ids)
    results = detections_to_coco(records, detections, ids)
    if results_path is not None:
        write_results_json(results_path, results)
    if not results:
        logger.warning("no detections at all: every metric is 0")
        per_class = [
            ClassAP(name, cid, count, 0.0, 0.0)
            for name, cid, count in zip(class_names, ids, num_gt)
        ]
        return CocoMetrics(
            stats=dict.fromkeys(STAT_NAMES, 0.0),
            per_class=per_class,
            num_images=len(records),
        )
    evaluator = _run_cocoeval(gt_dict, results, engine)
    stats = {name: float(value) for name, value in zip(STAT_NAMES, evaluator.stats[:12])}
    precision = np.asarray(evaluator.eval["precision"], dtype=np.float64)
    iou_thresholds = np.asarray(evaluator.params.iouThrs, dtype=np.float64)
    # COCOeval orders classes by sorted category id; bring the class axis to label order.
    evaluated_ids = sorted(int(c["id"]) for c in gt_dict["categories"])
    precision = precision[:, :, [evaluated_ids.index(cid) for cid in ids]]
    return CocoMetrics(
        stats=stats,
        per_class=per_class_ap(precision, iou_thresholds, class_names, ids, num_gt),
        precision=precision,
        iou_thresholds=iou_thresholds,
        recall_points=np.asarray(evaluator.params.recThrs, dtype=np.float64),
        num_images=len(records),
        num_detections=len(results),
    )
