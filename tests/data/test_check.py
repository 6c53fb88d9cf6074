"""``data check``: statistics, every problem named with its file, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

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
    import cv2

    written = sorted((tmp_path / "p").glob("*.jpg"))
    assert len(written) == 3
    assert cv2.imread(str(written[0])).shape == (320, 320, 3)
