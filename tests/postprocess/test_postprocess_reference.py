"""Post-processing reproduces the official detections from the synthetic raw predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nanodet_plus.model_meta import ModelMeta
from nanodet_plus.postprocess import postprocess

SIZES = ["320x320", "416x416", "480x320"]
TEST_IMAGE_WH = (360, 404)


@pytest.fixture(scope="module")
def loaded_project(reference_weights) -> list[float]:
    state = torch.load(reference_weights, weights_only=True)["state_dict"]
    return state["head.distribution_project.project"].tolist()


def assert_rows_match(rows: np.ndarray, expected: np.ndarray) -> None:
    """Same count and classes, boxes within 1e-2 px, scores within 1e-4 (reference README)."""
    assert rows.shape == expected.shape
    np.testing.assert_array_equal(rows[:, 0], expected[:, 0])
    np.testing.assert_allclose(rows[:, 1:5], expected[:, 1:5], atol=1e-2, rtol=0)
    np.testing.assert_allclose(rows[:, 5], expected[:, 5], atol=1e-4, rtol=0)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("as_numpy", [False, True])
def test_postprocess_only_matches_reference(
    size, as_numpy, reference_dir, reference_expected, loaded_project
):
    path = reference_dir / f"nanodet-plus-m_320_postprocess_{size}.pt"
    data = torch.load(path, weights_only=True)
    preds = data["preds"].numpy() if as_numpy else data["preds"]
    meta = ModelMeta(num_classes=80, project=loaded_project)
    (dets,) = postprocess(
        preds,
        meta,
        tuple(data["input_hw"]),
        [data["warp_matrix"].numpy()],
        [TEST_IMAGE_WH],
        score_thr=0.05,
        iou_thr=0.6,
        max_det=100,
    )
    expected = np.asarray(reference_expected["postprocess_only"][size], dtype=np.float64)
    assert_rows_match(dets.to_rows().astype(np.float64), expected)
    assert dets.image_size == TEST_IMAGE_WH
    assert np.all(np.diff(dets.scores) <= 0)


def test_hardcoded_project_does_not_match(reference_dir, reference_expected):
    """The loaded ``project`` buffer matters: 0..7 moves boxes by pixels (spec §5)."""
    path = reference_dir / "nanodet-plus-m_320_postprocess_320x320.pt"
    data = torch.load(path, weights_only=True)
    (dets,) = postprocess(
        data["preds"], ModelMeta(num_classes=80), (320, 320), [data["warp_matrix"].numpy()],
        [TEST_IMAGE_WH],
    )
    expected = np.asarray(reference_expected["postprocess_only"]["320x320"])
    assert np.abs(dets.to_rows()[:, 1:5] - expected[:, 1:5]).max() > 1.0
