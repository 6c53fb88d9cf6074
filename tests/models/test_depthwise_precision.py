"""Depthwise convolutions stay in fp32 under CPU bf16 autocast (faster there), and only there."""

from __future__ import annotations

import torch
from torch import nn

from nanodet_plus.config.loader import load_config
from nanodet_plus.layers.conv import DepthwiseConv2d
from nanodet_plus.models.factory import build_model


def test_depthwise_conv_runs_fp32_under_cpu_autocast() -> None:
    torch.manual_seed(0)
    conv = DepthwiseConv2d(8, 8, 5, padding=2, groups=8, bias=False)
    plain = nn.Conv2d(8, 8, 5, padding=2, groups=8, bias=False)
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(2, 8, 12, 12)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = conv(x.bfloat16())
        plain_inside = plain(x)
    assert inside.dtype == torch.float32 and plain_inside.dtype == torch.bfloat16
    torch.testing.assert_close(inside, plain(x.bfloat16().float()))
    assert torch.equal(conv(x), plain(x))  # outside autocast: nn.Conv2d


def test_every_depthwise_conv_of_the_model_uses_it() -> None:
    model = build_model(load_config("nanodet-plus-m_320").model)
    depthwise = [m for m in model.modules()
                 if isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels]
    assert depthwise and all(isinstance(m, DepthwiseConv2d) for m in depthwise)
