"""PyTorch -> ncnn through the pnnx converter (offline, fp32 weights: pnnx's default fp16
storage moves outputs by ~1e-2, beyond the parity tolerance)."""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path

import torch

from nanodet_plus.errors import ExportError
from nanodet_plus.export.onnx_export import quiet_tracing
from nanodet_plus.model_meta import ModelMeta
from nanodet_plus.utils.optional import require

LOGGER = logging.getLogger(__name__)


def torch_to_ncnn(
    graph: torch.nn.Module,
    dummy: torch.Tensor,
    param_path: Path,
    meta: ModelMeta,
    output_names: list[str],
) -> list[Path]:
    """Trace ``graph`` and convert it to ``param_path`` + ``.bin``; returns both paths."""
    pnnx = require("pnnx", "ncnn")
    param_path = param_path.resolve()  # pnnx runs in its own folder: relative paths would miss
    bin_path = param_path.with_suffix(".bin")
    with tempfile.TemporaryDirectory(prefix="pnnx-") as work:
        work_dir = Path(work)
        traced_path = work_dir / "graph.pt"
        with torch.no_grad(), quiet_tracing():
            traced = torch.jit.trace(graph, dummy, check_trace=False)
        traced.save(str(traced_path))
        shape = ",".join(str(d) for d in dummy.shape)
        command = [
            pnnx.EXEC_PATH,
            str(traced_path),
            f"inputshape=[{shape}]f32",
            "device=cpu",
            "fp16=0",
            f"ncnnparam={param_path}",
            f"ncnnbin={bin_path}",
            f"pnnxparam={work_dir / 'graph.pnnx.param'}",
            f"pnnxbin={work_dir / 'graph.pnnx.bin'}",
            f"pnnxpy={work_dir / 'graph_pnnx.py'}",
            f"pnnxonnx={work_dir / 'graph.pnnx.onnx'}",
            f"ncnnpy={work_dir / 'graph_ncnn.py'}",
        ]
        result = subprocess.run(command, capture_output=True, text=True, cwd=work, check=False)
        if result.returncode != 0 or not param_path.is_file() or not bin_path.is_file():
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ExportError(f"pnnx could not convert the model to ncnn: {tail[0]}")
    LOGGER.debug("pnnx wrote %s", param_path)
    return [param_path, bin_path]
