"""Weight initialisers matching the official NanoDet-Plus initialisation (reference-spec §2-6)."""

from __future__ import annotations

from torch import nn


def kaiming_init(module: nn.Module, nonlinearity: str = "leaky_relu") -> None:
    """Kaiming-normal fan_out weights (a=0, so gain sqrt(2)) and zero bias."""
    nn.init.kaiming_normal_(module.weight, a=0, mode="fan_out", nonlinearity=nonlinearity)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


def normal_init(module: nn.Module, std: float = 0.01, bias: float = 0.0) -> None:
    """Normal(0, std) weights and a constant bias."""
    nn.init.normal_(module.weight, mean=0.0, std=std)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)


def constant_init(module: nn.Module, value: float, bias: float = 0.0) -> None:
    """Constant weight and bias (norm layers)."""
    nn.init.constant_(module.weight, value)
    if getattr(module, "bias", None) is not None:
        nn.init.constant_(module.bias, bias)
