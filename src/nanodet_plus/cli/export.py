"""``nanodet export``: write a verified deploy file (ONNX, TorchScript, OpenVINO, ncnn, MNN).

The default output is the official ONNX deploy layout: input ``data`` [N, 3, H, W] (normalised
BGR), output ``output`` [N, points, C + 32] with sigmoid class scores, then raw distance logits.
Each export is run on its own runtime against PyTorch on an image and refused when they differ.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nanodet_plus.cli.options import add_image_size, add_number, input_file
from nanodet_plus.errors import UsageError

FORMAT_CHOICES = ("onnx", "torchscript", "openvino", "ncnn", "mnn")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export weights to ONNX, TorchScript, OpenVINO, ncnn or MNN (verified)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("weights", help="a .pth/.ckpt checkpoint, or an official name such as "
                        "nanodet-plus-m_416")
    parser.add_argument(
        "--format", default="onnx", help=f"one of {', '.join(FORMAT_CHOICES)} (default onnx)"
    )
    parser.add_argument(
        "--config",
        help="preset or YAML (default: the checkpoint's config, else read from its weights)",
    )
    add_image_size(parser, "input width and height, multiples of 32 (default: the config's)")
    add_number(parser, "--batch", type=int, default=1, low=1, help="fixed batch size (1)")
    parser.add_argument(
        "--dynamic", action="store_true", help="dynamic batch, height and width (onnx, openvino)"
    )
    parser.add_argument(
        "--simplify", action=argparse.BooleanOptionalAction, default=True,
        help="simplify the ONNX graph with onnxslim (default on)",
    )
    parser.add_argument(
        "--int8", action="store_true",
        help="static INT8 quantisation, needs --calib: ONNX Runtime QDQ (opset 13) for "
        "--format onnx, NNCF for --format openvino (pip install 'nanodet-plus[nncf]')",
    )
    parser.add_argument(
        "--calib", help="calibration images: a folder, or a config/preset with a dataset"
    )
    parser.add_argument(
        "--val-ap", action="store_true",
        help="with --int8: measure COCO mAP of the model as trained and of the INT8 file on the "
        "config's val split, and print the change",
    )
    add_number(parser, "--calib-images", type=int, default=100, low=1,
               help="calibration images used at most (100)")
    parser.add_argument(
        "--end2end", action="store_true",
        help="decode in the graph: outputs boxes [N, points, 4] (input pixels) and scores",
    )
    parser.add_argument(
        "--nms", action="store_true",
        help="with --end2end: class-aware NMS in the graph, output detections [K, 7] "
        "(batch, x1, y1, x2, y2, score, class)",
    )
    parser.add_argument(
        "--layout", choices=("flat", "per-level"), default="flat",
        help="flat: the official single output; per-level: cls/dis outputs per stride",
    )
    parser.add_argument(
        "--keep-shuffles", action="store_true",
        help="keep ShuffleNetV2's channel shuffles in the graph, as the official export does "
        "(default: an equivalent graph without them, 1-8%% faster on CPU runtimes)",
    )
    parser.add_argument("--output", "-o", help="output file (default: beside the weights)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing output file (never a folder)")
    parser.add_argument(
        "--verify-image", help="image for the parity check (default: a generated scene)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nanodet_plus.export.exporter import ExportOptions, export_model
    from nanodet_plus.models.official_weights import resolve_weights

    if args.format not in FORMAT_CHOICES:
        raise UsageError(
            f"unsupported export format '{args.format}'; choose one of {', '.join(FORMAT_CHOICES)}"
        )
    weights, config = resolve_weights(args.weights, args.config)
    weights = input_file(weights, "weights file")
    options = ExportOptions(
        format=args.format,
        config=config,
        input_size=tuple(args.imgsz) if args.imgsz else None,
        batch=args.batch,
        dynamic=args.dynamic,
        simplify=args.simplify,
        int8=args.int8,
        calib=args.calib,
        calib_images=args.calib_images,
        end2end=args.end2end,
        nms=args.nms,
        layout=args.layout,
        output=args.output,
        verify_image=args.verify_image,
        force=args.force,
        shuffle_free=not args.keep_shuffles,
    )
    if args.val_ap:
        if not args.int8:
            raise UsageError("--val-ap compares an INT8 export with the model as trained: "
                             "add --int8")
        _val_config(weights, config)  # before the export: a config without val fails fast
    result = export_model(weights, options)
    width, height = result.meta.input_size
    print(f"exported {result.path} ({args.format}, {width}x{height}, {result.difference()})")
    for extra in result.files[1:]:
        print(f"  + {extra}")
    for note in result.notes:
        print(f"  {note}")
    if args.val_ap:
        exact, reduced = _val_ap(weights, config, result.path, (width, height))
        print(f"  val mAP: {exact:.4f} as trained, {reduced:.4f} INT8 "
              f"({100 * (reduced - exact):+.2f} points)")
    return 0


def _val_ap(weights: Path, config: Any, exported: Path, input_size: tuple[int, int]):
    """COCO mAP on the config's val split of the checkpoint (fp32) and of the exported file."""
    from nanodet_plus.benchmark.accuracy import evaluate_ap
    from nanodet_plus.models.loading import load_model
    from nanodet_plus.runtime.registry import load_backend
    from nanodet_plus.runtime.torch_backend import TorchBackend

    loaded = load_model(weights, config)
    cfg = _val_config(weights, config, loaded)
    cfg.data.input_size = tuple(input_size)
    exact = evaluate_ap(TorchBackend(loaded.model, config=cfg), cfg)
    reduced = evaluate_ap(load_backend(exported, threads=None, config=cfg), cfg)
    return exact, reduced


def _val_config(weights: Path, config: Any, loaded: Any = None) -> Any:
    """The config whose val split ``--val-ap`` measures on; a UsageError when it has none."""
    from nanodet_plus.models.loading import load_model

    cfg = (loaded or load_model(weights, config)).config
    if cfg.data.val is None:
        raise UsageError(f"--val-ap: the config of {weights.name} names no data.val split; "
                         "pass --config with one")
    return cfg
