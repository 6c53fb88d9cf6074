"""INT8 post-training quantisation calibrated on real images, for two runtimes:

- ONNX Runtime: static QDQ (U8 activations, S8 per-channel weights, opset 13);
- OpenVINO: NNCF post-training quantisation of the IR (the optional ``nncf`` extra, which adds
  scikit-learn, scipy, networkx and ninja), which the OpenVINO CPU plugin runs faster than the
  QDQ file (benchmarks/results/peers-*.md).

The QDQ file keeps the head's output stage in float (:func:`output_stage_nodes`). Dynamic
quantisation is not offered: on this model it runs slower than fp32.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nanodet_plus.errors import ExportError
from nanodet_plus.model_meta import ModelMeta, read_onnx_meta, set_onnx_meta
from nanodet_plus.utils.optional import require

LOGGER = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# Largest mean absolute class-score difference to fp32 PyTorch accepted for an INT8 export
# (single scores can move a lot under INT8, so the max is reported, not enforced).
INT8_SCORE_TOLERANCE = 0.02


def calibration_images(source: Any, limit: int = 100) -> list[Path]:
    """Image paths for calibration: a folder (searched recursively), an image file, or a
    config/preset whose val (else train) dataset folder is used. At least one of them must
    decode (checked up to the first that does), so that an export never calibrates on none."""
    images = _calibration_paths(source, limit)
    if not any(_decodes(path) for path in images):
        raise ExportError(f"{source}: none of the {len(images)} calibration image(s) could be "
                          f"read (the first: {images[0]})")
    return images


def _decodes(path: Path) -> bool:
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_COLOR) is not None


def _calibration_paths(source: Any, limit: int) -> list[Path]:
    if source is None:
        raise ExportError("INT8 export needs calibration images: pass --calib DIR|CONFIG")
    path = Path(str(source))
    if path.is_dir():
        folder = path
    elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        return [path]
    else:
        from nanodet_plus.config.loader import load_config

        cfg = load_config(source)
        dataset = cfg.data.val or cfg.data.train
        if dataset is None or not dataset.img_path:
            raise ExportError(f"{source}: the config names no dataset images for calibration")
        folder = Path(dataset.img_path)
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ExportError(f"{folder}: no calibration images found ({', '.join(IMAGE_SUFFIXES)})")
    if len(images) > limit:
        step = len(images) / limit
        images = [images[int(i * step)] for i in range(limit)]
    return images


def calibration_batches(images: list[Path], meta: ModelMeta) -> Iterator[np.ndarray]:
    """Each image preprocessed exactly as :class:`Detector` does, as a batch of the meta's size."""
    import cv2

    from nanodet_plus.data.preprocess import preprocess

    batch_size = meta.batch_size or 1
    for path in images:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            LOGGER.warning("%s: unreadable, skipped for calibration", path)
            continue
        prepared = preprocess([image], tuple(meta.input_size), keep_ratio=meta.keep_ratio,
                              mean=meta.mean, std=meta.std, min_wh=tuple(meta.input_size))
        batch = prepared.images.astype(np.float32)
        yield np.repeat(batch, batch_size, axis=0) if batch_size > 1 else batch


def output_stage_nodes(model: Any) -> list[str]:
    """Graph nodes from the head's output convolutions on (``gfl_cls``, sigmoid, slicing,
    concatenation, reshape, transpose), which stay in float.

    The output tensor holds scores in [0, 1] next to distance logits spanning tens of units: one
    8-bit scale for both quantises the scores in steps of about 0.1. Keeping this stage in fp32
    costs four small convolutions and removes most of the INT8 score error.
    """
    return [node.name for node in model.graph.node
            if node.name.startswith("/head/") and not node.name.startswith("/head/cls_convs")]


def quantize_onnx(
    fp32_path: Path, int8_path: Path, calib: Any, meta: ModelMeta, max_images: int = 100
) -> Path:
    """Static QDQ quantisation of ``fp32_path`` into ``int8_path`` (metadata kept)."""
    require("onnxruntime", "onnx")
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from nanodet_plus.export.onnx_export import INPUT_NAME

    images = calibration_images(calib, max_images)
    LOGGER.info("calibrating INT8 on %d images", len(images))

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = calibration_batches(images, meta)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {INPUT_NAME: batch}

    onnx = require("onnx", "onnx")
    excluded = output_stage_nodes(onnx.load(str(fp32_path)))
    quantize_static(
        str(fp32_path),
        str(int8_path),
        _Reader(),
        nodes_to_exclude=excluded,
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        calibrate_method=CalibrationMethod.MinMax,
    )
    model = onnx.load(str(int8_path))
    set_onnx_meta(model, read_onnx_meta(fp32_path) or meta)
    onnx.save(model, str(int8_path))
    return int8_path



def quantize_openvino(model: Any, calib: Any, meta: ModelMeta, max_images: int = 100) -> Any:
    """NNCF post-training INT8 of the OpenVINO ``model`` (default preset: symmetric
    activations, per-channel weights), with the depthwise convolutions' inputs left in float
    (:func:`float_depthwise_inputs`).

    Unlike the QDQ file, the head's output convolutions are quantised too: NNCF quantises a
    convolution's input and weights, never the output tensor that mixes scores and distance
    logits. Measured on the demo model: val mAP 0.284 against 0.282 with them in float, and
    0.6 ms faster at 416 (Zen 4, 1 thread).
    """
    nncf = require("nncf", "nncf")
    images = calibration_images(calib, max_images)
    LOGGER.info("calibrating INT8 (NNCF) on %d images", len(images))
    batches = list(calibration_batches(images, meta))
    if not batches:
        raise ExportError(f"{calib}: no calibration image could be read")
    quantized = nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches))
    float_depthwise_inputs(quantized)
    return quantized


def float_depthwise_inputs(model: Any) -> int:
    """Feed every depthwise convolution of a quantised OpenVINO ``model`` the float tensor
    in front of its input quantiser; returns how many were rewired (in place).

    OpenVINO's CPU plugin runs depthwise convolutions in float even when NNCF quantises them
    (``brgconv_avx512_dw_f32`` on the Zen 4 machine, benchmarks/results/profile-*.json); their
    input quantiser then only adds a float quantise-dequantise to the convolution in front of
    them (0.6 ms of 10.9 at 416, 1 thread). Their outputs stay quantised for the next layer,
    and the other layers are unchanged. On CPUs where OpenVINO does run depthwise convolutions
    in INT8 (it accepts signed inputs for them only with AMX), this was not measured.
    """
    rewired = 0
    for node in model.get_ordered_ops():
        if node.get_type_name() != "GroupConvolution" or not _is_depthwise(node):
            continue
        source = node.input_value(0).get_node()
        if source.get_type_name() == "FakeQuantize":
            node.input(0).replace_source_output(source.input_value(0))
            rewired += 1
    return rewired


def _is_depthwise(node: Any) -> bool:
    """A GroupConvolution whose groups have one input and one output channel each."""
    weights = node.get_input_partial_shape(1)  # [groups, out / groups, in / groups, kh, kw]
    return (weights.rank.is_static and weights.rank.get_length() >= 3
            and weights[1].is_static and weights[1].get_length() == 1
            and weights[2].is_static and weights[2].get_length() == 1)
