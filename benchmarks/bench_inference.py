"""Batch-1 eager forward latency on CPU: ours (plain and optimised) against the official code.

    .venv/bin/python benchmarks/bench_inference.py [--presets ...] [--threads 1 2] [--rounds 10]

Measures the network forward only (backbone + fpn + head on a normalised tensor), no pre- or
post-processing. The official model runs in a subprocess with the official environment's
python (``--official-venv``, default /tmp/nanodet-official-venv: a virtualenv with the
official code, github.com/RangiLyu/nanodet, installed) when it exists; rounds are
interleaved (official, ours plain, ours optimised, ...) so machine load hits all alike, and
the results report medians. Writes
``benchmarks/results/inference-DATE.json``.

Other helpers can time more variants with :func:`time_forward` and add them as columns through
``extra_variants`` of :func:`run_benchmark`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Run, add_out_argument  # beside this script

FIGURE = ("Network forward latency on the CPU, batch 1 (backbone + FPN + head on a normalised "
          "tensor, no pre- or post-processing), median ms over interleaved rounds: the official "
          "code's eval model under no_grad, ours as trained (plain), and ours with BatchNorm "
          "folded and channels-last memory under inference_mode (fused+NHWC)")
PRESETS = ("nanodet-plus-m_320", "nanodet-plus-m_416", "nanodet-plus-m-1.5x_320",
           "nanodet-plus-m-1.5x_416")

OFFICIAL_WORKER = textwrap.dedent(
    """
    import json, sys, time
    import torch
    from nanodet.util import cfg, load_config
    from nanodet.model.arch import build_model

    models = {}
    for line in sys.stdin:
        request = json.loads(line)
        torch.set_num_threads(request["threads"])
        key = request["config"]
        if key not in models:
            load_config(cfg, key)
            cfg.defrost()
            cfg.model.arch.backbone.pretrain = False
            torch.manual_seed(0)
            models[key] = build_model(cfg.model).eval()
        model = models[key]
        width, height = request["size"]
        x = torch.randn(1, 3, height, width)
        times = []
        with torch.no_grad():
            for _ in range(request["warmup"]):
                model(x)
            for _ in range(request["runs"]):
                start = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - start)
        print("TIMES " + json.dumps(times), flush=True)
    """
)


def time_forward(fn: Callable[[torch.Tensor], object], x: torch.Tensor, runs: int,
                 warmup: int = 1) -> list[float]:
    """Wall-clock seconds of ``runs`` calls of ``fn(x)`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return times


class OfficialWorker:
    """The official NanoDet model timed in a subprocess of the official environment."""

    def __init__(self, venv: Path, src: Path) -> None:
        self.script = Path(tempfile.mkstemp(suffix="_official_worker.py")[1])
        self.script.write_text(OFFICIAL_WORKER)
        self.src = src
        self.process = subprocess.Popen(
            [str(venv / "bin" / "python"), str(self.script)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, cwd=str(src),
        )

    def time(self, preset: str, size: tuple[int, int], threads: int, runs: int,
             warmup: int = 1) -> list[float]:
        config = str(self.src / "config" / f"{preset}.yml")
        request = {"config": config, "size": list(size), "threads": threads, "runs": runs,
                   "warmup": warmup}
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the official worker exited; run it by hand to see why")
            if line.startswith("TIMES "):
                return json.loads(line[len("TIMES "):])

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)
        self.script.unlink(missing_ok=True)


def run_benchmark(
    presets: tuple[str, ...] = PRESETS,
    threads: tuple[int, ...] = (1, 2),
    rounds: int = 10,
    runs_per_round: int = 3,
    official: OfficialWorker | None = None,
    extra_variants: dict[str, Callable] | None = None,
) -> list[dict]:
    """Median forward latency (ms) per preset, thread count and variant."""
    import nanodet_plus as nd
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.models.detector import optimize_for_inference

    rows = []
    for preset in presets:
        size = tuple(load_config(preset).data.input_size)
        torch.manual_seed(0)
        model = nd.build_model(preset, aux=False).eval()
        fast = optimize_for_inference(model)
        x = torch.randn(1, 3, size[1], size[0])

        def plain(t: torch.Tensor, model=model) -> object:
            with torch.no_grad():
                return model(t)

        def optimised(t: torch.Tensor, fast=fast) -> object:
            with torch.inference_mode():
                return fast(t)

        variants: dict[str, Callable] = {"ours plain": plain, "ours fused+NHWC": optimised}
        for name, factory in (extra_variants or {}).items():
            variants[name] = factory(model, preset, size)
        for thread_count in threads:
            torch.set_num_threads(thread_count)
            samples: dict[str, list[float]] = {name: [] for name in variants}
            if official is not None:
                samples = {"official": [], **samples}
            for _ in range(rounds):
                if official is not None:
                    samples["official"] += official.time(preset, size, thread_count,
                                                         runs_per_round)
                for name, fn in variants.items():
                    samples[name] += time_forward(fn, x, runs_per_round)
            medians = {name: statistics.median(v) * 1000 for name, v in samples.items()}
            rows.append({"preset": preset, "size": size, "threads": thread_count,
                         "medians_ms": medians, "samples": len(samples["ours plain"])})
            print(preset, thread_count, {k: round(v, 1) for k, v in medians.items()},
                  flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--runs-per-round", type=int, default=3)
    parser.add_argument("--official-venv", type=Path, default=Path("/tmp/nanodet-official-venv"))
    parser.add_argument("--official-src", type=Path, default=Path("/tmp/nanodet-src"))
    add_out_argument(parser, "inference")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)
    official = None
    if (args.official_venv / "bin" / "python").exists() and args.official_src.is_dir():
        official = OfficialWorker(args.official_venv, args.official_src)
    else:
        print("official environment not found: timing ours only", file=sys.stderr)
    try:
        rows = run_benchmark(tuple(args.presets), tuple(args.threads), args.rounds,
                             args.runs_per_round, official)
    finally:
        if official is not None:
            official.close()
    for row in rows:
        row["size"] = list(row["size"])
    run.save(args.out, "inference", FIGURE,
             {"rounds": args.rounds, "runs_per_round": args.runs_per_round,
              "official": official is not None, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
