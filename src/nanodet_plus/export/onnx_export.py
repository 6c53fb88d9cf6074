"""ONNX export with the legacy TorchScript-based exporter, onnxslim simplification and metadata."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from nanodet_plus.errors import ExportError
from nanodet_plus.model_meta import ModelMeta, set_onnx_meta
from nanodet_plus.utils.optional import require

LOGGER = logging.getLogger(__name__)

INPUT_NAME = "data"
OUTPUT_NAME = "output"
DEFAULT_OPSET = 11
QUANT_OPSET = 13


def export_onnx(
    graph: nn.Module,
    dummy: torch.Tensor,
    path: Path,
    meta: ModelMeta,
    output_names: list[str],
    *,
    dynamic: bool = False,
    simplify: bool = True,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Trace ``graph`` on ``dummy`` into ``path`` (input ``data``), simplify, attach ``meta``."""
    onnx = require("onnx", "onnx")
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
        for name in output_names:
            dynamic_axes[name] = {0: "batch", 1: "points"} if name != "detections" else {0: "k"}
    graph.eval()
    with torch.no_grad(), quiet_tracing():
        try:
            torch.onnx.export(
                graph,
                (dummy,),
                str(path),
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                do_constant_folding=True,
            )
        except Exception as exc:
            raise ExportError(f"ONNX export failed: {exc}") from exc
    model = onnx.load(str(path))
    if simplify:
        model = _simplify(model)
    set_onnx_meta(model, meta)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@contextlib.contextmanager
def quiet_tracing() -> Iterator[None]:
    """Silence tracer warnings about shape-dependent Python branches (fixed at export size)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*[Cc]onstant.*folding.*")
        warnings.filterwarnings("ignore", message=r"`torch\.jit\..*` is deprecated")
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based")
        warnings.filterwarnings("ignore", message="The feature will be removed")
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        yield


def _simplify(model):
    """onnxslim-simplified copy of ``model``; the original when onnxslim is missing or fails."""
    try:
        import onnxslim
    except ImportError:
        LOGGER.warning("onnxslim is not installed; writing the unsimplified graph "
                       "(pip install 'nanodet-plus[onnx]')")
        return model
    try:
        return onnxslim.slim(model)
    except Exception as exc:
        LOGGER.warning("onnxslim failed (%s); writing the unsimplified graph", exc)
        return model
