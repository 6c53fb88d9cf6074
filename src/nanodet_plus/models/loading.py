"""One way from a checkpoint file to a ready NanoDet-Plus model, shared by every command.

The file is read once. The architecture follows one rule: the config given by the caller,
else the config our trainer stored in the checkpoint, else one inferred from the tensor shapes
(official files carry none). The class count always comes from the head weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from nanodet_plus.config.loader import load_config
from nanodet_plus.config.schema import Config
from nanodet_plus.errors import CheckpointError
from nanodet_plus.models.detector import NanoDetPlus
from nanodet_plus.models.factory import build_model
from nanodet_plus.models.official_weights import resolve_weights
from nanodet_plus.models.weights import (
    LoadReport,
    apply_state_dict,
    extract_state_dict,
    infer_model_config,
    read_checkpoint,
)

logger = logging.getLogger(__name__)

HEAD_KEY = "head.gfl_cls.0.weight"
CHECKPOINT_HINT = "pass a .pth/.ckpt written by nanodet train or an official NanoDet-Plus release"
CONFIG_ORIGINS = {
    "given": "the given config",
    "checkpoint": "the config stored in the checkpoint",
    "inferred": "the tensor shapes",
}


@dataclass
class LoadedModel:
    """A model built from a checkpoint: the eval-mode network, its resolved config, what the
    weight loading did, and where the architecture came from (a key of ``CONFIG_ORIGINS``)."""

    model: NanoDetPlus
    config: Config
    report: LoadReport
    config_origin: str


def load_model(
    path: str | Path,
    config: str | Path | dict | Config | None = None,
    *,
    aux: bool | None = False,
) -> LoadedModel:
    """Build the eval-mode model of the checkpoint at ``path`` and load its weights (EMA first).

    ``path`` may also name an official checkpoint (``nanodet-plus-m_416``): its local copy is
    used, downloaded when absent, and its preset is the config unless ``config`` is given.
    ``config`` (preset name, YAML path, dict or Config) fixes the architecture when given.
    ``aux=False`` leaves out the training-only AGM, ``None`` keeps it when the config has one,
    ``True`` requires it. A missing file raises :class:`FileMissingError`, any other failure a
    :class:`CheckpointError`; both name the file.
    """
    path, config = resolve_weights(path, config)
    checkpoint = read_checkpoint(path)
    state, layout, used_ema = nanodet_state_dict(checkpoint, path)
    resolved, origin = resolve_config(checkpoint, state, path, config)
    if aux is True and resolved.model.aux_head is None:
        raise CheckpointError(
            f"{path}: the model of {CONFIG_ORIGINS[origin]} has no AGM (aux_head)"
        )
    model = build_model(resolved.model, aux=aux)
    hint = (f" The architecture came from {CONFIG_ORIGINS[origin]}; pass the config the "
            "weights were trained with.")
    report = apply_state_dict(model, state, source=str(path), layout=layout, used_ema=used_ema,
                              mismatch_hint=hint)
    return LoadedModel(model.eval(), resolved, report, origin)


def nanodet_state_dict(
    checkpoint: dict, path: Path
) -> tuple[dict[str, torch.Tensor], str, bool]:
    """``(state dict, layout, used_ema)`` of a checkpoint that holds NanoDet-Plus head weights;
    any other file is refused as not a NanoDet-Plus checkpoint."""
    try:
        state, layout, used_ema = extract_state_dict(checkpoint, source=str(path))
    except CheckpointError:
        state, layout, used_ema = {}, "", False
    if HEAD_KEY not in state:
        raise CheckpointError(
            f"{path}: not a NanoDet-Plus checkpoint (no '{HEAD_KEY}' weights); {CHECKPOINT_HINT}"
        )
    return state, layout, used_ema


def resolve_config(
    checkpoint: dict,
    state: dict[str, torch.Tensor],
    path: Path,
    config: str | Path | dict | Config | None = None,
) -> tuple[Config, str]:
    """``(config, origin)``: the given config, else the stored one, else one inferred from
    ``state``; its class count set from the head weights, no ImageNet download."""
    if config is not None:
        resolved, origin = load_config(config), "given"
    elif isinstance(checkpoint.get("config"), (dict, Config)):
        resolved, origin = load_config(checkpoint["config"]), "checkpoint"
    else:
        resolved, origin = Config(model=infer_model_config(state, str(path))), "inferred"
        logger.info("%s holds no config; inferred from its tensor shapes: %s (input size and "
                    "normalisation are the defaults)", path, describe_architecture(resolved))
    resolved.model.backbone.pretrained = None
    fit_class_count(resolved, state[HEAD_KEY], path)
    return resolved, origin


def fit_class_count(config: Config, head_weight: torch.Tensor, path: Path) -> None:
    """Set ``config``'s class count from the head's output channels (dropping class names that
    no longer fit); a head too small for the config's ``reg_max`` is refused."""
    channels = int(head_weight.shape[0])
    reg_max = config.model.head.reg_max
    num_classes = channels - 4 * (reg_max + 1)
    if num_classes < 1:
        raise CheckpointError(
            f"{path}: the head has {channels} output channels, too few for reg_max {reg_max}; "
            "pass the config the weights were trained with"
        )
    if num_classes == config.model.num_classes:
        return
    dropped = bool(config.class_names) and len(config.class_names) != num_classes
    logger.info("%s: the head weights hold %d classes, the config %d; using %d%s", path,
                num_classes, config.model.num_classes, num_classes,
                " and dropping the config's class names" if dropped else "")
    config.model.num_classes = num_classes
    if dropped:
        config.class_names = None


def describe_architecture(config: Config) -> str:
    """One line naming backbone, neck, head and input of ``config``, for logs."""
    model = config.model
    width, height = config.data.input_size
    return (f"ShuffleNetV2 {model.backbone.model_size}, Ghost-PAN {model.neck.out_channels}, "
            f"{model.num_classes} classes, reg_max {model.head.reg_max}, "
            f"{'with' if model.aux_head is not None else 'no'} AGM, input {width}x{height}")

