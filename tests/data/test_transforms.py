"""Training/validation transforms: geometry facts of the official pipeline, colour, seeding."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from nanodet_plus.config.schema import BGR_MEAN, BGR_STD, AugmentConfig, DataConfig
from nanodet_plus.data.transforms import (
    ColorJitter,
    TransformPipeline,
    color_and_normalize,
    drop_small_boxes,
    random_warp_matrix,
    sample_rng,
)
from nanodet_plus.data.transforms.mosaic import build_mosaic

NO_AUGMENT = AugmentConfig(scale=(1, 1), stretch=((1, 1), (1, 1)), translate=0.0, flip=0.0)


def _val(input_size, keep_ratio=False):
    return TransformPipeline(DataConfig(input_size=input_size, keep_ratio=keep_ratio), train=False)


@pytest.mark.parametrize("dst, keep_ratio, expected, out_hw", [
    ((50, 50), False, [0, 0, 5, 10], (50, 50)),
    ((50, 50), True, [0, 0, 5, 5], (25, 50)),  # "minimum shape" 50x25, ratio 0.25
    ((300, 300), True, [0, 0, 30, 30], (150, 300)),
])
def test_validation_warp_matches_official_facts(dst, keep_ratio, expected, out_hw):
    image = np.zeros((100, 200, 3), np.uint8)
    box = np.array([[0, 0, 20, 20]], np.float32)
    out = _val(dst, keep_ratio)(image, box, np.array([0]), np.zeros((0, 4), np.float32))
    np.testing.assert_allclose(out.boxes, [expected], atol=1e-5)
    assert out.image.shape == (3, *out_hw) and out.image.dtype == np.float32
    assert out.warp_matrix.dtype == np.float64


def test_validation_is_stretch_and_normalise():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    out = _val((64, 32))(image, np.zeros((0, 4)), np.zeros(0), np.zeros((0, 4)))
    np.testing.assert_allclose(out.warp_matrix, np.diag([64 / 53, 32 / 37, 1.0]))
    warped = cv2.warpPerspective(image, out.warp_matrix, (64, 32)).astype(np.float32)
    expected = (warped / 255 - np.float32(BGR_MEAN) / 255) / (np.float32(BGR_STD) / 255)
    np.testing.assert_allclose(out.image, expected.transpose(2, 0, 1), atol=1e-4)


def test_fused_color_equals_official_chain():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    jitter = ColorJitter(brightness=0.15, contrast=1.3, saturation=0.7)
    ours = color_and_normalize(image, BGR_MEAN, BGR_STD, jitter).transpose(1, 2, 0)
    x = image.astype(np.float32) / 255 + np.float32(0.15)
    x *= np.float32(1.3)
    hsv = cv2.cvtColor(x, cv2.COLOR_BGR2HSV)
    hsv[..., 1] *= np.float32(0.7)
    x = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    expected = (x - np.float32(BGR_MEAN) / 255) / (np.float32(BGR_STD) / 255)
    np.testing.assert_allclose(ours, expected, atol=1e-3)
    assert ours.max() > (255 - min(BGR_MEAN)) / max(BGR_STD)  # not clipped, as official


def test_random_warp_without_augmentation_is_resize():
    matrix, out_wh = random_warp_matrix(np.random.default_rng(0), NO_AUGMENT, (200, 100),
                                        (50, 50), keep_ratio=False)
    np.testing.assert_allclose(matrix, np.diag([0.25, 0.5, 1.0]), atol=1e-12)
    assert out_wh == (50, 50)


def test_flip_mirrors_boxes():
    augment = dataclasses.replace(NO_AUGMENT, flip=1.0)
    config = DataConfig(input_size=(64, 64), augment=augment)
    out = TransformPipeline(config, train=True)(
        np.zeros((64, 64, 3), np.uint8), np.array([[0, 0, 10, 20]], np.float32), np.array([2]),
        np.zeros((0, 4), np.float32), np.random.default_rng(0))
    np.testing.assert_allclose(out.boxes, [[54, 0, 64, 20]], atol=1e-4)
    assert out.labels.tolist() == [2]


def test_degenerate_boxes_dropped_with_labels():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 5.5, 20], [3, 3, 30, 3]], np.float32)
    kept, labels = drop_small_boxes(boxes, 1.0, np.array([0, 1, 2]))
    np.testing.assert_array_equal(kept, boxes[:1])
    assert labels.tolist() == [0]


def test_training_pipeline_boxes_inside_and_seeded():
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 60, 50], [100, 60, 150, 110], [0, 0, 3, 3]], np.float32)
    pipeline = TransformPipeline(DataConfig(input_size=(96, 64)), train=True)

    def run(seed, epoch, index):
        return pipeline(image, boxes, np.array([0, 1, 2]), np.zeros((0, 4), np.float32),
                        sample_rng(seed, epoch, index))

    first, again, other_epoch = run(0, 1, 7), run(0, 1, 7), run(0, 2, 7)
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.boxes, again.boxes)
    assert not np.array_equal(first.warp_matrix, other_epoch.warp_matrix)
    assert first.image.shape == (3, 64, 96)
    for out in (first, other_epoch):
        assert (out.boxes[:, [0, 2]] <= 96).all() and (out.boxes[:, [1, 3]] <= 64).all()
        assert (out.boxes >= 0).all()
        assert ((out.boxes[:, 2:] - out.boxes[:, :2]) >= 1).all()
        assert len(out.labels) == len(out.boxes)


def test_warp_matrix_maps_boxes():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (80, 90, 3), dtype=np.uint8)
    boxes = np.array([[20, 20, 60, 50]], np.float32)
    out = TransformPipeline(DataConfig(input_size=(64, 64)), train=True)(
        image, boxes, np.array([0]), np.zeros((0, 4)), np.random.default_rng(3))
    corners = np.array([[20, 20, 1], [60, 50, 1]], np.float64) @ out.warp_matrix.T
    corners = corners[:, :2] / corners[:, 2:]
    expected = np.concatenate([corners.min(0), corners.max(0)]).clip(0, 64)
    np.testing.assert_allclose(out.boxes[0], expected, atol=1e-3)


def test_mosaic_tiles_do_not_overlap_and_keep_boxes():
    rng = np.random.default_rng(0)
    images = [np.full((50 + 10 * i, 60, 3), 40 * (i + 1), np.uint8) for i in range(4)]
    boxes = [np.array([[5, 5, 30, 30]], np.float32) for _ in range(4)]
    labels = [np.array([i]) for i in range(4)]
    ignore = [np.zeros((0, 4), np.float32) for _ in range(4)]
    canvas, out_boxes, out_labels, out_ignore, matrix = build_mosaic(
        images, boxes, labels, ignore, (64, 64), rng)
    assert canvas.shape == (128, 128, 3)
    assert out_labels.tolist() == [0, 1, 2, 3] and out_boxes.shape == (4, 4)
    assert out_ignore.shape == (0, 4)
    assert (out_boxes[:, [0, 2]] <= 128).all() and (out_boxes >= 0).all()
    np.testing.assert_allclose(matrix[0, 0], min(64 / 60, 64 / 50))


def test_resize_image_matrix_is_the_mapping_cv2_resize_samples():
    """A bright column at x = 37 in the original lands, by the returned matrix, where
    cv2.resize puts its light (the intensity-weighted centre of the resized column)."""
    import numpy as np

    from nanodet_plus.data.preprocess import resize_image

    image = np.zeros((90, 200, 3), np.uint8)
    image[:, 37] = 255
    resized, matrix = resize_image(image, (320, 128))
    assert resized.shape == (128, 320, 3)
    light = resized[64, :, 0].astype(np.float64)
    centre = (light * np.arange(light.size)).sum() / light.sum()
    assert abs(matrix[0, 0] * 37 + matrix[0, 2] - centre) < 0.05
    assert matrix[1, 1] == 128 / 90 and matrix[1, 2] == (128 / 90 - 1) / 2
