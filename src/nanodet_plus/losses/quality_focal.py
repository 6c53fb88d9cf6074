"""Quality Focal Loss (Generalized Focal Loss, Li et al. 2020): sigmoid BCE towards IoU targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nanodet_plus.losses._reduce import weight_reduce


def quality_focal_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    scores: torch.Tensor,
    weight: torch.Tensor | None = None,
    avg_factor: float | torch.Tensor | None = None,
    reduction: str = "mean",
    beta: float = 2.0,
) -> torch.Tensor:
    """QFL of class logits ``[N, C]`` against labels ``[N]`` and quality scores ``[N]``.

    A row whose label lies in ``[0, C)`` is a positive: its label column is pulled towards the
    quality score (its IoU), every other element towards 0. Each element is
    ``BCEWithLogits(z, t) * |t - sigmoid(z)| ** beta``; the per-row loss is the sum over classes,
    then ``weight`` (``[N]``) and the reduction apply.
    """
    num_classes = logits.shape[-1]
    positive = (labels >= 0) & (labels < num_classes)
    targets = torch.zeros_like(logits)
    pos_rows = positive.nonzero(as_tuple=True)[0]
    targets[pos_rows, labels[pos_rows]] = scores[pos_rows].to(logits.dtype)
    modulator = (targets - logits.sigmoid()).abs().pow(beta)
    loss = F.binary_cross_entropy_with_logits(logits, targets, reduction="none") * modulator
    return weight_reduce(loss.sum(dim=-1), weight, avg_factor, reduction)
