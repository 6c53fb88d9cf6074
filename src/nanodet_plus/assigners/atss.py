"""ATSS assignment (Zhang et al. 2020), the assigner of the original NanoDet before DSLA.

Kept for the article's ablation (NanoDet -> + DSLA -> + DSLA + AGM): it picks positives from
geometry alone, so it needs no predictions. Per ground truth and per level, the ``topk``
priors nearest to its centre are candidates; those whose anchor box (``anchor_scale`` x
stride, centred on the prior) overlaps the GT by at least the mean + standard deviation of the
candidates' IoUs, and whose point lies inside the GT, are positives. A prior claimed by
several GTs goes to the one it overlaps most.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nanodet_plus.assigners.base import (
    UNION_EPS,
    Assignment,
    negative_assignment,
    pad_ground_truth,
)
from nanodet_plus.ops.boxes import aligned_box_iou, box_iou


class ATSSAssigner:
    """Adaptive Training Sample Selection on centre priors; see the module docstring."""

    def __init__(self, topk: int = 9, anchor_scale: float = 5.0) -> None:
        self.topk = topk
        self.anchor_scale = anchor_scale

    @torch.no_grad()
    def assign(
        self,
        cls_logits: torch.Tensor,
        priors: torch.Tensor,
        decoded_boxes: torch.Tensor,
        gt_boxes: Sequence[torch.Tensor],
        gt_labels: Sequence[torch.Tensor],
    ) -> Assignment:
        """Same interface as :class:`DynamicSoftLabelAssigner` (``cls_logits`` is unused);
        ``iou`` holds the IoU of each positive's decoded box with its GT, the QFL target."""
        batch, num_priors = decoded_boxes.shape[:2]
        boxes, _, valid = pad_ground_truth(
            gt_boxes, gt_labels, dtype=decoded_boxes.dtype, device=decoded_boxes.device
        )
        assignment = negative_assignment(decoded_boxes)
        gt_index, iou = assignment.gt_index, assignment.iou
        if boxes.shape[1] == 0 or num_priors == 0:
            return assignment
        points, strides = priors[:, :2], priors[:, 2]
        half = strides[:, None] * self.anchor_scale / 2
        anchors = torch.cat([points - half, points + half], dim=1).to(decoded_boxes.dtype)
        anchor_iou = box_iou(anchors.expand(batch, -1, -1), boxes, eps=UNION_EPS)  # [B, N, G]
        gt_centres = (boxes[..., :2] + boxes[..., 2:]) / 2
        distance = torch.cdist(points[None].to(boxes.dtype).expand(batch, -1, -1), gt_centres)
        candidate = torch.zeros_like(anchor_iou, dtype=torch.bool)
        for stride in torch.unique(strides):
            level = torch.nonzero(strides == stride).flatten()
            k = min(self.topk, level.numel())
            nearest = distance[:, level].topk(k, dim=1, largest=False).indices  # [B, k, G]
            candidate.scatter_(1, level[nearest], True)
        candidate_iou = torch.where(candidate, anchor_iou, torch.nan)
        threshold = (torch.nanmean(candidate_iou, dim=1)
                     + _nanstd(candidate_iou, dim=1))  # [B, G]
        inside = ((points[None, :, None, :] > boxes[:, None, :, :2])
                  & (points[None, :, None, :] < boxes[:, None, :, 2:])).all(dim=-1)
        positive = (candidate & inside & (anchor_iou >= threshold[:, None, :])
                    & valid[:, None, :])
        overlap = torch.where(positive, anchor_iou, -1.0)
        best_overlap, best_gt = overlap.max(dim=2)
        assigned = best_overlap >= 0
        gt_index[assigned] = best_gt[assigned]
        image, prior = torch.nonzero(assigned, as_tuple=True)
        iou[image, prior] = aligned_box_iou(decoded_boxes[image, prior],
                                            boxes[image, gt_index[image, prior]], eps=UNION_EPS)
        return assignment


def _nanstd(values: torch.Tensor, dim: int) -> torch.Tensor:
    """Sample standard deviation ignoring NaNs (``torch.std``'s default, as in mmdet's ATSS)."""
    count = (~values.isnan()).sum(dim=dim).clamp(min=2)
    mean = torch.nanmean(values, dim=dim, keepdim=True)
    squares = torch.nansum((values - mean) ** 2, dim=dim)
    return (squares / (count - 1)).sqrt()
