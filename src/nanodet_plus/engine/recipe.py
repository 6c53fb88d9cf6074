"""``train.recipe: auto``: fit the training recipe to the dataset, the time budget and the
machine, for every key the user did not set.

The official recipe (the schema's defaults: batch 96, 500 warmup steps, the AGM, augmentation
made for 300 epochs) is made for long GPU runs on COCO; on a CPU with a time budget of minutes
it barely leaves its warmup. The choices below come from measurements on the demo data and
the recipe benchmark datasets (docs/reference/defaults.md); each carries its reason, printed as one
table when training starts.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nanodet_plus.config.loader import load_config, to_dict
from nanodet_plus.config.schema import Config
from nanodet_plus.structures import ImageRecord

logger = logging.getLogger(__name__)

CPU_BATCH = 8  # images per optimizer step on a CPU, over all processes
CPU_LR = 6e-3  # AdamW learning rate measured best for CPU_BATCH on short runs
MAX_LR = 1e-2
GPU_BATCH = 64
SHORT_RUN_S = 2 * 3600  # budgets up to this are "short": milder augmentation
STEPS_PER_VALIDATION = 300
TRAIN_SIZES = (256, 320, 416)
MIN_OBJECT_PX = 10  # 10th-percentile object side kept at the input (demo: 11 px at 256: best)
EMA_RAMP = 2000.0  # steps; the official value, kept: a faster ramp measured no different
FINETUNE_LR_FACTOR = 0.5  # --weights: share of the from-scratch learning rate
FINETUNE_EPOCH_SHARE = 0.5  # --weights, no time budget: share of the from-scratch epochs


@dataclass(frozen=True)
class Machine:
    """What the hardware offers that changes the fastest recipe."""

    cuda: bool
    cpu_cores: int
    native_bf16: bool
    cuda_bf16: bool = False

    @classmethod
    def detect(cls) -> Machine:
        import torch

        from nanodet_plus.utils.hardware import cpu_has_native_bf16

        cuda = torch.cuda.is_available()
        return cls(cuda=cuda, cpu_cores=os.cpu_count() or 1, native_bf16=cpu_has_native_bf16(),
                   cuda_bf16=cuda and torch.cuda.is_bf16_supported())


@dataclass(frozen=True)
class DatasetStats:
    """The training split as the recipe sees it."""

    images: int
    boxes: int
    classes: int
    small_object: float  # 10th percentile of sqrt(box area / image area)
    median_object: float

    @classmethod
    def from_records(cls, records: Sequence[ImageRecord], classes: int) -> DatasetStats:
        sizes = [
            math.sqrt(max(w, 0.0) * max(h, 0.0) / (record.width * record.height))
            for record in records
            for w, h in (record.boxes[:, 2:4] - record.boxes[:, 0:2]).tolist()
        ]
        small, median = np.percentile(sizes, [10, 50]).tolist() if sizes else (1.0, 1.0)
        return cls(len(records), len(sizes), classes, float(small), float(median))


@dataclass(frozen=True)
class Choice:
    """One value the recipe picked for a config key, and why."""

    key: str
    value: Any
    reason: str
    yields_to: tuple[str, ...] = ()  # user keys that make this choice stand back too


def auto_process_count(recipe: str, machine: Machine | None = None) -> int:
    """Local training processes when the user gives no ``--nproc``: two on a multi-core CPU
    with the auto recipe (1.4x the images/s of one 2-thread process on the 2-core machine of
    docs/reference/defaults.md), else one (a GPU, one core, or the official recipe)."""
    if recipe != "auto" or os.environ.get("WORLD_SIZE", "1") != "1":
        return 1
    machine = machine or Machine.detect()
    return 2 if not machine.cuda and machine.cpu_cores >= 2 else 1


def auto_choices(config: Config, stats: DatasetStats, machine: Machine, world_size: int,
                 user_batch: int | None = None, from_weights: bool = False) -> list[Choice]:
    """Every value ``train.recipe: auto`` would set, before the user's own keys win.

    ``user_batch``: the per-process batch the user set, which the learning rate, warmup and
    validation interval then follow. ``from_weights``: training starts from a trained
    detector's weights (``--weights``): a fine-tuning schedule, and no backbone weights.
    """
    if machine.cuda:
        per_process = user_batch or max(1, min(GPU_BATCH, stats.images // 8) // world_size)
        batch_reason = "GPU(s), at most an eighth of the training images"
    else:
        per_process = user_batch or max(1, CPU_BATCH // world_size)
        batch_reason = "process(es): small batches learn most per CPU second"
    total = per_process * world_size
    device_choices = _gpu_choices(machine) if machine.cuda \
        else _cpu_choices(stats, machine, world_size)
    return [
        Choice("train.batch_size", per_process, f"{total} images per step over {world_size} "
               f"{batch_reason}"),
        *(_finetune_schedule(config, total, stats) if from_weights
          else _schedule(total, stats)),
        *device_choices,
        Choice("train.ema_ramp", EMA_RAMP,
               "the official ramp: a 250-step one scored the same in 10- and 8-epoch runs on "
               "digits-on-textures and demo-shapes (docs/reference/defaults.md)"),
        *_augmentation(config),
        *([] if from_weights else _backbone(config)),
    ]


def _schedule(total_batch: int, stats: DatasetStats) -> list[Choice]:
    """Learning rate, warmup and validation interval for ``total_batch`` images a step."""
    steps_per_epoch = max(1, stats.images // total_batch)
    return [
        Choice("train.optimizer.lr", _scaled_lr(total_batch),
               f"{CPU_LR:g} at batch {CPU_BATCH}, scaled by the square root of the batch, "
               f"at most {MAX_LR:g}"),
        Choice("train.warmup_steps", _warmup(steps_per_epoch),
               f"half an epoch ({steps_per_epoch} steps), at least 20 and at most 300"),
        _validation_interval(steps_per_epoch),
    ]


def _finetune_schedule(config: Config, total_batch: int, stats: DatasetStats) -> list[Choice]:
    """From a trained detector: a lower rate, a short warmup and, without a time budget, a
    fraction of the from-scratch epochs."""
    steps_per_epoch = max(1, stats.images // total_batch)
    choices = [
        Choice("train.optimizer.lr", _scaled_lr(total_batch) * FINETUNE_LR_FACTOR,
               f"--weights: {FINETUNE_LR_FACTOR:g}x the from-scratch rate, so that what the "
               "weights learned is kept"),
        Choice("train.warmup_steps", max(10, _warmup(steps_per_epoch) // 4),
               "--weights: a quarter of the from-scratch warmup (the features are trained)"),
        _validation_interval(steps_per_epoch),
    ]
    if config.train.time_budget_s <= 0:
        epochs = max(1, math.ceil(config.train.epochs * FINETUNE_EPOCH_SHARE))
        choices.append(Choice("train.epochs", epochs,
                              f"--weights: {FINETUNE_EPOCH_SHARE:g} of the {config.train.epochs} "
                              "from-scratch epochs",
                              yields_to=("train.time_budget_s",)))
    return choices


def _validation_interval(steps_per_epoch: int) -> Choice:
    return Choice("train.val_interval", max(1, round(STEPS_PER_VALIDATION / steps_per_epoch)),
                  f"validate about every {STEPS_PER_VALIDATION} steps")


def _cpu_choices(stats: DatasetStats, machine: Machine, world_size: int) -> list[Choice]:
    train_size = _train_size(stats)
    eval_size = max(train_size, 320)
    return [
        Choice("data.workers", 0 if world_size > 1 else 2,
               "processes load their own batches" if world_size > 1
               else "two loader workers beside the training thread"),
        Choice("model.aux_head", None,
               "no AGM on a CPU: the official one makes a step about 4x slower, and no lighter "
               "form (narrow, depthwise, first 30% of epochs) beat none at equal CPU time "
               "(docs/reference/defaults.md)"),
        Choice("model.assigner.distance_cost", True,
               "the article's centre-distance cost steadies the assignment without the AGM"),
        Choice("data.train_input_size", (train_size, train_size),
               f"objects keep >= {MIN_OBJECT_PX} px (10th percentile "
               f"{stats.small_object * train_size:.0f} px); more epochs fit the budget",
               yields_to=("data.input_size",)),
        Choice("data.input_size", (eval_size, eval_size),
               "validation and deployment size: scores higher than the training size"),
        Choice("train.precision", "bf16" if machine.native_bf16 else "fp32",
               "the CPU has bf16 instructions: 1.13x images/s" if machine.native_bf16
               else "no bf16 instructions on this CPU: bf16 would be emulated, slower"),
    ]


def _gpu_choices(machine: Machine) -> list[Choice]:
    """On a GPU the official AGM stays (the official recipe's home; no GPU measurement here)."""
    precision = "bf16" if machine.cuda_bf16 else "fp16"
    return [
        Choice("train.precision", precision, f"{precision} autocast on the GPU"),
        Choice("model.detach_epoch", 10, "the official AGM keeps the official detach epoch "
               "(not measured on a GPU here)", yields_to=("model.aux_head",)),
    ]


def _augmentation(config: Config) -> list[Choice]:
    budget = config.train.time_budget_s
    if not (0 < budget <= SHORT_RUN_S):
        return []
    reason = (f"a {budget / 60:.0f}-minute run learns faster from objects near their real "
              "size than from the official 300-epoch augmentation")
    return [
        Choice("data.augment.scale", (0.8, 1.2), reason),
        Choice("data.augment.stretch", ((0.9, 1.1), (0.9, 1.1)), reason),
    ]


def _backbone(config: Config) -> list[Choice]:
    """ImageNet backbone weights when they are on this machine (no download is tried)."""
    from nanodet_plus.models.weights import IMAGENET_URLS, imagenet_cache_path

    size = config.model.backbone.model_size
    if size not in IMAGENET_URLS:
        return []
    cached = imagenet_cache_path(size)
    if cached.is_file():
        return [Choice("model.backbone.pretrained", str(cached),
                       "ImageNet ShuffleNetV2 weights found in the torch hub cache")]
    return [Choice("model.backbone.pretrained", None,
                   f"the backbone starts from scratch: no ImageNet weights at {cached}; put "
                   f"{cached.name} ({IMAGENET_URLS[size]}) there or set "
                   "model.backbone.pretrained=PATH")]


def _scaled_lr(total_batch: int) -> float:
    return float(min(MAX_LR, CPU_LR * math.sqrt(total_batch / CPU_BATCH)))


def _warmup(steps_per_epoch: int) -> int:
    return int(min(300, max(20, steps_per_epoch // 2)))


def _train_size(stats: DatasetStats) -> int:
    for size in TRAIN_SIZES:
        if stats.small_object * size >= MIN_OBJECT_PX:
            return size
    return TRAIN_SIZES[-1]


def apply_auto_recipe(
    config: Config,
    records: Sequence[ImageRecord],
    user_keys: frozenset[str],
    world_size: int,
    machine: Machine | None = None,
    from_weights: bool = False,
) -> tuple[Config, list[tuple[Choice, bool]]]:
    """``config`` with the auto recipe's values for every key the user did not set, and each
    choice with whether it was applied (False: the user's value won). ``from_weights``: the
    run starts from a trained detector (``--weights``)."""
    machine = machine or Machine.detect()
    stats = DatasetStats.from_records(records, config.model.num_classes)
    user_batch = config.train.batch_size if "train.batch_size" in user_keys else None
    decided = []
    data = to_dict(config)
    for choice in auto_choices(config, stats, machine, world_size, user_batch, from_weights):
        applied = not any(_set_by_user(key, user_keys)
                          for key in (choice.key, *choice.yields_to))
        if applied:
            _assign(data, choice.key, choice.value)
        decided.append((choice, applied))
    return load_config(data), decided


def _set_by_user(key: str, user_keys: frozenset[str]) -> bool:
    """The user set ``key``, a key inside it, or replaced a section holding it."""
    parts = key.split(".")
    prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
    return bool(prefixes & user_keys) or any(k.startswith(key + ".") for k in user_keys)


def _assign(data: dict, key: str, value: Any) -> None:
    *sections, last = key.split(".")
    for section in sections:
        data = data.setdefault(section, {})
    data[last] = list(value) if isinstance(value, tuple) else value


def format_recipe(decided: list[tuple[Choice, bool]], config: Config) -> str:
    """The table printed when training starts: each key, its value and the reason."""
    rows = [("key", "value", "why")]
    for choice, applied in decided:
        value = _lookup(config, choice.key)
        rows.append((choice.key, _text(value), choice.reason if applied else "yours"))
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{key:<{width[0]}}  {value:<{width[1]}}  {why}" for key, value, why in rows]
    return "\n".join(lines)


def _lookup(config: Any, key: str) -> Any:
    for part in key.split("."):
        config = getattr(config, part)
    return config


def _text(value: Any) -> str:
    if dataclasses.is_dataclass(value):
        return "(section)"
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value) if all(isinstance(v, int) for v in value) \
            else str(tuple(value))
    return "null" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
