"""What every runtime backend provides, and the metadata that travels with exported models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from nanodet_plus.config.schema import BGR_MEAN, BGR_STD


@dataclass
class ModelMeta:
    """Everything post-processing needs to know about a model, whatever runtime runs it.

    ``scores_are_sigmoid`` is True for the official deploy layout (sigmoid in the graph).
    ``input_size`` is ``(width, height)``; ``fixed_shape`` is False when the runtime accepts
    other sizes (PyTorch, dynamic ONNX).
    """

    num_classes: int
    class_names: list[str] | None = None
    input_size: tuple[int, int] = (416, 416)
    strides: tuple[int, ...] = (8, 16, 32, 64)
    reg_max: int = 7
    project: list[float] | None = None  # integral weights; None means 0..reg_max
    mean: tuple[float, float, float] = BGR_MEAN
    std: tuple[float, float, float] = BGR_STD
    keep_ratio: bool = False
    scores_are_sigmoid: bool = False
    fixed_shape: bool = False
    batch_size: int | None = None  # fixed batch of an exported graph, None when dynamic
    extra: dict = field(default_factory=dict)


class Backend(Protocol):
    """A runtime that runs the detector graph."""

    meta: ModelMeta
    name: str

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """``[B, 3, H, W]`` float32 normalised BGR -> raw ``[B, N, C + 4 * (R + 1)]`` float32."""
        ...
