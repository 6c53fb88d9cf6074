"""Box conversions for distance-based regression (xyxy boxes, ``Tensor[..., 4]``)."""

from __future__ import annotations

import torch


def distance2bbox(
    points: torch.Tensor, distance: torch.Tensor, max_hw: tuple[int, int] | None = None
) -> torch.Tensor:
    """Boxes ``[..., 4]`` xyxy from points ``[..., 2]`` and distances (left, top, right, bottom).

    With ``max_hw = (H, W)`` x is clamped to ``[0, W]`` and y to ``[0, H]``.
    """
    x1 = points[..., 0] - distance[..., 0]
    y1 = points[..., 1] - distance[..., 1]
    x2 = points[..., 0] + distance[..., 2]
    y2 = points[..., 1] + distance[..., 3]
    if max_hw is not None:
        height, width = max_hw
        x1 = x1.clamp(min=0, max=width)
        y1 = y1.clamp(min=0, max=height)
        x2 = x2.clamp(min=0, max=width)
        y2 = y2.clamp(min=0, max=height)
    return torch.stack([x1, y1, x2, y2], dim=-1)


def bbox2distance(points: torch.Tensor, boxes: torch.Tensor, max_dist: float | None = None):
    """Distances (left, top, right, bottom) ``[..., 4]`` from points to xyxy boxes.

    With ``max_dist`` the distances are clamped to ``[0, max_dist]``.
    """
    left = points[..., 0] - boxes[..., 0]
    top = points[..., 1] - boxes[..., 1]
    right = boxes[..., 2] - points[..., 0]
    bottom = boxes[..., 3] - points[..., 1]
    distance = torch.stack([left, top, right, bottom], dim=-1)
    if max_dist is not None:
        distance = distance.clamp(min=0, max=max_dist)
    return distance


def integral(logits: torch.Tensor, project: torch.Tensor) -> torch.Tensor:
    """Expected distance per side: softmax over the ``R + 1`` bins, dot with ``project``.

    ``logits`` ``[..., 4 * (R + 1)]`` (sides left, top, right, bottom) -> ``[..., 4]`` in
    stride units. ``project`` is the model's loaded ``distribution_project.project`` buffer.
    """
    bins = project.shape[0]
    probs = torch.softmax(logits.reshape(*logits.shape[:-1], 4, bins), dim=-1)
    return probs @ project.to(probs.dtype)
