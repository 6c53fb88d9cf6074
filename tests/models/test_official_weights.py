"""Official checkpoints by name: the table, the local lookup, the download (never over the
network here: the one network call is replaced), the one-line offline error, the commands
and the generated table of the fine-tuning guide."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import re
import shutil
import urllib.error
from pathlib import Path

import pytest
import torch

from nanodet_plus.cli.main import main
from nanodet_plus.config.loader import list_presets, load_config
from nanodet_plus.data.coco_classes import COCO_CLASSES
from nanodet_plus.errors import CheckpointError, FileMissingError
from nanodet_plus.models import official_weights as ow
from nanodet_plus.models.factory import build_model
from nanodet_plus.models.loading import load_model
from nanodet_plus.models.weights import load_weights

REPO_ROOT = Path(__file__).resolve().parents[2]
GUIDE = REPO_ROOT / "docs" / "guide" / "fine-tuning.md"
RELEASE = "https://github.com/RangiLyu/nanodet/releases/download/v1.0.0-alpha-1/"
M320_SHA256 = "f4c6080f3ef35a64c3030d559438b436462f227ce29700bca71327203e42dea2"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights folder named by the environment, an empty current folder, and a
    network call that fails the test if anything tries it."""
    weights = tmp_path / "weights"
    weights.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv(ow.WEIGHTS_DIR_ENV, str(weights))
    monkeypatch.chdir(cwd)

    def no_network(url: str):
        raise AssertionError(f"the test tried to download {url}")

    monkeypatch.setattr(ow, "_urlopen", no_network)
    return weights


def _offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []

    def refuse(url: str):
        asked.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(ow, "_urlopen", refuse)
    return asked


def _serve(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(ow, "_urlopen", lambda url: io.BytesIO(data))


def _offline_line(name: str, destination: Path) -> str:
    return (f"{name}: cannot download {RELEASE}{name}_checkpoint.ckpt (no network); fetch that "
            f"file on a machine that is online and put it at {destination}, or pass the path of "
            "a copy instead of the name")


# ------------------------------------------------------------------------------ the table
def test_the_table_names_the_four_presets_and_their_files() -> None:
    entries = ow.official_weights()
    assert list(entries) == ["nanodet-plus-m_320", "nanodet-plus-m_416",
                             "nanodet-plus-m-1.5x_320", "nanodet-plus-m-1.5x_416"]
    for name, entry in entries.items():
        assert entry.preset == name and name in list_presets()
        assert entry.file == f"{name}_checkpoint.ckpt" and entry.url == RELEASE + entry.file
        assert entry.alt_url.startswith("https://drive.google.com/file/d/")
        preset = load_config(entry.preset)
        assert entry.input_size == tuple(preset.data.input_size)
        assert entry.backbone == f"ShuffleNetV2 {preset.model.backbone.model_size}"
        assert entry.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", entry.sha256)
        assert ow.find_official(name) is entry and ow.find_official(entry.file) is entry
    m320 = entries["nanodet-plus-m_320"]
    assert (m320.sha256, m320.size_bytes) == (M320_SHA256, 35_470_891)
    assert [e.sha256 for e in entries.values()][1:] == [None, None, None]
    assert [e.coco_map for e in entries.values()] == [27.0, 30.4, 29.9, 34.1]
    assert ow.TABLE_FILE.name in _package_data()


def _package_data() -> str:
    text = (REPO_ROOT / "pyproject.toml").read_text()
    return text.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]


def test_the_weights_folder_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.delenv(ow.WEIGHTS_DIR_ENV, raising=False)
    assert ow.weights_dir() == Path.home() / ".cache" / "nanodet_plus" / "weights"
    monkeypatch.setenv(ow.WEIGHTS_DIR_ENV, str(tmp_path / "w"))
    assert ow.weights_dir() == tmp_path / "w"


# ------------------------------------------------------------------- a local copy by name
def _lightning(reference_weights: Path, path: Path) -> None:
    """The official Lightning layout: live ``model.*`` and EMA ``avg_model.*`` keys."""
    state = torch.load(reference_weights, weights_only=True)["state_dict"]
    torch.save({"pytorch-lightning_version": "1.9.5", "epoch": 299, "state_dict": {
        **{f"model.{k}": v for k, v in state.items()},
        **{f"avg_model.{k}": v for k, v in state.items()},
    }}, path)


