"""COCO ``class_names`` in another order than the category ids: an error, not a warning, since
the model would otherwise learn each class under another's name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nanodet_plus.cli.main import main
from nanodet_plus.config.loader import load_config
from nanodet_plus.data.check import check_data
from nanodet_plus.data.datasets import load_records
from nanodet_plus.errors import DataError


def _config(tmp_path: Path, names: list[str]) -> Path:
    path = tmp_path / f"cfg-{'-'.join(names)}.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"num_classes": 2}, "class_names": names,
        "data": {"train": {"format": "coco", "img_path": "images",
                           "ann_path": "ann.json"}},
    }))
    return path


def test_swapped_class_names_are_an_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "ann.json").write_text(
        '{"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}], '
        '"annotations": [{"id": 1, "image_id": 1, "category_id": 2, "bbox": [4, 4, 20, 20]}], '
        '"categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}')
    swapped = _config(tmp_path, ["dog", "cat"])
    expected = (f"{tmp_path / 'ann.json'}: class_names ['dog', 'cat'] lists the dataset's "
                "classes in another order: labels follow the category ids in ascending order, "
                "['cat', 'dog'], so the model would name classes wrongly; write class_names in "
                "that order or leave it out (the names then come from the annotation file)")
    report = check_data(load_config(swapped), check_images=False)
    assert [str(issue) for issue in report.errors] == [expected]
    with pytest.raises(DataError, match="lists the dataset's classes in another order"):
        load_records(load_config(swapped).data.train, ["dog", "cat"])
    assert main(["data", "check", str(swapped)]) == 1
    assert expected in capsys.readouterr().out
    # other names (a translation, say) stay a warning; the right order passes silently
    renamed = check_data(load_config(_config(tmp_path, ["chat", "chien"])), check_images=False)
    assert [issue.level for issue in renamed.issues if issue.kind == "class-names"] == \
        ["warning"]
    right = check_data(load_config(_config(tmp_path, ["cat", "dog"])), check_images=False)
    assert not [issue for issue in right.issues if issue.kind == "class-names"]
