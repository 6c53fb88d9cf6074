"""SimpleConvHead, the Assign Guidance Module of NanoDet-Plus (reference-spec §6); training only."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nanodet_plus.layers.conv import ConvModule, DepthwiseConvModule
from nanodet_plus.layers.init import normal_init
from nanodet_plus.layers.scale import Scale
from nanodet_plus.models.heads.nanodet_plus_head import PRIOR_BIAS, flatten_levels


class SimpleConvHead(nn.Module):
    """GFL-style head: cls and reg towers of 3×3 conv+GN shared by all levels, per-level scale.

    ``conv_type="DWConv"`` makes the tower convs depthwise-separable (a lighter AGM; not in the
    official code).
    """

    def __init__(
        self,
        num_classes: int,
        input_channel: int = 192,
        feat_channels: int = 192,
        stacked_convs: int = 4,
        strides: Sequence[int] = (8, 16, 32, 64),
        norm: str = "GN",
        num_groups: int = 32,
        reg_max: int = 7,
        activation: str = "LeakyReLU",
        conv_type: str = "Conv",
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.strides = tuple(strides)
        self.reg_max = reg_max

        def conv(in_channels: int) -> nn.Module:
            if conv_type == "DWConv":
                return DepthwiseConvModule(in_channels, feat_channels, 3, 1, 1, norm=norm,
                                           activation=activation, num_groups=num_groups)
            return ConvModule(in_channels, feat_channels, 3, 1, 1, norm=norm,
                              activation=activation, num_groups=num_groups)

        def tower() -> nn.ModuleList:
            return nn.ModuleList(
                conv(input_channel if i == 0 else feat_channels) for i in range(stacked_convs)
            )

        self.cls_convs = tower()
        self.reg_convs = tower()
        self.gfl_cls = nn.Conv2d(feat_channels, num_classes, 3, padding=1)
        self.gfl_reg = nn.Conv2d(feat_channels, 4 * (reg_max + 1), 3, padding=1)
        self.scales = nn.ModuleList(Scale(1.0) for _ in self.strides)
        self.init_weights()

    def init_weights(self) -> None:
        """Tower convs ~ N(0, 0.01) (depthwise towers keep their own init); gfl_cls bias
        -4.595; gfl_reg bias 0; scales 1."""
        for module in [*self.cls_convs, *self.reg_convs]:
            if isinstance(module, ConvModule):
                normal_init(module.conv, std=0.01)
        normal_init(self.gfl_cls, std=0.01, bias=PRIOR_BIAS)
        normal_init(self.gfl_reg, std=0.01)

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        """Raw ``[B, N, C + 4 * (reg_max + 1)]`` in the main head's layout."""
        outputs = []
        for feat, scale in zip(feats, self.scales):
            cls_feat = feat
            reg_feat = feat
            for conv in self.cls_convs:
                cls_feat = conv(cls_feat)
            for conv in self.reg_convs:
                reg_feat = conv(reg_feat)
            outputs.append(torch.cat([self.gfl_cls(cls_feat), scale(self.gfl_reg(reg_feat))], 1))
        return flatten_levels(outputs)
