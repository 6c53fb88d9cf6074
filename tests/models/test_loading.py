"""The shared checkpoint loader, and the official weights file (which holds no config) through
every entry point: the loader, ``Detector.from_file``, ``nanodet info``, ``export``,
``predict``, ``val`` and ``benchmark``, all agreeing on the model and its outputs."""

from __future__ import annotations

import importlib.util
import json
import logging

import cv2
import numpy as np
import pytest
import torch

from nanodet_plus.cli.main import main
from nanodet_plus.config.loader import load_config, to_dict
from nanodet_plus.errors import CheckpointError, FileMissingError
from nanodet_plus.models.factory import build_model
from nanodet_plus.models.loading import load_model
from nanodet_plus.runtime.detector import Detector

SIZE = (320, 320)

requires_onnxruntime = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is not installed"
)


@pytest.fixture
def nanodet_log(caplog):
    """The package's INFO records, also once ``nanodet`` has stopped its logger propagating."""
    package_logger = logging.getLogger("nanodet_plus")
    attach = not package_logger.propagate
    if attach:
        package_logger.addHandler(caplog.handler)
    with caplog.at_level(logging.INFO, logger="nanodet_plus"):
        yield caplog
    if attach:
        package_logger.removeHandler(caplog.handler)


@pytest.fixture(scope="module")
def loaded(reference_weights):
    return load_model(reference_weights)


@pytest.fixture(scope="module")
def test_image(samples_dir) -> np.ndarray:
    return cv2.imread(str(samples_dir / "test_img.jpg"))


@pytest.fixture(scope="module")
def input_batch(loaded, test_image) -> np.ndarray:
    """The sample image preprocessed for the 320x320 model."""
    return Detector(loaded.model, input_size=SIZE).prepare([test_image]).images


@pytest.fixture(scope="module")
def loader_raw(loaded, input_batch) -> np.ndarray:
    """Raw logits of the loader's model: what every other entry point must reproduce."""
    with torch.no_grad():
        return loaded.model(torch.from_numpy(input_batch)).numpy()


def _rows(records: list[dict], first_category_id: int) -> np.ndarray:
    """``[class, x1, y1, x2, y2, score]`` of JSON records with ``bbox`` as x, y, w, h."""
    return np.array([[r["category_id"] - first_category_id, r["bbox"][0], r["bbox"][1],
                      r["bbox"][0] + r["bbox"][2], r["bbox"][1] + r["bbox"][3], r["score"]]
                     for r in records])


def _assert_rows_match(rows: np.ndarray, expected) -> None:
    expected = np.asarray(expected, dtype=np.float64)
    assert rows.shape == expected.shape
    np.testing.assert_array_equal(rows[:, 0], expected[:, 0])
    np.testing.assert_allclose(rows[:, 1:5], expected[:, 1:5], atol=1e-2, rtol=0)
    np.testing.assert_allclose(rows[:, 5], expected[:, 5], atol=1e-4, rtol=0)


def test_loader_infers_the_official_architecture(reference_weights, reference_state, nanodet_log):
    result = load_model(reference_weights)
    config = result.config.model
    assert result.config_origin == "inferred" and not result.model.training
    assert (config.num_classes, config.backbone.model_size, config.neck.out_channels,
            config.head.reg_max) == (80, "1.0x", 96, 7)
    assert not result.model.has_aux and result.report.dropped_aux
    assert result.report.layout == "weight file" and result.report.loaded == 645
    own = result.model.state_dict()
    assert all(torch.equal(own[key], reference_state[key]) for key in own)
    inferred = [r.getMessage() for r in nanodet_log.records if "inferred" in r.getMessage()]
    assert len(inferred) == 1
    assert "ShuffleNetV2 1.0x, Ghost-PAN 96, 80 classes, reg_max 7" in inferred[0]
    assert str(reference_weights) in inferred[0]


def test_loader_rule_given_then_stored_then_inferred(reference_weights, reference_state,
                                                    tmp_path, nanodet_log):
    given = load_model(reference_weights, "nanodet-plus-m_320", aux=None)
    assert given.config_origin == "given" and given.config.data.input_size == SIZE
    assert given.model.has_aux and given.report.loaded == 887
    stored_config = load_config("nanodet-plus-m_320", overrides=["data.input_size=[480,320]"])
    ours = tmp_path / "last.ckpt"
    torch.save({"model": reference_state, "config": to_dict(stored_config)}, ours)
    stored = load_model(ours)
    assert stored.config_origin == "checkpoint" and stored.config.data.input_size == (480, 320)
    assert load_model(ours, "nanodet-plus-m_416").config.data.input_size == (416, 416)
    three = tmp_path / "three.yaml"
    three.write_text("preset: nanodet-plus-m_320\nclass_names: [a, b, c]\n"
                     "model: {num_classes: 3}\n")
    adjusted = load_model(reference_weights, three)
    assert adjusted.config.model.num_classes == 80 and adjusted.config.class_names is None
    assert any("hold 80 classes, the config 3" in r.getMessage() and "dropping" in r.getMessage()
               for r in nanodet_log.records)


