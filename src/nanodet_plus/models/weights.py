"""Load weights into a NanoDet-Plus model from every checkpoint layout in use.

Accepted layouts (reference-spec §15.1-15.2):
- official "weight" files ``{"state_dict": {key: tensor}}`` and bare state dicts;
- official Lightning ``.ckpt`` files (``model.*`` live and ``avg_model.*`` EMA keys);
- ``module.``-prefixed keys (DataParallel / DDP);
- this project's training checkpoints ``{"model": state_dict, "ema": state_dict, ...}``.

EMA weights are preferred when present. Files without the training-only ``aux_fpn.*`` /
``aux_head.*`` keys (deploy files) leave the model's own AGM weights in place.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nanodet_plus.errors import CheckpointError, FileMissingError
from nanodet_plus.models.detector import is_training_only_key
from nanodet_plus.models.official_weights import resolve_weights

logger = logging.getLogger(__name__)

MODEL_PREFIXES = ("backbone.", "fpn.", "head.", "aux_fpn.", "aux_head.")
IMAGENET_URLS = {
    "0.5x": "https://download.pytorch.org/models/shufflenetv2_x0.5-f707e7126e.pth",
    "1.0x": "https://download.pytorch.org/models/shufflenetv2_x1-5666bf0f80.pth",
    "1.5x": "https://download.pytorch.org/models/shufflenetv2_x1_5-3c479a10.pth",
    "2.0x": "https://download.pytorch.org/models/shufflenetv2_x2_0-8be3c8ee.pth",
}
# Classifier outputs: their shape follows the class count, so fine-tuning re-initialises them.
CLASS_OUTPUT_PREFIXES = ("head.gfl_cls.", "aux_head.gfl_cls.")
# A non-strict load that leaves more than this share of the other tensors fresh is refused.
MAX_REINITIALISED_SHARE = 0.5
STRICT_HINT = " Use strict=False to load what fits (e.g. fine-tuning with another class count)."


@dataclass
class LoadReport:
    """What :func:`load_weights` did."""

    source: str
    layout: str = "state_dict"
    used_ema: bool = False
    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(
        default_factory=list
    )
    kept_aux: bool = False  # deploy file: the model's AGM weights were kept
    dropped_aux: bool = False  # the file's AGM weights were dropped (model has no AGM)

    @property
    def reinitialised(self) -> list[str]:
        """Keys that kept the model's fresh init because their shapes differ (non-strict)."""
        return [key for key, _, _ in self.shape_mismatch]

    def summary(self) -> str:
        """One line for logs and CLI output."""
        parts = [f"loaded {self.loaded} tensors from {self.source} ({self.layout}"]
        parts[0] += ", EMA weights)" if self.used_ema else ")"
        if self.kept_aux:
            parts.append("no training-only aux weights in the file: kept the model's own")
        if self.dropped_aux:
            parts.append("ignored the file's training-only aux weights")
        if self.shape_mismatch:
            parts.append(f"{len(self.shape_mismatch)} re-initialised (shape differs)")
        if self.missing:
            parts.append(f"{len(self.missing)} missing (kept the model's)")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected (ignored)")
        return "; ".join(parts)


def _first(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown


def _is_tensor_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    )


