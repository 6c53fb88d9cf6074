"""Write docs/benchmarks-cpu.md from the CPU benchmark results, so that every figure in it is
read from a results file (machine, command and date included), never typed by hand.

Inputs (the newest of each in benchmarks/results): peak-*.json (bench_peak.py),
profile-*.md (bench_profile.py), precision-*.json (bench_precision.py), overhead-*.json
(bench_overhead.py), throughput-*.json (bench_throughput.py), peers-*.json (bench_peers.py).

Usage: python benchmarks/cpu_report.py [--out docs/benchmarks-cpu.md]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_VS_YOLO26N = 0.6
LIMIT_FACTOR = 1.5
NANODET = "nanodet-plus-m_416"


def newest(pattern: str) -> Path:
    files = sorted(p for p in RESULTS.glob(pattern) if "-ov-pinned" not in p.name)
    if not files:
        raise SystemExit(f"no {pattern} in {RESULTS}: run its benchmark first")
    return files[-1]


def load(pattern: str) -> tuple[Path, dict[str, Any]]:
    path = newest(pattern)
    return path, json.loads(path.read_text())


def source(path: Path, data: dict[str, Any]) -> str:
    return (f"Source: `benchmarks/results/{path.name}` ({data['machine']}, {data['date']}); "
            f"command: `{data['command']}`.")


def peers_section(peak: dict[str, Any]) -> list[str]:
    path, data = load("peers-*.json")
    rows = [r for r in data["results"] if r["threads"] == 1]
    models = list(dict.fromkeys(r["model"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    cell = {(r["model"], r["variant"]): r["median_ms"] for r in rows}
    lines = ["## Against the peers: YOLO11n and YOLO26n", "",
             "Model-only latency at 416x416, batch 1, 1 thread, median ms; every model and "
             "runtime timed in alternation in one process. YOLO weights are random (built from "
             "the Ultralytics yaml; latency does not depend on weight values). "
             + source(path, data), "",
             "| runtime / precision | " + " | ".join(models) + " |",
             "|---|" + "---:|" * len(models)]
    for variant in variants:
        lines.append(f"| {variant} | " + " | ".join(
            f"{cell[(m, variant)]:.2f}" if (m, variant) in cell else "-" for m in models) + " |")
    best = {m: min((v, k) for (mm, k), v in cell.items() if mm == m) for m in models}
    lines += ["", "Each model on its best runtime:", ""]
    for model, (ms, variant) in best.items():
        lines.append(f"- {model}: {ms:.2f} ms ({variant})")
    if "yolo26n" in best:
        ratio = best[NANODET][0] / best["yolo26n"][0]
        verdict = "met" if ratio <= TARGET_VS_YOLO26N else "not met"
        lines += ["", f"**nanodet-plus-m_416 / YOLO26n, each on its best runtime: {ratio:.2f}** "
                  f"(target {TARGET_VS_YOLO26N}; {verdict})."]
    if "yolo11n" in best:
        lines.append(f"Against YOLO11n: {best[NANODET][0] / best['yolo11n'][0]:.2f}.")
    limits = peak["network_limit_ms_416"]
    lines += ["", "### Each precision against the hardware limit", "",
              f"The limit is nanodet-plus-m_416's {peak['network_gflop_416']} GFLOP at the rate "
              "of a large matrix product on one core (`bench_peak.py`, best of its runs):", "",
              "| precision | GEMM rate (GFLOP/s) | limit ms | best NanoDet ms | runtime | "
              "ratio | within 1.5x |", "|---|---:|---:|---:|---|---:|---|"]
    for precision, limit in limits.items():
        key = {"fp32": ("fp32",), "bf16": ("bf16",), "int8": ("INT8",)}[precision]
        options = [(v, k) for (m, k), v in cell.items()
                   if m == NANODET and any(word in k for word in key)
                   and not ("INT8" in k and precision != "int8")]
        if not options:
            continue
        ms, variant = min(options)
        ratio = ms / limit
        lines.append(f"| {precision} | {peak['best_gflops_per_s'][precision]:.0f} | "
                     f"{limit:.1f} | {ms:.2f} | {variant} | {ratio:.2f} | "
                     f"{'yes' if ratio <= LIMIT_FACTOR else 'no'} |")
    return lines


def profile_section() -> list[str]:
    path = newest("profile-*.md")
    text = path.read_text().splitlines()
    start = next(i for i, line in enumerate(text) if line.startswith("| category"))
    end = next(i for i in range(start, len(text)) if not text[i].startswith("|"))
    header = [line for line in text[:start] if line.startswith(("20", "Network", "Export"))]
    return ["## Where the time goes, per operator", "",
            f"From `benchmarks/results/{path.name}` (`benchmarks/bench_profile.py`):", "",
            *[f"> {line}" for line in header], "", *text[start:end]]


def rates_section(peak: dict[str, Any]) -> list[str]:
    """Per category: its FLOPs, its time in each OpenVINO precision and the rate achieved, so
    that the distance to the limit is split into convolutions at speed and everything else."""
    path = newest("profile-*.json")
    rows = json.loads(path.read_text())["rows"]
    gflop = peak["conv_gflop_416_by_category"]
    runs = {"fp32": "openvino/f32", "bf16": "openvino/bf16", "int8": "openvino/int8-nncf"}
    runs = {p: r for p, r in runs.items() if r in rows}
    lines = ["## Why bf16 and INT8 stay far from the limit", "",
             f"Time per category in OpenVINO (`benchmarks/results/{path.name}`) against the "
             "category's FLOPs (`conv_gflop_416_by_category` in the peak file): the rate each "
             "part reaches, as a share of the GEMM rate of its precision. Categories without "
             "FLOPs count only as time.", "",
             "| category | GFLOP | " + " | ".join(
                 f"{p} ms | {p} share of GEMM rate" for p in runs) + " |",
             "|---|---:|" + "---:|---:|" * len(runs)]
    categories = rows[next(iter(runs.values()))]["categories"]
    for category in categories:
        flops = gflop.get(category)
        cells = []
        for precision, row in runs.items():
            ms = rows[row]["categories"].get(category, {}).get("ms")
            if ms is None or ms < 0.005:
                cells += ["-", "-"]
                continue
            share = (flops / (ms / 1000) / peak["best_gflops_per_s"][precision]
                     if flops else None)
            cells += [f"{ms:.2f}", f"{share:.0%}" if share is not None else "-"]
        if all(c == "-" for c in cells):
            continue
        lines.append(f"| {category} | {flops:.3f} | " if flops else f"| {category} | - | ")
        lines[-1] += " | ".join(cells) + " |"
    totals = [f"{rows[r]['total_ms']:.2f} | " for r in runs.values()]
    lines.append("| **network (profiled nodes)** | " f"{sum(gflop.values()):.3f} | "
                 + " | ".join(t + "" for t in totals) + " |")
    pointwise = gflop.get("1x1 conv", 0.0)
    share = pointwise / sum(gflop.values())
    lines += ["", f"The 1x1 convolutions hold {share:.0%} of the FLOPs and run close to the GEMM "
              "rate in every precision. The rest of the time goes to layers with few FLOPs "
              "(depthwise convolutions, the shuffle's concat and split, the layout reorders the "
              "runtime inserts around them, the head's output stage): they are bound by memory "
              "traffic and per-layer overhead, so bf16 and INT8 barely speed them up, and at "
              "those precisions they cost about as much as all the 1x1 convolutions."]
    _, peers = load("peers-*.json")
    yolo = [r["median_ms"] for r in peers["results"] if r["model"] == "yolo26n"
            and r["threads"] == 1]
    if yolo and "int8" in runs:
        budget = TARGET_VS_YOLO26N * min(yolo)
        int8 = rows[runs["int8"]]
        pointwise_ms = int8["categories"]["1x1 conv"]["ms"]
        lines += ["", f"The peer target ({TARGET_VS_YOLO26N}x YOLO26n's best {min(yolo):.2f} ms) "
                  f"is {budget:.2f} ms. In INT8 the 1x1 convolutions alone take "
                  f"{pointwise_ms:.2f} ms, which leaves {budget - pointwise_ms:.2f} ms for the "
                  f"layers that take {int8['total_ms'] - pointwise_ms:.2f} ms now."]
    return lines


def precision_section() -> list[str]:
    path, data = load("precision-*.json")
    lines = ["## Accuracy of each precision", "",
             "COCO mAP on each trained model's val split (score threshold 0.05) and model-only "
             "latency at the model's input size, interleaved. " + source(path, data), "",
             "| model | variant | val mAP | change (points) | model ms | vs ONNX Runtime fp32 |",
             "|---|---|---:|---:|---:|---:|"]
    for row in data["rows"]:
        lines.append(f"| {row['model']} | {row['variant']} | {row['mAP']:.3f} | "
                     f"{row['mAP_change_points']:+.2f} | {row['median_ms']:.2f} | "
                     f"{row['speedup_vs_fp32']:.2f}x |")
    worst = {}
    for row in data["rows"]:
        worst[row["variant"]] = min(worst.get(row["variant"], 0.0), row["mAP_change_points"])
    lines += ["", "Largest loss per variant over the datasets (points of mAP): " + "; ".join(
        f"{variant} {loss:+.2f}" for variant, loss in worst.items()) + "."]
    return lines


def overhead_section() -> list[str]:
    path, data = load("overhead-*.json")
    lines = ["## Pre- and post-processing around the model", "",
             f"One image ({data['image_wh'][0]}x{data['image_wh'][1]}) end to end through "
             "`Detector` against the model call alone, interleaved. " + source(path, data), "",
             "| backend | picked | model ms | end to end ms | overhead ms | end to end / model |",
             "|---|---|---:|---:|---:|---:|"]
    for row in data["rows"]:
        if row["error"]:
            continue
        lines.append(f"| {row['backend']} | {row['note'] or ''} | {row['model_median_ms']:.2f} "
                     f"| {row['e2e_median_ms']:.2f} | {row['overhead_ms']:.2f} | "
                     f"{row['e2e_over_model']:.3f} |")
    return lines


def throughput_section() -> list[str]:
    path, data = load("throughput-*.json")
    lines = ["## Throughput on all cores", "",
             f"Images per second, model only, median of {data['rounds']} rounds of "
             f"{data['seconds']:g} s per layout. " + source(path, data), "",
             "| runtime | layout | images/s |", "|---|---|---:|"]
    for row in data["rows"]:
        lines.append(f"| {row['runtime']} | {row['layout']} | {row['images_per_s']:.1f} |")
    best = max(data["rows"], key=lambda r: r["images_per_s"])
    lines += ["", f"Most images per second: {best['runtime']}, {best['layout']} "
              f"({best['images_per_s']:.1f} images/s).", "",
              "One process per core with one thread each scaled by about 2x in every run on "
              "this 2-core virtual machine. A single session with 2 threads did not: ONNX "
              "Runtime's 2-thread sessions ran at either of two speeds from one fresh process "
              "to the next (about 1 and about 1.7 times one thread), so its 2-thread rows "
              "differ between runs of this benchmark."]
    return lines


INTRO = """# The fastest CPU path

