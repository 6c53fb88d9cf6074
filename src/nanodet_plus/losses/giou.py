"""Generalized IoU loss (Rezatofighi et al. 2019) for aligned pairs of xyxy boxes."""

from __future__ import annotations

import torch

from nanodet_plus.losses._reduce import weight_reduce


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area ``[M]`` of xyxy boxes ``[M, 4]`` (negative for inverted boxes, as the official)."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


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
    top_left = torch.maximum(pred_boxes[:, :2], target_boxes[:, :2])
    bottom_right = torch.minimum(pred_boxes[:, 2:], target_boxes[:, 2:])
    overlap_wh = (bottom_right - top_left).clamp(min=0)
    overlap = overlap_wh[:, 0] * overlap_wh[:, 1]
    union = (box_area(pred_boxes) + box_area(target_boxes) - overlap).clamp(min=eps)
    iou = overlap / union
    enclose_wh = (
        torch.maximum(pred_boxes[:, 2:], target_boxes[:, 2:])
        - torch.minimum(pred_boxes[:, :2], target_boxes[:, :2])
    ).clamp(min=0)
    enclose = (enclose_wh[:, 0] * enclose_wh[:, 1]).clamp(min=eps)
    giou = iou - (enclose - union) / enclose
    return weight_reduce(1.0 - giou, weight, avg_factor, reduction)
