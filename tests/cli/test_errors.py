"""User errors reach the terminal as one line naming the file, never as a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanodet_plus import errors
from nanodet_plus.cli import info as info_command
from nanodet_plus.cli.main import main


def _single_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def test_not_a_checkpoint_is_one_line(tmp_path: Path, capsys):
    bogus = tmp_path / "notes.pth"
    bogus.write_text("not a checkpoint")
    assert main(["info", str(bogus)]) == 1
    line = _single_error_line(capsys)
    assert line.startswith("nanodet info: error:") and "notes.pth" in line


def test_truncated_annotation_file_is_one_line(tmp_path: Path, capsys):
    ann = tmp_path / "train.json"
    ann.write_text('{"images": [{"id": 1, "file_name": "a.jpg", "wid')
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "preset: nanodet-plus-m_320\nmodel: {num_classes: 1}\nclass_names: [thing]\n"
        "data:\n  val: {format: coco, img_path: ., ann_path: train.json}\n"
    )
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"")
    assert main(["val", str(config), "--weights", str(weights)]) == 1
    line = _single_error_line(capsys)
    assert "train.json" in line


def test_unknown_preset_is_one_line(capsys):
    assert main(["info", "nanodet-plus-m_999"]) == 1
    assert "nanodet-plus-m_416" in _single_error_line(capsys)


def test_options_and_overrides_in_any_order():
    from nanodet_plus.cli.main import build_parser, parse_args

    parser = build_parser()
    args = parse_args(parser, ["train", "my.yaml", "--nproc", "2", "train.epochs=5",
                               "--name", "x", "train.batch_size=4"])
    assert (args.config, args.overrides, args.nproc, args.name) == (
        "my.yaml", ["train.epochs=5", "train.batch_size=4"], 2, "x")
    args = parse_args(parser, ["-v", "config", "show", "nanodet-plus-m_320", "train.epochs=3",
                               "data.workers=0"])
    assert (args.source, args.overrides) == ("nanodet-plus-m_320",
                                             ["train.epochs=3", "data.workers=0"])
    args = parse_args(parser, ["demo", "--out", "d", "train.epochs=2", "--images", "8",
                               "train.lr=1"])
    assert (args.out, args.images, args.overrides) == ("d", 8, ["train.epochs=2", "train.lr=1"])


def test_an_unknown_option_is_still_refused(capsys):
    with pytest.raises(SystemExit):
        main(["train", "my.yaml", "--nprocs", "2", "train.epochs=5"])
    assert "unrecognized arguments: --nprocs" in capsys.readouterr().err


def _error_classes() -> list[type[BaseException]]:
    return [obj for obj in vars(errors).values()
            if isinstance(obj, type) and issubclass(obj, BaseException)]


@pytest.mark.parametrize("error", _error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_class_is_one_line(monkeypatch, capsys, error):
    def fails(args):
        raise error("model.pth: the problem")

    monkeypatch.setattr(info_command, "run", fails)
    assert issubclass(error, errors.NanoDetError)
    assert main(["info", "model.pth"]) == 1
    assert _single_error_line(capsys) == "nanodet info: error: model.pth: the problem"


def test_a_plain_value_error_is_a_bug_and_keeps_its_traceback(monkeypatch):
    def fails(args):
        raise ValueError("bug")

    monkeypatch.setattr(info_command, "run", fails)
    with pytest.raises(ValueError, match="bug") as info:
        main(["info", "model.pth"])
    assert not isinstance(info.value, errors.NanoDetError)
