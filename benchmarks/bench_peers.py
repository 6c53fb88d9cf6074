r"""NanoDet-Plus-m 416 against Ultralytics YOLO11n and YOLO26n: CPU latency on shared runtimes.

Every model is exported to ONNX at 416x416, batch 1, then run on the same runtimes and
precisions (the VARIANTS table: model -> prepared runtime call), all in one process and timed
in alternation, run by run (round robin, the order rotated each run), so that load changes on a
busy machine hit every model alike. Figure: model-only latency, i.e. the runtime call on a
prepared float32 [1, 3, 416, 416] input (each model's own preprocessing of the first
calibration image), median and p90 in ms over ``--runs`` after ``--warmup`` interleaved runs.

Rows (runtime / precision):
  * ONNX Runtime fp32;
  * ONNX Runtime INT8: static QDQ, U8 activations, S8 per-channel weights, MinMax calibration.
    NanoDet: the file ``nanodet export --int8`` writes (it keeps the head's output stage in
    fp32); YOLO: ``quantize_static`` with the same settings on the same images, preprocessed
    as Ultralytics does (letterbox to 416 with grey 114, BGR -> RGB, /255), every node quantised;
  * OpenVINO fp32 and bf16 (INFERENCE_PRECISION_HINT; bf16 only when the CPU lists BF16 in
    OPTIMIZATION_CAPABILITIES);
  * OpenVINO INT8: ``nncf.quantize`` with default settings on the fp32 OpenVINO model and the
    same calibration images, run with the f32 hint, and with the bf16 hint as "INT8+bf16";
    and again with the depthwise convolutions fed the float tensor in front of their input
    quantisers, as ``nanodet export --format openvino --int8`` writes it (OpenVINO's CPU
    plugin runs them in float anyway), for every model ("float depthwise inputs");
  * ``--nanodet-onnx NAME=PATH`` adds rows for another NanoDet ONNX file (e.g. quantised
    differently) on ONNX Runtime and OpenVINO.

The YOLO models are built from their yaml with random weights (no download is possible or
needed): the latency of a static graph does not depend on the weight values. YOLO26n is
exported with ``nms=False``, its NMS-free end-to-end head (output [1, 300, 6]; Ultralytics'
default export, nms=None, gives the raw [1, 84, 3549] one-to-many head of YOLO11n instead).
Model-only latency thus covers the top-300 selection for YOLO26n, but no box decoding for
NanoDet ([1, 3598, 112]) and no NMS for either of the other two.

Environment (once, from the repository root; never let a later install replace torch):

    python3 -m venv .venv-peers
    .venv-peers/bin/pip install --upgrade pip
    .venv-peers/bin/pip install torch==2.14.1 torchvision==0.29.1
    printf '%s\n' torch==2.14.1 torchvision==0.29.1 onnxruntime==1.32.0 openvino==2026.4.1 \
        numpy==2.4.6 > /tmp/peers-constraints.txt
    .venv-peers/bin/pip install -c /tmp/peers-constraints.txt ultralytics nncf onnx onnxslim \
        onnxruntime openvino -e '.[export]'

Ultralytics is a dependency of this benchmark environment only, never of the package.

Usage:

    .venv-peers/bin/python benchmarks/bench_peers.py [--runs 100] [--threads 1,2]
        [--calib DIR] [--work-dir runs/peers] [--nanodet-onnx NAME=PATH ...]

Writes ``benchmarks/results/peers-DATE.json`` (machine, command, versions, every figure) and
prints one table per thread count (rows runtime / precision, columns the models).
Every export goes under ``--work-dir``; Ultralytics runs offline (YOLO_OFFLINE, no
auto-install, settings sync off, its settings file under the work dir).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import functools
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_WEIGHTS = REPO / "tests" / "assets" / "reference" / "nanodet-plus-m_320_weights.pth"
SIZE = 416
NANODET = "nanodet-plus-m_416"
YOLOS = ("yolo26n", "yolo11n")
END_TO_END = {"yolo26n": (1, 300, 6)}  # expected output of the NMS-free exports
LABELS = {NANODET: "NanoDet-Plus-m 416", "yolo26n": "YOLO26n", "yolo11n": "YOLO11n"}
NANODET_ISSUE_GFLOPS = 1.52  # the issue's figure for nanodet-plus-m at 416
RANDOM_WEIGHTS_NOTE = ("YOLO11n and YOLO26n are built from their yaml with random weights (no "
                       "download possible): the latency of a static graph does not depend on the "
                       "weight values.")
PACKAGES = ("ultralytics", "onnxruntime", "openvino", "nncf", "onnx", "onnxslim", "numpy",
           "nanodet-plus")
FIGURE = ("Model-only CPU latency of NanoDet-Plus-m 416 against YOLO11n and YOLO26n at 416x416, "
          "batch 1, on ONNX Runtime and OpenVINO in each precision: median (p90) ms, every model "
          "and runtime timed in alternation in one process")

LOGGER = logging.getLogger("bench_peers")

Runner = Callable[[], Any]


class Skip(Exception):
    """A variant that does not apply on this machine or to this model (reason in the text)."""


@dataclass
class Context:
    """What a variant may depend on besides the model."""

    threads: int
    bf16: bool
    ort_spinning: bool


@dataclass
class Model:
    """One network: its fp32 and ORT INT8 ONNX files and its preprocessed calibration inputs."""

    name: str
    onnx: Path
    int8_onnx: Path
    calib: list[np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)
    cache: dict[Any, Any] = field(default_factory=dict)

    @property
    def sample(self) -> np.ndarray:
        return self.calib[0]


@dataclass
class Variant:
    """A runtime / precision row: ``prepare(model, context)`` -> (timed call, note or None)."""

    name: str
    prepare: Callable[[Model, Context], tuple[Runner, str | None]]
    models: tuple[str, ...] | None = None  # None: every model
    standard: bool = True  # False: an extra row (--nanodet-onnx), not a "best runtime" candidate


# --- runtimes -------------------------------------------------------------------------------


def ort_runner(path: Path, batch: np.ndarray, ctx: Context) -> tuple[Runner, str | None]:
    """An ONNX Runtime CPU session on ``path`` with ``ctx.threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = ctx.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not ctx.ort_spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: batch}
    return (lambda: session.run(None, feed)), None


