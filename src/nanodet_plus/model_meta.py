"""The deployment contract: what post-processing needs to know about a model (``ModelMeta``),
how that travels with exported files (ONNX metadata_props, OpenVINO rt_info, TorchScript extra
file, sidecar ``.json``) and how graph outputs map back to the flat raw layout.

Runtimes read it and exporters write it, so it depends on neither of them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from nanodet_plus import __version__
from nanodet_plus.config.schema import BGR_MEAN, BGR_STD
from nanodet_plus.errors import CheckpointError
from nanodet_plus.utils.files import atomic_write_text
from nanodet_plus.utils.optional import require

LOGGER = logging.getLogger(__name__)

FORMAT_TAG = "nanodet-plus"
LAYOUTS = ("flat", "per-level", "end2end")
RT_INFO_SECTION = "nanodet"
TORCHSCRIPT_META_FILE = "nanodet_meta.json"
_TUPLE_FIELDS = {"input_size", "strides", "mean", "std"}


@dataclass
class ModelMeta:
    """Everything post-processing needs to know about a model, whatever runtime runs it.

    ``scores_are_sigmoid`` is True for the official deploy layout (sigmoid in the graph).
    ``input_size`` is ``(width, height)``; ``fixed_shape`` is False when the runtime accepts
    other sizes (PyTorch, dynamic ONNX).
    """

    num_classes: int
    class_names: list[str] | None = None
    input_size: tuple[int, int] = (416, 416)
    strides: tuple[int, ...] = (8, 16, 32, 64)
    reg_max: int = 7
    project: list[float] | None = None  # integral weights; None means 0..reg_max
    mean: tuple[float, float, float] = BGR_MEAN
    std: tuple[float, float, float] = BGR_STD
    keep_ratio: bool = False
    scores_are_sigmoid: bool = False
    fixed_shape: bool = False
    batch_size: int | None = None  # fixed batch of an exported graph, None when dynamic
    extra: dict = field(default_factory=dict)


def meta_to_dict(meta: ModelMeta) -> dict[str, Any]:
    """A JSON-ready dict of ``meta`` plus the format tag and the package version."""
    data = asdict(meta)
    for key in _TUPLE_FIELDS:
        data[key] = list(data[key])
    data["format"] = FORMAT_TAG
    data["version"] = __version__
    return data


def meta_from_dict(data: dict[str, Any]) -> ModelMeta:
    """Rebuild a :class:`ModelMeta` from :func:`meta_to_dict`; unknown keys go to ``extra``."""
    known = {f.name for f in fields(ModelMeta)}
    kwargs: dict[str, Any] = {}
    extra = dict(data.get("extra") or {})
    for key, value in data.items():
        if key == "extra":
            continue
        if key in known:
            kwargs[key] = tuple(value) if key in _TUPLE_FIELDS and value is not None else value
        elif key not in ("format",):
            extra[key] = value
    if "num_classes" not in kwargs:
        raise CheckpointError("metadata has no num_classes")
    kwargs["extra"] = extra
    return ModelMeta(**kwargs)


def meta_to_props(meta: ModelMeta) -> dict[str, str]:
    """Flat string key/values (each value JSON-encoded) for ONNX metadata_props or rt_info."""
    return {key: json.dumps(value) for key, value in meta_to_dict(meta).items()}


def meta_from_props(props: dict[str, str]) -> ModelMeta | None:
    """Inverse of :func:`meta_to_props`; None when the props are not from this package."""
    if "format" not in props or "num_classes" not in props:
        return None
    decoded = {}
    for key, value in props.items():
        try:
            decoded[key] = json.loads(value)
        except json.JSONDecodeError:
            decoded[key] = value
    if decoded.get("format") != FORMAT_TAG:
        return None
    return meta_from_dict(decoded)


def set_onnx_meta(model: Any, meta: ModelMeta) -> None:
    """Replace an ``onnx.ModelProto``'s metadata_props with ``meta`` (JSON-encoded values)."""
    del model.metadata_props[:]
    for key, value in meta_to_props(meta).items():
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = value
    model.producer_name = "nanodet-plus"


def read_onnx_meta(path: str | Path) -> ModelMeta | None:
    """Metadata written by this package into an ONNX file; None for files without it."""
    onnx = require("onnx", "onnx")
    model = onnx.load(str(path), load_external_data=False)
    props = {entry.key: entry.value for entry in model.metadata_props}
    return meta_from_props(props)


def set_rt_info_meta(model: Any, meta: ModelMeta) -> None:
    """Store ``meta`` in the ``nanodet`` rt_info section of an OpenVINO model."""
    for key, value in meta_to_props(meta).items():
        model.set_rt_info(value, [RT_INFO_SECTION, key])


def read_rt_info_meta(model: Any) -> ModelMeta | None:
    """Metadata from the ``nanodet`` rt_info section of an OpenVINO model; None without it."""
    if not model.has_rt_info([RT_INFO_SECTION]):
        return None
    section = model.get_rt_info()[RT_INFO_SECTION]
    if not isinstance(section, dict):
        return None
    props = {
        str(key): value.astype(str) if hasattr(value, "astype") else str(value)
        for key, value in section.items()
    }
    return meta_from_props(props)


