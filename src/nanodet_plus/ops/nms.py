"""Non-maximum suppression that never mixes classes (or images) and keeps the best boxes first."""

from __future__ import annotations

import torch
import torchvision


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, iou_thr: float
) -> torch.Tensor:
    """Indices of the kept boxes, by descending score; boxes only suppress boxes of their group.

    A box is dropped when its IoU (continuous coordinates, no +1) with a higher-scored kept
    box of the same group exceeds ``iou_thr``. ``groups`` is usually the class label, or
    ``image * num_classes + label`` to run a whole batch in one call. The boxes go through
    float64 so the per-group coordinate offset torchvision may apply cannot round them, and
    are shifted to start at 0: that offset keeps groups apart only for coordinates >= 0.
    """
    if boxes.shape[0] == 0:
        return torch.zeros((0,), dtype=torch.int64, device=boxes.device)
    shifted = boxes.double() - boxes.min().double()  # IoU is unchanged by a translation
    return torchvision.ops.batched_nms(shifted, scores.double(), groups, float(iou_thr))


def top_k_per_group(groups: torch.Tensor, k: int) -> torch.Tensor:
    """Mask keeping the first ``k`` entries of every group, for entries already in rank order."""
    if groups.numel() == 0 or k <= 0:
        return torch.zeros_like(groups, dtype=torch.bool)
    order = torch.sort(groups, stable=True).indices
    sorted_groups = groups[order]
    starts = torch.ones_like(sorted_groups, dtype=torch.bool)
    starts[1:] = sorted_groups[1:] != sorted_groups[:-1]
    positions = torch.arange(groups.numel(), device=groups.device)
    group_start = torch.cummax(torch.where(starts, positions, torch.zeros_like(positions)), 0)[0]
    rank = torch.empty_like(positions)
    rank[order] = positions - group_start
    return rank < k
