"""Generalized IoU loss (Rezatofighi et al. 2019) for aligned pairs of xyxy boxes."""

from __future__ import annotations

import torch

from nanodet_plus.losses._reduce import weight_reduce
from nanodet_plus.ops.boxes import aligned_box_giou


def giou_loss(
    pred_boxes: torch.Tensor,
    target_boxes: torch.Tensor,
    weight: torch.Tensor | None = None,
    avg_factor: float | torch.Tensor | None = None,
    reduction: str = "mean",
    eps: float = 1e-6,
) -> torch.Tensor:
    """``1 - GIoU`` of predicted ``[M, 4]`` and target ``[M, 4]`` xyxy boxes, row by row.

    Union and enclosing area are clamped to at least ``eps`` so degenerate boxes stay finite.
    When ``weight`` is given and no weight is positive, returns a zero that keeps the graph.
    """
    if weight is not None and not bool((weight > 0).any()):
        return (pred_boxes * weight.unsqueeze(-1)).sum()
    giou = aligned_box_giou(pred_boxes, target_boxes, eps=eps)
    return weight_reduce(1.0 - giou, weight, avg_factor, reduction)
