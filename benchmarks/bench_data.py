"""Training data pipeline throughput: decode + augmentation + normalisation, one process.

Measures this project's :class:`DetectionDataset` (training mode) at 320 and 416 on the demo
dataset, and, when an environment running the official NanoDet code is available, the official
``CocoDataset`` training pipeline on the same files in a subprocess, interleaved with ours.
OpenCV runs single-threaded in both, as in one data-loader worker. Times are process CPU
time per image (``time.process_time``), which a machine shared with other jobs distorts far
less than wall time; on an idle machine the two agree for this single-threaded work.

    .venv/bin/python benchmarks/bench_data.py [--data DIR] [--num 300] \
        [--official-python /tmp/nanodet-official-venv/bin/python] [--out FILE]

The official environment is a virtualenv with the official code (github.com/RangiLyu/nanodet)
and its requirements installed. Writes
``benchmarks/results/data-DATE.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Run, add_out_argument  # beside this script

FIGURE = ("Training data pipeline per image (JPEG decode, random warp, colour jitter, "
          "normalisation, CHW tensor), one process with OpenCV and torch single-threaded like one "
          "data-loader worker: process CPU time per image, median of interleaved runs, ours "
          "against the official NanoDet pipeline on the same demo images")

OFFICIAL_SCRIPT = r"""
import json, sys, time
import cv2
cv2.setNumThreads(1)
import torch
torch.set_num_threads(1)
from nanodet.data.dataset import CocoDataset
img_path, ann_path = sys.argv[1], sys.argv[2]
size, num, warmup = (int(v) for v in sys.argv[3:6])
pipeline = dict(perspective=0.0, scale=[0.6, 1.4], stretch=[[0.8, 1.2], [0.8, 1.2]], rotation=0,
                shear=0, translate=0.2, flip=0.5, brightness=0.2, contrast=[0.6, 1.4],
                saturation=[0.5, 1.2],
                normalize=[[103.53, 116.28, 123.675], [57.375, 57.12, 58.395]])
ds = CocoDataset(img_path=img_path, ann_path=ann_path, input_size=[size, size], pipeline=pipeline,
                 keep_ratio=False, mode="train")
n = len(ds)
for i in range(warmup):
    ds[i % n]
start = time.process_time()
for i in range(num):
    ds[i % n]
print(json.dumps({"seconds": time.process_time() - start, "num": num}))
"""


def _ours(data_dir: Path, size: int, num: int, warmup: int) -> float:
    import cv2
    import torch

    from nanodet_plus.config.schema import DataConfig, DatasetConfig
    from nanodet_plus.data.dataset import DetectionDataset
    from nanodet_plus.data.datasets import load_records

    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    records = load_records(DatasetConfig("coco", str(data_dir / "images" / "train"),
                                         str(data_dir / "coco" / "train.json")))
    dataset = DetectionDataset(records, DataConfig(input_size=(size, size)), train=True, seed=0)
    n = len(dataset)
    for i in range(warmup):
        dataset[i % n]
    start = time.process_time()
    for i in range(num):
        dataset[i % n]
    return (time.process_time() - start) / num


def _official(python: str, data_dir: Path, size: int, num: int, warmup: int) -> float:
    result = subprocess.run(
        [python, "-c", OFFICIAL_SCRIPT, str(data_dir / "images" / "train"),
         str(data_dir / "coco" / "train.json"), str(size), str(num), str(warmup)],
        capture_output=True, text=True, check=True, timeout=900,
    )
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return data["seconds"] / data["num"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None,
                        help="demo dataset folder (default: generate 200 train images, seed 0)")
    parser.add_argument("--num", type=int, default=300, help="samples timed per run")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs; median reported")
    parser.add_argument("--sizes", type=int, nargs="+", default=[320, 416])
    parser.add_argument("--official-python", default="/tmp/nanodet-official-venv/bin/python")
    add_out_argument(parser, "data")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data
        if data_dir is None:
            from nanodet_plus.data.demo import generate_demo_dataset

            data_dir = Path(tmp) / "demo"
            generate_demo_dataset(data_dir, train_images=200, val_images=1, seed=0)
        official = args.official_python if Path(args.official_python).is_file() else None
        rows = []
        for size in args.sizes:
            ours, theirs = [], []
            for _ in range(args.repeat):
                ours.append(_ours(data_dir, size, args.num, args.warmup))
                if official:
                    try:
                        theirs.append(_official(official, data_dir, size, args.num, args.warmup))
                    except (subprocess.SubprocessError, ValueError) as exc:
                        print(f"official pipeline failed: {exc}", file=sys.stderr)
                        official = None
            row = {"size": size, "ours_ms": 1000 * statistics.median(ours),
                   "official_ms": 1000 * statistics.median(theirs) if theirs else None}
            rows.append(row)
            off = (f"{row['official_ms']:.2f} ms ({1000 / row['official_ms']:.0f} img/s)"
                   if row["official_ms"] else "n/a")
            print(f"{size}x{size}: ours {row['ours_ms']:.2f} ms/img "
                  f"({1000 / row['ours_ms']:.0f} img/s); official {off}")
    run.save(args.out, "data", FIGURE,
             {"data": "given folder" if args.data else "demo dataset, 200 train images, seed 0",
              "num": args.num, "warmup": args.warmup, "repeat": args.repeat,
              "official": bool(official), "rows": rows}, runtimes=("opencv", "numpy"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
