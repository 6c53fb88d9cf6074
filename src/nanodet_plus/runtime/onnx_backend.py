"""Registry entry for ``.onnx`` files: the ONNX Runtime backend."""

from nanodet_plus.runtime.onnxruntime_backend import OnnxRuntimeBackend, create_backend

__all__ = ["OnnxRuntimeBackend", "create_backend"]
