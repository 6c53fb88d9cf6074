"""``data preview`` draws the samples ``nanodet train`` would draw: the auto recipe's input
size and augmentation, the user's own keys and overrides winning."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from nanodet_plus.cli.main import main
from nanodet_plus.config.loader import load_config
from nanodet_plus.data.datasets import load_record_set
from nanodet_plus.engine.recipe import DatasetStats, _train_size


def _sizes(folder: Path) -> set[tuple[int, int]]:
    return {cv2.imread(str(p)).shape[:2] for p in folder.glob("*.jpg")}


@pytest.mark.parametrize(("overrides", "size", "note"), [
    ([], None, "; values of train.recipe auto applied"),
    (["train.recipe=official"], 320, ""),
    (["data.train_input_size=[288,288]"], 288, "; values of train.recipe auto applied"),
])
def test_preview_shows_the_training_input(tmp_path: Path, demo_dir: Path, capsys,
                                          overrides: list[str], size: int | None,
                                          note: str) -> None:
    config_path = demo_dir / "demo.yaml"
    if size is None:  # what the recipe picks from the demo's object sizes
        config = load_config(config_path)
        records = load_record_set(config.data.train, config.class_names).records
        size = _train_size(DatasetStats.from_records(records, 6))
        assert size < 320
    out = tmp_path / "p"
    assert main(["data", "preview", str(config_path), *overrides, "--out", str(out),
                 "--num", "2"]) == 0
    assert _sizes(out) == {(size, size)}
    assert capsys.readouterr().out.strip() == (
        f"wrote 2 previews to {out}: the train split at {size}x{size}, as nanodet train "
        f"samples it{note}")


def test_val_preview_uses_the_validation_size(tmp_path: Path, demo_dir: Path, capsys) -> None:
    out = tmp_path / "v"
    assert main(["data", "preview", str(demo_dir / "demo.yaml"), "--split", "val", "--out",
                 str(out), "--num", "2", "data.input_size=[352,352]"]) == 0
    assert _sizes(out) == {(352, 352)}
    assert "the val split at 352x352, as validation reads it (no augmentation)" in \
        capsys.readouterr().out
