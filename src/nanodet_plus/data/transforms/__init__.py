"""Sample transforms: warp matrices, training augmentation, normalisation, mosaic."""

from nanodet_plus.data.transforms.augment import (
    ColorJitter,
    color_and_normalize,
    drop_small_boxes,
    random_warp_matrix,
    warp_image,
)
from nanodet_plus.data.transforms.geometry import resize_matrix, warp_boxes
from nanodet_plus.data.transforms.pipeline import TransformedSample, TransformPipeline, sample_rng

__all__ = [
    "ColorJitter",
    "TransformPipeline",
    "TransformedSample",
    "color_and_normalize",
    "drop_small_boxes",
    "random_warp_matrix",
    "resize_matrix",
    "sample_rng",
    "warp_boxes",
    "warp_image",
]
