"""Translate an official NanoDet-Plus YAML config (``schedule:``, ``model.arch:``) to our schema.

Every key of the official file either maps to a field of :class:`~nanodet_plus.config.schema.Config`
or is named in one logged warning as ignored. Relative dataset paths resolve against the
current working directory, as in the official trainer.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from nanodet_plus.errors import ConfigError

logger = logging.getLogger(__name__)

DATASET_FORMATS = {
    "CocoDataset": "coco", "coco": "coco",
    "XMLDataset": "voc", "xml_dataset": "voc",
    "YoloDataset": "yolo", "yolo": "yolo",
}
PRECISIONS = {32: "fp32", "32": "fp32", 16: "fp16", "16": "fp16", "16-mixed": "fp16",
              "bf16": "bf16", "bf16-mixed": "bf16"}
AUGMENT_KEYS = ("perspective", "scale", "stretch", "rotation", "shear", "translate", "flip",
                "brightness", "contrast", "saturation")


class _Reader:
    """Pops keys from a copy of the official config and remembers what nobody used."""

    def __init__(self, data: dict, source: str) -> None:
        self.data = copy.deepcopy(data)
        self.source = source
        self.ignored: list[str] = []

    def section(self, *keys: str) -> dict:
        node: Any = self.data
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
            if node is None:
                return {}
        if not isinstance(node, dict):
            raise ConfigError(f"{self.source}: '{'.'.join(keys)}' must be a mapping")
        return node

    def ignore(self, where: str, reason: str = "") -> None:
        self.ignored.append(f"{where}{f' ({reason})' if reason else ''}")

    def leftovers(self, node: Any = None, prefix: str = "") -> None:
        """Record every key still present below ``node`` as ignored."""
        node = self.data if node is None else node
        for key, value in node.items():
            where = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict) and value:
                self.leftovers(value, where)
            elif not isinstance(value, dict):
                self.ignored.append(where)


def _take(node: dict, key: str, out: dict, target: str | None = None, convert: Any = None) -> None:
    if key in node:
        value = node.pop(key)
        out[target or key] = convert(value) if convert else value


def _expect_name(reader: _Reader, node: dict, where: str, allowed: tuple[str, ...]) -> None:
    name = node.pop("name", None)
    if name is not None and name not in allowed:
        raise ConfigError(
            f"{reader.source}: {where}.name '{name}' is not supported (expected "
            f"{' or '.join(allowed)})"
        )


def _model(reader: _Reader, out: dict) -> None:
    model: dict = {}
    averager = reader.section("model", "weight_averager")
    if averager:
        _expect_name(reader, averager, "model.weight_averager", ("ExpMovingAverager",))
        _take(averager, "decay", out.setdefault("train", {}), "ema_decay", float)
    arch = reader.section("model", "arch")
    _expect_name(reader, arch, "model.arch", ("NanoDetPlus",))
    _take(arch, "detach_epoch", model)

    backbone_in = arch.get("backbone") or {}
    backbone: dict = {}
    _expect_name(reader, backbone_in, "model.arch.backbone", ("ShuffleNetV2",))
    for key in ("model_size", "out_stages", "activation", "with_last_conv"):
        _take(backbone_in, key, backbone)
    pretrain = backbone_in.pop("pretrain", True)  # the official backbone defaults to True
    backbone["pretrained"] = "imagenet" if pretrain else None
    model["backbone"] = backbone

    fpn_in = arch.get("fpn") or {}
    neck: dict = {}
    _expect_name(reader, fpn_in, "model.arch.fpn", ("GhostPAN",))
    for key in ("in_channels", "out_channels", "kernel_size", "num_extra_level", "use_depthwise",
                "activation", "expand", "num_blocks", "use_res"):
        _take(fpn_in, key, neck)
    upsample = fpn_in.get("upsample_cfg") or {}
    _take(upsample, "mode", neck, "upsample_mode")
    if upsample.get("scale_factor") == 2:
        upsample.pop("scale_factor")
    model["neck"] = neck

    head_in = arch.get("head") or {}
    head: dict = {}
    _expect_name(reader, head_in, "model.arch.head", ("NanoDetPlusHead",))
    _take(head_in, "num_classes", model)
    for key in ("input_channel", "feat_channels", "stacked_convs", "kernel_size", "strides",
                "activation", "reg_max", "conv_type"):
        _take(head_in, key, head)
    _take(head_in.get("norm_cfg") or {}, "type", head, "norm")
    assigner_in = head_in.get("assigner_cfg") or {}
    assigner: dict = {}
    _take(assigner_in, "topk", assigner)
    if assigner:
        model["assigner"] = assigner
    model["head"] = head
    model["loss"] = _losses(reader, head_in.get("loss") or {})

    aux_in = arch.get("aux_head")
    if aux_in is None:
        model["aux_head"] = None
    else:
        aux: dict = {}
        _expect_name(reader, aux_in, "model.arch.aux_head", ("SimpleConvHead",))
        for key in ("input_channel", "feat_channels", "stacked_convs", "activation"):
            _take(aux_in, key, aux)
        norm_in = aux_in.get("norm_cfg") or {}
        _take(norm_in, "type", aux, "norm")
        _take(norm_in, "num_groups", aux)
        for key, main in (("num_classes", model.get("num_classes")),
                          ("strides", head.get("strides")), ("reg_max", head.get("reg_max"))):
            if key in aux_in and main is not None and aux_in[key] != main:
                raise ConfigError(
                    f"{reader.source}: model.arch.aux_head.{key} {aux_in[key]} differs from the "
                    f"head's {main}; they must be equal"
                )
            aux_in.pop(key, None)
        model["aux_head"] = aux
    out["model"] = model


def _losses(reader: _Reader, loss_in: dict) -> dict:
    loss: dict = {}
    qfl = loss_in.get("loss_qfl") or {}
    _expect_name(reader, qfl, "loss_qfl", ("QualityFocalLoss",))
    if qfl.get("use_sigmoid", True):
        qfl.pop("use_sigmoid", None)
    _take(qfl, "beta", loss, "qfl_beta", float)
    _take(qfl, "loss_weight", loss, "qfl_weight", float)
    dfl = loss_in.get("loss_dfl") or {}
    _expect_name(reader, dfl, "loss_dfl", ("DistributionFocalLoss",))
    _take(dfl, "loss_weight", loss, "dfl_weight", float)
    giou = loss_in.get("loss_bbox") or {}
    _expect_name(reader, giou, "loss_bbox", ("GIoULoss",))
    _take(giou, "loss_weight", loss, "giou_weight", float)
    return loss


def _split(reader: _Reader, split: str, out: dict) -> dict | None:
    node = reader.section("data", split)
    if not node:
        return None
    name = node.pop("name", "CocoDataset")
    if name not in DATASET_FORMATS:
        raise ConfigError(
            f"{reader.source}: data.{split}.name '{name}' is not CocoDataset, XMLDataset or "
            "YoloDataset"
        )
    dataset = {"format": DATASET_FORMATS[name]}
    for key in ("img_path", "ann_path"):
        if key in node:
            dataset[key] = str(Path(str(node.pop(key))).expanduser().absolute())
    data = out.setdefault("data", {})
    names = node.pop("class_names", None)
    if names is not None:
        out.setdefault("class_names", list(names))
    size = node.pop("input_size", None)
    if size is not None:
        if "input_size" in data and list(data["input_size"]) != list(size):
            reader.ignore(f"data.{split}.input_size", f"{size} differs from train's; train wins")
        else:
            data["input_size"] = list(size)
    keep_ratio = node.pop("keep_ratio", None)
    if keep_ratio is not None:
        if "keep_ratio" in data and data["keep_ratio"] != keep_ratio:
            reader.ignore(f"data.{split}.keep_ratio", "differs from train's; train wins")
        else:
            data["keep_ratio"] = bool(keep_ratio)
    pipeline = node.get("pipeline") or {}
    normalize = pipeline.pop("normalize", None)
    if normalize is not None and "mean" not in data:
        data["mean"], data["std"] = list(normalize[0]), list(normalize[1])
    if split == "train":
        augment: dict = {}
        for key in AUGMENT_KEYS:
            _take(pipeline, key, augment, convert=_number_tree)
        if augment:
            data["augment"] = augment
    for key in ("use_instance_mask", "use_seg_mask", "use_keypoint", "load_mosaic"):
        if node.get(key) is False:
            node.pop(key)
    return dataset


def _number_tree(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_number_tree(v) for v in value]
    if isinstance(value, bool):
        return value
    return float(value) if isinstance(value, (int, float)) else value


def translate_official(data: dict, path: str | Path | None = None) -> dict:
    """Our schema's dict for an official NanoDet-Plus config; ignored keys are logged."""
    reader = _Reader(data, str(path) if path else "official config")
    out: dict = {}
    save_dir = reader.data.pop("save_dir", None)
    if save_dir:
        save_path = Path(save_dir)
        out["save_dir"] = str(save_path.parent) if str(save_path.parent) != "." else "runs/train"
        out["name"] = save_path.name
    _model(reader, out)
    train = out.setdefault("train", {})
    for split in ("train", "val"):
        dataset = _split(reader, split, out)
        if dataset is not None:
            out["data"][split] = dataset
    _device(reader, out)
    _schedule(reader, train)
    _evaluator(reader)
    if "class_names" in reader.data:
        out["class_names"] = list(reader.data.pop("class_names"))
    if out.get("class_names") and "num_classes" not in out["model"]:
        out["model"]["num_classes"] = len(out["class_names"])
    reader.leftovers()
    if reader.ignored:
        logger.warning("%s: official keys ignored: %s", reader.source, ", ".join(reader.ignored))
    return out


