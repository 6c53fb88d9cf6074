"""AdamW and the warmup + per-epoch cosine learning-rate schedule of the official recipe."""

from __future__ import annotations

import logging
import math

import torch
from torch import nn

from nanodet_plus.config.schema import OptimizerConfig, TrainConfig

logger = logging.getLogger(__name__)

NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


def build_optimizer(model: nn.Module, config: OptimizerConfig) -> torch.optim.Optimizer:
    """AdamW over every trainable parameter; weight decay everywhere unless switched off.

    ``no_norm_decay`` removes decay from norm-layer weights and biases, ``no_bias_decay`` from
    every bias. The official recipe uses neither.
    """
    no_decay: set[int] = set()
    for module in model.modules():
        if config.no_norm_decay and isinstance(module, NORM_TYPES):
            no_decay.update(id(p) for p in module.parameters(recurse=False))
        bias = getattr(module, "bias", None)
        if config.no_bias_decay and isinstance(bias, nn.Parameter):
            no_decay.add(id(bias))
    decay_params, plain_params = [], []
    for param in model.parameters():
        if param.requires_grad:
            (plain_params if id(param) in no_decay else decay_params).append(param)
    groups = [{"params": decay_params, "weight_decay": config.weight_decay}]
    if plain_params:
        groups.append({"params": plain_params, "weight_decay": 0.0})
        logger.debug("%d parameters without weight decay", len(plain_params))
    return torch.optim.AdamW(
        groups, lr=config.lr, betas=tuple(config.betas), eps=config.eps,
        weight_decay=config.weight_decay,
    )


class LRSchedule:
    """Closed-form learning rate: linear warmup over the first steps, cosine over epochs.

    ``lr(epoch, step)``: ``step`` counts completed optimizer steps (0 at the first one). While
    ``step <= warmup_steps`` the warmup value ``base * (1 - (1 - step/W)(1 - ratio))`` overrides
    the cosine value ``eta_min + (base - eta_min)(1 + cos(pi * epoch / epochs)) / 2``.
    """

    def __init__(self, base_lr: float, epochs: int, eta_min: float = 0.0,
                 warmup_steps: int = 0, warmup_ratio: float = 1.0) -> None:
        self.base_lr = base_lr
        self.epochs = max(int(epochs), 1)
        self.eta_min = eta_min
        self.warmup_steps = int(warmup_steps)
        self.warmup_ratio = warmup_ratio

    @classmethod
    def from_config(cls, config: TrainConfig) -> LRSchedule:
        """The schedule of a training config."""
        return cls(config.optimizer.lr, config.epochs, config.eta_min,
                   config.warmup_steps, config.warmup_ratio)

    def cosine(self, epoch: int) -> float:
        """Learning rate of ``epoch`` (0-based) without warmup."""
        progress = math.cos(math.pi * epoch / self.epochs)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + progress) / 2

    def in_warmup(self, step: int) -> bool:
        """Whether the warmup value applies at this optimizer step."""
        return self.warmup_steps > 0 and step <= self.warmup_steps

    def lr(self, epoch: int, step: int) -> float:
        """Learning rate for the optimizer step ``step`` taken during ``epoch``."""
        if self.in_warmup(step):
            fraction = 1 - (1 - step / self.warmup_steps) * (1 - self.warmup_ratio)
            return self.base_lr * fraction
        return self.cosine(epoch)

    def apply(self, optimizer: torch.optim.Optimizer, epoch: int, step: int) -> float:
        """Set every parameter group's learning rate; returns the value set."""
        value = self.lr(epoch, step)
        for group in optimizer.param_groups:
            group["lr"] = value
        return value

    def state_dict(self) -> dict:
        """Settings of the schedule (it has no other state: the lr is a function of time)."""
        return {"base_lr": self.base_lr, "epochs": self.epochs, "eta_min": self.eta_min,
                "warmup_steps": self.warmup_steps, "warmup_ratio": self.warmup_ratio}

    def load_state_dict(self, state: dict) -> None:
        """Restore settings saved by :meth:`state_dict`."""
        for key, value in state.items():
            setattr(self, key, value)
