"""Every export backend against PyTorch on the reference weights: raw output, detections and
metadata, at a square (320x320) and a non-square (480x320, W x H) input. Each format and size
is exported once per module."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from nanodet_plus.export.exporter import SUFFIXES, ExportOptions, export_model
from nanodet_plus.export.verify import image_batch
from nanodet_plus.runtime.detector import Detector
from nanodet_plus.runtime.registry import load_backend

pytestmark = pytest.mark.slow

CONFIG = "nanodet-plus-m_320"
SIZES = [(320, 320), (480, 320)]
RAW_TOLERANCE = {"onnx": 1e-4, "torchscript": 1e-4, "openvino": 1e-4, "ncnn": 1e-3, "mnn": 1e-3}
BOX_TOLERANCE_PX = {"onnx": 1e-2, "torchscript": 1e-2, "openvino": 1e-2, "ncnn": 0.1, "mnn": 0.1}
RUNTIME_MODULES = {
    "onnx": ("onnx", "onnxruntime"),
    "torchscript": (),
    "openvino": ("onnx", "openvino"),
    "ncnn": ("pnnx", "ncnn"),
    "mnn": ("onnx", "MNN", "_tools"),
}
CASES = [(fmt, size) for fmt in RAW_TOLERANCE for size in SIZES]


def _require_runtime(fmt: str) -> None:
    for module in RUNTIME_MODULES[fmt]:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install 'nanodet-plus[dev]')")


@pytest.fixture(scope="module")
def torch_detections(torch_model, test_image):
    """``get(size)``: the PyTorch Detector's detections on the test image, computed once."""
    cache = {}

    def get(size):
        if size not in cache:
            cache[size] = Detector(torch_model, input_size=size, score_thr=0.05)(test_image)
        return cache[size]

    return get


@pytest.fixture(scope="module")
def exported(tmp_path_factory, reference_weights, samples_dir):
    """``get(fmt, size) -> Path``: exports on first request, then reuses the file."""
    folder = tmp_path_factory.mktemp("exports")
    cache: dict[tuple[str, tuple[int, int]], Path] = {}

    def get(fmt: str, size: tuple[int, int]) -> Path:
        _require_runtime(fmt)
        if (fmt, size) not in cache:
            output = folder / f"m320_{size[0]}x{size[1]}{SUFFIXES[fmt]}"
            options = ExportOptions(format=fmt, config=CONFIG, input_size=size, output=output,
                                    verify_image=samples_dir / "test_img.jpg")
            result = export_model(reference_weights, options)
            assert result.max_diff <= RAW_TOLERANCE[fmt]
            cache[(fmt, size)] = result.path
        return cache[(fmt, size)]

    return get


def _torch_raw(model, batch: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(batch), sigmoid_scores=True).numpy()


@pytest.mark.parametrize(("fmt", "size"), CASES, ids=[f"{f}-{w}x{h}" for f, (w, h) in CASES])
def test_raw_output_matches_pytorch(fmt, size, exported, torch_model, samples_dir):
    backend = load_backend(exported(fmt, size), threads=1)
    batch = image_batch(samples_dir / "test_img.jpg", size, backend.meta.mean, backend.meta.std)
    expected = _torch_raw(torch_model, batch)
    raw = backend.infer(batch)
    assert raw.shape == expected.shape
    assert np.abs(raw - expected).max() <= RAW_TOLERANCE[fmt]


@pytest.mark.parametrize(("fmt", "size"), CASES, ids=[f"{f}-{w}x{h}" for f, (w, h) in CASES])
def test_detections_match_pytorch_detector(fmt, size, exported, torch_detections, test_image):
    reference = torch_detections(size)
    detector = Detector(load_backend(exported(fmt, size), threads=1), score_thr=0.05)
    assert detector.backend.name == ("onnxruntime" if fmt == "onnx" else fmt)
    result = detector(test_image)
    assert len(reference) > 10
    assert len(result) == len(reference)
    np.testing.assert_array_equal(result.labels, reference.labels)
    np.testing.assert_allclose(result.scores, reference.scores, atol=RAW_TOLERANCE[fmt])
    np.testing.assert_allclose(result.boxes, reference.boxes, atol=BOX_TOLERANCE_PX[fmt])
    assert result.names == reference.names


