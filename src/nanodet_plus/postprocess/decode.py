"""Raw head output -> per-point class scores and boxes in network-input pixels (spec §8.1-8.2)."""

from __future__ import annotations

import numpy as np
import torch

from nanodet_plus.ops.boxes import distance2bbox, integral
from nanodet_plus.ops.priors import center_priors, num_points
from nanodet_plus.runtime.base import ModelMeta


def as_tensor(raw: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The raw output as a float32 torch tensor, sharing memory with numpy input when possible."""
    if isinstance(raw, torch.Tensor):
        return raw.detach().float()
    return torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float32))


def project_vector(meta: ModelMeta, device: torch.device | str = "cpu") -> torch.Tensor:
    """Integral weights: the model's loaded ``project`` buffer, else ``0..reg_max``."""
    if meta.project is not None:
        return torch.as_tensor(meta.project, dtype=torch.float32, device=device)
    return torch.arange(meta.reg_max + 1, dtype=torch.float32, device=device)


def decode(
    raw: np.ndarray | torch.Tensor, meta: ModelMeta, input_hw: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``[B, N, C]`` in [0, 1] and boxes ``[B, N, 4]`` xyxy clamped to the input tensor.

    ``raw`` is ``[B, N, C + 4 * (R + 1)]``; ``input_hw`` is the (padded) input tensor's
    ``(H, W)``, which fixes the priors. Class channels get a sigmoid unless
    ``meta.scores_are_sigmoid`` says the graph already applied it.
    """
    preds = as_tensor(raw)
    if preds.dim() == 2:
        preds = preds[None]
    bins = meta.reg_max + 1
    expected_channels = meta.num_classes + 4 * bins
    expected_points = num_points(input_hw, meta.strides)
    if preds.dim() != 3 or preds.shape[2] != expected_channels or preds.shape[1] != expected_points:
        raise ValueError(
            f"raw output has shape {tuple(preds.shape)}, expected [B, {expected_points}, "
            f"{expected_channels}] for input (H, W) = {tuple(input_hw)} with "
            f"{meta.num_classes} classes and reg_max {meta.reg_max}"
        )
    class_part, box_part = preds.split([meta.num_classes, 4 * bins], dim=-1)
    scores = class_part if meta.scores_are_sigmoid else class_part.sigmoid()
    priors = center_priors(input_hw, meta.strides, device=preds.device)
    distances = integral(box_part, project_vector(meta, preds.device)) * priors[:, 2:3]
    boxes = distance2bbox(priors[:, :2], distances, max_hw=tuple(input_hw))
    return scores, boxes
