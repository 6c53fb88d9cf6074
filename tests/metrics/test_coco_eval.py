"""COCO metrics: known AP values, category mapping, crowd regions, engine agreement."""

from __future__ import annotations

import json

import numpy as np
import pytest
from metric_cases import gt_as_dets, make_dets, make_record, random_case

from nanodet_plus.metrics.coco_eval import (
    STAT_NAMES,
    build_coco_ground_truth,
    coco_evaluate,
    detections_to_coco,
)
from nanodet_plus.metrics.report import per_class_table, stats_table
from nanodet_plus.structures import Detections

ENGINES = ["faster_coco_eval", "pycocotools"]


@pytest.mark.parametrize("engine", ENGINES)
def test_ground_truth_as_detections_scores_one(engine):
    records, _ = random_case(seed=0, num_images=12)
    dets = [gt_as_dets(r) for r in records]
    metrics = coco_evaluate(records, dets, ["a", "b", "c"], engine=engine)
    assert metrics.stats["mAP"] == pytest.approx(1.0)
    assert metrics.stats["AP_50"] == pytest.approx(1.0)
    assert metrics.stats["AR_100"] == pytest.approx(1.0)
    assert all(
        c.ap == pytest.approx(1.0) and c.ap50 == pytest.approx(1.0) for c in metrics.per_class
    )
    assert list(metrics.stats) == list(STAT_NAMES)


@pytest.mark.parametrize("engine", ENGINES)
def test_false_positive_between_two_hits(engine):
    """Two 50x50 GTs (medium) of one class; detections ranked TP (0.9), FP (0.8), TP (0.7).

    Precision/recall after each detection: (1, 0.5), (0.5, 0.5), (2/3, 1.0). Interpolated
    precision is 1 at the 51 recall points 0.00..0.50 and 2/3 at the 50 points 0.51..1.00,
    so AP = (51 + 50 * 2/3) / 101 = 0.834983... at every IoU threshold (boxes are exact).
    maxDets 1 keeps only the first detection: AR_1 = 0.5. No small/large GT: those are -1.
    """
    gts = [[10, 10, 60, 60], [200, 200, 250, 250]]
    record = make_record(1, gts, [0, 0])
    dets = make_dets([gts[0], [400, 10, 450, 60], gts[1]], [0.9, 0.8, 0.7], [0, 0, 0])
    metrics = coco_evaluate([record], [dets], ["thing"], engine=engine)
    expected = (51 + 50 * 2 / 3) / 101
    assert metrics.stats["mAP"] == pytest.approx(expected, abs=1e-9)
    assert metrics.stats["AP_50"] == pytest.approx(expected, abs=1e-9)
    assert metrics.stats["AP_m"] == pytest.approx(expected, abs=1e-9)
    assert metrics.stats["AP_small"] == -1 and metrics.stats["AP_l"] == -1
    assert metrics.stats["AR_1"] == pytest.approx(0.5)
    assert metrics.stats["AR_10"] == pytest.approx(1.0)
    assert metrics.per_class[0].ap == pytest.approx(expected, abs=1e-9)
    assert metrics.per_class[0].num_gt == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_partial_overlap_counts_only_below_its_iou(engine):
    """GT 100x100, detection 100x72 inside it: IoU 0.72 is a hit at thresholds 0.50..0.70.

    That is 5 of the 10 thresholds with AP 1 and 5 with AP 0: mAP 0.5, AP50 1, AP75 0.
    """
    record = make_record(7, [[0, 0, 100, 100]], [0])
    dets = make_dets([[0, 0, 100, 72]], [0.5], [0])
    metrics = coco_evaluate([record], [dets], ["thing"], engine=engine)
    assert metrics.stats["mAP"] == pytest.approx(0.5)
    assert metrics.stats["AP_50"] == pytest.approx(1.0)
    assert metrics.stats["AP_75"] == pytest.approx(0.0)
    assert metrics.per_class[0].ap50 == pytest.approx(1.0)
    assert metrics.per_class[0].ap == pytest.approx(0.5)


