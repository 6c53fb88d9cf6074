"""Dynamic Soft Label Assigner (reference-spec §9), vectorised over the images of a batch.

Ground truths are padded to the largest count in the batch with a validity mask, so one set
of tensor ops assigns every image at once. Behaviour equals the official per-image assigner:
candidates are the priors strictly inside at least one GT, the cost is the soft-IoU
classification cost over all classes plus ``iou_factor * -log(IoU + 1e-7)``, each GT takes its
``k = max(1, int(sum of its top-13 IoUs))`` cheapest candidates, and a prior taken by several
GTs goes to the argmin of its whole cost row.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from nanodet_plus.assigners.base import (
    UNION_EPS,
    Assignment,
    negative_assignment,
    pad_ground_truth,
)
from nanodet_plus.ops.boxes import box_iou

IOU_EPS = 1e-7
# Largest value of the optional distance cost, so far-away pairs stay finite and ordered.
DISTANCE_COST_CAP = 1e8
# Images are assigned in chunks of at most this many (image, prior, GT) triples.
CHUNK_ELEMENTS = 1 << 21


class DynamicSoftLabelAssigner:
    """Assigns GT boxes to centre priors from the (detached) predictions of one head.

    The optional distance cost of the NanoDet-Plus article adds ``alpha ** (d - beta)`` per
    (prior, GT) pair, with ``d`` the Euclidean distance between the prior point and the GT
    centre **in units of the prior's stride** (so ``beta = 3`` means three cells away costs 1).
    It is off by default, as in the official code.
    """

    def __init__(
        self,
        topk: int = 13,
        iou_factor: float = 3.0,
        *,
        distance_cost: bool = False,
        distance_alpha: float = 10.0,
        distance_beta: float = 3.0,
    ) -> None:
        self.topk = topk
        self.iou_factor = iou_factor
        self.distance_cost = distance_cost
        self.distance_alpha = distance_alpha
        self.distance_beta = distance_beta

    @torch.no_grad()
    def assign(
        self,
        cls_logits: torch.Tensor,
        priors: torch.Tensor,
        decoded_boxes: torch.Tensor,
        gt_boxes: Sequence[torch.Tensor],
        gt_labels: Sequence[torch.Tensor],
    ) -> Assignment:
        """Assign a batch.

        ``cls_logits [B, N, C]``, ``priors [N, 4]`` as ``(x, y, stride, stride)``,
        ``decoded_boxes [B, N, 4]`` xyxy (unclipped), per-image ``gt_boxes [n_i, 4]`` xyxy in
        input pixels and ``gt_labels [n_i]``. Ignore boxes play no part (as in NanoDet-Plus).
        """
        batch, num_priors = decoded_boxes.shape[:2]
        boxes, labels, valid = pad_ground_truth(
            gt_boxes, gt_labels, dtype=decoded_boxes.dtype, device=decoded_boxes.device
        )
        assignment = negative_assignment(decoded_boxes)
        gt_index, iou = assignment.gt_index, assignment.iou
        max_gts = boxes.shape[1]
        if max_gts == 0 or num_priors == 0:
            return assignment
        chunk = max(1, CHUNK_ELEMENTS // (num_priors * max_gts))
        for start in range(0, batch, chunk):
            part = slice(start, start + chunk)
            gt_index[part], iou[part] = self._assign_chunk(
                cls_logits[part], priors, decoded_boxes[part], boxes[part], labels[part],
                valid[part],
            )
        return assignment

    def _assign_chunk(
        self,
        cls_logits: torch.Tensor,
        priors: torch.Tensor,
        decoded_boxes: torch.Tensor,
        gt_boxes: torch.Tensor,
        gt_labels: torch.Tensor,
        gt_valid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Assign images with padded GTs; returns ``gt_index [B, N]`` and ``iou [B, N]``."""
        points = priors[:, :2]
        lt = points[None, :, None, :] - gt_boxes[:, None, :, :2]
        rb = gt_boxes[:, None, :, 2:] - points[None, :, None, :]
        inside = (torch.cat([lt, rb], dim=-1).amin(dim=-1) > 0) & gt_valid[:, None, :]
        candidate = inside.any(dim=-1)  # [B, N]
        pair_valid = candidate[:, :, None] & gt_valid[:, None, :]  # [B, N, G]

        ious = box_iou(decoded_boxes, gt_boxes, eps=UNION_EPS)
        cost = self._cls_cost(cls_logits, gt_labels, ious)
        cost = cost + self.iou_factor * -torch.log(ious + IOU_EPS)
        if self.distance_cost:
            cost = cost + self._distance_cost(priors, gt_boxes)
        cost = cost.masked_fill(~pair_valid, torch.inf)
        ious = ious.masked_fill(~pair_valid, 0.0)

        # Dynamic k: IoUs are >= 0, so masked zeros do not change the sum of the top ones.
        top = min(self.topk, ious.shape[1])
        dynamic_k = ious.topk(top, dim=1).values.sum(dim=1).to(torch.int64).clamp(min=1)
        # Each GT takes its k cheapest candidates; k never exceeds the image's candidates.
        has_candidates = candidate.any(dim=1)
        keep_ranks = (
            torch.arange(top, device=cost.device)[None, :, None] < dynamic_k[:, None, :]
        ) & (gt_valid & has_candidates[:, None])[:, None, :]
        cheapest = cost.topk(int(dynamic_k.max()), dim=1, largest=False).indices
        keep_ranks = keep_ranks[:, : cheapest.shape[1]]
        matching = torch.zeros_like(pair_valid)
        matching.scatter_(1, cheapest, keep_ranks)

        contested = matching.sum(dim=-1) > 1
        best_gt = cost.argmin(dim=-1)
        row_best = F.one_hot(best_gt, cost.shape[-1]).to(torch.bool)
        matching = torch.where(contested[..., None], row_best, matching)

        positive = matching.any(dim=-1)
        assigned = matching.to(torch.uint8).argmax(dim=-1)
        matched_iou = ious.gather(-1, assigned[..., None]).squeeze(-1)
        gt_index = torch.where(positive, assigned, torch.full_like(assigned, -1))
        return gt_index, torch.where(positive, matched_iou, torch.zeros_like(matched_iou))

    @staticmethod
    def _cls_cost(
        cls_logits: torch.Tensor, gt_labels: torch.Tensor, ious: torch.Tensor
    ) -> torch.Tensor:
        """Soft-label classification cost ``[B, N, G]`` summed over all classes.

        Every class but the GT's has target 0, so the cost is the all-zero-target cost of the
        prior, minus its zero-target term at the GT class, plus the IoU-target term there.
        This avoids the ``[B, N, G, C]`` tensor of a direct computation.
        """
        scores = cls_logits.sigmoid()
        zero_target = F.binary_cross_entropy_with_logits(
            cls_logits, torch.zeros_like(cls_logits), reduction="none"
        ) * scores.pow(2)
        index = gt_labels[:, None, :].expand(-1, cls_logits.shape[1], -1)
        gt_logits = cls_logits.gather(-1, index)
        gt_scores = scores.gather(-1, index)
        soft_target = F.binary_cross_entropy_with_logits(
            gt_logits, ious, reduction="none"
        ) * (ious - gt_scores).pow(2)
        return zero_target.sum(dim=-1, keepdim=True) - zero_target.gather(-1, index) + soft_target

    def _distance_cost(self, priors: torch.Tensor, gt_boxes: torch.Tensor) -> torch.Tensor:
        """``alpha ** (d - beta)`` ``[B, N, G]``, ``d`` = prior-to-GT-centre distance in strides."""
        centres = (gt_boxes[..., :2] + gt_boxes[..., 2:]) / 2
        offsets = priors[None, :, None, :2] - centres[:, None, :, :]
        distance = offsets.norm(dim=-1) / priors[None, :, None, 2]
        exponent = distance - self.distance_beta
        return torch.pow(self.distance_alpha, exponent).clamp(max=DISTANCE_COST_CAP)
