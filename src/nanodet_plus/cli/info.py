"""``nanodet info``: parameters, FLOPs and output layout of a preset, config or checkpoint.

FLOPs are 2 × multiply-accumulates of every convolution in the inference graph (backbone,
fpn, head), the convention of the official README; parameters are shown with and without the
training-only Assign Guidance Module (aux_fpn + aux_head).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from nanodet_plus.cli.options import add_image_size, add_number
from nanodet_plus.errors import UsageError

logger = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin")
EXPORTED_SUFFIXES = (".onnx", ".xml", ".param", ".mnn", ".torchscript", ".ts")
ORIGIN_NOTES = {
    "given": "an official checkpoint, with its preset",
    "checkpoint": "with its config",
    "inferred": "architecture read from tensor shapes",
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "info",
        help="show parameters, FLOPs and output layout of a model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="preset name, YAML config or checkpoint (.pth/.ckpt)")
    add_image_size(parser, "input width and height (default: the config's input size)")
    add_number(parser, "--classes", type=int, low=1,
               help="number of classes (default: the config's)")
    parser.set_defaults(func=run)


def _load_model(source: str, num_classes: int | None):
    """``(model, input size, description of the source)``."""
    import nanodet_plus as nd
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.models.loading import load_model

    path = Path(source).expanduser()
    suffix = path.suffix.lower()
    if suffix in EXPORTED_SUFFIXES:
        raise UsageError(f"{path}: an exported {suffix} model; nanodet info reads a preset, a "
                         "YAML config or a .pth/.ckpt checkpoint")
    if suffix not in CHECKPOINT_SUFFIXES:
        config = load_config(source)
        return nd.build_model(config, num_classes), config.data.input_size, source
    loaded = load_model(path, aux=None)
    model = loaded.model
    origin = f"{path} ({loaded.report.layout}, {ORIGIN_NOTES[loaded.config_origin]})"
    if num_classes is not None and num_classes != model.num_classes:
        raise UsageError(f"{path} holds a {model.num_classes}-class model; drop --classes")
    return model, loaded.config.data.input_size, origin


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f}M ({count:,})"


def run(args: argparse.Namespace) -> int:
    import torch

    from nanodet_plus.models.summary import summarize

    model, input_size, origin = _load_model(args.model, args.classes)
    if args.imgsz:
        input_size = tuple(args.imgsz)
    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    info = summarize(model, tuple(input_size))
    config = model.config
    width, height = info.input_size
    modules = ", ".join(f"{name} {n:,}" for name, n in info.parameters_by_module.items())
    aux = "AGM present" if model.has_aux else "no AGM"
    print(f"model: {origin}")
    print(
        f"architecture: NanoDetPlus, ShuffleNetV2 {config.backbone.model_size}, "
        f"Ghost-PAN {config.neck.out_channels}, {info.num_classes} classes, {aux}"
    )
    print(f"parameters (inference: backbone+fpn+head): {_millions(info.inference_parameters)}")
    print(f"parameters (with training-only aux_fpn+aux_head): {_millions(info.total_parameters)}")
    print(f"  conv weights+biases only (inference): {_millions(info.inference_conv_parameters)}")
    print(f"  by module: {modules}")
    print(
        f"FLOPs at {width}x{height} (WxH): {info.flops / 1e9:.3f} G "
        "(2 x MACs of all convolutions of the inference graph, batch 1; "
        "element-wise ops, pooling and resizing not counted)"
    )
    print(
        f"output: [1, {info.num_points}, {info.channels}] raw logits = {info.num_classes} class "
        f"logits + 4 sides x {info.reg_max + 1} distance bins (left, top, right, bottom)"
    )
    levels = ", ".join(
        f"{s}: {w}x{h}" for s, (w, h) in zip(info.strides, info.level_sizes)
    )
    print(f"strides (feature map WxH): {levels}")
    return 0
