"""``export_model``: checkpoint -> verified deploy file (ONNX, TorchScript, OpenVINO, ncnn, MNN).

Every export is written to a temporary folder, run on its own runtime against PyTorch on an
image, and moved to its destination only when the outputs agree within the tolerance.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nanodet_plus import __version__
from nanodet_plus.errors import ExportError
from nanodet_plus.export.graph import (
    EndToEndGraph,
    EndToEndNmsGraph,
    PerLevelGraph,
    find_project,
    per_level_output_names,
)
from nanodet_plus.export.verify import TOLERANCE, check_parity, image_batch
from nanodet_plus.model_meta import ModelMeta
from nanodet_plus.models.loading import load_model
from nanodet_plus.utils.files import refuse_to_replace
from nanodet_plus.utils.optional import require

LOGGER = logging.getLogger(__name__)

BOX_TOLERANCE_PX = 1e-2

FORMATS = ("onnx", "torchscript", "openvino", "ncnn", "mnn")
SUFFIXES = {
    "onnx": ".onnx",
    "torchscript": ".torchscript",
    "openvino": ".xml",
    "ncnn": ".ncnn.param",
    "mnn": ".mnn",
}


# (module, pip extra) each format needs, checked before any work is done.
REQUIRED_MODULES = {
    "onnx": (("onnx", "onnx"), ("onnxruntime", "onnx")),
    "torchscript": (),
    "openvino": (("onnx", "onnx"), ("openvino", "openvino")),
    "ncnn": (("pnnx", "ncnn"), ("ncnn", "ncnn")),
    "mnn": (("onnx", "onnx"), ("MNN", "mnn"), ("_tools", "mnn")),
}


@dataclass
class ExportOptions:
    """What to export. ``input_size`` is (width, height); None takes the config's."""

    format: str = "onnx"
    config: Any = None
    input_size: tuple[int, int] | None = None
    batch: int = 1
    dynamic: bool = False
    simplify: bool = True
    int8: bool = False
    calib: Any = None
    calib_images: int = 100
    end2end: bool = False
    nms: bool = False
    layout: str = "flat"
    output: str | Path | None = None
    verify_image: str | Path | np.ndarray | None = None
    opset: int | None = None
    force: bool = False  # replace existing files at the output path
    shuffle_free: bool = True  # ShuffleNetV2 without channel shuffles (export/shuffle_free.py)


@dataclass
class ExportResult:
    """The written files (main file first), their metadata and the measured parity."""

    path: Path
    files: list[Path]
    meta: ModelMeta
    max_diff: float
    tolerance: float
    notes: list[str] = field(default_factory=list)
    int8: bool = False

    def difference(self) -> str:
        """The measured difference to PyTorch in words: INT8 files are checked by their mean
        class-score difference, other files by their largest difference."""
        kind = "mean class-score difference" if self.int8 else "max difference"
        return f"{kind} to PyTorch {self.max_diff:.2e}"


def validate_options(options: ExportOptions) -> None:
    """Raise :class:`ExportError` for option combinations that cannot work."""
    if options.format not in FORMATS:
        raise ExportError(
            f"unsupported export format '{options.format}'; choose one of {', '.join(FORMATS)}"
        )
    if options.input_size is not None:
        width, height = options.input_size
        if width <= 0 or height <= 0 or width % 32 or height % 32:
            raise ExportError(
                f"image size {width}x{height} is not divisible by 32; use e.g. "
                f"{max(32, round(width / 32) * 32)}x{max(32, round(height / 32) * 32)}"
            )
    if options.output is not None:
        expected = SUFFIXES[options.format].rsplit(".", 1)[-1]
        if Path(options.output).suffix.lower() != f".{expected}":
            raise ExportError(
                f"{options.output}: a {options.format} export must end in .{expected} "
                "(runtimes are chosen by suffix)"
            )
    if options.batch < 1:
        raise ExportError(f"batch must be at least 1, got {options.batch}")
    if options.layout not in ("flat", "per-level"):
        raise ExportError(f"unknown layout '{options.layout}'; choose flat or per-level")
    if options.end2end and options.layout != "flat":
        raise ExportError("--end2end and --layout per-level cannot be combined")
    if options.nms and not options.end2end:
        raise ExportError("--nms needs --end2end")
    if options.int8:
        if options.format not in ("onnx", "openvino"):
            raise ExportError("--int8 is available for --format onnx (ONNX Runtime QDQ) and "
                              "--format openvino (NNCF) only")
        if options.calib is None:
            raise ExportError("--int8 needs calibration images: pass --calib DIR|CONFIG")
        if options.end2end or options.layout != "flat":
            raise ExportError("--int8 exports the flat layout only")
    if options.dynamic and options.format not in ("onnx", "openvino"):
        raise ExportError(
            f"--dynamic is supported for onnx and openvino only, not {options.format}; "
            "export one fixed size per deployment"
        )
    if options.format == "ncnn" and options.batch != 1:
        raise ExportError("ncnn runs one image at a time; export with --batch 1")
    if options.dynamic and options.end2end:
        raise ExportError("--end2end needs a fixed input size (constant priors); drop --dynamic")


