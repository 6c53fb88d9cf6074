"""``nanodet train`` from the command line: a run, resume auto, fine-tuning, one-line errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

from nanodet_plus.cli.main import main


@pytest.fixture(autouse=True)
def _fresh_log_handler() -> None:
    """``setup_logging`` keeps its first handler, bound to an earlier test's captured stderr."""
    logger = logging.getLogger("nanodet_plus")
    for handler in [h for h in logger.handlers if getattr(h, "_nanodet", False)]:
        logger.removeHandler(handler)

TINY_MODEL = {
    "num_classes": 2,
    "backbone": {"model_size": "0.5x"},
    "neck": {"in_channels": [48, 96, 192], "out_channels": 32},
    "head": {"input_channel": 32, "feat_channels": 32},
    "aux_head": {"input_channel": 64, "feat_channels": 64, "stacked_convs": 2},
}


def _dataset(root: Path, missing_image: bool = False) -> Path:
    """Four 96x96 images with one filled square each, as COCO json; returns the json path."""
    (root / "images").mkdir(parents=True)
    images, annotations = [], []
    for index in range(4):
        image = np.full((96, 96, 3), 30, np.uint8)
        x = 10 + 12 * index
        cv2.rectangle(image, (x, 20), (x + 40, 70), (200, 180, 60), -1)
        name = f"{index}.png"
        if not (missing_image and index == 3):
            cv2.imwrite(str(root / "images" / name), image)
        images.append({"id": index + 1, "file_name": name, "width": 96, "height": 96})
        annotations.append({"id": index + 1, "image_id": index + 1, "category_id": 1 + index % 2,
                            "bbox": [x, 20, 41, 51], "area": 41 * 51, "iscrowd": 0})
    ann = root / "ann.json"
    ann.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [
        {"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}))
    return ann


def _config(tmp_path: Path, ann: Path, model: dict | None = None) -> Path:
    split = {"format": "coco", "img_path": str(ann.parent / "images"), "ann_path": str(ann)}
    config = {
        "preset": "nanodet-plus-m_320",
        "model": model or TINY_MODEL,
        "data": {"input_size": [128, 128], "train": split, "val": split, "workers": 0},
        "train": {"epochs": 1, "batch_size": 2, "warmup_steps": 1, "val_interval": 1,
                  "progress": False, "device": "cpu", "recipe": "official",
                  "plots": False},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_train_then_resume_auto_extends_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    torch.set_num_threads(1)
    config = _config(tmp_path, _dataset(tmp_path / "data"))
    project = tmp_path / "runs"
    assert main(["train", str(config), "--project", str(project), "--name", "t"]) == 0
    out = capsys.readouterr().out
    assert "best mAP" in out and str(project / "t" / "model_best.pth") in out
    saved = yaml.safe_load((project / "t" / "config.yaml").read_text())
    assert saved["class_names"] == ["a", "b"] and saved["model"]["num_classes"] == 2

    code = main(["train", "--resume", "auto", "--project", str(project), "train.epochs=2"])
    assert code == 0
    checkpoint = torch.load(project / "t" / "last.ckpt", weights_only=True)
    assert checkpoint["epoch"] == 2 and checkpoint["step"] == 4
    assert not (project / "t2").exists()


def test_fine_tune_official_weights_with_another_class_count(
    tmp_path: Path, reference_weights: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, _dataset(tmp_path / "data"), model={"num_classes": 2})
    project = tmp_path / "runs"
    code = main(["train", str(config), "train.epochs=1", "--weights", str(reference_weights),
                 "--project", str(project)])
    assert code == 0
    official = torch.load(reference_weights, weights_only=True)["state_dict"]
    ours = torch.load(project / "exp" / "model_last.pth", weights_only=True)["state_dict"]
    # one epoch of two warmup steps moves the loaded weights by about 1e-3 (their scale is 0.3)
    torch.testing.assert_close(ours["backbone.conv1.0.weight"],
                               official["backbone.conv1.0.weight"], atol=1e-2, rtol=0)
    assert ours["head.gfl_cls.0.weight"].shape[0] == 2 + 32  # re-initialised for 2 classes


def test_errors_stop_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train"]) == 1
    assert "give a CONFIG" in capsys.readouterr().err
    config = _config(tmp_path, _dataset(tmp_path / "data", missing_image=True))
    assert main(["train", str(config), "--project", str(tmp_path / "runs")]) == 1
    err = capsys.readouterr().err
    assert "nanodet train: error: the dataset check found errors" in err
    assert "3.png" in err and "FAILED: 2 errors" in err  # train and val share the files
    assert main(["train", "--resume", str(tmp_path / "nothing.ckpt")]) == 1
    assert "checkpoint not found" in capsys.readouterr().err
