"""No command deletes or replaces what it did not write unless the user passes the flag the
error names (issue 14): each writing command, given a path that holds the user's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanodet_plus.cli.main import main


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if " error: " in line]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def _precious(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "precious.jpg"
    path.write_bytes(b"the user's photo")
    return path


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path, capsys) -> None:
    out = tmp_path / "myproj"
    precious = _precious(out / "data" / "images")
    assert main(["demo", "--out", str(out), "--images", "4", "--nproc", "1"]) == 1
    line = _error(capsys)
    assert f"--out {out} is not empty and was not made by nanodet demo" in line
    assert precious.read_bytes() == b"the user's photo"
    assert sorted(p.name for p in out.rglob("*")) == ["data", "images", "precious.jpg"]


def test_demo_checks_its_overrides_before_writing_anything(tmp_path: Path, capsys) -> None:
    out = tmp_path / "fresh"
    assert main(["demo", "--out", str(out), "--nproc", "1", "train.epocs=1"]) == 1
    assert "train.epocs" in _error(capsys)
    assert not out.exists()


def test_export_never_replaces_a_folder_or_an_existing_file(reference_weights: Path,
                                                            tmp_path: Path, capsys) -> None:
    folder = tmp_path / "model.onnx"
    precious = _precious(folder)
    assert main(["export", str(reference_weights), "-o", str(folder)]) == 1
    assert f"{folder} is a folder, where a file is to be written" in _error(capsys)
    assert main(["export", str(reference_weights), "-o", str(folder), "--force"]) == 1
    assert "is a folder" in _error(capsys)
    assert precious.read_bytes() == b"the user's photo"

    weights = tmp_path / "w.pth"
    weights.write_bytes(reference_weights.read_bytes())
    existing = tmp_path / "w.onnx"  # the default output beside the weights
    existing.write_bytes(b"an earlier export")
    assert main(["export", str(weights)]) == 1
    assert f"{existing} exists; pass --force" in _error(capsys)
    assert existing.read_bytes() == b"an earlier export"
    assert main(["export", str(weights), "--force"]) == 0
    assert existing.read_bytes()[:4] != b"an e" and existing.stat().st_size > 1_000_000


def test_config_convert_keeps_existing_files(tmp_path: Path, capsys) -> None:
    source = tmp_path / "mine.yaml"
    source.write_text("preset: nanodet-plus-m_320\nmodel: {num_classes: 3}\n")
    original = source.read_text()
    assert main(["config", "convert", str(source), str(source), "--force"]) == 1
    assert "is the source config itself" in _error(capsys)
    target = tmp_path / "out.yaml"
    target.write_text("mine")
    assert main(["config", "convert", str(source), str(target)]) == 1
    assert f"{target} exists; pass --force" in _error(capsys)
    assert (source.read_text(), target.read_text()) == (original, "mine")
    assert main(["config", "convert", str(source), str(target), "--force"]) == 0
    assert "num_classes: 3" in target.read_text()


@pytest.mark.parametrize("command", [["data", "demo", "{out}", "--images", "2"],
                                     ["data", "preview", "nanodet-plus-m_320", "--out", "{out}"]])
def test_data_commands_refuse_a_folder_that_is_not_empty(command: list[str], tmp_path: Path,
                                                         capsys) -> None:
    out = tmp_path / "folder"
    precious = _precious(out)
    argv = [str(out) if part == "{out}" else part for part in command]
    assert main(argv) == 1
    assert f"{out} exists; pass --force" in _error(capsys)
    assert [p.name for p in out.iterdir()] == ["precious.jpg"]
    assert precious.read_bytes() == b"the user's photo"


def test_data_demo_writes_into_an_empty_folder_and_with_force(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["data", "demo", str(empty), "--images", "2", "--workers", "1"]) == 0
    precious = _precious(tmp_path / "mine")
    assert main(["data", "demo", str(precious.parent), "--images", "2", "--workers", "1",
                 "--force"]) == 0
    assert precious.exists() and (precious.parent / "demo.yaml").exists()


def test_benchmark_refuses_an_existing_report_before_measuring(reference_weights: Path,
                                                               tmp_path: Path, capsys) -> None:
    report = tmp_path / "table.md"
    report.write_text("last week's figures")
    assert main(["benchmark", str(reference_weights), "--out", str(report)]) == 1
    assert f"{report} exists; pass --force" in _error(capsys)
    assert report.read_text() == "last week's figures"


@pytest.mark.parametrize("command", ["train", "val", "predict"])
def test_a_project_path_that_is_a_file_is_refused(command: str, tmp_path: Path,
                                                  reference_weights: Path, capsys) -> None:
    project = tmp_path / "notes.txt"
    project.write_text("mine")
    image = tmp_path / "img.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    argv = {
        "train": ["train", "nanodet-plus-m_320", "--project", str(project), "--nproc", "1"],
        "val": ["val", "nanodet-plus-m_320", "--weights", str(reference_weights),
                "--project", str(project)],
        "predict": ["predict", str(image), "--weights", str(reference_weights),
                    "--project", str(project)],
    }[command]
    assert main(argv) == 1
    line = _error(capsys)
    assert "notes.txt" in line and "is a file" in line
    assert project.read_text() == "mine"
