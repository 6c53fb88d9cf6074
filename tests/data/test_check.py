"""``data check``: statistics, every problem named with its file, exit codes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from nanodet_plus.cli.main import main
from nanodet_plus.config.loader import load_config
from nanodet_plus.data.check import check_data
from nanodet_plus.errors import DataError


def _config(tmp_path: Path, train: dict, class_names=("bus", "car")) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"num_classes": len(class_names)},
        "class_names": list(class_names),
        "data": {"train": train},
    }))
    return path


def test_dummy_coco_duplicate_file_is_an_error(tmp_path: Path, samples_dir: Path, capsys):
    cfg = _config(tmp_path, {"format": "coco", "img_path": str(samples_dir),
                             "ann_path": str(samples_dir / "dummy_coco.json")})
    report = check_data(load_config(cfg))
    (stats,) = report.splits
    assert (stats.images, stats.negatives, stats.boxes_per_class) == (3, 1, {"bus": 2, "car": 1})
    assert [i.kind for i in report.errors] == ["duplicate-file"]
    assert "test_img.jpg is used by 3 images (ids 0, 1, 2)" in str(report.errors[0])
    with pytest.raises(DataError, match="1 dataset error"):
        report.raise_for_errors()
    assert main(["data", "check", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "3 images, 1 negatives, 3 boxes" in out and "FAILED: 1 errors" in out


def test_demo_dataset_is_clean(demo_dir: Path, capsys):
    assert main(["data", "check", str(demo_dir / "demo-yolo.yaml")]) == 0
    out = capsys.readouterr().out
    assert "train (yolo" in out and "24 images" in out and "OK: 0 errors, 0 warnings" in out
    assert len(out.splitlines()) <= 10


def test_problems_named_with_file_and_field(tmp_path: Path, demo_dir: Path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("000001.jpg", "000002.jpg"):
        shutil.copy(demo_dir / "images" / "train" / name, images / name)
    (images / "empty.jpg").write_bytes(b"")
    data = json.loads((demo_dir / "coco" / "train.json").read_text())
    first, second = data["images"][0], dict(data["images"][1])
    second["width"] += 10
    data["images"] = [first, second,
                      {"id": 99, "file_name": "empty.jpg", "width": 5, "height": 5},
                      {"id": 98, "file_name": "missing.jpg", "width": 5, "height": 5}]
    data["annotations"] = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [-10, 5, 40, 20]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [5, 5, -3, 20]},
        {"id": 3, "image_id": 1, "category_id": 42, "bbox": [5, 5, 3, 20]},
    ]
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(data))
    cfg = _config(tmp_path, {"format": "coco", "img_path": "images", "ann_path": "ann.json"},
                  class_names=[c["name"] for c in data["categories"]])
    report = check_data(load_config(cfg))
    messages = [str(i) for i in report.issues]
    kinds = sorted(i.kind for i in report.issues)
    assert kinds == ["bad-file", "bad-file", "clipped-box", "degenerate-box", "size-mismatch",
                     "unknown-class"], messages
    text = "\n".join(messages)
    assert "ann.json:annotations[0]: box [-10, 5, 30, 25] extends outside" in text
    assert "ann.json:annotations[1]: box [5, 5, 2, 25] is zero or negative size: dropped" in text
    assert "ann.json:annotations[2]: category_id 42 is not among the categories" in text
    assert "000002.jpg: annotation says" in text
    assert "empty.jpg: image file is empty" in text and "missing.jpg: image file not found" in text
    assert report.splits[0].boxes == 1


def test_unreadable_annotations_reported(tmp_path: Path, capsys):
    (tmp_path / "ann.json").write_text("{")
    cfg = _config(tmp_path, {"format": "coco", "img_path": ".", "ann_path": "ann.json"})
    assert main(["data", "check", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "NOT READABLE" in out and "ann.json: not valid JSON" in out


def test_demo_and_preview_commands(tmp_path: Path, demo_dir: Path, capsys):
    assert main(["data", "demo", str(tmp_path / "d"), "--images", "4", "--seed", "1",
                 "--workers", "1"]) == 0
    assert (tmp_path / "d" / "demo.yaml").is_file()
    assert len(list((tmp_path / "d" / "images" / "val").glob("*.jpg"))) == 1
    assert main(["data", "preview", str(demo_dir / "demo.yaml"), "--out",
                 str(tmp_path / "p"), "--num", "3"]) == 0
    written = sorted((tmp_path / "p").glob("*.jpg"))
    assert len(written) == 3
    # the training size train.recipe auto picks for the demo's objects, as nanodet train
    assert cv2.imread(str(written[0])).shape == (256, 256, 3)


# ---- hardening: a training split without boxes, truncated files, skipped bad images ----

def _yolo_split(tmp_path: Path, labels: dict[str, str], images=("a", "b")) -> Path:
    """An images/train + labels/train YOLO split of 64x48 PNGs and a config naming it."""
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    for name in images:
        cv2.imwrite(str(tmp_path / "images" / "train" / f"{name}.png"),
                    np.full((48, 64, 3), 90, np.uint8))
    for name, text in labels.items():
        (tmp_path / "labels" / "train" / f"{name}.txt").write_text(text)
    return _config(tmp_path, {"format": "yolo", "img_path": "images/train"}, ["thing"])


def test_pixel_yolo_labels_fail_the_check_instead_of_113_warnings(tmp_path: Path, capsys):
    cfg = _yolo_split(tmp_path, {"a": "0 32 24 10 10\n", "b": "0 20 20 8 8\n0 40 30 6 6\n"})
    report = check_data(load_config(cfg))
    assert [(i.level, i.kind) for i in report.issues] == [
        ("error", "pixel-units"), ("error", "pixel-units"), ("error", "no-boxes")]
    assert "labels/train/a.txt:line 1: 1 of 1 boxes have values above 1" in str(report.issues[0])
    assert str(report.issues[2]) == (
        f"{tmp_path / 'images' / 'train'}: every box of the training split was dropped "
        "(pixel-units 2): nothing to learn from; fix the annotations")
    assert main(["data", "check", str(cfg)]) == 1
    assert "FAILED: 3 errors, 0 warnings" in capsys.readouterr().out


def test_training_split_of_negatives_only_is_an_error_val_a_warning(tmp_path: Path):
    cv2.imwrite(str(tmp_path / "x.jpg"), np.zeros((10, 10, 3), np.uint8))
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [{"id": 1, "file_name": "x.jpg", "width": 10,
                                           "height": 10}],
                               "categories": [{"id": 1, "name": "bus"}]}))
    split = {"format": "coco", "img_path": ".", "ann_path": "ann.json"}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"model": {"num_classes": 1}, "class_names": ["bus"],
                                    "data": {"train": split, "val": split}}))
    report = check_data(load_config(path))
    assert [(i.level, i.kind, i.file) for i in report.issues] == [
        ("warning", "no-annotations", str(ann)), ("error", "no-boxes", str(ann)),
        ("warning", "no-annotations", str(ann)), ("warning", "no-boxes", str(ann))]
    assert "the training split's 1 images hold no box at all" in str(report.errors[0])


def _cut(path: Path, keep: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - keep])


@pytest.mark.parametrize("ext, message", [
    (".jpg", r"truncated JPEG \(it ends before the end-of-image marker FF D9\)"),
    (".png", r"truncated PNG \(it ends before its IEND chunk\)"),
])
def test_truncated_image_caught_by_the_check_without_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ext: str, message: str
):
    from nanodet_plus.data import check

    cfg = _yolo_split(tmp_path, {"a": "0 0.5 0.5 0.5 0.5\n"}, images=())
    rng = np.random.default_rng(0)
    path = tmp_path / "images" / "train" / f"a{ext}"
    cv2.imwrite(str(path), rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))
    _cut(path, 5000)
    monkeypatch.setattr(check, "load_image", None)  # the check must not decode
    report = check_data(load_config(cfg))
    first = report.errors[0]
    assert first.kind == "bad-file" and first.file == str(path)
    assert re.fullmatch(rf"{re.escape(str(path))}: {message}; copy the file again, delete it, "
                        r"or set data\.skip_bad_images=true", str(first))


def test_skip_bad_images_turns_unreadable_images_into_warnings(tmp_path: Path, demo_dir: Path):
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(demo_dir / "images" / "train" / "000001.jpg", images / "000001.jpg")
    (images / "cut.jpg").write_bytes((images / "000001.jpg").read_bytes()[:-300])
    data = json.loads((demo_dir / "coco" / "train.json").read_text())
    first = data["images"][0]
    data["images"] = [first, dict(first, id=50, file_name="cut.jpg")]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] == first["id"]]
    (tmp_path / "ann.json").write_text(json.dumps(data))
    names = [c["name"] for c in data["categories"]]
    cfg = _config(tmp_path, {"format": "coco", "img_path": "images", "ann_path": "ann.json"},
                  class_names=names)
    assert [i.kind for i in check_data(load_config(cfg)).errors] == ["bad-file"]
    report = check_data(load_config(cfg, ["data.skip_bad_images=true"]))
    assert report.ok and report.splits[0].images == 1  # the images training gets to see
    (warning,) = report.warnings
    assert str(warning) == (f"{images / 'cut.jpg'}: truncated JPEG (it ends before the "
                            "end-of-image marker FF D9); copy the file again, delete it, or "
                            "set data.skip_bad_images=true; skipped (data.skip_bad_images)")


def test_size_mismatch_of_an_exif_rotated_photo_says_why(tmp_path: Path):
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (60, 40), (90, 90, 90)).save(tmp_path / "photo.jpg", exif=exif)
    (tmp_path / "ann.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "photo.jpg", "width": 60, "height": 40}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [5, 5, 20, 20]}],
        "categories": [{"id": 1, "name": "bus"}]}))
    cfg = _config(tmp_path, {"format": "coco", "img_path": ".", "ann_path": "ann.json"},
                  class_names=["bus"])
    (error,) = check_data(load_config(cfg)).errors
    assert str(error) == (
        f"{tmp_path / 'photo.jpg'}: annotation says 60x40 but the image is 40x60 (width x "
        "height); its EXIF orientation 6 turns it a quarter turn when loaded: give the size "
        "and boxes of the image as displayed")
