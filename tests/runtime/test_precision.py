"""The default path picks the fastest verified precision and says so; fp32 stays exact."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from nanodet_plus.errors import UsageError
from nanodet_plus.runtime import precision as precision_module
from nanodet_plus.runtime.detector import Detector
from nanodet_plus.runtime.precision import ScoreDrift, open_fastest, score_drift

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

CONFIG = "nanodet-plus-m_320"


def _messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == precision_module.__name__]


def test_fp32_is_the_exact_runtime_and_logs_one_line(onnx_file, caplog):
    with caplog.at_level(logging.INFO, logger=precision_module.__name__):
        backend = open_fastest(onnx_file, precision="fp32", threads=1)
    assert backend.name == "onnxruntime"
    assert _messages(caplog) == ["m320.onnx: fp32 (ONNX Runtime), as asked"]


@pytest.mark.skipif(not precision_module.native_bf16(), reason="this CPU has no native bf16")
def test_auto_runs_bf16_where_the_cpu_has_it(onnx_file, test_image, caplog):
    with caplog.at_level(logging.INFO, logger=precision_module.__name__):
        fast = Detector.from_file(onnx_file, threads=1, score_thr=0.3)
        messages = _messages(caplog)
    assert fast.fast_resize  # reduced precision: cv2.resize instead of the official warp
    assert not Detector.from_file(onnx_file, threads=1, precision="fp32").fast_resize
    # the same resize, only the precision differs
    exact = Detector.from_file(onnx_file, threads=1, score_thr=0.3, precision="fp32",
                               fast_resize=True)
    assert fast.backend.name == "openvino" and fast.backend.effective_precision == "bf16"
    assert len(messages) == 1 and "m320.onnx: bf16 (OpenVINO" in messages[0]
    assert fast.backend.drift.acceptable and fast.backend.drift.candidates > 0
    fast_dets, exact_dets = fast(test_image), exact(test_image)
    # bf16 moves scores a little: the confident detections stay, in the same places
    confident = exact_dets.scores > 0.4
    assert confident.sum() >= 1
    for box, label in zip(exact_dets.boxes[confident], exact_dets.labels[confident]):
        same = fast_dets.labels == label
        assert same.any()
        assert np.abs(fast_dets.boxes[same] - box).max(axis=1).min() < 4.0


def test_auto_keeps_fp32_without_native_bf16(onnx_file, monkeypatch, caplog):
    monkeypatch.setattr(precision_module, "native_bf16", lambda: False)
    with caplog.at_level(logging.INFO, logger=precision_module.__name__):
        backend = open_fastest(onnx_file, threads=1)
    assert backend.name == "onnxruntime"
    assert _messages(caplog) == [
        "m320.onnx: fp32 (ONNX Runtime): this CPU has no native bf16 (AVX512-BF16 or AMX)"]


def test_auto_falls_back_to_fp32_when_bf16_breaks_the_scores(onnx_file, monkeypatch, caplog):
    monkeypatch.setattr(precision_module, "native_bf16", lambda: True)
    monkeypatch.setattr(precision_module, "score_drift",
                        lambda reference, candidate: ScoreDrift(0.4, 0.9, 12))
    with caplog.at_level(logging.INFO, logger=precision_module.__name__):
        backend = open_fastest(onnx_file, threads=1)
    assert backend.name == "onnxruntime"
    (message,) = _messages(caplog)
    assert "bf16 moved the candidate class scores by 0.4 on average (limit 0.1)" in message


def _as_int8(monkeypatch) -> None:
    """Every backend loaded from now on reports an INT8 file."""
    from nanodet_plus.runtime import registry

    real_load = registry.load_backend

    def int8_load(*args, **kwargs):
        backend = real_load(*args, **kwargs)
        backend.meta.extra["int8"] = True
        return backend

    monkeypatch.setattr(registry, "load_backend", int8_load)


def test_an_onnx_int8_file_runs_as_it_is(onnx_file, monkeypatch, caplog):
    _as_int8(monkeypatch)
    monkeypatch.setattr(precision_module, "native_bf16", lambda: True)
    with caplog.at_level(logging.INFO, logger=precision_module.__name__):
        backend = open_fastest(onnx_file, threads=1)
    assert backend.name == "onnxruntime"
    assert _messages(caplog) == ["m320.onnx: INT8 file, run by ONNX Runtime"]


@pytest.mark.skipif(not precision_module.native_bf16(), reason="this CPU has no native bf16")
def test_an_openvino_int8_file_runs_its_float_layers_in_bf16(onnx_file, monkeypatch, caplog):
    _as_int8(monkeypatch)
    with caplog.at_level(logging.INFO, logger=precision_module.__name__):
        backend = open_fastest(onnx_file, "openvino", threads=1)
        exact = open_fastest(onnx_file, "openvino", threads=1, precision="fp32")
    assert backend.effective_precision == "bf16" and backend.drift.acceptable
    assert exact.effective_precision == "f32"
    first, second = _messages(caplog)
    assert first.startswith("m320.onnx: INT8 file, run by OpenVINO with bf16 for its float "
                            "layers (candidate class scores within ")
    assert second == "m320.onnx: INT8 file, run by OpenVINO"


def test_an_openvino_int8_file_keeps_f32_when_bf16_moves_its_scores(onnx_file, monkeypatch,
                                                                    caplog):
    _as_int8(monkeypatch)
    monkeypatch.setattr(precision_module, "native_bf16", lambda: True)
    monkeypatch.setattr(precision_module, "score_drift",
                        lambda reference, candidate: ScoreDrift(0.4, 0.9, 12))
    with caplog.at_level(logging.INFO, logger=precision_module.__name__):
        backend = open_fastest(onnx_file, "openvino", threads=1)
    assert backend.effective_precision == "f32"
    assert _messages(caplog) == ["m320.onnx: INT8 file, run by OpenVINO (bf16 for its float "
                                 "layers moved the candidate class scores by 0.4 on average)"]


def test_score_drift_compares_candidate_scores(onnx_file):
    backend = open_fastest(onnx_file, precision="fp32", threads=1)
    same = score_drift(backend, backend)
    assert same.mean == 0.0 and same.max == 0.0 and same.candidates > 0

    class Broken:
        meta = backend.meta

        def infer(self, batch):
            return np.full_like(backend.infer(batch), np.nan)

    broken = score_drift(backend, Broken())
    assert not broken.acceptable


def test_bf16_is_refused_for_formats_it_cannot_run(reference_weights):
    with pytest.raises(UsageError, match=r"bf16 runs ONNX \(.onnx\) and OpenVINO \(.xml\)"):
        open_fastest(reference_weights, precision="bf16")


def test_an_unknown_precision_is_refused(onnx_file):
    with pytest.raises(UsageError, match="precision 'int4' is not one of auto, fp32, bf16"):
        open_fastest(onnx_file, precision="int4")


def test_a_checkpoint_runs_folded_and_channels_last_by_default(reference_weights, test_image,
                                                                caplog):
    with caplog.at_level(logging.INFO, logger=precision_module.__name__):
        fast = Detector.from_file(reference_weights, config=CONFIG, score_thr=0.05)
        messages = _messages(caplog)
    exact = Detector.from_file(reference_weights, config=CONFIG, score_thr=0.05,
                               precision="fp32")
    assert len(messages) == 1 and "BatchNorm folded, channels-last" in messages[0]
    graph = fast.backend.model
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in graph.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in exact.backend.model.modules())
    batch = fast.prepare([test_image]).images
    np.testing.assert_allclose(fast.backend.infer(batch), exact.backend.infer(batch),
                               atol=1e-4, rtol=2e-5)

