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


def option(default: Any, choices: tuple[Any, ...]) -> Any:
    """A field whose value must be one of ``choices`` (checked when a config is loaded)."""
    return field(default=default, metadata={"choices": choices})


def number(
    default: Any,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Any:
    """A numeric field (or tuple of numbers) with bounds checked when a config is loaded."""
    bounds = {k: v for k, v in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if v is not None}
    return field(default=default, metadata={"bounds": bounds})


@dataclass
class BackboneConfig:
    """ShuffleNetV2 backbone."""

    name: str = option("ShuffleNetV2", ("ShuffleNetV2",))
    model_size: str = option("1.0x", MODEL_SIZES)
    out_stages: tuple[int, ...] = (2, 3, 4)
    activation: str = option("LeakyReLU", ACTIVATIONS)
    with_last_conv: bool = False
    # None: random init; "imagenet": torchvision weights (local cache or download);
    # a path: a local torchvision ShuffleNetV2 state dict.
    pretrained: str | None = None


@dataclass
class NeckConfig:
    """Ghost-PAN neck with extra downsampling levels."""

    name: str = option("GhostPAN", ("GhostPAN",))
    in_channels: tuple[int, ...] = number((116, 232, 464), ge=1)
    out_channels: int = number(96, ge=1)
    kernel_size: int = number(5, ge=1)
    num_extra_level: int = number(1, ge=0)
    use_depthwise: bool = True
    activation: str = option("LeakyReLU", ACTIVATIONS)
    expand: int = number(1, ge=1)
    num_blocks: int = number(1, ge=1)
    use_res: bool = False
    upsample_mode: str = option("bilinear", ("bilinear", "nearest", "bicubic"))


@dataclass
class HeadConfig:
    """NanoDet-Plus detection head (GFL integral regression)."""

    name: str = option("NanoDetPlusHead", ("NanoDetPlusHead",))
    input_channel: int = number(96, ge=1)
    feat_channels: int = number(96, ge=1)
    stacked_convs: int = number(2, ge=0)
    kernel_size: int = number(5, ge=1)
    strides: tuple[int, ...] = number((8, 16, 32, 64), ge=1)
    activation: str = option("LeakyReLU", ACTIVATIONS)
    reg_max: int = number(7, ge=1)
    conv_type: str = option("DWConv", ("DWConv", "Conv"))
    norm: str = option("BN", NORMS)


@dataclass
class AuxHeadConfig:
    """Assign Guidance Module head (SimpleConvHead), training only."""

    name: str = option("SimpleConvHead", ("SimpleConvHead",))
    input_channel: int = number(192, ge=1)
    feat_channels: int = number(192, ge=1)
    stacked_convs: int = number(4, ge=0)
    activation: str = option("LeakyReLU", ACTIVATIONS)
    norm: str = option("GN", NORMS)
    num_groups: int = number(32, ge=1)
    # The fields below are not in the official code; their defaults are its AGM.
    # DWConv: depthwise 3x3 + pointwise 1x1 tower convs instead of full 3x3 convs.
    conv_type: str = option("Conv", ("Conv", "DWConv"))
    # True: the AGM reads [neck, its own copy of the neck] (input_channel = 2x neck
    # out_channels); False: the main neck's features only (input_channel = out_channels).
    own_fpn: bool = True
    # Share of the training epochs in which the AGM runs and guides the assigner; afterwards
    # the assigner reads the head's own predictions and the AGM costs nothing.
    guide_share: float = number(1.0, gt=0, le=1)


@dataclass
class AssignerConfig:
    """Dynamic Soft Label Assigner, or ATSS (the original NanoDet's) for the article's ablation."""

    name: str = option("DynamicSoftLabelAssigner", ASSIGNERS)
    topk: int = number(13, ge=1)
    iou_factor: float = number(3.0, ge=0)
    # Optional distance cost from the NanoDet-Plus article, C_dis = alpha ** (d - beta), with d
    # the distance between prior point and GT centre in units of the prior's stride. Off in the
    # official code, so off by default.
    distance_cost: bool = False
    distance_alpha: float = number(10.0, gt=0)
    distance_beta: float = 3.0
    # ATSSAssigner only: nearest priors per level and GT; anchor box side in strides.
    atss_topk: int = number(9, ge=1)
    atss_anchor_scale: float = number(5.0, gt=0)


@dataclass
class LossConfig:
    """Loss weights of the official configs."""

    qfl_weight: float = number(1.0, ge=0)
    qfl_beta: float = number(2.0, ge=0)
    dfl_weight: float = number(0.25, ge=0)
    giou_weight: float = number(2.0, ge=0)


@dataclass
class ModelConfig:
    """The whole detector: backbone, neck, head and the optional AGM (aux_fpn + aux_head)."""

    arch: str = option("NanoDetPlus", ("NanoDetPlus",))
    num_classes: int = number(80, ge=1)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    neck: NeckConfig = field(default_factory=NeckConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    # None disables the Assign Guidance Module: DSLA then assigns from the head's own predictions.
    aux_head: AuxHeadConfig | None = field(default_factory=AuxHeadConfig)
    assigner: AssignerConfig = field(default_factory=AssignerConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    detach_epoch: int = number(10, ge=0)


@dataclass
class AugmentConfig:
    """Training augmentation (reference-spec §12). Validation uses none of it."""

    perspective: float = number(0.0, ge=0)
    scale: tuple[float, float] = number((0.6, 1.4), gt=0)
    stretch: tuple[tuple[float, float], tuple[float, float]] = number(
        ((0.8, 1.2), (0.8, 1.2)), gt=0
    )
    rotation: float = number(0.0, ge=0, le=180)
    shear: float = number(0.0, ge=0, lt=90)
    translate: float = number(0.2, ge=0, le=1)
    flip: float = number(0.5, ge=0, le=1)
    brightness: float = number(0.2, ge=0)
    contrast: tuple[float, float] = number((0.6, 1.4), ge=0)
    saturation: tuple[float, float] = number((0.5, 1.2), ge=0)
    # probability of a 4-image mosaic; not in the official recipe
    mosaic: float = number(0.0, ge=0, le=1)


@dataclass
class DatasetConfig:
    """One split of a dataset in COCO json, Pascal VOC xml or YOLO txt format.

    Relative paths resolve against the folder of the config file that names them.
    """

    format: str = option("coco", DATASET_FORMATS)
    img_path: str = ""
    ann_path: str = ""
    use_difficult: bool = False  # VOC: keep objects marked difficult as normal boxes


@dataclass
class DataConfig:
    """Input geometry, normalisation, datasets and augmentation."""

    input_size: tuple[int, int] = number((416, 416), ge=32)  # (width, height)
    # Input size of the training samples when it differs from ``input_size`` (the size the
    # model is validated, exported and deployed at); None: the same.
    train_input_size: tuple[int, int] | None = number(None, ge=32)
    keep_ratio: bool = False
    mean: tuple[float, float, float] = BGR_MEAN  # BGR order, 0-255 scale
    std: tuple[float, float, float] = number(BGR_STD, gt=0)
    train: DatasetConfig | None = None
    val: DatasetConfig | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    workers: int = number(2, ge=0)
    # Images that cannot be read (missing, empty, truncated, corrupt): False stops with an error
    # naming the file; True logs a warning naming it and goes on without it (validation leaves
    # it out; in training the next readable image of the split takes its place)
    skip_bad_images: bool = False


@dataclass
class OptimizerConfig:
    """AdamW as in the official recipe (decay on every parameter)."""

    name: str = option("AdamW", ("AdamW",))
    lr: float = number(1e-3, gt=0)
    weight_decay: float = number(0.05, ge=0)
    betas: tuple[float, float] = number((0.9, 0.999), ge=0, lt=1)
    eps: float = number(1e-8, gt=0)
    no_norm_decay: bool = False
    no_bias_decay: bool = False


@dataclass
class TrainConfig:
    """Schedule, recipe and run settings of ``nanodet train``."""

    # "auto": fit what the user did not set to the dataset, the time budget and the machine
    # (engine/recipe.py); "official": the official NanoDet-Plus recipe, the values below.
    recipe: str = option("auto", RECIPES)
    epochs: int = number(300, ge=1)  # with time_budget_s: the most epochs the run may have
    batch_size: int = number(96, ge=1)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    warmup_steps: int = number(500, ge=0)
    warmup_ratio: float = number(1e-4, ge=0, le=1)
    eta_min: float = number(5e-5, ge=0)
    grad_clip: float = number(35.0, ge=0)  # 0 disables clipping
    ema_decay: float = number(0.9998, ge=0, le=1)
    # Steps over which the EMA's weight of new values falls from 1 to 1 - ema_decay
    # (exp(-step / ema_ramp)); 2000 is the official value.
    ema_ramp: float = number(2000.0, gt=0)
    val_interval: int = number(10, ge=0)  # 0: validate after the last epoch only
    accumulate: int = number(1, ge=1)
    seed: int = number(0, ge=0)
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    precision: str = option("fp32", PRECISIONS)
    sync_bn: bool = False
    patience: int = number(0, ge=0)  # epochs without mAP improvement before stopping; 0 disables
    save_period: int = number(0, ge=0)  # also keep epoch_N.ckpt every N epochs; 0 disables
    nan_policy: str = option("stop", ("stop", "skip"))  # after a NaN/inf loss
    progress: bool = True
    plots: bool = True  # PNG plots of losses, lr and mAP in the run folder at the end
    # NHWC memory for model and batches: same results, about 1.6x faster training steps on CPU
    channels_last: bool = True
    # Seconds of training (validation included) the run should fit in; 0 disables. After each
    # epoch the epoch count (at most ``epochs``) is re-estimated from the mean epoch time, so
    # that the cosine schedule ends when the budget does, whatever the machine's speed.
    time_budget_s: float = number(0.0, ge=0)


@dataclass
class Config:
    """Top-level configuration of a model, its data and its training run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    class_names: list[str] | None = None
    save_dir: str = "runs/train"
    name: str = "exp"
    preset: str | None = None  # the preset this config was built from, for information
