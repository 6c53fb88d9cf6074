"""Benchmark library: interleaved timing, summaries, failed backends kept as rows, table."""

from __future__ import annotations

import numpy as np

from nanodet_plus.benchmark.latency import format_table, run_benchmark, summarise
from nanodet_plus.model_meta import ModelMeta
from nanodet_plus.ops.priors import num_points


class CountingBackend:
    """A fake runtime that records the order in which it is called."""

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name = name
        self.calls = calls
        self.meta = ModelMeta(num_classes=2, input_size=(64, 64), scores_are_sigmoid=True,
                              fixed_shape=True, batch_size=1)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(self.name)
        points = num_points(batch.shape[-2:], self.meta.strides)
        return np.zeros((batch.shape[0], points, 2 + 32), np.float32)


def test_summarise_median_and_p90():
    assert summarise([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == (5.5, 9.1)


def test_run_benchmark_interleaves_and_keeps_failed_rows():
    calls: list[str] = []
    backends = {"a": CountingBackend("a", calls), "b": CountingBackend("b", calls),
                "broken": "MissingDependencyError: ncnn is not installed"}
    image = np.zeros((48, 80, 3), np.uint8)
    rows = run_benchmark(backends, image, threads=1, runs=4, warmup=0)
    assert [row.backend for row in rows] == ["a", "b", "broken"]
    # model-only and end-to-end calls per run, rotating which backend goes first
    assert calls[:8] == ["a", "a", "b", "b", "b", "b", "a", "a"]
    for row in rows[:2]:
        assert len(row.samples["model"]) == len(row.samples["e2e"]) == 4
        assert row.model_median_ms > 0 and row.fps > 0
    assert rows[2].error.startswith("MissingDependencyError")
    table = format_table(rows, (64, 64))
    lines = table.splitlines()
    assert lines[0].startswith("| backend | threads | input | model median ms")
    assert len(lines) == 5
    assert "| broken | 1 | 64x64 | n/a" in table and "ncnn is not installed" in table
