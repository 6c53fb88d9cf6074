"""``train.recipe: auto``: values fitted to the data, budget and machine; the user's keys win."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import yaml

from nanodet_plus.config.loader import keys_set_by_user, load_config
from nanodet_plus.engine.recipe import (
    DatasetStats,
    Machine,
    apply_auto_recipe,
    auto_process_count,
    format_recipe,
)
from nanodet_plus.structures import ImageRecord

CPU_BF16 = Machine(cuda=False, cpu_cores=2, native_bf16=True)
CPU_AVX2 = Machine(cuda=False, cpu_cores=2, native_bf16=False)


def _records(count: int, side: float, image: int = 400) -> list[ImageRecord]:
    """``count`` images of ``image`` px, each with two square boxes of ``side`` px."""
    boxes = np.array([[10, 10, 10 + side, 10 + side], [200, 200, 200 + side, 200 + side]],
                     np.float32)
    return [
        ImageRecord(path=f"{i}.jpg", width=image, height=image, boxes=boxes,
                    labels=np.array([0, 1]), ignore_boxes=np.zeros((0, 4), np.float32),
                    image_id=i, file_name=f"{i}.jpg")
        for i in range(count)
    ]


def _auto(overrides: list[str], records: list[ImageRecord], machine: Machine,
          world_size: int = 2, from_weights: bool = False):
    config = load_config("nanodet-plus-m_416", ["model.num_classes=2", *overrides])
    return apply_auto_recipe(config, records, keys_set_by_user("nanodet-plus-m_416", overrides),
                             world_size, machine, from_weights=from_weights)


def test_a_small_dataset_on_a_cpu_gets_the_short_cpu_recipe():
    config, decided = _auto(["train.time_budget_s=600"], _records(600, 60), CPU_BF16)
    train, data = config.train, config.data
    assert (train.batch_size, train.optimizer.lr, train.warmup_steps) == (4, 0.006, 37)
    assert (train.val_interval, data.workers, train.precision) == (4, 0, "bf16")
    assert config.model.aux_head is None and config.model.assigner.distance_cost
    assert (data.train_input_size, data.input_size) == ((256, 256), (320, 320))
    assert data.augment.scale == (0.8, 1.2)
    assert all(applied for _, applied in decided)


def test_precision_follows_the_cpu_and_small_objects_keep_a_larger_input():
    config, _ = _auto([], _records(100, 8), CPU_AVX2, world_size=1)
    assert config.train.precision == "fp32"
    assert config.data.train_input_size == config.data.input_size == (416, 416)
    assert (config.train.batch_size, config.data.workers) == (8, 2)
    assert config.data.augment.scale == (0.6, 1.4)  # no budget: the official augmentation


def test_the_users_keys_win_and_the_rest_follows_them():
    overrides = ["train.batch_size=8", "model.aux_head.feat_channels=128",
                 "data.input_size=[416,416]", "train.precision=fp32"]
    config, decided = _auto(overrides, _records(600, 60), CPU_BF16)
    assert config.train.batch_size == 8
    assert config.train.optimizer.lr == pytest.approx(0.006 * (16 / 8) ** 0.5)
    assert config.model.aux_head is not None and config.model.aux_head.feat_channels == 128
    assert config.data.input_size == (416, 416) and config.data.train_input_size is None
    assert config.train.precision == "fp32"
    yours = {choice.key for choice, applied in decided if not applied}
    assert yours == {"train.batch_size", "model.aux_head", "data.train_input_size",
                     "data.input_size", "train.precision"}
    table = format_recipe(decided, config)
    assert "train.batch_size" in table and "yours" in table and "0.00848528" in table


def test_a_gpu_keeps_the_agm_and_uses_autocast():
    gpu = Machine(cuda=True, cpu_cores=16, native_bf16=False, cuda_bf16=True)
    config, decided = _auto([], _records(4000, 60), gpu, world_size=1)
    assert config.model.aux_head is not None
    assert (config.train.batch_size, config.train.precision) == (64, "bf16")
    chosen = {choice.key: choice.value for choice, applied in decided if applied}
    assert chosen["model.detach_epoch"] == 10 and chosen["train.ema_ramp"] == 2000.0


def test_dataset_statistics():
    stats = DatasetStats.from_records(_records(10, 40), classes=2)
    assert (stats.images, stats.boxes, stats.classes) == (10, 20, 2)
    assert stats.small_object == pytest.approx(0.1) and stats.median_object == pytest.approx(0.1)


def test_process_count():
    assert auto_process_count("auto", CPU_BF16) == 2
    assert auto_process_count("official", CPU_BF16) == 1
    assert auto_process_count("auto", Machine(cuda=False, cpu_cores=1, native_bf16=False)) == 1
    assert auto_process_count("auto", Machine(cuda=True, cpu_cores=8, native_bf16=False)) == 1


def test_keys_set_by_user(tmp_path: Path):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"preset": "nanodet-plus-m_320", "model": {"num_classes": 3},
                                    "train": {"optimizer": {"lr": 0.01}}}))
    assert keys_set_by_user(path, ["train.epochs=5"]) == {
        "model.num_classes", "train.optimizer.lr", "train.epochs"}
    assert keys_set_by_user("nanodet-plus-m_320") == frozenset()
    config = load_config("nanodet-plus-m_320", ["data.workers=0"])
    assert keys_set_by_user(config) == {"data.workers"}


def test_training_with_the_auto_recipe_logs_its_table(tiny_dataset, tiny_config, tmp_path,
                                                     caplog):
    overrides = [o for o in tiny_config(*tiny_dataset, epochs=1) if "recipe" not in o]
    overrides = [o for o in overrides if not o.startswith("train.batch_size")]
    from nanodet_plus.engine.trainer import train

    with caplog.at_level(logging.INFO, logger="nanodet_plus"):
        result = train("nanodet-plus-m_320", overrides, project=tmp_path, name="auto")
    saved = load_config(result.run_dir / "config.yaml")
    assert saved.train.recipe == "auto" and saved.model.aux_head is not None  # the user's
    assert saved.train.batch_size == 8 and saved.data.input_size == (128, 128)
    assert "train.recipe auto" in caplog.text and "data.input_size" in caplog.text


def test_imagenet_backbone_weights_are_used_when_on_this_machine(tmp_path: Path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    config, decided = _auto([], _records(100, 60), CPU_AVX2)
    assert config.model.backbone.pretrained is None
    (reason,) = [c.reason for c, _ in decided if c.key == "model.backbone.pretrained"]
    expected = tmp_path / "checkpoints" / "shufflenetv2_x1-5666bf0f80.pth"
    assert reason.startswith("the backbone starts from scratch") and str(expected) in reason
    expected.parent.mkdir()
    expected.write_bytes(b"")
    config, _ = _auto([], _records(100, 60), CPU_AVX2)
    assert config.model.backbone.pretrained == str(expected)
    config, _ = _auto(["model.backbone.pretrained=null"], _records(100, 60), CPU_AVX2)
    assert config.model.backbone.pretrained is None


def test_training_from_weights_gets_a_fine_tuning_schedule(tmp_path: Path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    scratch, _ = _auto(["train.time_budget_s=600"], _records(600, 60), CPU_BF16)
    tuned, decided = _auto(["train.time_budget_s=600"], _records(600, 60), CPU_BF16,
                           from_weights=True)
    assert tuned.train.optimizer.lr == pytest.approx(scratch.train.optimizer.lr / 2)
    assert tuned.train.warmup_steps == 10 < scratch.train.warmup_steps
    assert tuned.train.epochs == scratch.train.epochs  # the budget decides how many
    keys = {choice.key for choice, _ in decided}
    assert "model.backbone.pretrained" not in keys  # the backbone comes with the weights
    # Without a budget half the epochs; a budget or epochs the user sets win.
    assert _auto([], _records(600, 60), CPU_BF16, from_weights=True)[0].train.epochs == 150
    for mine in (["train.epochs=40"], ["train.epochs=40", "train.time_budget_s=0"]):
        config, decided = _auto(mine, _records(600, 60), CPU_BF16, from_weights=True)
        assert config.train.epochs == 40
        assert [applied for c, applied in decided if c.key == "train.epochs"] == [False]


@pytest.mark.slow
def test_fine_tuning_the_reference_weights_gets_the_fine_tuning_schedule(
        tiny_dataset, tmp_path, caplog, reference_weights):
    """--weights with the official-format reference file (80 classes) on a 2-class dataset:
    the weights load (classifier outputs fresh) and auto gives the fine-tuning schedule."""
    from nanodet_plus.engine.trainer import train

    images, ann = tiny_dataset
    split = f"{{format: coco, img_path: {images}, ann_path: {ann}}}"
    overrides = ["model.num_classes=2", "class_names=[square, disc]", f"data.train={split}",
                 f"data.val={split}", "data.input_size=[128,128]", "train.epochs=1",
                 "train.progress=false", "train.plots=false", "train.device=cpu"]
    with caplog.at_level(logging.INFO, logger="nanodet_plus"):
        tuned = train("nanodet-plus-m_320", overrides, weights=reference_weights,
                      project=tmp_path, name="tuned")
    scratch, _ = _auto([], _records(8, 40), CPU_BF16, world_size=1)
    saved = load_config(tuned.run_dir / "config.yaml")
    assert saved.train.optimizer.lr == pytest.approx(scratch.train.optimizer.lr / 2)
    assert saved.train.warmup_steps == 10 and saved.train.epochs == 1
    assert "--weights: 0.5x the from-scratch rate" in caplog.text
    assert "nanodet-plus-m_320_weights.pth" in caplog.text and "class count differs" in caplog.text
