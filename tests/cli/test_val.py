"""``nanodet val`` and ``metrics.evaluate`` on a tiny generated COCO dataset."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from nanodet_plus.cli.main import main
from nanodet_plus.config.loader import load_config
from nanodet_plus.data.datasets import load_record_set
from nanodet_plus.metrics import STAT_NAMES, evaluate
from nanodet_plus.structures import Detections

CLASS_NAMES = ["cat", "dog"]
CATEGORY_IDS = [7, 3]  # deliberately non-contiguous and unsorted
LABEL_NAMES = ["dog", "cat"]  # labels follow the category ids in ascending order (3, 7)
NUM_IMAGES = 5


@pytest.fixture()
def tiny_dataset(tmp_path: Path) -> Path:
    """Five 96x80 images whose pixels all equal their index, with 1-2 boxes each, and a config.

    The constant pixel value lets a fake predictor recover which image it was given.
    """
    images_dir = tmp_path / "images"
    images_dir.mkdir()
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for index in range(NUM_IMAGES):
        file_name = f"img{index}.png"
        cv2.imwrite(str(images_dir / file_name), np.full((80, 96, 3), index, np.uint8))
        images.append({"id": 100 + index, "file_name": file_name, "width": 96, "height": 80})
        for _ in range(1 + index % 2):
            x, y = rng.uniform(0, 40, 2).round(1)
            w, h = rng.uniform(15, 40, 2).round(1)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": 100 + index,
                    "category_id": CATEGORY_IDS[len(annotations) % 2],
                    "bbox": [float(x), float(y), float(w), float(h)],
                    "area": float(w * h),
                    "iscrowd": 0,
                }
            )
    categories = [{"id": cid, "name": name} for cid, name in zip(CATEGORY_IDS, CLASS_NAMES)]
    (tmp_path / "val.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories})
    )
    (tmp_path / "tiny.yaml").write_text(
        "preset: nanodet-plus-m_320\n"
        "class_names: [dog, cat]\n"
        "model:\n  num_classes: 2\n"
        "data:\n  input_size: [96, 96]\n"
        "  val: {format: coco, img_path: images, ann_path: val.json}\n"
    )
    return tmp_path


def _records(dataset: Path):
    config = load_config(dataset / "tiny.yaml")
    return config, load_record_set(config.data.val, config.class_names)


def _ground_truth_predictor(records):
    """A predict function returning each image's ground truth (found by its pixel value)."""

    def predict(images: list[np.ndarray]) -> list[Detections]:
        results = []
        for image in images:
            record = records[int(image[0, 0, 0])]
            results.append(
                Detections(
                    boxes=record.boxes.copy(),
                    scores=np.linspace(0.9, 0.8, len(record.labels)).astype(np.float32),
                    labels=record.labels.copy(),
                )
            )
        return results

    return predict


def _random_weights(dataset: Path) -> Path:
    from nanodet_plus.models.factory import build_model

    torch.manual_seed(0)
    model = build_model(load_config(dataset / "tiny.yaml"), aux=False)
    path = dataset / "random.pth"
    torch.save({"state_dict": model.state_dict()}, path)
    return path


def test_val_cli_writes_every_output(tiny_dataset, capsys):
    weights = _random_weights(tiny_dataset)
    project = tiny_dataset / "runs"
    argv = [
        "val",
        str(tiny_dataset / "tiny.yaml"),
        "--weights",
        str(weights),
        "--project",
        str(project),
        "--batch",
        "2",
        "--samples",
        "2",
    ]
    assert main(argv) == 0
    run_dir = project / "exp"
    for name in ("metrics.json", "results.json", "confusion_matrix.png", "pr_curves.png"):
        assert (run_dir / name).is_file(), name
    assert len(list(run_dir.glob("val_*.jpg"))) == 2
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in (*STAT_NAMES, "precision", "recall", "f1", "per_class", "prf", "speed"):
        assert key in metrics, key
    assert [row["name"] for row in metrics["per_class"]] == LABEL_NAMES
    assert metrics["settings"]["score_thr"] == 0.05 and metrics["settings"]["max_det"] == 100
    assert len(metrics["confusion_matrix"]["matrix"]) == 3
    results = json.loads((run_dir / "results.json").read_text())
    assert {r["image_id"] for r in results} <= set(range(100, 100 + NUM_IMAGES))
    assert {r["category_id"] for r in results} <= set(CATEGORY_IDS)
    out = capsys.readouterr().out
    assert "mAP" in out and "results saved to" in out
    # A second run gets a new numbered folder instead of overwriting.
    assert main([*argv, "--max-images", "2", "--no-plots"]) == 0
    assert json.loads((project / "exp2" / "metrics.json").read_text())["num_images"] == 2
    assert not (project / "exp2" / "pr_curves.png").exists()


