"""A tiny generated COCO dataset and a tiny training config for the trainer tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

CLASSES = ["square", "disc"]


def write_tiny_coco(root: Path, count: int = 8, size: int = 96, seed: int = 0,
                    negatives: int = 0) -> tuple[Path, Path]:
    """``count`` images with one or two coloured shapes each (the last ``negatives`` empty)."""
    rng = np.random.default_rng(seed)
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(count):
        image = np.full((size, size, 3), 40, np.uint8)
        objects = 0 if index >= count - negatives else int(rng.integers(1, 3))
        for _ in range(objects):
            label = int(rng.integers(0, 2))
            side = int(rng.integers(24, 48))
            x = int(rng.integers(0, size - side))
            y = int(rng.integers(0, size - side))
            color = tuple(int(c) for c in rng.integers(120, 255, 3))
            if label == 0:
                cv2.rectangle(image, (x, y), (x + side - 1, y + side - 1), color, -1)
            else:
                cv2.circle(image, (x + side // 2, y + side // 2), side // 2, color, -1)
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1,
                                "category_id": label + 1, "bbox": [x, y, side, side],
                                "area": side * side, "iscrowd": 0})
        name = f"{index:03d}.png"
        cv2.imwrite(str(images_dir / name), image)
        images.append({"id": index + 1, "file_name": name, "width": size, "height": size})
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(CLASSES)]
    ann_path = root / "annotations.json"
    ann_path.write_text(json.dumps({"images": images, "annotations": annotations,
                                    "categories": categories}))
    return images_dir, ann_path


def tiny_overrides(images: Path, ann: Path, epochs: int = 2) -> list[str]:
    """A 0.5x NanoDet-Plus run (same structure, fewer channels) small enough for a unit test."""
    return [
        "data.input_size=[128,128]", "model.num_classes=2", f"class_names={CLASSES}",
        f"data.train={{format: coco, img_path: {images}, ann_path: {ann}}}",
        f"data.val={{format: coco, img_path: {images}, ann_path: {ann}}}",
        "data.workers=0", "train.batch_size=4", f"train.epochs={epochs}",
        "train.warmup_steps=2", "train.val_interval=1", "train.progress=false",
        "train.device=cpu", "train.plots=false", "train.recipe=official",
        "model.backbone.model_size=0.5x", "model.neck.in_channels=[48,96,192]",
        "model.neck.out_channels=32", "model.head.input_channel=32",
        "model.head.feat_channels=32", "model.aux_head.input_channel=64",
        "model.aux_head.feat_channels=64", "model.aux_head.stacked_convs=2",
    ]


@pytest.fixture()
def tiny_dataset(tmp_path: Path) -> tuple[Path, Path]:
    return write_tiny_coco(tmp_path / "data")


@pytest.fixture()
def tiny_config() -> Callable[..., list[str]]:
    """``tiny_overrides`` as a fixture (test modules cannot import conftest)."""
    return tiny_overrides


@pytest.fixture()
def coco_writer() -> Callable[..., tuple[Path, Path]]:
    """``write_tiny_coco`` as a fixture."""
    return write_tiny_coco
