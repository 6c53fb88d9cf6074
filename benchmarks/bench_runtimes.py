"""Latency of one model on every deployment runtime, side by side in one process.

Exports the weights for each runtime with ``nanodet export`` (checked against PyTorch) and times
them round robin (``nanodet_plus.benchmark.latency``): model only (the runtime on a prepared
batch) and end to end (BGR image -> preprocessing -> model -> decoding, NMS, mapping back ->
Detections), median and p90 in ms. ``auto`` is what ``Detector.from_file`` and ``nanodet
predict`` pick. With the official environment (``--official-venv``: a virtualenv with
the official code, github.com/RangiLyu/nanodet, installed) the official
``tools/export_onnx.py`` also exports the same weights, and ONNX Runtime runs that file
through the same code (row ``official-onnx``).

    python benchmarks/bench_runtimes.py [WEIGHTS] [--config nanodet-plus-m_416]
        [--calib DIR] [--image test_img.jpg] [--runs 100] [--threads 1] [--out FILE]

INT8 rows of weights without matching calibration images (the reference weights) are latency
figures only: the export's accuracy check is relaxed for them and the row says so. Writes
``benchmarks/results/runtimes-DATE.json``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import REPO, Run, add_out_argument  # beside this script

BACKENDS = ("auto", "torch", "onnxruntime", "openvino", "openvino-bf16", "ncnn", "mnn",
            "onnxruntime-int8")
FIGURE = ("Latency of nanodet-plus-m on each runtime, batch 1, 1 thread unless stated: model "
          "only (the runtime on a prepared batch) and end to end (BGR image -> Detections), "
          "median and p90 ms, every runtime timed in alternation in one process")
OFFICIAL_EXPORT = textwrap.dedent(
    """
    import importlib.util, sys
    src, config, weights, out, width, height = sys.argv[1:7]
    spec = importlib.util.spec_from_file_location("export_onnx", src + "/tools/export_onnx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from nanodet.util import cfg, load_config
    load_config(cfg, config)
    cfg.defrost()
    cfg.model.arch.backbone.pretrain = False
    cfg.save_dir = "."
    module.main(cfg, weights, out, (int(height), int(width)))
    """
)


def official_onnx(venv: Path, src: Path, preset: str, weights: Path, size: tuple[int, int],
                  folder: Path) -> Path:
    """The official export_onnx.py's file for ``weights`` (raises if it fails)."""
    out = folder / "official.onnx"
    script = folder / "official_export.py"
    script.write_text(OFFICIAL_EXPORT)
    subprocess.run([str(venv / "bin" / "python"), str(script), str(src),
                    str(src / "config" / f"{preset}.yml"), str(weights.resolve()), str(out),
                    str(size[0]), str(size[1])],
                   cwd=folder, check=True, capture_output=True, timeout=600)
    return out


def max_difference(ours, theirs, size: tuple[int, int]) -> float:
    """Largest absolute difference of two backends' raw outputs on one seeded batch."""
    import numpy as np

    batch = np.random.default_rng(0).standard_normal((1, 3, size[1], size[0]))
    batch = batch.astype(np.float32)
    return float(np.abs(np.asarray(ours.infer(batch)) - np.asarray(theirs.infer(batch))).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="?",
                        default=str(REPO / "tests/assets/reference/nanodet-plus-m_320_weights.pth"))
    parser.add_argument("--config", default="nanodet-plus-m_416")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--calib", default=str(REPO / "tests/assets/official-samples"),
                        help="calibration images for the INT8 row")
    parser.add_argument("--image", default=str(REPO / "tests/assets/official-samples/test_img.jpg"))
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--official-venv", type=Path, default=Path("/tmp/nanodet-official-venv"))
    parser.add_argument("--official-src", type=Path, default=Path("/tmp/nanodet-src"))
    add_out_argument(parser, "runtimes")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)

    import cv2
    import torch

    from nanodet_plus.benchmark.latency import (
        open_backends,
        run_benchmark,
        timing_only_int8_exports,
    )
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.runtime.onnxruntime_backend import OnnxRuntimeBackend

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    image = cv2.imread(args.image, cv2.IMREAD_COLOR)
    size = tuple(load_config(args.config).data.input_size)
    names = [name for name in args.backends.split(",") if name]
    notes: list[str] = []
    official_diff = None
    with tempfile.TemporaryDirectory(prefix="bench-runtimes-") as tmp:
        folder = Path(tmp)
        with timing_only_int8_exports():
            backends = open_backends(args.weights, names, folder, input_size=size,
                                     threads=args.threads, config=args.config, calib=args.calib)
        if (args.official_venv / "bin" / "python").is_file() and args.official_src.is_dir():
            try:
                path = official_onnx(args.official_venv, args.official_src, args.config,
                                     Path(args.weights), size, folder)
                backends["official-onnx"] = OnnxRuntimeBackend(path, threads=args.threads,
                                                               config=args.config)
                if not isinstance(backends.get("onnxruntime"), str | None):
                    official_diff = max_difference(backends["onnxruntime"],
                                                   backends["official-onnx"], size)
            except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
                notes.append(f"official export failed: {exc}")
        else:
            notes.append("no official environment: no official-onnx row")
        rows = run_benchmark(backends, image, threads=args.threads, runs=args.runs,
                             warmup=args.warmup)
    for row in rows:
        shown = row.error or f"model {row.model_median_ms:.2f} ms, e2e {row.e2e_median_ms:.2f} ms"
        print(f"{row.backend:18s} {row.note or '':40s} {shown}")
    run.save(args.out, "runtimes", FIGURE, {
        "model": args.config, "weights": Path(args.weights).name, "input": list(size),
        "image": Path(args.image).name, "threads": args.threads, "runs": args.runs,
        "calib": str(Path(args.calib).resolve().relative_to(REPO))
        if Path(args.calib).resolve().is_relative_to(REPO) else args.calib,
        "warmup": args.warmup, "official_onnx_max_difference": official_diff, "notes": notes,
        "rows": [{"backend": row.backend, "note": row.note, "error": row.error,
                  "model_median_ms": row.model_median_ms, "model_p90_ms": row.model_p90_ms,
                  "e2e_median_ms": row.e2e_median_ms, "e2e_p90_ms": row.e2e_p90_ms}
                 for row in rows]},
        runtimes=("onnxruntime", "openvino", "ncnn", "mnn", "nncf"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
