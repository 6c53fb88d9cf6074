"""Exponential moving average of a model's parameters and buffers (reference-spec §11)."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def ema_weight(decay: float, step: int, ramp: float = 2000.0) -> float:
    """Weight of the new value after ``step`` optimizer steps: high at first, then ``1 - decay``."""
    return decay * math.exp(-(1 + step) / ramp) + (1 - decay)


class ModelEMA:
    """Averaged copy of a model, updated after every optimizer step.

    Every ``state_dict`` entry is averaged, BN statistics and aux modules included. Integer
    buffers (``num_batches_tracked``) are averaged in floating point and truncated, as the
    official averager does.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9998, ramp: float = 2000.0) -> None:
        self.module = copy.deepcopy(_unwrap(model)).eval()
        for param in self.module.parameters():
            param.requires_grad_(False)
        self.decay = decay
        self.ramp = ramp
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Blend the current weights in with weight ``ema_weight(decay, step)``."""
        weight = ema_weight(self.decay, step, self.ramp)
        current = _unwrap(model).state_dict()
        floats, targets = [], []
        for key, averaged in self.module.state_dict().items():
            value = current[key].detach()
            if averaged.dtype.is_floating_point:
                floats.append(averaged)
                targets.append(value.to(averaged.dtype))
            else:
                blended = averaged.double() * (1.0 - weight) + value.double() * weight
                averaged.copy_(blended.to(averaged.dtype))
        if floats:  # one fused call instead of hundreds of small kernels (GPU launch cost)
            torch._foreach_lerp_(floats, targets, weight)
        self.updates += 1

    def state_dict(self) -> dict:
        """The averaged weights, keyed like the model's own ``state_dict``."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict) -> None:
        """Restore averaged weights saved by :meth:`state_dict`."""
        self.module.load_state_dict(state)


def _unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside a DistributedDataParallel / DataParallel wrapper."""
    wrappers = (nn.parallel.DistributedDataParallel, nn.DataParallel)
    return model.module if isinstance(model, wrappers) else model