def test_evaluate_ground_truth_predictor_scores_one(tiny_dataset):
    _, record_set = _records(tiny_dataset)
    records = record_set.records
    out_dir = tiny_dataset / "gt_eval"
    summary = evaluate(
        _ground_truth_predictor(records),
        records,
        record_set.class_names,
        out_dir,
        category_ids=record_set.category_ids,
        batch_size=2,
    )
    assert summary["mAP"] == pytest.approx(1.0)
    assert summary["AP_50"] == pytest.approx(1.0)
    assert summary["precision"] == 1.0 and summary["recall"] == 1.0
    assert all(row["AP"] == pytest.approx(1.0) for row in summary["per_class"])
    saved = json.loads((out_dir / "metrics.json").read_text())
    assert saved["mAP"] == pytest.approx(1.0)
    results = json.loads((out_dir / "results.json").read_text())
    assert len(results) == sum(len(r.labels) for r in records)


def test_val_cli_with_ground_truth_predictor_reports_ap_one(tiny_dataset, monkeypatch, capsys):
    """The whole CLI path with the model's predictions replaced by the ground truth."""
    from nanodet_plus.metrics import evaluator

    weights = _random_weights(tiny_dataset)
    _, record_set = _records(tiny_dataset)
    fake = _ground_truth_predictor(record_set.records)
    monkeypatch.setattr(evaluator, "make_predict_fn", lambda predictor, **kwargs: fake)
    project = tiny_dataset / "runs"
    argv = ["val", str(tiny_dataset / "tiny.yaml"), "--weights", str(weights)]
    assert main([*argv, "--project", str(project), "--no-plots"]) == 0
    metrics = json.loads((project / "exp" / "metrics.json").read_text())
    assert metrics["mAP"] == pytest.approx(1.0)
    assert "100.00" in capsys.readouterr().out


def test_evaluate_accepts_an_in_memory_training_model(tiny_dataset):
    """The trainer's periodic validation: a torch model (with AGM) plus its config, no files."""
    from nanodet_plus.models.factory import build_model

    config, record_set = _records(tiny_dataset)
    model = build_model(config).train()
    summary = evaluate(model, record_set.records, LABEL_NAMES, config=config, batch_size=4)
    assert set(STAT_NAMES) <= set(summary)
    assert 0.0 <= summary["mAP"] <= 1.0
    assert model.training, "evaluate must not switch the caller's model to eval mode"


def test_val_cli_errors_are_one_line(tiny_dataset, capsys):
    config = str(tiny_dataset / "tiny.yaml")
    assert main(["val", config, "--weights", str(tiny_dataset / "missing.pth")]) == 1
    assert "missing.pth" in capsys.readouterr().err
    weights = _random_weights(tiny_dataset)
    assert main(["val", config, "--weights", str(weights), "--split", "train"]) == 1
    assert "no data.train dataset" in capsys.readouterr().err
    assert main(["val", config, "--weights", str(weights), "--conf", "2"]) == 1
    assert "--conf 2" in capsys.readouterr().err


def test_val_results_json_reproduces_official_detections(
    tmp_path, samples_dir, reference_weights, reference_expected, write_sample_coco
):
    """``nanodet val`` with the reference weights on the sample image: results.json holds the
    official 320x320 detections (class, box, score) with COCO category ids 1..80."""
    write_sample_coco(tmp_path / "val.json")
    (tmp_path / "ref.yaml").write_text(
        "preset: nanodet-plus-m_320\n"
        f"data:\n  val: {{format: coco, img_path: '{samples_dir}', ann_path: val.json}}\n"
    )
    argv = ["val", str(tmp_path / "ref.yaml"), "--weights", str(reference_weights)]
    assert main([*argv, "--project", str(tmp_path / "runs"), "--no-plots"]) == 0
    results = json.loads((tmp_path / "runs" / "exp" / "results.json").read_text())
    got = np.array(
        [
            [
                r["category_id"] - 1,
                *r["bbox"][:2],
                r["bbox"][0] + r["bbox"][2],
                r["bbox"][1] + r["bbox"][3],
                r["score"],
            ]
            for r in results
        ]
    )
    expected = np.array(reference_expected["detections"]["320x320"])
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got[:, 0], expected[:, 0])
    np.testing.assert_allclose(got[:, 1:5], expected[:, 1:5], atol=1e-2)
    np.testing.assert_allclose(got[:, 5], expected[:, 5], atol=1e-4)
