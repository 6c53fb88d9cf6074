r"""NanoDet-Plus INT8 on XNNPACK (LiteRT) against OpenVINO INT8: does another CPU runtime run the
depthwise convolutions in INT8 and beat OpenVINO, which runs them in float?

The exported ONNX model is converted to TFLite by onnx2tf (full integer quantisation, per-channel
weights, calibrated on ``--calib`` images preprocessed as the Detector does) and run by LiteRT,
whose default CPU delegate is XNNPACK (INT8 depthwise and GEMM kernels for x86). It is timed in
alternation, run by run, with the OpenVINO INT8 file that ``nanodet export --format openvino
--int8`` wrote from the same weights, through the package's OpenVINO backend as the Detector
runs it, with the bf16 hint (the default path on a CPU with bf16) and with f32. Figure:
model-only latency on a prepared input, median and p90 ms over ``--runs`` after ``--warmup``
interleaved runs, 1 thread by default. Each converted file's class scores on
the first calibration image are compared with ONNX Runtime fp32 on the ONNX file, as the export
checks INT8 files.

Environment (once, from the repository root; TensorFlow lives in its own venv, never in the
package's; never let a later install replace torch):

    python3 -m venv .venv-litert
    .venv-litert/bin/pip install torch==2.14.1 torchvision==0.29.1
    printf '%s\n' torch==2.14.1 torchvision==0.29.1 numpy==2.4.6 > /tmp/litert-constraints.txt
    .venv-litert/bin/pip install -c /tmp/litert-constraints.txt tensorflow-cpu onnx2tf \
        ai-edge-litert onnx==1.18.0 onnxruntime onnx_graphsurgeon sng4onnx onnxsim psutil \
        tf_keras simple_onnx_processing_tools openvino==2026.4.1 opencv-python-headless pyyaml
    .venv-litert/bin/pip install --no-deps -e .

Usage (the two files from the same weights, e.g. the demo model):

    .venv/bin/nanodet export W.pth --output runs/litert/model.onnx
    .venv/bin/nanodet export W.pth --format openvino --int8 --calib DIR \
        --output runs/litert/model_int8.xml
    .venv-litert/bin/python benchmarks/bench_litert.py runs/litert/model.onnx \
        runs/litert/model_int8.xml --calib DIR [--runs 100] [--threads 1]

Writes ``benchmarks/results/litert-DATE.json`` (machine, command, versions, every figure).
onnx2tf runs offline: its accuracy check reads a sample-data file that this script writes into
the work directory from the calibration images, instead of downloading one.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import REPO, Run, add_out_argument  # beside this script

from nanodet_plus.benchmark.latency import summarise
from nanodet_plus.export.quantize import calibration_batches, calibration_images
from nanodet_plus.model_meta import ModelMeta, read_onnx_meta

FIGURE = ("NanoDet-Plus INT8 model-only latency: XNNPACK via LiteRT (onnx2tf full-integer "
          "conversion) against the OpenVINO INT8 export, median ms, interleaved")
# onnx2tf reads this file from the working directory for its checks; absent, it downloads it.
ONNX2TF_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def nhwc_unit_range(batches: list[np.ndarray], meta: ModelMeta) -> np.ndarray:
    """Normalised NCHW batches back to NHWC pixels / 255, the form onnx2tf calibrates on."""
    mean = np.asarray(meta.mean, np.float32)[:, None, None]
    std = np.asarray(meta.std, np.float32)[:, None, None]
    pixels = [(batch[0] * std + mean) / 255.0 for batch in batches]
    return np.stack(pixels).transpose(0, 2, 3, 1).astype(np.float32)


def convert(onnx_path: Path, calib: np.ndarray, meta: ModelMeta, work: Path) -> dict[str, Path]:
    """The ONNX file through onnx2tf: fp32 and INT8 TFLite files, by name."""
    import cv2
    import onnx
    import onnx2tf

    input_name = onnx.load(str(onnx_path), load_external_data=False).graph.input[0].name
    work.mkdir(parents=True, exist_ok=True)
    np.save(work / "calib.npy", calib)
    sample = np.stack([cv2.resize(image, (128, 128)) for image in calib[:20]])
    np.save(work / ONNX2TF_SAMPLE, sample.astype(np.float32))
    mean = (np.asarray(meta.mean, np.float32) / 255).reshape(1, 1, 1, 3)
    std = (np.asarray(meta.std, np.float32) / 255).reshape(1, 1, 1, 3)
    source = onnx_path.resolve()
    with contextlib.chdir(work):
        onnx2tf.convert(input_onnx_file_path=str(source), output_folder_path="tf",
                        output_integer_quantized_tflite=True, quant_type="per-channel",
                        custom_input_op_name_np_data_path=[[input_name, "calib.npy", mean, std]],
                        non_verbose=True)
    stem = onnx_path.stem
    return {"fp32": work / "tf" / f"{stem}_float32.tflite",
            "int8 (float input and output)": work / "tf" / f"{stem}_integer_quant.tflite",
            "int8 (int8 input and output)": work / "tf" / f"{stem}_full_integer_quant.tflite"}


def litert_call(path: Path, threads: int
                ) -> tuple[Callable[[], Any], Callable[[np.ndarray], np.ndarray], float | None]:
    """(timed call on a prepared input, run on one NCHW float batch -> [1, N, C] float, the
    output's INT8 step when the output is integer)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]
    interpreter.set_tensor(source["index"], np.zeros(source["shape"], source["dtype"]))

    def run(batch: np.ndarray) -> np.ndarray:
        image = batch.transpose(0, 2, 3, 1)
        if source["dtype"] != np.float32:  # integer input: quantise as the converter did
            scale, zero = source["quantization"]
            bounds = np.iinfo(source["dtype"])
            image = np.clip(np.round(image / scale + zero), bounds.min, bounds.max)
            image = image.astype(source["dtype"])
        interpreter.set_tensor(source["index"], image)
        interpreter.invoke()
        out = interpreter.get_tensor(target["index"])
        if target["dtype"] != np.float32:
            scale, zero = target["quantization"]
            out = (out.astype(np.float32) - zero) * scale
        interpreter.set_tensor(source["index"], np.zeros(source["shape"], source["dtype"]))
        return out

    step = float(target["quantization"][0]) if target["dtype"] != np.float32 else None
    return interpreter.invoke, run, step


def openvino_call(path: Path, hint: str, threads: int, shape: tuple[int, ...]
                  ) -> tuple[Callable[[], Any], Callable[[np.ndarray], np.ndarray]]:
    """The package's OpenVINO backend with this precision hint, as the Detector runs it."""
    from nanodet_plus.runtime.openvino_backend import OpenVinoBackend

    backend = OpenVinoBackend(path, threads=threads, precision=hint)
    prepared = np.zeros(shape, np.float32)
    return (lambda: backend.infer(prepared)), backend.infer


def score_check(want: np.ndarray, got: np.ndarray, num_classes: int) -> dict[str, float]:
    """Class-score agreement with fp32, as the INT8 export reports it."""
    want, got = want[..., :num_classes], got[..., :num_classes]
    return {"score_mean_abs_diff": float(np.abs(want - got).mean()),
            "candidates_fp32": int((want > 0.05).sum()), "candidates": int((got > 0.05).sum())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("onnx", type=Path, help="fp32 ONNX file from nanodet export")
    parser.add_argument("openvino_int8", type=Path, help="INT8 .xml from nanodet export")
    parser.add_argument("--calib", required=True, help="calibration image folder")
    parser.add_argument("--calib-images", type=int, default=64)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work-dir", type=Path, default=Path("runs/litert"))
    add_out_argument(parser, "litert")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)
    executable = Path(sys.executable).absolute()
    if executable.is_relative_to(REPO):  # the benchmark's own venv, as its docstring sets up
        run.command = run.command.replace("python", str(executable.relative_to(REPO)), 1)
    import onnxruntime as ort

    for path in (args.onnx, args.openvino_int8):
        if not path.is_file():
            raise SystemExit(f"{path}: no such file; write it with nanodet export (see the "
                             "usage at the top of benchmarks/bench_litert.py)")
    meta = read_onnx_meta(args.onnx)
    if meta is None:
        raise SystemExit(f"{args.onnx}: no nanodet metadata; export it with nanodet export")
    batches = list(calibration_batches(calibration_images(args.calib, args.calib_images), meta))
    tflite = convert(args.onnx, nhwc_unit_range(batches, meta), meta, args.work_dir)
    check_image = batches[0]
    reference = ort.InferenceSession(str(args.onnx), providers=["CPUExecutionProvider"])
    want = reference.run(None, {reference.get_inputs()[0].name: check_image})[0]

    calls: dict[str, tuple[str, str, Path, Callable[[], Any]]] = {}
    checks: dict[str, dict[str, float]] = {}
    for hint in ("bf16", "f32"):
        name = f"OpenVINO INT8 ({hint} hint)"
        timed, infer = openvino_call(args.openvino_int8, hint, args.threads, check_image.shape)
        calls[name] = ("openvino", f"int8 + {hint}", args.openvino_int8, timed)
        checks[name] = score_check(want, infer(check_image), meta.num_classes)
    for precision, path in tflite.items():
        name = f"LiteRT/XNNPACK {precision}"
        timed, infer, step = litert_call(path, args.threads)
        calls[name] = ("litert", precision, path, timed)
        checks[name] = score_check(want, infer(check_image), meta.num_classes)
        if step is not None:
            checks[name]["output_int8_step"] = step

    times: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for index in range(args.warmup + args.runs):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            calls[name][3]()
            if index >= args.warmup:
                times[name].append((time.perf_counter() - start) * 1000)
    baseline = summarise(times[names[0]])[0]
    rows = []
    for name, (runtime, precision, path, _) in calls.items():
        median, p90 = summarise(times[name])
        rows.append({"name": name, "runtime": runtime, "precision": precision,
                     "file": path.name, "median_ms": median, "p90_ms": p90,
                     "over_openvino_int8": median / baseline, **checks[name]})
        print(f"{name:42s} {median:7.2f} ms  x{median / baseline:.2f}  "
              f"score diff {checks[name]['score_mean_abs_diff']:.4f}")
    run.save(args.out, "litert", FIGURE, {
        "settings": {"onnx": str(args.onnx), "openvino_int8": str(args.openvino_int8),
                     "input_size": list(meta.input_size), "threads": args.threads,
                     "runs": args.runs, "warmup": args.warmup, "calib_images": len(batches)},
        "rows": rows}, runtimes=("openvino", "ai-edge-litert", "tensorflow", "onnx2tf",
                                  "onnxruntime"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
