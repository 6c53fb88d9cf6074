"""Checkpoints: atomic writes, weights-only loading, exact RNG restore, deploy files without aux."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nanodet_plus.engine.checkpoint import (
    load_checkpoint,
    save_checkpoint,
    save_weights,
    set_rng_state,
)
from nanodet_plus.errors import CheckpointError, FileMissingError


def test_checkpoint_round_trip_restores_rng(tmp_path: Path) -> None:
    model = nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "last.ckpt", model=model.state_dict(),
                           ema=model.state_dict(), optimizer=optimizer.state_dict(),
                           epoch=3, step=7, config={"train": {"epochs": 5}}, best_metric=0.25)
    expected = (random.random(), np.random.rand(), torch.rand(1))
    checkpoint = load_checkpoint(path)
    assert checkpoint["epoch"] == 3 and checkpoint["step"] == 7
    assert checkpoint["best_metric"] == 0.25
    set_rng_state(checkpoint["rng"])
    assert (random.random(), np.random.rand()) == expected[:2]
    assert torch.equal(torch.rand(1), expected[2])
    restored = torch.optim.AdamW(model.parameters())
    restored.load_state_dict(checkpoint["optimizer"])
    assert restored.state_dict()["state"][0]["step"] == 1
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_nan_weights_are_never_saved(tmp_path: Path) -> None:
    state = {"w": torch.tensor([1.0, float("nan")])}
    with pytest.raises(CheckpointError, match="'w' contains NaN"):
        save_checkpoint(tmp_path / "bad.ckpt", model=state, epoch=0)
    assert not any(tmp_path.iterdir())


def test_weight_file_is_not_a_training_checkpoint(tmp_path: Path) -> None:
    state = {"backbone.w": torch.ones(1), "aux_fpn.w": torch.ones(1), "aux_head.b": torch.ones(1)}
    path = save_weights(state, tmp_path / "model.pth")
    stored = torch.load(path, weights_only=True)
    assert list(stored["state_dict"]) == ["backbone.w"]
    with pytest.raises(CheckpointError, match="not a nanodet-plus training checkpoint"):
        load_checkpoint(path)
    with pytest.raises(FileMissingError, match="not found"):
        load_checkpoint(tmp_path / "missing.ckpt")
