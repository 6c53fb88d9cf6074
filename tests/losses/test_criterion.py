"""NanoDetPlusCriterion: outputs, empty images, the no-aux path and input checks."""

from __future__ import annotations

import pytest
import torch

from nanodet_plus.config.schema import ModelConfig
from nanodet_plus.losses.criterion import NanoDetPlusCriterion
from nanodet_plus.ops.priors import num_points

INPUT_HW = (64, 96)
NUM_CLASSES = 3
CHANNELS = NUM_CLASSES + 4 * 8
ALL_TERMS = {
    "loss", "loss_qfl", "loss_bbox", "loss_dfl", "aux_loss_qfl", "aux_loss_bbox", "aux_loss_dfl"
}
STATISTICS = {"num_pos"}  # reported beside the losses, not part of the total


@pytest.fixture
def criterion() -> NanoDetPlusCriterion:
    return NanoDetPlusCriterion(ModelConfig(num_classes=NUM_CLASSES))


def raw_outputs(batch: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    points = num_points(INPUT_HW, (8, 16, 32, 64))
    raw = torch.randn(batch, points, CHANNELS, generator=generator)
    raw[..., :NUM_CLASSES] -= 3.0
    return raw.requires_grad_()


def some_gts() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    boxes = [torch.tensor([[4.0, 6.0, 50.0, 40.0], [30.0, 20.0, 90.0, 60.0]]), torch.zeros(0, 4)]
    labels = [torch.tensor([0, 2]), torch.zeros(0, dtype=torch.int64)]
    return boxes, labels


def test_all_terms_and_total(criterion) -> None:
    head, aux = raw_outputs(2, 0), raw_outputs(2, 1)
    boxes, labels = some_gts()
    losses = criterion(head, aux, INPUT_HW, boxes, labels)
    assert set(losses) == ALL_TERMS | STATISTICS
    assert not losses["num_pos"].requires_grad and float(losses["num_pos"]) > 0
    parts = sum(float(v.detach()) for k, v in losses.items() if k in ALL_TERMS - {"loss"})
    assert float(losses["loss"].detach()) == pytest.approx(parts, rel=1e-6)
    assert all(float(v.detach()) > 0 for v in losses.values())
    losses["loss"].backward()
    assert head.grad.abs().sum() > 0 and aux.grad.abs().sum() > 0


def test_images_without_gt_give_zero_box_losses_and_backward_works(criterion) -> None:
    head, aux = raw_outputs(2, 0), raw_outputs(2, 1)
    empty_boxes = [torch.zeros(0, 4), torch.zeros(0, 4)]
    empty_labels = [torch.zeros(0, dtype=torch.int64)] * 2
    losses = criterion(head, aux, INPUT_HW, empty_boxes, empty_labels)
    assert float(losses["loss_qfl"].detach()) > 0 and float(losses["aux_loss_qfl"].detach()) > 0
    for term in ("loss_bbox", "loss_dfl", "aux_loss_bbox", "aux_loss_dfl"):
        assert float(losses[term].detach()) == 0.0
        assert losses[term].requires_grad
    losses["loss"].backward()
    assert torch.isfinite(head.grad).all() and torch.isfinite(aux.grad).all()
    assert (head.grad[..., NUM_CLASSES:] == 0).all()


def test_without_aux_assigns_from_the_head_and_reports_three_terms(criterion) -> None:
    head = raw_outputs(2, 0)
    boxes, labels = some_gts()
    losses = criterion(head, None, INPUT_HW, boxes, labels)
    assert set(losses) == {"loss", "loss_qfl", "loss_bbox", "loss_dfl", "num_pos"}
    with_own_guidance = criterion(head, head.detach().clone(), INPUT_HW, boxes, labels)
    for term in ("loss_qfl", "loss_bbox", "loss_dfl"):
        assert float(losses[term].detach()) == float(with_own_guidance[term].detach())


def test_project_buffer_changes_decoding(criterion) -> None:
    head = raw_outputs(2, 0)
    boxes, labels = some_gts()
    default = criterion(head, None, INPUT_HW, boxes, labels)
    scaled = criterion(head, None, INPUT_HW, boxes, labels, project=torch.arange(8.0) * 1.5)
    assert float(default["loss_bbox"].detach()) != float(scaled["loss_bbox"].detach())


def test_mismatched_inputs_are_rejected(criterion) -> None:
    boxes, labels = some_gts()
    with pytest.raises(ValueError, match="channels"):
        criterion(torch.zeros(2, 128, 40), None, INPUT_HW, boxes, labels)
    with pytest.raises(ValueError, match="points"):
        criterion(torch.zeros(2, 100, CHANNELS), None, INPUT_HW, boxes, labels)
    with pytest.raises(ValueError, match="label"):
        criterion(raw_outputs(2), None, INPUT_HW, boxes, [labels[0]])
    with pytest.raises(ValueError, match=r"GT label 3 is outside \[0, 3\)"):
        criterion(raw_outputs(2), None, INPUT_HW, boxes, [torch.tensor([0, 3]), labels[1]])


def test_bfloat16_outputs_give_float32_losses(criterion) -> None:
    head = raw_outputs(2, 0).detach().to(torch.bfloat16).requires_grad_()
    aux = raw_outputs(2, 1).detach().to(torch.bfloat16).requires_grad_()
    boxes, labels = some_gts()
    losses = criterion(head, aux, INPUT_HW, boxes, labels)
    assert all(value.dtype == torch.float32 for value in losses.values())
    losses["loss"].backward()
    assert head.grad.dtype == torch.bfloat16 and torch.isfinite(head.grad.float()).all()
