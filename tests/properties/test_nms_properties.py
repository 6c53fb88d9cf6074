"""Property tests: the class-aware NMS equals a plain greedy NMS written out in Python."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, assume, example, given, settings
from hypothesis import strategies as st

from nanodet_plus.ops.nms import class_nms

FAST = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.filter_too_much])
Box = tuple[float, float, float, float]


def reference_iou(a: Box, b: Box) -> float:
    """IoU of two xyxy boxes in continuous coordinates; 0 when the union is empty."""
    overlap_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    overlap_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    overlap = overlap_w * overlap_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return overlap / union if union > 0 else 0.0


def reference_nms(boxes: list[Box], scores: list[float], groups: list[int], iou_thr: float
                  ) -> tuple[list[int], list[float]]:
    """Greedy NMS: visit boxes by descending score, keep a box unless a kept box of its group
    overlaps it with IoU above ``iou_thr``. Returns the kept indices in visiting order and the
    IoUs the decisions were taken on."""
    order = sorted(range(len(boxes)), key=lambda i: scores[i], reverse=True)
    kept: list[int] = []
    decided_on: list[float] = []
    for i in order:
        ious = [reference_iou(boxes[i], boxes[j]) for j in kept if groups[j] == groups[i]]
        decided_on += ious
        if all(iou <= iou_thr for iou in ious):
            kept.append(i)
    return kept, decided_on


def run_project_nms(boxes: list[Box], scores: list[float], groups: list[int], iou_thr: float
                    ) -> list[int]:
    """The project's NMS, checked to give the same answer through its numpy loop (a few
    boxes) and through torchvision (many)."""
    inputs = (np.array(boxes, dtype=np.float32).reshape(-1, 4),
              np.array(scores, dtype=np.float32), np.array(groups, dtype=np.int64))
    keep = class_nms(*inputs, iou_thr)
    assert keep.dtype == np.int64
    assert class_nms(*inputs, iou_thr, loop_limit=0).tolist() == keep.tolist()
    return keep.tolist()


@st.composite
def nms_case(draw: st.DrawFn, coordinate: st.SearchStrategy[float],
             side: st.SearchStrategy[float], max_groups: int = 4
             ) -> tuple[list[Box], list[float], list[int]]:
    """Boxes (some of zero width or height), distinct float32 scores and group ids."""
    count = draw(st.integers(0, 30))
    boxes = []
    for _ in range(count):
        x, y = draw(coordinate), draw(coordinate)
        boxes.append((x, y, x + draw(side), y + draw(side)))
    # Distinct scores in float32, so the visiting order is well defined.
    scores = draw(st.lists(st.floats(0, 1, width=32), min_size=count, max_size=count,
                           unique=True))
    groups = draw(st.lists(st.integers(0, max_groups - 1), min_size=count, max_size=count))
    return boxes, scores, groups


THRESHOLDS = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 0.6, 0.75, 1.0]), st.floats(0, 1))
# Small integers: IoUs are exact in float64 (ties with the threshold included) and the boxes
# overlap often.
GRID = nms_case(st.integers(0, 40).map(float), st.integers(0, 24).map(float))


@FAST
@given(GRID, THRESHOLDS)
def test_nms_equals_greedy_reference_on_grid_boxes(
    case: tuple[list[Box], list[float], list[int]], iou_thr: float
) -> None:
    boxes, scores, groups = case
    expected, _ = reference_nms(boxes, scores, groups, iou_thr)
    assert run_project_nms(boxes, scores, groups, iou_thr) == expected


@FAST
@given(nms_case(st.floats(0, 1000), st.floats(0, 300)), st.floats(0.05, 0.95))
def test_nms_equals_greedy_reference_on_float_boxes(
    case: tuple[list[Box], list[float], list[int]], iou_thr: float
) -> None:
    """Float pixel boxes in float32, as the post-processing passes them. Pairs whose IoU is
    within 1e-6 of the threshold are rounding-dependent and skipped."""
    boxes, scores, groups = case
    boxes = [tuple(float(v) for v in torch.tensor(box, dtype=torch.float32)) for box in boxes]
    expected, decided_on = reference_nms(boxes, scores, groups, iou_thr)
    assume(all(abs(iou - iou_thr) >= 1e-6 for iou in decided_on))
    assert run_project_nms(boxes, scores, groups, iou_thr) == expected


@FAST
@given(GRID, THRESHOLDS)
def test_one_group_equals_plain_nms_and_groups_never_interact(
    case: tuple[list[Box], list[float], list[int]], iou_thr: float
) -> None:
    """All in one group is plain NMS; with groups, the kept set is the union of the per-group
    results (a box only ever suppresses boxes of its own group)."""
    boxes, scores, groups = case
    single = run_project_nms(boxes, scores, [0] * len(boxes), iou_thr)
    assert single == reference_nms(boxes, scores, [0] * len(boxes), iou_thr)[0]
    per_group: set[int] = set()
    for group in set(groups):
        members = [i for i, g in enumerate(groups) if g == group]
        kept = run_project_nms([boxes[i] for i in members], [scores[i] for i in members],
                               [group] * len(members), iou_thr)
        per_group |= {members[k] for k in kept}
    together = run_project_nms(boxes, scores, groups, iou_thr)
    assert set(together) == per_group
    assert [scores[i] for i in together] == sorted((scores[i] for i in together), reverse=True)


# torchvision's batched NMS shifts every box by group * (largest coordinate + 1), which keeps
# groups apart only while coordinates are >= -1; this case mixed groups until the NMS
# shifted the boxes to start at 0.
NEGATIVE_COUNTEREXAMPLE = (
    [(0.0, 0.0, 5.0, 5.0), (-7.0, -7.0, -1.0, -1.0)], [0.9, 0.8], [0, 1],
)


@settings(FAST, phases=(Phase.explicit, Phase.generate))
@example(NEGATIVE_COUNTEREXAMPLE, 0.5)
@given(nms_case(st.integers(-40, 40).map(float), st.integers(0, 24).map(float)), THRESHOLDS)
def test_nms_equals_greedy_reference_with_negative_coordinates(
    case: tuple[list[Box], list[float], list[int]], iou_thr: float
) -> None:
    boxes, scores, groups = case
    expected, _ = reference_nms(boxes, scores, groups, iou_thr)
    assert run_project_nms(boxes, scores, groups, iou_thr) == expected
