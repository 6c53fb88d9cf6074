"""The three dataset readers give identical records; format rules and error messages."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from nanodet_plus.config.loader import load_config
from nanodet_plus.config.schema import DatasetConfig
from nanodet_plus.data.datasets import (
    LoadReport,
    load_coco,
    load_record_set,
    load_records,
    load_voc,
    load_yolo,
    read_image_size,
)
from nanodet_plus.errors import DataError


def assert_same_records(first, second, tol=1e-3):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert (a.file_name, a.image_id, a.width, a.height) == (
            b.file_name, b.image_id, b.width, b.height)
        assert Path(a.path).resolve() == Path(b.path).resolve()
        np.testing.assert_array_equal(a.labels, b.labels)
        assert a.boxes.dtype == np.float32 and a.labels.dtype == np.int64
        np.testing.assert_allclose(a.boxes, b.boxes, atol=tol, rtol=0)
        np.testing.assert_allclose(a.ignore_boxes, b.ignore_boxes, atol=tol, rtol=0)


def test_same_boxes_sample_three_formats(samples_dir: Path):
    root = samples_dir / "same-boxes"
    coco = load_coco(root / "images", root / "coco.json")
    voc = load_voc(root / "images", root / "Annotations", ["asuka", "head"])
    yolo = load_yolo(root / "images")  # class names from data.yaml
    assert coco.class_names == voc.class_names == yolo.class_names == ["asuka", "head"]
    assert_same_records(coco.records, voc.records, tol=0)
    assert_same_records(coco.records, yolo.records)
    np.testing.assert_array_equal(
        coco.records[0].boxes,
        [[7, 3, 189, 401], [171, 20, 360, 404], [50, 4, 181, 140], [170, 20, 303, 133]],
    )
    assert coco.records[0].labels.tolist() == [0, 0, 1, 1]
    for rs in (coco, voc, yolo):
        assert rs.report.issues == []


def test_demo_dataset_three_formats_identical(demo_dir: Path):
    sets = []
    for name in ("demo", "demo-voc", "demo-yolo"):
        config = load_config(demo_dir / f"{name}.yaml")
        for split in ("train", "val"):
            report = LoadReport(strict=False)
            records = load_records(getattr(config.data, split), config.class_names, report)
            assert report.issues == []
            sets.append((name, split, records))
    by_split = {}
    for _name, split, records in sets:
        by_split.setdefault(split, []).append(records)
    for split, (coco, voc, yolo) in by_split.items():
        assert len(coco) == (24 if split == "train" else 8)
        assert_same_records(coco, voc, tol=0)
        assert_same_records(coco, yolo)


def test_dummy_coco_categories_negatives(samples_dir: Path):
    rs = load_coco(samples_dir, samples_dir / "dummy_coco.json")
    assert rs.class_names == ["bus", "car"] and rs.category_ids == [1, 2]
    assert [r.image_id for r in rs.records] == [0, 1, 2]
    assert [r.labels.tolist() for r in rs.records] == [[0, 1], [0], []]
    assert rs.records[2].boxes.shape == (0, 4)


def _coco(tmp_path: Path, images, annotations, categories=None) -> Path:
    path = tmp_path / "ann.json"
    categories = categories or [{"id": 7, "name": "b"}, {"id": 3, "name": "a"}]
    path.write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": categories}))
    return path


def test_coco_ids_sorted_crowd_clip_and_drop(tmp_path: Path):
    images = [{"id": 5, "file_name": "x.jpg", "width": 100, "height": 50}]
    anns = [
        {"image_id": 5, "category_id": 7, "bbox": [10, 10, 20, 20]},
        {"image_id": 5, "category_id": 3, "bbox": [90, 40, 20, 20]},  # clipped
        {"image_id": 5, "category_id": 3, "bbox": [5, 5, 0, 10]},  # zero width: dropped
        {"image_id": 5, "category_id": 3, "bbox": [1, 1, 5, 5], "iscrowd": 1},
    ]
    report = LoadReport(strict=False)
    rs = load_coco(tmp_path, _coco(tmp_path, images, anns), report=report)
    record = rs.records[0]
    assert rs.class_names == ["a", "b"] and rs.category_ids == [3, 7]
    assert record.labels.tolist() == [1, 0]
    np.testing.assert_array_equal(record.boxes, [[10, 10, 30, 30], [90, 40, 100, 50]])
    np.testing.assert_array_equal(record.ignore_boxes, [[1, 1, 6, 6]])
    assert report.count("clipped-box") == 1 and report.count("degenerate-box") == 1
    assert "annotations[2]" in str(report.warnings[1])


def test_voc_difficult_float_coordinates(tmp_path: Path):
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>64</width><height>48</height></size>"
        "<object><name>cat</name><difficult>1</difficult><bndbox><xmin>1.5</xmin><ymin>2</ymin>"
        "<xmax>10.25</xmax><ymax>20</ymax></bndbox></object>"
        "<object><name>dog</name><bndbox><xmin>3</xmin><ymin>4</ymin><xmax>30</xmax>"
        "<ymax>40</ymax></bndbox></object></annotation>"
    )
    ignored = load_voc(tmp_path, tmp_path / "ann", ["cat", "dog"]).records[0]
    assert ignored.labels.tolist() == [1]
    np.testing.assert_allclose(ignored.ignore_boxes, [[1.5, 2, 10.25, 20]])
    kept = load_records(DatasetConfig("voc", str(tmp_path), str(tmp_path / "ann"), True),
                        ["cat", "dog"])[0]
    assert kept.labels.tolist() == [0, 1] and kept.ignore_boxes.shape == (0, 4)


def test_yolo_honours_image_folder_and_negatives(tmp_path: Path):
    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "labels" / split).mkdir(parents=True)
    image = np.zeros((40, 80, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "images" / "train" / "a.png"), image)
    cv2.imwrite(str(tmp_path / "images" / "train" / "b.png"), image)  # no label: negative
    cv2.imwrite(str(tmp_path / "images" / "val" / "c.png"), image)
    (tmp_path / "labels" / "train" / "a.txt").write_text("1 0.5 0.5 0.25 0.5\n\n")
    (tmp_path / "labels" / "val" / "c.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    records = load_records(DatasetConfig("yolo", str(tmp_path / "images" / "train")), ["x", "y"])
    assert [r.file_name for r in records] == ["a.png", "b.png"]
    assert records[0].labels.tolist() == [1]
    np.testing.assert_allclose(records[0].boxes, [[30, 10, 50, 30]])
    assert records[1].boxes.shape == (0, 4)


def test_read_image_size_headers(tmp_path: Path):
    image = np.zeros((37, 53, 3), np.uint8)
    for ext in (".png", ".jpg", ".bmp"):
        cv2.imwrite(str(tmp_path / f"i{ext}"), image)
        assert read_image_size(tmp_path / f"i{ext}") == (53, 37)


# ---- bad input: one clear error naming the file and the problem ----

def test_truncated_json(tmp_path: Path):
    path = tmp_path / "ann.json"
    path.write_text('{"images": [{"id": 1, "file_na')
    with pytest.raises(DataError, match=r"ann\.json: not valid JSON \(line 1"):
        load_coco(tmp_path, path)


def test_xml_without_size(tmp_path: Path):
    (tmp_path / "a.xml").write_text("<annotation><filename>a.jpg</filename></annotation>")
    with pytest.raises(DataError, match=r"a\.xml: missing <size>"):
        load_voc(tmp_path, tmp_path, ["cat"])


def _yolo_one(tmp_path: Path, line: str) -> Path:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.zeros((20, 20, 3), np.uint8))
    (tmp_path / "labels" / "a.txt").write_text(line)
    return tmp_path / "images"


def test_yolo_line_with_four_numbers(tmp_path: Path):
    images = _yolo_one(tmp_path, "0 0.5 0.5 0.1\n")
    with pytest.raises(DataError, match=r"a\.txt:line 1: expected 5 numbers"):
        load_yolo(images, class_names=["x"])


def test_yolo_label_out_of_range(tmp_path: Path):
    images = _yolo_one(tmp_path, "0 0.5 0.5 0.2 0.2\n3 0.5 0.5 0.1 0.1\n")
    with pytest.raises(DataError, match=r"a\.txt:line 2: class index 3 out of range 0\.\.1"):
        load_yolo(images, class_names=["x", "y"])


def test_nan_coordinates(tmp_path: Path):
    images = [{"id": 1, "file_name": "x.jpg", "width": 10, "height": 10}]
    path = tmp_path / "ann.json"
    path.write_text('{"images": ' + json.dumps(images) + ', "categories": [{"id": 1, "name": "a"}],'
                    ' "annotations": [{"image_id": 1, "category_id": 1, "bbox": [NaN, 1, 2, 2]}]}')
    with pytest.raises(DataError,
                       match=r"ann\.json:annotations\[0\]: non-finite box coordinates"):
        load_coco(tmp_path, path)


def test_unknown_voc_class(tmp_path: Path):
    (tmp_path / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>9</width><height>9</height></size>"
        "<object><name>bird</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>"
        "<ymax>5</ymax></bndbox></object></annotation>")
    with pytest.raises(DataError, match=r"a\.xml:object 0: class name 'bird' is not in"):
        load_voc(tmp_path, tmp_path, ["cat"])


@pytest.mark.parametrize("content, message", [
    (b"", "image file is empty"),
    (b"\xff\xd8\xff\xe0garbage", "corrupt image header"),
])
def test_zero_byte_and_corrupt_image(tmp_path: Path, content: bytes, message: str):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "bad.jpg").write_bytes(content)
    with pytest.raises(DataError, match=rf"bad\.jpg: {message}"):
        load_yolo(tmp_path / "images", class_names=["x"])


def test_corrupt_image_decode(tmp_path: Path):
    from nanodet_plus.data.datasets import load_image

    path = tmp_path / "bad.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(DataError, match=r"bad\.png: cannot decode image"):
        load_image(path)


def test_collecting_mode_gathers_all_problems(tmp_path: Path):
    images = _yolo_one(tmp_path, "0 0.5 0.5 0.1\n5 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.2 0.2\n")
    report = LoadReport(strict=False)
    rs = load_record_set(DatasetConfig("yolo", str(images)), ["x"], report)
    assert [i.kind for i in report.errors] == ["bad-line", "unknown-class"]
    assert rs.records[0].labels.tolist() == [0]


def test_official_yolo_sample_six_boxes(tmp_path: Path, samples_dir: Path):
    import shutil

    for name in ("test_img.jpg", "test_img.txt"):
        shutil.copy(samples_dir / name, tmp_path / name)
    (record,) = load_yolo(tmp_path, tmp_path, ["class1"]).records
    assert (record.width, record.height) == (360, 404) and len(record.boxes) == 6
    cx, cy, w, h = 0.608987, 0.354681, 0.359542, 0.404493
    np.testing.assert_allclose(
        record.boxes[0], [(cx - w / 2) * 360, (cy - h / 2) * 404, (cx + w / 2) * 360,
                          (cy + h / 2) * 404], atol=1e-3)


# ---- hardening: pixel-unit YOLO labels, COCO without annotations, EXIF-rotated photos ----

def test_yolo_pixel_coordinates_are_one_error_naming_the_label_file(tmp_path: Path):
    images = _yolo_one(tmp_path, "0 30 20 10 8\n0 12 12 4 4\n0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DataError, match=(
            r"labels/a\.txt:line 1: 2 of 3 boxes have values above 1 \(first: 30 20 10 8\): "
            r"they look like pixels, not normalised 0-1 coordinates; divide x and w by the "
            r"image width \(20\) and y and h by its height \(20\)$")):
        load_yolo(images, class_names=["x"])
    report = LoadReport(strict=False)
    (record,) = load_yolo(images, class_names=["x"], report=report).records
    assert [i.kind for i in report.issues] == ["pixel-units"]  # one error, no per-box warning
    np.testing.assert_allclose(record.boxes, [[8, 8, 12, 12]])


def test_coco_without_annotations_is_a_warning_naming_the_file(tmp_path: Path):
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "x.jpg", "width": 10, "height": 10}],
        "categories": [{"id": 1, "name": "a"}]}))
    report = LoadReport(strict=False)
    (record,) = load_coco(tmp_path, path, report=report).records
    assert record.boxes.shape == (0, 4)
    (issue,) = report.issues
    assert (issue.level, issue.kind) == ("warning", "no-annotations")
    assert str(issue) == (f"{path}: no 'annotations' list: all 1 images are negatives (no "
                          "objects); fine for background images, otherwise the annotations are "
                          "missing")


def write_rotated_jpeg(path: Path, orientation: int = 6) -> np.ndarray:
    """A 60x40 (width x height) photo as displayed, with a white 20x10 rectangle at (10, 5),
    stored turned so that the EXIF ``orientation`` shows it upright; the displayed pixels."""
    from PIL import Image

    displayed = np.zeros((40, 60, 3), np.uint8)
    displayed[5:15, 10:30] = 255
    turns = {1: 0, 3: 2, 6: 1, 8: -1}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(np.ascontiguousarray(np.rot90(displayed, k=turns))).save(
        path, exif=exif, quality=100)
    return displayed


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exif_rotated_jpeg_boxes_land_on_the_loaded_pixels(tmp_path: Path, orientation: int):
    from nanodet_plus.data.datasets import load_image
    from nanodet_plus.data.preprocess import read_image

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    write_rotated_jpeg(tmp_path / "images" / "photo.jpg", orientation)
    (tmp_path / "labels" / "photo.txt").write_text("0 0.3333333 0.25 0.3333333 0.25\n")
    (record,) = load_yolo(tmp_path / "images", class_names=["box"]).records
    assert (record.width, record.height) == (60, 40)
    np.testing.assert_allclose(record.boxes, [[10, 5, 30, 15]], atol=1e-3)
    for loaded in (load_image(record.path), read_image(record.path)):  # training | val, predict
        assert loaded.shape == (40, 60, 3)
        x1, y1, x2, y2 = record.boxes[0].round().astype(int)
        assert loaded[y1:y2, x1:x2].min() > 200
        assert int(loaded.sum()) == pytest.approx(int(loaded[y1:y2, x1:x2].sum()), rel=0.02)


@pytest.mark.parametrize("orientation, size", [(1, (60, 40)), (2, (60, 40)), (4, (60, 40)),
                                               (5, (40, 60)), (6, (40, 60)), (7, (40, 60))])
@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_read_image_size_is_the_size_opencv_decodes(tmp_path: Path, orientation, size, ext):
    from PIL import Image

    from nanodet_plus.data.datasets import load_image

    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}{ext}"
    Image.new("RGB", (60, 40)).save(path, exif=exif)
    assert read_image_size(path) == size
    assert load_image(path).shape[1::-1] == size


@pytest.mark.parametrize("trailer", [0, 5000], ids=["plain", "data after the end"])
def test_large_jpeg_end_marker_found_from_the_tail(tmp_path: Path, trailer: int):
    image = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    data = path.read_bytes()
    assert len(data) > 64 * 1024  # past the header read: the tail is read on its own
    path.write_bytes(data + bytes(range(256)) * (trailer // 256))
    assert read_image_size(path) == (400, 300)
    path.write_bytes(data[: len(data) // 2] + bytes(range(256)) * (trailer // 256))
    with pytest.raises(DataError, match=r"big\.jpg: truncated JPEG"):
        read_image_size(path)