def test_non_contiguous_category_ids_keep_label_order(tmp_path):
    """Label order ["cat", "dog", "bird"] maps to ids 17, 3, 90 (deliberately unsorted)."""
    names, ids = ["cat", "dog", "bird"], [17, 3, 90]
    record = make_record(5, [[0, 0, 50, 50], [100, 100, 180, 180], [300, 50, 360, 120]], [0, 1, 2])
    # dog and bird found exactly; the cat box is predicted as "bird" (a miss and an FP).
    dets = make_dets(
        [[100, 100, 180, 180], [300, 50, 360, 120], [0, 0, 50, 50]], [0.9, 0.8, 0.7], [1, 2, 2]
    )
    results_path = tmp_path / "results.json"
    metrics = coco_evaluate([record], [dets], names, category_ids=ids, results_path=results_path)
    by_name = {c.name: c for c in metrics.per_class}
    assert by_name["cat"].category_id == 17 and by_name["cat"].ap == pytest.approx(0.0)
    assert by_name["dog"].category_id == 3 and by_name["dog"].ap == pytest.approx(1.0)
    # bird: TP at 0.8 then FP at 0.7 with one GT -> AP 1.
    assert by_name["bird"].ap == pytest.approx(1.0)
    assert [c.name for c in metrics.per_class] == names
    saved = json.loads(results_path.read_text())
    assert sorted({r["category_id"] for r in saved}) == [3, 90]
    assert saved[0] == {
        "image_id": 5,
        "category_id": 3,
        "bbox": [100.0, 100.0, 80.0, 80.0],
        "score": pytest.approx(0.9),
    }
    assert metrics.precision is not None and metrics.precision.shape[2] == 3
    gt = build_coco_ground_truth([record], names, ids)
    assert [c["id"] for c in gt["categories"]] == ids


@pytest.mark.parametrize("engine", ENGINES)
def test_detection_inside_crowd_region_is_not_a_false_positive(engine):
    record = make_record(3, [[10, 10, 60, 60]], [0], ignore=[[200, 200, 400, 400]])
    dets = make_dets([[210, 210, 300, 300], [10, 10, 60, 60]], [0.9, 0.5], [0, 0])
    metrics = coco_evaluate([record], [dets], ["thing"], engine=engine)
    assert metrics.stats["mAP"] == pytest.approx(1.0)


def test_no_detections_gives_zeros_without_crash(tmp_path):
    records, _ = random_case(seed=1, num_images=4)
    empty = [Detections.empty() for _ in records]
    metrics = coco_evaluate(records, empty, ["a", "b", "c"], results_path=tmp_path / "r.json")
    assert metrics.stats == dict.fromkeys(STAT_NAMES, 0.0)
    assert metrics.precision is None
    assert json.loads((tmp_path / "r.json").read_text()) == []
    assert metrics.to_dict()["per_class"][0]["AP"] == 0.0


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_faster_coco_eval_matches_pycocotools(seed):
    records, dets = random_case(seed=seed, num_images=25)
    fast = coco_evaluate(records, dets, ["a", "b", "c"], category_ids=[4, 2, 9])
    slow = coco_evaluate(
        records, dets, ["a", "b", "c"], category_ids=[4, 2, 9], engine="pycocotools"
    )
    assert 0.05 < fast.stats["mAP"] < 0.95
    for name in STAT_NAMES:
        assert fast.stats[name] == pytest.approx(slow.stats[name], abs=1e-12), name
    np.testing.assert_allclose(fast.precision, slow.precision, atol=1e-12)
    assert [c.ap for c in fast.per_class] == pytest.approx([c.ap for c in slow.per_class])


def test_bad_inputs_raise_clear_errors():
    record = make_record(1, [[0, 0, 10, 10]], [0])
    with pytest.raises(ValueError, match="1 records but 2"):
        detections_to_coco([record], [Detections.empty()] * 2, [1])
    with pytest.raises(ValueError, match="category_ids has 2 entries"):
        coco_evaluate([record], [Detections.empty()], ["a"], category_ids=[1, 2])
    with pytest.raises(ValueError, match="duplicate image_id 1"):
        build_coco_ground_truth([record, record], ["a"])
    with pytest.raises(ValueError, match="detection label 3"):
        coco_evaluate([record], [make_dets([[0, 0, 5, 5]], [0.5], [3])], ["a"])
    with pytest.raises(ValueError, match="unknown evaluation engine"):
        coco_evaluate([record], [Detections.empty()], ["a"], engine="nope")


