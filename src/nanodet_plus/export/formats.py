"""One writer per export format: trace/convert into a staging path and open the result on its
own runtime so the caller can verify it. Heavy packages are imported inside each writer."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nanodet_plus.errors import ExportError
from nanodet_plus.export.onnx_export import (
    DEFAULT_OPSET,
    QUANT_OPSET,
    export_onnx,
    quiet_tracing,
)
from nanodet_plus.model_meta import TORCHSCRIPT_META_FILE, ModelMeta, meta_to_dict, write_sidecar

LOGGER = logging.getLogger(__name__)

VERIFY_THREADS = 1  # one image: start-up dominates, and spinning threads only add load


def _stem(staged: Path) -> Path:
    """``dir/model.ncnn.param`` -> ``dir/model.ncnn`` (the path without its last suffix)."""
    return staged.with_suffix("")


def write_onnx(graph, batch, staged: Path, meta: ModelMeta, output_names, options):
    """ONNX file (opset 11; 13 when quantising), verified with onnxruntime."""
    from nanodet_plus.runtime.onnxruntime_backend import OnnxRuntimeBackend

    opset = options.opset or (QUANT_OPSET if options.int8 else DEFAULT_OPSET)
    dummy = torch.from_numpy(batch)
    if options.int8:
        from nanodet_plus.export.quantize import quantize_onnx

        fp32 = staged.with_name(staged.stem + ".fp32.onnx")
        export_onnx(graph, dummy, fp32, meta, output_names, dynamic=options.dynamic,
                    simplify=options.simplify, opset=opset)
        quantize_onnx(fp32, staged, options.calib, meta, max_images=options.calib_images)
        fp32.unlink()
    else:
        export_onnx(graph, dummy, staged, meta, output_names, dynamic=options.dynamic,
                    simplify=options.simplify, opset=opset)
    return [staged], OnnxRuntimeBackend(staged, meta=meta, threads=VERIFY_THREADS)


def write_torchscript(graph, batch, staged: Path, meta: ModelMeta, output_names, options):
    """Traced TorchScript with the metadata as an extra file, verified with ``torch.jit.load``."""
    from nanodet_plus.runtime.torchscript_backend import TorchScriptBackend

    with torch.no_grad(), quiet_tracing():
        traced = torch.jit.trace(graph, torch.from_numpy(batch), check_trace=False)
    extra = {TORCHSCRIPT_META_FILE: json.dumps(meta_to_dict(meta))}
    with quiet_tracing():
        torch.jit.save(traced, str(staged), _extra_files=extra)
    return [staged], TorchScriptBackend(staged, threads=VERIFY_THREADS)


def write_openvino(graph, batch, staged: Path, meta: ModelMeta, output_names, options):
    """OpenVINO IR (xml + bin) read from the ONNX export, metadata in its rt_info; with
    ``int8``, quantised by NNCF before it is saved."""
    from nanodet_plus.export.openvino_export import onnx_to_openvino
    from nanodet_plus.runtime.openvino_backend import OpenVinoBackend

    onnx_path = staged.with_suffix(".onnx")
    export_onnx(graph, torch.from_numpy(batch), onnx_path, meta, output_names,
                dynamic=options.dynamic, simplify=options.simplify,
                opset=options.opset or DEFAULT_OPSET)
    quantize = None
    if options.int8:
        from nanodet_plus.export.quantize import quantize_openvino

        def quantize(model):
            return quantize_openvino(model, options.calib, meta,
                                     max_images=options.calib_images)
    files = onnx_to_openvino(onnx_path, staged, meta, transform=quantize)
    onnx_path.unlink()
    return files, OpenVinoBackend(staged, meta=meta, threads=VERIFY_THREADS)


def write_ncnn(graph, batch, staged: Path, meta: ModelMeta, output_names, options):
    """ncnn param/bin via pnnx (fp32 weights), metadata in a sidecar json."""
    from nanodet_plus.export.ncnn_export import torch_to_ncnn
    from nanodet_plus.runtime.ncnn_backend import NcnnBackend

    files = torch_to_ncnn(graph, torch.from_numpy(batch[:1]), staged, meta, output_names)
    files.append(write_sidecar(meta, staged))
    return files, NcnnBackend(staged, meta=meta, threads=VERIFY_THREADS)


def write_mnn(graph, batch, staged: Path, meta: ModelMeta, output_names, options):
    """MNN model converted from the ONNX export in-process, metadata in a sidecar json."""
    from nanodet_plus.export.mnn_export import onnx_to_mnn
    from nanodet_plus.runtime.mnn_backend import MnnBackend

    onnx_path = staged.with_suffix(".onnx")
    export_onnx(graph, torch.from_numpy(batch), onnx_path, meta, output_names,
                dynamic=False, simplify=options.simplify, opset=options.opset or DEFAULT_OPSET)
    onnx_to_mnn(onnx_path, staged)
    onnx_path.unlink()
    sidecar = write_sidecar(meta, staged)
    return [staged, sidecar], MnnBackend(staged, meta=meta, threads=VERIFY_THREADS)


WRITERS = {
    "onnx": write_onnx,
    "torchscript": write_torchscript,
    "openvino": write_openvino,
    "ncnn": write_ncnn,
    "mnn": write_mnn,
}


def write(fmt: str, graph, batch: np.ndarray, staged: Path, meta: ModelMeta,
          output_names: list[str], options: Any):
    """Dispatch to the writer of ``fmt``; returns (files, opened backend with ``run``)."""
    try:
        writer = WRITERS[fmt]
    except KeyError:
        raise ExportError(f"unsupported export format '{fmt}'") from None
    return writer(graph, batch, staged, meta, output_names, options)


MIN_CANDIDATES_CHECKED = 10  # fewer fp32 candidates on the check image: no ratio test


def check_int8(expected: list[np.ndarray], actual: list[np.ndarray], meta: ModelMeta):
    """INT8 cannot match fp32 to 1e-4: refuse only when the class scores drift on average."""
    from nanodet_plus.export.quantize import INT8_SCORE_TOLERANCE

    want, got = expected[0], np.asarray(actual[0])
    if want.shape != got.shape:
        raise ExportError(f"int8 export output shape {got.shape} != PyTorch {want.shape}")
    c = meta.num_classes
    score_diff = np.abs(want[..., :c] - got[..., :c])
    mean_diff = float(score_diff.mean())
    if mean_diff > INT8_SCORE_TOLERANCE:
        raise ExportError(
            f"int8 export drifts too far from PyTorch: mean class score difference "
            f"{mean_diff:.3g} > {INT8_SCORE_TOLERANCE}; use more or more typical --calib images"
        )
    candidates = int((want[..., :c] > 0.05).sum()), int((got[..., :c] > 0.05).sum())
    # The mean over every score hides a collapse of the few that matter: refuse an export
    # that keeps less than half (or more than twice) the candidates of fp32.
    if candidates[0] >= MIN_CANDIDATES_CHECKED and not (
        0.5 <= candidates[1] / candidates[0] <= 2.0
    ):
        raise ExportError(
            f"int8 export changes the detections: {candidates[1]} class scores above 0.05 "
            f"against {candidates[0]} in fp32 on the check image; calibrate on more images "
            "like the ones the model will see (--calib)"
        )
    note = (f"int8: class score difference mean {mean_diff:.3g}, max {score_diff.max():.3g}; "
            f"candidates above 0.05: fp32 {candidates[0]}, int8 {candidates[1]}")
    return mean_diff, note
