"""The batch-vectorised DSLA equals a plain per-image implementation, and its edge cases."""

from __future__ import annotations

import pytest
import torch
from per_image_dsl import assign_one_image

from nanodet_plus.assigners import DynamicSoftLabelAssigner, build_targets
from nanodet_plus.ops.priors import center_priors

STRIDES = (8, 16, 32, 64)
INPUT_HW = (64, 96)
NUM_CLASSES = 5


def random_gts(generator: torch.Generator, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` random boxes inside the input, some large, some overlapping."""
    height, width = INPUT_HW
    corner = torch.rand(count, 2, generator=generator) * torch.tensor([width, height]) * 0.8
    size = 4 + torch.rand(count, 2, generator=generator) * torch.tensor([width, height]) * 0.5
    boxes = torch.cat([corner, corner + size], dim=1)
    labels = torch.randint(0, NUM_CLASSES, (count,), generator=generator)
    return boxes, labels


def random_predictions(
    generator: torch.Generator, batch: int, priors: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class logits and decoded boxes around the priors, like an untrained head's."""
    logits = torch.randn(batch, len(priors), NUM_CLASSES, generator=generator) * 2 - 3
    distances = torch.rand(batch, len(priors), 4, generator=generator) * 4 * priors[:, 2:3]
    points = priors[:, :2].repeat(1, 2)
    boxes = points + distances * torch.tensor([-1.0, -1.0, 1.0, 1.0])
    return logits, boxes


def plain_predictions(priors: torch.Tensor, half_size: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Low scores and square boxes around every prior, with noise so no two costs tie."""
    generator = torch.Generator().manual_seed(11)
    logits = -4.0 + 0.1 * torch.rand(1, len(priors), NUM_CLASSES, generator=generator)
    jitter = 0.1 * torch.rand(1, len(priors), 4, generator=generator)
    offsets = torch.tensor([-half_size, -half_size, half_size, half_size])
    return logits, priors[None, :, :2].repeat(1, 1, 2) + offsets + jitter


def assert_same_as_per_image(assigner, logits, priors, boxes, gt_boxes, gt_labels, **kwargs):
    result = assigner.assign(logits, priors, boxes, gt_boxes, gt_labels)
    for image in range(len(gt_boxes)):
        expected_index, expected_iou = assign_one_image(
            logits[image], priors, boxes[image], gt_boxes[image], gt_labels[image], **kwargs
        )
        assert torch.equal(result.gt_index[image], expected_index), f"image {image}"
        torch.testing.assert_close(result.iou[image], expected_iou, rtol=1e-5, atol=1e-6)
    return result


@pytest.mark.parametrize("seed", range(6))
def test_batched_equals_per_image_on_random_batches(seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    priors = center_priors(INPUT_HW, STRIDES)
    counts = [0, 1, 3, 7]  # an image without GT, a lone GT, a few, many overlapping
    gts = [random_gts(generator, count) for count in counts]
    gt_boxes, gt_labels = [g[0] for g in gts], [g[1] for g in gts]
    # A GT that contains no prior (between grid points) and one of zero width.
    gt_boxes[2][0] = torch.tensor([9.0, 9.0, 15.0, 15.0])
    gt_boxes[3][1] = torch.tensor([20.0, 10.0, 20.0, 40.0])
    logits, boxes = random_predictions(generator, len(counts), priors)
    result = assert_same_as_per_image(
        DynamicSoftLabelAssigner(), logits, priors, boxes, gt_boxes, gt_labels
    )
    assert not result.positive[0].any()
    assert result.positive[1:].any(dim=1).all()


def test_chunked_assignment_equals_single_chunk(monkeypatch) -> None:
    generator = torch.Generator().manual_seed(7)
    priors = center_priors(INPUT_HW, STRIDES)
    gts = [random_gts(generator, count) for count in (2, 5, 0, 4)]
    logits, boxes = random_predictions(generator, 4, priors)
    args = (logits, priors, boxes, [g[0] for g in gts], [g[1] for g in gts])
    whole = DynamicSoftLabelAssigner().assign(*args)
    monkeypatch.setattr("nanodet_plus.assigners.dsl.CHUNK_ELEMENTS", 1)
    chunked = DynamicSoftLabelAssigner().assign(*args)
    assert torch.equal(whole.gt_index, chunked.gt_index)
    assert torch.equal(whole.iou, chunked.iou)


def test_batch_without_any_gt_is_all_negative() -> None:
    priors = center_priors(INPUT_HW, STRIDES)
    logits, boxes = random_predictions(torch.Generator().manual_seed(0), 2, priors)
    empty = [torch.zeros(0, 4), torch.zeros(0, 4)]
    labels = [torch.zeros(0, dtype=torch.int64)] * 2
    result = DynamicSoftLabelAssigner().assign(logits, priors, boxes, empty, labels)
    assert (result.gt_index == -1).all()
    assert (result.iou == 0).all()


def test_gt_containing_no_prior_takes_one_prior_of_another_gt() -> None:
    """Spec §9 edge case: k = 1 for the degenerate GT, a prior inside another GT, soft label 0."""
    priors = center_priors(INPUT_HW, STRIDES)
    big = torch.tensor([[0.5, 0.5, 60.0, 60.0]])
    tiny = torch.tensor([[81.0, 49.0, 87.0, 55.0]])  # between grid points, no prior inside
    gt_boxes = [torch.cat([big, tiny])]
    gt_labels = [torch.tensor([1, 3])]
    logits, boxes = plain_predictions(priors, 6.0)
    # The prior at (48, 48): cheapest for the tiny GT (lowest class scores), poor for the big one.
    cheap = int(((priors[:, 0] == 48) & (priors[:, 1] == 48) & (priors[:, 2] == 8)).nonzero())
    logits[0, cheap] = -12.0
    boxes[0, cheap] = torch.tensor([47.0, 47.0, 49.0, 49.0])
    result = assert_same_as_per_image(
        DynamicSoftLabelAssigner(), logits, priors, boxes, gt_boxes, gt_labels
    )
    assert result.gt_index[0, cheap] == 1
    assert result.iou[0, cheap] == 0
    targets = build_targets(result, priors, gt_boxes, gt_labels, NUM_CLASSES, reg_max=7)
    assert targets.labels[0, cheap] == 3
    assert targets.label_scores[0, cheap] == 0
    # The prior lies outside the tiny GT: its negative distances are clamped to 0.
    assert targets.dist_targets[0, cheap].tolist() == pytest.approx([0.0, 0.0, 4.875, 0.875])


def test_points_on_a_box_edge_are_not_candidates() -> None:
    priors = center_priors(INPUT_HW, STRIDES)
    gt_boxes = [torch.tensor([[16.0, 16.0, 24.0, 24.0]])]  # priors only on its corners
    logits, boxes = random_predictions(torch.Generator().manual_seed(1), 1, priors)
    result = DynamicSoftLabelAssigner().assign(
        logits, priors, boxes, gt_boxes, [torch.tensor([0])]
    )
    assert not result.positive.any()


def test_distance_cost_changes_assignment_and_matches_per_image() -> None:
    """A prior far from the GT centre but with a better box wins only without the distance cost."""
    priors = center_priors(INPUT_HW, STRIDES)
    gt = torch.tensor([[2.0, 2.0, 94.0, 62.0]])  # centre (48, 32)
    labels = [torch.tensor([2])]
    logits, boxes = plain_predictions(priors, 4.0)
    far = int(((priors[:, 0] == 8) & (priors[:, 1] == 8) & (priors[:, 2] == 8)).nonzero())
    boxes[0, far] = torch.tensor([3.0, 3.0, 93.0, 61.0])  # almost the GT, 6 strides off centre
    default = DynamicSoftLabelAssigner().assign(logits, priors, boxes, [gt], labels)
    assert default.gt_index[0, far] == 0
    with_distance = DynamicSoftLabelAssigner(distance_cost=True)
    result = assert_same_as_per_image(
        with_distance, logits, priors, boxes, [gt], labels, distance_alpha=10.0, distance_beta=3.0
    )
    assert result.gt_index[0, far] == -1
    assert not torch.equal(result.gt_index, default.gt_index)


def test_distance_cost_off_reproduces_the_default() -> None:
    generator = torch.Generator().manual_seed(3)
    priors = center_priors(INPUT_HW, STRIDES)
    gts = [random_gts(generator, count) for count in (3, 6)]
    logits, boxes = random_predictions(generator, 2, priors)
    args = (logits, priors, boxes, [g[0] for g in gts], [g[1] for g in gts])
    default = DynamicSoftLabelAssigner().assign(*args)
    off = DynamicSoftLabelAssigner(distance_cost=False, distance_alpha=2.0).assign(*args)
    assert torch.equal(default.gt_index, off.gt_index)
    assert torch.equal(default.iou, off.iou)


def test_targets_follow_the_assignment() -> None:
    generator = torch.Generator().manual_seed(5)
    priors = center_priors(INPUT_HW, STRIDES)
    gts = [random_gts(generator, count) for count in (4, 0)]
    gt_boxes, gt_labels = [g[0] for g in gts], [g[1] for g in gts]
    logits, boxes = random_predictions(generator, 2, priors)
    result = DynamicSoftLabelAssigner().assign(logits, priors, boxes, gt_boxes, gt_labels)
    targets = build_targets(result, priors, gt_boxes, gt_labels, NUM_CLASSES, reg_max=7)
    positive = result.positive
    assert targets.num_pos.tolist() == positive.sum(dim=1).tolist()
    assert (targets.labels[~positive] == NUM_CLASSES).all()
    index = result.gt_index[0, positive[0]]
    assert torch.equal(targets.labels[0, positive[0]], gt_labels[0][index])
    assert torch.equal(targets.bbox_targets[0, positive[0]], gt_boxes[0][index])
    assert torch.equal(targets.label_scores, result.iou)
    assert (targets.label_weights == 1).all()
    assert targets.dist_targets.min() >= 0 and targets.dist_targets.max() <= 6.9 + 1e-6
    assert (targets.dist_targets[~positive] == 0).all()
