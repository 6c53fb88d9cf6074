"""The fast path by default: open an exported model in the fastest precision that this CPU runs
natively and that the model's outputs are checked to survive.

On a CPU with native bf16 (AVX512-BF16 or AMX) and OpenVINO installed, an fp32 ONNX or
OpenVINO file runs in bf16 after a check at load time: on a fixed synthetic scene, the class
scores that matter (above 0.05 in either precision) must stay within
:data:`BF16_SCORE_TOLERANCE` of fp32 on average. The check catches a model that bf16 breaks;
the accuracy cost of bf16 on real data is measured by ``benchmarks/bench_precision.py``.
Everywhere else, and whenever ``precision="fp32"`` is asked for, the file runs exactly (ONNX
Runtime for ``.onnx``, OpenVINO f32 for ``.xml``). INT8 files are INT8 by
construction; an OpenVINO one runs its float layers in bf16 under the same check. A PyTorch
checkpoint on the CPU runs with BatchNorm folded and channels-last memory. One log line says
what was picked and why.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nanodet_plus.errors import UsageError
from nanodet_plus.runtime.base import Backend

LOGGER = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16")
# Largest mean class-score difference to fp32 over candidate scores (> CANDIDATE_SCORE in
# either precision) accepted for bf16. bf16 keeps 8 bits of mantissa: a sound model moves by
# about 0.03-0.05 here, a broken one (overflow, NaN) by far more.
BF16_SCORE_TOLERANCE = 0.1
CANDIDATE_SCORE = 0.05
_REDUCIBLE_FORMATS = ("onnx", "openvino")


@dataclass(frozen=True)
class ScoreDrift:
    """How far a reduced-precision model's candidate class scores move from fp32 on the check
    scene: mean and max absolute difference, and how many scores were compared."""

    mean: float
    max: float
    candidates: int = 0

    @property
    def acceptable(self) -> bool:
        return bool(np.isfinite(self.mean)) and self.mean <= BF16_SCORE_TOLERANCE


def native_bf16() -> bool:
    """Whether OpenVINO is installed and reports native bf16 on this CPU (AVX512-BF16 or AMX);
    without it OpenVINO would emulate nothing and silently run fp32."""
    try:
        import openvino as ov
    except ImportError:
        return False
    try:
        capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # an OpenVINO without a CPU plugin: no bf16
        return False
    return "BF16" in [str(c).upper() for c in capabilities]


def check_batch(meta: Any) -> np.ndarray:
    """The synthetic check scene, prepared as the Detector prepares images for ``meta``."""
    from nanodet_plus.data.preprocess import preprocess
    from nanodet_plus.data.synthetic import synthetic_image

    size = tuple(meta.input_size)
    prepared = preprocess([synthetic_image()], size, keep_ratio=meta.keep_ratio,
                          mean=meta.mean, std=meta.std, min_wh=size)
    batch = prepared.images
    if meta.batch_size and meta.batch_size > 1:
        batch = np.repeat(batch, meta.batch_size, axis=0)
    return np.ascontiguousarray(batch, dtype=np.float32)


def score_drift(reference: Backend, candidate: Backend) -> ScoreDrift:
    """Class-score difference between two backends of one model on :func:`check_batch`."""
    batch = check_batch(reference.meta)
    classes = reference.meta.num_classes
    want = np.asarray(reference.infer(batch))[..., :classes]
    got = np.asarray(candidate.infer(batch))[..., :classes]
    if want.shape != got.shape or not np.isfinite(got).all():
        return ScoreDrift(float("inf"), float("inf"))
    candidates = np.maximum(want, got) > CANDIDATE_SCORE
    if not candidates.any():
        return ScoreDrift(0.0, 0.0)
    diff = np.abs(want[candidates].astype(np.float64) - got[candidates].astype(np.float64))
    return ScoreDrift(float(diff.mean()), float(diff.max()), int(candidates.sum()))


def open_fastest(
    path: str | Path,
    format: str | None = None,
    *,
    precision: str = "auto",
    threads: int | None = None,
    config: Any = None,
    **options: Any,
) -> Backend:
    """Open ``path`` like :func:`load_backend`, in the fastest verified precision when
    ``precision`` is ``auto``; ``fp32`` keeps the exact path, ``bf16`` asks for bf16."""
    from nanodet_plus.runtime.registry import format_for_path, load_backend, model_file

    if precision not in PRECISIONS:
        raise UsageError(f"precision '{precision}' is not one of {', '.join(PRECISIONS)}")
    path = model_file(path)
    fmt = format or format_for_path(path)
    name = Path(path).name
    if fmt == "torch" and precision == "auto" and not options.get("fuse"):
        return _fast_torch(path, config, threads, options)
    if fmt not in _REDUCIBLE_FORMATS:
        if precision == "bf16":
            raise UsageError(f"{name}: bf16 runs ONNX (.onnx) and OpenVINO (.xml) models "
                             f"through OpenVINO, not {fmt} models")
        return load_backend(path, fmt, config=config, threads=threads, **options)
    exact = load_backend(path, fmt, config=config, threads=threads, precision="f32", **options)
    extra = exact.meta.extra or {}
    runtime = "OpenVINO" if fmt == "openvino" else "ONNX Runtime"
    if extra.get("int8"):
        return _int8(exact, path, name, runtime, precision, threads)
    if precision == "fp32":
        LOGGER.info("%s: fp32 (%s), as asked", name, runtime)
        return exact
    if extra.get("layout") == "end2end":
        return _keep(exact, name, runtime, precision, "an end-to-end graph keeps fp32")
    if not native_bf16():
        why = ("OpenVINO is not installed (pip install 'nanodet-plus[openvino]')"
               if not _has_openvino() else "this CPU has no native bf16 (AVX512-BF16 or AMX)")
        return _keep(exact, name, runtime, precision, why)
    reduced, drift = _checked_bf16(exact, path, threads, precision)
    if reduced is None:
        return _keep(exact, name, runtime, precision,
                     f"bf16 moved the candidate class scores by {drift.mean:.3g} on average "
                     f"(limit {BF16_SCORE_TOLERANCE})")
    LOGGER.info("%s: bf16 (OpenVINO; this CPU has native bf16; candidate class scores within "
                "%.2g of fp32 on average); precision='fp32' (--precision fp32) for exact outputs",
                name, drift.mean)
    return reduced


def _checked_bf16(exact: Backend, path: Path, threads: int | None,
                  precision: str) -> tuple[Backend | None, ScoreDrift]:
    """The model compiled with OpenVINO's bf16 hint (its ``drift`` set) and its candidate-score
    drift from ``exact``; None instead of the backend when ``precision`` is ``auto`` and the
    drift is beyond :data:`BF16_SCORE_TOLERANCE`."""
    from nanodet_plus.runtime.openvino_backend import OpenVinoBackend

    reduced = OpenVinoBackend(path, threads=threads, precision="bf16", meta=exact.meta)
    drift = score_drift(exact, reduced)
    if precision == "auto" and not drift.acceptable:
        return None, drift
    reduced.drift = drift
    return reduced, drift


def _int8(exact: Backend, path: Path, name: str, runtime: str, precision: str,
          threads: int | None) -> Backend:
    """An INT8 file as it is, except that an OpenVINO one runs its float layers (depthwise
    convolutions, the output stage) in bf16 where the CPU has it natively and the candidate
    scores stay within :data:`BF16_SCORE_TOLERANCE` of its f32 run (3-4% faster at 320 on
    the Zen 4 machine, benchmarks/results/precision-*.json)."""
    if runtime != "OpenVINO" or precision == "fp32" or not native_bf16():
        LOGGER.info("%s: INT8 file, run by %s", name, runtime)
        return exact
    reduced, drift = _checked_bf16(exact, path, threads, precision)
    if reduced is None:
        LOGGER.info("%s: INT8 file, run by OpenVINO (bf16 for its float layers moved the "
                    "candidate class scores by %.3g on average)", name, drift.mean)
        return exact
    LOGGER.info("%s: INT8 file, run by OpenVINO with bf16 for its float layers (candidate "
                "class scores within %.2g of f32 on average); precision='fp32' keeps them in "
                "f32", name, drift.mean)
    return reduced


def runs_reduced(backend: Backend) -> bool:
    """Whether ``backend`` runs in reduced precision (bf16 picked here, or an INT8 file), so
    that its outputs are not the exact ones and a faster resize costs nothing exact."""
    return getattr(backend, "drift", None) is not None or bool(
        (backend.meta.extra or {}).get("int8"))


def _fast_torch(path: Path, config: Any, threads: int | None, options: dict) -> Backend:
    """A checkpoint on the CPU: BatchNorm folded and channels-last memory, the fastest eager
    setting (same outputs within float rounding); on a GPU as it is."""
    from nanodet_plus.runtime.registry import load_backend
    from nanodet_plus.runtime.torch_backend import resolve_device

    device = resolve_device(options.get("device", "cpu"))
    if device.type != "cpu":
        return load_backend(path, "torch", config=config, threads=threads, **options)
    backend = load_backend(path, "torch", config=config, threads=threads,
                           **{**options, "fuse": True, "channels_last": True})
    LOGGER.info("%s: PyTorch fp32, BatchNorm folded, channels-last (the fastest eager CPU "
                "path); precision='fp32' (--precision fp32) for the model as trained", path.name)
    return backend


def _keep(exact: Backend, name: str, runtime: str, precision: str, why: str) -> Backend:
    """The exact backend, logged (a warning when bf16 was asked for explicitly)."""
    level = logging.WARNING if precision == "bf16" else logging.INFO
    LOGGER.log(level, "%s: fp32 (%s): %s", name, runtime, why)
    return exact


def _has_openvino() -> bool:
    return importlib.util.find_spec("openvino") is not None
