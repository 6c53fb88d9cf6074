"""Offline generator of a small, reproducible, non-trivial detection dataset ("shapes").

Six classes of shapes (circle, rectangle, triangle, star, ring, cross) with random colours and
textures on cluttered, textured backgrounds with distractors; written once as images plus
COCO json, Pascal VOC xml and YOLO txt (Ultralytics layout) labels, and a ready config.
Design notes: docs/guide/demo-dataset.md.
"""

from __future__ import annotations

import json
import logging
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

from nanodet_plus.data.memory import tune_allocator
from nanodet_plus.ops.boxes import box_iou

logger = logging.getLogger(__name__)

CLASS_NAMES = ("circle", "rectangle", "triangle", "star", "ring", "cross")
NEGATIVE_FRACTION = 0.07
MAX_OVERLAP_IOU = 0.3


@dataclass(frozen=True)
class DemoStyle:
    """Difficulty knobs of the generator; the defaults make the standard demo dataset."""

    min_object: int = 12  # smallest object side in pixels
    max_objects: int = 8  # objects per (non-negative) image: 1..max_objects
    max_distractors: int = 2  # unlabelled irregular blobs per image: 0..max_distractors
    max_lines: int = 11  # random background lines: 3..max_lines
    max_noise: float = 18.0  # pixel noise sigma drawn from U(4, max_noise)
    blur_probability: float = 0.3


EASY_STYLE = DemoStyle(min_object=20, max_objects=6, max_distractors=0, max_lines=4,
                       max_noise=8.0, blur_probability=0.0)


@dataclass
class DemoImage:
    """One generated image and its tight xyxy boxes (integer pixel edges) and labels."""

    image: np.ndarray
    boxes: np.ndarray  # float32 [n, 4]
    labels: np.ndarray  # int64 [n]


def _random_color(rng: np.random.Generator) -> np.ndarray:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(60, 256), rng.integers(60, 256)]]],
                   np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].astype(np.int16)


def _smooth_noise(rng: np.random.Generator, wh: tuple[int, int], cells: int) -> np.ndarray:
    """Low-frequency noise in [0, 1], float32 [h, w]."""
    width, height = wh
    small = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _background(
    rng: np.random.Generator, width: int, height: int, style: DemoStyle
) -> np.ndarray:
    """Gradient between two colours, blotches of a third, pixel noise, lines and dots.

    The smooth parts are computed at quarter resolution and upsampled, which keeps the
    generator fast; the pixel noise is added at full resolution.
    """
    c1, c2, c3 = (_random_color(rng).astype(np.float32) for _ in range(3))
    small_w, small_h = width // 4 + 1, height // 4 + 1
    angle = rng.uniform(0, 2 * math.pi)
    xs = np.linspace(0, 1, small_w, dtype=np.float32)[None, :]
    ys = np.linspace(0, 1, small_h, dtype=np.float32)[:, None]
    ramp = math.cos(angle) * xs + math.sin(angle) * ys
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    blotch = _smooth_noise(rng, (small_w, small_h), int(rng.integers(3, 9)))
    blotch = (blotch > rng.uniform(0.45, 0.7)).astype(np.float32)
    blotch = cv2.GaussianBlur(blotch, (0, 0), 0.75)
    small = c1 + ramp[..., None] * (c2 - c1)
    small += blotch[..., None] * rng.uniform(0.3, 0.8) * (c3 - small)
    image = cv2.resize(small.clip(0, 255).astype(np.uint8), (width, height),
                       interpolation=cv2.INTER_LINEAR).astype(np.int16)
    noise = rng.standard_normal((height, width), dtype=np.float32)
    noise *= np.float32(rng.uniform(4, style.max_noise))
    image += noise.astype(np.int16)[..., None]
    image = image.clip(0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(min(3, style.max_lines), style.max_lines + 1))):
        p1 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        p2 = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(image, p1, p2, _random_color(rng).tolist(), int(rng.integers(1, 4)), cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 25))):
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(image, center, int(rng.integers(1, 4)), _random_color(rng).tolist(), -1)
    return image


