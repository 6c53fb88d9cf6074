"""ncnn backend: runs a pnnx-converted ``.param`` + ``.bin`` pair, one image at a time.

pnnx renames blobs (``in0``, ``out0``...) and ncnn has no batch dimension; this backend reads
the blob names from the param file, loops over the batch and restores the batch axis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nanodet_plus.errors import CheckpointError, FileMissingError
from nanodet_plus.model_meta import ModelMeta, read_sidecar, sidecar_path, to_flat
from nanodet_plus.utils.optional import require


def param_blob_names(param_path: Path) -> tuple[list[str], list[str]]:
    """Input blob names (``Input`` layers) and output blob names (consumed by no layer)."""
    lines = param_path.read_text().splitlines()
    if not lines or lines[0].strip() != "7767517":
        raise CheckpointError(f"{param_path}: not an ncnn param file")
    inputs: list[str] = []
    produced: list[str] = []
    consumed: set[str] = set()
    for line in lines[2:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        layer_type, n_in, n_out = fields[0], int(fields[2]), int(fields[3])
        bottoms = fields[4 : 4 + n_in]
        tops = fields[4 + n_in : 4 + n_in + n_out]
        consumed.update(bottoms)
        produced.extend(tops)
        if layer_type == "Input":
            inputs.extend(tops)
    outputs = [name for name in produced if name not in consumed]
    return inputs, outputs


class NcnnBackend:
    """An ``ncnn.Net`` with fp16 storage and arithmetic off (fp32 parity with PyTorch)."""

    name = "ncnn"

    def __init__(
        self, path: str | Path, *, threads: int | None = None, meta: ModelMeta | None = None
    ) -> None:
        ncnn = require("ncnn", "ncnn")
        self.path = Path(path)
        bin_path = self.path.with_suffix(".bin")
        for file in (self.path, bin_path):
            if not file.is_file():
                raise FileMissingError(f"{file}: ncnn model file not found")
        meta = meta or read_sidecar(self.path)
        if meta is None:
            raise CheckpointError(f"{self.path}: metadata {sidecar_path(self.path)} not found; "
                                  "export with 'nanodet export --format ncnn'")
        self.meta = meta
        self._ncnn = ncnn
        self.net = ncnn.Net()
        self.net.opt.use_fp16_packed = False
        self.net.opt.use_fp16_storage = False
        self.net.opt.use_fp16_arithmetic = False
        self.net.opt.use_bf16_storage = False
        self.net.opt.use_vulkan_compute = False
        if threads:
            self.net.opt.num_threads = int(threads)
        if self.net.load_param(str(self.path)) != 0 or self.net.load_model(str(bin_path)) != 0:
            raise CheckpointError(f"{self.path}: ncnn could not load the model")
        self.input_names, self.output_names = param_blob_names(self.path)
        self.output_names.sort(key=lambda name: int(name[3:]) if name[3:].isdigit() else 0)

    def _run_one(self, chw: np.ndarray) -> list[np.ndarray]:
        extractor = self.net.create_extractor()
        extractor.input(self.input_names[0], self._ncnn.Mat(np.ascontiguousarray(chw)))
        outputs = []
        for name in self.output_names:
            status, mat = extractor.extract(name)
            if status != 0:
                raise RuntimeError(f"{self.path}: ncnn failed to compute blob {name}")
            outputs.append(np.array(mat)[None])
        return outputs

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Every graph output with the batch axis restored."""
        batch = np.asarray(batch, dtype=np.float32)
        per_image = [self._run_one(image) for image in batch]
        return [np.concatenate(parts, axis=0) for parts in zip(*per_image)]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """``[B, 3, H, W]`` normalised BGR -> raw ``[B, N, C + 4(R+1)]`` (sigmoid scores)."""
        return to_flat(self.run(batch), self.meta)


def create_backend(path: str | Path, threads: int | None = None, **_: Any) -> NcnnBackend:
    """Registry factory (``nanodet_plus.runtime.registry``)."""
    return NcnnBackend(path, threads=threads)
