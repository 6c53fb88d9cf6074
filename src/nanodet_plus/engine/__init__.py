"""Training engine: ``train(config, ...) -> TrainResult`` and its pieces (EMA, optimizer,
schedule, checkpoints). Names are imported on first use."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "train": "nanodet_plus.engine.trainer",
    "Trainer": "nanodet_plus.engine.trainer",
    "TrainResult": "nanodet_plus.engine.trainer",
    "TrainingError": "nanodet_plus.errors",
    "ModelEMA": "nanodet_plus.engine.ema",
    "LRSchedule": "nanodet_plus.engine.optim",
    "build_optimizer": "nanodet_plus.engine.optim",
    "load_checkpoint": "nanodet_plus.engine.checkpoint",
    "save_weights": "nanodet_plus.engine.checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nanodet_plus.engine' has no attribute '{name}'")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
