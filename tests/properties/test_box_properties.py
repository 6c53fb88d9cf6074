"""Property tests of the box warp of the training augmentation and of box clipping."""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nanodet_plus.config.schema import AugmentConfig
from nanodet_plus.data.datasets.base import MIN_BOX_SIZE, LoadReport, clean_boxes
from nanodet_plus.data.transforms import random_warp_matrix, warp_boxes
from nanodet_plus.ops.boxes import distance2bbox

# Derandomized: every run (local or CI) tries the same examples.
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None)
ROUND_TRIP_TOL = 1e-3  # px


@st.composite
def boxes_inside(draw: st.DrawFn, width: float, height: float, max_boxes: int = 8) -> np.ndarray:
    """``[n, 4]`` float32 xyxy boxes inside a ``width`` x ``height`` image (some of zero size)."""
    count = draw(st.integers(0, max_boxes))
    rows = []
    for _ in range(count):
        xs = sorted(draw(st.lists(st.floats(0, width), min_size=2, max_size=2)))
        ys = sorted(draw(st.lists(st.floats(0, height), min_size=2, max_size=2)))
        rows.append([xs[0], ys[0], xs[1], ys[1]])
    return np.asarray(rows, np.float32).reshape(-1, 4)


def _corners(boxes: np.ndarray) -> np.ndarray:
    """The four corners ``[n, 4, 2]`` of xyxy boxes, in float64."""
    b = boxes.astype(np.float64)
    return np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], axis=1)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Points ``[..., 2]`` through a 3x3 matrix, with the homogeneous divide."""
    homogeneous = np.concatenate([points, np.ones((*points.shape[:-1], 1))], axis=-1)
    mapped = homogeneous @ matrix.T
    return mapped[..., :2] / mapped[..., 2:3]


def _contains(outer: np.ndarray, inner: np.ndarray, tol: float) -> np.ndarray:
    """Whether each box of ``outer`` contains the matching box of ``inner`` (within ``tol``)."""
    return (
        (outer[:, 0] <= inner[:, 0] + tol) & (outer[:, 1] <= inner[:, 1] + tol)
        & (outer[:, 2] >= inner[:, 2] - tol) & (outer[:, 3] >= inner[:, 3] - tol)
    )


# --- warp then inverse warp -------------------------------------------------------------------


@st.composite
def axis_aligned_case(draw: st.DrawFn) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    """An image size, boxes inside it, and a scale + translation (+ horizontal flip) matrix
    whose output canvas holds the whole warped image."""
    width, height = draw(st.integers(1, 2048)), draw(st.integers(1, 2048))
    boxes = draw(boxes_inside(width, height))
    scale_x, scale_y = draw(st.floats(0.25, 4.0)), draw(st.floats(0.25, 4.0))
    flip = draw(st.booleans())
    shift_x, shift_y = draw(st.floats(0, 100)), draw(st.floats(0, 100))
    offset_x = shift_x + (scale_x * width if flip else 0.0)
    matrix = np.array([[-scale_x if flip else scale_x, 0, offset_x],
                       [0, scale_y, shift_y], [0, 0, 1]], np.float64)
    return (width, height), boxes, matrix


@FAST
@given(axis_aligned_case())
def test_axis_aligned_warp_round_trip_is_exact(
    case: tuple[tuple[int, int], np.ndarray, np.ndarray],
) -> None:
    """Scale + translation (+ flip), nothing clipped: the inverse warp gives every box back."""
    (width, height), boxes, matrix = case
    canvas = (abs(matrix[0, 0]) * width + 100.0, matrix[1, 1] * height + 100.0)
    warped = warp_boxes(boxes, matrix, canvas)
    back = warp_boxes(warped, np.linalg.inv(matrix), (width, height))
    np.testing.assert_allclose(back, boxes, rtol=0, atol=ROUND_TRIP_TOL)


def _augment(draw: st.DrawFn, rotation: float, shear: float, perspective: float) -> AugmentConfig:
    low, high = sorted(draw(st.lists(st.floats(0.3, 2.0), min_size=2, max_size=2)))
    return AugmentConfig(
        perspective=perspective, scale=(low, high),
        stretch=((0.7, draw(st.floats(0.7, 1.4))), (0.7, draw(st.floats(0.7, 1.4)))),
        rotation=rotation, shear=shear, translate=draw(st.floats(0.0, 0.5)),
        flip=draw(st.sampled_from([0.0, 0.5, 1.0])),
    )


@st.composite
def training_warp_case(
    draw: st.DrawFn, rotation: bool
) -> tuple[tuple[int, int], np.ndarray, np.ndarray, tuple[int, int]]:
    """An image size, boxes inside it, and a warp matrix and output size drawn by the training
    augmentation's :func:`random_warp_matrix` (with or without rotation, shear, perspective)."""
    src = (draw(st.integers(8, 1024)), draw(st.integers(8, 1024)))
    dst = (draw(st.integers(32, 640)), draw(st.integers(32, 640)))
    if rotation:
        augment = _augment(draw, rotation=draw(st.floats(0, 180)),
                           shear=draw(st.floats(0, 30)), perspective=draw(st.floats(0, 1e-4)))
    else:
        augment = _augment(draw, rotation=0.0, shear=0.0, perspective=0.0)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    matrix, out_wh = random_warp_matrix(rng, augment, src, dst, draw(st.booleans()))
    return src, draw(boxes_inside(*src)), matrix, out_wh


