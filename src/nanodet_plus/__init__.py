"""nanodet-plus: the NanoDet-Plus anchor-free detector, from training to deployment.

Public API::

    import nanodet_plus as nd
    model = nd.build_model("nanodet-plus-m_416", num_classes=80)
    nd.load_weights(model, "nanodet-plus-m_416.pth")
    det = nd.Detector(model, input_size=(416, 416))
    result = det("image.jpg")

Importing the package loads nothing heavy; each name is imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "build_model": "nanodet_plus.models.factory",
    "load_weights": "nanodet_plus.models.weights",
    "Detector": "nanodet_plus.runtime.detector",
    "Detections": "nanodet_plus.structures",
    "load_config": "nanodet_plus.config.loader",
    "Config": "nanodet_plus.config.schema",
    "list_presets": "nanodet_plus.config.loader",
    "train": "nanodet_plus.engine.trainer",
    "TrainResult": "nanodet_plus.engine.trainer",
    "export_model": "nanodet_plus.export.exporter",
    "ExportOptions": "nanodet_plus.export.exporter",
    "ExportResult": "nanodet_plus.export.exporter",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nanodet_plus' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
