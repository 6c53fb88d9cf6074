"""Parity check of an exported model against PyTorch on an image, before the file is kept."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nanodet_plus.data.synthetic import synthetic_image
from nanodet_plus.errors import ExportError, FileMissingError

TOLERANCE = {"onnx": 1e-4, "torchscript": 1e-4, "openvino": 1e-4, "ncnn": 1e-3, "mnn": 1e-3}


def image_batch(
    image: str | Path | np.ndarray | None,
    input_size: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    batch: int = 1,
) -> np.ndarray:
    """``[batch, 3, H, W]`` float32: the image stretched to ``input_size`` (w, h), normalised.

    Images after the first are horizontally flipped copies so a batch is not all the same.
    """
    import cv2

    if image is None:
        bgr = synthetic_image()
    elif isinstance(image, np.ndarray):
        bgr = image
    else:
        bgr = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileMissingError(f"{image}: cannot read image")
    resized = cv2.resize(bgr, tuple(input_size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    normalised = (resized - np.float32(mean)) / np.float32(std)
    chw = normalised.transpose(2, 0, 1)
    items = [chw if i % 2 == 0 else chw[:, :, ::-1] for i in range(batch)]
    return np.ascontiguousarray(np.stack(items), dtype=np.float32)


def max_difference(expected: Sequence[np.ndarray], actual: Sequence[np.ndarray]) -> float:
    """Largest absolute difference over paired outputs; inf when shapes differ."""
    if len(expected) != len(actual):
        return float("inf")
    worst = 0.0
    for want, got in zip(expected, actual):
        got = np.asarray(got)
        if want.shape != got.shape:
            return float("inf")
        if want.size:
            worst = max(worst, float(np.max(np.abs(want.astype(np.float64) - got))))
    return worst


def check_parity(
    fmt: str,
    expected: Sequence[np.ndarray],
    actual: Sequence[np.ndarray],
    tolerance: float | None = None,
) -> float:
    """The max difference, or :class:`ExportError` naming it when beyond the tolerance."""
    limit = TOLERANCE[fmt] if tolerance is None else tolerance
    diff = max_difference(expected, actual)
    if not diff <= limit:
        shapes = [tuple(np.shape(a)) for a in actual]
        wanted = [tuple(e.shape) for e in expected]
        detail = f"shapes {shapes} vs {wanted}" if diff == float("inf") else f"{diff:.3g}"
        raise ExportError(
            f"{fmt} export does not match PyTorch: max difference {detail} > tolerance "
            f"{limit:g}; the file was not written"
        )
    return diff
