"""Fixtures of the data tests: a small generated demo dataset shared by the session."""

from __future__ import annotations

from pathlib import Path

import pytest

from nanodet_plus.data.demo import generate_demo_dataset


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 24 + 8 image demo dataset (seed 3) in COCO, VOC and YOLO formats."""
    out = tmp_path_factory.mktemp("demo")
    generate_demo_dataset(out, train_images=24, val_images=8, seed=3, workers=1)
    return out
