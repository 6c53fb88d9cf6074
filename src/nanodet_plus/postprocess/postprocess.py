"""Thresholding, class-wise NMS, top-k and mapping back to original pixels (spec §8.3).

Every runtime (PyTorch, ONNX Runtime, OpenVINO, ncnn, MNN) ends here, so all of them produce
the same detections from the same raw output.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from nanodet_plus.data.transforms.geometry import warp_boxes
from nanodet_plus.model_meta import ModelMeta
from nanodet_plus.ops.nms import batched_nms, top_k_per_group
from nanodet_plus.postprocess.decode import cached_priors, checked_preds, class_scores, decode_boxes
from nanodet_plus.structures import Detections


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
    preds = checked_preds(raw, meta, input_hw)
    scores = class_scores(preds, meta)
    batch, _, num_classes = scores.shape
    if len(warp_matrices) != batch or len(orig_sizes) != batch:
        raise ValueError(
            f"got {len(warp_matrices)} warp matrices and {len(orig_sizes)} sizes for a batch "
            f"of {batch}"
        )
    names_table = list(class_names or meta.class_names or [])
    # Threshold the per-point best score first (one pass over [B, N, C]), then the classes of
    # the few surviving points: same candidates, in the same order, as thresholding every pair.
    box_image, box_point = torch.nonzero(scores.amax(dim=-1) > score_thr, as_tuple=True)
    point_scores = scores[box_image, box_point]
    rows, labels = torch.nonzero(point_scores > score_thr, as_tuple=True)
    priors = cached_priors(input_hw, tuple(meta.strides), str(preds.device))
    point_boxes = decode_boxes(
        preds[box_image, box_point, num_classes:], priors[box_point], meta, input_hw
    )
    image_idx = box_image[rows]
    cand_scores = point_scores[rows, labels]
    cand_boxes = point_boxes[rows]
    keep = batched_nms(cand_boxes, cand_scores, image_idx * num_classes + labels, iou_thr)
    if 0 < max_det < keep.numel():  # fewer kept boxes than max_det: no image has too many
        keep = keep[top_k_per_group(image_idx[keep], max_det)]

    kept_images = image_idx[keep].cpu().numpy()
    kept_boxes = cand_boxes[keep].cpu().numpy()
    kept_scores = cand_scores[keep].cpu().numpy().astype(np.float32)
    kept_labels = labels[keep].cpu().numpy().astype(np.int64)
    results = []
    for i in range(batch):
        rows = kept_images == i
        orig_wh = (int(orig_sizes[i][0]), int(orig_sizes[i][1]))
        path = paths[i] if paths is not None else None
        inverse = np.linalg.inv(np.asarray(warp_matrices[i], dtype=np.float64))
        image_labels = kept_labels[rows]
        results.append(
            Detections(
                boxes=warp_boxes(kept_boxes[rows], inverse, orig_wh),
                scores=kept_scores[rows],
                labels=image_labels,
                names=[_name(names_table, int(c)) for c in image_labels],
                image_size=orig_wh,
                path=path,
            )
        )
    return results


def _name(names: list[str], label: int) -> str:
    return names[label] if label < len(names) else str(label)
