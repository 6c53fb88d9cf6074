"""Inference preprocessing shared by every runtime: warp, normalise, CHW, pad into one batch.

Follows the official evaluation pipeline (reference-spec §12.2-12.4): the image is produced with
``cv2.warpPerspective`` and the resize matrix (``cv2.resize``, whose sampling differs, only on
request, for reduced-precision paths that are not exact anyway),
normalised in float32 as ``(img / 255 - mean / 255) / (std / 255)`` with BGR mean/std, and
padded with zeros at the bottom and right to a multiple of 32 after normalisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from nanodet_plus.config.schema import BGR_MEAN, BGR_STD
from nanodet_plus.data.transforms.geometry import resize_matrix
from nanodet_plus.errors import DataError, FileMissingError, UsageError

PAD_DIVISOR = 32


@dataclass
class PreparedBatch:
    """A network-ready batch and what post-processing needs to map boxes back.

    ``images`` ``[B, 3, H, W]`` float32; ``warp_matrices[i]`` maps image i's original pixels to
    input pixels; ``orig_sizes[i]`` is its original ``(width, height)``.
    """

    images: np.ndarray
    warp_matrices: list[np.ndarray]
    orig_sizes: list[tuple[int, int]]

    @property
    def input_hw(self) -> tuple[int, int]:
        """``(H, W)`` of the padded input tensor, which fixes the centre priors."""
        return int(self.images.shape[2]), int(self.images.shape[3])


def warp_image(
    image: np.ndarray, input_size: tuple[int, int], keep_ratio: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The image warped to the network input and its 3x3 warp matrix (original -> input)."""
    height, width = image.shape[:2]
    matrix, out_wh = resize_matrix((width, height), tuple(input_size), keep_ratio)
    warped = cv2.warpPerspective(image, matrix, out_wh)
    return warped, matrix


def normalize(
    image: np.ndarray,
    mean: Sequence[float] = BGR_MEAN,
    std: Sequence[float] = BGR_STD,
) -> np.ndarray:
    """Float32 HWC image normalised like the official pipeline (BGR mean/std on a 0-255 scale)."""
    mean_unit = np.asarray(mean, dtype=np.float32).reshape(1, 1, 3) / np.float32(255)
    std_unit = np.asarray(std, dtype=np.float32).reshape(1, 1, 3) / np.float32(255)
    scaled = image.astype(np.float32) / np.float32(255)
    scaled -= mean_unit
    scaled /= std_unit
    return scaled


def normalize_chw(
    image: np.ndarray,
    mean: Sequence[float] = BGR_MEAN,
    std: Sequence[float] = BGR_STD,
) -> np.ndarray:
    """:func:`normalize` written straight to CHW, channel by channel (same float32 values, no
    HWC temporaries or transpose copy; about 4x faster)."""
    mean_unit = np.asarray(mean, dtype=np.float32) / np.float32(255)
    std_unit = np.asarray(std, dtype=np.float32) / np.float32(255)
    out = np.empty((image.shape[2], *image.shape[:2]), dtype=np.float32)
    for channel in range(image.shape[2]):
        plane = out[channel]
        np.divide(image[:, :, channel], np.float32(255), out=plane, dtype=np.float32)
        np.subtract(plane, mean_unit[channel], out=plane)
        np.divide(plane, std_unit[channel], out=plane)
    return out


