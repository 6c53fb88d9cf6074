"""Resident memory of long runs (issue 14): predicting a 5,000-frame video, and training with
a validation after every epoch for 20 epochs. Both must stay flat, not grow with the run.

    .venv/bin/python benchmarks/bench_memory.py [--frames 5000] [--epochs 20]
        [--backends onnx,torch] [--workdir runs/bench_memory]
        [--out benchmarks/results/memory-DATE.json]

Each run is the ``nanodet`` command a user types (with OMP_NUM_THREADS=1), in a subprocess
whose resident set size (VmRSS of the process and its children, from /proc) is sampled every
0.25 s. Prediction reads a
generated video (moving shapes, 320x240, mp4v) with the reference weights of tests/assets
(ONNX: exported from them first) and writes the annotated video and predictions.json, as by
default. Training runs 20 epochs of a small generated dataset with ``train.val_interval=1``,
one process with its two loader workers. The figures: RSS once the run is warm (a quarter of
the way through the frames, or at the end of epoch 2), at the end (97% through the frames, or
the end of the last epoch), the growth between the two and the peak.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Run, add_out_argument  # noqa: E402  (beside this script)

FIGURE = ("Resident memory (RSS, MiB) of long runs as a user types them: predicting a video "
          "frame by frame, and training with a validation after every epoch; RSS once warm, at "
          "the end, the growth between the two and the peak")

WEIGHTS = REPO / "tests" / "assets" / "reference" / "nanodet-plus-m_320_weights.pth"
FRAME_LINE = re.compile(r"epoch (\d+)/(\d+):")
# One compute thread per process: the figures are memory, and a busy machine makes a process
# with more OpenMP threads than free cores crawl (10-20x slower steps, measured on 2 cores).
THREAD_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def tree_rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` and all its descendants, in MiB (0 when it has ended)."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines()
                       if line.startswith("VmRSS:")), 0)
        stack.extend(int(child) for child in children)
    return total / 1024


def run_sampled(command: list[str], log: Path) -> tuple[int, list[tuple[float, float]],
                                                        list[tuple[float, str]]]:
    """Run ``command``; (exit code, [(seconds, RSS MiB)], [(seconds, output line)])."""
    start = time.monotonic()
    samples: list[tuple[float, float]] = []
    lines: list[tuple[float, str]] = []
    with log.open("w") as stream:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, cwd=REPO, env=THREAD_ENV)

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                stream.write(line)
                lines.append((time.monotonic() - start, line.rstrip()))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        while process.poll() is None:
            samples.append((time.monotonic() - start, tree_rss_mb(process.pid)))
            time.sleep(0.25)
        reader.join()
    return process.returncode, [s for s in samples if s[1] > 0], lines


def write_video(path: Path, frames: int, size: tuple[int, int] = (320, 240)) -> Path:
    """Moving coloured shapes on a textured background, ``frames`` long, mp4v."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, size)
    rng = np.random.default_rng(0)
    background = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
    for index in range(frames):
        frame = background.copy()
        for shape in range(3):
            x = int((index * (2 + shape) + shape * 90) % (width - 60))
            y = int(40 + 60 * shape + 20 * np.sin(index / 15 + shape))
            color = (60 + 60 * shape, 200 - 50 * shape, 120)
            if shape % 2:
                cv2.circle(frame, (x + 25, y + 25), 25, color, -1)
            else:
                cv2.rectangle(frame, (x, y), (x + 50, y + 40), color, -1)
        writer.write(frame)
    writer.release()
    return path


def rss_at(samples: list[tuple[float, float]], seconds: float) -> float:
    """The last RSS sample taken at or before ``seconds``."""
    return next((rss for t, rss in reversed(samples) if t <= seconds), samples[0][1])


def summarise(samples: list[tuple[float, float]], warm_s: float, end_s: float) -> dict:
    """RSS once warm, at the end of the work, the growth between them and the peak (MiB)."""
    warm, end = rss_at(samples, warm_s), rss_at(samples, end_s)
    return {"warm_mb": round(warm, 1), "end_mb": round(end, 1),
            "growth_mb": round(end - warm, 1), "peak_mb": round(max(r for _, r in samples), 1),
            "seconds": round(samples[-1][0], 1)}


