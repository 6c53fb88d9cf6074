"""ONNX Runtime backend: runs exported (or official) NanoDet-Plus ``.onnx`` files on CPU."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from nanodet_plus.errors import CheckpointError, FileMissingError
from nanodet_plus.model_meta import ModelMeta, fallback_meta, meta_from_props, to_flat
from nanodet_plus.runtime.base import runtime_reason, with_default_class_names
from nanodet_plus.utils.optional import require

LOGGER = logging.getLogger(__name__)


class OnnxRuntimeBackend:
    """An ``onnxruntime.InferenceSession`` on the CPU provider.

    ``meta`` comes from the file's metadata_props; files without it (official exports) get
    :func:`fallback_meta` from ``config`` or the defaults, and the COCO class names when they
    have 80 classes (as the same weights get in PyTorch). A file ONNX Runtime cannot open is a
    one-line CheckpointError naming it.
    """

    name = "onnxruntime"

    def __init__(
        self,
        path: str | Path,
        *,
        threads: int | None = None,
        config: Any = None,
        meta: ModelMeta | None = None,
    ) -> None:
        ort = require("onnxruntime", "onnx")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileMissingError(f"{self.path}: no such ONNX file")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own classes for every bad file
            raise CheckpointError(f"{self.path}: not a readable ONNX model "
                                  f"({runtime_reason(exc)})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        props = self.session.get_modelmeta().custom_metadata_map
        self.meta = meta or meta_from_props(props) or with_default_class_names(fallback_meta(
            self.path,
            list(self.session.get_inputs()[0].shape),
            list(self.session.get_outputs()[0].shape),
            config,
        ))

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every graph output, in the graph's order."""
        feed = {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}
        return self.session.run(self.output_names, feed)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """``[B, 3, H, W]`` normalised BGR -> raw ``[B, N, C + 4(R+1)]`` (sigmoid scores)."""
        return to_flat(self.run(batch), self.meta)


def create_backend(
    path: str | Path, threads: int | None = None, config: Any = None, **_: Any
) -> OnnxRuntimeBackend:
    """Registry factory (``nanodet_plus.runtime.registry``)."""
    return OnnxRuntimeBackend(path, threads=threads, config=config)
