"""Fixtures for model tests: reference weights and I/O, built models (module-scoped, reused)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nanodet_plus as nd

STATE_DICT_LISTING = "reference-state-dict-m416.txt"


@pytest.fixture(scope="session")
def reference_listing(reference_dir: Path) -> list[tuple[str, tuple[int, ...]]]:
    """``(key, shape)`` rows of the official nanodet-plus-m_416 state dict, in order."""
    rows = []
    for line in (reference_dir / STATE_DICT_LISTING).read_text().splitlines():
        key, shape = line.split()
        dims = shape.strip("[]")
        rows.append((key, tuple(int(d) for d in dims.split(",")) if dims else ()))
    return rows


@pytest.fixture(scope="session")
def reference_state(reference_weights: Path) -> dict[str, torch.Tensor]:
    return torch.load(reference_weights, weights_only=True)["state_dict"]


@pytest.fixture(scope="session")
def reference_io(reference_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(reference_dir / "nanodet-plus-m_320_raw_io.pt", weights_only=True)


@pytest.fixture()
def fresh_m320():
    torch.manual_seed(0)
    return nd.build_model("nanodet-plus-m_320", num_classes=80)


@pytest.fixture(scope="module")
def reference_model(reference_state):
    """nanodet-plus-m_320 with the reference weights, eval mode."""
    model = nd.build_model("nanodet-plus-m_320", num_classes=80)
    model.load_state_dict(reference_state)
    return model.eval()
