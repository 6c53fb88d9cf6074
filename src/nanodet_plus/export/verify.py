"""Parity check of an exported model against PyTorch on an image, before the file is kept."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nanodet_plus.errors import ExportError, FileMissingError

TOLERANCE = {"onnx": 1e-4, "torchscript": 1e-4, "openvino": 1e-4, "ncnn": 1e-3, "mnn": 1e-3}


def synthetic_image(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """A deterministic BGR uint8 scene (smooth background, filled shapes) for verification."""
    import cv2

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(12):
        x, y = int(rng.integers(0, width - 40)), int(rng.integers(0, height - 40))
        w, h = int(rng.integers(20, width // 3)), int(rng.integers(20, height // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x, y), (x + w, y + h), colour, -1)
        else:
            cv2.ellipse(image, (x, y), (w // 2, h // 2), 0, 0, 360, colour, -1)
    return image


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
