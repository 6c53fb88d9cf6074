"""Runtime comparison for docs/benchmarks-runtimes.md: ``nanodet benchmark`` at 1 and 2 threads.

Usage: python benchmarks/bench_runtimes.py WEIGHTS [--config nanodet-plus-m_416]
       [--official-onnx FILE] [--runs 100] [--out-dir runs/bench]
Writes one markdown table per thread count into ``--out-dir``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nanodet_plus.cli.main import main as nanodet

BACKENDS = "torch,onnxruntime,openvino,openvino-bf16,ncnn,mnn,onnxruntime-int8"


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    parser.add_argument("--config", default="nanodet-plus-m_416")
    parser.add_argument("--calib", help="calibration images for the INT8 row")
    parser.add_argument("--official-onnx", help="ONNX written by the official export_onnx.py")
    parser.add_argument("--image", help="image to time on")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--out-dir", default="runs/bench")
    args = parser.parse_args(argv)
    backends = BACKENDS if args.calib else BACKENDS.replace(",onnxruntime-int8", "")
    out_dir = Path(args.out_dir)
    for threads in args.threads.split(","):
        command = ["benchmark", args.weights, "--config", args.config, "--backends", backends,
                   "--threads", threads, "--runs", str(args.runs),
                   "--out", str(out_dir / f"runtimes_{threads}thread.md")]
        if args.calib:
            command += ["--calib", args.calib]
        if args.official_onnx:
            command += ["--onnx", f"official-onnx={args.official_onnx}"]
        if args.image:
            command += ["--image", args.image]
        status = nanodet(command)
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(run())