def _device(reader: _Reader, out: dict) -> None:
    """``device``: batch size and workers per GPU, precision; GPU ids are not a config key."""
    device = reader.section("device")
    _take(device, "batchsize_per_gpu", out["train"], "batch_size")
    _take(device, "workers_per_gpu", out.setdefault("data", {}), "workers")
    if "precision" in device:
        precision = device.pop("precision")
        if precision not in PRECISIONS:
            raise ConfigError(f"{reader.source}: device.precision {precision!r} is not 32 or 16")
        out["train"]["precision"] = PRECISIONS[precision]
    if "gpu_ids" in device:
        gpus = device.pop("gpu_ids")
        reader.ignore("device.gpu_ids", f"{gpus}: use --device, or torchrun for several GPUs")


def _schedule(reader: _Reader, train: dict) -> None:
    """``schedule`` and ``grad_clip``: optimizer, warmup, epochs, cosine schedule, intervals."""
    schedule = reader.section("schedule")
    for key in ("resume", "load_model"):
        if schedule.get(key) is not None:
            reader.ignore(f"schedule.{key}", "use --resume / --weights")
            schedule.pop(key)
    _optimizer(reader, schedule.get("optimizer") or {}, train)
    warmup = schedule.get("warmup") or {}
    if warmup:
        kind = warmup.pop("name", "linear")
        if kind != "linear":
            reader.ignore("schedule.warmup.name", f"'{kind}' warmup; linear is used")
        _take(warmup, "steps", train, "warmup_steps", int)
        _take(warmup, "ratio", train, "warmup_ratio", float)
    _take(schedule, "total_epochs", train, "epochs", int)
    lr_schedule = schedule.get("lr_schedule") or {}
    if lr_schedule:
        kind = lr_schedule.pop("name", "CosineAnnealingLR")
        if kind != "CosineAnnealingLR":
            raise ConfigError(f"{reader.source}: schedule.lr_schedule.name '{kind}' is not "
                              "supported (only CosineAnnealingLR)")
        t_max = lr_schedule.pop("T_max", None)
        if t_max is not None and t_max != train.get("epochs"):
            reader.ignore("schedule.lr_schedule.T_max",
                          f"{t_max}; the cosine always spans train.epochs")
        _take(lr_schedule, "eta_min", train, "eta_min", float)
    _take(schedule, "val_intervals", train, "val_interval", int)
    if "grad_clip" in reader.data:
        clip = reader.data.pop("grad_clip")
        train["grad_clip"] = float(clip) if clip else 0.0


def _optimizer(reader: _Reader, optimizer_in: dict, train: dict) -> None:
    """``schedule.optimizer``: AdamW and its settings."""
    optimizer: dict = {}
    for key in ("name", "lr", "weight_decay", "betas", "eps", "no_norm_decay", "no_bias_decay"):
        _take(optimizer_in, key, optimizer, convert=_number_tree if key != "name" else None)
    if optimizer.get("name", "AdamW") != "AdamW":
        raise ConfigError(f"{reader.source}: schedule.optimizer.name '{optimizer['name']}' "
                          "is not supported (only AdamW)")
    for flag in ("no_norm_decay", "no_bias_decay"):
        if flag in optimizer:
            optimizer[flag] = bool(optimizer[flag])
    if optimizer:
        train["optimizer"] = optimizer


def _evaluator(reader: _Reader) -> None:
    """``evaluator``: COCO evaluation, best checkpoint chosen by mAP."""
    evaluator = reader.section("evaluator")
    _expect_name(reader, evaluator, "evaluator", ("CocoDetectionEvaluator",))
    key = evaluator.pop("save_key", "mAP")
    if key != "mAP":
        reader.ignore("evaluator.save_key", f"'{key}'; the best checkpoint is chosen by mAP")
