"""Training loop: exact resume after SIGINT, NaN handling, run folder contents, fine-tuning."""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from nanodet_plus.engine import trainer as trainer_module
from nanodet_plus.engine.checkpoint import load_checkpoint
from nanodet_plus.engine.ema import ModelEMA
from nanodet_plus.engine.optim import LRSchedule
from nanodet_plus.engine.trainer import train
from nanodet_plus.errors import TrainingError, UsageError
from nanodet_plus.models.detector import NanoDetPlus

Dataset = tuple[Path, Path]
Overrides = Callable[..., list[str]]


def _signal_at_step(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    original = ModelEMA.update

    def update(self: ModelEMA, model: torch.nn.Module, current: int) -> None:
        original(self, model, current)
        if current == step:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(ModelEMA, "update", update)


@pytest.mark.slow
def test_resume_after_sigint_gives_identical_weights(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    overrides = [*tiny_config(*tiny_dataset, epochs=2), "train.val_interval=2"]
    straight = train("nanodet-plus-m_320", overrides, project=tmp_path, name="straight")
    assert (straight.stop_reason, straight.steps) == ("completed", 4)
    a = load_checkpoint(straight.last_checkpoint)
    # 2 steps per epoch: step 3 stops in the middle of epoch 2, step 2 at the end of epoch 1
    # (that epoch still finishes: validation and last.ckpt, then the run stops).
    for stop_step, where in ((3, (1, 1, 3)), (2, (1, 0, 2))):
        _signal_at_step(monkeypatch, stop_step)
        first = train("nanodet-plus-m_320", overrides, project=tmp_path, name=f"s{stop_step}")
        assert (first.stop_reason, first.steps) == ("interrupted", stop_step)
        partial = load_checkpoint(first.last_checkpoint)
        assert (partial["epoch"], partial["batch_in_epoch"], partial["step"]) == where
        monkeypatch.undo()

        resumed = train(None, resume=first.last_checkpoint)
        assert resumed.run_dir == first.run_dir and resumed.steps == 4
        b = load_checkpoint(resumed.last_checkpoint)
        for part in ("model", "ema", "optimizer"):
            flat_a, flat_b = _tensors(a[part]), _tensors(b[part])
            assert flat_a.keys() == flat_b.keys()
            for key, value in flat_a.items():
                assert torch.equal(value, flat_b[key]), f"stop at {stop_step}: {key} differs"
        assert a["history"][1]["loss"] == pytest.approx(b["history"][1]["loss"], rel=1e-6)
        assert resumed.best_metric == straight.best_metric


def _tensors(state: object, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a nested state dict, keyed by its path."""
    if torch.is_tensor(state):
        return {prefix: state}
    items = state.items() if isinstance(state, dict) else enumerate(state) \
        if isinstance(state, (list, tuple)) else []
    found: dict[str, torch.Tensor] = {}
    for key, value in items:
        found.update(_tensors(value, f"{prefix}.{key}"))
    return found

@pytest.mark.slow
def test_group_sigterm_with_loader_workers_still_saves_a_checkpoint(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`kill -TERM -PGID` or Ctrl-C reach the loader workers too; they must not die of it
    (the main process would fail inside the step, before writing its checkpoint)."""
    import multiprocessing

    original = ModelEMA.update

    def update(self: ModelEMA, model: torch.nn.Module, current: int) -> None:
        original(self, model, current)
        if current == 2:  # the workers get the group's signal first, while a step runs
            workers = multiprocessing.active_children()
            assert workers, "expected loader worker processes"
            for worker in workers:
                os.kill(worker.pid, signal.SIGTERM)
            time.sleep(0.5)
        if current == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(ModelEMA, "update", update)
    overrides = [*tiny_config(*tiny_dataset, epochs=2), "data.workers=1",
                 "train.val_interval=2"]
    result = train("nanodet-plus-m_320", overrides, project=tmp_path, name="term")
    assert (result.stop_reason, result.steps) == ("interrupted", 3)
    checkpoint = load_checkpoint(result.last_checkpoint)
    assert (checkpoint["epoch"], checkpoint["batch_in_epoch"], checkpoint["step"]) == (1, 1, 3)


def test_run_folder_contents(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path
) -> None:
    overrides = [*tiny_config(*tiny_dataset, epochs=1), "train.save_period=1",
                 "train.plots=true"]
    result = train("nanodet-plus-m_320", overrides, project=tmp_path, name="exp")
    run = result.run_dir
    assert run == tmp_path / "exp"
    for name in ("config.yaml", "last.ckpt", "best.ckpt", "epoch_1.ckpt", "model_best.pth",
                 "model_last.pth", "metrics.csv", "plots/losses.png", "plots/lr.png",
                 "plots/map.png"):
        assert (run / name).is_file(), name
    assert list(run.glob("events.out.tfevents.*"))
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert len(rows) == 1 and rows[0]["epoch"] == "1" and rows[0]["mAP"] != ""
    weights = torch.load(result.best_path, weights_only=True)["state_dict"]
    assert weights and not any(k.startswith(("aux_fpn.", "aux_head.")) for k in weights)
    again = train("nanodet-plus-m_320", [*overrides, "train.epochs=1"], project=tmp_path,
                  name="exp", weights=result.best_path)
    assert again.run_dir == tmp_path / "exp2"


def test_nan_loss_stops_and_names_the_term(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = NanoDetPlus.training_losses
    calls = {"n": 0}

    def poisoned(self: NanoDetPlus, *args: object, **kwargs: object) -> dict:
        losses = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            losses["loss_bbox"] = losses["loss_bbox"] * float("nan")
            losses["loss"] = losses["loss"] + losses["loss_bbox"]
        return losses

    monkeypatch.setattr(NanoDetPlus, "training_losses", poisoned)
    overrides = [*tiny_config(*tiny_dataset, epochs=1), "data.val=null"]
    with pytest.raises(TrainingError, match=r"non-finite loss_bbox = nan at epoch 1, step 1"):
        train("nanodet-plus-m_320", overrides, project=tmp_path, name="stop")
    assert not list((tmp_path / "stop").glob("*.ckpt"))

    calls["n"] = 0
    skipped = train("nanodet-plus-m_320", [*overrides, "train.nan_policy=skip"],
                    project=tmp_path, name="skip")
    assert skipped.steps == 1 and skipped.stop_reason == "completed"


def test_resume_auto_finds_the_newest_run(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "last.ckpt").write_bytes(b"x")
    os.utime(tmp_path / "a" / "last.ckpt", (1, 1))
    assert trainer_module.find_last_checkpoint(tmp_path) == tmp_path / "b" / "last.ckpt"
    with pytest.raises(FileNotFoundError, match=r"no run with a last\.ckpt"):
        trainer_module.find_last_checkpoint(tmp_path / "none")


def test_warns_when_batches_get_no_positives(
    tmp_path: Path, tiny_config: Overrides, coco_writer: Callable[..., Dataset],
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    images, ann = coco_writer(tmp_path / "empty", count=8, negatives=8)
    monkeypatch.setattr(trainer_module, "NO_POSITIVE_WARN_STEPS", 2)
    monkeypatch.setattr(logging.getLogger("nanodet_plus"), "propagate", True)
    overrides = [*tiny_config(images, ann, epochs=1), "data.val=null"]
    with caplog.at_level(logging.WARNING, logger="nanodet_plus"):  # the data check refuses it
        result = train("nanodet-plus-m_320", overrides, project=tmp_path, name="neg",
                       check_data=False)
    assert "without a single positive sample" in caplog.text
    assert "wrong class mapping" in caplog.text
    assert result.best_metric is None and result.best_path == result.last_path
    rows = list(csv.DictReader((result.run_dir / "metrics.csv").open()))
    assert float(rows[0]["num_pos"]) == 0.0


def test_epochs_within_budget() -> None:
    fit = trainer_module.epochs_within_budget
    assert fit(100.0, 20.0, 1, 50) == 5  # 20 s per epoch
    assert fit(100.0, 45.0, 2, 50) == 4  # floor: the 5th epoch would end after 112 s
    assert fit(100.0, 150.0, 1, 50) == 1  # over budget: stop now, never below epochs done
    assert fit(1000.0, 1.0, 1, 50) == 50  # at most train.epochs


def _budget_run(monkeypatch: pytest.MonkeyPatch, tiny_config: Overrides,
                tiny_dataset: Dataset) -> list[str]:
    """Overrides of a 6-epoch run with a 35 s budget, under a clock that says every epoch
    took 10 s: 3 epochs fit."""
    monkeypatch.setattr(trainer_module.Trainer, "_training_seconds",
                        lambda self: 10.0 * (self.epoch + 1))
    return [*tiny_config(*tiny_dataset, epochs=6), "train.val_interval=0",
            "train.time_budget_s=35"]


def test_time_budget_shortens_the_run_and_its_schedule(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    overrides = _budget_run(monkeypatch, tiny_config, tiny_dataset)
    result = train("nanodet-plus-m_320", overrides, project=tmp_path, name="budget")
    assert (result.stop_reason, result.epochs_completed, result.steps) == ("completed", 3, 6)
    rows = result.history
    assert ["mAP" in row for row in rows] == [False, False, True]
    schedule = LRSchedule(1e-3, 3, eta_min=5e-5)
    assert rows[2]["lr"] == pytest.approx(schedule.cosine(2))  # the cosine ends at epoch 3
    checkpoint = load_checkpoint(result.last_checkpoint)
    assert checkpoint["total_epochs"] == 3 and checkpoint["config"]["train"]["epochs"] == 6


@pytest.mark.slow
def test_time_budget_run_resumes_exactly(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    overrides = _budget_run(monkeypatch, tiny_config, tiny_dataset)
    straight = train("nanodet-plus-m_320", overrides, project=tmp_path, name="straight")
    with monkeypatch.context() as patch:
        _signal_at_step(patch, 3)  # in the middle of epoch 2, after the count became 3
        first = train("nanodet-plus-m_320", overrides, project=tmp_path, name="cut")
    assert first.stop_reason == "interrupted"
    assert load_checkpoint(first.last_checkpoint)["total_epochs"] == 3
    resumed = train(None, resume=first.last_checkpoint)
    assert (resumed.epochs_completed, resumed.steps) == (3, 6)
    a, b = load_checkpoint(straight.last_checkpoint), load_checkpoint(resumed.last_checkpoint)
    for key, value in _tensors(a["model"]).items():
        assert torch.equal(value, _tensors(b["model"])[key]), key


def test_bf16_autocast_training_on_cpu(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path,
) -> None:
    overrides = [*tiny_config(*tiny_dataset, epochs=1), "train.precision=bf16"]
    result = train("nanodet-plus-m_320", overrides, project=tmp_path, name="bf16")
    assert (result.stop_reason, result.steps) == ("completed", 2)
    weights = load_checkpoint(result.last_checkpoint)["model"]
    assert all(v.dtype != torch.bfloat16 for v in weights.values())  # fp32 master weights
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    assert result.history[0]["loss"] > 0


def test_negative_time_budget_is_a_config_error(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path,
) -> None:
    from nanodet_plus.errors import ConfigError

    overrides = [*tiny_config(*tiny_dataset, epochs=1), "train.time_budget_s=-5"]
    expected = r"train\.time_budget_s -5\.0 is out of range: it must be >= 0"
    with pytest.raises(ConfigError, match=expected):
        train("nanodet-plus-m_320", overrides, project=tmp_path, name="neg")


def test_a_model_and_in_memory_datasets_can_be_given(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path,
) -> None:
    from nanodet_plus.config import load_config
    from nanodet_plus.data.datasets import load_coco
    from nanodet_plus.models.factory import build_model

    images, ann = tiny_dataset
    records = load_coco(images, ann)
    overrides = [item for item in tiny_config(images, ann, epochs=1)
                 if not item.startswith(("data.train=", "data.val="))]
    model_config = load_config("nanodet-plus-m_320", overrides).model
    model = build_model(dataclasses.replace(model_config, aux_head=None))
    result = train("nanodet-plus-m_320", overrides, model=model,
                   train_set=records, val_set=records, project=tmp_path, name="api")
    assert (result.stop_reason, result.steps, result.epochs_completed) == ("completed", 2, 1)
    saved = load_checkpoint(result.last_checkpoint)
    assert saved["config"]["model"]["aux_head"] is None  # the given model's own config
    assert torch.equal(saved["model"]["head.gfl_cls.0.bias"], model.head.gfl_cls[0].bias)
    assert result.best_metric is not None

    three_classes = build_model(dataclasses.replace(model_config, num_classes=3, aux_head=None))
    with pytest.raises(UsageError, match="the model given has 3 classes but the data has 2"):
        train("nanodet-plus-m_320", overrides, model=three_classes, train_set=records,
              project=tmp_path, name="bad")


@pytest.mark.slow
def test_agm_guides_for_its_share_of_epochs_then_freezes_and_resumes_exactly(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    overrides = [*tiny_config(*tiny_dataset, epochs=2), "train.val_interval=2",
                 "model.aux_head.guide_share=0.5", "train.save_period=1"]
    straight = train("nanodet-plus-m_320", overrides, project=tmp_path, name="straight")
    first_epoch = load_checkpoint(straight.run_dir / "epoch_1.ckpt")
    last = load_checkpoint(straight.last_checkpoint)
    assert (first_epoch["agm_stopped_epoch"], last["agm_stopped_epoch"]) == (None, 1)
    aux_keys = [k for k in last["model"] if k.startswith(("aux_fpn.", "aux_head."))]
    assert aux_keys
    for key in aux_keys:  # epoch 2 ran without the AGM: its weights stayed as epoch 1 left them
        assert torch.equal(first_epoch["model"][key], last["model"][key]), key
    assert not torch.equal(first_epoch["model"]["head.gfl_cls.0.weight"],
                           last["model"]["head.gfl_cls.0.weight"])
    assert "aux_loss_qfl" in last["history"][0] and "aux_loss_qfl" not in last["history"][1]

    _signal_at_step(monkeypatch, 3)  # the middle of epoch 2, after the AGM stopped
    first = train("nanodet-plus-m_320", overrides, project=tmp_path, name="stopped")
    monkeypatch.undo()
    resumed = train(None, resume=first.last_checkpoint)
    again = load_checkpoint(resumed.last_checkpoint)
    assert again["agm_stopped_epoch"] == 1
    for part in ("model", "ema", "optimizer"):
        flat_a, flat_b = _tensors(last[part]), _tensors(again[part])
        assert flat_a.keys() == flat_b.keys()
        for key, value in flat_a.items():
            assert torch.equal(value, flat_b[key]), f"{part}: {key} differs after resume"


def test_the_ema_ramp_comes_from_the_config(tiny_dataset: Dataset, tiny_config: Overrides,
                                            tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []
    original = ModelEMA.__init__

    def init(self: ModelEMA, model: torch.nn.Module, decay: float = 0.9998,
             ramp: float = 2000.0) -> None:
        seen.append((decay, ramp))
        original(self, model, decay, ramp)

    monkeypatch.setattr(ModelEMA, "__init__", init)
    overrides = [*tiny_config(*tiny_dataset, epochs=1), "train.ema_ramp=123",
                 "train.ema_decay=0.999"]
    train("nanodet-plus-m_320", overrides, project=tmp_path, name="ramp")
    assert seen == [(0.999, 123.0)]
