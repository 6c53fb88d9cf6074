"""Raw head output -> per-point class scores and boxes in network-input pixels (spec §8.1-8.2)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from nanodet_plus.model_meta import ModelMeta
from nanodet_plus.ops.boxes import distance2bbox, integral
from nanodet_plus.ops.priors import center_priors, num_points


def as_tensor(raw: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The raw output as a float32 torch tensor, sharing memory with numpy input when possible."""
    if isinstance(raw, torch.Tensor):
        return raw.detach().float()
    return torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float32))


def project_vector(meta: ModelMeta, device: torch.device | str = "cpu") -> torch.Tensor:
    """Integral weights: the model's loaded ``project`` buffer, else ``0..reg_max``."""
    return torch.tensor(project_weights(meta), device=device)


def project_weights(meta: ModelMeta) -> np.ndarray:
    """:func:`project_vector` as a read-only float32 numpy array, computed once per model."""
    return _project_weights(None if meta.project is None else tuple(meta.project), meta.reg_max)


@lru_cache(maxsize=32)
def _project_weights(project: tuple[float, ...] | None, reg_max: int) -> np.ndarray:
    weights = np.asarray(project if project is not None else range(reg_max + 1), np.float32)
    weights.flags.writeable = False
    return weights


@lru_cache(maxsize=32)
def cached_priors(
    input_hw: tuple[int, int], strides: tuple[int, ...], device: str
) -> torch.Tensor:
    """:func:`center_priors`, computed once per input size (read-only; do not modify)."""
    return center_priors(input_hw, strides, device=device)


def checked_preds(
    raw: np.ndarray | torch.Tensor, meta: ModelMeta, input_hw: tuple[int, int]
) -> torch.Tensor:
    """``raw`` as a ``[B, N, C + 4(R + 1)]`` tensor; a clear error when its shape does not fit."""
    preds = as_tensor(raw)
    if preds.dim() == 2:
        preds = preds[None]
    check_shape(tuple(preds.shape), meta, input_hw)
    return preds


def check_shape(shape: tuple[int, ...], meta: ModelMeta, input_hw: tuple[int, int]) -> None:
    """A clear error unless ``shape`` is ``[B, N, C + 4(R + 1)]`` for this model and input."""
    expected_channels = meta.num_classes + 4 * (meta.reg_max + 1)
    expected_points = num_points(input_hw, meta.strides)
    if len(shape) != 3 or shape[2] != expected_channels or shape[1] != expected_points:
        raise ValueError(
            f"raw output has shape {shape}, expected [B, {expected_points}, "
            f"{expected_channels}] for input (H, W) = {tuple(input_hw)} with "
            f"{meta.num_classes} classes and reg_max {meta.reg_max}"
        )


def class_scores(preds: torch.Tensor, meta: ModelMeta) -> torch.Tensor:
    """``[..., C]`` probabilities: sigmoid of the class logits unless the graph applied it."""
    logits = preds[..., : meta.num_classes]
    return logits if meta.scores_are_sigmoid else logits.sigmoid()


def decode_boxes(
    box_logits: torch.Tensor,
    priors: torch.Tensor,
    meta: ModelMeta,
    input_hw: tuple[int, int],
) -> torch.Tensor:
    """xyxy boxes ``[..., 4]`` from box logits ``[..., 4(R + 1)]`` and their priors ``[..., 4]``,
    clamped to the input tensor (x to [0, W], y to [0, H])."""
    distances = integral(box_logits, project_vector(meta, box_logits.device)) * priors[..., 2:3]
    return distance2bbox(priors[..., :2], distances, max_hw=tuple(input_hw))


def decode(
    raw: np.ndarray | torch.Tensor, meta: ModelMeta, input_hw: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores ``[B, N, C]`` in [0, 1] and boxes ``[B, N, 4]`` xyxy clamped to the input tensor.

    ``raw`` is ``[B, N, C + 4 * (R + 1)]``; ``input_hw`` is the (padded) input tensor's
    ``(H, W)``, which fixes the priors. Class channels get a sigmoid unless
    ``meta.scores_are_sigmoid`` says the graph already applied it.
    """
    preds = checked_preds(raw, meta, input_hw)
    priors = cached_priors(tuple(input_hw), tuple(meta.strides), str(preds.device))
    boxes = decode_boxes(preds[..., meta.num_classes :], priors, meta, input_hw)
    return class_scores(preds, meta), boxes
