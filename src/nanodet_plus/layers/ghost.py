"""GhostNet modules used by Ghost-PAN (reference-spec §4.1-4.3); PyTorch default init."""

from __future__ import annotations

import math

import torch
from torch import nn

from nanodet_plus.layers.activation import build_activation
from nanodet_plus.layers.conv import ConvModule, DepthwiseConv2d


class GhostModule(nn.Module):
    """Half the channels from a 1×1 conv, the other half from a cheap 3×3 depthwise conv on them."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        activation: str | None = "LeakyReLU",
        ratio: int = 2,
        cheap_kernel: int = 3,
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        init_channels = math.ceil(out_channels / ratio)
        new_channels = init_channels * (ratio - 1)
        self.primary_conv = nn.Sequential(
            nn.Conv2d(in_channels, init_channels, 1, bias=False),
            nn.BatchNorm2d(init_channels),
            build_activation(activation) if activation else nn.Sequential(),
        )
        self.cheap_operation = nn.Sequential(
            DepthwiseConv2d(
                init_channels, new_channels, cheap_kernel, 1, cheap_kernel // 2,
                groups=init_channels, bias=False,
            ),
            nn.BatchNorm2d(new_channels),
            build_activation(activation) if activation else nn.Sequential(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        primary = self.primary_conv(x)
        out = torch.cat([primary, self.cheap_operation(primary)], dim=1)
        return out if out.shape[1] == self.out_channels else out[:, : self.out_channels]


class GhostBottleneck(nn.Module):
    """ghost1 (with act) -> ghost2 (no act), plus an identity or depthwise-separable shortcut."""

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        dw_kernel_size: int = 5,
        activation: str | None = "LeakyReLU",
    ) -> None:
        super().__init__()
        self.ghost1 = GhostModule(in_channels, mid_channels, activation=activation)
        self.ghost2 = GhostModule(mid_channels, out_channels, activation=None)
        if in_channels == out_channels:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = nn.Sequential(
                DepthwiseConv2d(
                    in_channels, in_channels, dw_kernel_size, 1, (dw_kernel_size - 1) // 2,
                    groups=in_channels, bias=False,
                ),
                nn.BatchNorm2d(in_channels),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ghost2(self.ghost1(x)) + self.shortcut(x)


class GhostBlocks(nn.Module):
    """A stack of GhostBottlenecks with an optional 1×1 residual projection (``use_res``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        expand: float = 1,
        kernel_size: int = 5,
        num_blocks: int = 1,
        use_res: bool = False,
        activation: str | None = "LeakyReLU",
    ) -> None:
        super().__init__()
        if num_blocks < 1:
            raise ValueError(f"GhostBlocks needs num_blocks >= 1, got {num_blocks}")
        self.use_res = use_res
        if use_res:
            self.reduce_conv = ConvModule(
                in_channels, out_channels, 1, norm=None, activation=activation
            )
        mid_channels = int(out_channels * expand)
        self.blocks = nn.Sequential(
            *(
                GhostBottleneck(
                    in_channels if i == 0 else out_channels, mid_channels, out_channels,
                    dw_kernel_size=kernel_size, activation=activation,
                )
                for i in range(num_blocks)
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(x)
        if self.use_res:
            out = out + self.reduce_conv(x)
        return out
