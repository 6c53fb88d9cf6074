"""OpenVINO takes the warped uint8 image and normalises inside the model: same detections as
the float path, and the float path stays for images that need padding."""

from __future__ import annotations

import numpy as np
import pytest

from nanodet_plus.runtime.detector import Detector
from nanodet_plus.runtime.registry import load_backend

pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")


def _spy(backend) -> list[tuple[int, ...]]:
    calls: list[tuple[int, ...]] = []
    real = backend.infer_uint8

    def recording(images):
        calls.append(images.shape)
        return real(images)

    backend.infer_uint8 = recording
    return calls


def test_uint8_input_matches_the_float_path(onnx_file, test_image):
    exact = Detector(load_backend(onnx_file, threads=1), score_thr=0.05)
    backend = load_backend(onnx_file, "openvino", threads=1)
    calls = _spy(backend)
    fast = Detector(backend, score_thr=0.05)
    expected, result = exact(test_image), fast(test_image)
    assert calls == [(1, 320, 320, 3)]
    assert len(expected) > 10 and len(result) == len(expected)
    np.testing.assert_array_equal(result.labels, expected.labels)
    np.testing.assert_allclose(result.scores, expected.scores, atol=1e-4)
    np.testing.assert_allclose(result.boxes, expected.boxes, atol=1e-2)


def test_images_that_need_padding_take_the_float_path(onnx_file, test_image):
    backend = load_backend(onnx_file, "openvino", threads=1)
    calls = _spy(backend)
    kept = Detector(backend, score_thr=0.05, keep_ratio=True)(test_image)  # 360x404: padded
    exact = Detector(load_backend(onnx_file, threads=1), score_thr=0.05,
                     keep_ratio=True)(test_image)
    assert calls == []
    np.testing.assert_allclose(kept.scores, exact.scores, atol=1e-4)


def test_detections_outlive_the_reused_output_buffer(onnx_file, test_image):
    detector = Detector(load_backend(onnx_file, "openvino", threads=1), score_thr=0.05)
    first = detector(test_image)
    boxes, scores = first.boxes.copy(), first.scores.copy()
    detector(np.ascontiguousarray(test_image[::-1]))  # another image through the same request
    assert len(boxes) > 10
    np.testing.assert_array_equal(first.boxes, boxes)
    np.testing.assert_array_equal(first.scores, scores)
