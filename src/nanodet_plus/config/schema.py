"""Typed configuration: every default of the project lives in these dataclasses.

Presets (``config/presets/*.yaml``) and user YAML files only override these values. Sizes are
always ``(width, height)``. Values follow the official NanoDet-Plus configs unless a field's
comment says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BGR_MEAN = (103.53, 116.28, 123.675)
BGR_STD = (57.375, 57.12, 58.395)


@dataclass
class BackboneConfig:
    """ShuffleNetV2 backbone."""

    name: str = "ShuffleNetV2"
    model_size: str = "1.0x"
    out_stages: tuple[int, ...] = (2, 3, 4)
    activation: str = "LeakyReLU"
    with_last_conv: bool = False
    # None: random init; "imagenet": torchvision weights (local cache or download);
    # a path: a local torchvision ShuffleNetV2 state dict.
    pretrained: str | None = None


@dataclass
class NeckConfig:
    """Ghost-PAN neck with extra downsampling levels."""

    name: str = "GhostPAN"
    in_channels: tuple[int, ...] = (116, 232, 464)
    out_channels: int = 96
    kernel_size: int = 5
    num_extra_level: int = 1
    use_depthwise: bool = True
    activation: str = "LeakyReLU"
    expand: int = 1
    num_blocks: int = 1
    use_res: bool = False
    upsample_mode: str = "bilinear"


@dataclass
class HeadConfig:
    """NanoDet-Plus detection head (GFL integral regression)."""

    name: str = "NanoDetPlusHead"
    input_channel: int = 96
    feat_channels: int = 96
    stacked_convs: int = 2
    kernel_size: int = 5
    strides: tuple[int, ...] = (8, 16, 32, 64)
    activation: str = "LeakyReLU"
    reg_max: int = 7
    conv_type: str = "DWConv"  # "DWConv" or "Conv"
    norm: str = "BN"


@dataclass
class AuxHeadConfig:
    """Assign Guidance Module head (SimpleConvHead), training only."""

    name: str = "SimpleConvHead"
    input_channel: int = 192
    feat_channels: int = 192
    stacked_convs: int = 4
    activation: str = "LeakyReLU"
    norm: str = "GN"
    num_groups: int = 32


@dataclass
class AssignerConfig:
    """Dynamic Soft Label Assigner, or ATSS (the original NanoDet's) for the article's ablation."""

    name: str = "DynamicSoftLabelAssigner"  # or "ATSSAssigner"
    topk: int = 13
    iou_factor: float = 3.0
    # Optional distance cost from the NanoDet-Plus article, C_dis = alpha ** (d - beta), with d
    # the distance between prior point and GT centre in units of the prior's stride. Off in the
    # official code, so off by default.
    distance_cost: bool = False
    distance_alpha: float = 10.0
    distance_beta: float = 3.0
    # ATSSAssigner only: nearest priors per level and GT; anchor box side in strides.
    atss_topk: int = 9
    atss_anchor_scale: float = 5.0


@dataclass
class LossConfig:
    """Loss weights of the official configs."""

    qfl_weight: float = 1.0
    qfl_beta: float = 2.0
    dfl_weight: float = 0.25
    giou_weight: float = 2.0


@dataclass
class ModelConfig:
    """The whole detector: backbone, neck, head and the optional AGM (aux_fpn + aux_head)."""

    arch: str = "NanoDetPlus"
    num_classes: int = 80
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    neck: NeckConfig = field(default_factory=NeckConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    # None disables the Assign Guidance Module: DSLA then assigns from the head's own predictions.
    aux_head: AuxHeadConfig | None = field(default_factory=AuxHeadConfig)
    assigner: AssignerConfig = field(default_factory=AssignerConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    detach_epoch: int = 10


@dataclass
class AugmentConfig:
    """Training augmentation (reference-spec §12). Validation uses none of it."""

    perspective: float = 0.0
    scale: tuple[float, float] = (0.6, 1.4)
    stretch: tuple[tuple[float, float], tuple[float, float]] = ((0.8, 1.2), (0.8, 1.2))
    rotation: float = 0.0
    shear: float = 0.0
    translate: float = 0.2
    flip: float = 0.5
    brightness: float = 0.2
    contrast: tuple[float, float] = (0.6, 1.4)
    saturation: tuple[float, float] = (0.5, 1.2)
    mosaic: float = 0.0  # probability of a 4-image mosaic; not in the official recipe


@dataclass
class DatasetConfig:
    """One split of a dataset in COCO json, Pascal VOC xml or YOLO txt format.

    Relative paths resolve against the folder of the config file that names them.
    """

    format: str = "coco"  # "coco" | "voc" | "yolo"
    img_path: str = ""
    ann_path: str = ""
    use_difficult: bool = False  # VOC: keep objects marked difficult as normal boxes


@dataclass
class DataConfig:
    """Input geometry, normalisation, datasets and augmentation."""

    input_size: tuple[int, int] = (416, 416)  # (width, height)
    keep_ratio: bool = False
    mean: tuple[float, float, float] = BGR_MEAN  # BGR order, 0-255 scale
    std: tuple[float, float, float] = BGR_STD
    train: DatasetConfig | None = None
    val: DatasetConfig | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    workers: int = 2


@dataclass
class OptimizerConfig:
    """AdamW as in the official recipe (decay on every parameter)."""

    name: str = "AdamW"
    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    no_norm_decay: bool = False
    no_bias_decay: bool = False


@dataclass
class TrainConfig:
    """Schedule, recipe and run settings of ``nanodet train``."""

    epochs: int = 300  # with time_budget_s: the most epochs the run may have
    batch_size: int = 96
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    warmup_steps: int = 500
    warmup_ratio: float = 1e-4
    eta_min: float = 5e-5
    grad_clip: float = 35.0
    ema_decay: float = 0.9998
    val_interval: int = 10
    accumulate: int = 1
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    precision: str = "fp32"  # "fp32" | "bf16" | "fp16"
    sync_bn: bool = False
    patience: int = 0  # epochs without mAP improvement before stopping; 0 disables
    save_period: int = 0  # also keep epoch_N.ckpt every N epochs; 0 disables
    nan_policy: str = "stop"  # "stop" | "skip"
    progress: bool = True
    plots: bool = True  # PNG plots of losses, lr and mAP in the run folder at the end
    # NHWC memory for model and batches: same results, about 1.6x faster training steps on CPU
    channels_last: bool = True
    # Seconds of training (validation included) the run should fit in; 0 disables. After each
    # epoch the epoch count (at most ``epochs``) is re-estimated from the mean epoch time, so
    # that the cosine schedule ends when the budget does, whatever the machine's speed.
    time_budget_s: float = 0.0


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