def _polygon_points(rng: np.random.Generator, kind: str, size: float) -> np.ndarray:
    """Vertices (float, centred at 0) of a polygonal shape of about ``size`` pixels across."""
    radius = size / 2
    if kind == "rectangle":
        # Corners on the circle of ``radius``: rotated, the shape stays inside its mask patch
        # (a wider rectangle would lose its corners there and come out as an octagon).
        aspect = rng.uniform(0.5, 1.0)
        half_w = radius / math.sqrt(1 + aspect**2)
        half_h = half_w * aspect
        points = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h],
                           [-half_w, half_h]])
    elif kind == "triangle":
        angles = np.radians([90, 210, 330]) + rng.uniform(-0.25, 0.25, 3)
        points = np.stack([np.cos(angles), -np.sin(angles)], 1) * radius
    elif kind == "star":
        inner = rng.uniform(0.38, 0.5)
        angles = np.radians(90 + 36 * np.arange(10))
        radii = np.where(np.arange(10) % 2 == 0, 1.0, inner) * radius
        points = np.stack([np.cos(angles) * radii, -np.sin(angles) * radii], 1)
    elif kind == "cross":
        arm_ratio = rng.uniform(0.28, 0.4)
        r = radius / math.sqrt(1 + arm_ratio**2)  # arm corners on the circle of ``radius``
        arm = arm_ratio * r
        points = np.array([[-arm, -r], [arm, -r], [arm, -arm], [r, -arm], [r, arm], [arm, arm],
                           [arm, r], [-arm, r], [-arm, arm], [-r, arm], [-r, -arm], [-arm, -arm]])
    else:  # distractor: a smooth, wobbly blob, curved everywhere (no corners, not round)
        angles = np.linspace(0, 2 * math.pi, 72, endpoint=False)
        wobble = np.zeros_like(angles)
        for order, (low, high) in zip((2, 3, 4, 5), ((0.05, 0.15), (0.1, 0.2), (0.06, 0.14),
                                                     (0.04, 0.1))):
            wobble += rng.uniform(low, high) * np.cos(order * angles + rng.uniform(0, 2 * math.pi))
        radii = radius * (1 + wobble) / (1 + np.abs(wobble).max())
        points = np.stack([np.cos(angles) * radii, np.sin(angles) * radii], 1)
    theta = rng.uniform(0, 2 * math.pi)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return points @ rotation.T


def _shape_mask(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    """Binary uint8 mask (1 inside) of a shape in a square patch with a 2-pixel margin."""
    side = size + 4
    mask = np.zeros((side, side), np.uint8)
    center = side / 2
    shift = 4  # fixed-point bits for sub-pixel polygon vertices
    if kind in ("circle", "ring"):
        axes = (size / 2, size / 2 * rng.uniform(0.85, 1.0))
        angle = rng.uniform(0, 180)
        fixed = (int(center * 16), int(center * 16))
        axes_fixed = (int(axes[0] * 16), int(axes[1] * 16))
        cv2.ellipse(mask, fixed, axes_fixed, angle, 0, 360, 1, -1, cv2.LINE_8, shift)
        if kind == "ring":
            inner = rng.uniform(0.45, 0.65)
            inner_axes = (int(axes_fixed[0] * inner), int(axes_fixed[1] * inner))
            cv2.ellipse(mask, fixed, inner_axes, angle, 0, 360, 0, -1, cv2.LINE_8, shift)
    else:
        points = _polygon_points(rng, kind, size) + center
        cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 1, cv2.LINE_8, shift)
    return mask


def _texture(rng: np.random.Generator, side: int) -> np.ndarray:
    """A fill pattern: solid, stripes, checker, noise or two-colour gradient (uint8 [s, s, 3])."""
    c1, c2 = _random_color(rng).astype(np.float32), _random_color(rng).astype(np.float32)
    style = rng.integers(0, 5)
    if style == 0:
        weight = np.zeros((side, side), np.float32)
    elif style == 1:
        period = rng.uniform(3, 10)
        theta = rng.uniform(0, math.pi)
        grid = np.arange(side, dtype=np.float32)
        phase = math.cos(theta) * grid[None, :] + math.sin(theta) * grid[:, None]
        weight = ((phase / period) % 2 < 1).astype(np.float32)
    elif style == 2:
        cell = int(rng.integers(3, 9))
        grid = np.arange(side) // cell
        weight = ((grid[None, :] + grid[:, None]) % 2).astype(np.float32)
    elif style == 3:
        weight = _smooth_noise(rng, (side, side), int(rng.integers(3, 7)))
    else:
        weight = np.repeat(np.linspace(0, 1, side, dtype=np.float32)[None, :], side, 0)
        weight = np.rot90(weight, int(rng.integers(0, 4)))
    texture = c1 + weight[..., None] * (c2 - c1)
    texture += rng.normal(0, rng.uniform(0, 10), (side, side, 1)).astype(np.float32)
    return texture.clip(0, 255).astype(np.uint8)


