"""PyTorch backend: runs a NanoDet-Plus ``nn.Module`` or checkpoint file under inference mode."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nanodet_plus.config.schema import Config
from nanodet_plus.errors import UsageError
from nanodet_plus.model_meta import ModelMeta
from nanodet_plus.runtime.base import with_default_class_names

logger = logging.getLogger(__name__)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"``/None -> cuda if available else cpu; a clear error when cuda is missing."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} requested but CUDA is not available")
    return resolved


def _head_of(model: nn.Module) -> nn.Module:
    head = getattr(model, "head", None)
    if head is None or not hasattr(head, "num_classes"):
        raise UsageError(f"{type(model).__name__} has no NanoDet-Plus head (model.head)")
    return head


def meta_from_model(model: nn.Module, config: Config | None = None) -> ModelMeta:
    """ModelMeta of a PyTorch model: head geometry and loaded ``project``, data settings of
    ``config`` (input size, normalisation, class names) when given."""
    head = _head_of(model)
    project = getattr(getattr(head, "distribution_project", None), "project", None)
    meta = ModelMeta(
        num_classes=int(head.num_classes),
        strides=tuple(int(s) for s in head.strides),
        reg_max=int(head.reg_max),
        project=None if project is None else project.detach().float().cpu().tolist(),
    )
    if isinstance(config, Config):
        meta.input_size = tuple(config.data.input_size)
        meta.keep_ratio = bool(config.data.keep_ratio)
        meta.mean = tuple(config.data.mean)
        meta.std = tuple(config.data.std)
        meta.class_names = list(config.class_names) if config.class_names else None
    return with_default_class_names(meta)


class TorchBackend:
    """Runs an eval-mode copy of backbone -> fpn -> head; raw logits out (no sigmoid).

    ``fuse=True`` folds BatchNorm into the convolutions (same outputs within float rounding,
    fewer ops); ``channels_last=True`` runs it in NHWC memory, which oneDNN's depthwise and 1x1
    kernels and the max-pool prefer on CPU. The given model itself is never switched to eval
    mode or modified.
    """

    name = "torch"

    def __init__(
        self,
        model: nn.Module,
        *,
        device: str | torch.device | None = "cpu",
        fuse: bool = False,
        channels_last: bool = False,
        config: Config | None = None,
        meta: ModelMeta | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.meta = meta if meta is not None else meta_from_model(model, config)
        if hasattr(model, "inference_model"):
            graph = model.inference_model(sigmoid_scores=False, fuse=fuse,
                                          channels_last=channels_last)
        elif fuse:
            from nanodet_plus.models.fuse import fuse_conv_bn

            graph = fuse_conv_bn(model)
        else:
            import copy

            graph = copy.deepcopy(model).eval()
        self.model = graph.to(self.device).eval()

    def infer_tensor(self, batch: np.ndarray | torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]`` float32 -> raw ``[B, N, C + 4(R + 1)]`` on the backend's device."""
        images = torch.as_tensor(batch, dtype=torch.float32)
        with torch.inference_mode():
            return self.model(images.to(self.device, non_blocking=True))

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """The Backend protocol: numpy in, numpy out."""
        return self.infer_tensor(batch).float().cpu().numpy()


def create_backend(
    path: str | Path,
    *,
    config: str | Path | Config | dict | None = None,
    device: str | torch.device | None = "cpu",
    fuse: bool = False,
    channels_last: bool = False,
    **_ignored: Any,
) -> TorchBackend:
    """Open a ``.pth``/``.ckpt``/``.pt`` checkpoint (official weight or Lightning file, or ours)
    with the shared loader: the architecture is ``config`` (preset name, YAML, dict or Config)
    if given, else the checkpoint's stored config, else inferred from its weights."""
    from nanodet_plus.models.loading import load_model

    loaded = load_model(path, config)
    return TorchBackend(loaded.model, device=device, fuse=fuse, channels_last=channels_last,
                        config=loaded.config)