def bench_predict(backend: str, video: Path, work: Path, frames: int) -> dict:
    weights = WEIGHTS
    if backend == "onnx":
        weights = work / "model.onnx"
        if not weights.exists():
            subprocess.run([sys.executable, "-m", "nanodet_plus", "export", str(WEIGHTS),
                            "-o", str(weights), "--imgsz", "320", "320"], check=True, cwd=REPO)
    command = [sys.executable, "-m", "nanodet_plus", "predict", str(video), "--weights",
               str(weights), "--project", str(work / "predict"), "--name", backend,
               "--device", "cpu"]
    code, samples, lines = run_sampled(command, work / f"predict-{backend}.log")
    if code:
        return {"error": f"exit {code}: {lines[-1][1] if lines else ''}"}
    total = samples[-1][0]  # the work is spread evenly: frames at a steady rate
    result = summarise(samples, warm_s=total * 0.25, end_s=total * 0.97)
    result["frames"] = frames
    return result


def write_dataset(root: Path, count: int = 64, size: int = 160) -> Path:
    """A small COCO dataset of coloured squares and discs; returns its config."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for index in range(count):
        image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            label, side = int(rng.integers(0, 2)), int(rng.integers(20, 60))
            x, y = (int(v) for v in rng.integers(0, size - side, 2))
            color = tuple(int(c) for c in rng.integers(120, 255, 3))
            if label:
                cv2.circle(image, (x + side // 2, y + side // 2), side // 2, color, -1)
            else:
                cv2.rectangle(image, (x, y), (x + side - 1, y + side - 1), color, -1)
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1,
                                "category_id": label + 1, "bbox": [x, y, side, side],
                                "area": side * side, "iscrowd": 0})
        cv2.imwrite(str(root / "images" / f"{index:03d}.jpg"), image)
        images.append({"id": index + 1, "file_name": f"{index:03d}.jpg", "width": size,
                       "height": size})
    (root / "coco.json").write_text(json.dumps({
        "images": images, "annotations": annotations,
        "categories": [{"id": 1, "name": "square"}, {"id": 2, "name": "disc"}]}))
    config = root / "data.yaml"
    split = "{format: coco, img_path: images, ann_path: coco.json}"
    config.write_text(f"preset: nanodet-plus-m_320\nmodel: {{num_classes: 2}}\n"
                      f"class_names: [square, disc]\ndata:\n  train: {split}\n"
                      f"  val: {split}\n")
    return config


def bench_train(work: Path, epochs: int) -> dict:
    config = write_dataset(work / "data")
    command = [sys.executable, "-m", "nanodet_plus", "train", str(config),
               f"train.epochs={epochs}", "train.val_interval=1", "train.progress=false",
               "data.input_size=[160,160]", "--nproc", "1", "--device", "cpu",
               "--project", str(work / "train"), "--name", "run"]
    code, samples, lines = run_sampled(command, work / "train.log")
    if code:
        return {"error": f"exit {code}: {lines[-1][1] if lines else ''}"}
    ends = [t for t, line in lines if FRAME_LINE.search(line)]
    if len(ends) < 3:
        return {"error": f"only {len(ends)} epoch lines in the log"}
    result = summarise(samples, warm_s=ends[1], end_s=ends[-1])
    result["epochs"] = len(ends)
    result["rss_at_epoch_end_mb"] = [round(rss_at(samples, end), 1) for end in ends]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--backends", default="onnx,torch")
    parser.add_argument("--workdir", default=str(REPO / "runs" / "bench_memory"))
    add_out_argument(parser, "memory")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)
    work = Path(args.workdir) / datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True)
    video = write_video(work / "frames.mp4", args.frames)
    results: dict = {"predict": {}, "train": None}
    for backend in [b for b in args.backends.split(",") if b]:
        results["predict"][backend] = bench_predict(backend, video, work, args.frames)
        print(f"predict {backend}: {results['predict'][backend]}", flush=True)
    if args.epochs > 0:
        results["train"] = bench_train(work, args.epochs)
        print(f"train: {results['train']}", flush=True)
    run.save(args.out, "memory", FIGURE, {"frames": args.frames, "epochs": args.epochs,
                                          **results}, runtimes=("onnxruntime",))
    return 0 if all("error" not in r for r in [*results["predict"].values(),
                                               results["train"] or {}]) else 1


if __name__ == "__main__":
    sys.exit(main())