def _max_iou(box: np.ndarray, boxes: list[np.ndarray]) -> np.float32:
    """Largest IoU of ``box`` with the boxes already placed, in float32 as they are stored."""
    return box_iou(torch.from_numpy(box[None]), torch.from_numpy(np.stack(boxes))).numpy().max()


def _paste(image: np.ndarray, mask: np.ndarray, texture: np.ndarray, left: int, top: int) -> None:
    """Copy ``texture`` into ``image`` where ``mask`` is set, cropping at the image border."""
    height, width = image.shape[:2]
    side = mask.shape[0]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + side, width), min(top + side, height)
    if x1 <= x0 or y1 <= y0:
        return
    sub_mask = mask[y0 - top : y1 - top, x0 - left : x1 - left].astype(bool)
    region = image[y0:y1, x0:x1]
    region[sub_mask] = texture[y0 - top : y1 - top, x0 - left : x1 - left][sub_mask]


def generate_image(rng: np.random.Generator, style: DemoStyle | None = None) -> DemoImage:
    """One image (256-512 px per side) with 0-8 objects and distractors."""
    width, height = (int(v) for v in rng.integers(256, 513, 2))
    style = style or DemoStyle()
    image = _background(rng, width, height, style)
    for _ in range(int(rng.integers(0, style.max_distractors + 1))):
        size = int(rng.integers(12, max(13, min(width, height) // 4)))
        mask = _shape_mask_blob(rng, size)
        left, top = int(rng.integers(-size // 4, width - size)), int(rng.integers(0, height - 8))
        _paste(image, mask, _texture(rng, mask.shape[0]), left, top)
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    count = 0 if rng.random() < NEGATIVE_FRACTION else int(rng.integers(1, style.max_objects + 1))
    max_size = min(width, height) / 2
    for _ in range(count * 4):
        if len(boxes) >= count:
            break
        size = round(math.exp(rng.uniform(math.log(style.min_object), math.log(max_size))))
        label = int(rng.integers(0, len(CLASS_NAMES)))
        mask = _shape_mask(rng, CLASS_NAMES[label], size)
        side = mask.shape[0]
        left = int(rng.integers(-2, width - side + 3))
        top = int(rng.integers(-2, height - side + 3))
        ys, xs = np.nonzero(mask)
        box = np.array([left + xs.min(), top + ys.min(), left + xs.max() + 1,
                        top + ys.max() + 1], np.float32)
        box[[0, 2]] = box[[0, 2]].clip(0, width)
        box[[1, 3]] = box[[1, 3]].clip(0, height)
        if min(box[2] - box[0], box[3] - box[1]) < style.min_object * 0.75:
            continue
        if len(boxes) and _max_iou(box, boxes) > MAX_OVERLAP_IOU:
            continue
        texture = _texture(rng, side)
        if rng.random() < 0.4:
            outline = cv2.morphologyEx(mask, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
            texture[outline.astype(bool)] = _random_color(rng).clip(0, 255).astype(np.uint8)
        _paste(image, mask, texture, left, top)
        boxes.append(box)
        labels.append(label)
    if rng.random() < style.blur_probability:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.2))
    return DemoImage(
        image=image,
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        labels=np.array(labels, np.int64),
    )


def _shape_mask_blob(rng: np.random.Generator, size: int) -> np.ndarray:
    side = size + 4
    mask = np.zeros((side, side), np.uint8)
    points = _polygon_points(rng, "blob", size) + side / 2
    cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    return mask


def _voc_xml(file_name: str, width: int, height: int, sample: DemoImage) -> bytes:
    root = ET.Element("annotation")
    ET.SubElement(root, "filename").text = file_name
    size = ET.SubElement(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(size, tag).text = str(value)
    for box, label in zip(sample.boxes, sample.labels):
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = CLASS_NAMES[label]
        ET.SubElement(obj, "difficult").text = "0"
        bndbox = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), box):
            ET.SubElement(bndbox, tag).text = f"{value:g}"
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8")


def _yolo_lines(width: int, height: int, sample: DemoImage) -> str:
    lines = []
    for (x1, y1, x2, y2), label in zip(sample.boxes.astype(np.float64), sample.labels):
        cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
        w, h = (x2 - x1) / width, (y2 - y1) / height
        lines.append(f"{label} {cx:.8f} {cy:.8f} {w:.8f} {h:.8f}\n")
    return "".join(lines)


def _render_one(job: tuple[str, int, int, int, DemoStyle]) -> tuple[int, int, int, list, list]:
    """Generate and write image ``index`` of a split with its YOLO and VOC labels."""
    out_dir, split_id, seed, index, style = job
    split = ("train", "val")[split_id]
    root = Path(out_dir)
    sample = generate_image(np.random.default_rng([seed, split_id, index]), style)
    height, width = sample.image.shape[:2]
    stem = f"{index + 1:06d}"
    file_name = f"{stem}.jpg"
    cv2.imwrite(str(root / "images" / split / file_name), sample.image,
                [cv2.IMWRITE_JPEG_QUALITY, 90])
    (root / "labels" / split / f"{stem}.txt").write_text(_yolo_lines(width, height, sample))
    (root / "voc" / split / f"{stem}.xml").write_bytes(
        _voc_xml(file_name, width, height, sample))
    return index, width, height, sample.boxes.tolist(), sample.labels.tolist()


def _write_split(
    out_dir: Path, split: str, count: int, seed: int, workers: int, style: DemoStyle
) -> dict:
    split_id = ("train", "val").index(split)
    for sub in ("images", "labels", "voc"):
        (out_dir / sub / split).mkdir(parents=True, exist_ok=True)
    jobs = [(str(out_dir), split_id, seed, index, style) for index in range(count)]
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = pool.map(_render_one, jobs, chunksize=16)
    else:
        results = [_render_one(job) for job in jobs]
    coco: dict = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(CLASS_NAMES)],
    }
    for index, width, height, boxes, labels in sorted(results):
        image_id = index + 1
        coco["images"].append({"id": image_id, "file_name": f"{index + 1:06d}.jpg",
                               "width": width, "height": height})
        for box, label in zip(boxes, labels):
            w, h = box[2] - box[0], box[3] - box[1]
            coco["annotations"].append({
                "id": len(coco["annotations"]) + 1, "image_id": image_id,
                "category_id": label + 1, "bbox": [box[0], box[1], w, h], "area": w * h,
                "iscrowd": 0,
            })
    (out_dir / "coco").mkdir(exist_ok=True)
    (out_dir / "coco" / f"{split}.json").write_text(json.dumps(coco))
    return coco


def _config(fmt: str) -> dict:
    splits = {}
    for split in ("train", "val"):
        entry = {"format": fmt, "img_path": f"images/{split}"}
        if fmt == "coco":
            entry["ann_path"] = f"coco/{split}.json"
        elif fmt == "voc":
            entry["ann_path"] = f"voc/{split}"
        else:
            entry["ann_path"] = f"labels/{split}"
        splits[split] = entry
    return {
        "preset": "nanodet-plus-m_320",
        "model": {"num_classes": len(CLASS_NAMES)},
        "class_names": list(CLASS_NAMES),
        "data": splits,
    }


def generate_demo_dataset(
    out_dir: str | Path,
    train_images: int = 600,
    val_images: int = 150,
    seed: int = 0,
    workers: int | None = None,
    style: DemoStyle | None = None,
) -> Path:
    """Write the dataset under ``out_dir`` and return the path of its ``demo.yaml`` config.

    Layout: ``images/{train,val}/NNNNNN.jpg`` shared by all formats; ``coco/{split}.json``;
    ``voc/{split}/NNNNNN.xml``; ``labels/{split}/NNNNNN.txt`` + ``data.yaml`` (YOLO);
    configs ``demo.yaml`` (COCO), ``demo-voc.yaml`` and ``demo-yolo.yaml``. Every image is a
    function of ``(seed, split, index)`` only, so ``workers`` processes give identical output.
    """
    tune_allocator()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if workers is None:
        workers = min(4, os.cpu_count() or 1)
    for split, count in (("train", train_images), ("val", val_images)):
        coco = _write_split(out_dir, split, count, seed, workers, style or DemoStyle())
        logger.info("%s: %d images, %d boxes", split, len(coco["images"]),
                    len(coco["annotations"]))
    data_yaml = {"path": ".", "train": "images/train", "val": "images/val",
                 "names": dict(enumerate(CLASS_NAMES))}
    (out_dir / "data.yaml").write_text(yaml.safe_dump(data_yaml, sort_keys=False))
    for fmt, name in (("coco", "demo.yaml"), ("voc", "demo-voc.yaml"),
                      ("yolo", "demo-yolo.yaml")):
        header = (f"# Synthetic shapes dataset (seed {seed}, {style or DemoStyle()}), "
                  f"{fmt.upper()} labels.\n")
        (out_dir / name).write_text(header + yaml.safe_dump(_config(fmt), sort_keys=False))
    return out_dir / "demo.yaml"
