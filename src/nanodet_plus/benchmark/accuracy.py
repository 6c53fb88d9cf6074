"""Accuracy next to speed: COCO mAP of an opened backend, and the fp32-vs-INT8 comparison
behind the INT8 report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nanodet_plus.benchmark.latency import time_backend
from nanodet_plus.errors import ExportError


def evaluate_ap(backend: Any, data: Any, fast_resize: bool = False) -> float:
    """COCO mAP of ``backend`` on the validation split named by config ``data``
    (``fast_resize``: images stretched by ``cv2.resize``, as the reduced-precision default
    path of ``Detector.from_file`` does, instead of the official warp)."""
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.data.datasets import load_records
    from nanodet_plus.metrics.evaluator import evaluate
    from nanodet_plus.runtime.detector import Detector

    cfg = load_config(data)
    if cfg.data.val is None:
        raise ExportError(f"{data}: the config has no data.val split to measure AP on")
    records = load_records(cfg.data.val, cfg.class_names)
    names = cfg.class_names or backend.meta.class_names or [
        str(i) for i in range(backend.meta.num_classes)
    ]
    detector = Detector(backend, score_thr=0.05, fast_resize=fast_resize)
    metrics = evaluate(detector, records, names, plots=False, config=cfg)
    return float(metrics["mAP"])


def compare_int8(
    fp32_model: str | Path,
    int8_model: str | Path,
    data: Any,
    *,
    threads: int = 1,
    runs: int = 50,
) -> dict[str, float]:
    """AP of the fp32 and INT8 exports on ``data`` (a config with a val set) and their
    model-only latencies, for the INT8 report: ``{"ap_fp32", "ap_int8", "ms_fp32", "ms_int8",
    "speedup"}``. Needs a trained model; AP of untrained weights says nothing."""
    from nanodet_plus.runtime.onnxruntime_backend import OnnxRuntimeBackend

    fp32 = OnnxRuntimeBackend(fp32_model, threads=threads)
    int8 = OnnxRuntimeBackend(int8_model, threads=threads)
    ms_fp32 = time_backend(fp32, runs=runs)["median_ms"]
    ms_int8 = time_backend(int8, runs=runs)["median_ms"]
    return {
        "ap_fp32": evaluate_ap(fp32, data),
        "ap_int8": evaluate_ap(int8, data),
        "ms_fp32": ms_fp32,
        "ms_int8": ms_int8,
        "speedup": ms_fp32 / ms_int8,
    }
