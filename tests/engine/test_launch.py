"""``train_local_processes`` / ``nanodet train --nproc``: N local gloo processes, one result."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from nanodet_plus.engine.checkpoint import load_checkpoint
from nanodet_plus.engine.launch import threads_per_process, train_local_processes
from nanodet_plus.errors import TrainingError

Dataset = tuple[Path, Path]
Overrides = Callable[..., list[str]]


@pytest.mark.slow
def test_two_local_processes_train_one_run(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path,
) -> None:
    # 8 images, batch 2 per process: 2 steps per epoch on each rank (one process would take 4).
    overrides = [*tiny_config(*tiny_dataset, epochs=2), "train.batch_size=2"]
    result = train_local_processes(2, config="nanodet-plus-m_320", overrides=overrides,
                                   project=tmp_path, name="ddp")
    assert (result.stop_reason, result.epochs_completed, result.steps) == ("completed", 2, 4)
    assert result.run_dir == tmp_path / "ddp"
    assert result.best_path.is_file() and result.best_metric is not None
    rows = list(csv.DictReader((result.run_dir / "metrics.csv").open()))
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    checkpoint = load_checkpoint(result.last_checkpoint)
    assert checkpoint["step"] == 4
    weights = checkpoint["model"]
    assert all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    assert not any(path.name.startswith("ddp2") for path in tmp_path.iterdir())


@pytest.mark.slow
def test_time_budget_stops_every_process_at_the_same_epoch(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path,
) -> None:
    # The budget is spent by the first epoch: rank 0's count (1) reaches every rank, so all
    # of them validate, save and stop after epoch 1 instead of running 3 (a mismatch hangs).
    overrides = [*tiny_config(*tiny_dataset, epochs=3), "train.batch_size=2",
                 "train.val_interval=0", "train.time_budget_s=0.001"]
    result = train_local_processes(2, config="nanodet-plus-m_320", overrides=overrides,
                                   project=tmp_path, name="budget")
    assert (result.stop_reason, result.epochs_completed, result.steps) == ("completed", 1, 2)
    rows = list(csv.DictReader((result.run_dir / "metrics.csv").open()))
    assert len(rows) == 1 and rows[0]["mAP"] != ""
    assert load_checkpoint(result.last_checkpoint)["total_epochs"] == 1


@pytest.mark.slow
def test_a_failing_process_raises_with_its_error(
    tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path,
) -> None:
    images, _ = tiny_dataset
    missing = tmp_path / "nowhere.json"
    overrides = tiny_config(images, missing, epochs=1)
    with pytest.raises(TrainingError, match=r"nowhere\.json"):
        train_local_processes(2, config="nanodet-plus-m_320", overrides=overrides,
                              project=tmp_path, name="bad")


def test_threads_are_shared_between_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert [threads_per_process(n) for n in (1, 2, 3, 16)] == [8, 4, 2, 1]


def test_refuses_to_nest_under_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(TrainingError, match="torchrun"):
        train_local_processes(2, config="nanodet-plus-m_320")
