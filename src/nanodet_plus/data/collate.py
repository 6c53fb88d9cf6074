"""Batch collation: pad images bottom/right with 0 to a multiple of 32 and stack them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch


def stack_padded(images: Sequence[torch.Tensor], divisor: int = 32, value: float = 0.0):
    """Stack CHW tensors into ``[B, C, H, W]``, padding bottom/right to the batch max rounded up.

    Padding is 0 in normalised space (the mean colour), as the official trainer does.
    """
    channels = {int(img.shape[0]) for img in images}
    if len(channels) != 1:
        raise ValueError(f"images in a batch have different channel counts: {sorted(channels)}")
    height = max(int(img.shape[1]) for img in images)
    width = max(int(img.shape[2]) for img in images)
    height = int(math.ceil(height / divisor) * divisor)
    width = int(math.ceil(width / divisor) * divisor)
    batch = images[0].new_full((len(images), channels.pop(), height, width), value)
    for i, img in enumerate(images):
        batch[i, :, : img.shape[1], : img.shape[2]].copy_(img)
    return batch


def collate_detection(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch dict: ``img`` tensor [B,3,H,W]; per-image lists for the rest; ``img_info`` of lists."""
    batch: dict[str, Any] = {"img": stack_padded([s["img"] for s in samples])}
    for key in ("gt_bboxes", "gt_labels", "gt_bboxes_ignore", "warp_matrix"):
        batch[key] = [s[key] for s in samples]
    info_keys = samples[0]["img_info"].keys()
    batch["img_info"] = {k: [s["img_info"][k] for s in samples] for k in info_keys}
    return batch
