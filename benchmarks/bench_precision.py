"""Accuracy and speed of every precision a user can deploy, on trained models and their val sets.

For each ``--model NAME=RUN_FOLDER`` (a training run folder with ``model_best.pth`` and
``config.yaml``), the model is exported once to fp32 ONNX and once to INT8 (ONNX Runtime static
QDQ, calibrated on up to 100 train images), then every variant below is evaluated on the run's
val split (COCO mAP, score threshold 0.05) and timed model-only, interleaved, at ``--threads``:

- ``onnxruntime fp32``: the exact path (``--precision fp32``)
- ``openvino f32`` and ``openvino bf16`` (bf16 only where the CPU has it natively): what the
  default path (``precision="auto"``) picks on such a CPU
- ``onnxruntime int8``: ``nanodet export --int8``
- ``openvino int8 (nncf)``, f32 and bf16 hints: when the ``nncf`` package is installed

Usage: python benchmarks/bench_precision.py --model demo=runs/demo/train \
           [--model digits=RUN] [--imgsz 416 416] [--threads 1] [--runs 50]
Writes ``benchmarks/results/precision-DATE.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Run, add_out_argument  # beside this script

FIGURE = ("Accuracy and speed of each deployable precision on trained models: COCO mAP on each "
          "model's val split (score threshold 0.05), its change from ONNX Runtime fp32 in "
          "points, and model-only median latency, variants timed in alternation")

Opener = Callable[[dict[str, Path], int], Any]


def _ort(files: dict[str, Path], threads: int, key: str = "fp32") -> Any:
    from nanodet_plus.runtime.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(files[key], threads=threads)


def _openvino(files: dict[str, Path], threads: int, key: str = "fp32",
              precision: str = "f32") -> Any:
    from nanodet_plus.runtime.openvino_backend import OpenVinoBackend

    backend = OpenVinoBackend(files[key], threads=threads, precision=precision)
    if backend.effective_precision != precision:
        raise RuntimeError(f"OpenVINO ran {backend.effective_precision}, not {precision}")
    return backend


VARIANTS: dict[str, Opener] = {
    "onnxruntime fp32": lambda f, t: _ort(f, t),
    "openvino f32": lambda f, t: _openvino(f, t),
    "openvino bf16": lambda f, t: _openvino(f, t, precision="bf16"),
    "onnxruntime int8 (QDQ)": lambda f, t: _ort(f, t, "int8"),
    "openvino int8 (nncf)": lambda f, t: _openvino(f, t, "nncf"),
    "openvino int8 (nncf) + bf16": lambda f, t: _openvino(f, t, "nncf", "bf16"),
}


def export_files(run: Path, work: Path, imgsz: tuple[int, int] | None) -> dict[str, Path]:
    """fp32 ONNX, INT8 QDQ ONNX and (with nncf installed) an NNCF INT8 OpenVINO IR."""
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.export.exporter import ExportOptions, export_model

    config = load_config(str(run / "config.yaml"))
    calib = config.data.train.img_path
    work.mkdir(parents=True, exist_ok=True)
    size = tuple(imgsz) if imgsz else tuple(config.data.input_size)
    files: dict[str, Path] = {}
    common = {"config": str(run / "config.yaml"), "input_size": size, "force": True}
    files["fp32"] = export_model(run / "model_best.pth", ExportOptions(
        format="onnx", output=work / "model.onnx", **common)).path
    files["int8"] = export_model(run / "model_best.pth", ExportOptions(
        format="onnx", output=work / "model.int8.onnx", int8=True, calib=calib,
        **common)).path
    import importlib.util

    if importlib.util.find_spec("nncf") is not None:
        files["nncf"] = export_model(run / "model_best.pth", ExportOptions(
            format="openvino", output=work / "model.nncf.xml", int8=True, calib=calib,
            **common)).path
    return files


def measure(name: str, run: Path, work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """AP and interleaved model-only latency of every variant of one trained model."""
    from nanodet_plus.benchmark.accuracy import evaluate_ap
    from nanodet_plus.runtime.precision import native_bf16

    files = export_files(run, work / name, args.imgsz)
    backends: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    for variant, opener in VARIANTS.items():
        if "bf16" in variant and not native_bf16():
            continue
        try:
            backends[variant] = opener(files, args.threads)
        except (KeyError, RuntimeError) as exc:
            print(f"{name} / {variant}: skipped ({exc})", file=sys.stderr)
    meta = next(iter(backends.values())).meta
    width, height = meta.input_size
    batch = np.zeros((1, 3, height, width), np.float32)
    times: dict[str, list[float]] = {variant: [] for variant in backends}
    for backend in backends.values():
        for _ in range(5):
            backend.infer(batch)
    order = list(backends)
    for run_index in range(args.runs):
        shift = run_index % len(order)
        for variant in order[shift:] + order[:shift]:
            start = time.perf_counter()
            backends[variant].infer(batch)
            times[variant].append((time.perf_counter() - start) * 1000)
    for variant, backend in backends.items():
        config = str(run / "config.yaml")
        rows[variant] = {
            "model": name, "variant": variant, "input": f"{width}x{height}",
            "median_ms": statistics.median(times[variant]),
            "mAP": evaluate_ap(backend, config),
        }
        if variant != "onnxruntime fp32" and "f32" not in variant.split():
            # reduced precision: Detector.from_file stretches with cv2.resize on this path
            rows[variant]["mAP_fast_resize"] = evaluate_ap(backend, config, fast_resize=True)
    reference = rows["onnxruntime fp32"]
    for row in rows.values():
        row["mAP_change_points"] = 100 * (row["mAP"] - reference["mAP"])
        if "mAP_fast_resize" in row:
            row["mAP_fast_resize_change_points"] = 100 * (row["mAP_fast_resize"]
                                                          - reference["mAP"])
        row["speedup_vs_fp32"] = reference["median_ms"] / row["median_ms"]
    return list(rows.values())


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | input | variant | val mAP | change (points) | model ms | vs ORT fp32 |",
             "|---|---|---|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['model']} | {row['input']} | {row['variant']} | {row['mAP']:.3f} "
                     f"| {row['mAP_change_points']:+.2f} | {row['median_ms']:.2f} "
                     f"| {row['speedup_vs_fp32']:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, metavar="NAME=RUN_FOLDER")
    parser.add_argument("--imgsz", type=int, nargs=2, metavar=("W", "H"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--work-dir", default="runs/bench_precision")
    add_out_argument(parser, "precision")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)
    import torch

    torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    for spec in args.model:
        name, _, folder = spec.partition("=")
        rows.extend(measure(name, Path(folder), Path(args.work_dir), args))
        print(markdown(rows), flush=True)
    run.save(args.out, "precision", FIGURE,
             {"threads": args.threads, "runs": args.runs, "rows": rows},
             runtimes=("onnxruntime", "openvino", "nncf"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
