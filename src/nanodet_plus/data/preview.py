"""Render augmented training samples with their boxes, to eyeball the data pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from nanodet_plus.data.dataset import DetectionDataset


def denormalize(image_chw: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Undo the BGR mean/std normalisation: float CHW -> uint8 HWC BGR (clipped for display)."""
    hwc = image_chw.transpose(1, 2, 0) * np.asarray(std, np.float32) + np.asarray(mean, np.float32)
    return np.ascontiguousarray(hwc.clip(0, 255).astype(np.uint8))


def _color(label: int) -> tuple[int, int, int]:
    hue = (label * 47) % 180
    bgr = cv2.cvtColor(np.array([[[hue, 220, 255]]], np.uint8), cv2.COLOR_HSV2BGR)[0, 0]
    return tuple(int(v) for v in bgr)


def draw_sample(sample: dict, class_names: Sequence[str] | None, mean, std) -> np.ndarray:
    """The sample's image with its boxes (solid) and ignore boxes (grey) drawn."""
    image = denormalize(sample["img"].numpy(), mean, std)
    for box in sample["gt_bboxes_ignore"]:
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        cv2.rectangle(image, (x1, y1), (x2, y2), (128, 128, 128), 1)
    for box, label in zip(sample["gt_bboxes"], sample["gt_labels"]):
        x1, y1, x2, y2 = (round(float(v)) for v in box)
        color = _color(int(label))
        cv2.rectangle(image, (x1, y1), (x2, y2), color, 1)
        name = class_names[label] if class_names and label < len(class_names) else str(label)
        cv2.putText(image, name, (x1, max(y1 - 2, 8)), cv2.FONT_HERSHEY_SIMPLEX, 0.35, color, 1,
                    cv2.LINE_AA)
    return image


def write_previews(
    dataset: DetectionDataset,
    out_dir: str | Path,
    num: int = 16,
    class_names: Sequence[str] | None = None,
    epoch: int = 0,
) -> list[Path]:
    """Write ``num`` drawn samples (spread over the dataset) as JPEGs; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = dataset.data_config
    count = min(num, len(dataset))
    indices = np.linspace(0, len(dataset) - 1, count).round().astype(int) if count else []
    paths = []
    for index in indices:
        sample = dataset[(epoch, int(index))]
        image = draw_sample(sample, class_names, cfg.mean, cfg.std)
        stem = Path(sample["img_info"]["file_name"]).stem
        path = out_dir / f"{int(index):05d}_{stem}.jpg"
        cv2.imwrite(str(path), image)
        paths.append(path)
    return paths
