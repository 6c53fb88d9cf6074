"""Inference-only speed-up: fold eval-mode BatchNorm into the preceding convolution.

Works on a deep copy, so training modules are never touched. The result computes the same
function as the eval-mode model (up to float rounding) with fewer ops.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import nn

from nanodet_plus.layers.conv import ConvModule, DepthwiseConvModule


def fold_batchnorm(conv: nn.Conv2d, norm: nn.BatchNorm2d) -> nn.Conv2d:
    """A conv with bias computing ``norm(conv(x))`` in eval mode; the fold is done in float64."""
    dtype = conv.weight.dtype
    scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    fused = copy.deepcopy(conv)
    if fused.bias is None:
        fused.bias = nn.Parameter(torch.empty_like(norm.running_mean))
    shape = (-1,) + (1,) * (conv.weight.dim() - 1)
    fused.weight.data = (conv.weight.double() * scale.reshape(shape)).to(dtype)
    fused.bias.data = ((bias - norm.running_mean.double()) * scale + norm.bias.double()).to(dtype)
    return fused


def _fold(conv: nn.Module, norm: nn.Module) -> nn.Conv2d | None:
    if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.affine and (
        norm.track_running_stats
    ):
        return fold_batchnorm(conv, norm)
    return None


def _fuse_sequential(seq: nn.Sequential) -> None:
    names = list(seq._modules)
    for first, second in itertools.pairwise(names):
        fused = _fold(seq._modules[first], seq._modules[second])
        if fused is not None:
            seq._modules[first] = fused
            seq._modules[second] = nn.Identity()


def _fuse_in_place(root: nn.Module) -> int:
    count = 0
    for module in list(root.modules()):
        if isinstance(module, ConvModule) and module.norm_name is not None:
            fused = _fold(module.conv, module.norm)
            if fused is not None:
                module.conv = fused
                setattr(module, module.norm_name, nn.Identity())
                count += 1
        elif isinstance(module, DepthwiseConvModule):
            for conv_name, norm_name in (("depthwise", "dwnorm"), ("pointwise", "pwnorm")):
                fused = _fold(getattr(module, conv_name), getattr(module, norm_name))
                if fused is not None:
                    setattr(module, conv_name, fused)
                    setattr(module, norm_name, nn.Identity())
                    count += 1
        elif isinstance(module, nn.Sequential):
            before = sum(isinstance(m, nn.BatchNorm2d) for m in module.children())
            _fuse_sequential(module)
            count += before - sum(isinstance(m, nn.BatchNorm2d) for m in module.children())
    return count


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """An eval-mode deep copy of ``module`` with every conv->BatchNorm pair folded into one conv."""
    fused = copy.deepcopy(module).eval()
    with torch.no_grad():
        _fuse_in_place(fused)
    for parameter in fused.parameters():
        parameter.requires_grad_(False)
    return fused
