"""A learnable scalar multiplier (per-level box scale of the AGM head)."""

from __future__ import annotations

import torch
from torch import nn


class Scale(nn.Module):
    """Multiplies its input by one learnable 0-dim parameter ``scale``."""

    def __init__(self, value: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(value, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale
