"""Optional runtime packages (onnx, onnxruntime, openvino, ncnn, MNN): imported on first use,
with an error that names the pip extra when one is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from nanodet_plus.errors import MissingDependencyError


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming ``nanodet-plus[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module} is not installed; run: pip install 'nanodet-plus[{extra}]'"
        ) from exc