@pytest.mark.parametrize("layout", ["weight file", "lightning checkpoint"])
def test_a_name_loads_the_local_copy_like_its_path(layout: str, folder: Path,
                                                   reference_weights: Path) -> None:
    copy = folder / "nanodet-plus-m_320_checkpoint.ckpt"
    if layout == "weight file":
        shutil.copyfile(reference_weights, copy)
    else:
        _lightning(reference_weights, copy)
    assert ow.resolve_weights("nanodet-plus-m_320") == (copy, "nanodet-plus-m_320")
    assert ow.resolve_weights("nanodet-plus-m_320", "my.yaml") == (copy, "my.yaml")
    by_name = load_model("nanodet-plus-m_320")
    by_path = load_model(reference_weights)
    assert by_name.report.layout == layout and by_name.report.loaded == by_path.report.loaded
    assert by_name.config_origin == "given" and by_path.config_origin == "inferred"
    assert by_name.config.data.input_size == (320, 320)
    torch.manual_seed(0)
    batch = torch.randn(1, 3, 320, 320)
    with torch.no_grad():
        assert torch.equal(by_name.model(batch), by_path.model(batch))
    trained = build_model("nanodet-plus-m_416")
    assert load_weights(trained, "nanodet-plus-m_320").loaded == 887  # what train uses
    assert sorted(p.name for p in folder.iterdir()) == [copy.name]


def test_the_current_folder_is_looked_in_too(folder: Path, reference_weights: Path) -> None:
    copy = Path.cwd() / "nanodet-plus-m_320_checkpoint.ckpt"
    shutil.copyfile(reference_weights, copy)
    assert ow.resolve_weights("nanodet-plus-m_320").path == copy
    # the file name is also a path that exists here: used as it is, with the caller's config
    assert ow.resolve_weights(copy.name) == (Path(copy.name), None)


def test_an_existing_path_is_used_as_it_is(folder: Path, reference_weights: Path) -> None:
    assert ow.resolve_weights(reference_weights, None) == (reference_weights, None)
    named = Path.cwd() / "nanodet-plus-m_416"  # a file named like an official checkpoint
    shutil.copyfile(reference_weights, named)
    assert ow.resolve_weights("nanodet-plus-m_416") == (Path("nanodet-plus-m_416"), None)


