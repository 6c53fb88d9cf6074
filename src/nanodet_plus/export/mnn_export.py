"""ONNX -> MNN with the converter inside the MNN wheel's ``_tools`` extension, in-process.

The wheel's ``mnnconvert``/``mnnquant`` scripts and the ``MNN.tools`` package are never used:
importing them runs ``pip install`` and sends usage logs over the network.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from nanodet_plus.errors import ExportError, MissingDependencyError


@contextlib.contextmanager
def _captured_stdout() -> Iterator[list[str]]:
    """Collect what C++ code prints on file descriptor 1 (the converter's progress lines)."""
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(1)
        try:
            os.dup2(sink.fileno(), 1)
            yield lines
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode(errors="replace").splitlines())


def _converter():
    """The ``_tools`` extension of the MNN wheel (not ``MNN.tools``)."""
    try:
        return importlib.import_module("_tools")
    except ImportError as exc:
        raise MissingDependencyError(
            "MNN is not installed; run: pip install 'nanodet-plus[mnn]'"
        ) from exc


def onnx_to_mnn(onnx_path: Path, mnn_path: Path) -> Path:
    """Convert ``onnx_path`` to ``mnn_path`` (fp32 weights) without leaving the process."""
    tools = _converter()
    args = ["mnnconvert", "-f", "ONNX", "--modelFile", str(onnx_path),
            "--MNNModel", str(mnn_path), "--bizCode", "nanodet-plus"]
    with _captured_stdout() as lines:
        ok = tools.mnnconvert(args)
    if not ok or not mnn_path.is_file():
        tail = lines[-1] if lines else "no output"
        raise ExportError(f"MNN converter failed on {onnx_path.name}: {tail}")
    return mnn_path
