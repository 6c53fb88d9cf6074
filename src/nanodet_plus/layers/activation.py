"""Activation layers by config name; LeakyReLU uses the 0.1 slope of every NanoDet-Plus config."""

from __future__ import annotations

from torch import nn

LEAKY_SLOPE = 0.1

_ACTIVATIONS = {
    "ReLU": lambda: nn.ReLU(inplace=True),
    "LeakyReLU": lambda: nn.LeakyReLU(negative_slope=LEAKY_SLOPE, inplace=True),
    "ReLU6": lambda: nn.ReLU6(inplace=True),
    "SELU": lambda: nn.SELU(inplace=True),
    "ELU": lambda: nn.ELU(inplace=True),
    "GELU": lambda: nn.GELU(),
    "SiLU": lambda: nn.SiLU(inplace=True),
    "Hardswish": lambda: nn.Hardswish(inplace=True),
}


def build_activation(name: str | None) -> nn.Module:
    """An activation module for ``name``; ``None`` gives an identity."""
    if name is None:
        return nn.Identity()
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        known = ", ".join(_ACTIVATIONS)
        raise ValueError(f"unknown activation '{name}' (known: {known})") from None


def init_nonlinearity(name: str | None) -> str:
    """The ``nonlinearity`` argument for Kaiming init that matches an activation name."""
    return "leaky_relu" if name == "LeakyReLU" else "relu"
