"""Pre- and post-processing around the model: end-to-end time per image over model-only time,
for the default path (``Detector.from_file``'s pick) and the exact one, interleaved.

End to end: BGR image -> warp (+ normalisation, or the uint8 input of OpenVINO) -> model ->
decoding, NMS, mapping back -> Detections. Model only: the backend on a prepared float batch.

Usage: python benchmarks/bench_overhead.py WEIGHTS [--config nanodet-plus-m_416]
           [--image test_img.jpg] [--runs 200] [--threads 1]
Writes ``benchmarks/results/overhead-DATE.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Run, add_out_argument  # beside this script

from nanodet_plus.benchmark.latency import open_backends, run_benchmark
from nanodet_plus.data.synthetic import synthetic_image

FIGURE = ("Pre- and post-processing around the model: one image end to end through Detector "
          "(BGR image -> Detections) against the model call alone, median ms, interleaved")

BACKENDS = ("auto", "onnxruntime", "openvino", "openvino-bf16")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    parser.add_argument("--config", default="nanodet-plus-m_416")
    parser.add_argument("--image", help="image to time on (default: the synthetic scene)")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    add_out_argument(parser, "overhead")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    image = cv2.imread(args.image, cv2.IMREAD_COLOR) if args.image else synthetic_image()
    with tempfile.TemporaryDirectory() as tmp:
        backends = open_backends(args.weights, BACKENDS, Path(tmp), input_size=None,
                                 threads=args.threads, config=args.config)
        rows = run_benchmark(backends, image, threads=args.threads, runs=args.runs, warmup=20)
    report = {
        "image_wh": [int(image.shape[1]), int(image.shape[0])], "threads": args.threads,
        "rows": [{"backend": row.backend, "note": row.note, "error": row.error,
                  "model_median_ms": row.model_median_ms, "e2e_median_ms": row.e2e_median_ms,
                  "overhead_ms": row.e2e_median_ms - row.model_median_ms,
                  "e2e_over_model": row.e2e_median_ms / row.model_median_ms}
                 for row in rows],
    }
    run.save(args.out, "overhead", FIGURE, report, runtimes=("onnxruntime", "openvino"))
    for row in report["rows"]:
        print(f"{row['backend']:15s} {row['note'] or '':28s} model {row['model_median_ms']:6.2f}"
              f" ms, end to end {row['e2e_median_ms']:6.2f} ms, x{row['e2e_over_model']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