def pad_batch(
    images_chw: Sequence[np.ndarray],
    divisor: int = PAD_DIVISOR,
    min_wh: tuple[int, int] | None = None,
) -> np.ndarray:
    """Stack CHW images, zero-padding bottom/right to the largest H and W rounded up to ``divisor``.

    ``min_wh`` forces at least that ``(width, height)``, for graphs exported with a fixed shape.
    """
    if not images_chw:
        raise ValueError("no images to batch")
    channels = images_chw[0].shape[0]
    if any(img.shape[0] != channels for img in images_chw):
        raise ValueError("images in one batch must have the same number of channels")
    height = max(img.shape[1] for img in images_chw)
    width = max(img.shape[2] for img in images_chw)
    if divisor > 0:
        height = -(-height // divisor) * divisor
        width = -(-width // divisor) * divisor
    if min_wh is not None:
        width, height = max(width, int(min_wh[0])), max(height, int(min_wh[1]))
    batch = np.zeros((len(images_chw), channels, height, width), dtype=np.float32)
    for i, img in enumerate(images_chw):
        batch[i, :, : img.shape[1], : img.shape[2]] = img
    return batch


def preprocess(
    images: Sequence[np.ndarray],
    input_size: tuple[int, int],
    *,
    keep_ratio: bool = False,
    mean: Sequence[float] = BGR_MEAN,
    std: Sequence[float] = BGR_STD,
    divisor: int = PAD_DIVISOR,
    min_wh: tuple[int, int] | None = None,
    fast_resize: bool = False,
) -> PreparedBatch:
    """BGR uint8 HWC images -> one padded, normalised ``[B, 3, H, W]`` batch plus mapping info.

    ``input_size`` is ``(width, height)``. Grayscale (HW) and BGRA images are converted to BGR.
    ``fast_resize``: see :func:`warp_images`.
    """
    warped, matrices, sizes = warp_images(images, input_size, keep_ratio, fast_resize)
    return normalized_batch(warped, matrices, sizes, mean=mean, std=std, divisor=divisor,
                            min_wh=min_wh)


def normalized_batch(
    warped: Sequence[np.ndarray],
    matrices: list[np.ndarray],
    sizes: list[tuple[int, int]],
    *,
    mean: Sequence[float] = BGR_MEAN,
    std: Sequence[float] = BGR_STD,
    divisor: int = PAD_DIVISOR,
    min_wh: tuple[int, int] | None = None,
) -> PreparedBatch:
    """Images already warped by :func:`warp_images` -> the normalised, padded batch."""
    chw_images = [normalize_chw(image, mean, std) for image in warped]
    return PreparedBatch(pad_batch(chw_images, divisor, min_wh), matrices, sizes)


def resize_image(image: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The image stretched to ``input_size`` by ``cv2.resize`` (bilinear, pixel centres at
    +0.5, as the official C++ demos resize) and the matrix of exactly that mapping, original ->
    input. About 4x faster than the official warp, whose samples sit up to half an output pixel
    away; reduced-precision paths use it, the exact path keeps the official warp."""
    height, width = image.shape[:2]
    out_w, out_h = int(input_size[0]), int(input_size[1])
    scale_x, scale_y = out_w / width, out_h / height
    resized = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    matrix = np.array([[scale_x, 0.0, (scale_x - 1) / 2],
                       [0.0, scale_y, (scale_y - 1) / 2],
                       [0.0, 0.0, 1.0]])
    return resized, matrix


def warp_images(
    images: Sequence[np.ndarray], input_size: tuple[int, int], keep_ratio: bool,
    fast_resize: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[int, int]]]:
    """Each BGR image (gray and BGRA converted) warped to the network input: the uint8 images,
    their warp matrices (original -> input) and their original ``(width, height)``.
    ``fast_resize`` stretches with :func:`resize_image` (``keep_ratio`` False only)."""
    warped, matrices, sizes = [], [], []
    for image in images:
        image = as_bgr(image)
        if fast_resize and not keep_ratio:
            result, matrix = resize_image(image, input_size)
        else:
            result, matrix = warp_image(image, input_size, keep_ratio)
        warped.append(result)
        matrices.append(matrix)
        sizes.append((int(image.shape[1]), int(image.shape[0])))
    return warped, matrices, sizes


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A 3-channel uint8 BGR view of ``image`` (gray and BGRA inputs are converted)."""
    if not isinstance(image, np.ndarray):
        raise UsageError(f"expected a numpy image, got {type(image).__name__}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"expected an HxWx3 BGR image, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise UsageError(f"expected a uint8 image, got {image.dtype}")
    return image


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to BGR uint8; clear errors naming the file when missing or corrupt."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileMissingError(f"{path}: image not found")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise DataError(f"{path}: not a readable image")
    return image
