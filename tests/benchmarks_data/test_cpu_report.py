"""docs/benchmarks-cpu.md is what benchmarks/cpu_report.py writes from the results files: a page
edited by hand, or results rerun without regenerating it, fail here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _report_module():
    path = REPO / "benchmarks" / "cpu_report.py"
    spec = importlib.util.spec_from_file_location("cpu_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cpu_page_is_generated_from_the_results(tmp_path):
    out = tmp_path / "benchmarks-cpu.md"
    assert _report_module().main(["--out", str(out)]) == 0
    committed = (REPO / "docs" / "benchmarks-cpu.md").read_text()
    assert out.read_text() == committed, (
        "docs/benchmarks-cpu.md is out of date: run python benchmarks/cpu_report.py")


def test_every_figure_names_its_results_file():
    page = (REPO / "docs" / "benchmarks-cpu.md").read_text()
    cited = {line.split("`benchmarks/results/")[1].split("`")[0]
             for line in page.splitlines() if "`benchmarks/results/" in line}
    assert {name.split("-")[0] for name in cited} >= {"peak", "peers", "profile", "precision",
                                                      "overhead", "throughput"}
    for name in cited:
        assert (REPO / "benchmarks" / "results" / name).is_file(), name