How fast nanodet-plus-m runs on a CPU, where the time goes, what each precision costs in
accuracy, and how the defaults use that. Generated by `python benchmarks/cpu_report.py` from
the results files named in each section; rerun the benchmarks, then the report.

## What the package does by default

- `Detector.from_file`, `nanodet predict` and `nanodet val` open an exported ONNX or OpenVINO
  model in **bf16 through OpenVINO** when the CPU has native bf16 (AVX512-BF16 or AMX) and a
  load-time check passes (the candidate class scores on a fixed scene stay within 0.1 of fp32
  on average), and in fp32 otherwise; one log line says which and why. `precision="fp32"` /
  `--precision fp32` keeps the exact outputs. A PyTorch checkpoint on the CPU runs with
  BatchNorm folded into the convolutions and channels-last memory (same outputs within float
  rounding); `--precision fp32` runs it as trained.
- `nanodet export` writes ShuffleNetV2 without its channel shuffles (each branch reads its
  channels as one concatenation of slices, the readers of a stage output get permuted weights)
  and ends the head without a transpose of the whole output; the file is checked against the
  model as trained. `--keep-shuffles` writes the official graph structure.
- OpenVINO takes the warped uint8 image and normalises inside the model.
- OpenVINO's CPU pinning is off: with it on, two processes of one thread each shared a core.
- INT8 is a file of its own: `nanodet export --int8 --calib DIR` (ONNX Runtime QDQ) or
  `nanodet export --format openvino --int8 --calib DIR` (NNCF, `pip install
  'nanodet-plus[nncf]'`); the export refuses a file whose scores drift or whose candidate scores
  collapse on the check image, and `--val-ap` prints the mAP change on the config's val split.
- For the most images per second on several cores, run one process per core with one thread
  each (see the throughput table).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/benchmarks-cpu.md")
    args = parser.parse_args(argv)
    peak_path, peak = load("peak-*.json")
    limits = ", ".join(f"{p} {ms:.1f} ms" for p, ms in peak["network_limit_ms_416"].items())
    sections = [
        INTRO,
        "\n".join(["## The hardware limit", "",
                   "Measured matrix-product rates on one core: " + ", ".join(
                       f"{k} {v:.0f} GFLOP/s" for k, v in peak["gflops_per_s"].items())
                   + f". For nanodet-plus-m_416 ({peak['network_gflop_416']} GFLOP) that is "
                   f"a limit of {limits}. " + source(peak_path, peak)]),
        "\n".join(peers_section(peak)),
        "\n".join(profile_section()),
        "\n".join(rates_section(peak)),
        "\n".join(precision_section()),
        "\n".join(overhead_section()),
        "\n".join(throughput_section()),
    ]
    Path(args.out).write_text("\n\n".join(sections) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
