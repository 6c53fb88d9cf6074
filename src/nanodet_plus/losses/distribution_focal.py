"""Distribution Focal Loss (Generalized Focal Loss, Li et al. 2020) for integral box regression."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nanodet_plus.losses._reduce import weight_reduce


def distribution_focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    weight: torch.Tensor | None = None,
    avg_factor: float | torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """DFL of bin logits ``[M, R + 1]`` against continuous targets ``[M]`` in ``[0, R)``.

    Cross-entropy towards the two bins around the target, each weighted by its linear
    interpolation weight, so the distribution concentrates where the target lies. Targets must
    already be clamped below ``R`` (NanoDet-Plus uses ``R - 0.1``) so the upper bin exists.
    """
    left = targets.long()
    right = left + 1
    left_weight = right.to(targets.dtype) - targets
    right_weight = targets - left.to(targets.dtype)
    loss = (
        F.cross_entropy(logits, left, reduction="none") * left_weight
        + F.cross_entropy(logits, right, reduction="none") * right_weight
    )
    return weight_reduce(loss, weight, avg_factor, reduction)
