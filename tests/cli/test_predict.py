"""``nanodet predict`` end to end on the reference weights: outputs, JSON, errors, video."""

from __future__ import annotations

import json
import logging
import shutil

import cv2
import numpy as np
import pytest
import torch

from nanodet_plus.cli.main import main
from nanodet_plus.runtime.sources import resolve_source


@pytest.fixture
def base_args(reference_weights, tmp_path) -> list[str]:
    return [
        "--weights", str(reference_weights), "--config", "nanodet-plus-m_320",
        "--project", str(tmp_path / "runs"), "--device", "cpu",
    ]


@pytest.fixture
def nanodet_log(caplog):
    """Capture the package's log records (its logger does not propagate to the root)."""
    package_logger = logging.getLogger("nanodet_plus")
    package_logger.addHandler(caplog.handler)
    yield caplog
    package_logger.removeHandler(caplog.handler)


def test_json_matches_reference_detections(
    base_args, samples_dir, reference_expected, tmp_path
):
    code = main(["predict", str(samples_dir / "test_img.jpg"), *base_args,
                 "--imgsz", "480", "320", "--conf", "0.05"])
    assert code == 0
    run_dir = tmp_path / "runs" / "exp"
    records = json.loads((run_dir / "predictions.json").read_text())
    expected = reference_expected["detections"]["480x320"]
    assert len(records) == len(expected)
    for record, row in zip(records, expected):
        x, y, w, h = record["bbox"]
        assert record["image_id"] == 0 and record["file_name"] == "test_img.jpg"
        assert record["category_id"] == row[0]
        np.testing.assert_allclose([x, y, x + w, y + h], row[1:5], atol=1e-2)
        assert record["score"] == pytest.approx(row[5], abs=1e-4)
    drawn = cv2.imread(str(run_dir / "test_img.jpg"))
    assert drawn.shape == (404, 360, 3)
    assert not np.array_equal(drawn, cv2.imread(str(samples_dir / "test_img.jpg")))


def test_folder_skips_corrupt_image_and_run_folders_increment(
    base_args, samples_dir, tmp_path, nanodet_log, monkeypatch
):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    folder = tmp_path / "images"
    folder.mkdir()
    shutil.copy(samples_dir / "test_img.jpg", folder / "a.jpg")
    (folder / "b.png").write_bytes(b"\x89PNG broken")
    (folder / "notes.txt").write_text("not an image")
    args = ["predict", str(folder), *base_args, "--imgsz", "320", "320", "--no-save-media"]
    assert main([*args, "--show"]) == 0
    warnings = [r.getMessage() for r in nanodet_log.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "--show ignored: no display" in warnings[0]
    assert "b.png" in warnings[1] and "not a readable image" in warnings[1]
    records = json.loads((tmp_path / "runs" / "exp" / "predictions.json").read_text())
    assert {r["file_name"] for r in records} == {"a.jpg"}
    assert main(args) == 0
    assert (tmp_path / "runs" / "exp2" / "predictions.json").is_file()
    assert main([*args, "--exist-ok"]) == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["exp", "exp2"]


def test_missing_path_is_one_line_error(base_args, tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nope.jpg"), *base_args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope.jpg: no such file or folder" in err
    assert not (tmp_path / "runs").exists()


def test_weights_without_config_take_the_architecture_from_the_file(
    reference_weights, samples_dir, reference_expected, tmp_path
):
    argv = ["predict", str(samples_dir / "test_img.jpg"), "--weights", str(reference_weights),
            "--project", str(tmp_path / "runs"), "--imgsz", "480", "320", "--conf", "0.05"]
    assert main(argv) == 0
    records = json.loads((tmp_path / "runs" / "exp" / "predictions.json").read_text())
    expected = reference_expected["detections"]["480x320"]
    assert [r["category_id"] for r in records] == [row[0] for row in expected]
    assert [r["score"] for r in records] == pytest.approx([row[5] for row in expected], abs=1e-4)


def test_weights_that_are_missing_or_not_nanodet_are_one_line_errors(
    samples_dir, tmp_path, capsys
):
    image = str(samples_dir / "test_img.jpg")
    other = tmp_path / "resnet.pth"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(8, 3, 3, 3)}}, other)
    for weights, message in [(other, f"{other}: not a NanoDet-Plus checkpoint"),
                             (tmp_path / "nope.pth", "nope.pth")]:
        assert main(["predict", image, "--weights", str(weights)]) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and err.count("\n") == 0


def test_video_gets_annotated_frames(base_args, samples_dir, tmp_path):
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (180, 202))
    assert writer.isOpened()
    image = cv2.resize(cv2.imread(str(samples_dir / "test_img.jpg")), (180, 202))
    for i in range(3):
        writer.write(np.roll(image, 10 * i, axis=1))
    writer.release()
    assert main(["predict", str(video), *base_args, "--imgsz", "320", "320", "--conf", "0.05"]) == 0
    out = cv2.VideoCapture(str(tmp_path / "runs" / "exp" / "clip.mp4"))
    frames = []
    while True:
        ok, frame = out.read()
        if not ok:
            break
        frames.append(frame)
    out.release()
    assert len(frames) == 3 and frames[0].shape == (202, 180, 3)
    records = json.loads((tmp_path / "runs" / "exp" / "predictions.json").read_text())
    assert {r["frame"] for r in records} == {0, 1, 2}
    assert all(r["file_name"] == "clip.mp4" for r in records)


def test_resolve_source_kinds(tmp_path):
    (tmp_path / "x.jpg").write_bytes(b"")
    (tmp_path / "y.mp4").write_bytes(b"")
    (tmp_path / "z.txt").write_bytes(b"")
    assert resolve_source("0").camera == 0
    folder = resolve_source(str(tmp_path))
    assert [p.name for p in folder.images] == ["x.jpg"]
    assert [p.name for p in folder.videos] == ["y.mp4"]
    assert [p.name for p in resolve_source(str(tmp_path / "*.jpg")).images] == ["x.jpg"]
    with pytest.raises(FileNotFoundError, match="matches no images"):
        resolve_source(str(tmp_path / "*.png"))
