"""docs/benchmarks.md, its plots and README.md's headline block are what benchmarks/report.py
writes from the results files; every results file carries the metadata that makes it citable.
A page edited by hand, or results rerun without regenerating it, fail here."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from nanodet_plus.benchmark.results import REQUIRED_FIELDS, missing_fields

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
PAGE = REPO / "docs" / "benchmarks.md"


def _report_module():
    path = REPO / "benchmarks" / "report.py"
    spec = importlib.util.spec_from_file_location("benchmarks_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report():
    return _report_module()


@pytest.fixture(scope="module")
def rendered(report):
    return report.render_page(report.Results(RESULTS))


def test_the_page_is_generated_from_the_results(rendered):
    page, _ = rendered
    assert page == PAGE.read_text(), (
        "docs/benchmarks.md is out of date: run python benchmarks/report.py")


def test_the_plots_on_the_page_are_the_results_plots(rendered):
    page, assets = rendered
    linked = set(re.findall(r"\]\(assets/benchmarks/([^)]+)\)", page))
    assert linked == set(assets) and linked
    for name, source in assets.items():
        copy = REPO / "docs" / "assets" / "benchmarks" / name
        assert copy.read_bytes() == source.read_bytes(), (
            f"docs/assets/benchmarks/{name} differs from {source.name}: run "
            "python benchmarks/report.py")


def test_every_cited_results_file_exists_and_every_table_names_one(rendered):
    page, _ = rendered
    cited = set(re.findall(r"`benchmarks/results/([^`]+)`", page))
    stems = {re.sub(r"-\d{4}-\d{2}-\d{2}.*$", "", name) for name in cited}
    assert stems >= {"peers", "runtimes", "inference", "precision", "throughput", "overhead",
                     "detector", "peak", "profile", "train", "agm-cost", "loss", "data", "eval",
                     "recipe", "agm-equal-compute", "finetune", "memory", "litert"}
    for name in cited:
        assert (RESULTS / name).is_file(), name
    # every table is followed by the small print naming its source
    blocks = page.split("\n\n")
    for index, block in enumerate(blocks):
        if block.startswith("| ") and "|---" in block:
            following = "\n\n".join(blocks[index + 1:index + 6])
            assert "<small>`benchmarks/results/" in following, block.splitlines()[0]


@pytest.mark.parametrize("path", sorted(RESULTS.glob("*.json")), ids=lambda p: p.name)
def test_every_results_file_has_the_metadata(path):
    record = json.loads(path.read_text())
    assert missing_fields(record) == [], f"{path.name} lacks {missing_fields(record)}"
    assert list(record)[:len(REQUIRED_FIELDS)] == list(REQUIRED_FIELDS)


def test_readme_headline_block_is_generated(report):
    readme = (REPO / "README.md").read_text()
    if report.HEADLINE_START not in readme:
        pytest.skip("README.md has no headline markers")
    expected = report.replace_block(readme, report.headline(report.Results(RESULTS)))
    assert readme == expected, "README.md headline block is out of date: run benchmarks/report.py"


def test_headline_block_replaces_only_what_is_between_the_markers(report):
    text = f"intro\n{report.HEADLINE_START}\n- old\n{report.HEADLINE_END}\nrest\n"
    assert report.replace_block(text, ["- a", "- b"]) == (
        f"intro\n{report.HEADLINE_START}\n- a\n- b\n{report.HEADLINE_END}\nrest\n")
    assert report.replace_block("no markers here\n", ["- a"]) is None


def test_headline_figures_come_from_the_results(report):
    results = report.Results(RESULTS)
    bullets = report.headline(results)
    peers = results.newest("peers")
    fastest = min(r["median_ms"] for r in peers["results"]
                  if r["model"] == report.NANODET and r["threads"] == 1)
    assert bullets[0].startswith(f"- **{fastest:.1f} ms per image**")
    assert all(line.startswith("- **") and "](docs/benchmarks.md#" in line for line in bullets)
