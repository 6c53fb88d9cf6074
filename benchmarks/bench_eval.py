"""Time COCO box evaluation with faster-coco-eval and pycocotools on a COCO-val-sized case.

The case is synthetic but shaped like COCO val2017 with a NanoDet-style detector: 5,000
images, 80 classes, about 7.3 objects per image, and up to 100 detections per image (the
official evaluation keeps scores > 0.05 and the top 100). Both engines score the same
detections; the script records both engines' 12 statistics, their largest difference, and wall
and process CPU time (CPU time is disturbed far less by other jobs on a shared machine).

    .venv/bin/python benchmarks/bench_eval.py [--images 5000] [--dets 100] [--repeats 1]

Writes ``benchmarks/results/eval-DATE.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Run, add_out_argument  # beside this script

from nanodet_plus.metrics.coco_eval import (
    STAT_NAMES,
    build_coco_ground_truth,
    coco_evaluate,
    default_category_ids,
    detections_to_coco,
)
from nanodet_plus.metrics.detection_metrics import confusion_matrix, precision_recall_f1
from nanodet_plus.structures import Detections, ImageRecord

FIGURE = ("COCO box evaluation of the same detections by faster-coco-eval and pycocotools on a "
          "synthetic COCO-val-sized case (coco_evaluate end to end: COCO dicts built in memory, "
          "results loaded, evaluate, accumulate, summarize): best wall and process CPU seconds, "
          "and the largest difference between their 12 statistics")


def synthetic_case(
    num_images: int, dets_per_image: int, num_classes: int, seed: int
) -> tuple[list[ImageRecord], list[Detections]]:
    """COCO-like ground truth and detections: jittered hits, wrong classes, and clutter."""
    rng = np.random.default_rng(seed)
    records, detections = [], []
    for image_id in range(num_images):
        width, height = 640, int(rng.choice([427, 480, 512]))
        n = int(rng.poisson(7.3))
        # Log-uniform sizes give COCO's mix of small, medium and large objects.
        wh = np.exp(rng.uniform(np.log(8), np.log(400), (n, 2)))
        xy = rng.uniform(0, 1, (n, 2)) * np.maximum([width, height] - wh, 1)
        boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
        labels = rng.integers(0, num_classes, n)
        crowd = boxes[:1] if rng.random() < 0.01 else np.zeros((0, 4), np.float32)
        records.append(
            ImageRecord(
                path=f"{image_id:012d}.jpg",
                width=width,
                height=height,
                boxes=boxes,
                labels=labels,
                ignore_boxes=crowd,
                image_id=image_id + 1,
                file_name=f"{image_id:012d}.jpg",
            )
        )
        found = rng.random(n) < 0.7
        hits = boxes[found] + rng.normal(0, 0.1, (int(found.sum()), 4)) * np.tile(wh[found], 2)
        hit_labels = np.where(rng.random(n) < 0.85, labels, rng.integers(0, num_classes, n))
        clutter = max(dets_per_image - len(hits), 0)
        c_wh = np.exp(rng.uniform(np.log(8), np.log(300), (clutter, 2)))
        c_xy = rng.uniform(0, 1, (clutter, 2)) * np.maximum([width, height] - c_wh, 1)
        all_boxes = np.concatenate([hits, np.concatenate([c_xy, c_xy + c_wh], axis=1)])
        all_labels = np.concatenate([hit_labels[found], rng.integers(0, num_classes, clutter)])
        scores = np.concatenate(
            [rng.uniform(0.3, 0.95, len(hits)), rng.uniform(0.05, 0.5, clutter)]
        )
        order = np.argsort(-scores)[:dets_per_image]
        detections.append(
            Detections(
                boxes=all_boxes[order].astype(np.float32),
                scores=scores[order].astype(np.float32),
                labels=all_labels[order].astype(np.int64),
            )
        )
    return records, detections


def timed(function, repeats: int):
    """(result of the last run, best wall seconds, best CPU seconds) over ``repeats`` runs.

    CPU time (this process, all threads) is reported too because on a shared machine it is
    far less disturbed by other processes than wall time.
    """
    best_wall, best_cpu, result = float("inf"), float("inf"), None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return result, best_wall, best_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--dets", type=int, default=100, help="detections per image")
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-pycocotools", action="store_true")
    add_out_argument(parser, "eval")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)

    records, detections = synthetic_case(args.images, args.dets, args.classes, args.seed)
    names = [f"class{k}" for k in range(args.classes)]
    ids = default_category_ids(args.classes)
    num_gt = sum(len(r.labels) for r in records)
    num_dets = sum(len(d) for d in detections)
    parts = {
        "build ground truth": lambda: build_coco_ground_truth(records, names, ids),
        "build detections": lambda: detections_to_coco(records, detections, ids),
        "precision / recall / F1 at 0.35": lambda: precision_recall_f1(records, detections,
                                                                        names, 0.35),
        "confusion matrix at 0.35": lambda: confusion_matrix(records, detections, args.classes,
                                                             0.35),
    }
    other = {}
    for name, part in parts.items():
        _, wall, cpu = timed(part, args.repeats)
        other[name] = {"wall_s": wall, "cpu_s": cpu}

    engines = ["faster_coco_eval"] + ([] if args.skip_pycocotools else ["pycocotools"])
    rows, stats = [], {}
    for engine in engines:
        metrics, wall, cpu = timed(
            lambda engine=engine: coco_evaluate(records, detections, names, engine=engine),
            args.repeats,
        )
        stats[engine] = {name: float(metrics.stats[name]) for name in STAT_NAMES}
        rows.append({"engine": engine, "wall_s": wall, "cpu_s": cpu,
                     "mAP": stats[engine]["mAP"], "AP_50": stats[engine]["AP_50"]})
        print(f"{engine}: {wall:.2f} s wall, {cpu:.2f} s CPU, mAP {stats[engine]['mAP']:.4f}",
              flush=True)
    largest = None
    if len(stats) == 2:
        largest = max(abs(stats["faster_coco_eval"][n] - stats["pycocotools"][n])
                      for n in STAT_NAMES)
        print(f"largest difference over the 12 statistics: {largest:.2e}")
    run.save(args.out, "eval", FIGURE,
             {"images": args.images, "classes": args.classes, "dets_per_image": args.dets,
              "ground_truth_boxes": num_gt, "detections": num_dets, "repeats": args.repeats,
              "seed": args.seed, "rows": rows, "other_parts": other,
              "largest_stat_difference": largest, "stats": stats},
             runtimes=("faster-coco-eval", "pycocotools", "numpy"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
