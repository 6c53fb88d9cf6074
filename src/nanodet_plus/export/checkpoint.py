"""Read a NanoDet-Plus checkpoint for export: check that it is one, find its config and class
count, and build the inference model with its weights."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from nanodet_plus.config.loader import load_config
from nanodet_plus.config.schema import Config
from nanodet_plus.export.errors import ExportError

LOGGER = logging.getLogger(__name__)

_PREFIXES = ("avg_model.", "module.", "model.")
_HEAD_KEY = "head.gfl_cls.0.weight"


def _state_dicts(checkpoint: Any) -> list[dict]:
    """Candidate state dicts of any known checkpoint layout (weight file, Lightning, ours)."""
    if not isinstance(checkpoint, dict):
        return []
    found = [checkpoint]
    for key in ("state_dict", "ema", "model"):
        value = checkpoint.get(key)
        if isinstance(value, dict):
            found.append(value)
    return found


def _find_head_weight(checkpoint: Any) -> torch.Tensor | None:
    for state in _state_dicts(checkpoint):
        for key, value in state.items():
            if not isinstance(key, str) or not isinstance(value, torch.Tensor):
                continue
            stripped = key
            for prefix in _PREFIXES:
                if stripped.startswith(prefix):
                    stripped = stripped[len(prefix) :]
            if stripped == _HEAD_KEY:
                return value
    return None


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict, or :class:`ExportError` if it is not a NanoDet-Plus checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ExportError(
            f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}); "
            "pass a .pth/.ckpt written by nanodet train or an official NanoDet-Plus release"
        ) from None
    if _find_head_weight(checkpoint) is None:
        raise ExportError(
            f"{path}: not a NanoDet-Plus checkpoint (no '{_HEAD_KEY}' weights); "
            "pass a .pth/.ckpt written by nanodet train or an official NanoDet-Plus release"
        )
    return checkpoint


def config_for_checkpoint(checkpoint: dict, config: Any = None) -> Config:
    """``config`` if given, else the config stored in the checkpoint, else a matching preset;
    the class count is taken from the head weights either way."""
    head = _find_head_weight(checkpoint)
    if config is not None:
        cfg = load_config(config)
    elif isinstance(checkpoint.get("config"), dict):
        cfg = load_config(checkpoint["config"])
    else:
        width = "-1.5x" if head is not None and head.shape[1] == 128 else ""
        preset = f"nanodet-plus-m{width}_416"
        LOGGER.info("no config given or stored in the checkpoint; using preset %s", preset)
        cfg = load_config(preset)
    channels = int(head.shape[0]) if head is not None else 0
    num_classes = channels - 4 * (cfg.model.head.reg_max + 1)
    if num_classes < 1:
        raise ExportError(
            f"the checkpoint's head has {channels} output channels, too few for reg_max "
            f"{cfg.model.head.reg_max}; pass the training config with --config"
        )
    if num_classes != cfg.model.num_classes:
        cfg.model.num_classes = num_classes
        if cfg.class_names and len(cfg.class_names) != num_classes:
            cfg.class_names = None
    return cfg


def load_model(path: str | Path, config: Any = None) -> tuple[torch.nn.Module, Config]:
    """The eval-mode NanoDet-Plus (without the training-only AGM) and its config."""
    from nanodet_plus.models.factory import build_model
    from nanodet_plus.models.weights import load_weights

    checkpoint = read_checkpoint(path)
    cfg = config_for_checkpoint(checkpoint, config)
    cfg.model.backbone.pretrained = None
    model = build_model(cfg.model, aux=False)
    try:
        load_weights(model, path)
    except Exception as exc:
        raise ExportError(f"{path}: cannot load into {cfg.preset or 'the config'}: {exc}") from None
    return model.eval(), cfg
