"""MNN backend: runs a converted ``.mnn`` file through MNN's module API at high precision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nanodet_plus.errors import CheckpointError, FileMissingError
from nanodet_plus.model_meta import ModelMeta, read_sidecar, sidecar_path, to_flat
from nanodet_plus.utils.optional import require


class MnnBackend:
    """``MNN.nn`` module on the CPU with ``precision=high`` (fp32, parity with PyTorch)."""

    name = "mnn"

    def __init__(
        self, path: str | Path, *, threads: int | None = None, meta: ModelMeta | None = None
    ) -> None:
        mnn = require("MNN", "mnn")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileMissingError(f"{self.path}: no such MNN file")
        meta = meta or read_sidecar(self.path)
        if meta is None:
            raise CheckpointError(f"{self.path}: metadata {sidecar_path(self.path)} not found; "
                                  "export with 'nanodet export --format mnn'")
        self.meta = meta
        self._expr = mnn.expr
        config = {"backend": "CPU", "precision": "high", "numThread": int(threads or 1)}
        runtime = mnn.nn.create_runtime_manager((config,))
        self.module = mnn.nn.load_module_from_file(str(self.path), [], [],
                                                   runtime_manager=runtime)

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every graph output, in the graph's order."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        data = self._expr.const(batch, list(batch.shape), self._expr.NCHW)
        outputs = self.module.forward([data])
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return [np.array(out.read(), dtype=np.float32) for out in outputs]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """``[B, 3, H, W]`` normalised BGR -> raw ``[B, N, C + 4(R+1)]`` (sigmoid scores)."""
        return to_flat(self.run(batch), self.meta)


def create_backend(path: str | Path, threads: int | None = None, **_: Any) -> MnnBackend:
    """Registry factory (``nanodet_plus.runtime.registry``)."""
    return MnnBackend(path, threads=threads)
