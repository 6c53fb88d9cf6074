"""Build a NanoDet-Plus model from a preset name, a YAML file, a Config or a ModelConfig."""

from __future__ import annotations

import copy
import dataclasses
import logging
from pathlib import Path
from typing import Any

from nanodet_plus.config.loader import load_config
from nanodet_plus.config.schema import Config, ModelConfig
from nanodet_plus.config.validation import validate_model
from nanodet_plus.errors import UsageError
from nanodet_plus.models.detector import NanoDetPlus

logger = logging.getLogger(__name__)


def resolve_model_config(
    source: str | Path | Config | ModelConfig | dict | None, num_classes: int | None = None
) -> ModelConfig:
    """The ModelConfig named by ``source`` (copied), with ``num_classes`` applied if given."""
    if isinstance(source, ModelConfig):
        model_config = copy.deepcopy(source)
    else:
        model_config = copy.deepcopy(load_config(source).model)
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int):
            raise UsageError(f"num_classes {num_classes!r} is a {type(num_classes).__name__}; "
                             "pass an integer, e.g. num_classes=80")
        model_config = dataclasses.replace(model_config, num_classes=num_classes)
    validate_model(model_config)
    return model_config


def build_model(
    source: str | Path | Config | ModelConfig | dict | None = "nanodet-plus-m_416",
    num_classes: int | None = None,
    *,
    aux: bool | None = None,
    pretrained: str | None = None,
) -> NanoDetPlus:
    """A freshly initialised :class:`NanoDetPlus`.

    ``source``: preset name, YAML path, dict, Config or ModelConfig. ``num_classes`` overrides
    the config. ``aux=False`` drops the training-only AGM. ``pretrained`` ("imagenet" or a
    path to torchvision ShuffleNetV2 weights) overrides ``backbone.pretrained``.
    """
    model_config = resolve_model_config(source, num_classes)
    if aux is False:
        model_config = dataclasses.replace(model_config, aux_head=None)
    elif aux is True and model_config.aux_head is None:
        raise UsageError("aux=True but the config has no aux_head section")
    if pretrained is not None:
        model_config.backbone = dataclasses.replace(model_config.backbone, pretrained=pretrained)
    model = NanoDetPlus(model_config)
    if model_config.backbone.pretrained:
        from nanodet_plus.models.weights import load_imagenet_backbone

        load_imagenet_backbone(model, model_config.backbone.pretrained)
    return model


def describe(model: NanoDetPlus) -> dict[str, Any]:
    """Parameter counts of the whole model and of its inference part."""
    total = sum(p.numel() for p in model.parameters())
    inference = sum(
        p.numel() for name, p in model.named_parameters() if not name.startswith("aux_")
    )
    return {"parameters": total, "inference_parameters": inference}