def default_output(weights: Path, options: ExportOptions) -> Path:
    """``<weights stem>[.int8]<format suffix>`` beside the weights."""
    stem = weights.with_suffix("").name
    if options.int8:
        stem += ".int8"
    if options.end2end:
        stem += ".e2e"
    return weights.with_name(stem + SUFFIXES[options.format])


def build_meta(cfg, model: torch.nn.Module, options: ExportOptions) -> ModelMeta:
    """Metadata for the exported graph from the config, the loaded model and the options."""
    reg_max = cfg.model.head.reg_max
    project = find_project(model, reg_max)
    is_default = torch.equal(project, torch.arange(reg_max + 1, dtype=torch.float32))
    layout = "end2end" if options.end2end else options.layout
    names = list(cfg.class_names) if cfg.class_names else None
    if names is None and cfg.model.num_classes == 80:
        from nanodet_plus.data.coco_classes import COCO_CLASSES

        names = list(COCO_CLASSES)
    return ModelMeta(
        num_classes=cfg.model.num_classes,
        class_names=names,
        input_size=tuple(options.input_size),
        strides=tuple(cfg.model.head.strides),
        reg_max=reg_max,
        project=None if is_default else [float(v) for v in project.tolist()],
        mean=tuple(cfg.data.mean),
        std=tuple(cfg.data.std),
        keep_ratio=cfg.data.keep_ratio,
        scores_are_sigmoid=True,
        fixed_shape=not options.dynamic,
        batch_size=None if options.dynamic else options.batch,
        extra={
            "layout": layout,
            "nms": bool(options.nms),
            "int8": bool(options.int8),
            "export_format": options.format,
            "exporter_version": __version__,
        },
    )


def build_graph(model, cfg, options: ExportOptions) -> tuple[torch.nn.Module, list[str]]:
    """The module to trace and its output names, per the requested layout."""
    flat = model.inference_model(sigmoid_scores=True).eval()
    if options.shuffle_free:
        from nanodet_plus.export.shuffle_free import without_channel_shuffles

        flat = without_channel_shuffles(flat)
    width, height = options.input_size
    strides = tuple(cfg.model.head.strides)
    if options.end2end:
        project = find_project(model, cfg.model.head.reg_max)
        decoded = EndToEndGraph(flat, (height, width), strides, project)
        if options.nms:
            return EndToEndNmsGraph(decoded).eval(), ["detections"]
        return decoded.eval(), ["boxes", "scores"]
    if options.layout == "per-level":
        return PerLevelGraph(flat, (height, width), strides).eval(), per_level_output_names(
            strides
        )
    return flat, ["output"]


def torch_outputs(graph: torch.nn.Module, batch: np.ndarray) -> list[np.ndarray]:
    """The graph's outputs in PyTorch as numpy arrays (the parity reference)."""
    with torch.no_grad():
        out = graph(torch.from_numpy(batch))
    items = out if isinstance(out, (tuple, list)) else (out,)
    return [item.numpy() for item in items]


