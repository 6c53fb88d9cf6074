"""Conv -> norm -> activation modules whose attribute names give the official state-dict keys."""

from __future__ import annotations

import torch
from torch import nn

from nanodet_plus.layers.activation import build_activation, init_nonlinearity
from nanodet_plus.layers.init import constant_init, kaiming_init

_NORM_ATTR = {"BN": "bn", "GN": "gn"}


class DepthwiseConv2d(nn.Conv2d):
    """``nn.Conv2d`` for depthwise convolutions that stays in fp32 under CPU autocast.

    oneDNN's bf16 depthwise backward runs about 2x slower than fp32 on CPU (even with AVX512-BF16),
    so a bf16 training step with the AGM is 10 % faster with these convolutions in fp32
    (docs/benchmarks.md). Same parameters and state-dict keys as ``nn.Conv2d``; outside
    CPU autocast it is ``nn.Conv2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float())
        return super().forward(x)


def build_norm(norm: str, channels: int, num_groups: int = 32) -> tuple[str, nn.Module]:
    """``(attribute name, layer)`` for a norm type: ``bn`` BatchNorm2d or ``gn`` GroupNorm."""
    if norm == "BN":
        return "bn", nn.BatchNorm2d(channels)
    if norm == "GN":
        return "gn", nn.GroupNorm(num_groups, channels)
    raise ValueError(f"unknown norm '{norm}' (known: BN, GN)")


class ConvModule(nn.Module):
    """Conv2d, then an optional norm (``bn``/``gn`` attribute) and an optional activation.

    The conv has a bias only without a norm layer, unless ``bias`` forces it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        norm: str | None = "BN",
        activation: str | None = "ReLU",
        num_groups: int = 32,
        bias: bool | None = None,
    ) -> None:
        super().__init__()
        use_bias = norm is None if bias is None else bias
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=use_bias
        )
        self.norm_name: str | None = None
        if norm is not None:
            self.norm_name, layer = build_norm(norm, out_channels, num_groups)
            self.add_module(self.norm_name, layer)
        self.act = build_activation(activation) if activation else None
        self.activation = activation
        self.init_weights()

    @property
    def norm(self) -> nn.Module | None:
        """The norm layer, whatever its attribute name."""
        return getattr(self, self.norm_name) if self.norm_name else None

    def init_weights(self) -> None:
        """Kaiming fan_out conv, unit norm weight, zero biases."""
        kaiming_init(self.conv, init_nonlinearity(self.activation))
        if self.norm is not None:
            constant_init(self.norm, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm_name is not None:
            x = getattr(self, self.norm_name)(x)
        if self.act is not None:
            x = self.act(x)
        return x


class DepthwiseConvModule(nn.Module):
    """Depthwise k×k conv -> dwnorm -> act -> pointwise 1×1 conv -> pwnorm -> act.

    Registration order (depthwise, pointwise, dwnorm, pwnorm) fixes the state-dict order.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        norm: str | None = "BN",
        activation: str | None = "ReLU",
        num_groups: int = 32,
    ) -> None:
        super().__init__()
        with_norm = norm is not None
        self.depthwise = DepthwiseConv2d(
            in_channels, in_channels, kernel_size, stride, padding,
            groups=in_channels, bias=not with_norm,
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=not with_norm)
        if with_norm:
            self.dwnorm = build_norm(norm, in_channels, num_groups)[1]
            self.pwnorm = build_norm(norm, out_channels, num_groups)[1]
        else:
            self.dwnorm = nn.Identity()
            self.pwnorm = nn.Identity()
        self.act = build_activation(activation) if activation else nn.Identity()
        self.activation = activation
        self.init_weights()

    def init_weights(self) -> None:
        """Kaiming fan_out convs, unit norm weights, zero biases."""
        nonlinearity = init_nonlinearity(self.activation)
        kaiming_init(self.depthwise, nonlinearity)
        kaiming_init(self.pointwise, nonlinearity)
        for norm in (self.dwnorm, self.pwnorm):
            if not isinstance(norm, nn.Identity):
                constant_init(norm, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.dwnorm(self.depthwise(x)))
        return self.act(self.pwnorm(self.pointwise(x)))
