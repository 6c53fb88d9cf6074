"""The integral (expected value) over distance bins, with its loadable ``project`` buffer."""

from __future__ import annotations

import torch
from torch import nn

from nanodet_plus.ops.boxes import integral


class Integral(nn.Module):
    """Softmax over each side's ``reg_max + 1`` bins, dotted with the ``project`` buffer.

    ``project`` (0..reg_max at init) is persistent: official checkpoints carry it and decoding
    must use the loaded values (reference-spec §5).
    """

    def __init__(self, reg_max: int = 7) -> None:
        super().__init__()
        self.reg_max = reg_max
        self.register_buffer("project", torch.linspace(0, reg_max, reg_max + 1))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """``[..., 4 * (reg_max + 1)]`` logits -> ``[..., 4]`` distances in stride units."""
        return integral(logits, self.project)
