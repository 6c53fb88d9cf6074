"""The synthetic demo dataset: reproducible, varied, consistent across formats."""

from __future__ import annotations

import filecmp
from pathlib import Path

import numpy as np
import yaml

from nanodet_plus.config.loader import load_config
from nanodet_plus.data.demo import CLASS_NAMES, generate_demo_dataset, generate_image


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_generation_is_deterministic_and_worker_independent(tmp_path: Path):
    generate_demo_dataset(tmp_path / "a", 6, 2, seed=9, workers=1)
    generate_demo_dataset(tmp_path / "b", 6, 2, seed=9, workers=2)
    generate_demo_dataset(tmp_path / "c", 6, 2, seed=10, workers=1)
    files = _tree(tmp_path / "a")
    assert files == _tree(tmp_path / "b")
    matched, mismatch, errors = filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", files,
                                               shallow=False)
    assert len(matched) == len(files) and not mismatch and not errors
    assert not filecmp.cmp(tmp_path / "a" / "coco" / "train.json",
                           tmp_path / "c" / "coco" / "train.json", shallow=False)


def test_layout_and_configs(demo_dir: Path):
    config = load_config(demo_dir / "demo.yaml")
    assert config.preset == "nanodet-plus-m_320" and config.data.input_size == (320, 320)
    assert config.class_names == list(CLASS_NAMES) and config.model.num_classes == 6
    assert config.data.train.ann_path == str(demo_dir / "coco" / "train.json")
    raw = yaml.safe_load((demo_dir / "demo.yaml").read_text())
    assert raw["data"]["val"]["img_path"] == "images/val"  # relative in the file
    names = yaml.safe_load((demo_dir / "data.yaml").read_text())["names"]
    assert [names[i] for i in range(6)] == list(CLASS_NAMES)
    assert len(list((demo_dir / "images" / "train").glob("*.jpg"))) == 24


def test_statistics_in_expected_ranges():
    samples = [generate_image(np.random.default_rng([1, 0, i])) for i in range(80)]
    sizes = np.array([s.image.shape[:2] for s in samples])
    assert sizes.min() >= 256 and sizes.max() <= 512 and len(np.unique(sizes[:, 0])) > 20
    negatives = sum(len(s.boxes) == 0 for s in samples)
    assert 1 <= negatives <= 16
    labels = np.concatenate([s.labels for s in samples])
    assert np.bincount(labels, minlength=6).min() >= 20  # every class well represented
    sides = np.concatenate([np.minimum(s.boxes[:, 2] - s.boxes[:, 0], s.boxes[:, 3] - s.boxes[:, 1])
                            for s in samples])
    assert sides.min() >= 9 and np.median(sides) > 20 and sides.max() > 100
    for sample in samples:
        height, width = sample.image.shape[:2]
        assert (sample.boxes[:, 2] <= width).all() and (sample.boxes[:, 3] <= height).all()
        assert (sample.boxes[:, 2:] - sample.boxes[:, :2] <= max(width, height) / 2 + 6).all()
    per_image = [len(s.boxes) for s in samples]
    assert max(per_image) >= 5



def test_easy_style_has_larger_objects():
    from nanodet_plus.data.demo import EASY_STYLE

    samples = [generate_image(np.random.default_rng([1, 0, i]), EASY_STYLE) for i in range(30)]
    sides = np.concatenate([np.minimum(s.boxes[:, 2] - s.boxes[:, 0], s.boxes[:, 3] - s.boxes[:, 1])
                            for s in samples])
    assert sides.min() >= 15 and max(len(s.boxes) for s in samples) <= 6



def test_shapes_keep_their_corners_and_blobs_have_none():
    """Each class keeps its outline inside its mask patch (a rotated rectangle once lost its
    corners there and came out as an octagon, a look-alike of the circle), and unlabelled blobs
    are never triangles or quadrilaterals (label noise): polygon approximation of the outline
    gives 3 / 4 / 10 / 12 vertices for the classes and 6 or more for the blobs."""
    import cv2

    from nanodet_plus.data.demo import _shape_mask, _shape_mask_blob

    def vertices(mask: np.ndarray) -> int:
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        contour = max(contours, key=cv2.contourArea)
        return len(cv2.approxPolyDP(contour, 0.02 * cv2.arcLength(contour, True), True))

    def touches_border(mask: np.ndarray) -> bool:
        return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())

    rng = np.random.default_rng(0)
    for kind, corners in (("triangle", 3), ("rectangle", 4), ("star", 10), ("cross", 12)):
        masks = [_shape_mask(rng, kind, 96) for _ in range(30)]
        assert {vertices(mask) for mask in masks} == {corners}, kind
        assert not any(touches_border(mask) for mask in masks), kind
    blobs = [vertices(_shape_mask_blob(rng, 96)) for _ in range(50)]
    assert min(blobs) >= 6, sorted(blobs)[:5]
