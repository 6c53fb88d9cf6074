"""End-to-end ``Detector`` latency (image in memory -> Detections) against the forward pass alone.

Writes a markdown table (default ``docs/benchmarks-detector.md``). Target: end to end within
1.25x of the forward pass, i.e. preprocessing + post-processing cost at most a quarter of it.

    .venv/bin/python benchmarks/bench_detector.py --threads 1 --runs 30
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch

from nanodet_plus.data.preprocess import preprocess
from nanodet_plus.postprocess import postprocess
from nanodet_plus.runtime.detector import Detector

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "tests" / "assets"


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.process_time


def median_ms(fn: Callable[[], object], warmup: int, runs: int) -> float:
    """Median time of ``fn`` in milliseconds on the selected clock."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = clock()
        fn()
        times.append((clock() - start) * 1000)
    return statistics.median(times)


def bench_one(
    detector: Detector, image: np.ndarray, size: tuple[int, int], warmup: int, runs: int
) -> dict[str, float]:
    detector.input_size = size
    meta = detector.meta
    prepared = detector.prepare([image])
    batch = torch.from_numpy(prepared.images)
    raw = detector.backend.infer_tensor(batch)

    def run_pre() -> object:
        return preprocess([image], size, keep_ratio=detector.keep_ratio, mean=meta.mean,
                          std=meta.std)

    def run_post() -> object:
        return postprocess(raw, meta, prepared.input_hw, prepared.warp_matrices,
                           prepared.orig_sizes, score_thr=detector.score_thr,
                           iou_thr=detector.iou_thr, max_det=detector.max_det)

    return {
        "forward": median_ms(lambda: detector.backend.infer_tensor(batch), warmup, runs),
        "pre": median_ms(run_pre, warmup, runs),
        "post": median_ms(run_post, warmup, runs),
        "end2end": median_ms(lambda: detector(image), warmup, runs),
        "detections": float(len(detector(image))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    weights = ASSETS / "reference" / "nanodet-plus-m_320_weights.pth"
    parser.add_argument("--weights", default=str(weights))
    parser.add_argument("--config", default="nanodet-plus-m_320")
    parser.add_argument("--image", default=str(ASSETS / "official-samples/test_img.jpg"))
    parser.add_argument("--sizes", nargs="+", default=["320x320", "416x416"])
    parser.add_argument("--score-thr", type=float, nargs="+", default=[0.35, 0.05])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--clock", choices=sorted(CLOCKS), default="cpu",
        help="cpu: process CPU time (robust on a shared machine with 1 thread); wall: real time",
    )
    parser.add_argument("--out", default=str(REPO / "docs/benchmarks-detector.md"))
    args = parser.parse_args()

    global clock
    clock = CLOCKS[args.clock]
    torch.set_num_threads(args.threads)
    image = cv2.imread(args.image)
    rows = []
    for fuse in (False, True):
        detector = Detector.from_file(args.weights, config=args.config, fuse=fuse, device="cpu")
        for score_thr in args.score_thr:
            detector.score_thr = score_thr
            for size_text in args.sizes:
                size = tuple(int(v) for v in size_text.split("x"))
                result = bench_one(detector, image, size, args.warmup, args.runs)
                ratio = result["end2end"] / result["forward"]
                parts = 1 + (result["pre"] + result["post"]) / result["forward"]
                rows.append(
                    f"| {size_text} | {'yes' if fuse else 'no'} | {score_thr} | "
                    f"{int(result['detections'])} | {result['forward']:.2f} | "
                    f"{result['pre']:.2f} | {result['post']:.2f} | {result['end2end']:.2f} | "
                    f"{ratio:.2f}x | {parts:.2f}x |"
                )
                print(rows[-1], flush=True)

    lines = [
        "# Detector end-to-end latency",
        "",
        f"`benchmarks/bench_detector.py`, {args.config} with the reference weights on "
        f"`{Path(args.image).name}` (360x404), CPU, {args.threads} torch thread(s), median "
        f"{args.clock} time of {args.runs} runs after {args.warmup} warm-up runs. "
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}.",
        "",
        "*forward*: the backend's forward pass on a prepared batch; *pre*: warp + normalise + "
        "pad; *post*: decode + threshold + NMS + mapping back; *end to end*: "
        "`Detector(image)` on a BGR array in memory. Target: end to end <= 1.25x forward. "
        "The last column, 1 + (pre + post) / forward, is the same ratio built from the parts; "
        "it is far less sensitive to other processes than two separately timed medians.",
        "",
        f"Load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.",
        "",
        "| input (WxH) | BN fused | score thr | detections | forward ms | pre ms | post ms | "
        "end to end ms | end to end / forward | 1 + (pre + post) / forward |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
