"""What every benchmark script shares: where results go, the ``--out`` argument, and writing a
results file in the one format of ``nanodet_plus.benchmark.results`` (machine, command, date,
versions and load average beside the figures).

    run = Run(__file__, argv)          # at the start: notes the command and the load
    ...
    run.save(args.out, "train", FIGURE, {"rows": rows}, runtimes=("onnxruntime",))
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nanodet_plus.benchmark.results import command_line, load_average, write_results

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def add_out_argument(parser: argparse.ArgumentParser, stem: str) -> None:
    """``--out FILE``: the results file (default ``benchmarks/results/STEM-DATE.json``)."""
    parser.add_argument("--out", type=Path, default=None,
                        help=f"results file (default benchmarks/results/{stem}-DATE.json)")


def results_path(out: str | Path | None, stem: str, suffix: str = "") -> Path:
    """``out`` as given, else ``benchmarks/results/STEM-DATE[SUFFIX].json``."""
    if out:
        return Path(out)
    return RESULTS / f"{stem}-{datetime.date.today().isoformat()}{suffix}.json"


class Run:
    """One run of a benchmark script: its command as typed and the load when it started."""

    def __init__(self, script: str | Path, argv: Sequence[str] | None = None) -> None:
        self.benchmark = Path(script).stem
        self.command = command_line(script, argv, REPO)
        self.load_before = load_average()

    def save(self, out: str | Path | None, stem: str, figure: str, data: Mapping[str, Any], *,
             runtimes: Iterable[str] = (), suffix: str = "") -> Path:
        """Write the results file and say where."""
        path = write_results(results_path(out, stem, suffix), self.benchmark, figure, data,
                             command=self.command, runtimes=runtimes,
                             load_before=self.load_before)
        print(f"results: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
        return path