def test_loader_errors_are_one_line_naming_the_file(reference_weights, tmp_path):
    missing = tmp_path / "missing.pth"
    with pytest.raises(FileMissingError, match=f"weights file not found: {missing}") as info:
        load_model(missing)
    assert isinstance(info.value, FileNotFoundError)
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    other = tmp_path / "resnet.pth"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(8, 3, 3, 3)}}, other)
    partial = tmp_path / "backbone.pth"
    torch.save({"backbone.conv1.0.weight": torch.zeros(24, 3, 3, 3)}, partial)
    cases = [
        (text, None, f"{text}: not a readable PyTorch checkpoint"),
        (other, None, f"{other}: not a NanoDet-Plus checkpoint"),
        (partial, None, f"{partial}: not a NanoDet-Plus checkpoint"),
        (reference_weights, "nanodet-plus-m-1.5x_320", f"{reference_weights} does not fit"),
    ]
    for path, config, message in cases:
        with pytest.raises(CheckpointError) as info:
            load_model(path, config)
        assert message in str(info.value) and "\n" not in str(info.value)
    assert "the given config" in str(info.value)


def test_train_weights_are_read_by_the_same_functions(monkeypatch, reference_weights):
    """``nanodet train --weights`` (``load_weights``) and the loader read files alike."""
    from nanodet_plus.models import loading, weights

    assert loading.read_checkpoint is weights.read_checkpoint
    assert loading.extract_state_dict is weights.extract_state_dict
    reads = []
    original = weights.read_checkpoint

    def counting(path):
        reads.append(path)
        return original(path)

    monkeypatch.setattr(loading, "read_checkpoint", counting)
    load_model(reference_weights)
    assert len(reads) == 1


def test_detector_from_file_without_config(reference_weights, loaded, input_batch, loader_raw,
                                           test_image, reference_expected):
    detector = Detector.from_file(reference_weights, score_thr=0.05, precision="fp32")
    assert detector.meta.num_classes == 80 and len(detector.class_names) == 80
    assert detector.input_size == tuple(loaded.config.data.input_size) == (416, 416)
    np.testing.assert_array_equal(detector.backend.infer(input_batch), loader_raw)
    detector.input_size = SIZE
    _assert_rows_match(detector(test_image).to_rows().astype(np.float64),
                       reference_expected["detections"]["320x320"])


def test_info_reads_the_same_architecture(reference_weights, loader_raw, capsys):
    assert main(["info", str(reference_weights), "--imgsz", *map(str, SIZE)]) == 0
    out = capsys.readouterr().out
    assert "weight file, architecture read from tensor shapes" in out
    assert "ShuffleNetV2 1.0x, Ghost-PAN 96, 80 classes, AGM present" in out
    assert f"output: [1, {loader_raw.shape[1]}, {loader_raw.shape[2]}]" in out


@requires_onnxruntime
def test_export_without_config_reproduces_the_loader(reference_weights, loaded, input_batch,
                                                     tmp_path, samples_dir):
    from nanodet_plus.runtime.onnxruntime_backend import OnnxRuntimeBackend

    output = tmp_path / "model.onnx"
    argv = ["export", str(reference_weights), "--imgsz", *map(str, SIZE), "--output", str(output),
            "--verify-image", str(samples_dir / "test_img.jpg")]
    assert main(argv) == 0
    backend = OnnxRuntimeBackend(output, threads=1)
    assert (backend.meta.num_classes, backend.meta.input_size) == (80, SIZE)
    assert len(backend.meta.class_names) == 80
    with torch.no_grad():
        expected = loaded.model(torch.from_numpy(input_batch), sigmoid_scores=True).numpy()
    assert np.abs(backend.infer(input_batch) - expected).max() < 1e-4


def test_predict_without_config(reference_weights, samples_dir, reference_expected, tmp_path):
    argv = ["predict", str(samples_dir / "test_img.jpg"), "--weights", str(reference_weights),
            "--imgsz", *map(str, SIZE), "--conf", "0.05", "--project", str(tmp_path),
            "--no-save-media"]
    assert main(argv) == 0
    records = json.loads((tmp_path / "exp" / "predictions.json").read_text())
    _assert_rows_match(_rows(records, 0), reference_expected["detections"]["320x320"])


def test_val_with_a_data_only_config(reference_weights, samples_dir, reference_expected,
                                     tmp_path, write_sample_coco):
    """A config that names only the dataset: the default architecture fits the weights."""
    write_sample_coco(tmp_path / "val.json")
    (tmp_path / "data.yaml").write_text(
        f"data:\n  input_size: [{SIZE[0]}, {SIZE[1]}]\n"
        f"  val: {{format: coco, img_path: '{samples_dir}', ann_path: val.json}}\n"
    )
    argv = ["val", str(tmp_path / "data.yaml"), "--weights", str(reference_weights),
            "--project", str(tmp_path / "runs"), "--no-plots"]
    assert main(argv) == 0
    results = json.loads((tmp_path / "runs" / "exp" / "results.json").read_text())
    _assert_rows_match(_rows(results, 1), reference_expected["detections"]["320x320"])


@requires_onnxruntime
def test_benchmark_without_config(reference_weights, tmp_path):
    out = tmp_path / "table.md"
    argv = ["benchmark", str(reference_weights), "--backends", "torch,onnxruntime",
            "--imgsz", *map(str, SIZE), "--runs", "2", "--warmup", "0", "--out", str(out)]
    assert main(argv) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("| torch")
            or line.startswith("| onnxruntime")]
    assert len(rows) == 2 and not any("n/a" in row for row in rows)
    assert all("| 320x320 |" in row for row in rows)


def test_an_official_weights_model_equals_the_preset_model(reference_weights, loaded):
    """The inferred architecture is the nanodet-plus-m preset's (same modules, same shapes)."""
    preset = build_model("nanodet-plus-m_320", aux=False).state_dict()
    own = loaded.model.state_dict()
    assert {k: tuple(v.shape) for k, v in own.items()} == {
        k: tuple(v.shape) for k, v in preset.items()
    }
