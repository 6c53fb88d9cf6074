"""Property tests: writing boxes as COCO, VOC or YOLO and reading them back keeps every box."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from nanodet_plus.data.datasets import LoadReport, load_coco, load_voc, load_yolo
from nanodet_plus.data.demo import (
    CLASS_NAMES,
    DemoImage,
    DemoStyle,
    _voc_xml,
    _yolo_lines,
    generate_demo_dataset,
    generate_image,
)
from nanodet_plus.metrics.coco_eval import build_coco_ground_truth
from nanodet_plus.structures import ImageRecord

FAST = settings(max_examples=25, deadline=None, derandomize=True, database=None)
# The VOC writer prints coordinates with "{:g}": 6 significant digits, so a coordinate v comes
# back within 0.5 units of its 6th digit, at most 5e-6 * |v| (plus float32 storage).
VOC_RTOL = 5e-6 + 2**-24
# The YOLO writer prints cx, cy, w, h / image side with 8 decimals (error <= 5e-9 each); a
# corner cx -+ w/2 is thus within 7.5e-9 of the truth, times the image side in pixels.
YOLO_NORMALISED_TOL = 7.5e-9


@dataclass
class Image:
    """One image to write: its size, xyxy float32 boxes and labels."""

    width: int
    height: int
    boxes: np.ndarray  # float32 [n, 4]
    labels: np.ndarray  # int64 [n]


def _x2(x1: np.float32, drawn: float, limit: int, min_size: float) -> np.float32:
    """The float32 right edge: the drawn one, raised so that ``x2 - x1 >= min_size`` holds in
    float64 as the readers test it, and never past ``limit``."""
    lowest = np.float32(float(x1) + min_size)
    if float(lowest) - float(x1) < min_size:
        lowest = np.nextafter(lowest, np.float32(np.inf))
    return min(max(np.float32(drawn), lowest), np.float32(limit))


@st.composite
def edge_pair(draw: st.DrawFn, side: int, kind: str, min_size: float) -> tuple[float, float]:
    """Two float32 edges ``0 <= a``, ``a + min_size <= b <= side`` on one axis."""
    room = side - min_size
    if kind == "integer":
        a = draw(st.integers(0, int(room)))
        return float(a), float(draw(st.integers(int(np.ceil(a + min_size)), side)))
    if kind == "1/64":
        a = draw(st.integers(0, int(room * 64))) / 64
        return a, draw(st.integers(int(np.ceil((a + min_size) * 64)), side * 64)) / 64
    a = np.float32(draw(st.floats(0, room)))
    while float(a) + min_size > side:
        a = np.nextafter(a, np.float32(0))
    return float(a), float(_x2(a, draw(st.floats(float(a), side)), side, min_size))


@st.composite
def images(draw: st.DrawFn, num_classes: int, min_size: float = 1.0,
           kinds: tuple[str, ...] = ("integer", "1/64", "float32")) -> list[Image]:
    """1-3 images of 2-2000 px per side with 0-6 boxes of at least ``min_size`` px each; the
    coordinates of an image are whole pixels, multiples of 1/64 px, or any float32."""
    result = []
    for _ in range(draw(st.integers(1, 3))):
        width, height = draw(st.integers(2, 2000)), draw(st.integers(2, 2000))
        kind = draw(st.sampled_from(kinds))
        rows = []
        for _ in range(draw(st.integers(0, 6))):
            x1, x2 = draw(edge_pair(width, kind, min_size))
            y1, y2 = draw(edge_pair(height, kind, min_size))
            rows.append([x1, y1, x2, y2])
        labels = draw(st.lists(st.integers(0, num_classes - 1), min_size=len(rows),
                               max_size=len(rows)))
        result.append(Image(width, height, np.asarray(rows, np.float32).reshape(-1, 4),
                            np.asarray(labels, np.int64)))
    return result


def assert_every_box_back(written: list[Image], read: list[ImageRecord], rtol: float = 0.0,
                          atol_per_side: float = 0.0) -> None:
    """Same images in order, sizes, labels, and boxes within ``rtol * |v|`` plus
    ``atol_per_side * max(width, height)`` (plus float32 rounding when either is set)."""
    assert len(read) == len(written)
    for image, record in zip(written, read):
        assert (record.width, record.height) == (image.width, image.height)
        assert record.boxes.dtype == np.float32 and record.boxes.shape == image.boxes.shape
        np.testing.assert_array_equal(record.labels, image.labels)
        if rtol == atol_per_side == 0:
            np.testing.assert_array_equal(record.boxes, image.boxes)
        else:
            atol = atol_per_side * max(image.width, image.height)
            atol += float(np.spacing(np.float32(max(image.width, image.height))))
            np.testing.assert_allclose(record.boxes, image.boxes, rtol=rtol, atol=atol)


def _records(written: list[Image]) -> list[ImageRecord]:
    return [
        ImageRecord(path=f"{i:06d}.jpg", width=image.width, height=image.height,
                    boxes=image.boxes, labels=image.labels,
                    ignore_boxes=np.zeros((0, 4), np.float32), image_id=i + 1,
                    file_name=f"{i:06d}.jpg")
        for i, image in enumerate(written)
    ]


@FAST
@given(st.data())
def test_coco_round_trip_is_exact(data: st.DataObject) -> None:
    """``build_coco_ground_truth`` (xywh in full-precision JSON) then ``load_coco``: every box
    bit for bit, every label, for any increasing category ids."""
    category_ids = sorted(data.draw(st.sets(st.integers(1, 10_000), min_size=1, max_size=8)))
    names = [f"class{cid}" for cid in category_ids]
    written = data.draw(images(len(names)))
    with tempfile.TemporaryDirectory() as folder:
        ann_path = Path(folder) / "instances.json"
        coco = build_coco_ground_truth(_records(written), names, category_ids)
        ann_path.write_text(json.dumps(coco))
        report = LoadReport(strict=False)
        record_set = load_coco(folder, ann_path, names, report)
    assert report.issues == []
    assert record_set.category_ids == category_ids and record_set.class_names == names
    assert_every_box_back(written, record_set.records)


@FAST
@given(images(len(CLASS_NAMES), min_size=1.0))
def test_coco_round_trip_keeps_crowd_boxes(written: list[Image]) -> None:
    """Ignore boxes are written as one crowd annotation per class and all come back as such."""
    records = _records(written)
    for record in records:  # the boxes become ignore boxes, the image a negative
        record.ignore_boxes, record.boxes = record.boxes, np.zeros((0, 4), np.float32)
        record.labels = np.zeros(0, np.int64)
    with tempfile.TemporaryDirectory() as folder:
        ann_path = Path(folder) / "instances.json"
        ann_path.write_text(json.dumps(build_coco_ground_truth(records, CLASS_NAMES)))
        read = load_coco(folder, ann_path, CLASS_NAMES).records
    for image, record in zip(written, read, strict=True):
        assert len(record.boxes) == 0
        expected = np.repeat(image.boxes, len(CLASS_NAMES), axis=0)
        np.testing.assert_array_equal(record.ignore_boxes, expected)


def _write_voc(folder: Path, written: list[Image]) -> Path:
    ann_dir = folder / "voc"
    ann_dir.mkdir()
    for i, image in enumerate(written):
        sample = DemoImage(np.zeros((1, 1, 3), np.uint8), image.boxes, image.labels)
        xml = _voc_xml(f"{i:06d}.jpg", image.width, image.height, sample)
        (ann_dir / f"{i:06d}.xml").write_bytes(xml)
    return ann_dir


def check_voc_round_trip(written: list[Image]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        report = LoadReport(strict=False)
        record_set = load_voc(folder, _write_voc(Path(folder), written), CLASS_NAMES,
                              report=report)
    assert report.issues == []
    assert_every_box_back(written, record_set.records, rtol=VOC_RTOL)


@FAST
@given(images(len(CLASS_NAMES), min_size=1.02))
def test_voc_round_trip_keeps_every_box(written: list[Image]) -> None:
    """The demo's VOC writer then ``load_voc``: every box within the 6 significant digits of
    "{:g}". Boxes are at least 1.02 px (1 px plus twice the 0.005 px a 4-digit coordinate may
    move, with room to spare): 1 px ones: the test below."""
    check_voc_round_trip(written)


ONE_PIXEL_VOC = [Image(1200, 10, np.array([[999.4949, 0, 1000.4949, 5]], np.float32),
                       np.array([0]))]


@settings(FAST, phases=(Phase.explicit, Phase.generate))
@example(ONE_PIXEL_VOC)
@given(images(len(CLASS_NAMES), min_size=1.0))
def test_voc_round_trip_keeps_one_pixel_float_boxes(written: list[Image]) -> None:
    """1 px float boxes survive "{:g}" (999.4949 -> "999.495", 1000.4949 -> "1000.49": 0.995 px
    wide): the reader keeps boxes down to 1 px less its 0.01 px rounding tolerance."""
    check_voc_round_trip(written)


@FAST
@given(images(len(CLASS_NAMES), min_size=1.0, kinds=("integer",)))
def test_voc_round_trip_is_exact_for_whole_pixels(written: list[Image]) -> None:
    """Whole-pixel boxes (the demo's), 1 px ones included, come back exactly."""
    with tempfile.TemporaryDirectory() as folder:
        record_set = load_voc(folder, _write_voc(Path(folder), written), CLASS_NAMES)
    assert_every_box_back(written, record_set.records)


def _write_yolo(folder: Path, written: list[Image]) -> Path:
    image_dir, label_dir = folder / "images" / "train", folder / "labels" / "train"
    image_dir.mkdir(parents=True)
    label_dir.mkdir(parents=True)
    for i, image in enumerate(written):
        cv2.imwrite(str(image_dir / f"{i:06d}.png"), np.zeros((image.height, image.width),
                                                              np.uint8))
        sample = DemoImage(np.zeros((1, 1, 3), np.uint8), image.boxes, image.labels)
        (label_dir / f"{i:06d}.txt").write_text(_yolo_lines(image.width, image.height, sample))
    return image_dir


def check_yolo_round_trip(written: list[Image]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        report = LoadReport(strict=False)
        record_set = load_yolo(_write_yolo(Path(folder), written), "", CLASS_NAMES, report)
    assert report.issues == []
    assert_every_box_back(written, record_set.records, atol_per_side=YOLO_NORMALISED_TOL)


@FAST
@given(images(len(CLASS_NAMES), min_size=1.001))
def test_yolo_round_trip_keeps_every_box(written: list[Image]) -> None:
    """The demo's YOLO writer (8 decimals of normalised cx, cy, w, h) then ``load_yolo``, which
    reads the image sizes from the PNG headers. Boxes are at least 1.001 px (the 8 decimals
    move a corner by at most 1.5e-5 px here): 1 px boxes: the test below."""
    check_yolo_round_trip(written)


ONE_PIXEL_YOLO = [Image(2, 3, np.array([[0, 0, 1, 1]], np.float32), np.array([0]))]


@settings(FAST, phases=(Phase.explicit, Phase.generate))
@example(ONE_PIXEL_YOLO)
@given(images(len(CLASS_NAMES), min_size=1.0, kinds=("integer",)))
def test_yolo_round_trip_keeps_one_pixel_boxes(written: list[Image]) -> None:
    """In a 2x3 image the whole-pixel box (0, 0, 1, 1) is written as "0 0.25000000 0.16666667
    0.50000000 0.33333333" and read back 0.99999999 px high: kept (rounding tolerance)."""
    check_yolo_round_trip(written)


@settings(max_examples=6, deadline=None, derandomize=True, database=None)
@given(st.integers(0, 2**20), st.integers(1, 3))
def test_demo_dataset_formats_keep_the_generated_boxes(seed: int, count: int) -> None:
    """``generate_demo_dataset`` writes COCO, VOC and YOLO; each reads back the boxes and labels
    ``generate_image`` drew (COCO and VOC exactly, YOLO within its 8 decimals)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        generate_demo_dataset(root, count, 1, seed=seed, workers=1)
        image_dir = root / "images" / "train"
        coco = load_coco(image_dir, root / "coco" / "train.json", CLASS_NAMES).records
        voc = load_voc(image_dir, root / "voc" / "train", CLASS_NAMES).records
        yolo = load_yolo(image_dir, root / "labels" / "train", CLASS_NAMES).records
    expected = []
    for index in range(count):
        sample = generate_image(np.random.default_rng([seed, 0, index]), DemoStyle())
        height, width = sample.image.shape[:2]
        expected.append(Image(width, height, sample.boxes, sample.labels))
    assert_every_box_back(expected, coco)
    assert_every_box_back(expected, voc)
    assert_every_box_back(expected, yolo, atol_per_side=YOLO_NORMALISED_TOL)