@functools.cache
def openvino_core() -> Any:
    import openvino as ov

    return ov.Core()


def cpu_has_bf16() -> bool:
    return "BF16" in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def ov_runner(ov_model: Any, batch: np.ndarray, ctx: Context,
              precision: str) -> tuple[Runner, str | None]:
    """``ov_model`` compiled for CPU (latency hint) with an inference precision hint."""
    from nanodet_plus.runtime.openvino_backend import precision_name

    if precision == "bf16" and not ctx.bf16:
        raise Skip("the CPU lists no BF16 in OPTIMIZATION_CAPABILITIES")
    compiled = openvino_core().compile_model(ov_model, "CPU", {
        "INFERENCE_PRECISION_HINT": precision,
        "INFERENCE_NUM_THREADS": ctx.threads,
        "PERFORMANCE_HINT": "LATENCY",
    })
    effective = precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
    request = compiled.create_infer_request()
    note = None if effective == precision else f"ran with hint {effective}"
    return (lambda: request.infer({0: batch}, share_inputs=True)), note


def ov_model_of(model: Model, path: Path) -> Any:
    """The OpenVINO model converted from an ONNX file (cached per model and file)."""
    import openvino as ov

    key = ("ov", str(path))
    if key not in model.cache:
        model.cache[key] = ov.convert_model(str(path))
    return model.cache[key]


def nncf_int8(model: Model, float_depthwise: bool = False) -> Any:
    """NNCF post-training INT8 of the fp32 OpenVINO model, default settings (cached);
    ``float_depthwise`` then feeds the depthwise convolutions their float inputs, as
    ``nanodet export --format openvino --int8`` does, for every model alike."""
    key = "nncf-float-dw" if float_depthwise else "nncf"
    if "nncf" not in model.cache:
        import nncf
        import openvino as ov

        LOGGER.warning("%s: NNCF INT8 calibration on %d images", model.name, len(model.calib))
        fp32 = ov.convert_model(str(model.onnx))
        model.cache["nncf"] = nncf.quantize(fp32, nncf.Dataset(model.calib))
    if key not in model.cache:
        from nanodet_plus.export.quantize import float_depthwise_inputs

        rewired = model.cache["nncf"].clone()
        LOGGER.warning("%s: %d depthwise convolutions fed float inputs", model.name,
                       float_depthwise_inputs(rewired))
        model.cache[key] = rewired
    return model.cache[key]


