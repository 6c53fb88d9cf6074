"""The recipe benchmark's datasets (benchmarks/recipe_datasets.py), generated small: valid COCO
that our reader accepts, exact boxes inside their images, the declared classes, seeded output."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest
import yaml

pytest.importorskip("skimage", reason="the benchmark datasets need pip install -e '.[bench]'")
pytest.importorskip("sklearn", reason="the benchmark datasets need pip install -e '.[bench]'")

REPO = Path(__file__).resolve().parents[2]
NAMES = ("digits-on-textures", "words-on-photos")


@pytest.fixture(scope="module")
def generator() -> Iterator[ModuleType]:
    """benchmarks/recipe_datasets.py, imported by path (benchmarks/ is not a package)."""
    path = REPO / "benchmarks" / "recipe_datasets.py"
    spec = importlib.util.spec_from_file_location("recipe_datasets", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get("recipe_datasets")
    sys.modules["recipe_datasets"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    if previous is None:
        sys.modules.pop("recipe_datasets", None)
    else:
        sys.modules["recipe_datasets"] = previous


def _tiny(generator: ModuleType, name: str, out: Path, seed: int = 0) -> Path:
    return generator.generate(name, out, seed=seed, train_images=4, val_images=2, workers=1)


def test_every_dataset_is_covered(generator: ModuleType) -> None:
    assert set(generator.DATASETS) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_boxes_are_exact_and_inside(generator: ModuleType, name: str, tmp_path: Path) -> None:
    """Our COCO reader accepts both splits; each box is inside its image, at least 2 px each
    way, labelled with a declared class, and the image size on disk is the recorded one."""
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.data.datasets import load_coco

    config_path = _tiny(generator, name, tmp_path)
    spec = yaml.safe_load(config_path.read_text())
    assert set(spec) == {"preset", "model", "class_names", "data"}  # no training recipe
    assert spec["class_names"] == list(generator.DATASETS[name].class_names)
    config = load_config(str(config_path))
    assert config.model.num_classes == len(spec["class_names"])
    boxes_seen = 0
    for split in ("train", "val"):
        records = load_coco(tmp_path / "images" / split, tmp_path / f"{split}.json",
                            spec["class_names"]).records
        assert len(records) == (4 if split == "train" else 2)
        for record in records:
            height, width = cv2.imread(record.path).shape[:2]
            assert (record.width, record.height) == (width, height)
            x1, y1, x2, y2 = record.boxes.T
            assert np.all((x1 >= 0) & (y1 >= 0) & (x2 <= width) & (y2 <= height))
            assert np.all((x2 - x1 >= 2) & (y2 - y1 >= 2))
            assert np.all((record.labels >= 0) & (record.labels < len(spec["class_names"])))
            boxes_seen += len(record.boxes)
    assert boxes_seen > 0


@pytest.mark.parametrize("name", NAMES)
def test_output_is_a_function_of_the_seed(generator: ModuleType, name: str,
                                          tmp_path: Path) -> None:
    first = _tiny(generator, name, tmp_path / "a").parent
    again = _tiny(generator, name, tmp_path / "b").parent
    other = _tiny(generator, name, tmp_path / "c", seed=1).parent
    for split in ("train", "val"):
        assert (first / f"{split}.json").read_text() == (again / f"{split}.json").read_text()
        assert (first / f"{split}.json").read_text() != (other / f"{split}.json").read_text()
    for image in sorted((first / "images").rglob("*.jpg")):
        assert image.read_bytes() == (again / image.relative_to(first)).read_bytes()


def test_boxes_hold_every_drawn_pixel(generator: ModuleType) -> None:
    """Drawn on a blank page, a digit's and a word's pixels fill their box edge to edge."""
    rng = np.random.default_rng(0)
    images, _ = generator._digit_pool()
    alphas = [generator._digit_alpha(rng, images[0], 40),
              generator._text_alpha(rng, "House", "DejaVuSerif.ttf", 30)]
    for alpha in alphas:
        drawn = alpha >= generator.ALPHA_FLOOR
        assert np.all(alpha[~drawn] == 0)
        assert drawn[0].any() and drawn[-1].any() and drawn[:, 0].any() and drawn[:, -1].any()


def test_check_sample_rejects_bad_boxes(generator: ModuleType) -> None:
    image = np.zeros((50, 60, 3), np.uint8)
    for boxes, labels in (([[0, 0, 61, 10]], [0]), ([[5, 5, 6, 20]], [0]), ([[0, 0, 9, 9]], [12])):
        with pytest.raises(ValueError):
            generator.check_sample(generator.Sample(image, boxes, labels), num_classes=10)
