"""A plain per-image Dynamic Soft Label Assigner, the yardstick for the vectorised one.

Written directly from reference-spec §9, one image and one GT at a time, with the full
``[V, G, C]`` classification cost; slow but easy to check by eye.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def assign_one_image(
    cls_logits: torch.Tensor,
    priors: torch.Tensor,
    decoded_boxes: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_labels: torch.Tensor,
    topk: int = 13,
    iou_factor: float = 3.0,
    distance_alpha: float | None = None,
    distance_beta: float = 3.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``gt_index [N]`` (-1 negative) and matched ``iou [N]`` of one image."""
    num_priors, num_gts = decoded_boxes.shape[0], gt_boxes.shape[0]
    gt_index = torch.full((num_priors,), -1, dtype=torch.int64)
    matched_iou = torch.zeros(num_priors)
    if num_gts == 0 or num_priors == 0:
        return gt_index, matched_iou
    x, y = priors[:, 0:1], priors[:, 1:2]
    margins = torch.stack(
        [x - gt_boxes[:, 0], y - gt_boxes[:, 1], gt_boxes[:, 2] - x, gt_boxes[:, 3] - y], -1
    )
    valid = (margins.amin(-1) > 0).any(-1)
    valid_idx = valid.nonzero().flatten()
    if len(valid_idx) == 0:
        return gt_index, matched_iou
    boxes = decoded_boxes[valid_idx]
    ious = torch.zeros(len(valid_idx), num_gts)
    for v in range(len(valid_idx)):
        for g in range(num_gts):
            a, b = boxes[v], gt_boxes[g]
            w = (torch.minimum(a[2], b[2]) - torch.maximum(a[0], b[0])).clamp(min=0)
            h = (torch.minimum(a[3], b[3]) - torch.maximum(a[1], b[1])).clamp(min=0)
            area_a = (a[2] - a[0]) * (a[3] - a[1])
            area_b = (b[2] - b[0]) * (b[3] - b[1])
            ious[v, g] = w * h / (area_a + area_b - w * h).clamp(min=1e-6)
    logits = cls_logits[valid_idx][:, None, :].expand(-1, num_gts, -1)
    soft = F.one_hot(gt_labels, cls_logits.shape[1]).float()[None] * ious[..., None]
    cls_cost = (
        F.binary_cross_entropy_with_logits(logits, soft, reduction="none")
        * (soft - logits.sigmoid()).abs() ** 2
    ).sum(-1)
    cost = cls_cost + iou_factor * -torch.log(ious + 1e-7)
    if distance_alpha is not None:
        centres = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2
        d = (priors[valid_idx, None, :2] - centres[None]).norm(dim=-1) / priors[valid_idx, 2:3]
        cost = cost + (distance_alpha ** (d - distance_beta)).clamp(max=1e8)
    matching = torch.zeros_like(cost, dtype=torch.bool)
    top = min(topk, len(valid_idx))
    for g in range(num_gts):
        k = max(1, int(ious[:, g].topk(top).values.sum()))
        matching[cost[:, g].topk(k, largest=False).indices, g] = True
    for v in range(len(valid_idx)):
        if matching[v].sum() > 1:
            best = int(cost[v].argmin())
            matching[v] = False
            matching[v, best] = True
    for v in range(len(valid_idx)):
        if matching[v].any():
            g = int(matching[v].nonzero()[0])
            gt_index[valid_idx[v]] = g
            matched_iou[valid_idx[v]] = ious[v, g]
    return gt_index, matched_iou
