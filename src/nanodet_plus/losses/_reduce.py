"""Weighting and reduction shared by the loss functions."""

from __future__ import annotations

import torch

REDUCTIONS = ("none", "mean", "sum")


def weight_reduce(
    loss: torch.Tensor,
    weight: torch.Tensor | None,
    avg_factor: float | torch.Tensor | None,
    reduction: str,
) -> torch.Tensor:
    """Multiply element-wise losses by ``weight``, then reduce.

    With ``avg_factor`` the ``"mean"`` reduction is ``sum / avg_factor`` instead of the plain
    mean (a normaliser such as the number of positives); ``"sum"`` with ``avg_factor`` is an error.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if weight is not None:
        loss = loss * weight
    if reduction == "none":
        return loss
    if avg_factor is None:
        return loss.mean() if reduction == "mean" else loss.sum()
    if reduction == "sum":
        raise ValueError("avg_factor cannot be combined with reduction='sum'")
    return loss.sum() / avg_factor
