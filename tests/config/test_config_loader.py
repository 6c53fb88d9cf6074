"""Config loading: presets, YAML files, overrides, and the errors users see."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanodet_plus.config import ConfigError, list_presets, load_config, save_config


def test_presets_listed_and_loadable():
    assert list_presets() == [
        "nanodet-plus-m-1.5x_320",
        "nanodet-plus-m-1.5x_416",
        "nanodet-plus-m_320",
        "nanodet-plus-m_416",
    ]
    config = load_config("nanodet-plus-m-1.5x_320")
    assert config.model.backbone.model_size == "1.5x"
    assert config.model.neck.in_channels == (176, 352, 704)
    assert config.model.aux_head.input_channel == 256
    assert config.data.input_size == (320, 320)


def test_unknown_key_names_path_and_suggests():
    expected = r"unknown config key 'train\.epoch' \(did you mean 'epochs'"
    with pytest.raises(ConfigError, match=expected):
        load_config({"train": {"epoch": 3}})


def test_wrong_type_and_size_errors():
    with pytest.raises(ConfigError, match=r"train\.epochs: expected an integer"):
        load_config({"train": {"epochs": "many"}})
    with pytest.raises(ConfigError, match="multiples of 32"):
        load_config("nanodet-plus-m_416", overrides=["data.input_size=[400,416]"])
    with pytest.raises(ConfigError, match=r"unknown preset 'nanodet-plus-m_415'.*m_416"):
        load_config("nanodet-plus-m_415")


def test_yaml_with_preset_overrides_and_relative_paths(tmp_path: Path):
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    path = cfg_dir / "mine.yaml"
    path.write_text(
        "preset: nanodet-plus-m_320\n"
        "model: {num_classes: 2}\n"
        "class_names: [cat, dog]\n"
        "data:\n  train: {format: voc, img_path: imgs, ann_path: ../ann}\n"
    )
    config = load_config(path, overrides=["train.epochs=7", "data.input_size=[480, 320]"])
    assert config.model.num_classes == 2
    assert config.data.input_size == (480, 320)
    assert config.train.epochs == 7
    assert config.data.train.img_path == str((cfg_dir / "imgs").resolve())
    assert config.data.train.ann_path == str((tmp_path / "ann").resolve())
    saved = tmp_path / "saved.yaml"
    save_config(config, saved)
    assert load_config(saved) == config


def test_class_names_must_match_num_classes():
    with pytest.raises(ConfigError, match=r"class_names has 3 names but model\.num_classes is 2"):
        load_config({"model": {"num_classes": 2}, "class_names": ["a", "b", "c"]})