def comparable(outputs: list[np.ndarray], options: ExportOptions) -> list[np.ndarray]:
    """NMS detections sorted row-wise so eager and runtime order do not matter."""
    if options.end2end and options.nms:
        det = np.asarray(outputs[0])
        order = np.lexsort((det[:, 5], det[:, 6], det[:, 0])) if len(det) else []
        return [det[order]]
    return [np.asarray(o) for o in outputs]


def check_end2end(fmt: str, expected, actual, nms: bool) -> float:
    """Scores at the format's tolerance, boxes (input pixels) within ``BOX_TOLERANCE_PX``."""
    if nms:
        if expected[0].shape != np.shape(actual[0]):
            raise ExportError(
                f"{fmt} end-to-end export keeps {len(actual[0])} detections, PyTorch "
                f"{len(expected[0])}; the file was not written"
            )
        want, got = expected[0], np.asarray(actual[0])
        check_parity(fmt, [want[:, [0, 6]]], [got[:, [0, 6]]], tolerance=0.0)
        box_diff = check_parity(fmt, [want[:, 1:5]], [got[:, 1:5]], tolerance=BOX_TOLERANCE_PX)
        return max(box_diff, check_parity(fmt, [want[:, 5]], [got[:, 5]]))
    box_diff = check_parity(fmt, expected[:1], actual[:1], tolerance=BOX_TOLERANCE_PX)
    return max(box_diff, check_parity(fmt, expected[1:], actual[1:]))


def export_model(
    weights: str | Path, options: ExportOptions | None = None, **kwargs: Any
) -> ExportResult:
    """Export ``weights`` per ``options`` (or keyword overrides), verified against PyTorch."""
    options = replace(options or ExportOptions(), **kwargs)
    validate_options(options)
    for module, extra in REQUIRED_MODULES[options.format]:
        require(module, extra)
    if options.int8:
        if options.format == "openvino":
            require("nncf", "nncf")
        else:
            require("onnxruntime", "onnx")
        from nanodet_plus.export.quantize import calibration_images

        calibration_images(options.calib, options.calib_images)  # unusable: fail before work
    weights = Path(weights)
    destination = Path(options.output) if options.output else default_output(weights, options)
    refuse_to_replace(destination, "--force (force=True)", allowed=options.force)
    loaded = load_model(weights, options.config)
    model, cfg = loaded.model, loaded.config
    if options.input_size is None:
        options.input_size = tuple(cfg.data.input_size)
        validate_options(options)
    meta = build_meta(cfg, model, options)
    graph, output_names = build_graph(model, cfg, options)
    batch = image_batch(options.verify_image, options.input_size, meta.mean, meta.std,
                        options.batch)
    # the exported file is checked against the model as trained, never against a rewrite
    reference = (build_graph(model, cfg, replace(options, shuffle_free=False))[0]
                 if options.shuffle_free else graph)
    expected = comparable(torch_outputs(reference, batch), options)
    destination.parent.mkdir(parents=True, exist_ok=True)

    from nanodet_plus.export import formats

    with tempfile.TemporaryDirectory(prefix=".nanodet-export-", dir=destination.parent) as tmp:
        staged = Path(tmp) / destination.name
        files, backend = formats.write(options.format, graph, batch, staged, meta, output_names,
                                       options)
        actual = comparable(backend.run(batch), options)
        del backend
        tolerance = TOLERANCE[options.format]
        notes: list[str] = []
        if options.int8:
            diff, note = formats.check_int8(expected, actual, meta)
            notes.append(note)
        elif options.end2end:
            diff = check_end2end(options.format, expected, actual, options.nms)
        else:
            diff = check_parity(options.format, expected, actual)
        targets = [destination.parent / file.name for file in files]
        for target in targets:  # the companion files (.bin, .json) too, before any is moved
            refuse_to_replace(target, "--force (force=True)", allowed=options.force)
        for file, target in zip(files, targets):
            file.replace(target)
        written = targets
    result = ExportResult(written[0], written, meta, diff, tolerance, notes, int8=options.int8)
    LOGGER.info("exported %s (%s)", written[0], result.difference())
    return result
