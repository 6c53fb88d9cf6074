"""``nanodet export``: CLI, layouts (per-level, end-to-end with NMS), INT8, official files
without metadata, refusal on mismatch, offline MNN conversion and one-line errors."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from nanodet_plus.cli.main import main
from nanodet_plus.errors import ExportError
from nanodet_plus.export.exporter import ExportOptions, export_model
from nanodet_plus.export.verify import image_batch
from nanodet_plus.runtime.detector import Detector
from nanodet_plus.runtime.onnxruntime_backend import OnnxRuntimeBackend

CONFIG = "nanodet-plus-m_320"
SIZE = (480, 320)

requires_onnxruntime = pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime is not installed"
)


@pytest.fixture(scope="module")
def test_image_path(samples_dir):
    return samples_dir / "test_img.jpg"


@pytest.fixture(scope="module")
def cli_onnx(tmp_path_factory, reference_weights, test_image_path):
    """The flat 480x320 ONNX written through the CLI."""
    output = tmp_path_factory.mktemp("cli") / "model.onnx"
    argv = ["export", str(reference_weights), "--config", CONFIG, "--imgsz", "480", "320",
            "--output", str(output), "--verify-image", str(test_image_path)]
    assert main(argv) == 0
    return output


@requires_onnxruntime
def test_cli_export_prints_parity_and_writes_only_the_model(cli_onnx, capsys):
    assert cli_onnx.is_file()
    assert sorted(p.name for p in cli_onnx.parent.iterdir()) == ["model.onnx"]
    backend = OnnxRuntimeBackend(cli_onnx, threads=1)
    assert backend.meta.input_size == SIZE
    assert backend.meta.extra["layout"] == "flat"


@requires_onnxruntime
def test_official_onnx_without_metadata_loads_with_a_note(cli_onnx, tmp_path, caplog):
    import onnx

    model = onnx.load(str(cli_onnx))
    del model.metadata_props[:]
    official = tmp_path / "official.onnx"
    onnx.save(model, str(official))
    with caplog.at_level("WARNING"):
        backend = OnnxRuntimeBackend(official, threads=1, config=CONFIG)
    assert "no nanodet-plus metadata" in caplog.text
    meta = backend.meta
    assert (meta.num_classes, meta.input_size, meta.scores_are_sigmoid) == (80, SIZE, True)
    assert meta.project is None and meta.reg_max == 7
    detector = Detector.from_file(official, config=CONFIG, score_thr=0.05)
    assert detector.input_size == SIZE


@requires_onnxruntime
def test_per_level_layout_outputs_per_stride(reference_weights, tmp_path, torch_model,
                                             test_image_path):
    result = export_model(
        reference_weights, ExportOptions(config=CONFIG, input_size=SIZE, layout="per-level",
                                         output=tmp_path / "pl.onnx",
                                         verify_image=test_image_path)
    )
    backend = OnnxRuntimeBackend(result.path, threads=1)
    assert backend.output_names == [f"cls_pred_stride_{s}" for s in (8, 16, 32, 64)] + [
        f"dis_pred_stride_{s}" for s in (8, 16, 32, 64)
    ]
    batch = image_batch(test_image_path, SIZE, backend.meta.mean, backend.meta.std)
    outputs = backend.run(batch)
    assert [o.shape for o in outputs] == [
        (1, 2400, 80), (1, 600, 80), (1, 150, 80), (1, 40, 80),
        (1, 2400, 32), (1, 600, 32), (1, 150, 32), (1, 40, 32),
    ]
    with torch.no_grad():
        expected = torch_model(torch.from_numpy(batch), sigmoid_scores=True).numpy()
    assert np.abs(backend.infer(batch) - expected).max() < 1e-4


@requires_onnxruntime
def test_end_to_end_nms_equals_detector(reference_weights, tmp_path, torch_model,
                                        test_image_path):
    import cv2

    result = export_model(
        reference_weights, ExportOptions(config=CONFIG, input_size=SIZE, end2end=True,
                                         nms=True, output=tmp_path / "e2e.onnx",
                                         verify_image=test_image_path)
    )
    backend = OnnxRuntimeBackend(result.path, threads=1)
    assert backend.output_names == ["detections"]
    # An image already at the input size makes the Detector's mapping back the identity.
    image = cv2.resize(cv2.imread(str(test_image_path)), SIZE)
    batch = image_batch(image, SIZE, backend.meta.mean, backend.meta.std)
    (detections,) = backend.run(batch)
    expected = Detector(torch_model, input_size=SIZE, score_thr=0.05, iou_thr=0.6)(image)
    assert len(detections) == len(expected) > 10
    order = np.argsort(-detections[:, 5], kind="stable")
    np.testing.assert_array_equal(detections[order, 6].astype(int), expected.labels)
    np.testing.assert_allclose(detections[order, 5], expected.scores, atol=1e-4)
    np.testing.assert_allclose(detections[order, 1:5], expected.boxes, atol=1e-2)
    assert np.all(detections[:, 0] == 0)


@requires_onnxruntime
def test_int8_static_qdq_per_channel(reference_weights, tmp_path, samples_dir):
    import onnx

    result = export_model(
        reference_weights, ExportOptions(config=CONFIG, input_size=(320, 320), int8=True,
                                         calib=samples_dir, output=tmp_path / "q.onnx",
                                         verify_image=samples_dir / "test_img.jpg")
    )
    model = onnx.load(str(result.path))
    ops = {node.op_type for node in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert {op.version for op in model.opset_import if op.domain in ("", "ai.onnx")} == {13}
    weight_scales = [
        init for init in model.graph.initializer if init.name.endswith("_scale") and init.dims
    ]
    assert any(int(np.prod(init.dims)) > 1 for init in weight_scales), "not per-channel"
    # The output stage (scores next to distance logits) stays float: one 8-bit scale for both
    # would quantise the scores in steps of about 0.1.
    producers = {out: node for node in model.graph.node for out in node.output}
    chain, name = [], "output"
    while name in producers and producers[name].op_type != "Conv":
        chain.append(producers[name].op_type)
        name = producers[name].input[0]
    assert "DequantizeLinear" not in chain and "QuantizeLinear" not in chain, chain
    assert OnnxRuntimeBackend(result.path, threads=1).meta.extra["int8"] is True
    assert result.notes and "int8" in result.notes[0]
    assert result.max_diff < 0.02


@pytest.mark.skipif(importlib.util.find_spec("nncf") is None, reason="nncf is not installed")
def test_openvino_int8_via_nncf_never_quantises_the_output(reference_weights, tmp_path,
                                                             samples_dir):
    import openvino as ov

    from nanodet_plus.runtime.openvino_backend import OpenVinoBackend

    result = export_model(
        reference_weights, ExportOptions(format="openvino", config=CONFIG, input_size=(320, 320),
                                         int8=True, calib=samples_dir,
                                         output=tmp_path / "q.xml",
                                         verify_image=samples_dir / "test_img.jpg")
    )
    model = ov.Core().read_model(str(result.path))
    fake_quantized = [op for op in model.get_ops() if op.get_type_name() == "FakeQuantize"]
    assert len(fake_quantized) > 50
    # the output (scores next to distance logits) is never quantised: no quantiser between
    # the model output and the head's output convolutions
    pending, seen_types = [model.get_results()[0].input_value(0).get_node()], []
    while pending:
        node = pending.pop()
        seen_types.append(node.get_type_name())
        if node.get_type_name() not in ("Convolution", "Constant"):
            pending += [node.input_value(i).get_node() for i in range(node.get_input_size())]
    assert "Convolution" in seen_types and "FakeQuantize" not in seen_types
    # depthwise convolutions read float inputs (OpenVINO runs them in float anyway)
    depthwise = [op for op in model.get_ops() if op.get_type_name() == "GroupConvolution"]
    assert len(depthwise) > 30
    assert all(op.input_value(0).get_node().get_type_name() != "FakeQuantize"
               for op in depthwise)
    backend = OpenVinoBackend(result.path, threads=1)
    assert backend.meta.extra["int8"] is True
    assert result.notes and "int8" in result.notes[0]
    assert result.max_diff < 0.02
    assert result.difference().startswith("mean class-score difference to PyTorch ")


def test_openvino_int8_does_not_need_onnxruntime(monkeypatch, reference_weights, tmp_path):
    """NNCF quantises the OpenVINO model itself: only the ONNX Runtime INT8 path needs it."""
    from nanodet_plus.export import exporter

    asked = []
    monkeypatch.setattr(exporter, "require", lambda module, extra: asked.append(module))
    monkeypatch.setattr(exporter, "load_model", lambda *a, **k: (_ for _ in ()).throw(
        RuntimeError("stop before the export")))
    monkeypatch.setattr("nanodet_plus.export.quantize.calibration_images", lambda *a: [])
    with pytest.raises(RuntimeError, match="stop before the export"):
        export_model(reference_weights, format="openvino", int8=True, calib=tmp_path,
                     output=tmp_path / "q.xml", config=CONFIG)
    assert "nncf" in asked and "onnxruntime" not in asked


def test_int8_check_refuses_a_collapse_of_the_candidate_scores():
    """A badly calibrated INT8 model can keep the mean score error tiny while most of the
    scores above 0.05 vanish (seen: 133 -> 8 on the COCO weights calibrated on other data)."""
    from nanodet_plus.export.formats import check_int8
    from nanodet_plus.model_meta import ModelMeta

    meta = ModelMeta(num_classes=2)
    fp32 = np.zeros((1, 1000, 2 + 32), np.float32)
    fp32[0, :40, 0] = 0.3
    kept = fp32.copy()
    kept[0, :30, 0] = 0.28
    kept[0, 30:40, 0] = 0.04
    diff, note = check_int8([fp32], [kept], meta)
    assert "candidates above 0.05: fp32 40, int8 30" in note and diff < 0.02
    collapsed = fp32.copy()
    collapsed[0, 5:40, 0] = 0.04
    with pytest.raises(ExportError, match=r"5 class scores above 0\.05 against 40 in fp32"):
        check_int8([fp32], [collapsed], meta)


def test_int8_is_refused_for_formats_without_an_int8_path(reference_weights, tmp_path,
                                                          samples_dir):
    with pytest.raises(ExportError, match=r"--int8 is available for --format onnx .* and "
                                          r"--format openvino"):
        export_model(reference_weights, format="mnn", config=CONFIG, int8=True,
                     calib=samples_dir, output=tmp_path / "q.mnn")


def test_export_refuses_a_mismatching_file(reference_weights, tmp_path, monkeypatch):
    from nanodet_plus.export import formats

    original = formats.WRITERS["torchscript"]

    def perturbed(*args, **kwargs):
        files, backend = original(*args, **kwargs)
        real_run = backend.run
        backend.run = lambda batch: [out + 1e-3 for out in real_run(batch)]
        return files, backend

    monkeypatch.setitem(formats.WRITERS, "torchscript", perturbed)
    output = tmp_path / "bad.torchscript"
    with pytest.raises(ExportError, match=r"max difference 0\.001\d* > tolerance 0\.0001"):
        export_model(reference_weights, format="torchscript", config=CONFIG,
                     input_size=(320, 320), output=output)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(importlib.util.find_spec("_tools") is None, reason="MNN is not installed")
def test_mnn_conversion_makes_no_network_or_pip_call(cli_onnx, tmp_path, monkeypatch):
    from nanodet_plus.export.mnn_export import onnx_to_mnn

    def forbidden(*args, **kwargs):
        raise AssertionError(f"network or subprocess call during MNN conversion: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr(os, "system", forbidden)
    path = onnx_to_mnn(cli_onnx, tmp_path / "model.mnn")
    assert path.stat().st_size > 1_000_000
    assert "MNN.tools" not in sys.modules


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "tflite"], "unsupported export format 'tflite'"),
        (["--imgsz", "300", "320"], "--imgsz 300 320 is out of range: both must be multiples"),
        (["--nms"], "--nms needs --end2end"),
        (["--int8"], "needs calibration images"),
        (["--output", "model.bin"], "must end in .onnx"),
        (["--val-ap"], "--val-ap compares an INT8 export with the model as trained: add --int8"),
    ],
)
def test_bad_options_give_one_line_errors(argv, message, reference_weights, capsys):
    assert main(["export", str(reference_weights), *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def test_not_a_nanodet_checkpoint(tmp_path, capsys):
    other = tmp_path / "resnet.pth"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(8, 3, 3, 3)}}, other)
    assert main(["export", str(other)]) == 1
    err = capsys.readouterr().err
    assert f"{other}: not a NanoDet-Plus checkpoint" in err
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    assert main(["export", str(text)]) == 1
    assert "not a readable PyTorch checkpoint" in capsys.readouterr().err


def test_missing_runtime_package_names_the_extra(reference_weights, tmp_path, monkeypatch,
                                                 capsys):
    monkeypatch.setitem(sys.modules, "openvino", None)
    argv = ["export", str(reference_weights), "--config", CONFIG, "--format", "openvino",
            "--output", str(tmp_path / "m.xml")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "pip install 'nanodet-plus[openvino]'" in err
    assert list(tmp_path.iterdir()) == []


@requires_onnxruntime
def test_dynamic_onnx_runs_other_batch_and_sizes(reference_weights, tmp_path, torch_model,
                                                 test_image_path):
    result = export_model(
        reference_weights, ExportOptions(config=CONFIG, input_size=(320, 320), dynamic=True,
                                         batch=2, output=tmp_path / "dyn.onnx",
                                         verify_image=test_image_path)
    )
    backend = OnnxRuntimeBackend(result.path, threads=1)
    assert backend.meta.fixed_shape is False and backend.meta.batch_size is None
    for batch_size, size in [(3, (480, 320)), (1, (320, 416))]:
        batch = image_batch(test_image_path, size, backend.meta.mean, backend.meta.std,
                            batch_size)
        with torch.no_grad():
            expected = torch_model(torch.from_numpy(batch), sigmoid_scores=True).numpy()
        raw = backend.infer(batch)
        assert raw.shape == expected.shape
        assert np.abs(raw - expected).max() < 1e-4


def test_val_ap_prints_the_change_of_an_int8_export(reference_weights, tmp_path, samples_dir,
                                                    monkeypatch, capsys):
    """The wiring of ``--val-ap``: the model as trained first, then the exported INT8 file, on
    the config's val split (measured for real by benchmarks/bench_precision.py)."""
    from nanodet_plus.benchmark import accuracy

    measured = []

    def fake_ap(backend, config):
        measured.append((backend.name, config.data.val.img_path))
        return 0.5 if backend.name == "torch" else 0.4925

    monkeypatch.setattr(accuracy, "evaluate_ap", fake_ap)
    config = tmp_path / "with_val.yaml"
    config.write_text(f"preset: nanodet-plus-m_320\ndata:\n  val:\n    format: coco\n"
                      f"    img_path: {samples_dir}\n    ann_path: {samples_dir}/x.json\n")
    code = main(["export", str(reference_weights), "--config", str(config), "--int8",
                 "--calib", str(samples_dir), "--val-ap", "--output", str(tmp_path / "q.onnx"),
                 "--verify-image", str(samples_dir / "test_img.jpg")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [name for name, _ in measured] == ["torch", "onnxruntime"]
    assert "val mAP: 0.5000 as trained, 0.4925 INT8 (-0.75 points)" in out


def test_val_ap_without_a_val_split_fails_before_exporting(reference_weights, tmp_path, capsys):
    output = tmp_path / "q.onnx"
    assert main(["export", str(reference_weights), "--int8", "--calib", "tests", "--val-ap",
                 "--output", str(output)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("nanodet export: error: --val-ap: the config of "
                       "nanodet-plus-m_320_weights.pth names no data.val split; pass --config "
                       "with one")
    assert not output.exists()