def test_detector_from_file_opens_exports_by_suffix(exported, torch_detections, test_image):
    detector = Detector.from_file(exported("onnx", (480, 320)), score_thr=0.05, precision="fp32")
    assert detector.backend.name == "onnxruntime"
    assert detector.input_size == (480, 320)
    np.testing.assert_array_equal(detector(test_image).labels, torch_detections((480, 320)).labels)


@pytest.mark.parametrize("fmt", list(RAW_TOLERANCE))
def test_metadata_travels_with_the_file(fmt, exported, torch_model):
    meta = load_backend(exported(fmt, (480, 320)), threads=1).meta
    assert meta.num_classes == 80
    assert tuple(meta.input_size) == (480, 320)
    assert tuple(meta.strides) == (8, 16, 32, 64)
    assert meta.reg_max == 7
    assert meta.scores_are_sigmoid is True
    assert meta.fixed_shape is True
    assert meta.batch_size == 1
    assert meta.class_names is not None and meta.class_names[0] == "person"
    loaded_project = torch_model.head.distribution_project.project
    np.testing.assert_allclose(meta.project, loaded_project.numpy(), atol=1e-6)


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_an_official_onnx_without_metadata_names_coco_classes(fmt, exported, torch_detections,
                                                              test_image, tmp_path):
    """The official export tool writes no metadata: an 80-class file gets the COCO names, as
    the same weights do in PyTorch, instead of class ids ('62')."""
    import onnx

    from nanodet_plus.data.coco_classes import COCO_CLASSES

    def reference_name(label: int) -> str:
        return COCO_CLASSES[int(label)]

    _require_runtime(fmt)
    model = onnx.load(str(exported("onnx", (320, 320))))
    del model.metadata_props[:]
    official = tmp_path / "official.onnx"
    onnx.save(model, str(official))
    # exact precision: the point is the names, and the reference weights are untrained, so
    # the top detection moves with any change of input sampling or precision
    detector = Detector.from_file(official, format=fmt, score_thr=0.05, precision="fp32")
    assert detector.meta.extra.get("official") is True
    assert detector.meta.class_names is not None and detector.meta.class_names[62] == "tv"
    # (the boxes move a little: a file without metadata runs on the default pre-processing)
    result, reference = detector(test_image), torch_detections((320, 320))
    assert len(result) > 10 and result.names[0] == reference.names[0]
    assert result.names == [reference_name(label) for label in result.labels]


def test_non_square_onnx_is_not_transposed(exported):
    import onnx

    model = onnx.load(str(exported("onnx", (480, 320))))
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert model.graph.input[0].name == "data"
    assert dims == [1, 3, 320, 480]
    out_dims = [d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim]
    assert model.graph.output[0].name == "output"
    assert out_dims == [1, 3190, 112]
    assert {op.version for op in model.opset_import if op.domain in ("", "ai.onnx")} == {11}
    assert not [init.name for init in model.graph.initializer if "aux" in init.name]


def test_exported_formats_hold_no_training_only_weights(exported, torch_model):
    import onnx

    model = onnx.load(str(exported("onnx", (320, 320))))
    exported_params = sum(int(np.prod(init.dims)) for init in model.graph.initializer)
    inference_params = sum(
        p.numel() for name, p in torch_model.named_parameters() if not name.startswith("aux")
    )
    # BatchNorm folds into convolutions, so the ONNX holds at most the inference parameters
    # plus the BN statistics; the AGM (aux_fpn + aux_head, ~0.9 M) would exceed that.
    bn_buffers = sum(b.numel() for n, b in torch_model.named_buffers() if "running" in n)
    assert exported_params <= inference_params + bn_buffers


def test_ncnn_export_to_a_relative_path(tmp_path, monkeypatch, reference_weights, samples_dir):
    """pnnx runs in a folder of its own: a relative output path must still land where asked."""
    _require_runtime("ncnn")
    monkeypatch.chdir(tmp_path)
    options = ExportOptions(format="ncnn", config=CONFIG, input_size=(320, 320),
                            output=Path("out") / "model.param",
                            verify_image=samples_dir / "test_img.jpg")
    result = export_model(reference_weights, options)
    assert result.max_diff <= RAW_TOLERANCE["ncnn"]
    assert (tmp_path / "out" / "model.param").is_file()
    assert (tmp_path / "out" / "model.bin").is_file()
