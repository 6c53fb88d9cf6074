"""Typed configuration: every default of the project lives in these dataclasses.

Presets (``config/presets/*.yaml``) and user YAML files only override these values. Sizes are
always ``(width, height)``. Values follow the official NanoDet-Plus configs unless a field's
comment says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BGR_MEAN = (103.53, 116.28, 123.675)
BGR_STD = (57.375, 57.12, 58.395)

# Names the builders accept; ``tests/config`` checks that each list matches its builder.
ACTIVATIONS = ("ReLU", "LeakyReLU", "ReLU6", "SELU", "ELU", "GELU", "SiLU", "Hardswish")
NORMS = ("BN", "GN")
ASSIGNERS = ("DynamicSoftLabelAssigner", "ATSSAssigner")
# ShuffleNetV2 widths per model size: stem, stages 2-4, last conv (reference-spec §3).
SHUFFLENET_WIDTHS = {
    "0.5x": (24, 48, 96, 192, 1024),
    "1.0x": (24, 116, 232, 464, 1024),
    "1.5x": (24, 176, 352, 704, 1024),
    "2.0x": (24, 244, 488, 976, 2048),
}
MODEL_SIZES = tuple(SHUFFLENET_WIDTHS)
DATASET_FORMATS = ("coco", "voc", "yolo")
PRECISIONS = ("fp32", "bf16", "fp16")
RECIPES = ("auto", "official")


def option(default: Any, choices: tuple[Any, ...], doc: str) -> Any:
    """A field whose value must be one of ``choices`` (checked when a config is loaded)."""
    return field(default=default, metadata={"choices": choices, "doc": doc})


def number(
    default: Any,
    doc: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Any:
    """A numeric field (or tuple of numbers) with bounds checked when a config is loaded."""
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    return field(default=default, metadata={"bounds": bounds, "doc": doc})


def setting(default: Any, doc: str) -> Any:
    """A field with no rule beyond its type; ``doc`` is its line in the config reference."""
    return field(default=default, metadata={"doc": doc})


def section(factory: Any, doc: str) -> Any:
    """A nested config section, built fresh for every config."""
    return field(default_factory=factory, metadata={"doc": doc})


@dataclass
class BackboneConfig:
    """ShuffleNetV2 backbone."""

    name: str = option("ShuffleNetV2", ("ShuffleNetV2",), "Backbone network.")
    model_size: str = option(
        "1.0x", MODEL_SIZES,
        "Width multiplier of ShuffleNetV2; sets the channels of every stage (1.5x: the "
        "NanoDet-Plus-m-1.5x models).",
    )
    out_stages: tuple[int, ...] = setting(
        (2, 3, 4), "Stages whose outputs feed the neck (2, 3, 4: strides 8, 16 and 32)."
    )
    activation: str = option("LeakyReLU", ACTIVATIONS, "Activation after each convolution.")
    with_last_conv: bool = setting(
        False, "Keep ShuffleNetV2's final 1x1 convolution (the classifier's; off in NanoDet)."
    )
    pretrained: str | None = setting(
        None,
        "Initial backbone weights: null starts from scratch; `imagenet` takes torchvision's "
        "ImageNet weights (from the local torch hub cache, else downloaded); a path names a "
        "local torchvision ShuffleNetV2 state dict.",
    )


@dataclass
class NeckConfig:
    """Ghost-PAN neck with extra downsampling levels."""

    name: str = option("GhostPAN", ("GhostPAN",), "Neck network.")
    in_channels: tuple[int, ...] = number(
        (116, 232, 464), "Channels of the backbone outputs it reads, one per backbone stage "
        "(must match `model.backbone.model_size`).", ge=1,
    )
    out_channels: int = number(96, "Channels of every pyramid level the neck outputs.", ge=1)
    kernel_size: int = number(5, "Kernel size of the depthwise convolutions.", ge=1)
    num_extra_level: int = number(
        1, "Extra downsampled levels on top of the backbone's (1: stride 64).", ge=0
    )
    use_depthwise: bool = setting(
        True, "Depthwise separable convolutions on the bottom-up path (false: full convs)."
    )
    activation: str = option("LeakyReLU", ACTIVATIONS, "Activation after each convolution.")
    expand: int = number(1, "Channel expansion ratio inside each Ghost bottleneck.", ge=1)
    num_blocks: int = number(1, "Ghost bottlenecks per fusion block.", ge=1)
    use_res: bool = setting(False, "Residual connection around each fusion block.")
    upsample_mode: str = option(
        "bilinear", ("bilinear", "nearest", "bicubic"),
        "Interpolation of the top-down path (bilinear, as the official models).",
    )


@dataclass
class HeadConfig:
    """NanoDet-Plus detection head (GFL integral regression)."""

    name: str = option("NanoDetPlusHead", ("NanoDetPlusHead",), "Detection head.")
    input_channel: int = number(96, "Channels of the neck levels it reads.", ge=1)
    feat_channels: int = number(96, "Channels of the head's convolution tower.", ge=1)
    stacked_convs: int = number(2, "Convolutions in the tower before the outputs.", ge=0)
    kernel_size: int = number(5, "Kernel size of the tower's (depthwise) convolutions.", ge=1)
    strides: tuple[int, ...] = number(
        (8, 16, 32, 64), "Stride of each pyramid level, smallest first; one per neck output.",
        ge=1,
    )
    activation: str = option("LeakyReLU", ACTIVATIONS, "Activation after each convolution.")
    reg_max: int = number(
        7, "Largest box side distance in strides; each side is a distribution over "
        "0..reg_max (Generalized Focal Loss), so the output has 4 x (reg_max + 1) box channels.",
        ge=1,
    )
    conv_type: str = option(
        "DWConv", ("DWConv", "Conv"),
        "Tower convolution type: depthwise separable (official) or full.",
    )
    norm: str = option("BN", NORMS, "Normalisation of the tower: BatchNorm or GroupNorm.")


@dataclass
class AuxHeadConfig:
    """Assign Guidance Module head (SimpleConvHead), training only."""

    name: str = option(
        "SimpleConvHead", ("SimpleConvHead",), "The AGM's head network (training only)."
    )
    input_channel: int = number(
        192, "Channels of the features the AGM reads (2x the neck's `out_channels` with "
        "`own_fpn`, else the neck's `out_channels`).", ge=1,
    )
    feat_channels: int = number(192, "Channels of the AGM's convolution towers.", ge=1)
    stacked_convs: int = number(4, "Convolutions in each of the AGM's towers.", ge=0)
    activation: str = option("LeakyReLU", ACTIVATIONS, "Activation after each convolution.")
    norm: str = option("GN", NORMS, "Normalisation of the towers (GroupNorm, official).")
    num_groups: int = number(32, "GroupNorm groups; must divide `feat_channels`.", ge=1)
    conv_type: str = option(
        "Conv", ("Conv", "DWConv"),
        "Tower convolutions: full 3x3 (official) or depthwise 3x3 + pointwise 1x1, about a "
        "third of the cost. Not in the official code.",
    )
    own_fpn: bool = setting(
        True,
        "The AGM reads the main neck and its own copy of the neck (official); false: the "
        "main neck only, which saves the copy's cost. Not in the official code.",
    )
    guide_share: float = number(
        1.0,
        "Share of the training epochs in which the AGM runs and guides the assigner; "
        "afterwards the assigner reads the head's own predictions and the AGM costs nothing. "
        "Not in the official code.",
        gt=0, le=1,
    )


@dataclass
class AssignerConfig:
    """Dynamic Soft Label Assigner, or ATSS (the original NanoDet's) for the article's ablation."""

    name: str = option(
        "DynamicSoftLabelAssigner", ASSIGNERS,
        "Label assigner: NanoDet-Plus's dynamic soft label assigner, or ATSS (the earlier "
        "NanoDet's).",
    )
    topk: int = number(
        13, "Most candidate priors per object from which the dynamic-k positives are chosen.",
        ge=1,
    )
    iou_factor: float = number(3.0, "Weight of the IoU cost in the assignment cost.", ge=0)
    distance_cost: bool = setting(
        False,
        "Add the article's distance cost alpha ** (d - beta), d the distance from the prior "
        "to the object's centre in strides. Off in the official code.",
    )
    distance_alpha: float = number(10.0, "Base alpha of the distance cost.", gt=0)
    distance_beta: float = setting(3.0, "Offset beta of the distance cost, in strides.")
    atss_topk: int = number(9, "ATSS only: nearest priors per level and object.", ge=1)
    atss_anchor_scale: float = number(
        5.0, "ATSS only: side of the anchor box around each prior, in strides.", gt=0
    )


@dataclass
class LossConfig:
    """Loss weights of the official configs."""

    qfl_weight: float = number(1.0, "Weight of the Quality Focal Loss (classification).", ge=0)
    qfl_beta: float = number(2.0, "Focusing exponent beta of the Quality Focal Loss.", ge=0)
    dfl_weight: float = number(
        0.25, "Weight of the Distribution Focal Loss (box side distributions).", ge=0
    )
    giou_weight: float = number(2.0, "Weight of the GIoU box loss.", ge=0)


@dataclass
class ModelConfig:
    """The whole detector: backbone, neck, head and the optional AGM (aux_fpn + aux_head)."""

    arch: str = option("NanoDetPlus", ("NanoDetPlus",), "Detector architecture.")
    num_classes: int = number(
        80, "Number of classes; taken from the dataset's class names when it has them.", ge=1
    )
    backbone: BackboneConfig = section(BackboneConfig, "Backbone settings.")
    neck: NeckConfig = section(NeckConfig, "Neck settings.")
    head: HeadConfig = section(HeadConfig, "Head settings.")
    aux_head: AuxHeadConfig | None = section(
        AuxHeadConfig,
        "Assign Guidance Module settings; null disables the AGM, and the assigner then reads "
        "the head's own predictions.",
    )
    assigner: AssignerConfig = section(AssignerConfig, "Label assigner settings.")
    loss: LossConfig = section(LossConfig, "Loss weights.")
    detach_epoch: int = number(
        10, "From this epoch on, the AGM trains on detached features: its gradients no "
        "longer reach the backbone and neck.", ge=0,
    )


@dataclass
class AugmentConfig:
    """Training augmentation (the official pipeline; validation uses none of it)."""

    perspective: float = number(0.0, "Random perspective distortion strength.", ge=0)
    scale: tuple[float, float] = number(
        (0.6, 1.4), "Range of the random zoom factor (min, max).", gt=0
    )
    stretch: tuple[tuple[float, float], tuple[float, float]] = number(
        ((0.8, 1.2), (0.8, 1.2)),
        "Ranges of the random horizontal and vertical stretch: ((x min, x max), (y min, "
        "y max)).", gt=0,
    )
    rotation: float = number(0.0, "Largest random rotation, in degrees.", ge=0, le=180)
    shear: float = number(0.0, "Largest random shear, in degrees.", ge=0, lt=90)
    translate: float = number(
        0.2, "Largest random shift, as a share of the input size.", ge=0, le=1
    )
    flip: float = number(0.5, "Probability of a horizontal flip.", ge=0, le=1)
    brightness: float = number(0.2, "Largest random brightness change (share of 255).", ge=0)
    contrast: tuple[float, float] = number(
        (0.6, 1.4), "Range of the random contrast factor.", ge=0
    )
    saturation: tuple[float, float] = number(
        (0.5, 1.2), "Range of the random saturation factor.", ge=0
    )
    mosaic: float = number(
        0.0, "Probability of a 4-image mosaic. Not in the official recipe.", ge=0, le=1
    )


@dataclass
class DatasetConfig:
    """One split of a dataset in COCO json, Pascal VOC xml or YOLO txt format.

    Relative paths resolve against the folder of the config file that names them.
    """

    format: str = option("coco", DATASET_FORMATS, "Annotation format: coco, voc or yolo.")
    img_path: str = setting(
        "", "Folder of the images (relative paths start at the config file's folder)."
    )
    ann_path: str = setting(
        "",
        "COCO: the json file; VOC: the folder of xml files; YOLO: the folder of txt label "
        "files (empty: the `labels` folder beside `images`).",
    )
    use_difficult: bool = setting(
        False, "VOC: train on objects marked difficult (false: they are ignored boxes)."
    )


@dataclass
class DataConfig:
    """Input geometry, normalisation, datasets and augmentation."""

    input_size: tuple[int, int] = number(
        (416, 416), "Model input (width, height) for validation, export and deployment; "
        "multiples of 32.", ge=32,
    )
    train_input_size: tuple[int, int] | None = number(
        None, "Input (width, height) of the training samples when it differs from "
        "`input_size`; null: the same.", ge=32,
    )
    keep_ratio: bool = setting(
        False, "Resize keeping the aspect ratio and pad (false: stretch to the input size, "
        "as the official models).",
    )
    mean: tuple[float, float, float] = setting(
        BGR_MEAN, "Per-channel mean subtracted from the image, BGR order, 0-255 scale."
    )
    std: tuple[float, float, float] = number(
        BGR_STD, "Per-channel divisor after the mean, BGR order, 0-255 scale.", gt=0
    )
    train: DatasetConfig | None = setting(None, "The training split.")
    val: DatasetConfig | None = setting(None, "The validation split.")
    augment: AugmentConfig = section(AugmentConfig, "Training augmentation.")
    workers: int = number(2, "Data loading worker processes per training process.", ge=0)
    skip_bad_images: bool = setting(
        False,
        "Images that cannot be read (missing, empty, truncated, corrupt): false stops with "
        "an error naming the file; true logs a warning naming it and goes on without it "
        "(validation leaves it out; training uses the next readable image in its place).",
    )


@dataclass
class OptimizerConfig:
    """AdamW as in the official recipe (decay on every parameter)."""

    name: str = option("AdamW", ("AdamW",), "Optimizer.")
    lr: float = number(1e-3, "Peak learning rate (after warmup).", gt=0)
    weight_decay: float = number(0.05, "Decoupled weight decay.", ge=0)
    betas: tuple[float, float] = number(
        (0.9, 0.999), "AdamW's moment decay rates.", ge=0, lt=1
    )
    eps: float = number(1e-8, "AdamW's epsilon.", gt=0)
    no_norm_decay: bool = setting(False, "No weight decay on normalisation layers.")
    no_bias_decay: bool = setting(False, "No weight decay on biases.")


@dataclass
class TrainConfig:
    """Schedule, recipe and run settings of ``nanodet train``."""

    recipe: str = option(
        "auto", RECIPES,
        "`auto` fits every key you did not set to the dataset, the time budget and the "
        "machine, and logs each choice with its reason; `official` keeps the values of this "
        "reference (the official NanoDet-Plus recipe).",
    )
    epochs: int = number(
        300, "Training epochs; with `time_budget_s`, the most the run may have.", ge=1
    )
    batch_size: int = number(
        96, "Images per step in each process; a step of N processes takes N x this.", ge=1
    )
    optimizer: OptimizerConfig = section(OptimizerConfig, "Optimizer settings.")
    warmup_steps: int = number(500, "Steps of linear learning-rate warmup.", ge=0)
    warmup_ratio: float = number(
        1e-4, "Learning rate at the first warmup step, as a share of the peak.", ge=0, le=1
    )
    eta_min: float = number(5e-5, "Learning rate at the end of the cosine schedule.", ge=0)
    grad_clip: float = number(
        35.0, "Largest gradient norm; larger gradients are scaled down. 0 disables.", ge=0
    )
    ema_decay: float = number(
        0.9998, "Decay of the exponential moving average of the weights that is evaluated "
        "and saved.", ge=0, le=1,
    )
    ema_ramp: float = number(
        2000.0, "Steps over which the EMA's weight of new values falls from 1 to "
        "1 - `ema_decay` (as exp(-step / ema_ramp)).", gt=0,
    )
    val_interval: int = number(
        10, "Validate every this many epochs; 0: after the last epoch only.", ge=0
    )
    accumulate: int = number(1, "Batches whose gradients are summed before each step.", ge=1)
    seed: int = number(0, "Random seed of initialisation, sampling and augmentation.", ge=0)
    device: str = setting("auto", "`auto`, `cpu`, `cuda` or `cuda:N`.")
    precision: str = option(
        "fp32", PRECISIONS, "Autocast precision: fp32, bf16 (CPU or GPU) or fp16 (GPU)."
    )
    sync_bn: bool = setting(False, "Synchronise BatchNorm statistics across GPU processes.")
    patience: int = number(
        0, "Stop after this many validations without a better mAP; 0 disables.", ge=0
    )
    save_period: int = number(
        0, "Also keep `epoch_N.ckpt` every N epochs; 0 disables.", ge=0
    )
    nan_policy: str = option(
        "stop", ("stop", "skip"),
        "After a NaN or infinite loss: stop with an error, or skip that step with a warning.",
    )
    progress: bool = setting(True, "Show a progress bar.")
    plots: bool = setting(True, "Write PNG plots of losses, learning rate and mAP at the end.")
    channels_last: bool = setting(
        True, "Channels-last memory for model and batches: the same results, faster on CPUs."
    )
    time_budget_s: float = number(
        0.0,
        "Seconds the run should take, validation included; 0 disables. After each epoch the "
        "epoch count (at most `epochs`) is re-estimated so that the cosine schedule ends "
        "when the budget does.",
        ge=0,
    )


@dataclass
class Config:
    """Top-level configuration of a model, its data and its training run."""

    model: ModelConfig = section(ModelConfig, "The detector.")
    data: DataConfig = section(DataConfig, "Input, datasets and augmentation.")
    train: TrainConfig = section(TrainConfig, "Training schedule and run settings.")
    class_names: list[str] | None = setting(
        None, "Class names in label order; null: read from the dataset."
    )
    save_dir: str = setting("runs/train", "Folder under which run folders are made.")
    name: str = setting("exp", "Run folder name: `exp`, then `exp2`, `exp3`, ... when taken.")
    preset: str | None = setting(
        None, "Preset this config starts from: its values are the base that the other keys "
        "override.",
    )
