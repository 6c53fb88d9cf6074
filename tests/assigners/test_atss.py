"""ATSS assignment: positives near the GT centre, inside it, adaptive threshold; ablation wiring."""

from __future__ import annotations

import pytest
import torch

from nanodet_plus.assigners import ATSSAssigner
from nanodet_plus.ops.priors import center_priors


def _assign(gt_boxes, gt_labels, size=128, topk=9):
    priors = center_priors((size, size), (8, 16, 32, 64))
    num = priors.shape[0]
    decoded = torch.cat([priors[:, :2] - 8, priors[:, :2] + 8], dim=1)[None].repeat(
        len(gt_boxes), 1, 1)
    assignment = ATSSAssigner(topk=topk).assign(
        torch.zeros(len(gt_boxes), num, 3), priors, decoded, gt_boxes, gt_labels)
    return priors, decoded, assignment


def test_positives_are_inside_near_the_centre_and_scored_by_predicted_iou():
    box = torch.tensor([[20.0, 30.0, 84.0, 90.0]])
    priors, decoded, assignment = _assign([box], [torch.tensor([1])])
    positive = assignment.positive[0]
    assert 0 < int(positive.sum()) <= 9 * 4
    points = priors[positive, :2]
    assert ((points > box[0, :2]) & (points < box[0, 2:])).all()
    centre = (box[0, :2] + box[0, 2:]) / 2
    # every positive is among the 9 nearest priors of its level
    for stride in priors[positive, 2].unique():
        level = priors[:, 2] == stride
        nearest = (priors[level, :2] - centre).norm(dim=1).topk(9, largest=False).values
        chosen = (priors[positive & level, :2] - centre).norm(dim=1)
        assert (chosen <= nearest.max() + 1e-6).all()
    # a 64-px box is caught by the 8 and 16 strides (anchors of 40 and 80 px), not by 64
    assert set(priors[positive, 2].tolist()) <= {8.0, 16.0, 32.0}
    iou = assignment.iou[0, positive]
    boxes = decoded[0, positive]
    inter = (torch.minimum(boxes[:, 2:], box[0, 2:]) - torch.maximum(boxes[:, :2], box[0, :2]))
    inter = inter.clamp(min=0).prod(dim=1)
    union = 16 * 16 + 64 * 60 - inter
    torch.testing.assert_close(iou, inter / union)
    assert (assignment.iou[0, ~positive] == 0).all()


def test_overlapping_gts_each_prior_goes_to_one_gt_and_empty_images_get_none():
    boxes = torch.tensor([[10.0, 10.0, 70.0, 70.0], [30.0, 30.0, 90.0, 90.0]])
    _, _, assignment = _assign([boxes, torch.zeros((0, 4))],
                               [torch.tensor([0, 1]), torch.zeros(0, dtype=torch.int64)])
    first = assignment.gt_index[0]
    assert set(first[first >= 0].tolist()) == {0, 1}
    assert not assignment.positive[1].any()


def test_criterion_builds_the_assigner_named_in_the_config():
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.errors import ConfigError
    from nanodet_plus.losses.criterion import NanoDetPlusCriterion

    config = load_config("nanodet-plus-m_320", ["model.assigner.name=ATSSAssigner"])
    assert isinstance(NanoDetPlusCriterion(config.model).assigner, ATSSAssigner)
    expected = r"model\.assigner\.name 'ATSS' is not one of .*ATSSAssigner"
    with pytest.raises(ConfigError, match=expected):
        load_config("nanodet-plus-m_320", ["model.assigner.name=ATSS"])


def test_training_with_atss_gives_finite_losses_and_gradients():
    from nanodet_plus.models.factory import build_model

    torch.manual_seed(0)
    model = build_model("nanodet-plus-m_320", num_classes=3, aux=False)
    model.criterion.assigner = ATSSAssigner()
    images = torch.randn(2, 3, 128, 128)
    losses = model.training_losses(
        images, [torch.tensor([[10.0, 12.0, 70.0, 80.0]]), torch.zeros((0, 4))],
        [torch.tensor([2]), torch.zeros(0, dtype=torch.int64)])
    assert all(torch.isfinite(value) for value in losses.values())
    assert losses["loss_bbox"].item() > 0
    losses["loss"].backward()
    assert model.head.gfl_cls[0].weight.grad.abs().sum() > 0
