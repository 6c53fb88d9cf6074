"""Images per second on a multi-core CPU: threads vs parallel sessions, batch 1 vs batch 8.

Every configuration runs for ``--seconds`` on the same model and input, one after the other,
and the whole set is repeated ``--rounds`` times in rotated order (median reported), so that a
change of machine load hits all configurations alike. Configurations, for each runtime:

- ``1 session x T threads, batch B``: one process, the runtime's intra-op threads;
- ``P processes x 1 thread, batch B``: P independent sessions working in parallel (what a
  server with a worker per core does);
- OpenVINO only: ``THROUGHPUT hint, P streams``: one compiled model, P infer requests in flight
  (OpenVINO's own way to fill the cores).

Runtimes: ONNX Runtime fp32, OpenVINO bf16 (where the CPU has it natively) and OpenVINO INT8
(NNCF, when ``nncf`` is installed). The models are exported from ``WEIGHTS`` at batch 1 and at
``--batch`` (fixed shapes).

Usage: python benchmarks/bench_throughput.py WEIGHTS [--config nanodet-plus-m_416]
           [--calib DIR] [--seconds 8] [--rounds 3] [--batch 8]
Writes ``benchmarks/results/throughput-DATE.json``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Run, add_out_argument  # beside this script

FIGURE = ("Images per second on all cores, model only: one session with several threads "
          "against one process per core with one thread each (and OpenVINO's throughput "
          "streams), batch 1 and batch 8, median over rounds in rotated order")

# as OpenVinoBackend compiles (see there); --pinning measures OpenVINO's own default
PINNING = os.environ.get("NANODET_BENCH_OV_PINNING", "0") == "1"


def _open(runtime: str, path: str, threads: int, streams: int = 0) -> tuple[Any, int]:
    """``(run, images per call)`` for ``runtime`` in onnxruntime / openvino-bf16 / -int8."""
    if runtime == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        shape = session.get_inputs()[0].shape
        batch = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        return lambda: session.run(None, {name: batch}), shape[0]
    import openvino as ov

    core = ov.Core()
    properties: dict[str, Any] = {
        "INFERENCE_PRECISION_HINT": "bf16" if runtime == "openvino-bf16" else "f32",
        "ENABLE_CPU_PINNING": PINNING}
    if streams:
        properties.update({"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": streams})
    else:
        properties["INFERENCE_NUM_THREADS"] = threads
    compiled = core.compile_model(core.read_model(path), "CPU", properties)
    shape = list(compiled.inputs[0].shape)
    batch = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if not streams:
        request = compiled.create_infer_request()
        return lambda: request.infer([batch]), shape[0]
    queue = ov.AsyncInferQueue(compiled, streams)

    def run_many() -> None:
        for _ in range(streams):
            queue.start_async([batch])
        queue.wait_all()

    return run_many, shape[0] * streams


def _count(runtime: str, path: str, threads: int, seconds: float, streams: int = 0,
           start: Any = None) -> int:
    """Images processed in ``seconds`` (after a short warm-up)."""
    run, images_per_call = _open(runtime, path, threads, streams)
    for _ in range(3):
        run()
    if start is not None:
        start.wait()
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        run()
        done += images_per_call
    return done


def _worker(args: tuple, start: Any, results: Any) -> None:
    results.put(_count(*args, start=start))


def images_per_second(runtime: str, path: str, *, threads: int, processes: int,
                      seconds: float, streams: int = 0) -> float:
    """Throughput of ``processes`` parallel sessions (1: this process) of ``threads`` each."""
    if processes == 1:
        return _count(runtime, path, threads, seconds, streams) / seconds
    context = mp.get_context("spawn")
    start, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=_worker,
                               args=((runtime, path, threads, seconds, streams), start, results))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    total = sum(results.get(timeout=600) for _ in workers)
    for worker in workers:
        worker.join()
    return total / seconds


def export_models(weights: str, config: str, calib: str | None, batch: int,
                  work: Path) -> dict[tuple[str, int], str]:
    """(runtime, batch) -> model file, for batch 1 and ``batch``."""
    import importlib.util

    from nanodet_plus.export.exporter import ExportOptions, export_model
    from nanodet_plus.runtime.precision import native_bf16

    files: dict[tuple[str, int], str] = {}
    for size in (1, batch):
        common = {"config": config, "batch": size, "force": True}
        onnx = export_model(weights, ExportOptions(
            format="onnx", output=work / f"b{size}.onnx", **common)).path
        files[("onnxruntime", size)] = str(onnx)
        if native_bf16():
            files[("openvino-bf16", size)] = str(onnx)
        if calib and importlib.util.find_spec("nncf") is not None:
            files[("openvino-int8", size)] = str(export_model(weights, ExportOptions(
                format="openvino", output=work / f"b{size}.int8.xml", int8=True, calib=calib,
                **common)).path)
    return files


def configurations(cores: int, batch: int) -> list[dict[str, int]]:
    """Thread / process / stream layouts to compare on ``cores`` cores."""
    layouts = [{"threads": 1, "processes": 1, "batch": 1}]
    if cores > 1:
        layouts += [{"threads": cores, "processes": 1, "batch": 1},
                    {"threads": 1, "processes": cores, "batch": 1},
                    {"threads": cores, "processes": 1, "batch": batch},
                    {"threads": 1, "processes": cores, "batch": batch},
                    {"threads": 0, "processes": 1, "batch": 1, "streams": cores}]
    else:
        layouts.append({"threads": 1, "processes": 1, "batch": batch})
    return layouts


def label(layout: dict[str, int]) -> str:
    if layout.get("streams"):
        return f"THROUGHPUT hint, {layout['streams']} streams, batch {layout['batch']}"
    if layout["processes"] > 1:
        return f"{layout['processes']} processes x 1 thread, batch {layout['batch']}"
    return f"1 session x {layout['threads']} thread(s), batch {layout['batch']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    parser.add_argument("--config", default="nanodet-plus-m_416")
    parser.add_argument("--calib", help="calibration images for the OpenVINO INT8 rows")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--work-dir", default="runs/bench_throughput")
    parser.add_argument("--pinning", action="store_true",
                        help="OpenVINO's default CPU pinning (the package turns it off)")
    add_out_argument(parser, "throughput")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)
    if args.pinning:  # read by the spawned workers too
        os.environ["NANODET_BENCH_OV_PINNING"] = "1"
        globals()["PINNING"] = True
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    from nanodet_plus.benchmark.latency import timing_only_int8_exports

    with timing_only_int8_exports():  # latency only: accuracy is bench_precision's
        files = export_models(args.weights, args.config, args.calib, args.batch, work)
    runtimes = sorted({runtime for runtime, _ in files})
    cases = [(runtime, layout) for runtime in runtimes
             for layout in configurations(args.cores, args.batch)
             if not (layout.get("streams") and runtime == "onnxruntime")]
    samples: dict[int, list[float]] = {i: [] for i in range(len(cases))}
    for round_index in range(args.rounds):
        shift = round_index % len(cases)
        for index in list(range(shift, len(cases))) + list(range(shift)):
            runtime, layout = cases[index]
            path = files[(runtime, layout["batch"])]
            samples[index].append(images_per_second(
                runtime, path, threads=layout["threads"], processes=layout["processes"],
                seconds=args.seconds, streams=layout.get("streams", 0)))
            print(f"round {round_index + 1}: {runtime} / {label(layout)}: "
                  f"{samples[index][-1]:.1f} img/s", flush=True)
    rows = []
    for index, (runtime, layout) in enumerate(cases):
        rows.append({"runtime": runtime, "layout": label(layout), **layout,
                     "images_per_s": statistics.median(samples[index]),
                     "samples": samples[index]})
    lines = ["| runtime | layout | images/s | vs 1 session x 1 thread, batch 1 |",
             "|---|---|---:|---:|"]
    base = {row["runtime"]: row["images_per_s"] for row in rows
            if row["processes"] == 1 and row["threads"] == 1 and row["batch"] == 1}
    for row in rows:
        lines.append(f"| {row['runtime']} | {row['layout']} | {row['images_per_s']:.1f} | "
                     f"{row['images_per_s'] / base[row['runtime']]:.2f}x |")
    print("\n".join(lines))
    run.save(args.out, "throughput", FIGURE,
             {"seconds": args.seconds, "rounds": args.rounds, "pinning": args.pinning,
              "rows": rows}, runtimes=("onnxruntime", "openvino", "nncf"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
