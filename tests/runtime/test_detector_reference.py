"""End-to-end: Detector on the sample image with the reference weights equals the official run."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from nanodet_plus.errors import DataError
from nanodet_plus.runtime.detector import Detector

SIZES = ["320x320", "416x416", "480x320"]


@pytest.fixture(scope="module")
def reference_detector(reference_weights) -> Detector:
    return Detector.from_file(
        reference_weights, config="nanodet-plus-m_320", keep_ratio=False,
        score_thr=0.05, iou_thr=0.6, max_det=100,
    )


def assert_rows_match(rows: np.ndarray, expected: np.ndarray) -> None:
    """Same count and classes, boxes within 1e-2 px, scores within 1e-4 (reference README)."""
    assert rows.shape == expected.shape
    np.testing.assert_array_equal(rows[:, 0], expected[:, 0])
    np.testing.assert_allclose(rows[:, 1:5], expected[:, 1:5], atol=1e-2, rtol=0)
    np.testing.assert_allclose(rows[:, 5], expected[:, 5], atol=1e-4, rtol=0)


@pytest.mark.parametrize("size", SIZES)
def test_detections_match_reference(size, reference_detector, test_image, reference_expected):
    width, height = (int(v) for v in size.split("x"))
    reference_detector.input_size = (width, height)
    dets = reference_detector(test_image)
    expected = np.asarray(reference_expected["detections"][size], dtype=np.float64)
    assert_rows_match(dets.to_rows().astype(np.float64), expected)
    assert dets.image_size == (360, 404)
    assert dets.names[0] == reference_detector.class_names[int(expected[0, 0])]


def test_fused_model_matches_reference(reference_weights, test_image, reference_expected):
    detector = Detector.from_file(
        reference_weights, config="nanodet-plus-m_320", fuse=True, input_size=(320, 320),
        score_thr=0.05, iou_thr=0.6, max_det=100,
    )
    expected = np.asarray(reference_expected["detections"]["320x320"], dtype=np.float64)
    assert_rows_match(detector(test_image).to_rows().astype(np.float64), expected)


def test_batch_of_different_sizes_equals_single_images(reference_detector, test_image):
    reference_detector.input_size = (320, 320)
    other = cv2.resize(test_image[40:, :300], (230, 170))
    singles = [reference_detector(test_image), reference_detector(other)]
    batched = reference_detector([test_image, other])
    assert [d.image_size for d in batched] == [(360, 404), (230, 170)]
    for single, together in zip(singles, batched):
        assert len(single) == len(together) > 0
        np.testing.assert_array_equal(single.labels, together.labels)
        np.testing.assert_allclose(single.boxes, together.boxes, atol=1e-3)
        np.testing.assert_allclose(single.scores, together.scores, atol=1e-5)


def test_path_input_equals_array_input(reference_detector, samples_dir, test_image):
    reference_detector.input_size = (320, 320)
    from_path = reference_detector(samples_dir / "test_img.jpg")
    from_array = reference_detector(test_image)
    assert from_path.path == str(samples_dir / "test_img.jpg")
    np.testing.assert_array_equal(from_path.boxes, from_array.boxes)


def test_unreadable_and_missing_paths_name_the_file(reference_detector, tmp_path):
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match=r"broken\.jpg"):
        reference_detector(corrupt)
    with pytest.raises(FileNotFoundError, match=r"absent\.png"):
        reference_detector(str(tmp_path / "absent.png"))