# --- the variants table ---------------------------------------------------------------------


def _ort_fp32(model: Model, ctx: Context):
    return ort_runner(model.onnx, model.sample, ctx)


def _ort_int8(model: Model, ctx: Context):
    return ort_runner(model.int8_onnx, model.sample, ctx)


def _ov_fp32(model: Model, ctx: Context):
    return ov_runner(ov_model_of(model, model.onnx), model.sample, ctx, "f32")


def _ov_bf16(model: Model, ctx: Context):
    return ov_runner(ov_model_of(model, model.onnx), model.sample, ctx, "bf16")


def _ov_nncf(model: Model, ctx: Context):
    return ov_runner(nncf_int8(model), model.sample, ctx, "f32")


def _ov_nncf_bf16(model: Model, ctx: Context):
    return ov_runner(nncf_int8(model), model.sample, ctx, "bf16")


def _ov_nncf_dw(model: Model, ctx: Context):
    return ov_runner(nncf_int8(model, float_depthwise=True), model.sample, ctx, "f32")


def _ov_nncf_dw_bf16(model: Model, ctx: Context):
    return ov_runner(nncf_int8(model, float_depthwise=True), model.sample, ctx, "bf16")


VARIANTS = [
    Variant("ONNX Runtime fp32", _ort_fp32),
    Variant("ONNX Runtime INT8", _ort_int8),
    Variant("OpenVINO fp32", _ov_fp32),
    Variant("OpenVINO bf16", _ov_bf16),
    Variant("OpenVINO INT8 (NNCF)", _ov_nncf),
    Variant("OpenVINO INT8+bf16 (NNCF)", _ov_nncf_bf16),
    Variant("OpenVINO INT8 (NNCF, float depthwise inputs)", _ov_nncf_dw),
    Variant("OpenVINO INT8+bf16 (NNCF, float depthwise inputs)", _ov_nncf_dw_bf16),
]


def extra_nanodet_variants(name: str, path: Path) -> list[Variant]:
    """Rows for another NanoDet ONNX file on ONNX Runtime and OpenVINO (f32, bf16 hints)."""

    def ort_file(model: Model, ctx: Context):
        return ort_runner(path, model.sample, ctx)

    def ov_file(precision: str):
        def prepare(model: Model, ctx: Context):
            return ov_runner(ov_model_of(model, path), model.sample, ctx, precision)
        return prepare

    only = (NANODET,)
    return [
        Variant(f"ONNX Runtime [{name}]", ort_file, only, standard=False),
        Variant(f"OpenVINO f32 hint [{name}]", ov_file("f32"), only, standard=False),
        Variant(f"OpenVINO bf16 hint [{name}]", ov_file("bf16"), only, standard=False),
    ]


# --- models ---------------------------------------------------------------------------------


