"""QFL, DFL and GIoU against hand-computed values and their degenerate cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from nanodet_plus.losses import distribution_focal_loss, giou_loss, quality_focal_loss


def test_qfl_matches_the_formula_element_by_element() -> None:
    logits = torch.tensor([[0.5, -1.0, 2.0], [-0.3, 0.8, -2.0]])
    labels = torch.tensor([2, 3])  # row 0 positive for class 2, row 1 background (C = 3)
    scores = torch.tensor([0.7, 0.0])
    sig = logits.sigmoid()
    expected = 0.0
    for row in range(2):
        for col in range(3):
            target = 0.7 if (row, col) == (0, 2) else 0.0
            bce = F.binary_cross_entropy_with_logits(logits[row, col], torch.tensor(target))
            expected += float(bce) * abs(target - float(sig[row, col])) ** 2
    total = quality_focal_loss(logits, labels, scores, reduction="sum")
    assert float(total) == pytest.approx(expected, rel=1e-6)
    averaged = quality_focal_loss(logits, labels, scores, avg_factor=4.0)
    assert float(averaged) == pytest.approx(expected / 4, rel=1e-6)
    per_row = quality_focal_loss(logits, labels, scores, reduction="none")
    assert per_row.shape == (2,)


def test_qfl_with_zero_weights_is_zero() -> None:
    logits = torch.randn(6, 4, requires_grad=True)
    labels = torch.tensor([0, 1, 4, 4, 2, 3])
    loss = quality_focal_loss(logits, labels, torch.rand(6), weight=torch.zeros(6), avg_factor=3)
    assert loss.item() == 0.0
    loss.backward()
    assert (logits.grad == 0).all()


def test_dfl_of_an_integer_target_is_cross_entropy_at_that_bin() -> None:
    logits = torch.randn(3, 8)
    targets = torch.tensor([0.0, 3.0, 6.0])
    loss = distribution_focal_loss(logits, targets, reduction="none")
    torch.testing.assert_close(loss, F.cross_entropy(logits, targets.long(), reduction="none"))


def test_dfl_interpolates_between_neighbouring_bins() -> None:
    logits = torch.randn(1, 8)
    loss = distribution_focal_loss(logits, torch.tensor([2.25]), reduction="sum")
    log_probs = logits.log_softmax(dim=-1)[0]
    assert float(loss) == pytest.approx(-0.75 * float(log_probs[2]) - 0.25 * float(log_probs[3]))


def test_dfl_with_zero_weights_is_zero() -> None:
    loss = distribution_focal_loss(
        torch.randn(5, 8), torch.rand(5) * 6.9, weight=torch.zeros(5), avg_factor=2.0
    )
    assert loss.item() == 0.0


def test_giou_of_identical_boxes_is_zero_loss() -> None:
    boxes = torch.tensor([[0.0, 0.0, 10.0, 20.0], [5.0, 5.0, 6.0, 9.0]])
    assert giou_loss(boxes, boxes.clone(), reduction="none").tolist() == [0.0, 0.0]


def test_giou_of_disjoint_boxes() -> None:
    pred = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    target = torch.tensor([[2.0, 0.0, 3.0, 1.0]])
    # IoU 0, enclosing area 3, union 2: GIoU = -1/3, loss 4/3.
    assert float(giou_loss(pred, target)) == pytest.approx(4 / 3)


def test_giou_of_degenerate_boxes_stays_finite() -> None:
    point = torch.tensor([[4.0, 4.0, 4.0, 4.0]], requires_grad=True)
    loss = giou_loss(point, point.detach().clone(), reduction="sum")
    loss.backward()
    assert math.isfinite(loss.item()) and torch.isfinite(point.grad).all()


def test_giou_weighting_and_all_zero_weights() -> None:
    pred = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 1.0, 1.0]], requires_grad=True)
    target = torch.tensor([[0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
    weighted = giou_loss(pred, target, weight=torch.tensor([2.0, 1.0]), avg_factor=4.0)
    assert weighted.item() == pytest.approx(2.0 * 0.5 / 4.0)
    zero = giou_loss(pred, target, weight=torch.zeros(2), avg_factor=4.0)
    assert zero.item() == 0.0 and zero.requires_grad


def test_bad_reduction_is_rejected() -> None:
    with pytest.raises(ValueError, match="reduction"):
        giou_loss(torch.zeros(1, 4), torch.zeros(1, 4), reduction="max")
    with pytest.raises(ValueError, match="avg_factor"):
        distribution_focal_loss(torch.zeros(1, 8), torch.zeros(1), avg_factor=2, reduction="sum")