@FAST
@given(training_warp_case(rotation=False))
def test_training_warp_without_rotation_round_trips(
    case: tuple[tuple[int, int], np.ndarray, np.ndarray, tuple[int, int]],
) -> None:
    """Scale, stretch, flip, translation and resize: the inverse warp gives back every box the
    output kept whole, and a part of the box for boxes the output clipped."""
    src, boxes, matrix, out_wh = case
    assert np.allclose(matrix[2], [0, 0, 1]) and matrix[0, 1] == matrix[1, 0] == 0
    warped = warp_boxes(boxes, matrix, out_wh)
    back = warp_boxes(warped, np.linalg.inv(matrix), src)
    corners = _apply(matrix, _corners(boxes))
    limits = np.array(out_wh, np.float64)
    whole = ((corners >= -1e-9) & (corners <= limits + 1e-9)).all(axis=(1, 2))
    np.testing.assert_allclose(back[whole], boxes[whole], rtol=0, atol=ROUND_TRIP_TOL)
    # A box wholly outside the output collapses onto its edge, which maps back outside the box.
    meets = ((corners.min(axis=1) <= limits) & (corners.max(axis=1) >= 0)).all(axis=1)
    assert _contains(boxes[meets], back[meets], ROUND_TRIP_TOL).all()


@FAST
@given(training_warp_case(rotation=True))
def test_warped_box_is_the_tight_box_of_its_warped_corners(
    case: tuple[tuple[int, int], np.ndarray, np.ndarray, tuple[int, int]],
) -> None:
    """With rotation, shear and perspective the warped box holds all four warped corners (each
    clipped to the output) and each of its sides passes through one of them."""
    _, boxes, matrix, (out_w, out_h) = case
    warped = warp_boxes(boxes, matrix, (out_w, out_h)).astype(np.float64)
    corners = _apply(matrix, _corners(boxes))
    xs, ys = corners[..., 0].clip(0, out_w), corners[..., 1].clip(0, out_h)
    tol = ROUND_TRIP_TOL
    assert ((warped[:, [0]] <= xs + tol) & (xs <= warped[:, [2]] + tol)).all()
    assert ((warped[:, [1]] <= ys + tol) & (ys <= warped[:, [3]] + tol)).all()
    tight = np.stack([xs.min(1), ys.min(1), xs.max(1), ys.max(1)], axis=1)
    np.testing.assert_allclose(warped, tight, rtol=0, atol=tol)


@st.composite
def rotation_case(draw: st.DrawFn) -> tuple[tuple[int, int], np.ndarray, np.ndarray, float]:
    """Boxes, and a rotation by any angle (with scale) about the image centre onto a canvas
    large enough that nothing is clipped; returns the canvas side too."""
    width, height = draw(st.integers(1, 1024)), draw(st.integers(1, 1024))
    angle = math.radians(draw(st.floats(-180, 180)))
    scale = draw(st.floats(0.25, 4.0))
    canvas = 2.0 * scale * math.hypot(width, height) + 2.0
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    to_origin = np.array([[1, 0, -width / 2], [0, 1, -height / 2], [0, 0, 1]], np.float64)
    rotate = np.array([[cos, sin, canvas / 2], [-sin, cos, canvas / 2], [0, 0, 1]], np.float64)
    return (width, height), draw(boxes_inside(width, height)), rotate @ to_origin, canvas


@FAST
@given(rotation_case())
def test_rotation_round_trip_contains_the_box(
    case: tuple[tuple[int, int], np.ndarray, np.ndarray, float],
) -> None:
    """Warping with a rotation and back gives a box that holds the original (the min/max of
    the corners only grows a box), and the same box for multiples of 90 degrees."""
    (width, height), boxes, matrix, canvas = case
    warped = warp_boxes(boxes, matrix, (canvas, canvas))
    back = warp_boxes(warped, np.linalg.inv(matrix), (width, height))
    assert _contains(back, boxes, ROUND_TRIP_TOL).all()
    if min(abs(matrix[0, 0]), abs(matrix[0, 1])) < 1e-12:  # a quarter turn: nothing grows
        np.testing.assert_allclose(back, boxes, rtol=0, atol=ROUND_TRIP_TOL)


