"""Thresholding, class-wise NMS, top-k and mapping back to original pixels (spec §8.3).

Every runtime (PyTorch, ONNX Runtime, OpenVINO, ncnn, MNN) ends here, so all of them produce
the same detections from the same raw output.

Only the per-point best score looks at the whole output; everything after it works on the few
points above the threshold, in numpy. A detector's post-processing runs right after the model,
with cold caches, where each torch call costs tens of microseconds: this way it is a handful of
small numpy calls and one NMS call.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from nanodet_plus.data.transforms.geometry import warp_boxes
from nanodet_plus.model_meta import ModelMeta
from nanodet_plus.ops.nms import class_nms
from nanodet_plus.postprocess.decode import cached_priors, check_shape, project_weights
from nanodet_plus.structures import Detections

# The scan filters on squared scores from this threshold up; below it a score's square could
# underflow float32 (and at <= 0 every point passes anyway), so it compares scores directly.
SQUARES_FROM = 1e-6


def postprocess(
    raw: np.ndarray | torch.Tensor,
    meta: ModelMeta,
    input_hw: tuple[int, int],
    warp_matrices: Sequence[np.ndarray],
    orig_sizes: Sequence[tuple[int, int]],
    *,
    score_thr: float = 0.05,
    iou_thr: float = 0.6,
    max_det: int = 100,
    class_names: Sequence[str] | None = None,
    paths: Sequence[str | None] | None = None,
) -> list[Detections]:
    """One :class:`Detections` per image of the raw ``[B, N, C + 4(R + 1)]`` output.

    Candidates are all (point, class) pairs with score strictly above ``score_thr``; NMS runs
    per image and class; at most ``max_det`` boxes per image survive, by descending score
    (``max_det <= 0``: no cap, as the official ``max_num=-1``).
    ``warp_matrices`` map each original image to the network input; ``orig_sizes`` are the
    original ``(width, height)``; ``input_hw`` is the input tensor's ``(H, W)``.
    """
    input_hw = (int(input_hw[0]), int(input_hw[1]))
    preds = _host_or_device(raw)
    check_shape(tuple(preds.shape), meta, input_hw)
    batch, num_classes = preds.shape[0], meta.num_classes
    if len(warp_matrices) != batch or len(orig_sizes) != batch:
        raise ValueError(
            f"got {len(warp_matrices)} warp matrices and {len(orig_sizes)} sizes for a batch "
            f"of {batch}"
        )
    box_image, box_point, rows = _points_above(preds, meta, score_thr)
    point_scores = rows[:, :num_classes]
    if not meta.scores_are_sigmoid:
        point_scores = torch.from_numpy(point_scores).sigmoid().numpy()
    cand_rows, labels = np.nonzero(point_scores > score_thr)
    priors = _priors(input_hw, tuple(meta.strides))[box_point]
    point_boxes = decode_rows(rows[:, num_classes:], priors, project_weights(meta), input_hw)
    image_idx = box_image[cand_rows]
    cand_scores = point_scores[cand_rows, labels]
    cand_boxes = point_boxes[cand_rows]
    keep = class_nms(cand_boxes, cand_scores, image_idx * num_classes + labels, iou_thr)

    names_table = list(class_names or meta.class_names or [])
    kept_images = image_idx[keep]
    results = []
    for i in range(batch):
        kept = keep[kept_images == i]
        if max_det > 0:  # keep is in descending score order
            kept = kept[:max_det]
        orig_wh = (int(orig_sizes[i][0]), int(orig_sizes[i][1]))
        inverse = np.linalg.inv(np.asarray(warp_matrices[i], dtype=np.float64))
        image_labels = labels[kept].astype(np.int64)
        results.append(
            Detections(
                boxes=warp_boxes(cand_boxes[kept], inverse, orig_wh),
                scores=cand_scores[kept].astype(np.float32),
                labels=image_labels,
                names=[_name(names_table, int(c)) for c in image_labels],
                image_size=orig_wh,
                path=paths[i] if paths is not None else None,
            )
        )
    return results


def _host_or_device(raw: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """The raw output ``[B, N, C + 4(R + 1)]`` (a 2-D one gains the batch axis) as a float32
    numpy array, sharing memory where it can; a tensor on a GPU stays there."""
    if isinstance(raw, torch.Tensor):
        raw = raw.detach()
        if raw.device.type != "cpu":
            return (raw[None] if raw.dim() == 2 else raw).float()
        raw = raw.float().numpy()
    raw = np.asarray(raw, dtype=np.float32)
    return raw[None] if raw.ndim == 2 else raw


def _points_above(
    preds: np.ndarray | torch.Tensor, meta: ModelMeta, score_thr: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image index, point index, raw row) of every point with a class score above
    ``score_thr``, in row-major order. This scan is the only pass over the whole output; on a
    GPU only the selected rows come back. Logits are compared through the sigmoid of their
    maximum (the sigmoid is monotonic), sigmoid scores directly."""
    scores = preds[..., : meta.num_classes]
    if isinstance(preds, torch.Tensor):  # on a GPU
        best = scores.amax(dim=-1)
        best = best if meta.scores_are_sigmoid else best.sigmoid()
        image, point = torch.nonzero(best > score_thr, as_tuple=True)
        rows = preds[image, point].float().cpu().numpy()
        return image.cpu().numpy(), point.cpu().numpy(), rows
    if meta.scores_are_sigmoid and score_thr >= SQUARES_FROM:
        # Scores are >= 0, so a point's best score is above the threshold only if the sum of
        # its squared scores is: one dot product per point (about 0.2 ms cold for 3598 x 80,
        # against 0.25 for a comparison and any()) leaves a few candidates, checked exactly.
        # The margin covers float32 rounding of the sum.
        squares = np.einsum("bnc,bnc->bn", scores, scores).ravel()
        candidates = np.flatnonzero(squares > (0.9999 * score_thr) ** 2)
        image, point = np.divmod(candidates, scores.shape[1])
        rows = preds[image, point]
        hit = rows[:, : meta.num_classes].max(axis=1, initial=-np.inf) > score_thr
        return image[hit], point[hit], rows[hit]
    best = scores.max(axis=-1)
    if not meta.scores_are_sigmoid:
        best = torch.from_numpy(best).sigmoid().numpy()
    image, point = np.nonzero(best > score_thr)
    return image, point, preds[image, point]


def decode_rows(
    box_logits: np.ndarray, priors: np.ndarray, project: np.ndarray, input_hw: tuple[int, int]
) -> np.ndarray:
    """xyxy boxes ``[K, 4]`` float32 from box logits ``[K, 4(R + 1)]`` and priors ``[K, 4]``
    (``x, y, stride, stride``), clamped to the input: the numpy twin of
    :func:`~nanodet_plus.postprocess.decode.decode_boxes` for a few rows."""
    bins = project.shape[0]
    logits = box_logits.reshape(-1, 4, bins)
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    distances = (exp @ project) / exp.sum(axis=-1) * priors[:, 2:3]
    height, width = input_hw
    boxes = np.concatenate([priors[:, :2] - distances[:, :2], priors[:, :2] + distances[:, 2:]],
                           axis=1)
    return np.clip(boxes, 0, np.array([width, height, width, height], np.float32))


@lru_cache(maxsize=32)
def _priors(input_hw: tuple[int, int], strides: tuple[int, ...]) -> np.ndarray:
    return cached_priors(input_hw, strides, "cpu").numpy()




def _name(names: list[str], label: int) -> str:
    return names[label] if label < len(names) else str(label)
