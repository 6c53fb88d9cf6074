"""Random shape warp and colour jitter of the NanoDet-Plus training recipe (reference-spec §12).

The shape augmentation is one 3x3 matrix ``Resize · T · F · Sh · R · St · S · P · C`` applied
with a single ``cv2.warpPerspective``. Colour jitter (brightness, contrast, saturation, no
clipping) and the BGR mean/std normalisation are folded into one per-pixel affine map, so the
float image is touched once. All randomness comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from nanodet_plus.config.schema import AugmentConfig
from nanodet_plus.data.transforms.geometry import resize_matrix


def random_warp_matrix(
    rng: np.random.Generator,
    augment: AugmentConfig,
    src_wh: tuple[int, int],
    dst_wh: tuple[int, int],
    keep_ratio: bool,
) -> tuple[np.ndarray, tuple[int, int]]:
    """The combined augmentation + resize matrix for one image, and the output size ``(w, h)``."""
    width, height = src_wh
    center = np.array([[1, 0, -width / 2], [0, 1, -height / 2], [0, 0, 1]], np.float64)
    perspective = np.eye(3)
    perspective[2, 0], perspective[2, 1] = rng.uniform(-augment.perspective,
                                                       augment.perspective, 2)
    scale = rng.uniform(*augment.scale)
    scale_m = np.diag([scale, scale, 1.0])
    stretch_m = np.diag([rng.uniform(*augment.stretch[0]), rng.uniform(*augment.stretch[1]), 1.0])
    angle = math.radians(rng.uniform(-augment.rotation, augment.rotation))
    cos, sin = math.cos(angle), math.sin(angle)
    rotation_m = np.array([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]], np.float64)
    shear_m = np.eye(3)
    shear_m[0, 1], shear_m[1, 0] = np.tan(np.radians(rng.uniform(-augment.shear,
                                                                 augment.shear, 2)))
    flip_m = np.diag([-1.0 if rng.random() < augment.flip else 1.0, 1.0, 1.0])
    translate_m = np.eye(3)
    low, high = 0.5 - augment.translate, 0.5 + augment.translate
    translate_m[0, 2] = rng.uniform(low, high) * width
    translate_m[1, 2] = rng.uniform(low, high) * height
    resize_m, out_wh = resize_matrix(src_wh, dst_wh, keep_ratio)
    matrix = (resize_m @ translate_m @ flip_m @ shear_m @ rotation_m @ stretch_m @ scale_m
              @ perspective @ center)
    return matrix, out_wh


def warp_image(image: np.ndarray, matrix: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """``cv2.warpPerspective`` with OpenCV defaults (bilinear, constant 0 border), as official."""
    return cv2.warpPerspective(image, matrix, (int(out_wh[0]), int(out_wh[1])))


@dataclass
class ColorJitter:
    """Drawn colour changes: ``y = (x/255 + brightness) * contrast``, then HSV S × saturation."""

    brightness: float = 0.0
    contrast: float = 1.0
    saturation: float = 1.0

    @classmethod
    def sample(cls, rng: np.random.Generator, augment: AugmentConfig) -> ColorJitter:
        """Each of the three changes is applied with probability 0.5, as in the official recipe."""
        jitter = cls()
        if rng.random() < 0.5:
            jitter.brightness = float(rng.uniform(-augment.brightness, augment.brightness))
        if rng.random() < 0.5:
            jitter.contrast = float(rng.uniform(*augment.contrast))
        if rng.random() < 0.5:
            jitter.saturation = float(rng.uniform(*augment.saturation))
        return jitter


def color_and_normalize(
    image: np.ndarray,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    jitter: ColorJitter | None = None,
) -> np.ndarray:
    """Colour jitter then ``(y - mean/255) / (std/255)`` on a BGR uint8 HWC image -> float32 CHW.

    Scaling HSV saturation by k leaves hue and value (the channel maximum v) unchanged, so every
    channel becomes ``c' = v + k (c - v)``. Brightness and contrast are affine in the pixel and
    v is affine in the raw channel maximum, so each output plane is one ``cv2.addWeighted`` of
    the uint8 channel and the uint8 channel maximum, written straight into the CHW float32
    result. (It equals OpenCV's float HSV round trip except where brightness pushed values
    below 0, an edge case.)
    """
    jitter = jitter or ColorJitter()
    contrast, brightness, saturation = jitter.contrast, jitter.brightness, jitter.saturation
    planes = cv2.split(image)
    channel_max = cv2.max(cv2.max(planes[0], planes[1]), planes[2])
    out = np.empty((3, *image.shape[:2]), np.float32)
    for c in range(3):
        gain = contrast / float(std[c])
        offset = (255.0 * brightness * contrast - float(mean[c])) / float(std[c])
        cv2.addWeighted(planes[c], saturation * gain, channel_max, (1.0 - saturation) * gain,
                        offset, dst=out[c], dtype=cv2.CV_32F)
    return out


def drop_small_boxes(
    boxes: np.ndarray, min_size: float = 1.0, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Keep boxes at least ``min_size`` px wide and high (after warping and clipping).

    The official pipeline never drops boxes; degenerate boxes only add noise to the assigner,
    so this project drops boxes narrower or lower than 1 px (docs/guide/demo-dataset.md).
    """
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
    return boxes[keep], (labels[keep] if labels is not None else None)
