"""Detector, registry and preprocessing behaviour with stand-in backends (no weights needed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from nanodet_plus.data.preprocess import (
    normalize,
    normalize_chw,
    pad_batch,
    preprocess,
    warp_image,
)
from nanodet_plus.model_meta import ModelMeta
from nanodet_plus.ops.priors import num_points
from nanodet_plus.runtime import registry
from nanodet_plus.runtime.detector import Detector


class OneBoxBackend:
    """Every image gets one class-1 box at the top-left point (stride 8, 2 bins per side)."""

    name = "fake"

    def __init__(self, meta: ModelMeta) -> None:
        self.meta = meta
        self.batches: list[tuple[int, ...]] = []

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(batch.shape)
        n = num_points(batch.shape[2:], self.meta.strides)
        raw = np.full((batch.shape[0], n, self.meta.num_classes + 32), -20.0, np.float32)
        raw[:, 0, 1] = 5.0
        raw[:, 0, self.meta.num_classes :].reshape(batch.shape[0], 4, 8)[:, :, 2] = 20.0
        return raw


def test_pad_batch_to_multiple_of_32_like_official():
    images = [np.ones((3, h, w), np.float32) for h, w in ((300, 300), (288, 180), (169, 256))]
    batch = pad_batch(images)
    assert batch.shape == (3, 3, 320, 320)
    assert batch[1, :, :288, :180].min() == 1 and batch[1, :, 288:].max() == 0
    assert pad_batch(images, min_wh=(416, 352)).shape == (3, 3, 352, 416)


def test_warp_is_warp_perspective_not_resize():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (101, 77, 3), dtype=np.uint8)
    warped, matrix = warp_image(image, (64, 48), keep_ratio=False)
    np.testing.assert_allclose(matrix, np.diag([64 / 77, 48 / 101, 1.0]))
    np.testing.assert_array_equal(warped, cv2.warpPerspective(image, matrix, (64, 48)))
    assert not np.array_equal(warped, cv2.resize(image, (64, 48)))


def test_normalize_bgr_mean_std():
    pixel = np.array([[[103.53, 116.28, 123.675]]], np.float32).round().astype(np.uint8)
    out = normalize(pixel)
    expected = (pixel.astype(np.float64) - [103.53, 116.28, 123.675]) / [57.375, 57.12, 58.395]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_normalize_chw_equals_official_order():
    image = np.random.default_rng(1).integers(0, 256, (37, 41, 3), dtype=np.uint8)
    official = (image.astype(np.float32) / 255 - np.float32([103.53, 116.28, 123.675]) / 255) / (
        np.float32([57.375, 57.12, 58.395]) / 255
    )
    np.testing.assert_array_equal(normalize_chw(image), official.transpose(2, 0, 1))
    np.testing.assert_array_equal(normalize(image), official)


def test_preprocess_keep_ratio_shapes():
    image = np.zeros((404, 360, 3), np.uint8)
    prepared = preprocess([image], (320, 320), keep_ratio=True)
    assert prepared.images.shape == (1, 3, 320, 288)  # 285 wide, padded to 288
    assert prepared.orig_sizes == [(360, 404)]


def test_detector_maps_boxes_to_original_pixels():
    meta = ModelMeta(num_classes=3, class_names=["a", "b", "c"], input_size=(64, 64))
    detector = Detector(OneBoxBackend(meta), score_thr=0.5)
    dets = detector(np.zeros((128, 256, 3), np.uint8))  # 256 wide, 128 high
    assert dets.names == ["b"] and dets.image_size == (256, 128)
    np.testing.assert_allclose(dets.boxes[0], [0, 0, 64, 32], atol=1e-3)  # 16x16 input box


def test_fixed_batch_and_shape_backend_gets_exact_batches():
    meta = ModelMeta(num_classes=2, input_size=(64, 64), fixed_shape=True, batch_size=2)
    backend = OneBoxBackend(meta)
    detector = Detector(backend, keep_ratio=True)
    images = [np.zeros((50, 100, 3), np.uint8)] * 3
    results = detector(images)
    assert len(results) == 3 and all(len(d) == 1 for d in results)
    assert backend.batches == [(2, 3, 64, 64), (2, 3, 64, 64)]
    with pytest.raises(ValueError, match="fixed input size"):
        Detector(backend, input_size=(96, 96))


def test_wrong_number_of_class_names():
    with pytest.raises(ValueError, match="2 class names"):
        Detector(OneBoxBackend(ModelMeta(num_classes=3)), class_names=["a", "b"])


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the backend registry, so that test registrations end with the test."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_registry_dispatches_by_suffix(tmp_path, scratch_registry):
    opened = []

    def factory(path, **options):
        opened.append((path.name, options["device"]))
        return OneBoxBackend(ModelMeta(num_classes=2, input_size=(32, 32)))

    registry.register_backend("fake-test", [".fakemodel"], factory)
    model_file = tmp_path / "m.fakemodel"
    model_file.write_bytes(b"x")
    detector = Detector.from_file(model_file, score_thr=0.9)
    assert opened == [("m.fakemodel", "cpu")] and detector.score_thr == 0.9
    assert registry.format_for_path("x.onnx") == "onnx"
    assert registry.registered_formats()["fake-test"] == (".fakemodel",)


def test_registering_a_backend_twice_is_refused(scratch_registry):
    def factory(path, **options):
        return OneBoxBackend(ModelMeta(num_classes=1))

    registry.register_backend("twice-test", [".twice"], factory)
    with pytest.raises(ValueError, match="backend 'twice-test' is already registered"):
        registry.register_backend("twice-test", [".other"], factory)
    assert registry.registered_formats()["twice-test"] == (".twice",)
    # a built-in format's module registers its own, not yet loaded, name once
    registry._REGISTRY["lazy-test"] = registry.BackendEntry("lazy-test", (".lazy",))
    registry.register_backend("lazy-test", [".lazy"], factory)
    assert registry.get_factory("lazy-test") is factory


def test_registry_errors(tmp_path):
    unknown = tmp_path / "model.weird"
    unknown.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"unknown model format '\.weird'"):
        Detector.from_file(unknown)
    with pytest.raises(FileNotFoundError, match=r"nothing\.onnx"):
        Detector.from_file(tmp_path / "nothing.onnx")


def test_torch_file_without_nanodet_weights_is_refused(tmp_path):
    import torch

    path = tmp_path / "weights.pth"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(ValueError, match=rf"{path}: not a NanoDet-Plus checkpoint"):
        Detector.from_file(path)
