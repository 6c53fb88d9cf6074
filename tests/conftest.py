"""Fixtures shared by every test: the reference vectors and official samples in ``tests/assets``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSETS = REPO_ROOT / "tests" / "assets"


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """PyTorch on one thread for the whole session, module fixtures included: on a 2-core
    machine extra threads only spin, and outputs compared bit for bit stay comparable."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Golden outputs of the official implementation (``tests/assets/reference/README.md``)."""
    return ASSETS / "reference"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The official repository's test image and label files."""
    return ASSETS / "official-samples"


@pytest.fixture(scope="session")
def reference_expected(reference_dir: Path) -> dict:
    return json.loads((reference_dir / "nanodet-plus-m_320_expected.json").read_text())


@pytest.fixture(scope="session")
def reference_weights(reference_dir: Path) -> Path:
    return reference_dir / "nanodet-plus-m_320_weights.pth"


@pytest.fixture(scope="module")
def torch_model(reference_weights: Path):
    """nanodet-plus-m_320 with the reference weights, without the AGM, in eval mode."""
    from nanodet_plus.models.factory import build_model
    from nanodet_plus.models.weights import load_weights

    model = build_model("nanodet-plus-m_320", aux=False)
    load_weights(model, reference_weights)
    return model.eval()


@pytest.fixture(scope="session")
def write_sample_coco():
    """Writes a COCO file for the official ``test_img.jpg`` (80 COCO classes, one person box)
    at a given path, for val runs on the reference weights."""
    from nanodet_plus.data.coco_classes import COCO_CLASSES

    def write(path: Path) -> Path:
        categories = [{"id": i + 1, "name": name} for i, name in enumerate(COCO_CLASSES)]
        image = {"id": 1, "file_name": "test_img.jpg", "width": 360, "height": 404}
        person = {"id": 1, "image_id": 1, "category_id": 1, "bbox": [7, 3, 182, 398],
                  "iscrowd": 0}
        path.write_text(json.dumps({"images": [image], "annotations": [person],
                                    "categories": categories}))
        return path

    return write
