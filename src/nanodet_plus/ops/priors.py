"""Centre priors: the one place that knows where each output point sits (reference-spec §8.1)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def feature_sizes(input_hw: tuple[int, int], strides: Sequence[int]) -> list[tuple[int, int]]:
    """``(h, w)`` of every level: ``ceil(H / s)``, ``ceil(W / s)`` of the (padded) input."""
    height, width = input_hw
    return [(math.ceil(height / s), math.ceil(width / s)) for s in strides]


def num_points(input_hw: tuple[int, int], strides: Sequence[int]) -> int:
    """Number of output points ``N`` for an input of ``(H, W)``."""
    return sum(h * w for h, w in feature_sizes(input_hw, strides))


def center_priors(
    input_hw: tuple[int, int],
    strides: Sequence[int],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Priors ``[N, 4]`` as ``(x, y, stride, stride)`` in output point order.

    ``x = col * s`` and ``y = row * s``: the top-left corner of each cell, no +0.5 offset.
    Levels follow ``strides``; within a level points are row-major.
    """
    levels = []
    for (h, w), stride in zip(feature_sizes(input_hw, strides), strides):
        ys, xs = torch.meshgrid(
            torch.arange(h, device=device, dtype=dtype) * stride,
            torch.arange(w, device=device, dtype=dtype) * stride,
            indexing="ij",
        )
        s = torch.full_like(xs, float(stride))
        levels.append(torch.stack([xs, ys, s, s], dim=-1).reshape(-1, 4))
    return torch.cat(levels, dim=0)