def read_checkpoint(path: str | Path) -> dict:
    """``torch.load(weights_only=True)`` with one-line errors naming the file and saying what
    it holds instead (never advice to load it unsafely)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileMissingError(f"weights file not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = _unreadable_reason(path, exc)
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({reason})") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(
            f"{path}: not a checkpoint (holds a {type(obj).__name__}, not a dict)"
        )
    return dict(obj)


_IMAGE_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"),
                (b"BM", "BMP"), (b"RIFF", "WebP"))


def _unreadable_reason(path: Path, exc: Exception) -> str:
    """What a file that ``torch.load`` refused holds, in a few words. torch's own message is
    not shown: for a safe load that fails it advises ``weights_only=False``, which would run
    any code the file carries."""
    with path.open("rb") as file:
        head = file.read(512)
    if not head:
        return "the file is empty"
    for magic, kind in _IMAGE_MAGIC:
        if head.startswith(magic):
            return f"it is a {kind} image"
    if head.startswith((b"PK\x03\x04", b"\x80")):  # torch.save's zip or legacy pickle
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        if found is None:
            return "a damaged or incomplete PyTorch file"
        return (f"it holds Python objects other than tensors ({found.group(1)}), which a safe "
                "load refuses; save a state dict, e.g. torch.save({'state_dict': "
                "model.state_dict()})")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "unknown binary data"
    if path.suffix.lower() in (".yaml", ".yml"):
        return "it is a YAML file, e.g. a config, not saved weights"
    return "it holds text, not saved tensors"


def _strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}


def extract_state_dict(
    checkpoint: Mapping[str, Any], prefer_ema: bool = True, source: str = "checkpoint"
) -> tuple[dict[str, torch.Tensor], str, bool]:
    """``(state_dict with model keys, layout name, used_ema)`` from any supported layout."""
    used_ema = False
    if prefer_ema and _is_tensor_dict(checkpoint.get("ema")):
        return dict(checkpoint["ema"]), "training checkpoint", True
    if _is_tensor_dict(checkpoint.get("model")):
        return dict(checkpoint["model"]), "training checkpoint", False
    if _is_tensor_dict(checkpoint.get("ema")):
        return dict(checkpoint["ema"]), "training checkpoint", True
    if isinstance(checkpoint.get("state_dict"), Mapping):
        state = dict(checkpoint["state_dict"])
        layout = "lightning checkpoint" if "pytorch-lightning_version" in checkpoint else (
            "weight file"
        )
    elif _is_tensor_dict(checkpoint):
        state, layout = dict(checkpoint), "state dict"
    else:
        keys = ", ".join(map(str, list(checkpoint)[:6]))
        raise CheckpointError(f"{source}: no state dict found (top-level keys: {keys})")
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if any(k.startswith("module.") for k in state):
        state = _strip_prefix(state, "module.")
    ema = {k[len("avg_model."):]: v for k, v in state.items() if k.startswith("avg_model.")}
    live = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    if ema or live:
        layout = "lightning checkpoint"
        if ema and prefer_ema:
            state = {**live, **ema}
            used_ema = True
        else:
            state = live or ema
            used_ema = not live
    if any(k.startswith("module.") for k in state):
        state = _strip_prefix(state, "module.")
    if not any(k.startswith(MODEL_PREFIXES) for k in state):
        raise CheckpointError(
            f"{source}: not a NanoDet-Plus state dict (first keys: {_first(list(state), 3)})"
        )
    return state, layout, used_ema


def load_weights(
    model: nn.Module,
    path_or_state_dict: str | Path | Mapping[str, Any],
    strict: bool = True,
    prefer_ema: bool = True,
) -> LoadReport:
    """Load a checkpoint into ``model`` by key name and return what happened.

    ``path_or_state_dict`` is a state dict, a file, or the name of an official checkpoint
    (``nanodet-plus-m_416``; see :mod:`nanodet_plus.models.official_weights`).

    ``strict=True`` raises :class:`CheckpointError` on missing, unexpected or shape-conflicting
    keys (a deploy file's absent aux keys are fine). ``strict=False`` loads what fits: tensors
    whose shape differs (e.g. another class count) keep the model's fresh initialisation, and
    one warning line per kind of mismatch says so; a file that would leave more than half of
    the tensors other than the classifier outputs fresh (another architecture, e.g. 1.5x
    weights for a 1.0x config) is refused with a CheckpointError naming both.
    """
    if isinstance(path_or_state_dict, Mapping):
        source = "<state dict>"
        checkpoint = dict(path_or_state_dict)
    else:
        path = resolve_weights(path_or_state_dict).path
        source = str(path)
        checkpoint = read_checkpoint(path)
    state, layout, used_ema = extract_state_dict(checkpoint, prefer_ema, source)
    return apply_state_dict(
        model, state, source=source, layout=layout, used_ema=used_ema, strict=strict
    )


def apply_state_dict(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    layout: str = "state dict",
    used_ema: bool = False,
    strict: bool = True,
    mismatch_hint: str = STRICT_HINT,
) -> LoadReport:
    """Load a state dict already taken out of its checkpoint (:func:`extract_state_dict`) into
    ``model``, with the checks, AGM handling and report of :func:`load_weights`;
    ``mismatch_hint`` ends the error message of a strict load that does not fit."""
    report = LoadReport(source=source, layout=layout, used_ema=used_ema)
    if used_ema:
        logger.info("%s: using the EMA weights", source)

    own = model.state_dict()
    file_has_aux = any(is_training_only_key(k) for k in state)
    model_has_aux = any(is_training_only_key(k) for k in own)
    if model_has_aux and not file_has_aux:
        report.kept_aux = True
    if file_has_aux and not model_has_aux:
        report.dropped_aux = True
        state = {k: v for k, v in state.items() if not is_training_only_key(k)}

    to_load: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(own[key].shape):
            report.shape_mismatch.append((key, tuple(value.shape), tuple(own[key].shape)))
        else:
            to_load[key] = value
    report.missing = [
        k for k in own if k not in state and not (report.kept_aux and is_training_only_key(k))
    ]
    if strict and (report.missing or report.unexpected or report.shape_mismatch):
        raise CheckpointError(_mismatch_message(source, report) + mismatch_hint)
    if not strict:
        _refuse_another_architecture(model, state, report)
    model.load_state_dict(to_load, strict=False)
    report.loaded = len(to_load)
    if report.kept_aux:
        logger.info("%s: deploy file without aux weights; kept the model's AGM weights", source)
    _warn_partial_load(report)
    logger.info("%s", report.summary())
    return report


def _is_class_output(key: str) -> bool:
    """Whether ``key`` is a classifier output whose shape follows the class count (these are
    expected to start fresh when fine-tuning on other classes)."""
    return key.startswith(CLASS_OUTPUT_PREFIXES)


def _refuse_another_architecture(
    model: nn.Module, state: Mapping[str, torch.Tensor], report: LoadReport
) -> None:
    """A non-strict load that would leave most of the model at its fresh initialisation is
    not fine-tuning but weights of another architecture: refuse it, naming both."""
    lost = set(report.missing) | set(report.reinitialised)
    considered = [
        key for key in model.state_dict()
        if not _is_class_output(key) and not (report.kept_aux and is_training_only_key(key))
    ]
    count = sum(key in lost for key in considered)
    if not considered or count <= MAX_REINITIALISED_SHARE * len(considered):
        return
    try:
        held = f"a {_describe_model(infer_model_config(state, report.source))} model"
    except CheckpointError:
        held = "weights of another architecture"
    config = getattr(model, "config", None)
    wanted = _describe_model(config) if config is not None else type(model).__name__
    raise CheckpointError(
        f"{report.source} holds {held} but the config asks for {wanted}: {count} of "
        f"{len(considered)} tensors would start from scratch; use a config of the file's "
        "architecture, or weights of this one"
    )


def _describe_model(model_config: Any) -> str:
    """Backbone width and neck width of a ModelConfig, e.g. ``ShuffleNetV2 1.5x, Ghost-PAN
    128``: what tells the NanoDet-Plus sizes apart."""
    return (f"ShuffleNetV2 {model_config.backbone.model_size}, Ghost-PAN "
            f"{model_config.neck.out_channels}")


def _warn_partial_load(report: LoadReport) -> None:
    """One warning line per kind of key that did not load, however many there are."""
    source = report.source
    count = len(report.shape_mismatch)
    if count:
        shown = "; ".join(f"{key} {list(file)} in the file, {list(own)} in the model"
                          for key, file, own in report.shape_mismatch[:2])
        if all(_is_class_output(key) for key in report.reinitialised):
            logger.warning("%s: the class count differs, so %d classifier output tensor(s) "
                           "start fresh (%s)", source, count, shown)
        else:
            more = f"; ... ({count} in all)" if count > 2 else ""
            logger.warning("%s: %d tensor(s) keep their fresh init because the shapes differ: "
                           "%s%s", source, count, shown, more)
    if report.missing:
        logger.warning("%s: missing keys kept from the model: %s", source, _first(report.missing))
    if report.unexpected:
        logger.warning("%s: unexpected keys ignored: %s", source, _first(report.unexpected))


def _mismatch_message(source: str, report: LoadReport) -> str:
    parts = []
    if report.missing:
        parts.append(f"{len(report.missing)} missing keys ({_first(report.missing)})")
    if report.unexpected:
        parts.append(f"{len(report.unexpected)} unexpected keys ({_first(report.unexpected)})")
    if report.shape_mismatch:
        shown = "; ".join(
            f"{k}: file {list(f)} vs model {list(m)}" for k, f, m in report.shape_mismatch[:4]
        )
        count = len(report.shape_mismatch)
        more = f" ... ({count} in all)" if count > 4 else ""
        parts.append(f"{len(report.shape_mismatch)} shape conflicts ({shown}{more})")
    return f"{source} does not fit the model: " + "; ".join(parts) + "."


def imagenet_cache_path(model_size: str) -> Path:
    """Where torch.hub keeps (and this loader looks for) the torchvision ImageNet weights."""
    filename = IMAGENET_URLS[model_size].rsplit("/", 1)[1]
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def _download_imagenet(model_size: str) -> dict[str, torch.Tensor]:
    url = IMAGENET_URLS[model_size]
    return torch.hub.load_state_dict_from_url(
        url, map_location="cpu", progress=False, weights_only=True
    )


def load_imagenet_backbone(model: nn.Module, source: str | Path = "imagenet") -> int:
    """Load torchvision ShuffleNetV2 ImageNet weights into ``model.backbone``; returns the count.

    ``source`` is ``"imagenet"`` (torch.hub cache, downloaded when online) or a local file.
    torchvision's ``conv5`` and ``fc`` are ignored, as in the official code.
    """
    backbone = getattr(model, "backbone", model)
    model_size = getattr(backbone, "model_size", None)
    if str(source) == "imagenet":
        if model_size not in IMAGENET_URLS:
            raise CheckpointError(f"no ImageNet weights for ShuffleNetV2 size {model_size}")
        cached = imagenet_cache_path(model_size)
        if cached.is_file():
            state = read_checkpoint(cached)
            origin = str(cached)
        else:
            try:
                state = _download_imagenet(model_size)
            except OSError as exc:
                raise CheckpointError(
                    f"cannot download the ImageNet ShuffleNetV2 {model_size} weights ({exc}); "
                    f"offline, put {cached.name} (from {IMAGENET_URLS[model_size]}) at {cached}, "
                    "or set model.backbone.pretrained to a local file path"
                ) from None
            origin = IMAGENET_URLS[model_size]
    else:
        state = read_checkpoint(source)
        origin = str(source)
    if isinstance(state.get("state_dict"), Mapping):
        state = dict(state["state_dict"])
    state = _strip_prefix(_strip_prefix(state, "module."), "backbone.")
    own = backbone.state_dict()
    usable = {
        k: v for k, v in state.items()
        if isinstance(v, torch.Tensor) and k in own and tuple(v.shape) == tuple(own[k].shape)
        and not k.startswith(("conv5.", "fc.", "stage4.conv5."))
    }
    conflicts = [
        k for k, v in state.items()
        if k in own and isinstance(v, torch.Tensor) and tuple(v.shape) != tuple(own[k].shape)
    ]
    if conflicts or not usable:
        raise CheckpointError(
            f"{origin}: not ShuffleNetV2 {model_size} weights "
            f"({len(usable)} usable tensors; shape conflicts: {_first(conflicts, 3) or 'none'})"
        )
    backbone.load_state_dict(usable, strict=False)
    logger.info("loaded %d ImageNet backbone tensors from %s", len(usable), origin)
    return len(usable)


_BRANCH_TO_SIZE = {24: "0.5x", 58: "1.0x", 88: "1.5x", 122: "2.0x"}


def infer_model_config(state: Mapping[str, torch.Tensor], source: str = "weights") -> Any:
    """A ModelConfig that fits a NanoDet-Plus state dict (for files that carry no config).

    Reads the backbone size, neck/head widths, class count, ``reg_max`` and whether the AGM is
    present from tensor shapes; everything else keeps the schema defaults.
    """
    from nanodet_plus.config.schema import ModelConfig

    try:
        branch = int(state["backbone.stage2.0.branch1.2.weight"].shape[0])
        bins = int(state["head.distribution_project.project"].shape[0])
        head_out, head_in = state["head.gfl_cls.0.weight"].shape[:2]
        reduce = [state[f"fpn.reduce_layers.{i}.conv.weight"].shape for i in range(3)]
    except KeyError as exc:
        raise CheckpointError(
            f"{source}: not a NanoDet-Plus state dict (no {exc.args[0]})"
        ) from None
    if branch not in _BRANCH_TO_SIZE:
        raise CheckpointError(f"{source}: unknown ShuffleNetV2 width (stage2 branch {branch})")
    config = ModelConfig(num_classes=int(head_out) - 4 * bins)
    config.backbone.model_size = _BRANCH_TO_SIZE[branch]
    config.neck.in_channels = tuple(int(shape[1]) for shape in reduce)
    config.neck.out_channels = int(reduce[0][0])
    config.head.input_channel = config.head.feat_channels = int(head_in)
    config.head.reg_max = bins - 1
    config.aux_head = _infer_aux_config(state) if "aux_head.gfl_cls.weight" in state else None
    return config


def _infer_aux_config(state: Mapping[str, torch.Tensor]) -> Any:
    """The AGM's widths, depth, conv type and whether it has its own neck, from its tensors."""
    from nanodet_plus.config.schema import AuxHeadConfig

    feat = int(state["aux_head.gfl_cls.weight"].shape[1])
    depth = len({key.split(".")[2] for key in state if key.startswith("aux_head.cls_convs.")})
    first = "aux_head.cls_convs.0."
    depthwise = f"{first}depthwise.weight" in state
    if depthwise:
        input_channel = int(state[f"{first}depthwise.weight"].shape[0])
    elif f"{first}conv.weight" in state:
        input_channel = int(state[f"{first}conv.weight"].shape[1])
    else:
        input_channel = feat
    return AuxHeadConfig(
        input_channel=input_channel, feat_channels=feat, stacked_convs=depth,
        conv_type="DWConv" if depthwise else "Conv",
        own_fpn=any(key.startswith("aux_fpn.") for key in state),
    )
