"""score_detections outputs and the metrics.json layout, without a model."""

from __future__ import annotations

import json
import os

import pytest
from metric_cases import gt_as_dets, random_case

from nanodet_plus.metrics.evaluator import metrics_json, score_detections


def test_metrics_json_round_trips_with_number_rows_on_one_line():
    summary = {"mAP": 0.5, "cm": {"matrix": [[1, 2], [3, 4]]}, "rows": [{"AP": None}], "v": [1e-5]}
    text = metrics_json(summary)
    assert json.loads(text) == summary
    assert "[1, 2]" in text and "[1e-05]" in text


def test_score_detections_writes_results_metrics_and_figures(tmp_path):
    records, dets = random_case(seed=3, num_images=6)
    perfect = [gt_as_dets(r) for r in records]
    summary = score_detections(
        records,
        perfect,
        ["a", "b", "c"],
        tmp_path,
        category_ids=[5, 6, 7],
        num_samples=0,
        extra={"note": "x"},
    )
    assert summary["mAP"] == pytest.approx(1.0) and summary["f1"] == 1.0
    assert summary["note"] == "x"
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["mAP"] == pytest.approx(1.0)
    assert saved["confusion_matrix"]["labels"] == ["a", "b", "c", "background"]
    results = json.loads((tmp_path / "results.json").read_text())
    assert {r["category_id"] for r in results} <= {5, 6, 7}
    assert (tmp_path / "pr_curves.png").is_file() and (tmp_path / "confusion_matrix.png").is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert not list(tmp_path.glob(".*.tmp"))
    worse = score_detections(records, dets, ["a", "b", "c"])
    assert worse["mAP"] < 1.0
