"""Export-time rewrite of the ShuffleNetV2 backbone without its channel shuffles.

A channel shuffle only reorders channels, and every consumer of a shuffled tensor is either a
1x1 convolution (which takes its input channels in any order once its weight columns are
permuted the same way) or a depthwise convolution (per channel: permute its filters and the
BatchNorm after it). So the exported graph keeps each branch output where it was computed and
feeds the next branch the channels it needs as one concatenation of runs; the stage output
is one concatenation, and the layers that read it (the next stage, the neck's reduce layers)
get their weights permuted to match. Outputs equal the original model's up to the float
summation order inside those convolutions.

Each branch output is cut into its runs by one split op rather than a slice per run: NNCF
then places one quantiser on the branch output, which OpenVINO fuses into the convolution that
computes it, so the split and the concatenations move 8-bit data instead of float data
quantised slice by slice (0.5 ms less at 416 on the Zen 4 machine, NNCF INT8, 1 thread).

Runtimes otherwise execute each shuffle as a 5-D concat (or reshape-transpose-reshape) in a
plain layout, with layout reorders around it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nanodet_plus.models.backbones.shufflenetv2 import ShuffleNetV2


@dataclass(frozen=True)
class Run:
    """Channels ``start:stop`` of piece ``piece`` (a branch output of the current stage)."""

    piece: int
    start: int
    stop: int


def channel_runs(refs: np.ndarray) -> tuple[list[Run], np.ndarray]:
    """``refs[i] = (piece, channel)`` of logical channel i -> the contiguous runs that hold
    them, in physical order (by piece, then channel), and for each physical channel its logical
    index."""
    order = np.lexsort((refs[:, 1], refs[:, 0]))
    ordered = refs[order]
    runs, start = [], 0
    for index in range(1, len(ordered) + 1):
        if (index == len(ordered) or ordered[index, 0] != ordered[index - 1, 0]
                or ordered[index, 1] != ordered[index - 1, 1] + 1):
            runs.append(Run(int(ordered[start, 0]), int(ordered[start, 1]),
                            int(ordered[index - 1, 1]) + 1))
            start = index
    return runs, order


def piece_cuts(run_lists: list[list[Run]]) -> dict[int, list[int]]:
    """Channel boundaries of each piece over all the runs read from it (which partition it):
    piece -> ``[0, ..., channels]``."""
    cuts: dict[int, set[int]] = {}
    for runs in run_lists:
        for run in runs:
            cuts.setdefault(run.piece, set()).update((run.start, run.stop))
    result = {piece: sorted(points) for piece, points in cuts.items()}
    segments = sum(len(points) - 1 for points in result.values())
    if segments != sum(len(runs) for runs in run_lists):
        raise ValueError("the runs of a stage must partition its pieces")
    return result


def interleave(kept: np.ndarray, piece: int) -> np.ndarray:
    """Logical channels of ``concat_shuffle(kept, new)``: 2j is ``kept[j]``, 2j+1 is channel j
    of the new piece."""
    count = len(kept)
    refs = np.empty((2 * count, 2), dtype=np.int64)
    refs[0::2] = kept
    refs[1::2, 0] = piece
    refs[1::2, 1] = np.arange(count)
    return refs


def _permute_inputs(conv: nn.Conv2d, order: np.ndarray) -> None:
    """Physical input channel p of ``conv`` now carries logical channel ``order[p]``."""
    with torch.no_grad():
        conv.weight.copy_(conv.weight[:, torch.as_tensor(order)])


def _permute_channels(module: nn.Module, order: np.ndarray) -> None:
    """A per-channel layer (depthwise conv, BatchNorm) applied to permuted channels."""
    index = torch.as_tensor(order)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean", "running_var"):
            tensor = getattr(module, name, None)
            if tensor is not None:
                tensor.copy_(tensor[index])


class ShuffleFreeBackbone(nn.Module):
    """The blocks of a ShuffleNetV2 run without shuffles (see the module docstring).

    ``input_orders[stage]`` is the logical index of each physical channel of that stage's
    materialised output, which the caller folds into the layers that read it.
    """

    def __init__(self, backbone: ShuffleNetV2) -> None:
        super().__init__()
        if backbone.with_last_conv:
            raise ValueError("the shuffle-free rewrite does not handle with_last_conv")
        self.conv1, self.maxpool = backbone.conv1, backbone.maxpool
        self.out_stages = backbone.out_stages
        self.last_stage = max(backbone.out_stages)
        self.stages = nn.ModuleList()
        self.block_runs: list[list[list[Run]]] = []
        self.out_runs: list[list[Run]] = []
        self.piece_cuts: list[dict[int, list[int]]] = []
        self.output_orders: dict[int, np.ndarray] = {}
        order = None  # logical index of each physical channel of the stage input
        for stage in range(2, self.last_stage + 1):
            blocks = getattr(backbone, f"stage{stage}")
            first = blocks[0]
            if order is not None:
                _permute_channels(first.branch1[0], order)
                _permute_channels(first.branch1[1], order)
                _permute_inputs(first.branch1[2], order)
                _permute_inputs(first.branch2[0], order)
            half = first.branch2[-3].out_channels
            refs = interleave(np.stack([np.zeros(half, np.int64), np.arange(half)], 1), 1)
            runs_per_block = []
            for index, block in enumerate(blocks[1:], start=2):
                processed = refs[len(refs) // 2:]
                runs, physical = channel_runs(processed)
                _permute_inputs(block.branch2[0], physical)
                runs_per_block.append(runs)
                refs = interleave(refs[: len(refs) // 2], index)
            runs, order = channel_runs(refs)
            self.stages.append(blocks)
            self.block_runs.append(runs_per_block)
            self.out_runs.append(runs)
            self.piece_cuts.append(piece_cuts([*runs_per_block, runs]))
            self.output_orders[stage] = order

    @staticmethod
    def _split(piece: torch.Tensor, cuts: list[int]) -> dict[int, torch.Tensor]:
        """The runs of ``piece``, keyed by first channel: one split op, not a slice per run."""
        if len(cuts) == 2:
            return {0: piece}
        sizes = np.diff(cuts).tolist()
        return dict(zip(cuts, torch.split(piece, sizes, dim=1)))

    @staticmethod
    def _gather(parts: list[dict[int, torch.Tensor]], runs: list[Run]) -> torch.Tensor:
        tensors = [parts[run.piece][run.start] for run in runs]
        return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.conv1(x))
        outputs = []
        for stage, blocks, block_runs, out_runs, cuts in zip(
            range(2, self.last_stage + 1), self.stages, self.block_runs, self.out_runs,
            self.piece_cuts,
        ):
            first = blocks[0]
            parts = [self._split(first.branch1(x), cuts[0]), self._split(first.branch2(x), cuts[1])]
            for block, runs in zip(list(blocks)[1:], block_runs):
                parts.append(self._split(block.branch2(self._gather(parts, runs)),
                                         cuts[len(parts)]))
            x = self._gather(parts, out_runs)
            if stage in self.out_stages:
                outputs.append(x)
        return tuple(outputs)


def without_channel_shuffles(inference_model: nn.Module) -> nn.Module:
    """A copy of ``inference_model`` (backbone -> fpn -> head) whose ShuffleNetV2 runs without
    shuffles, the neck's reduce layers reading the permuted stage outputs; the model itself is
    returned when its backbone is another kind."""
    backbone = inference_model.backbone
    if not isinstance(backbone, ShuffleNetV2) or backbone.with_last_conv:
        return inference_model
    rewritten = copy.deepcopy(inference_model)
    free = ShuffleFreeBackbone(rewritten.backbone)
    for layer, stage in zip(rewritten.fpn.reduce_layers, free.out_stages):
        _permute_inputs(layer.conv, free.output_orders[stage])
    rewritten.backbone = free
    return rewritten.eval()
