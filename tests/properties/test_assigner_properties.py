"""Property tests of the Dynamic Soft Label Assigner on random priors, GTs and predictions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from nanodet_plus.assigners import DynamicSoftLabelAssigner
from nanodet_plus.assigners.base import UNION_EPS
from nanodet_plus.ops.boxes import box_iou
from nanodet_plus.ops.priors import center_priors

FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None)
STRIDES = (8, 16, 32, 64)
NUM_CLASSES = 4


@dataclass
class Case:
    """One batch to assign: input size, per-image GTs and the head's predictions."""

    input_hw: tuple[int, int]
    gt_boxes: list[torch.Tensor]  # per image [n_i, 4] xyxy input pixels
    gt_labels: list[torch.Tensor]  # per image [n_i]
    cls_logits: torch.Tensor  # [B, N, C]
    decoded_boxes: torch.Tensor  # [B, N, 4]
    assigner: DynamicSoftLabelAssigner

    @property
    def priors(self) -> torch.Tensor:
        return center_priors(self.input_hw, STRIDES)

    def assign(self) -> torch.Tensor:
        """``gt_index [B, N]``, checked to be the assigner's only per-prior choice."""
        result = self.assigner.assign(self.cls_logits, self.priors, self.decoded_boxes,
                                      self.gt_boxes, self.gt_labels)
        assert result.gt_index.shape == self.decoded_boxes.shape[:2]
        assert result.gt_index.dtype == torch.int64
        return result.gt_index

    def inside(self, image: int) -> torch.Tensor:
        """``[N, n_i]``: prior centre strictly inside the GT box (the assigner's candidates)."""
        x, y = self.priors[:, 0:1], self.priors[:, 1:2]
        boxes = self.gt_boxes[image]
        return (x > boxes[:, 0]) & (y > boxes[:, 1]) & (x < boxes[:, 2]) & (y < boxes[:, 3])


def _coordinate(limit: int) -> st.SearchStrategy[float]:
    """Mostly whole pixels (edges on the prior grid test the strict inequality), some floats."""
    return st.one_of(st.integers(0, limit).map(float), st.floats(0, limit))


