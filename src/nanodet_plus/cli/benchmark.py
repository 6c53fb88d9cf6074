"""``nanodet benchmark``: latency of one model on several runtimes, side by side.

Exports the weights to every requested runtime (verified, into a work folder), then times
model-only inference and the full image -> Detections pipeline, interleaving the backends
run by run in one process. Prints a markdown table and writes it to ``--out``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from nanodet_plus.cli.options import add_image_size, add_number, input_file
from nanodet_plus.errors import DataError, ExportError, UsageError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from nanodet_plus.benchmark.latency import BACKENDS, DEFAULT_BACKENDS

    parser = subparsers.add_parser(
        "benchmark",
        help="time a model on PyTorch, ONNX Runtime, OpenVINO, ncnn, MNN (and INT8)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("weights", help="a .pth/.ckpt checkpoint, or an official name such as "
                        "nanodet-plus-m_416")
    parser.add_argument(
        "--backends", default=",".join(DEFAULT_BACKENDS),
        help=f"comma-separated, from: {', '.join(BACKENDS)} (default: %(default)s)",
    )
    parser.add_argument("--config", help="preset or YAML (default: the checkpoint's)")
    add_image_size(parser, "input width and height (default: the config's)")
    add_number(parser, "--threads", type=int, default=1, low=1, help="threads per runtime (1)")
    add_number(parser, "--runs", type=int, default=100, low=1,
               help="timed runs per backend (100)")
    add_number(parser, "--warmup", type=int, default=10, low=0, help="untimed runs first (10)")
    parser.add_argument("--image", help="image to time on (default: a generated 640x480 scene)")
    parser.add_argument("--data", help="config with a val split: also measure mAP per backend")
    parser.add_argument("--calib", help="calibration images for onnxruntime-int8 (folder/config)")
    parser.add_argument("--onnx", dest="extra_onnx", action="append", default=[],
                        metavar="NAME=FILE",
                        help="also time an existing ONNX file as row NAME (repeatable)")
    parser.add_argument("--workdir", help="keep the exported files here (default: temporary)")
    parser.add_argument("--out", help="write the markdown table to this file")
    parser.add_argument("--force", action="store_true", help="replace an existing --out file")
    parser.set_defaults(func=run)


def describe_command(args: argparse.Namespace) -> str:
    """The equivalent ``nanodet benchmark`` command line, for the report."""
    parts = ["nanodet", "benchmark", str(args.weights), "--backends", args.backends,
             "--threads", str(args.threads), "--runs", str(args.runs)]
    for flag, value in (("--config", args.config), ("--image", args.image),
                        ("--data", args.data), ("--calib", args.calib)):
        if value:
            parts += [flag, str(value)]
    if args.imgsz:
        parts += ["--imgsz", str(args.imgsz[0]), str(args.imgsz[1])]
    for item in args.extra_onnx:
        parts += ["--onnx", item]
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    import cv2

    from nanodet_plus.benchmark.latency import (
        BACKENDS,
        format_table,
        machine_description,
        open_backends,
        run_benchmark,
    )
    from nanodet_plus.data.synthetic import synthetic_image
    from nanodet_plus.models.official_weights import resolve_weights
    from nanodet_plus.utils.files import atomic_write_text, refuse_to_replace

    if args.out:
        refuse_to_replace(args.out, allowed=args.force)
    names = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = [name for name in names if name not in BACKENDS]
    if unknown or not names:
        problem = f"unknown backend(s) {', '.join(unknown)}" if unknown else "no backend given"
        raise UsageError(f"--backends: {problem}; choose from {', '.join(BACKENDS)}")
    weights, args.config = resolve_weights(args.weights, args.config)
    weights = input_file(weights, "weights file")
    _check_inputs(weights, args)
    extra_files: dict[str, Path] = {}
    for item in args.extra_onnx:
        name, sep, file = item.partition("=")
        if not sep or not Path(file).is_file():
            raise UsageError(f"--onnx expects NAME=FILE with an existing file, got '{item}'")
        extra_files[name] = Path(file)
    if args.image:
        image = cv2.imread(args.image, cv2.IMREAD_COLOR)
        if image is None:
            raise DataError(f"{args.image}: cannot read image")
    else:
        image = synthetic_image()
    input_size = tuple(args.imgsz) if args.imgsz else None

    with tempfile.TemporaryDirectory(prefix="nanodet-bench-") as tmp:
        folder = Path(args.workdir) if args.workdir else Path(tmp)
        backends = open_backends(weights, names, folder, input_size=input_size,
                                 threads=args.threads, config=args.config, calib=args.calib)
        if extra_files:
            from nanodet_plus.runtime.onnxruntime_backend import OnnxRuntimeBackend

            for name, file in extra_files.items():
                backends[name] = OnnxRuntimeBackend(file, threads=args.threads,
                                                    config=args.config)
        ap_fn = None
        if args.data:
            from nanodet_plus.benchmark.accuracy import evaluate_ap

            def ap_fn(backend):
                return evaluate_ap(backend, args.data)

        rows = run_benchmark(backends, image, threads=args.threads, runs=args.runs,
                             warmup=args.warmup, ap_fn=ap_fn)
    failed = [row for row in rows if row.error]
    if len(failed) == len(rows):
        raise ExportError(f"{weights}: no backend could be run; {failed[0].backend}: "
                          f"{failed[0].error}")
    size = input_size or next(
        (tuple(b.meta.input_size) for b in backends.values() if not isinstance(b, str)), (0, 0)
    )
    table = format_table(rows, size)
    command = describe_command(args)
    report = (f"Machine: {machine_description()}\n\nCommand: `{command}`\n\n{table}\n")
    print(report)
    if args.out:
        atomic_write_text(args.out, report)
    return 0


def _check_inputs(weights: Path, args: argparse.Namespace) -> None:
    """Read the weights, ``--config`` and ``--data`` before exporting anything: a file that is
    not NanoDet-Plus weights or a config is one line naming it, not a table of n/a rows."""
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.models.loading import nanodet_state_dict
    from nanodet_plus.models.weights import read_checkpoint

    nanodet_state_dict(read_checkpoint(weights), weights)
    for config in (args.config, args.data):
        if config is not None:
            load_config(config)
