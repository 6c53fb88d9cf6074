"""TorchScript backend: runs a traced ``.torchscript`` file written by ``nanodet export``."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nanodet_plus.errors import CheckpointError, FileMissingError
from nanodet_plus.model_meta import TORCHSCRIPT_META_FILE, ModelMeta, meta_from_dict, to_flat
from nanodet_plus.runtime.base import runtime_reason


class TorchScriptBackend:
    """``torch.jit.load`` on the CPU; metadata from the file's ``nanodet_meta.json`` extra."""

    name = "torchscript"

    def __init__(
        self, path: str | Path, *, threads: int | None = None, meta: ModelMeta | None = None
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileMissingError(f"{self.path}: no such TorchScript file")
        extra = {TORCHSCRIPT_META_FILE: ""}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"`torch\.jit\..*` is deprecated")
            try:
                self.module = torch.jit.load(
                    str(self.path), map_location="cpu", _extra_files=extra
                )
            except RuntimeError as exc:
                raise CheckpointError(f"{self.path}: not a TorchScript file "
                                      f"({runtime_reason(exc)})") from None
        self.module.eval()
        self.threads = threads
        if meta is None:
            if not extra[TORCHSCRIPT_META_FILE]:
                raise CheckpointError(f"{self.path}: no nanodet-plus metadata; export it with "
                                      "'nanodet export --format torchscript'")
            meta = meta_from_dict(json.loads(extra[TORCHSCRIPT_META_FILE]))
        self.meta = meta

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every graph output as numpy arrays."""
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                data = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
                out = self.module(data)
        finally:
            torch.set_num_threads(previous)
        items = out if isinstance(out, (tuple, list)) else (out,)
        return [item.numpy() for item in items]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """``[B, 3, H, W]`` normalised BGR -> raw ``[B, N, C + 4(R+1)]`` (sigmoid scores)."""
        return to_flat(self.run(batch), self.meta)


def create_backend(path: str | Path, threads: int | None = None, **_: Any) -> TorchScriptBackend:
    """Registry factory (``nanodet_plus.runtime.registry``)."""
    return TorchScriptBackend(path, threads=threads)
