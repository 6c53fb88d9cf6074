"""One training step on the reference batch reproduces the official losses and gradient norms."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from nanodet_plus.models.factory import build_model
from nanodet_plus.models.weights import load_weights

MODULES = ("backbone", "fpn", "head", "aux_fpn", "aux_head")
LOSS_TERMS = (
    "loss_qfl", "loss_bbox", "loss_dfl", "aux_loss_qfl", "aux_loss_bbox", "aux_loss_dfl", "loss"
)
RELATIVE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def model_and_batch(reference_dir: Path, reference_weights: Path):
    model = build_model("nanodet-plus-m_320", num_classes=80)
    load_weights(model, reference_weights)
    model.train()
    batch = torch.load(reference_dir / "nanodet-plus-m_320_train_batch.pt", weights_only=True)
    return model, batch


def grad_norms(model: torch.nn.Module) -> dict[str, float]:
    """L2 norm of the gradient over each top-level module's parameters."""
    norms = {}
    for name in MODULES:
        squares = [
            p.grad.double().pow(2).sum()
            for p in getattr(model, name).parameters()
            if p.grad is not None
        ]
        norms[name] = math.sqrt(float(torch.stack(squares).sum())) if squares else 0.0
    return norms


@pytest.mark.slow
@pytest.mark.parametrize("epoch", [0, 10])
def test_train_step_matches_official(model_and_batch, reference_expected, epoch: int) -> None:
    model, batch = model_and_batch
    expected = reference_expected["train_step_losses"][f"epoch{epoch}"]
    model.zero_grad(set_to_none=True)
    losses = model.training_losses(
        batch["img"], list(batch["gt_bboxes"]), list(batch["gt_labels"]), epoch=epoch
    )
    losses["loss"].backward()
    for term in LOSS_TERMS:
        value = float(losses[term].detach())
        assert value == pytest.approx(expected[term], rel=RELATIVE_TOLERANCE), term
    norms = grad_norms(model)
    for name in MODULES:
        assert norms[name] == pytest.approx(
            expected["grad_norm"][name], rel=RELATIVE_TOLERANCE
        ), name
