"""Ghost-PAN neck (reference-spec §4): top-down and bottom-up paths plus extra stride-2 levels."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nanodet_plus.layers.conv import ConvModule, DepthwiseConvModule
from nanodet_plus.layers.ghost import GhostBlocks


class GhostPAN(nn.Module):
    """PAN over ``len(in_channels)`` inputs with GhostBlocks fusion and ``num_extra_level`` extras.

    The extra level l is ``extra_lvl_in_conv[l](reduced top input) + extra_lvl_out_conv[l](top
    output)``, as in the official code.
    """

    def __init__(
        self,
        in_channels: Sequence[int],
        out_channels: int,
        use_depthwise: bool = False,
        kernel_size: int = 5,
        expand: float = 1,
        num_blocks: int = 1,
        use_res: bool = False,
        num_extra_level: int = 0,
        upsample_mode: str = "bilinear",
        norm: str = "BN",
        activation: str = "LeakyReLU",
    ) -> None:
        super().__init__()
        if num_extra_level < 0:
            raise ValueError(f"GhostPAN num_extra_level must be >= 0, got {num_extra_level}")
        if num_blocks < 1:
            raise ValueError(f"GhostPAN num_blocks must be >= 1, got {num_blocks}")
        self.in_channels = tuple(in_channels)
        self.out_channels = out_channels
        self.upsample_mode = upsample_mode
        levels = len(self.in_channels)

        def down_conv() -> nn.Module:
            if use_depthwise:
                return DepthwiseConvModule(
                    out_channels, out_channels, kernel_size, 2, kernel_size // 2,
                    norm=norm, activation=activation,
                )
            return ConvModule(
                out_channels, out_channels, kernel_size, 2, kernel_size // 2,
                norm=norm, activation=activation,
            )

        def fuse_block() -> GhostBlocks:
            return GhostBlocks(
                out_channels * 2, out_channels, expand, kernel_size=kernel_size,
                num_blocks=num_blocks, use_res=use_res, activation=activation,
            )

        self.reduce_layers = nn.ModuleList(
            ConvModule(c, out_channels, 1, norm=norm, activation=activation)
            for c in self.in_channels
        )
        self.top_down_blocks = nn.ModuleList(fuse_block() for _ in range(levels - 1))
        self.downsamples = nn.ModuleList(down_conv() for _ in range(levels - 1))
        self.bottom_up_blocks = nn.ModuleList(fuse_block() for _ in range(levels - 1))
        self.extra_lvl_in_conv = nn.ModuleList(down_conv() for _ in range(num_extra_level))
        self.extra_lvl_out_conv = nn.ModuleList(down_conv() for _ in range(num_extra_level))

    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample_mode == "nearest":
            return nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
        return nn.functional.interpolate(
            x, scale_factor=2.0, mode=self.upsample_mode, align_corners=False
        )

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f"GhostPAN expects {len(self.in_channels)} inputs, got {len(inputs)}")
        reduced = [layer(x) for layer, x in zip(self.reduce_layers, inputs)]
        top_down = [reduced[-1]]
        for index in range(len(reduced) - 2, -1, -1):
            block = self.top_down_blocks[len(reduced) - 2 - index]
            upsampled = self._upsample(top_down[0])
            top_down.insert(0, block(torch.cat([upsampled, reduced[index]], dim=1)))
        outputs = [top_down[0]]
        for index in range(len(reduced) - 1):
            downsampled = self.downsamples[index](outputs[-1])
            fused = torch.cat([downsampled, top_down[index + 1]], dim=1)
            outputs.append(self.bottom_up_blocks[index](fused))
        for in_conv, out_conv in zip(self.extra_lvl_in_conv, self.extra_lvl_out_conv):
            outputs.append(in_conv(reduced[-1]) + out_conv(outputs[-1]))
        return tuple(outputs)
