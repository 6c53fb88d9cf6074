"""Box areas, IoU, IoA and GIoU against slow per-pair references, on empty, degenerate and
inverted boxes, and bit-for-bit against the numpy formulas the metrics and demo data used."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nanodet_plus.ops.boxes import aligned_box_giou, aligned_box_iou, box_area, box_ioa, box_iou


def _random_boxes(count: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """xyxy boxes in a 0-60 px square: mostly ordinary, some zero-area, points or inverted."""
    gen = torch.Generator().manual_seed(seed)
    corner = torch.randint(0, 40, (count, 2), generator=gen).to(dtype)
    corner += torch.rand(count, 2, generator=gen, dtype=dtype).round(decimals=1)
    size = torch.rand(count, 2, generator=gen, dtype=dtype) * 20
    boxes = torch.cat([corner, corner + size], dim=1)
    kind = torch.randint(0, 10, (count,), generator=gen)
    boxes[kind == 0, 2] = boxes[kind == 0, 0]
    boxes[kind == 1, 2:] = boxes[kind == 1, :2]
    boxes[kind == 2] = boxes[kind == 2][:, [2, 1, 0, 3]]
    boxes[kind == 3] = boxes[kind == 3][:, [2, 3, 0, 1]]
    return boxes


def _overlap_and_areas(a: list[float], b: list[float]) -> tuple[float, float, float]:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return width * height, (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])


def _reference_denominator(value: float, eps: float) -> float:
    if eps > 0:
        return max(value, eps)
    return value if value > 0 else 1.0


def _reference_iou(a: list[float], b: list[float], eps: float) -> float:
    overlap, area_a, area_b = _overlap_and_areas(a, b)
    return overlap / _reference_denominator(area_a + area_b - overlap, eps)


def _reference_giou(a: list[float], b: list[float], eps: float) -> float:
    overlap, area_a, area_b = _overlap_and_areas(a, b)
    union = _reference_denominator(area_a + area_b - overlap, eps)
    enclose = max(0.0, max(a[2], b[2]) - min(a[0], b[0])) * max(
        0.0, max(a[3], b[3]) - min(a[1], b[1]))
    enclose = _reference_denominator(enclose, eps)
    return overlap / union - (enclose - union) / enclose


def _reference_ioa(a: list[float], b: list[float]) -> float:
    overlap, area_a, _ = _overlap_and_areas(a, b)
    return overlap / area_a if area_a > 0 else 0.0


@pytest.mark.parametrize("eps", [0.0, 1e-6, 1.0])
def test_pairwise_iou_and_ioa_match_the_per_pair_reference(eps: float) -> None:
    boxes_a, boxes_b = _random_boxes(40, seed=1), _random_boxes(30, seed=2)
    boxes_b[:5] = boxes_a[:5]
    iou = box_iou(boxes_a, boxes_b, eps=eps)
    ioa = box_ioa(boxes_a, boxes_b)
    assert iou.shape == ioa.shape == (40, 30) and iou.dtype == torch.float64
    rows_a, rows_b = boxes_a.tolist(), boxes_b.tolist()
    expected_iou = [[_reference_iou(a, b, eps) for b in rows_b] for a in rows_a]
    expected_ioa = [[_reference_ioa(a, b) for b in rows_b] for a in rows_a]
    torch.testing.assert_close(iou, torch.tensor(expected_iou, dtype=torch.float64),
                               rtol=1e-12, atol=0)
    torch.testing.assert_close(ioa, torch.tensor(expected_ioa, dtype=torch.float64),
                               rtol=1e-12, atol=0)
    assert (iou >= 0).all() and (iou <= 1).all() and (ioa >= 0).all() and (ioa <= 1).all()


@pytest.mark.parametrize("eps", [0.0, 1e-6])
def test_aligned_iou_and_giou_match_the_per_pair_reference(eps: float) -> None:
    boxes_a, boxes_b = _random_boxes(200, seed=3), _random_boxes(200, seed=4)
    boxes_b[:20] = boxes_a[:20]
    pairs = list(zip(boxes_a.tolist(), boxes_b.tolist()))
    expected_iou = torch.tensor([_reference_iou(a, b, eps) for a, b in pairs], dtype=torch.float64)
    torch.testing.assert_close(aligned_box_iou(boxes_a, boxes_b, eps=eps), expected_iou,
                               rtol=1e-12, atol=0)
    torch.testing.assert_close(aligned_box_iou(boxes_a, boxes_b, eps=eps),
                               box_iou(boxes_a, boxes_b, eps=eps).diagonal(), rtol=0, atol=0)
    expected_giou = torch.tensor([_reference_giou(a, b, eps) for a, b in pairs],
                                 dtype=torch.float64)
    giou = aligned_box_giou(boxes_a, boxes_b, eps=eps)
    torch.testing.assert_close(giou, expected_giou, rtol=1e-12, atol=1e-15)
    proper = ((boxes_a[:, 2:] >= boxes_a[:, :2]) & (boxes_b[:, 2:] >= boxes_b[:, :2])).all(dim=1)
    assert proper.sum() > 100 and (giou[proper] >= -1).all() and (giou[proper] <= 1).all()


def test_hand_computed_values() -> None:
    box = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    others = torch.tensor([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0],
                           [0.0, 0.0, 20.0, 20.0]])
    torch.testing.assert_close(box_iou(box, others), torch.tensor([[50 / 150, 0.0, 100 / 400]]))
    torch.testing.assert_close(box_ioa(box, others), torch.tensor([[0.5, 0.0, 1.0]]))
    torch.testing.assert_close(box_area(others), torch.tensor([100.0, 100.0, 400.0]))
    # disjoint unit squares 1 px apart: IoU 0, enclosing area 3, union 2 -> GIoU -1/3
    giou = aligned_box_giou(torch.tensor([0.0, 0.0, 1.0, 1.0]), torch.tensor([2.0, 0.0, 3.0, 1.0]))
    assert float(giou) == pytest.approx(-1 / 3)


def test_empty_inputs_give_empty_results() -> None:
    none, three = torch.zeros((0, 4)), torch.rand(3, 4)
    assert box_iou(none, three).shape == (0, 3) and box_iou(three, none).shape == (3, 0)
    assert box_ioa(none, three).shape == (0, 3) and box_ioa(three, none).shape == (3, 0)
    assert box_iou(torch.zeros((2, 0, 4)), torch.zeros((2, 5, 4)), eps=1e-6).shape == (2, 0, 5)
    assert aligned_box_iou(none, none).shape == (0,) and aligned_box_giou(none, none).shape == (0,)
    assert box_area(none).shape == (0,)


def test_zero_area_and_inverted_boxes_have_zero_iou_and_finite_gradients() -> None:
    point = torch.tensor([[4.0, 4.0, 4.0, 4.0]])
    line = torch.tensor([[0.0, 4.0, 8.0, 4.0]])
    inverted = torch.tensor([[8.0, 0.0, 0.0, 8.0]])
    square = torch.tensor([[0.0, 0.0, 8.0, 8.0]])
    for eps in (0.0, 1e-6):
        for degenerate in (point, line, inverted):
            for other in (point, degenerate, square):
                assert box_iou(degenerate, other, eps=eps).tolist() == [[0.0]]
                assert box_iou(other, degenerate, eps=eps).tolist() == [[0.0]]
                assert box_ioa(degenerate, other).tolist() == [[0.0]]
    assert box_area(torch.cat([point, line, inverted])).tolist() == [0.0, 0.0, -64.0]
    for eps in (0.0, 1e-6):
        moving = point.clone().requires_grad_(True)
        giou = aligned_box_giou(moving, point, eps=eps)
        giou.sum().backward()
        assert giou.tolist() == [0.0] and torch.isfinite(moving.grad).all()


def test_eps_is_the_smallest_union() -> None:
    tiny = torch.tensor([[0.0, 0.0, 1e-4, 1e-4]])
    assert float(box_iou(tiny, tiny)) == 1.0
    assert float(box_iou(tiny, tiny, eps=1e-6)) == pytest.approx(1e-8 / 1e-6)
    assert float(aligned_box_iou(tiny, tiny, eps=1e-6)) == pytest.approx(1e-8 / 1e-6)


def test_leading_dimensions_broadcast_like_a_loop_over_images() -> None:
    boxes = _random_boxes(3 * 20, seed=5, dtype=torch.float32).reshape(3, 20, 4)
    gts = _random_boxes(3 * 6, seed=6, dtype=torch.float32).reshape(3, 6, 4)
    batched = box_iou(boxes, gts, eps=1e-6)
    assert batched.shape == (3, 20, 6) and batched.dtype == torch.float32
    for image in range(3):
        assert torch.equal(batched[image], box_iou(boxes[image], gts[image], eps=1e-6))
    shared = box_iou(boxes[0], gts, eps=1e-6)
    assert torch.equal(shared, box_iou(boxes[0].expand(3, -1, -1), gts, eps=1e-6))


def _numpy_metrics_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The float64 numpy IoU the detection metrics computed before sharing ``box_iou``."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _numpy_metrics_ioa(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The float64 numpy IoA (crowd overlap) the detection metrics computed before."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)[:, None]
    return np.divide(inter, area_a, out=np.zeros_like(inter), where=area_a > 0)


def _numpy_demo_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The one-against-many numpy IoU the demo generator computed before, in the boxes' dtype."""
    inter = np.prod((np.minimum(box[2:], boxes[:, 2:]) - np.maximum(box[:2], boxes[:, :2]))
                    .clip(0), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    return inter / (area + areas - inter)


@pytest.mark.parametrize("seed", range(3))
def test_torch_results_equal_the_numpy_formulas_bit_for_bit(seed: int) -> None:
    boxes_a = _random_boxes(50, seed=10 + seed).numpy() * 7.3
    boxes_b = _random_boxes(40, seed=20 + seed).numpy() * 7.3
    boxes_b[:4] = boxes_a[:4]
    np.testing.assert_array_equal(
        box_iou(torch.from_numpy(boxes_a), torch.from_numpy(boxes_b)).numpy(),
        _numpy_metrics_iou(boxes_a, boxes_b))
    np.testing.assert_array_equal(
        box_ioa(torch.from_numpy(boxes_a), torch.from_numpy(boxes_b)).numpy(),
        _numpy_metrics_ioa(boxes_a, boxes_b))
    ordinary = boxes_b[(boxes_b[:, 2:] > boxes_b[:, :2]).all(axis=1)].astype(np.float32)
    for box in ordinary[:10]:
        torch_iou = box_iou(torch.from_numpy(box[None]), torch.from_numpy(ordinary))[0].numpy()
        assert torch_iou.dtype == np.float32
        np.testing.assert_array_equal(torch_iou, _numpy_demo_iou(box, ordinary))