def sidecar_path(model_path: str | Path) -> Path:
    """The metadata file beside an exported model: ``model.mnn`` -> ``model.mnn.json``."""
    path = Path(model_path)
    return path.with_name(path.name + ".json")


def write_sidecar(meta: ModelMeta, model_path: str | Path) -> Path:
    """Write the metadata json beside ``model_path`` atomically (a torn file would make the
    model unloadable) and return its path."""
    text = json.dumps(meta_to_dict(meta), indent=2) + "\n"
    return atomic_write_text(sidecar_path(model_path), text)


def read_sidecar(model_path: str | Path) -> ModelMeta | None:
    """Metadata from the json beside ``model_path``; None when there is none."""
    path = sidecar_path(model_path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not valid JSON metadata ({exc})") from exc
    if data.get("format") != FORMAT_TAG:
        return None
    return meta_from_dict(data)


def layout_of(meta: ModelMeta) -> str:
    """Output layout of an exported graph: ``flat`` (official), ``per-level`` or ``end2end``."""
    return str(meta.extra.get("layout", "flat"))


def to_flat(outputs: list[np.ndarray], meta: ModelMeta) -> np.ndarray:
    """The flat raw output ``[B, N, C + 4(R+1)]`` from a graph's outputs, whatever its layout.

    ``per-level`` outputs (class scores of every level, then distance logits of every level)
    are joined back; ``end2end`` graphs hold no raw output, so they cannot feed the shared
    post-processing.
    """
    layout = layout_of(meta)
    if layout == "flat":
        return np.ascontiguousarray(outputs[0], dtype=np.float32)
    if layout == "per-level":
        levels = len(outputs) // 2
        joined = [
            np.concatenate([outputs[i], outputs[levels + i]], axis=-1) for i in range(levels)
        ]
        return np.ascontiguousarray(np.concatenate(joined, axis=1), dtype=np.float32)
    raise CheckpointError(
        f"a '{layout}' export has decoding in its graph and gives no raw output; "
        "export without --end2end to run it with Detector"
    )


def fallback_meta(
    model_path: str | Path,
    input_shape: list,
    output_shape: list,
    config: Any = None,
) -> ModelMeta:
    """Metadata for a file without any (e.g. the official ``export_onnx.py`` output).

    The class count comes from the output's last dimension, the input size from the input
    shape, everything else from ``config`` (a preset, YAML path or Config) or the defaults.
    """
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.config.schema import Config

    cfg = load_config(config) if config is not None else Config()
    reg_max = cfg.model.head.reg_max
    _check_official_shapes(model_path, input_shape, output_shape, cfg.model.head.strides)
    last = output_shape[-1]
    if not isinstance(last, int):
        raise CheckpointError(f"{model_path}: cannot tell the number of classes from output "
                              f"shape {output_shape}")
    num_classes = last - 4 * (reg_max + 1)
    if num_classes <= 0:
        raise CheckpointError(
            f"{model_path}: output shape {output_shape} is not a NanoDet-Plus output"
        )
    height, width = input_shape[-2:]
    fixed = isinstance(height, int) and isinstance(width, int)
    input_size = (width, height) if fixed else tuple(cfg.data.input_size)
    batch = input_shape[0] if isinstance(input_shape[0], int) else None
    names = cfg.class_names if cfg.class_names and len(cfg.class_names) == num_classes else None
    LOGGER.warning(
        "%s has no nanodet-plus metadata: assuming %d classes, input %dx%d, sigmoid scores and "
        "%s defaults", model_path, num_classes, input_size[0], input_size[1],
        "config" if config is not None else "preset",
    )
    return ModelMeta(
        num_classes=num_classes,
        class_names=names,
        input_size=input_size,
        strides=tuple(cfg.model.head.strides),
        reg_max=reg_max,
        mean=tuple(cfg.data.mean),
        std=tuple(cfg.data.std),
        keep_ratio=cfg.data.keep_ratio,
        scores_are_sigmoid=True,
        fixed_shape=fixed,
        batch_size=batch,
        extra={"layout": "flat", "official": True},
    )


def _check_official_shapes(model_path: str | Path, input_shape: list, output_shape: list,
                           strides: tuple[int, ...]) -> None:
    """Refuse a file whose graph is not the official deploy layout: input ``[N, 3, H, W]``,
    output ``[N, points, C + 4(R+1)]`` with one point per cell of every stride's grid."""
    from nanodet_plus.ops.priors import num_points

    channels = input_shape[1] if len(input_shape) == 4 else None
    if len(input_shape) != 4 or len(output_shape) != 3 or (
        isinstance(channels, int) and channels != 3
    ):
        raise CheckpointError(
            f"{model_path}: not a NanoDet-Plus model (input shape {input_shape}, output shape "
            f"{output_shape}; expected [N, 3, H, W] in and [N, points, classes + 32] out)"
        )
    height, width, points = input_shape[2], input_shape[3], output_shape[1]
    if all(isinstance(v, int) for v in (height, width, points)):
        expected = num_points((height, width), strides)
        if points != expected:
            raise CheckpointError(
                f"{model_path}: not a NanoDet-Plus model ({points} output points for a "
                f"{width}x{height} input; strides {list(strides)} give {expected})"
            )
