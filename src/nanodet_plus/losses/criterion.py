"""NanoDet-Plus training criterion: DSLA assignment, then QFL + GIoU + DFL per head (spec §9-10)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from nanodet_plus.assigners import AssignTargets, build_targets
from nanodet_plus.assigners.factory import build_assigner
from nanodet_plus.config.schema import ModelConfig
from nanodet_plus.losses.distribution_focal import distribution_focal_loss
from nanodet_plus.losses.giou import giou_loss
from nanodet_plus.losses.quality_focal import quality_focal_loss
from nanodet_plus.ops.boxes import distance2bbox, integral
from nanodet_plus.ops.priors import center_priors
from nanodet_plus.utils.distributed import get_world_size, reduce_mean


class NanoDetPlusCriterion:
    """Losses of the main head and of the AGM (aux) head on one shared assignment.

    The assignment comes from the aux predictions (detached) when they are given, else from the
    head's own. Normalisers are averaged over ranks, so DDP gradients equal the gradients of a
    single process on the global batch.
    """

    def __init__(self, model_config: ModelConfig) -> None:
        self.num_classes = model_config.num_classes
        self.strides = tuple(model_config.head.strides)
        self.reg_max = model_config.head.reg_max
        self.assigner = build_assigner(model_config.assigner)
        loss = model_config.loss
        self.qfl_weight = loss.qfl_weight
        self.qfl_beta = loss.qfl_beta
        self.giou_weight = loss.giou_weight
        self.dfl_weight = loss.dfl_weight

    def __call__(
        self,
        head_out: torch.Tensor,
        aux_out: torch.Tensor | None,
        input_hw: tuple[int, int],
        gt_boxes: Sequence[torch.Tensor],
        gt_labels: Sequence[torch.Tensor],
        gt_ignore: Sequence[torch.Tensor] | None = None,
        project: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Loss terms of raw outputs ``[B, N, C + 4(R + 1)]`` for an input of ``(H, W)``.

        ``gt_boxes`` are per-image ``[n_i, 4]`` xyxy in input pixels, ``gt_labels`` ``[n_i]``
        int64. ``gt_ignore`` is accepted and has no effect, as in the official training.
        ``project`` is the head's integral buffer (``0..R`` when omitted). Returns ``loss``
        (the total to back-propagate), every term (the ``aux_`` terms only with ``aux_out``) and
        ``num_pos``, the positives of the batch on this rank (a detached count, not a loss).
        """
        del gt_ignore
        expected = self.num_classes + 4 * (self.reg_max + 1)
        if head_out.shape[-1] != expected:
            raise ValueError(
                f"head output has {head_out.shape[-1]} channels, expected {expected} "
                f"({self.num_classes} classes + 4 x {self.reg_max + 1} bins)"
            )
        priors = center_priors(input_hw, self.strides, device=head_out.device)
        if head_out.shape[1] != priors.shape[0]:
            raise ValueError(
                f"head output has {head_out.shape[1]} points, an input of (H, W) = {input_hw} "
                f"with strides {self.strides} has {priors.shape[0]}"
            )
        self._check_labels(gt_labels)
        # Losses in float32 even when the model ran in bf16/fp16 (a no-op for float32 outputs).
        head_out = head_out.float()
        aux_out = None if aux_out is None else aux_out.float()
        if project is None:
            project = torch.arange(self.reg_max + 1, device=head_out.device)
        project = project.to(device=head_out.device, dtype=torch.float32)

        head = self._split_and_decode(head_out, priors, project)
        aux = None if aux_out is None else self._split_and_decode(aux_out, priors, project)
        guide = aux if aux is not None else head
        assignment = self.assigner.assign(
            guide[0].detach(), priors, guide[2].detach(), gt_boxes, gt_labels
        )
        targets = build_targets(
            assignment, priors, gt_boxes, gt_labels, self.num_classes, self.reg_max
        )
        # The official floor of 1 applies to the global total: the mean over ranks is floored
        # at 1 / world_size, so DDP gradients equal those of one process on the whole batch.
        floor = 1.0 / get_world_size()
        num_pos = reduce_mean(targets.num_pos.sum().to(torch.float32)).clamp(min=floor)

        losses = self._head_losses(*head, targets, num_pos)
        total = losses["loss_qfl"] + losses["loss_bbox"] + losses["loss_dfl"]
        if aux is not None:
            aux_losses = self._head_losses(*aux, targets, num_pos)
            total = total + (
                aux_losses["loss_qfl"] + aux_losses["loss_bbox"] + aux_losses["loss_dfl"]
            )
            losses.update({f"aux_{name}": value for name, value in aux_losses.items()})
        losses["loss"] = total
        # Positives of this batch on this rank: logged, and watched by the trainer's warning.
        losses["num_pos"] = targets.num_pos.sum().detach().float()
        return losses

    def _check_labels(self, gt_labels: Sequence[torch.Tensor]) -> None:
        """Raise a clear error for GT labels outside ``[0, num_classes)``."""
        if not gt_labels:
            return
        labels = torch.cat([torch.as_tensor(t).reshape(-1) for t in gt_labels])
        if labels.numel() == 0:
            return
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= self.num_classes:
            bad = low if low < 0 else high
            raise ValueError(
                f"GT label {bad} is outside [0, {self.num_classes}) (num_classes of the model)"
            )

    def _split_and_decode(
        self, raw: torch.Tensor, priors: torch.Tensor, project: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Class logits ``[B, N, C]``, box logits ``[B, N, 4(R+1)]`` and decoded boxes."""
        cls_logits, box_logits = raw.split([self.num_classes, raw.shape[-1] - self.num_classes], -1)
        distances = integral(box_logits, project) * priors[:, 2, None]
        return cls_logits, box_logits, distance2bbox(priors[:, :2], distances)

    def _head_losses(
        self,
        cls_logits: torch.Tensor,
        box_logits: torch.Tensor,
        decoded_boxes: torch.Tensor,
        targets: AssignTargets,
        num_pos: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """QFL over all points, GIoU and DFL over positives, each with its normaliser."""
        loss_qfl = self.qfl_weight * quality_focal_loss(
            cls_logits.reshape(-1, self.num_classes),
            targets.labels.reshape(-1),
            targets.label_scores.reshape(-1),
            weight=targets.label_weights.reshape(-1),
            avg_factor=num_pos,
            beta=self.qfl_beta,
        )
        positive = targets.positive.reshape(-1)
        pos_cls = cls_logits.reshape(-1, self.num_classes)[positive]
        box_weight = pos_cls.detach().sigmoid().amax(dim=1)
        # A collective: every rank calls it, with or without positives, so DDP cannot hang.
        box_norm = reduce_mean(box_weight.sum()).clamp(min=1.0 / get_world_size())
        if not bool(positive.any()):
            empty = box_logits.sum() * 0
            return {"loss_qfl": loss_qfl, "loss_bbox": empty, "loss_dfl": empty.clone()}
        loss_bbox = self.giou_weight * giou_loss(
            decoded_boxes.reshape(-1, 4)[positive],
            targets.bbox_targets.reshape(-1, 4)[positive],
            weight=box_weight,
            avg_factor=box_norm,
        )
        bins = self.reg_max + 1
        loss_dfl = self.dfl_weight * distribution_focal_loss(
            box_logits.reshape(-1, 4 * bins)[positive].reshape(-1, bins),
            targets.dist_targets.reshape(-1, 4)[positive].reshape(-1),
            weight=box_weight[:, None].expand(-1, 4).reshape(-1),
            avg_factor=4.0 * box_norm,
        )
        return {"loss_qfl": loss_qfl, "loss_bbox": loss_bbox, "loss_dfl": loss_dfl}
