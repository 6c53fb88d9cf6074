"""End-to-end ``Detector`` latency (image in memory -> Detections) against its parts.

A PyTorch checkpoint through ``Detector.from_file``: as trained (``precision="fp32"``) and the
default CPU path (BatchNorm folded, channels-last memory). Per input size and score threshold
the four parts are timed in alternation, run by run: the backend's forward on a prepared batch,
preprocessing (warp + normalise + pad), post-processing (decode + threshold + NMS + mapping
back) and ``Detector(image)`` end to end. Median process CPU time by default (1 thread), which
other jobs on a shared machine disturb far less than wall time.

    .venv/bin/python benchmarks/bench_detector.py [--threads 1] [--runs 30] [--out FILE]

Writes ``benchmarks/results/detector-DATE.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import REPO, Run, add_out_argument  # beside this script

from nanodet_plus.data.preprocess import preprocess
from nanodet_plus.postprocess import postprocess
from nanodet_plus.runtime.detector import Detector

ASSETS = REPO / "tests" / "assets"
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
FIGURE = ("Detector end to end (BGR image in memory -> Detections) against the forward pass "
          "alone and the pre- and post-processing around it, median ms per image, parts timed "
          "in alternation; 1 + (pre + post) / forward is the end-to-end cost relative to the "
          "forward pass built from the parts")
VARIANTS = {"as trained": "fp32", "default (BN folded, channels-last)": "auto"}


def bench_one(detector: Detector, image: np.ndarray, size: tuple[int, int], warmup: int,
              runs: int, clock) -> dict[str, float]:
    """Median ms of each part, the parts run in turn within every run."""
    detector.input_size = size
    meta = detector.meta
    prepared = detector.prepare([image])
    batch = torch.from_numpy(prepared.images)
    raw = detector.backend.infer_tensor(batch)
    parts = {
        "forward": lambda: detector.backend.infer_tensor(batch),
        "pre": lambda: preprocess([image], size, keep_ratio=detector.keep_ratio, mean=meta.mean,
                                  std=meta.std),
        "post": lambda: postprocess(raw, meta, prepared.input_hw, prepared.warp_matrices,
                                    prepared.orig_sizes, score_thr=detector.score_thr,
                                    iou_thr=detector.iou_thr, max_det=detector.max_det),
        "end_to_end": lambda: detector(image),
    }
    for _ in range(warmup):
        for part in parts.values():
            part()
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(runs):
        for name, part in parts.items():
            start = clock()
            part()
            times[name].append((clock() - start) * 1000)
    result = {f"{name}_ms": statistics.median(values) for name, values in times.items()}
    result["detections"] = len(detector(image))
    return result


def main(argv: list[str] | None = None) -> int:
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
    add_out_argument(parser, "detector")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    image = cv2.imread(args.image)
    rows = []
    for variant, precision in VARIANTS.items():
        detector = Detector.from_file(args.weights, config=args.config, precision=precision,
                                      device="cpu")
        for score_thr in args.score_thr:
            detector.score_thr = score_thr
            for size_text in args.sizes:
                size = tuple(int(v) for v in size_text.split("x"))
                result = bench_one(detector, image, size, args.warmup, args.runs,
                                   CLOCKS[args.clock])
                row = {"variant": variant, "input": list(size), "score_thr": score_thr,
                       **result,
                       "end_to_end_over_forward": result["end_to_end_ms"] / result["forward_ms"],
                       "parts_over_forward": 1 + (result["pre_ms"] + result["post_ms"])
                       / result["forward_ms"]}
                rows.append(row)
                print({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()},
                      flush=True)
    run.save(args.out, "detector", FIGURE,
             {"model": args.config, "weights": Path(args.weights).name,
              "image": Path(args.image).name, "image_wh": [image.shape[1], image.shape[0]],
              "threads": args.threads, "clock": args.clock, "runs": args.runs,
              "warmup": args.warmup, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