# ------------------------------------------------------------------------------- download
def test_offline_is_one_line_saying_what_to_fetch_and_where(folder: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    asked = _offline(monkeypatch)
    destination = folder / "nanodet-plus-m_416_checkpoint.ckpt"
    with pytest.raises(FileMissingError) as info:
        load_model("nanodet-plus-m_416")
    assert str(info.value) == _offline_line("nanodet-plus-m_416", destination)
    assert asked == [RELEASE + "nanodet-plus-m_416_checkpoint.ckpt"]
    assert list(folder.iterdir()) == []


def test_an_http_error_names_the_status(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def not_found(url: str):
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)  # type: ignore[arg-type]

    monkeypatch.setattr(ow, "_urlopen", not_found)
    with pytest.raises(FileMissingError, match=r"\(HTTP Error 404: Not Found\); fetch that"):
        ow.resolve_weights("nanodet-plus-m-1.5x_320")
    assert list(folder.iterdir()) == []


def test_a_download_cut_short_leaves_nothing(folder: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            if self.tell():
                raise TimeoutError("The read operation timed out")
            return super().read(4)

    monkeypatch.setattr(ow, "_urlopen", lambda url: Broken(b"PK\x03\x04 and more"))
    with pytest.raises(FileMissingError, match=r"\(The read operation timed out\); fetch that"):
        ow.resolve_weights("nanodet-plus-m_416")
    assert list(folder.iterdir()) == []


def test_a_download_is_written_once_and_then_found(folder: Path, reference_weights: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = reference_weights.read_bytes()  # no checksum is known for m_416: any file is kept
    _serve(monkeypatch, data)
    path, config = ow.resolve_weights("nanodet-plus-m_416")
    assert (path, config) == (folder / "nanodet-plus-m_416_checkpoint.ckpt", "nanodet-plus-m_416")
    assert path.read_bytes() == data and sorted(folder.iterdir()) == [path]
    _offline(monkeypatch)
    assert load_model("nanodet-plus-m_416").config.data.input_size == (416, 416)


def test_a_known_checksum_is_checked(folder: Path, reference_weights: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"not the official checkpoint"
    _serve(monkeypatch, data)
    destination = folder / "nanodet-plus-m_320_checkpoint.ckpt"
    with pytest.raises(CheckpointError) as info:
        ow.resolve_weights("nanodet-plus-m_320")
    assert str(info.value) == (
        f"{destination}: SHA-256 {hashlib.sha256(data).hexdigest()} of the file downloaded "
        f"from {RELEASE}nanodet-plus-m_320_checkpoint.ckpt is not the expected {M320_SHA256}; "
        "not kept")
    assert list(folder.iterdir()) == []
    good = reference_weights.read_bytes()
    entry = dataclasses.replace(ow.official_weights()["nanodet-plus-m_320"],
                                sha256=hashlib.sha256(good).hexdigest(), size_bytes=len(good))
    _serve(monkeypatch, good)
    assert ow.download(entry).read_bytes() == good


# ------------------------------------------------------------------------- wrong names
@pytest.mark.parametrize(("value", "meant"), [
    ("nanodet-plus-m_461", "nanodet-plus-m_416"),
    ("nanodet-plus-m416", "nanodet-plus-m_416"),
    ("nanodet-plus-m_416.pth", "nanodet-plus-m_416"),
    ("nanodet-plus-m-1.5x-320", "nanodet-plus-m-1.5x_320"),
])
def test_a_misspelt_name_gets_the_name_it_was_meant_to_be(value: str, meant: str,
                                                          folder: Path) -> None:
    with pytest.raises(FileMissingError) as info:
        load_model(value)
    assert str(info.value) == f"weights file not found: {value} (did you mean '{meant}'?)"


def test_other_missing_files_keep_the_callers_error(folder: Path) -> None:
    assert ow.resolve_weights("runs/train/exp/model_best.pth") == (
        Path("runs/train/exp/model_best.pth"), None)
    assert ow.resolve_weights("nanodet-plus-m_416.onnx").config is None  # not a checkpoint
    with pytest.raises(FileMissingError, match=r"^weights file not found: missing\.pth$"):
        load_model("missing.pth")


# ------------------------------------------------------------------------------ commands
@pytest.fixture
def fresh_log_handler() -> None:
    """``setup_logging`` keeps its first handler, bound to an earlier test's captured stderr."""
    logger = logging.getLogger("nanodet_plus")
    for handler in [h for h in logger.handlers if getattr(h, "_nanodet", False)]:
        logger.removeHandler(handler)


@pytest.mark.usefixtures("fresh_log_handler")
def test_train_offline_fails_in_one_line(folder: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    _offline(monkeypatch)
    assert main(["train", "nanodet-plus-m_416", "--weights", "nanodet-plus-m_416"]) == 1
    err = capsys.readouterr().err
    destination = folder / "nanodet-plus-m_416_checkpoint.ckpt"
    assert err.splitlines() == [  # what it tried, then the one error line
        f"INFO: downloading nanodet-plus-m_416 from {RELEASE}nanodet-plus-m_416_checkpoint.ckpt "
        f"to {destination}",
        "nanodet train: error: " + _offline_line("nanodet-plus-m_416", destination)]
    assert list(folder.iterdir()) == [] and list(Path.cwd().iterdir()) == []


@pytest.mark.usefixtures("fresh_log_handler")
@pytest.mark.parametrize("argv", [
    ["val", "{yaml}", "--weights", "nanodet-plus-m-1.5x_416"],
    ["export", "nanodet-plus-m-1.5x_416"],
    ["benchmark", "nanodet-plus-m-1.5x_416", "--backends", "torch"],
    ["predict", "{image}", "--weights", "nanodet-plus-m-1.5x_416"],
])
def test_every_command_resolves_the_name(argv: list[str], folder: Path, tmp_path: Path,
                                         samples_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    yaml = tmp_path / "val.yaml"
    yaml.write_text("preset: nanodet-plus-m_320\n")
    _offline(monkeypatch)
    image = samples_dir / "test_img.jpg"
    assert main([part.format(yaml=yaml, image=image) for part in argv]) == 1
    destination = folder / "nanodet-plus-m-1.5x_416_checkpoint.ckpt"
    line = capsys.readouterr().err.splitlines()[-1]
    assert line == (f"nanodet {argv[0]}: error: "
                    + _offline_line("nanodet-plus-m-1.5x_416", destination))


@pytest.mark.usefixtures("fresh_log_handler")
def test_predict_by_name_uses_the_preset_and_coco_names(folder: Path, tmp_path: Path,
                                                        reference_weights: Path,
                                                        samples_dir: Path,
                                                        reference_expected: dict) -> None:
    shutil.copyfile(reference_weights, folder / "nanodet-plus-m_320_checkpoint.ckpt")
    runs = tmp_path / "runs"
    assert main(["predict", str(samples_dir / "test_img.jpg"), "--weights", "nanodet-plus-m_320",
                 "--conf", "0.05", "--project", str(runs), "--no-save-media"]) == 0
    records = json.loads((runs / "exp" / "predictions.json").read_text())
    expected = reference_expected["detections"]["320x320"]  # the preset's input size
    assert [r["category_id"] for r in records] == [row[0] for row in expected]
    assert [r["category_name"] for r in records] == [COCO_CLASSES[row[0]] for row in expected]
    for record, row in zip(records, expected):
        assert record["score"] == pytest.approx(row[5], abs=1e-4)


# ---------------------------------------------------------------- the fine-tuning guide
def test_the_guide_table_is_the_generated_one() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    found = re.search(r"<!-- generated: official-weights[^>]*-->\n(.*?)<!-- end generated -->",
                      text, re.S)
    assert found, f"{GUIDE} has no generated official-weights block"
    assert found.group(1) == "\n" + ow.weights_table_markdown() + "\n", (
        "the table is out of date: run .venv/bin/python docs/scripts/gen_weights_table.py")


@pytest.mark.usefixtures("fresh_log_handler")
def test_info_reads_an_official_file_with_its_preset(folder: Path, reference_weights: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copyfile(reference_weights, folder / "nanodet-plus-m_320_checkpoint.ckpt")
    assert main(["info", "nanodet-plus-m_320_checkpoint.ckpt"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("model: nanodet-plus-m_320_checkpoint.ckpt (weight file, an official "
                      "checkpoint, with its preset)")