def count_gflops(module: Any) -> dict[str, float | None]:
    """GFLOPs at 416 (2 per multiply-add): torch's FlopCounterMode and Ultralytics' thop count."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(torch.zeros(1, 3, SIZE, SIZE))
    counted: dict[str, float | None] = {"torch_flop_counter": counter.get_total_flops() / 1e9}
    try:
        from ultralytics.utils.torch_utils import get_flops

        counted["ultralytics_get_flops"] = float(get_flops(module, SIZE)) or None
    except Exception as exc:  # thop is optional; the torch count stays
        LOGGER.warning("ultralytics get_flops failed: %s", exc)
        counted["ultralytics_get_flops"] = None
    return counted


def output_shapes(path: Path) -> list[list[Any]]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [list(out.shape) for out in session.get_outputs()]


def build_nanodet(args: argparse.Namespace, images: list[Path], folder: Path) -> Model:
    """fp32 and INT8 ONNX as ``nanodet export [--int8]`` writes them, inputs as Detector's."""
    from nanodet_plus.export.exporter import ExportOptions, export_model
    from nanodet_plus.export.quantize import calibration_batches
    from nanodet_plus.models.loading import load_model

    folder.mkdir(parents=True, exist_ok=True)
    common: dict[str, Any] = {"format": "onnx", "config": args.nanodet_config,
                              "input_size": (SIZE, SIZE), "force": True}
    fp32 = export_model(args.nanodet_weights,
                        ExportOptions(**common, output=folder / f"{NANODET}.onnx"))
    int8 = export_model(args.nanodet_weights, ExportOptions(
        **common, int8=True, calib=str(args.calib), calib_images=args.calib_images,
        output=folder / f"{NANODET}.int8.onnx"))
    calib = [np.ascontiguousarray(batch, dtype=np.float32)
             for batch in calibration_batches(images, fp32.meta)]
    graph = load_model(args.nanodet_weights, args.nanodet_config).model
    gflops = count_gflops(graph.inference_model(sigmoid_scores=True).eval())
    gflops["issue"] = NANODET_ISSUE_GFLOPS
    return Model(NANODET, fp32.path, int8.path, calib, info={
        "weights": rel(args.nanodet_weights), "config": args.nanodet_config,
        "onnx": rel(fp32.path), "int8_onnx": rel(int8.path), "int8_note": int8.notes,
        "onnx_opset": {"fp32": 11, "int8": 13}, "gflops": gflops,
        "preprocess": "nanodet_plus Detector: resize (keep_ratio per config), BGR, mean/std",
    })


@contextlib.contextmanager
def working_dir(folder: Path) -> Iterator[None]:
    """Ultralytics writes an export beside the model file (the yaml name: the current dir)."""
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def ultralytics_batch(path: Path) -> np.ndarray | None:
    """One image preprocessed as Ultralytics' predictor does for a fixed-size ONNX model."""
    import cv2
    from ultralytics.data.augment import LetterBox

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return None
    boxed = LetterBox(new_shape=(SIZE, SIZE), auto=False, stride=32)(image=image)
    chw = boxed[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32)
    return np.ascontiguousarray(chw / np.float32(255.0))


def quantize_ort(fp32: Path, int8: Path, batches: list[np.ndarray]) -> Path:
    """Static QDQ, U8 activations, S8 per-channel weights, MinMax: the NanoDet export's settings."""
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    input_name = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]) \
        .get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.items, None)
            return None if batch is None else {input_name: batch}

    quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    per_channel=True, calibrate_method=CalibrationMethod.MinMax)
    return int8


def build_yolo(name: str, args: argparse.Namespace, images: list[Path], folder: Path) -> Model:
    """Random-weight model from the yaml, exported with Ultralytics, INT8 by quantize_static."""
    from ultralytics import YOLO

    folder.mkdir(parents=True, exist_ok=True)
    yolo = YOLO(f"{name}.yaml")
    end_to_end = name in END_TO_END
    net = copy.deepcopy(yolo.model).eval()
    net.end2end = end_to_end  # before fuse(): fusing drops the branch that is not selected
    gflops = count_gflops(net.fuse())
    extra = {"nms": False} if end_to_end else {}
    with working_dir(folder):
        written = yolo.export(format="onnx", imgsz=SIZE, opset=args.yolo_opset, simplify=True,
                              dynamic=False, batch=1, device="cpu", **extra)
    fp32 = (folder / written).resolve()
    shapes = output_shapes(fp32)
    if end_to_end and [tuple(s) for s in shapes] != [END_TO_END[name]]:
        raise SystemExit(f"{name}: the export is not the NMS-free end-to-end head: outputs "
                         f"{shapes}, expected [{list(END_TO_END[name])}]")
    calib = [batch for batch in map(ultralytics_batch, images) if batch is not None]
    LOGGER.warning("%s: ORT INT8 calibration on %d images", name, len(calib))
    int8 = quantize_ort(fp32, folder / f"{name}.int8.onnx", calib)
    return Model(name, fp32, int8, calib, info={
        "weights": "random initialisation from the yaml", "onnx": rel(fp32),
        "int8_onnx": rel(int8), "onnx_opset": args.yolo_opset,
        "export": f"model.export(format='onnx', imgsz={SIZE}, opset={args.yolo_opset}, "
                  f"simplify=True, dynamic=False{', nms=False' if end_to_end else ''})",
        "end_to_end": end_to_end, "gflops": gflops,
        "preprocess": "Ultralytics: LetterBox(416, auto=False, pad 114), BGR->RGB, /255",
    })


