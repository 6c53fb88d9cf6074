"""Training targets of every prior, built from a DSLA assignment (reference-spec §9)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from nanodet_plus.assigners.base import Assignment, pad_ground_truth
from nanodet_plus.ops.boxes import bbox2distance


@dataclass
class AssignTargets:
    """Per-image targets stacked over the batch (row ``b`` is image ``b``)."""

    labels: torch.Tensor  # [B, N] int64: GT class for positives, num_classes for background
    label_scores: torch.Tensor  # [B, N]: matched IoU (the QFL quality target), 0 for negatives
    label_weights: torch.Tensor  # [B, N]: 1 everywhere (no prior is ignored in NanoDet-Plus)
    bbox_targets: torch.Tensor  # [B, N, 4]: assigned GT box xyxy for positives, 0 otherwise
    dist_targets: torch.Tensor  # [B, N, 4]: (l, t, r, b) / stride, clamped to [0, R - 0.1]
    num_pos: torch.Tensor  # [B] int64: positives per image
    num_classes: int  # the background label value

    @property
    def positive(self) -> torch.Tensor:
        """``[B, N]`` bool mask of positive priors."""
        return self.labels < self.num_classes


def build_targets(
    assignment: Assignment,
    priors: torch.Tensor,
    gt_boxes: Sequence[torch.Tensor],
    gt_labels: Sequence[torch.Tensor],
    num_classes: int,
    reg_max: int,
) -> AssignTargets:
    """Labels, quality scores, box and distance targets of all ``N`` priors of ``B`` images."""
    batch, num_priors = assignment.gt_index.shape
    boxes, labels, _ = pad_ground_truth(
        gt_boxes, gt_labels, dtype=priors.dtype, device=priors.device
    )
    positive = assignment.positive
    gt_index = assignment.gt_index.clamp(min=0)
    target_labels = torch.full(
        (batch, num_priors), num_classes, dtype=torch.int64, device=priors.device
    )
    bbox_targets = priors.new_zeros(batch, num_priors, 4)
    dist_targets = priors.new_zeros(batch, num_priors, 4)
    if boxes.shape[1] > 0:
        assigned_boxes = boxes.gather(1, gt_index[..., None].expand(-1, -1, 4))
        assigned_labels = labels.gather(1, gt_index)
        target_labels = torch.where(positive, assigned_labels, target_labels)
        bbox_targets = torch.where(positive[..., None], assigned_boxes, bbox_targets)
        distances = bbox2distance(priors[None, :, :2], assigned_boxes) / priors[None, :, 2, None]
        dist_targets = torch.where(positive[..., None], distances, dist_targets)
    return AssignTargets(
        labels=target_labels,
        label_scores=torch.where(positive, assignment.iou, torch.zeros_like(assignment.iou)),
        label_weights=priors.new_ones(batch, num_priors),
        bbox_targets=bbox_targets,
        dist_targets=dist_targets.clamp(min=0, max=reg_max - 0.1),
        num_pos=positive.sum(dim=1),
        num_classes=num_classes,
    )
