"""Model facts for ``nanodet info`` and reports: parameter counts, FLOPs, output layout."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nanodet_plus.ops.priors import feature_sizes


@dataclass
class ModelSummary:
    """Sizes of a NanoDet-Plus model at one input size ``(width, height)``."""

    input_size: tuple[int, int]
    parameters_by_module: dict[str, int]
    inference_parameters: int
    inference_conv_parameters: int  # conv weights and biases only (the README's "1.17M" count)
    total_parameters: int
    flops: int  # 2 × multiply-accumulates of every convolution of the inference graph
    num_points: int
    channels: int
    num_classes: int
    reg_max: int
    strides: tuple[int, ...]
    level_sizes: list[tuple[int, int]]  # (width, height) of each level


def count_conv_flops(module: nn.Module, images: torch.Tensor) -> int:
    """FLOPs (2 × MACs) of one forward, counted by ``torch.utils.flop_counter.FlopCounterMode``.

    The counter covers convolutions and matrix products; the NanoDet-Plus inference graph has
    only convolutions, so element-wise ops, pooling, interpolation and concatenation are free.
    """
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(images)
    return int(counter.get_total_flops())


def summarize(model: nn.Module, input_size: tuple[int, int]) -> ModelSummary:
    """Parameter counts (all / inference), FLOPs and output layout at ``input_size`` (W, H)."""
    width, height = input_size
    by_module = {
        name: sum(p.numel() for p in child.parameters())
        for name, child in model.named_children()
        if child is not None
    }
    inference = sum(n for name, n in by_module.items() if not name.startswith("aux_"))
    conv_parameters = sum(
        p.numel()
        for name, module in model.named_modules()
        if isinstance(module, nn.Conv2d) and not name.startswith("aux_")
        for p in module.parameters(recurse=False)
    )
    deploy = model.inference_model() if hasattr(model, "inference_model") else model
    images = torch.zeros(1, 3, height, width)
    flops = count_conv_flops(deploy, images)
    with torch.no_grad():
        out = deploy(images)
    strides = tuple(model.config.head.strides)
    return ModelSummary(
        input_size=(width, height),
        parameters_by_module=by_module,
        inference_parameters=inference,
        inference_conv_parameters=conv_parameters,
        total_parameters=sum(by_module.values()),
        flops=flops,
        num_points=out.shape[1],
        channels=out.shape[2],
        num_classes=model.config.num_classes,
        reg_max=model.config.head.reg_max,
        strides=strides,
        level_sizes=[(w, h) for h, w in feature_sizes((height, width), strides)],
    )
