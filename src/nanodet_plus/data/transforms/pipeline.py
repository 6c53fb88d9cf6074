"""Training and validation sample pipelines built from :class:`DataConfig`.

Training: random warp (one matrix, one ``cv2.warpPerspective``), colour jitter, normalisation.
Validation: the plain resize matrix and normalisation only (reference-spec §12).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nanodet_plus.config.schema import DataConfig
from nanodet_plus.data.transforms.augment import (
    ColorJitter,
    color_and_normalize,
    drop_small_boxes,
    random_warp_matrix,
    warp_image,
)
from nanodet_plus.data.transforms.geometry import resize_matrix, warp_boxes


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample: a pure function of (seed, epoch, index), never of the worker."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


@dataclass
class TransformedSample:
    """A network-ready sample: CHW float32 image and boxes in input coordinates."""

    image: np.ndarray  # float32 [3, H, W], normalised BGR
    boxes: np.ndarray  # float32 [n, 4]
    labels: np.ndarray  # int64 [n]
    ignore_boxes: np.ndarray  # float32 [m, 4]
    warp_matrix: np.ndarray  # float64 [3, 3], original pixels -> input pixels


class TransformPipeline:
    """Callable ``(image, boxes, labels, ignore_boxes, rng) -> TransformedSample``."""

    def __init__(self, data_config: DataConfig, train: bool, min_box_size: float = 1.0) -> None:
        self.data_config = data_config
        self.train = train
        self.min_box_size = min_box_size

    def matrix(
        self, src_wh: tuple[int, int], rng: np.random.Generator | None
    ) -> tuple[np.ndarray, tuple[int, int]]:
        """The warp matrix and output size for an image of ``src_wh``."""
        cfg = self.data_config
        if self.train:
            assert rng is not None, "training transforms need a random generator"
            return random_warp_matrix(rng, cfg.augment, src_wh, tuple(cfg.input_size),
                                      cfg.keep_ratio)
        return resize_matrix(src_wh, tuple(cfg.input_size), cfg.keep_ratio)

    def __call__(
        self,
        image: np.ndarray,
        boxes: np.ndarray,
        labels: np.ndarray,
        ignore_boxes: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> TransformedSample:
        cfg = self.data_config
        height, width = image.shape[:2]
        matrix, out_wh = self.matrix((width, height), rng)
        warped = warp_image(image, matrix, out_wh)
        new_boxes = warp_boxes(boxes, matrix, out_wh)
        new_ignore = warp_boxes(ignore_boxes, matrix, out_wh)
        labels = np.asarray(labels, np.int64)
        if self.train:
            new_boxes, labels = drop_small_boxes(new_boxes, self.min_box_size, labels)
            new_ignore, _ = drop_small_boxes(new_ignore, self.min_box_size)
            jitter = ColorJitter.sample(rng, cfg.augment)
        else:
            jitter = None
        chw = color_and_normalize(warped, cfg.mean, cfg.std, jitter)
        return TransformedSample(chw, new_boxes, labels, new_ignore, matrix)