def setup_ultralytics(work_dir: Path) -> None:
    """Offline, no auto-install, no sync; settings and any default folder under the work dir."""
    config_dir = work_dir / "ultralytics-config"
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ["YOLO_VERBOSE"] = "0"
    from ultralytics import settings

    settings.update({"sync": False, "datasets_dir": str(work_dir / "datasets"),
                     "weights_dir": str(work_dir / "weights"), "runs_dir": str(work_dir / "runs"),
                     "vscode_msg": False, "openvino_msg": False})


# --- timing ---------------------------------------------------------------------------------


def time_interleaved(runners: dict[Any, Runner], runs: int, warmup: int) -> dict[Any, list]:
    """Round robin: each run calls every runner once, the order rotated by one every run."""
    keys = list(runners)
    for _ in range(warmup):
        for key in keys:
            runners[key]()
    samples: dict[Any, list[float]] = {key: [] for key in keys}
    for run in range(runs):
        shift = run % len(keys)
        for key in keys[shift:] + keys[:shift]:
            start = time.perf_counter()
            runners[key]()
            samples[key].append((time.perf_counter() - start) * 1000)
    return samples


def measure(models: list[Model], variants: list[Variant], ctx: Context, runs: int,
            warmup: int) -> list[dict[str, Any]]:
    """Prepare every (model, variant) for ``ctx.threads`` threads, then time them together."""
    from nanodet_plus.benchmark.latency import summarise

    rows: dict[tuple[str, str], dict[str, Any]] = {}
    runners: dict[tuple[str, str], Runner] = {}
    for variant in variants:
        for model in models:
            if variant.models is not None and model.name not in variant.models:
                continue
            key = (model.name, variant.name)
            rows[key] = {"model": model.name, "variant": variant.name, "threads": ctx.threads}
            try:
                runner, note = variant.prepare(model, ctx)
                runner()  # fails here, not in the timed loop
            except Skip as reason:
                rows[key]["skipped"] = str(reason)
                continue
            except Exception as exc:  # one broken row must not stop the others
                LOGGER.warning("%s / %s: %s", model.name, variant.name, exc)
                rows[key]["error"] = f"{type(exc).__name__}: {exc}"[:300]
                continue
            if note:
                rows[key]["note"] = note
            runners[key] = runner
    LOGGER.warning("timing %d model/variant pairs at %d thread(s): %d runs after %d warm-up",
                   len(runners), ctx.threads, runs, warmup)
    samples = time_interleaved(runners, runs, warmup) if runners else {}
    for key, times in samples.items():
        median, p90 = summarise(times)
        rows[key].update(median_ms=round(median, 3), p90_ms=round(p90, 3),
                         min_ms=round(min(times), 3))
    return list(rows.values())


# --- report ---------------------------------------------------------------------------------


def rel(path: str | Path) -> str:
    """``path`` relative to the repository when inside it (symlinks kept: venv pythons)."""
    path = Path(os.path.abspath(path))
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def best(rows: list[dict], model: str, threads: int, standard: set[str]) -> dict | None:
    timed = [r for r in rows if r["model"] == model and r["threads"] == threads
             and r["variant"] in standard and "median_ms" in r]
    return min(timed, key=lambda r: r["median_ms"], default=None)


def figure(rows: list[dict], model: str, variant: str, threads: int) -> float | None:
    for row in rows:
        if (row["model"], row["variant"], row["threads"]) == (model, variant, threads):
            return row.get("median_ms")
    return None


def ratio(numerator: float | None, denominator: float | None) -> str:
    return f"{numerator / denominator:.2f}" if numerator and denominator else "n/a"


