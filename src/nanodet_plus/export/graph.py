"""Deploy output layouts traced by the exporters, on top of the model's inference-only graph
(backbone + fpn + head with sigmoid class scores; aux modules are never part of it):
flat (official), per-level and end-to-end (decoding, optionally NMS, in the graph)."""

from __future__ import annotations

import torch
from torch import nn

from nanodet_plus.ops.boxes import distance2bbox, integral
from nanodet_plus.ops.priors import center_priors, feature_sizes


def find_project(model: nn.Module, reg_max: int) -> torch.Tensor:
    """The model's loaded integral weights (``distribution_project.project``), else ``0..R``."""
    for name, buffer in model.named_buffers():
        if name.endswith("distribution_project.project") or name.endswith("project.project"):
            return buffer.detach().float().clone()
    return torch.arange(reg_max + 1, dtype=torch.float32)


class PerLevelGraph(nn.Module):
    """Per-stride outputs: ``cls_pred_stride_S`` ``[B, h*w, C]`` sigmoid scores and
    ``dis_pred_stride_S`` ``[B, h*w, 4(R+1)]`` distance logits, for every stride S."""

    def __init__(self, flat: nn.Module, input_hw: tuple[int, int], strides: tuple[int, ...]):
        super().__init__()
        self.flat = flat
        self.level_points = [h * w for h, w in feature_sizes(input_hw, strides)]

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.flat(image)
        levels = torch.split(out, self.level_points, dim=1)
        c = self.flat.num_classes
        return tuple(level[..., :c] for level in levels) + tuple(level[..., c:] for level in levels)


def per_level_output_names(strides: tuple[int, ...]) -> list[str]:
    """Output names of :class:`PerLevelGraph`, class scores first, then distance logits."""
    return [f"cls_pred_stride_{s}" for s in strides] + [f"dis_pred_stride_{s}" for s in strides]


class EndToEndGraph(nn.Module):
    """Decoding in the graph: ``boxes`` ``[B, N, 4]`` xyxy in input pixels (clamped to the input)
    and ``scores`` ``[B, N, C]``; for a fixed input size (priors are constants)."""

    def __init__(
        self,
        flat: nn.Module,
        input_hw: tuple[int, int],
        strides: tuple[int, ...],
        project: torch.Tensor,
    ) -> None:
        super().__init__()
        self.flat = flat
        self.input_hw = input_hw
        priors = center_priors(input_hw, strides)
        self.register_buffer("points", priors[:, :2].clone(), persistent=False)
        self.register_buffer("stride", priors[:, 2:3].clone(), persistent=False)
        self.register_buffer("project", project.float().clone(), persistent=False)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.flat(image)
        c = self.flat.num_classes
        distances = integral(out[..., c:], self.project) * self.stride
        boxes = distance2bbox(self.points, distances, max_hw=self.input_hw)
        return boxes, out[..., :c]


class _OnnxNms(torch.autograd.Function):
    """Multi-class NMS that exports as the ONNX ``NonMaxSuppression`` op.

    Eager forward gives the same ``[K, 3]`` (batch, class, box) indices, so parity can be tested.
    """

    @staticmethod
    def forward(ctx, boxes, scores, max_per_class, iou_threshold, score_threshold):
        from torchvision.ops import nms

        selected = []
        for b in range(boxes.shape[0]):
            for c in range(scores.shape[1]):
                keep_mask = scores[b, c] > score_threshold
                idx = torch.nonzero(keep_mask).flatten()
                if idx.numel() == 0:
                    continue
                kept = idx[nms(boxes[b, idx], scores[b, c, idx], float(iou_threshold))]
                kept = kept[: int(max_per_class)]
                rows = torch.stack(
                    [torch.full_like(kept, b), torch.full_like(kept, c), kept], dim=1
                )
                selected.append(rows)
        if not selected:
            return torch.zeros((0, 3), dtype=torch.int64)
        return torch.cat(selected).to(torch.int64)

    @staticmethod
    def symbolic(g, boxes, scores, max_per_class, iou_threshold, score_threshold):
        max_t = g.op("Constant", value_t=torch.tensor([int(max_per_class)], dtype=torch.int64))
        iou_t = g.op("Constant", value_t=torch.tensor([float(iou_threshold)], dtype=torch.float32))
        score_t = g.op(
            "Constant", value_t=torch.tensor([float(score_threshold)], dtype=torch.float32)
        )
        return g.op("NonMaxSuppression", boxes, scores, max_t, iou_t, score_t)


class EndToEndNmsGraph(nn.Module):
    """End-to-end graph with class-aware NMS: ``detections`` ``[K, 7]`` rows
    ``(batch_index, x1, y1, x2, y2, score, class)`` in input pixels."""

    def __init__(
        self,
        decoded: EndToEndGraph,
        score_threshold: float = 0.05,
        iou_threshold: float = 0.6,
        max_per_class: int = 100,
    ) -> None:
        super().__init__()
        self.decoded = decoded
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_per_class = max_per_class

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        boxes, scores = self.decoded(image)
        selected = _OnnxNms.apply(
            boxes,
            scores.transpose(1, 2),
            self.max_per_class,
            self.iou_threshold,
            self.score_threshold,
        )
        batch_index, class_index, box_index = selected[:, 0], selected[:, 1], selected[:, 2]
        det_boxes = boxes[batch_index, box_index]
        det_scores = scores[batch_index, box_index, class_index]
        return torch.cat(
            [
                batch_index.unsqueeze(1).float(),
                det_boxes,
                det_scores.unsqueeze(1),
                class_index.unsqueeze(1).float(),
            ],
            dim=1,
        )
