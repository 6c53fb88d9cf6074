"""What every assigner shares: the result type, the interface the criterion calls, and the
padding of per-image ground truths into batch tensors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

# Smallest union of the assigners' IoUs (the official's bbox_overlaps eps).
UNION_EPS = 1e-6


@dataclass
class Assignment:
    """Result of assigning GTs to the ``N`` priors of ``B`` images."""

    gt_index: torch.Tensor  # [B, N] int64: index into the image's GTs, -1 for negatives
    iou: torch.Tensor  # [B, N] float: IoU of the positive's decoded box with its GT, 0 otherwise

    @property
    def positive(self) -> torch.Tensor:
        """``[B, N]`` bool mask of positive priors."""
        return self.gt_index >= 0


def pad_ground_truth(
    gt_boxes: Sequence[torch.Tensor],
    gt_labels: Sequence[torch.Tensor],
    *,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image GT lists -> boxes ``[B, G, 4]``, labels ``[B, G]`` and validity ``[B, G]``."""
    if len(gt_boxes) != len(gt_labels):
        raise ValueError(f"got {len(gt_boxes)} box tensors but {len(gt_labels)} label tensors")
    max_gts = max((len(boxes) for boxes in gt_boxes), default=0)
    batch = len(gt_boxes)
    boxes = torch.zeros(batch, max_gts, 4, dtype=dtype, device=device)
    labels = torch.zeros(batch, max_gts, dtype=torch.int64, device=device)
    valid = torch.zeros(batch, max_gts, dtype=torch.bool, device=device)
    for image, (image_boxes, image_labels) in enumerate(zip(gt_boxes, gt_labels)):
        count = len(image_boxes)
        if len(image_labels) != count:
            raise ValueError(
                f"image {image}: {count} GT boxes but {len(image_labels)} GT labels"
            )
        if count:
            boxes[image, :count] = image_boxes.reshape(-1, 4).to(device=device, dtype=dtype)
            labels[image, :count] = image_labels.to(device=device, dtype=torch.int64)
            valid[image, :count] = True
    return boxes, labels, valid


def negative_assignment(decoded_boxes: torch.Tensor) -> Assignment:
    """Every prior of ``decoded_boxes [B, N, 4]`` negative: the starting point of an assignment."""
    batch, num_priors = decoded_boxes.shape[:2]
    gt_index = torch.full((batch, num_priors), -1, dtype=torch.int64,
                          device=decoded_boxes.device)
    return Assignment(gt_index, decoded_boxes.new_zeros(batch, num_priors))


class Assigner(Protocol):
    """Interface of the assigners the criterion calls (DSLA, ATSS)."""

    def assign(
        self,
        cls_logits: torch.Tensor,
        priors: torch.Tensor,
        decoded_boxes: torch.Tensor,
        gt_boxes: Sequence[torch.Tensor],
        gt_labels: Sequence[torch.Tensor],
    ) -> Assignment:
        """``cls_logits [B, N, C]``, ``priors [N, 4]`` as ``(x, y, stride, stride)``,
        ``decoded_boxes [B, N, 4]`` xyxy, per-image ``gt_boxes [n_i, 4]`` xyxy in input pixels
        and ``gt_labels [n_i]`` -> which GT each prior learns and the IoU of its box with it."""
        ...
