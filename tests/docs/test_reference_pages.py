"""The generated reference pages match the schema and the parsers they are generated from."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from nanodet_plus.cli.reference import render_cli_reference
from nanodet_plus.config import schema
from nanodet_plus.config.reference import field_doc, iter_fields, render_config_reference

DOCS = Path(__file__).resolve().parents[2] / "docs"
REGENERATE = "regenerate it with: .venv/bin/python docs/scripts/gen_reference.py"


def test_every_config_field_has_a_description():
    missing = [key for key, spec in iter_fields() if not field_doc(spec)]
    assert not missing, f"config fields without a description (doc=...): {missing}"


def test_a_field_without_description_is_found():
    @dataclasses.dataclass
    class Bare:
        described: int = schema.setting(1, "has one")
        bare: int = 2

    found = [key for key, spec in iter_fields(Bare) if not field_doc(spec)]
    assert found == ["bare"]


def test_every_config_key_is_on_the_page():
    page = (DOCS / "reference" / "config.md").read_text(encoding="utf-8")
    for key, _ in iter_fields():
        assert f"| `{key}` |" in page, key


def test_config_reference_is_up_to_date():
    page = (DOCS / "reference" / "config.md").read_text(encoding="utf-8")
    assert page == render_config_reference(), f"docs/reference/config.md is stale; {REGENERATE}"


def test_config_reference_shows_defaults_and_ranges():
    page = render_config_reference()
    assert "| `train.recipe` | `auto` | `auto`, `official` |" in page
    assert "| `data.augment.flip` | `0.5` | >= 0, <= 1 |" in page
    assert "| `model.aux_head` | (section below) |" in page
    assert "| `data.train.format` | `coco` | `coco`, `voc`, `yolo` |" in page


@pytest.mark.skipif(sys.version_info[:2] != (3, 11),
                    reason="argparse's help layout differs between Python versions; the page "
                           "is generated with Python 3.11")
def test_cli_reference_is_up_to_date():
    page = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    assert page == render_cli_reference(), f"docs/reference/cli.md is stale; {REGENERATE}"


def test_cli_reference_lists_every_command():
    page = render_cli_reference()
    for command in ("predict", "info", "data check", "data demo", "data preview", "val",
                    "train", "export", "benchmark", "config convert", "config show", "demo"):
        assert f"## `nanodet {command}`" in page
    assert "--precision {auto,fp32,bf16}" in page
