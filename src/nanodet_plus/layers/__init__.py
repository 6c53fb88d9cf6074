"""Building blocks shared by the backbone, neck and heads."""

from nanodet_plus.layers.activation import build_activation
from nanodet_plus.layers.conv import ConvModule, DepthwiseConv2d, DepthwiseConvModule, build_norm
from nanodet_plus.layers.ghost import GhostBlocks, GhostBottleneck, GhostModule
from nanodet_plus.layers.scale import Scale

__all__ = [
    "ConvModule",
    "DepthwiseConv2d",
    "DepthwiseConvModule",
    "GhostBlocks",
    "GhostBottleneck",
    "GhostModule",
    "Scale",
    "build_activation",
    "build_norm",
]
