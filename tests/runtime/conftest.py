"""Fixtures shared by the runtime tests: the official test image and a 320x320 ONNX export of
the reference weights."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


@pytest.fixture(scope="session")
def test_image(samples_dir) -> np.ndarray:
    """The official sample image (360x404 BGR); read-only."""
    image = cv2.imread(str(samples_dir / "test_img.jpg"), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (404, 360, 3)
    image.flags.writeable = False
    return image


@pytest.fixture(scope="session")
def onnx_file(tmp_path_factory, reference_weights) -> Path:
    """The reference weights exported to ONNX at 320x320 (``m320.onnx``)."""
    pytest.importorskip("onnxruntime")
    from nanodet_plus.export.exporter import ExportOptions, export_model

    output = tmp_path_factory.mktemp("runtime") / "m320.onnx"
    export_model(reference_weights, ExportOptions(format="onnx", config="nanodet-plus-m_320",
                                                  output=output))
    return output
