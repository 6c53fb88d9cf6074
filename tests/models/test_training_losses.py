"""One training step through ``model.training_losses`` against the official losses and grads."""

from __future__ import annotations

import pytest
import torch

import nanodet_plus as nd


@pytest.fixture(scope="module")
def train_batch(reference_dir):
    return torch.load(reference_dir / "nanodet-plus-m_320_train_batch.pt", weights_only=True)


@pytest.mark.slow
@pytest.mark.parametrize("epoch", [0, 10])
def test_losses_and_grad_norms_match_official(
    epoch, train_batch, reference_state, reference_expected
):
    expected = reference_expected["train_step_losses"][f"epoch{epoch}"]
    model = nd.build_model("nanodet-plus-m_320")
    model.load_state_dict(reference_state)
    model.train()
    losses = model.training_losses(
        train_batch["img"], train_batch["gt_bboxes"], train_batch["gt_labels"], epoch=epoch
    )
    for name in ("loss_qfl", "loss_bbox", "loss_dfl", "aux_loss_qfl", "aux_loss_bbox",
                 "aux_loss_dfl", "loss"):
        assert losses[name].item() == pytest.approx(expected[name], rel=1e-4), name
    losses["loss"].backward()
    for module_name, norm in expected["grad_norm"].items():
        grads = [p.grad.double().flatten() for p in getattr(model, module_name).parameters()
                 if p.grad is not None]
        assert float(torch.cat(grads).norm()) == pytest.approx(norm, rel=1e-4), module_name