def markdown(report: dict[str, Any], variants: list[Variant]) -> str:
    from nanodet_plus.benchmark.results import describe_machine

    rows, models = report["results"], list(report["models"])
    standard = {v.name for v in variants if v.standard}
    header = ["runtime / precision"]
    for name in models:
        gflops = report["models"][name]["gflops"]["torch_flop_counter"]
        header.append(f"{LABELS.get(name, name)} ({gflops:.2f} GFLOPs)")
    lines = [f"# NanoDet-Plus-m 416 vs YOLO11n / YOLO26n, CPU latency ({report['date']})", "",
             f"Machine: {describe_machine(report['machine'])}", "",
             f"Command: `{report['command']}`", "",
             "Model-only latency (runtime call on a prepared float32 [1,3,416,416] input), "
             f"median (p90) in ms over {report['settings']['runs']} runs after "
             f"{report['settings']['warmup']} warm-up runs, batch 1; all models and rows timed "
             "in alternation (round robin) in one process. Load average before/after: "
             f"{report['load_average']['before']} / {report['load_average']['after']}.", "",
             RANDOM_WEIGHTS_NOTE, ""]
    for threads in report["settings"]["threads"]:
        lines += [f"## {threads} thread{'s' if threads > 1 else ''}", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        footnotes: list[str] = []
        for variant in variants:
            cells = [variant.name]
            for name in models:
                row = next((r for r in rows if (r["model"], r["variant"], r["threads"])
                            == (name, variant.name, threads)), None)
                if row is None:
                    cells.append("")
                elif "median_ms" in row:
                    note = f" ({row['note']})" if row.get("note") else ""
                    cells.append(f"{row['median_ms']:.2f} ({row['p90_ms']:.2f}){note}")
                else:
                    cells.append("n/a")
                    footnotes.append(f"{LABELS.get(name, name)} / {variant.name}: "
                                     f"{row.get('skipped') or row.get('error')}")
            lines.append("| " + " | ".join(cells) + " |")
        if footnotes:
            lines += [""] + [f"- {text}" for text in dict.fromkeys(footnotes)]
        tops = {name: best(rows, name, threads, standard) for name in models}
        fastest = {name: top["median_ms"] if top else None for name, top in tops.items()}
        described = ", ".join(
            f"{LABELS.get(name, name)} {top['median_ms']:.2f} ms ({top['variant']})"
            for name, top in tops.items() if top)
        lines += ["", f"Each model on its best runtime: {described}. "
                  f"nanodet / YOLO26n = {ratio(fastest[NANODET], fastest.get('yolo26n'))}, "
                  f"nanodet / YOLO11n = {ratio(fastest[NANODET], fastest.get('yolo11n'))} "
                  "(below 1: NanoDet faster).", "",
                  "Speed-ups (fp32 median / INT8 median; the last: ORT INT8 median / NNCF INT8 "
                  "median):", ""]
        for name in models:
            ort_fp32 = figure(rows, name, "ONNX Runtime fp32", threads)
            ort_int8 = figure(rows, name, "ONNX Runtime INT8", threads)
            ov_fp32 = figure(rows, name, "OpenVINO fp32", threads)
            ov_int8 = figure(rows, name, "OpenVINO INT8 (NNCF)", threads)
            lines.append(f"- {LABELS.get(name, name)}: ORT INT8 x{ratio(ort_fp32, ort_int8)}, "
                         f"OpenVINO NNCF INT8 x{ratio(ov_fp32, ov_int8)}, NNCF INT8 vs ORT INT8 "
                         f"x{ratio(ort_int8, ov_int8)}")
        lines.append("")
    lines += ["## Models", ""]
    for name, info in report["models"].items():
        gflops = info["gflops"]
        lines.append(f"- {LABELS.get(name, name)}: outputs {info['output_shapes']}, "
                     f"{gflops['torch_flop_counter']:.2f} GFLOPs at 416 (torch FlopCounterMode, "
                     f"2 per multiply-add; Ultralytics get_flops "
                     f"{gflops.get('ultralytics_get_flops') or float('nan'):.2f}"
                     + (f"; issue {gflops['issue']}" if "issue" in gflops else "")
                     + f"), weights: {info['weights']}")
    lines += ["", "NanoDet's output is the raw head (no box decoding, no NMS); YOLO11n's the raw "
              "one-to-many head, boxes decoded (no NMS); YOLO26n's the NMS-free end-to-end head "
              "with its top-300 selection inside the graph. ORT INT8: NanoDet keeps its head's "
              "output stage in fp32 (as `nanodet export --int8` does), YOLO is quantised "
              "everywhere.",
              f"Calibration: {report['settings']['calib_images']} images from "
              f"`{report['settings']['calib']}`.", ""]
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------


def parse_extra(values: list[str]) -> dict[str, Path]:
    extra: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not Path(path).is_file():
            raise SystemExit(f"--nanodet-onnx {value}: expected NAME=PATH of an existing file")
        extra[name] = Path(path).resolve()
    return extra


def default_calib() -> Path:
    """The demo dataset's images if present, else the images under tests/assets."""
    demo = REPO / "runs" / "demo" / "data" / "images"
    return demo if demo.is_dir() and any(demo.rglob("*.jpg")) else REPO / "tests" / "assets"


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", default="1", help="comma-separated, e.g. 1,2")
    parser.add_argument("--calib", type=Path, default=None,
                        help="calibration image folder (default: the demo images, if present, "
                             "else tests/assets)")
    parser.add_argument("--calib-images", type=int, default=100)
    parser.add_argument("--work-dir", type=Path, default=REPO / "runs" / "peers")
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--nanodet-weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--nanodet-config", default=NANODET)
    parser.add_argument("--nanodet-onnx", action="append", default=[], metavar="NAME=PATH",
                        help="another NanoDet ONNX file, as extra rows (repeatable)")
    parser.add_argument("--yolo-opset", type=int, default=13,
                        help="ONNX opset of the YOLO exports (13: the NanoDet INT8 export's)")
    parser.add_argument("--no-ort-spinning", action="store_true",
                        help="turn off ONNX Runtime's intra-op spin-waiting")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    if not threads or min(threads) < 1 or args.runs < 1:
        parser.error("--threads needs positive integers and --runs at least 1")
    extra = parse_extra(args.nanodet_onnx)
    args.calib = (args.calib or default_calib()).resolve()
    work_dir = args.work_dir.resolve()
    setup_ultralytics(work_dir)

    from nanodet_plus.benchmark.results import load_average, write_results
    from nanodet_plus.export.quantize import calibration_images

    images = calibration_images(args.calib, args.calib_images)
    print(f"calibration: {len(images)} images from {rel(args.calib)}", file=sys.stderr)
    print(RANDOM_WEIGHTS_NOTE, file=sys.stderr)
    models = [build_nanodet(args, images, work_dir / "nanodet")]
    models += [build_yolo(name, args, images, work_dir / "yolo") for name in YOLOS]
    for model in models:
        model.info["output_shapes"] = output_shapes(model.onnx)
        print(f"{model.name}: outputs {model.info['output_shapes']}, "
              f"{model.info['gflops']['torch_flop_counter']:.2f} GFLOPs", file=sys.stderr)
    variants = list(VARIANTS)
    for name, path in extra.items():
        variants += extra_nanodet_variants(name, path)

    bf16 = cpu_has_bf16()
    date = datetime.date.today().isoformat()
    load_before = load_average()
    results: list[dict[str, Any]] = []
    for count in threads:
        ctx = Context(threads=count, bf16=bf16, ort_spinning=not args.no_ort_spinning)
        results += measure(models, variants, ctx, args.runs, args.warmup)
    data = {
        "openvino_cpu_capabilities": list(
            openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")),
        "git_commit": git_commit(),
        "settings": {"input": [1, 3, SIZE, SIZE], "runs": args.runs, "warmup": args.warmup,
                     "threads": threads, "calib": rel(args.calib), "calib_images": len(images),
                     "ort_spinning": not args.no_ort_spinning, "yolo_opset": args.yolo_opset,
                     "timing": "model-only, interleaved round robin in one process",
                     "extra_nanodet_onnx": {k: rel(v) for k, v in extra.items()}},
        "notes": [RANDOM_WEIGHTS_NOTE],
        "models": {model.name: model.info for model in models},
        "results": results,
    }
    command = shlex.join([rel(sys.executable), rel(sys.argv[0]),
                          *(sys.argv[1:] if argv is None else argv)])
    json_path = write_results(args.results_dir / f"peers-{date}.json", "bench_peers", FIGURE,
                              data, command=command, runtimes=PACKAGES, load_before=load_before)
    print(markdown(json.loads(json_path.read_text()), variants))
    print(f"wrote {rel(json_path)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run())
