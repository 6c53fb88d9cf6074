"""Latency of one model on several runtimes, measured side by side in one process.

Backends are interleaved run by run (round robin) so that load changes on the machine hit them
all alike. Per backend: model-only latency (``infer`` on a prepared batch) and end-to-end
latency (image -> preprocess -> infer -> post-processing -> Detections), median and p90 in ms,
FPS from the end-to-end median, and optionally COCO mAP on a dataset.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nanodet_plus.errors import ExportError

LOGGER = logging.getLogger(__name__)

BACKENDS = (
    "auto",
    "torch",
    "onnxruntime",
    "openvino",
    "openvino-bf16",
    "ncnn",
    "mnn",
    "onnxruntime-int8",
    "torchscript",
)
DEFAULT_BACKENDS = ("torch", "onnxruntime", "openvino", "ncnn", "mnn")


@dataclass
class BenchmarkRow:
    """Figures of one backend; latencies in milliseconds."""

    backend: str
    threads: int
    model_median_ms: float = float("nan")
    model_p90_ms: float = float("nan")
    e2e_median_ms: float = float("nan")
    e2e_p90_ms: float = float("nan")
    ap: float | None = None
    error: str | None = None
    note: str | None = None
    samples: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @property
    def fps(self) -> float:
        return 1000.0 / self.e2e_median_ms if self.e2e_median_ms > 0 else float("nan")


def summarise(times_ms: Sequence[float]) -> tuple[float, float]:
    """Median and 90th percentile of a list of latencies."""
    values = np.asarray(times_ms, dtype=np.float64)
    return float(np.median(values)), float(np.percentile(values, 90))


def time_backend(backend: Any, runs: int = 50, warmup: int = 5) -> dict[str, float]:
    """Model-only latency of one backend on a zero batch of its input size (median, p90)."""
    width, height = backend.meta.input_size
    batch = np.zeros((backend.meta.batch_size or 1, 3, height, width), np.float32)
    for _ in range(warmup):
        backend.infer(batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        backend.infer(batch)
        times.append((time.perf_counter() - start) * 1000)
    median, p90 = summarise(times)
    return {"median_ms": median, "p90_ms": p90}


def _export(weights: Path, fmt: str, folder: Path, input_size, config, **extra) -> Path:
    from nanodet_plus.export.exporter import SUFFIXES, ExportOptions, export_model

    name = f"model{'.int8' if extra.get('int8') else ''}{SUFFIXES[fmt]}"
    options = ExportOptions(format=fmt, config=config, input_size=input_size,
                            output=folder / name, **extra)
    return export_model(weights, options).path


def open_backends(
    weights: str | Path,
    names: Sequence[str],
    folder: Path,
    *,
    input_size: tuple[int, int] | None,
    threads: int,
    config: Any = None,
    calib: Any = None,
    model_files: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """Export what each backend needs into ``folder`` and open it with ``threads`` threads.

    A backend that cannot be prepared maps to the error message (a str) instead.
    ``model_files`` can name existing files per backend (e.g. an official ONNX export).
    """
    import torch

    from nanodet_plus.runtime.registry import load_backend

    weights = Path(weights)
    folder.mkdir(parents=True, exist_ok=True)
    model_files = dict(model_files or {})
    exported: dict[tuple[str, bool], Path] = {}
    opened: dict[str, Any] = {}
    for name in names:
        try:
            if name == "torch":
                from nanodet_plus.models.loading import load_model
                from nanodet_plus.runtime.torch_backend import TorchBackend

                loaded = load_model(weights, config)
                if input_size:
                    loaded.config.data.input_size = tuple(input_size)
                torch.set_num_threads(threads)
                opened[name] = TorchBackend(loaded.model, config=loaded.config)
                continue
            fmt = {"onnxruntime": "onnx", "openvino-bf16": "openvino",
                   "onnxruntime-int8": "onnx", "auto": "onnx"}.get(name, name)
            int8 = name == "onnxruntime-int8"
            path = model_files.get(name) or exported.get((fmt, int8))
            if path is None:
                if int8 and calib is None:
                    raise ExportError("onnxruntime-int8 needs calibration images (--calib)")
                extra = {"int8": True, "calib": calib} if int8 else {}
                path = _export(weights, fmt, folder, input_size, config, **extra)
                exported[(fmt, int8)] = path
            options: dict[str, Any] = {"threads": threads, "config": config}
            if name == "auto":  # what Detector.from_file and nanodet predict pick
                from nanodet_plus.runtime.precision import open_fastest

                backend = open_fastest(path, **options)
                precision = getattr(backend, "effective_precision", "fp32")
                backend.note = f"picked {backend.name} {precision}"
                opened[name] = backend
                continue
            if name == "openvino-bf16":
                options["precision"] = "bf16"
            opened[name] = load_backend(path, fmt, **options)
        except Exception as exc:  # a missing runtime must not stop the other rows
            LOGGER.warning("%s: %s", name, exc)
            opened[name] = f"{type(exc).__name__}: {exc}"
    return opened


def run_benchmark(
    backends: dict[str, Any],
    image: np.ndarray,
    *,
    threads: int,
    runs: int = 100,
    warmup: int = 10,
    ap_fn: Callable[[Any], float] | None = None,
) -> list[BenchmarkRow]:
    """Interleaved model-only and end-to-end timing of every opened backend on ``image``."""
    from nanodet_plus.runtime.detector import Detector
    from nanodet_plus.runtime.precision import runs_reduced

    rows: dict[str, BenchmarkRow] = {}
    detectors: dict[str, Any] = {}
    batches: dict[str, np.ndarray] = {}
    for name, backend in backends.items():
        rows[name] = BenchmarkRow(name, threads)
        if isinstance(backend, str):
            rows[name].error = backend
            continue
        rows[name].note = getattr(backend, "note", None)
        # as Detector.from_file would: the faster resize on a reduced-precision path
        detectors[name] = Detector(backend, score_thr=0.35, fast_resize=runs_reduced(backend))
        batch = detectors[name].prepare([image]).images
        fixed = backend.meta.batch_size
        if fixed and fixed > 1:
            batch = np.repeat(batch, fixed, axis=0)
        batches[name] = np.ascontiguousarray(batch, dtype=np.float32)
        rows[name].samples = {"model": [], "e2e": []}
    for _ in range(warmup):
        for name, detector in detectors.items():
            detector.backend.infer(batches[name])
            detector(image)
    order = list(detectors)
    for run in range(runs):
        shift = run % max(1, len(order))
        for name in order[shift:] + order[:shift]:
            detector = detectors[name]
            start = time.perf_counter()
            detector.backend.infer(batches[name])
            middle = time.perf_counter()
            detector(image)
            end = time.perf_counter()
            rows[name].samples["model"].append((middle - start) * 1000)
            rows[name].samples["e2e"].append((end - middle) * 1000)
    for name in detectors:
        row = rows[name]
        row.model_median_ms, row.model_p90_ms = summarise(row.samples["model"])
        row.e2e_median_ms, row.e2e_p90_ms = summarise(row.samples["e2e"])
        if ap_fn is not None:
            row.ap = ap_fn(detectors[name].backend)
    return list(rows.values())


@contextlib.contextmanager
def timing_only_int8_exports() -> Iterator[None]:
    """Within the block, INT8 exports whose scores the export check would refuse are kept,
    with the refusal in their notes: for latency benchmarks of weights that have no suitable
    calibration images (the COCO reference weights in the repository). Never for deployment."""
    from nanodet_plus.errors import ExportError
    from nanodet_plus.export import formats

    strict = formats.check_int8

    def lenient(expected, actual, meta):
        try:
            return strict(expected, actual, meta)
        except ExportError as exc:
            return 0.0, f"int8 (timing only; the export would refuse it): {exc}"

    formats.check_int8 = lenient
    try:
        yield
    finally:
        formats.check_int8 = strict


def machine_description() -> str:
    """CPU model, its microarchitecture and SIMD features, logical cores and OS, for reports."""
    from nanodet_plus.benchmark.results import describe_machine, machine_info

    info = machine_info()
    return f"{describe_machine(info)}, {info['os']}"


def format_table(rows: Sequence[BenchmarkRow], input_size: tuple[int, int]) -> str:
    """A markdown table of the rows."""
    with_ap = any(row.ap is not None for row in rows)
    header = ["backend", "threads", "input", "model median ms", "model p90 ms",
              "end-to-end median ms", "end-to-end p90 ms", "FPS"]
    if with_ap:
        header.append("mAP")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    size = f"{input_size[0]}x{input_size[1]}"
    for row in rows:
        if row.error:
            cells = [row.backend, str(row.threads), size] + ["n/a"] * (len(header) - 3)
            cells[-1] = f"n/a ({row.error[:60]})"
        else:
            label = f"{row.backend} ({row.note})" if row.note else row.backend
            cells = [label, str(row.threads), size, f"{row.model_median_ms:.2f}",
                     f"{row.model_p90_ms:.2f}", f"{row.e2e_median_ms:.2f}",
                     f"{row.e2e_p90_ms:.2f}", f"{row.fps:.1f}"]
            if with_ap:
                cells.append("" if row.ap is None else f"{row.ap:.3f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
