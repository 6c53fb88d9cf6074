"""What every runtime backend provides, and the class names a model file without any gets."""

from __future__ import annotations

import re
from typing import Protocol

import numpy as np

from nanodet_plus.data.coco_classes import COCO_CLASSES
from nanodet_plus.model_meta import ModelMeta


class Backend(Protocol):
    """A runtime that runs the detector graph."""

    meta: ModelMeta
    name: str

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """``[B, 3, H, W]`` float32 normalised BGR -> raw ``[B, N, C + 4 * (R + 1)]`` float32."""
        ...


def default_class_names(num_classes: int) -> list[str] | None:
    """The COCO names for an 80-class model that names none (official weights and exports are
    COCO models); None otherwise, and detections are then named by class index."""
    return list(COCO_CLASSES) if num_classes == len(COCO_CLASSES) else None


def with_default_class_names(meta: ModelMeta) -> ModelMeta:
    """``meta`` with :func:`default_class_names` filled in when it has no class names."""
    if meta.class_names is None:
        meta.class_names = default_class_names(meta.num_classes)
    return meta


def runtime_reason(exc: Exception) -> str:
    """The gist of a runtime's error about a model file, on one line: its first sentence
    without source locations, error codes and the repeated file name (``Protobuf parsing
    failed.``)."""
    lines = [line.strip() for line in str(exc).splitlines()
             if line.strip() and not line.startswith("Exception from ")]
    text = lines[0].split(" : ")[-1] if lines else type(exc).__name__
    text = re.sub(r"^.*? failed: ?", "", text) or text
    return re.split(r"(?<=\.) ", text)[0]
