"""The box operations of the package: areas, IoU, IoA and GIoU, and the conversions of
distance-based regression.

Boxes are ``Tensor[..., 4]`` in xyxy pixel coordinates, continuous (no +1 pixel: a box from
x=2 to x=5 is 3 wide). Results have the boxes' floating dtype; empty inputs give empty results.
Areas are not clamped, as the official, yet an inverted box (x2 < x1 or y2 < y1) never
overlaps anything, so its IoU and IoA are 0.
"""

from __future__ import annotations

import torch


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area ``[...]`` of boxes ``[..., 4]``, ``(x2 - x1) * (y2 - y1)``.

    0 for zero-width or zero-height boxes; negative for a box inverted on one axis.
    """
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Pairwise IoU ``[..., N, M]`` of boxes ``[..., N, 4]`` and ``[..., M, 4]``.

    Leading dimensions broadcast (the assigners pass batches). The union is clamped to at least
    ``eps``; with ``eps = 0`` a pair with no union (two zero-area boxes) has IoU 0, not NaN.
    """
    overlap = _intersection(boxes_a[..., :, None, :], boxes_b[..., None, :, :])
    union = box_area(boxes_a)[..., :, None] + box_area(boxes_b)[..., None, :] - overlap
    return overlap / _denominator(union, eps)


def box_ioa(boxes: torch.Tensor, regions: torch.Tensor) -> torch.Tensor:
    """Fraction ``[..., N, M]`` of the area of each of ``boxes [..., N, 4]`` inside each of
    ``regions [..., M, 4]`` (COCO's crowd overlap); 0 for a box with no area."""
    overlap = _intersection(boxes[..., :, None, :], regions[..., None, :, :])
    return overlap / _denominator(box_area(boxes)[..., :, None], 0.0)


def aligned_box_iou(
    boxes_a: torch.Tensor, boxes_b: torch.Tensor, eps: float = 0.0
) -> torch.Tensor:
    """IoU ``[...]`` of ``boxes_a[i]`` with ``boxes_b[i]`` (both ``[..., 4]``, broadcast).

    ``eps`` as in :func:`box_iou`: the union is clamped to at least ``eps``, and with
    ``eps = 0`` an empty union gives 0.
    """
    overlap = _intersection(boxes_a, boxes_b)
    union = box_area(boxes_a) + box_area(boxes_b) - overlap
    return overlap / _denominator(union, eps)


def aligned_box_giou(
    boxes_a: torch.Tensor, boxes_b: torch.Tensor, eps: float = 0.0
) -> torch.Tensor:
    """Generalized IoU ``[...]`` (Rezatofighi et al. 2019) of ``boxes_a[i]`` with ``boxes_b[i]``.

    In ``[-1, 1]`` unless a box is inverted. Union and enclosing area are each clamped to at
    least ``eps`` (the GIoU loss uses 1e-6); with ``eps = 0`` an empty one counts as 1, so two
    coincident points have GIoU 0 either way.
    """
    overlap = _intersection(boxes_a, boxes_b)
    union = _denominator(box_area(boxes_a) + box_area(boxes_b) - overlap, eps)
    enclose_wh = (
        torch.maximum(boxes_a[..., 2:], boxes_b[..., 2:])
        - torch.minimum(boxes_a[..., :2], boxes_b[..., :2])
    ).clamp(min=0)
    enclose = _denominator(enclose_wh[..., 0] * enclose_wh[..., 1], eps)
    return overlap / union - (enclose - union) / enclose


def _intersection(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """Overlap area of ``boxes_a`` and ``boxes_b`` (broadcast), 0 when disjoint or inverted.

    Width times height rather than ``prod`` so the GIoU loss keeps the official's gradient.
    """
    top_left = torch.maximum(boxes_a[..., :2], boxes_b[..., :2])
    bottom_right = torch.minimum(boxes_a[..., 2:], boxes_b[..., 2:])
    overlap_wh = (bottom_right - top_left).clamp(min=0)
    return overlap_wh[..., 0] * overlap_wh[..., 1]


def _denominator(values: torch.Tensor, eps: float) -> torch.Tensor:
    """``values`` clamped to at least ``eps``; with ``eps <= 0`` non-positive ones become 1.

    A non-positive union or area always comes with a zero overlap, so the ratio is then 0.
    """
    if eps > 0:
        return values.clamp(min=eps)
    return torch.where(values > 0, values, torch.ones_like(values))


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


def bbox2distance(
    points: torch.Tensor, boxes: torch.Tensor, max_dist: float | None = None
) -> torch.Tensor:
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