def test_tables_show_percent_and_undefined():
    record = make_record(1, [[10, 10, 60, 60]], [0])
    summary = coco_evaluate([record], [gt_as_dets(record)], ["thing", "other"]).to_dict()
    stats = stats_table(summary).splitlines()
    assert stats[1].split() == ["mAP", "100.00"]
    assert "AP_small" in stats[4] and "n/a" in stats[4]
    table = per_class_table(summary["per_class"]).splitlines()
    assert table[1].split() == ["thing", "1", "100.00", "100.00"]
    assert table[2] == "(1 class without ground truth not shown)"
    table = per_class_table(summary["per_class"], show_all=True).splitlines()
    assert table[2].split() == ["other", "0", "n/a", "n/a"]


def test_official_dummy_coco_perfect_detections_score_one(samples_dir):
    """The official evaluator test: dummy_coco.json with perfect detections gives mAP 1."""
    from nanodet_plus.data.datasets import load_coco

    ann_path = samples_dir / "dummy_coco.json"
    record_set = load_coco(samples_dir, ann_path)
    assert [r.image_id for r in record_set.records] == [0, 1, 2]
    dets = [
        make_dets([[0, 0, 20, 20], [0, 0, 20, 20]], [1.0, 1.0], [0, 1]),
        make_dets([[0, 0, 20, 20]], [1.0], [0]),
        Detections.empty(),
    ]
    for gt_json in (None, ann_path):
        metrics = coco_evaluate(
            record_set.records,
            dets,
            record_set.class_names,
            category_ids=record_set.category_ids,
            gt_json=gt_json,
        )
        assert metrics.stats["mAP"] == pytest.approx(1.0)
        assert [c.num_gt for c in metrics.per_class] == [2, 1]


@pytest.mark.parametrize("engine", ENGINES)
def test_annotation_file_keeps_segment_areas_and_per_class_crowds(engine):
    """A 50x50 "a" box whose segment area is 500 is "small" in COCO; a crowd is of class "a".

    From records: the box is medium (AP_small -1) and the class-less crowd region hides the
    "b" detection (score 0.9) inside it, so b's AP is 1. From the file: AP_small is defined,
    and that detection is a "b" false positive ranked above b's only hit: precision 0.5 at
    recall 1 and AP 0.5 for b.
    """
    gt = {
        "images": [
            {"id": 1, "file_name": "1.jpg", "width": 400, "height": 300},
            {"id": 2, "file_name": "2.jpg", "width": 400, "height": 300},
        ],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [10, 10, 50, 50],
                "area": 500.0,
                "iscrowd": 0,
            },
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "bbox": [200, 100, 100, 100],
                "area": 10000.0,
                "iscrowd": 1,
            },
            {"id": 3, "image_id": 1, "category_id": 2, "bbox": [100, 200, 40, 40]},
            {"id": 4, "image_id": 2, "category_id": 2, "bbox": [0, 0, 30, 30], "iscrowd": 0},
        ],
    }
    record = make_record(
        1, [[10, 10, 60, 60], [100, 200, 140, 240]], [0, 1], ignore=[[200, 100, 300, 200]]
    )
    dets = make_dets(
        [[10, 10, 60, 60], [210, 110, 290, 190], [100, 200, 140, 240]], [0.9, 0.9, 0.5], [0, 1, 1]
    )
    from_records = coco_evaluate([record], [dets], ["a", "b"], engine=engine)
    from_file = coco_evaluate([record], [dets], ["a", "b"], gt_json=gt, engine=engine)
    assert from_records.stats["AP_small"] == -1
    assert from_records.per_class[1].ap == pytest.approx(1.0)
    assert from_file.stats["AP_small"] == pytest.approx(1.0)
    assert from_file.per_class[1].ap == pytest.approx(0.5)
    # Image 2 is not evaluated: its "b" box does not count.
    assert [c.num_gt for c in from_file.per_class] == [1, 1]
    with pytest.raises(ValueError, match=r"category ids \[9\]"):
        coco_evaluate([record], [dets], ["a", "b"], category_ids=[1, 9], gt_json=gt)