@st.composite
def gt_boxes(draw: st.DrawFn, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """0-6 GT boxes inside the input (some of zero width or height) and their labels."""
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        x1, y1 = draw(_coordinate(width)), draw(_coordinate(height))
        x2 = min(float(width), x1 + draw(_coordinate(width)))
        y2 = min(float(height), y1 + draw(_coordinate(height)))
        rows.append([x1, y1, x2, y2])
    labels = draw(st.lists(st.integers(0, NUM_CLASSES - 1), min_size=len(rows),
                           max_size=len(rows)))
    return (torch.tensor(rows, dtype=torch.float32).reshape(-1, 4),
            torch.tensor(labels, dtype=torch.int64))


@st.composite
def cases(draw: st.DrawFn, max_batch: int = 3) -> Case:
    """A batch of random GTs; predictions from a drawn seed (untrained- to trained-looking)."""
    height, width = draw(st.sampled_from([32, 64, 96, 128])), draw(st.sampled_from([32, 64, 96]))
    batch = draw(st.integers(1, max_batch))
    gts = [draw(gt_boxes(width, height)) for _ in range(batch)]
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    priors = center_priors((height, width), STRIDES)
    logit_scale, logit_shift = draw(st.floats(0.0, 6.0)), draw(st.floats(-6.0, 2.0))
    logits = torch.randn(batch, len(priors), NUM_CLASSES, generator=generator)
    spread = draw(st.floats(0.05, 5.0))
    distances = torch.rand(batch, len(priors), 4, generator=generator) * spread * priors[:, 2:3]
    decoded = priors[:, :2].repeat(1, 2) + distances * torch.tensor([-1.0, -1.0, 1.0, 1.0])
    assigner = DynamicSoftLabelAssigner(
        topk=draw(st.sampled_from([1, 5, 13])), iou_factor=draw(st.floats(0.5, 5.0)),
        distance_cost=draw(st.booleans()),
    )
    return Case((height, width), [g[0] for g in gts], [g[1] for g in gts],
                logits * logit_scale + logit_shift, decoded, assigner)


@FAST
@given(cases())
def test_each_prior_learns_at_most_one_existing_gt_with_its_true_iou(case: Case) -> None:
    """``gt_index`` names one of the image's GTs or -1, and ``iou`` is the IoU of the prior's
    predicted box with that GT (0 for negatives)."""
    result = case.assigner.assign(case.cls_logits, case.priors, case.decoded_boxes,
                                  case.gt_boxes, case.gt_labels)
    for image, boxes in enumerate(case.gt_boxes):
        index = result.gt_index[image]
        assert ((index >= -1) & (index < len(boxes))).all()
        positive = index >= 0
        assert (result.iou[image][~positive] == 0).all()
        if positive.any():
            ious = box_iou(case.decoded_boxes[image][positive], boxes, eps=UNION_EPS)
            expected = ious.gather(1, index[positive][:, None]).squeeze(1)
            torch.testing.assert_close(result.iou[image][positive], expected)


@FAST
@given(cases())
def test_only_priors_strictly_inside_some_gt_are_positive(case: Case) -> None:
    """A positive prior's centre is strictly inside at least one GT of its image (on a GT's
    edge is outside). The GT it learns need not be one of them: see the xfail test below."""
    gt_index = case.assign()
    for image in range(len(case.gt_boxes)):
        positive = gt_index[image] >= 0
        assert case.inside(image).any(dim=1)[positive].all()


@FAST
@given(cases())
def test_an_image_with_a_prior_inside_a_gt_gets_positives(case: Case) -> None:
    """Some prior is inside some GT <=> the image has at least one positive."""
    gt_index = case.assign()
    for image in range(len(case.gt_boxes)):
        has_candidates = bool(case.inside(image).any())
        assert bool((gt_index[image] >= 0).any()) == has_candidates


@st.composite
def lone_gt_cases(draw: st.DrawFn) -> Case:
    """Cases whose images hold exactly one GT each."""
    case = draw(cases())
    for image, boxes in enumerate(case.gt_boxes):
        if len(boxes) != 1:
            height, width = case.input_hw
            x1, y1 = draw(_coordinate(width - 1)), draw(_coordinate(height - 1))
            box = [x1, y1, draw(st.floats(x1, width)), draw(st.floats(y1, height))]
            case.gt_boxes[image] = torch.tensor([box], dtype=torch.float32)
            case.gt_labels[image] = torch.tensor([draw(st.integers(0, NUM_CLASSES - 1))])
    return case


@FAST
@given(lone_gt_cases())
def test_a_lone_gt_with_a_prior_inside_gets_positives_inside_it(case: Case) -> None:
    """With one GT nothing is contested: if a prior is inside it, it gets between 1 and (number
    of priors inside) positives, all inside it."""
    gt_index = case.assign()
    for image in range(len(case.gt_boxes)):
        inside = case.inside(image)[:, 0]
        positive = gt_index[image] >= 0
        assert inside[positive].all()
        if inside.any():
            assert 1 <= int(positive.sum()) <= int(inside.sum())


def _stolen_prior_case() -> Case:
    """Input 32x32; GT 1 = (3, 7, 9, 9) holds only the prior at (8, 8) (index 5); GT 0 =
    (0, 0, 3, 4) holds no prior centre (x = 0 is on its edge). The prior at (8, 8) predicts
    (0, 0, 4, 4), IoU 0.75 with GT 0 and 0 with GT 1; every other prior predicts its cell."""
    priors = center_priors((32, 32), STRIDES)
    decoded = torch.cat([priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2],
                        dim=1)
    decoded[5] = torch.tensor([0.0, 0.0, 4.0, 4.0])
    return Case(
        (32, 32), [torch.tensor([[0.0, 0.0, 3.0, 4.0], [3.0, 7.0, 9.0, 9.0]])],
        [torch.tensor([0, 0])], torch.full((1, len(priors), NUM_CLASSES), -3.0), decoded[None],
        DynamicSoftLabelAssigner(),
    )


KNOWN = "known, as in the official DSLA: candidates are priors inside any GT, and each GT " \
        "ranks all of them; a contested prior goes to the GT with the lowest cost"


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=KNOWN)
@settings(FAST, phases=(Phase.explicit, Phase.generate))
@example(_stolen_prior_case())
@given(cases())
def test_every_gt_with_a_prior_inside_gets_a_positive(case: Case) -> None:
    """Does not hold: in the example GT 1's only prior is taken by GT 0, which contains no prior
    centre, so GT 1 is never learnt from this image."""
    gt_index = case.assign()
    for image in range(len(case.gt_boxes)):
        for gt in case.inside(image).any(dim=0).nonzero().flatten().tolist():
            assert (gt_index[image] == gt).any(), f"image {image}: GT {gt} has no positive"


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=KNOWN)
@settings(FAST, phases=(Phase.explicit, Phase.generate))
@example(_stolen_prior_case())
@given(cases())
def test_every_positive_lies_inside_the_gt_it_learns(case: Case) -> None:
    """Does not hold: in the example prior 5 learns GT 0 though its centre is outside GT 0."""
    gt_index = case.assign()
    for image in range(len(case.gt_boxes)):
        positive = (gt_index[image] >= 0).nonzero().flatten()
        inside = case.inside(image)
        assert inside[positive, gt_index[image][positive]].all()


def test_the_counterexample_is_what_the_assigner_does() -> None:
    """Pins the example of the two xfail tests, so they fail for the stated reason."""
    gt_index = _stolen_prior_case().assign()
    assert gt_index[0].tolist() == [-1] * 5 + [0] + [-1] * 16
