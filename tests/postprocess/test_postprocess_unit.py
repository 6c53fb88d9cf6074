"""Behaviour of NMS, decoding and post-processing on small hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nanodet_plus.model_meta import ModelMeta
from nanodet_plus.ops.nms import class_nms
from nanodet_plus.ops.priors import num_points
from nanodet_plus.postprocess import decode, postprocess

STRIDES = (8, 16, 32, 64)


def test_nms_suppresses_within_class_only():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 9], [0, 0, 10, 9.5]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    for loop_limit in (64, 0):  # the numpy loop and the torchvision call
        same_class = class_nms(boxes, scores, np.array([0, 0, 0]), 0.6, loop_limit)
        assert same_class.tolist() == [0] and same_class.dtype == np.int64
        other_class = class_nms(boxes, scores, np.array([0, 1, 0]), 0.6, loop_limit)
        assert other_class.tolist() == [0, 1] and other_class.dtype == np.int64


def test_nms_keeps_iou_equal_to_threshold():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5]], dtype=np.float32)
    for loop_limit in (64, 0):
        keep = class_nms(boxes, np.array([0.9, 0.8]), np.array([3, 3]), 0.5, loop_limit)
        assert keep.tolist() == [0, 1]


def test_nms_empty():
    keep = class_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64), 0.6)
    assert keep.shape == (0,) and keep.dtype == np.int64


def _raw_with_one_object(num_classes: int, input_hw: tuple[int, int]) -> np.ndarray:
    """Raw output with every logit very negative except one point, class 2, box bins at 2."""
    n = num_points(input_hw, STRIDES)
    raw = np.full((1, n, num_classes + 32), -20.0, np.float32)
    raw[0, 0, 2] = 3.0
    raw[0, 0, num_classes:].reshape(4, 8)[:, 2] = 20.0
    return raw


def test_decode_box_and_sigmoid_flag():
    meta = ModelMeta(num_classes=3)
    raw = _raw_with_one_object(3, (64, 64))
    # point 0 (stride 8) at the origin, distances of 2 bins -> (0,0,16,16) after clamping
    scores, boxes = decode(raw, meta, (64, 64))
    assert torch.allclose(boxes[0, 0], torch.tensor([0.0, 0.0, 16.0, 16.0]), atol=1e-4)
    assert scores[0, 0, 2] == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-6)
    raw[0, 0, 2] = 0.7
    scores_done, _ = decode(raw, ModelMeta(num_classes=3, scores_are_sigmoid=True), (64, 64))
    assert scores_done[0, 0, 2] == pytest.approx(0.7)


def test_decode_rejects_wrong_shape():
    with pytest.raises(ValueError, match="expected"):
        decode(np.zeros((1, 10, 35), np.float32), ModelMeta(num_classes=3), (64, 64))


def test_postprocess_maps_back_and_names():
    meta = ModelMeta(num_classes=3, class_names=["a", "b", "c"])
    raw = np.concatenate([_raw_with_one_object(3, (64, 64))] * 2)
    raw[1, 0, 2] = -20.0  # second image: nothing above threshold
    warp = np.diag([0.5, 0.25, 1.0])  # original 128x256 (w x h) -> 64x64
    dets = postprocess(raw, meta, (64, 64), [warp, warp], [(128, 256), (128, 256)])
    assert len(dets[0]) == 1 and len(dets[1]) == 0
    np.testing.assert_allclose(dets[0].boxes[0], [0, 0, 32, 64], atol=1e-3)
    assert dets[0].names == ["c"] and dets[0].labels.tolist() == [2]
    assert dets[1].boxes.shape == (0, 4)


def test_postprocess_multilabel_and_max_det():
    meta = ModelMeta(num_classes=3)
    raw = _raw_with_one_object(3, (64, 64))
    raw[0, :, :3] = 1.0  # every point and class is a candidate
    raw[0, 0, 0] = 4.0
    dets = postprocess(raw, meta, (64, 64), [np.eye(3)], [(64, 64)], max_det=5)
    assert len(dets[0]) == 5
    uncapped = postprocess(raw, meta, (64, 64), [np.eye(3)], [(64, 64)], max_det=-1)
    assert len(uncapped[0]) > 5
    assert dets[0].labels[0] == 0 and dets[0].scores[0] == pytest.approx(1 / (1 + np.exp(-4)))
    strict = postprocess(raw, meta, (64, 64), [np.eye(3)], [(64, 64)],
                         score_thr=float(torch.tensor(1.0).sigmoid()))
    assert strict[0].labels.tolist() == [0]


def test_numpy_row_decoding_equals_the_torch_decoding():
    from nanodet_plus.ops.priors import center_priors
    from nanodet_plus.postprocess.postprocess import decode_rows

    generator = np.random.default_rng(0)
    meta = ModelMeta(num_classes=3, project=list(np.linspace(0, 7.5, 8)))
    raw = generator.normal(0, 4, (1, num_points((96, 128), STRIDES), 35)).astype(np.float32)
    _, expected = decode(raw, meta, (96, 128))
    priors = center_priors((96, 128), STRIDES).numpy()
    got = decode_rows(raw[0, :, 3:], priors, np.asarray(meta.project, np.float32), (96, 128))
    np.testing.assert_allclose(got, expected[0].numpy(), rtol=0, atol=1e-4)
    assert got.min() == 0 and got[:, 2].max() == 128  # clamped to the input on both sides


def test_postprocess_of_a_torch_tensor_equals_that_of_its_array():
    meta = ModelMeta(num_classes=3)
    raw = np.random.default_rng(1).normal(-1, 2, (2, num_points((64, 64), STRIDES), 35))
    raw = raw.astype(np.float32)
    args = ((64, 64), [np.eye(3)] * 2, [(64, 64)] * 2)
    from_array = postprocess(raw, meta, *args, score_thr=0.3)
    from_tensor = postprocess(torch.from_numpy(raw), meta, *args, score_thr=0.3)
    assert sum(len(d) for d in from_array) > 10
    for a, b in zip(from_array, from_tensor):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.labels, b.labels)


def test_scan_of_sigmoid_scores_selects_exactly_the_points_above_threshold():
    """The scan filters on the sum of squared scores, then checks the best score exactly:
    no point may be lost or gained against a plain best-score comparison, at the threshold's
    edge or with many scores just under it."""
    from nanodet_plus.postprocess.postprocess import _points_above

    threshold = np.float32(0.05)
    just_above = np.nextafter(threshold, np.float32(1))
    just_below = np.nextafter(threshold, np.float32(0))
    generator = np.random.default_rng(2)
    scores = generator.uniform(0, 0.004, (2, 400, 80)).astype(np.float32)
    scores[0, 3, 7] = just_above  # in
    scores[0, 4, 7] = threshold  # out: strictly above only
    scores[1, 5, :] = just_below  # out, though its squares sum far above the threshold's
    scores[1, 6, :] = just_below
    scores[1, 6, 79] = just_above  # in
    scores[1, 7, 0] = 0.9  # in
    scores[0, 9, 2] = np.nan  # out, as a comparison with NaN
    hidden = generator.random((2, 400)) < 0.05  # a sprinkling of ordinary hits
    scores[hidden, generator.integers(0, 80, hidden.sum())] = generator.uniform(
        0.0501, 1, hidden.sum())
    raw = np.concatenate([scores, generator.normal(0, 1, (2, 400, 32)).astype(np.float32)], 2)
    meta = ModelMeta(num_classes=80, scores_are_sigmoid=True)
    image, point, rows = _points_above(raw, meta, float(threshold))
    with np.errstate(invalid="ignore"):
        want_image, want_point = np.nonzero(np.nanmax(scores, axis=-1) > threshold)
    want = set(zip(want_image.tolist(), want_point.tolist())) - {(0, 9)}
    assert list(zip(image.tolist(), point.tolist())) == sorted(want)
    assert {(0, 3), (1, 6), (1, 7)} <= want and not {(0, 4), (1, 5)} & want
    np.testing.assert_array_equal(rows, raw[image, point])
    for low in (1e-9, 0.0, -0.5):  # direct comparison: every score may pass
        image, point, _ = _points_above(raw, meta, low)
        with np.errstate(invalid="ignore"):
            want_image, want_point = np.nonzero(np.max(scores, axis=-1) > low)
        assert image.tolist() == want_image.tolist() and point.tolist() == want_point.tolist()
