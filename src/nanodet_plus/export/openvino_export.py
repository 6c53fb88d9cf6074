"""ONNX -> OpenVINO IR with ``Core().read_model`` and ``save_model`` (no ``convert_model``, whose
tool chain carries telemetry). Weights stay fp32 so the IR matches PyTorch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nanodet_plus.model_meta import ModelMeta, set_rt_info_meta
from nanodet_plus.utils.optional import require


def onnx_to_openvino(
    onnx_path: Path, xml_path: Path, meta: ModelMeta, transform: Callable | None = None
) -> list[Path]:
    """Write ``xml_path`` and its ``.bin`` from ``onnx_path``, metadata in rt_info;
    ``transform(model) -> model`` (e.g. INT8 quantisation) runs before saving."""
    ov = require("openvino", "openvino")
    model = ov.Core().read_model(str(onnx_path))
    if transform is not None:
        model = transform(model)
    set_rt_info_meta(model, meta)
    ov.save_model(model, str(xml_path), compress_to_fp16=False)
    return [xml_path, xml_path.with_suffix(".bin")]
