"""ShuffleNetV2 backbone (reference-spec §3), attribute names shared with torchvision."""

from __future__ import annotations

import torch
from torch import nn

from nanodet_plus.config.schema import SHUFFLENET_WIDTHS
from nanodet_plus.layers.activation import build_activation
from nanodet_plus.layers.conv import DepthwiseConv2d

STAGE_REPEATS = (4, 8, 4)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave channel groups: output channel g·k + i comes from group i, position k."""
    batch, channels, height, width = x.shape
    x = x.view(batch, groups, channels // groups, height, width).transpose(1, 2)
    return x.reshape(batch, channels, height, width)


def concat_shuffle(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``channel_shuffle(cat([first, second]), 2)`` in one copy, keeping the memory format.

    Output channel 2j is ``first[:, j]`` and 2j+1 is ``second[:, j]``.
    """
    if second.stride(1) == 1 and second.shape[2] * second.shape[3] > 1:  # channels-last data
        nhwc = torch.stack((first.permute(0, 2, 3, 1), second.permute(0, 2, 3, 1)), dim=-1)
        return nhwc.flatten(-2).permute(0, 3, 1, 2)
    return torch.stack((first, second), dim=2).flatten(1, 2)


def _depthwise(channels: int, stride: int) -> nn.Conv2d:
    return DepthwiseConv2d(channels, channels, 3, stride, 1, groups=channels, bias=False)


class ShuffleV2Block(nn.Module):
    """One ShuffleNetV2 unit: split (or duplicate at stride 2), two branches, concat, shuffle."""

    def __init__(self, inp: int, oup: int, stride: int, activation: str = "ReLU") -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"ShuffleV2Block stride must be 1 or 2, got {stride}")
        branch = oup // 2
        if stride == 1 and inp != 2 * branch:
            raise ValueError(f"stride-1 ShuffleV2Block needs inp == oup, got {inp} -> {oup}")
        self.stride = stride
        if stride > 1:
            self.branch1 = nn.Sequential(
                _depthwise(inp, stride),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch, 1, bias=False),
                nn.BatchNorm2d(branch),
                build_activation(activation),
            )
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch, branch, 1, bias=False),
            nn.BatchNorm2d(branch),
            build_activation(activation),
            _depthwise(branch, stride),
            nn.BatchNorm2d(branch),
            nn.Conv2d(branch, branch, 1, bias=False),
            nn.BatchNorm2d(branch),
            build_activation(activation),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            kept, processed = x.chunk(2, dim=1)
            return concat_shuffle(kept, self.branch2(processed))
        return concat_shuffle(self.branch1(x), self.branch2(x))


class ShuffleNetV2(nn.Module):
    """ShuffleNetV2 returning the outputs of ``out_stages`` (strides 8, 16, 32 for 2, 3, 4)."""

    def __init__(
        self,
        model_size: str = "1.0x",
        out_stages: tuple[int, ...] = (2, 3, 4),
        with_last_conv: bool = False,
        activation: str = "ReLU",
    ) -> None:
        super().__init__()
        if model_size not in SHUFFLENET_WIDTHS:
            known = ", ".join(SHUFFLENET_WIDTHS)
            raise ValueError(f"ShuffleNetV2 model_size '{model_size}' is not one of {known}")
        if not out_stages or not set(out_stages) <= {2, 3, 4}:
            raise ValueError(f"ShuffleNetV2 out_stages must be a subset of (2, 3, 4): {out_stages}")
        self.model_size = model_size
        self.out_stages = tuple(out_stages)
        self.with_last_conv = with_last_conv
        widths = SHUFFLENET_WIDTHS[model_size]
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 2, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            build_activation(activation),
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_width = widths[0]
        for index, (repeats, width) in enumerate(zip(STAGE_REPEATS, widths[1:4]), start=2):
            blocks = [ShuffleV2Block(in_width, width, 2, activation)]
            blocks += [ShuffleV2Block(width, width, 1, activation) for _ in range(repeats - 1)]
            stage = nn.Sequential(*blocks)
            setattr(self, f"stage{index}", stage)
            in_width = width
        if with_last_conv:
            self.stage4.add_module(
                "conv5",
                nn.Sequential(
                    nn.Conv2d(in_width, widths[4], 1, bias=False),
                    nn.BatchNorm2d(widths[4]),
                    build_activation(activation),
                ),
            )
        self.out_channels = tuple(
            widths[4] if (stage == 4 and with_last_conv) else widths[stage - 1]
            for stage in self.out_stages
        )
        self.init_weights()

    def init_weights(self) -> None:
        """Official init: conv ~ N(0, 1/fan_in_per_group), BN weight 1, bias 1e-4, mean 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 1.0 / module.weight.shape[1])
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.constant_(module.bias, 1e-4)
                nn.init.zeros_(module.running_mean)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.conv1(x))
        outputs = []
        for stage in (2, 3, 4):
            x = getattr(self, f"stage{stage}")(x)
            if stage in self.out_stages:
                outputs.append(x)
            if stage >= max(self.out_stages):
                break
        return tuple(outputs)