def test_a_quarter_turn_maps_boxes_back_exactly() -> None:
    """The exact case of the rotation property on one worked example (90 degrees)."""
    boxes = np.array([[1.0, 2.0, 5.0, 9.0]], np.float32)
    turn = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 20.0], [0.0, 0.0, 1.0]])
    warped = warp_boxes(boxes, turn, (40, 40))
    np.testing.assert_array_equal(warped, [[2.0, 15.0, 9.0, 19.0]])
    np.testing.assert_array_equal(warp_boxes(warped, np.linalg.inv(turn), (20, 20)), boxes)


# --- clipping -------------------------------------------------------------------------------


Array = TypeVar("Array", np.ndarray, torch.Tensor)


def _ordered_within(low: Array, high: Array, limit: float) -> Array:
    """Elementwise ``0 <= low <= high <= limit``."""
    return (low >= 0) & (low <= high) & (high <= limit)


ANY_FLOAT32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
IMAGE_SIDE = st.integers(1, 10_000)


@FAST
@given(st.lists(st.tuples(*[ANY_FLOAT32] * 4), max_size=12), IMAGE_SIDE, IMAGE_SIDE)
def test_warp_clipping_keeps_boxes_inside_the_image(
    rows: list[tuple[float, float, float, float]], width: int, height: int
) -> None:
    """``warp_boxes`` with the identity only clips: every box ends inside the image, ordered,
    and a box already inside (ordered) comes back bit for bit."""
    boxes = np.asarray(rows, np.float32).reshape(-1, 4)
    clipped = warp_boxes(boxes, np.eye(3), (width, height))
    assert clipped.shape == boxes.shape and clipped.dtype == np.float32
    x1, y1, x2, y2 = clipped.T.astype(np.float64)
    assert _ordered_within(x1, x2, width).all() and _ordered_within(y1, y2, height).all()
    inside = (_ordered_within(boxes[:, 0], boxes[:, 2], width)
              & _ordered_within(boxes[:, 1], boxes[:, 3], height))
    np.testing.assert_array_equal(clipped[inside], boxes[inside])


@FAST
@given(
    st.lists(st.tuples(ANY_FLOAT32, ANY_FLOAT32), min_size=1, max_size=12),
    st.data(), IMAGE_SIDE, IMAGE_SIDE,
)
def test_decoded_boxes_are_clamped_inside_the_input(
    points: list[tuple[float, float]], data: st.DataObject, width: int, height: int
) -> None:
    """``distance2bbox(..., max_hw)`` (how predicted boxes are decoded) keeps boxes inside the
    input for any point and non-negative distances, and leaves boxes already inside alone."""
    distance = st.floats(0, 1e6, width=32)
    sides = data.draw(st.lists(st.tuples(*[distance] * 4), min_size=len(points),
                               max_size=len(points)))
    point_t = torch.tensor(points, dtype=torch.float32)
    side_t = torch.tensor(sides, dtype=torch.float32)
    clamped = distance2bbox(point_t, side_t, max_hw=(height, width)).double()
    x1, y1, x2, y2 = clamped.unbind(-1)
    assert _ordered_within(x1, x2, width).all() and _ordered_within(y1, y2, height).all()
    free = distance2bbox(point_t, side_t)
    limits = torch.tensor([width, height, width, height], dtype=torch.float32)
    inside = ((free >= 0) & (free <= limits)).all(-1)
    assert torch.equal(distance2bbox(point_t, side_t, max_hw=(height, width))[inside],
                       free[inside])


@FAST
@given(st.lists(st.tuples(*[st.floats(-1e5, 1e5)] * 4), max_size=12), IMAGE_SIDE, IMAGE_SIDE)
def test_reader_clipping_keeps_boxes_inside_the_image(
    rows: list[tuple[float, float, float, float]], width: int, height: int
) -> None:
    """The dataset readers' ``clean_boxes``: kept boxes lie inside the image and are at least
    1 px on each side; boxes inside and at least 1 px are kept unchanged; each drop is warned."""
    boxes = np.asarray(rows, np.float64).reshape(-1, 4)
    original = boxes.copy()
    report = LoadReport(strict=False)
    keep = clean_boxes(boxes, width, height, report, "labels.txt", str)
    x1, y1, x2, y2 = boxes[keep].T
    assert _ordered_within(x1, x2, width).all() and _ordered_within(y1, y2, height).all()
    assert ((x2 - x1 >= MIN_BOX_SIZE) & (y2 - y1 >= MIN_BOX_SIZE)).all()
    ox1, oy1, ox2, oy2 = original.T
    fine = (_ordered_within(ox1, ox2, width) & _ordered_within(oy1, oy2, height)
            & (ox2 - ox1 >= MIN_BOX_SIZE) & (oy2 - oy1 >= MIN_BOX_SIZE))
    assert keep[fine].all()
    np.testing.assert_array_equal(boxes[fine], original[fine])
    assert not report.errors
    assert report.count("degenerate-box") == int((~keep).sum())
    assert report.count("clipped-box") <= int((keep & ~fine).sum())
