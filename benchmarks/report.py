"""Write docs/benchmarks.md, and the headline block of README.md, from the results files.

Every figure on the page is read from a results file under ``benchmarks/results/`` (the newest
of each benchmark), never typed by hand; under each table the page names the file, the machine,
the date, the versions and the command. The plots the page shows are copied to
``docs/assets/benchmarks/`` (MkDocs serves only what is under docs/). README.md gets measured
headline bullets between ``<!-- generated: headline -->`` and ``<!-- end generated -->`` when
it has those markers; the rest of the README is left as it is.

Usage: python benchmarks/report.py [--check]
(--check: write nothing, exit 1 when the page, the plots or the README block are out of date)
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PAGE = REPO / "docs" / "benchmarks.md"
ASSETS = REPO / "docs" / "assets" / "benchmarks"
README = REPO / "README.md"
HEADLINE_START = "<!-- generated: headline -->"
HEADLINE_END = "<!-- end generated -->"
NAME = re.compile(r"^(?P<stem>[a-z0-9-]+?)-(?P<date>\d{4}-\d{2}-\d{2})(?:-(?P<tag>.+))?\.json$")
NANODET = "nanodet-plus-m_416"
PEER_LABELS = {NANODET: "NanoDet-Plus-m 416", "yolo26n": "YOLO26n", "yolo11n": "YOLO11n"}


# ----------------------------------------------------------------------------- results files
@dataclass
class Result:
    """One results file: its path and its record."""

    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


@dataclass
class Results:
    """The results files of a folder, by benchmark stem, date and tag."""

    folder: Path = RESULTS
    cited: list[str] = field(default_factory=list)

    def _files(self, stem: str) -> list[tuple[str, str | None, Path]]:
        found = []
        for path in self.folder.glob(f"{stem}-*.json"):
            match = NAME.match(path.name)
            if match and match["stem"] == stem:
                found.append((match["date"], match["tag"], path))
        return sorted(found, key=lambda item: (item[0], item[1] or ""))

    def newest(self, stem: str, tag: str | None = None) -> Result:
        """The newest file of ``stem`` with this tag (None: untagged)."""
        files = [path for _, file_tag, path in self._files(stem) if file_tag == tag]
        if not files:
            label = f"{stem}-DATE{'-' + tag if tag else ''}.json"
            raise SystemExit(f"no {label} in {self.folder}: run its benchmark first")
        return self._load(files[-1])

    def newest_date(self, stem: str) -> list[Result]:
        """Every file of ``stem`` (any tag) from its newest date."""
        files = self._files(stem)
        if not files:
            raise SystemExit(f"no {stem}-DATE*.json in {self.folder}: run its benchmark first")
        date = files[-1][0]
        return [self._load(path) for file_date, _, path in files if file_date == date]

    def _load(self, path: Path) -> Result:
        if path.name not in self.cited:
            self.cited.append(path.name)
        return Result(path, json.loads(path.read_text()))


def describe_machine(machine: dict[str, Any] | str) -> str:
    from nanodet_plus.benchmark.results import describe_machine as describe

    return describe(machine)


def versions_text(versions: dict[str, Any]) -> str:
    return ", ".join(f"{name} {version}" for name, version in versions.items()
                     if version and name not in ("nanodet-plus", "nanodet_plus"))


def load_text(data: dict[str, Any]) -> str:
    load = data.get("load_average") or {}
    parts = [f"{moment} {values[0]:.1f}" for moment, values in
             (("before", load.get("before")), ("after", load.get("after"))) if values]
    return f"; load average (1 min) {', '.join(parts)}" if parts else ""


def source(*results: Result) -> str:
    """The small print under a table: file, machine, date, versions, load and command."""
    lines = []
    for result in results:
        data = result.data
        lines.append(
            f"<small>`benchmarks/results/{result.name}`: {describe_machine(data['machine'])}; "
            f"{data['date'][:10]}; {versions_text(data['versions'])}{load_text(data)}. "
            f"Command: `{data['command']}`</small>")
    return "<br>\n".join(lines)


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    """A Markdown table; ``align`` holds one of l/r per column (default: first l, rest r)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|"
    return ["| " + " | ".join(header) + " |", rule,
            *["| " + " | ".join(row) + " |" for row in rows]]


def ms(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# ----------------------------------------------------------------------------- inference
def peers_best(peers: Result, threads: int = 1) -> dict[str, tuple[float, str]]:
    """Each model's fastest runtime / precision: (median ms, variant)."""
    best: dict[str, tuple[float, str]] = {}
    for row in peers["results"]:
        if row["threads"] == threads and row.get("median_ms") is not None:
            entry = (row["median_ms"], row["variant"])
            best[row["model"]] = min(best.get(row["model"], entry), entry)
    return best


def peers_section(results: Results) -> list[str]:
    peers = results.newest("peers")
    rows = [r for r in peers["results"] if r["threads"] == 1 and r.get("median_ms") is not None]
    models = list(dict.fromkeys(r["model"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    cell = {(r["model"], r["variant"]): r["median_ms"] for r in rows}
    best = peers_best(peers)
    body = [[variant] + [ms(cell.get((model, variant))) for model in models]
            for variant in variants]
    lines = ["### NanoDet-Plus-m against YOLO11n and YOLO26n", "",
             "Model-only latency in ms (the runtime called on a prepared 416x416 input, batch 1, "
             "1 thread, median): every model and runtime timed in alternation in one process. "
             "The YOLO models are built from their Ultralytics definitions with random weights "
             "and NanoDet-Plus-m has its untrained reference weights: in float the latency does "
             "not depend on the weight values; in INT8 the calibrated ranges can change which "
             "kernels run, so a trained model's INT8 rows may differ. *Float depthwise inputs*: "
             "the NNCF model with its depthwise convolutions fed the float tensor in front of "
             "their input quantisers, as `nanodet export --format openvino --int8` writes it "
             "(OpenVINO runs them in float anyway), for every model. A dash: the runtime or "
             "precision does not apply to that model.", "",
             *table(["runtime / precision", *(PEER_LABELS.get(m, m) for m in models)], body),
             "", "Each model on its fastest runtime:", ""]
    for model, (value, variant) in best.items():
        lines.append(f"- {PEER_LABELS.get(model, model)}: {value:.2f} ms ({variant})")
    for peer in ("yolo26n", "yolo11n"):
        if peer in best and NANODET in best:
            lines.append(f"- NanoDet-Plus-m 416 takes {best[NANODET][0] / best[peer][0]:.2f}x the "
                         f"time of {PEER_LABELS[peer]}, each on its fastest runtime")
    return [*lines, "", source(peers)]


RUNTIME_LABELS = {
    "auto": "default pick (`Detector.from_file`, `nanodet predict`)",
    "torch": "PyTorch, eager, as trained",
    "onnxruntime": "ONNX Runtime fp32",
    "openvino": "OpenVINO f32",
    "openvino-bf16": "OpenVINO bf16",
    "ncnn": "ncnn",
    "mnn": "MNN",
    "onnxruntime-int8": "ONNX Runtime INT8 (static QDQ)",
    "official-onnx": "the official export's ONNX file, ONNX Runtime",
}


def runtimes_section(results: Results) -> list[str]:
    run = results.newest("runtimes")
    width, height = run["input"]
    body = []
    for row in run["rows"]:
        label = RUNTIME_LABELS.get(row["backend"], row["backend"])
        if row["error"]:
            body.append([label, f"not run: {row['error'][:80]}", "-", "-", "-", "-", "-"])
            continue
        body.append([label, row["note"] or "", ms(row["model_median_ms"]),
                     ms(row["model_p90_ms"]), ms(row["e2e_median_ms"]), ms(row["e2e_p90_ms"]),
                     f"{1000 / row['e2e_median_ms']:.1f}"])
    lines = ["### Every runtime", "",
             f"{run['model']} at {width}x{height}, batch 1, {run['threads']} thread: model only "
             "(the runtime on a prepared batch) and end to end (a BGR image of "
             f"{run['image']} to detections: preprocessing, the model, decoding, NMS), ms over "
             f"{run['runs']} runs per runtime in alternation. Each file is exported with "
             "`nanodet export` and checked against PyTorch before it is timed.", "",
             *table(["runtime", "note", "model median", "model p90", "end to end median",
                     "end to end p90", "images/s end to end"], body, "llrrrrr")]
    if run.get("official_onnx_max_difference") is not None:
        lines += ["", "The official export's file computes the same outputs as ours (largest "
                  f"difference {run['official_onnx_max_difference']:.1e} on a random input)."]
    if any(row["backend"].endswith("int8") and not row["error"] for row in run["rows"]):
        lines += ["", "The INT8 row is a latency figure: the reference weights are quantised with "
                  f"calibration images from `{run.get('calib', 'the --calib folder')}`, which "
                  "are not their training data. For the accuracy of INT8 models see *Accuracy "
                  "of reduced precision*."]
    return [*lines, "", source(run)]


def inference_section(results: Results) -> list[str]:
    run = results.newest("inference")
    rows = [r for r in run["rows"] if r["threads"] == 1]
    official = run["official"]
    header = ["model", "input"] + (["official"] if official else []) + [
        "ours, as trained", "ours, BatchNorm folded + channels-last"] + (
        ["folded / official"] if official else [])
    body = []
    for row in rows:
        med = row["medians_ms"]
        cells = [row["preset"], f"{row['size'][0]}x{row['size'][1]}"]
        if official:
            cells.append(ms(med["official"], 1))
        cells += [ms(med["ours plain"], 1), ms(med["ours fused+NHWC"], 1)]
        if official:
            cells.append(f"{med['ours fused+NHWC'] / med['official']:.2f}x")
        body.append(cells)
    lines = ["### PyTorch forward against the official implementation", "",
             "The network alone (backbone, FPN and head on a normalised tensor, batch 1, "
             "1 thread), median ms over interleaved rounds. *As trained* is the eval-mode model "
             "under `torch.no_grad()`, like the official predictor; the default CPU path of a "
             "checkpoint (`Detector.from_file`, `nanodet predict`) folds BatchNorm into the "
             "convolutions and uses channels-last memory, with the same outputs.", "",
             *table(header, body, "ll" + "r" * (len(header) - 2)), "", source(run)]
    return lines


def precision_section(results: Results) -> list[str]:
    run = results.newest("precision")
    fast = any("mAP_fast_resize" in row for row in run["rows"])
    body = []
    worst: dict[str, float] = {}
    for row in run["rows"]:
        cells = [row["model"], row["variant"], row["input"], f"{row['mAP']:.3f}",
                 f"{row['mAP_change_points']:+.2f}"]
        if fast:
            change = row.get("mAP_fast_resize_change_points")
            cells.append("" if change is None else f"{change:+.2f}")
        body.append([*cells, ms(row["median_ms"]), f"{row['speedup_vs_fp32']:.2f}x"])
        loss = min(row["mAP_change_points"], row.get("mAP_fast_resize_change_points", 0.0))
        worst[row["variant"]] = min(worst.get(row["variant"], 0.0), loss)
    header = ["model", "variant", "input", "val mAP", "change (points)"]
    if fast:
        header.append("change with cv2.resize (points)")
    header += ["model ms", "speed vs ONNX Runtime fp32"]
    resize_note = (" The default path of a reduced-precision model (`Detector.from_file`, "
                   "`nanodet predict`) also stretches images with `cv2.resize` instead of the "
                   "official warp; the column *with cv2.resize* is that path's change."
                   if fast else "")
    return ["## Accuracy of reduced precision", "",
            "COCO mAP on each trained model's val split (score threshold 0.05) in each precision "
            "a deployment can use, the change from ONNX Runtime fp32 in points of mAP, and "
            f"model-only latency ({run['threads']} thread, median of {run['runs']} interleaved "
            "runs). The models were trained by the recipe benchmark and the demo." + resize_note,
            "", *table(header, body, "lll" + "r" * (len(header) - 3)), "",
            "Largest loss of each variant over the models (points of mAP): " + "; ".join(
                f"{variant} {loss:+.2f}" for variant, loss in worst.items()) + ".", "",
            source(run)]


THROUGHPUT_LABELS = {"onnxruntime": "ONNX Runtime fp32", "openvino-bf16": "OpenVINO bf16",
                     "openvino-int8": "OpenVINO INT8 (NNCF)"}


def throughput_section(results: Results) -> list[str]:
    run = results.newest("throughput")
    base = {row["runtime"]: row["images_per_s"] for row in run["rows"]
            if row["processes"] == 1 and row["threads"] == 1 and row["batch"] == 1}
    body = [[THROUGHPUT_LABELS.get(row["runtime"], row["runtime"]), row["layout"],
             f"{row['images_per_s']:.1f}",
             f"{row['images_per_s'] / base[row['runtime']]:.2f}x" if row["runtime"] in base
             else "-"] for row in run["rows"]]
    best = max(run["rows"], key=lambda r: r["images_per_s"])
    return ["## Throughput on all cores", "",
            f"Images per second, model only, on all {run['machine']['cores']} cores: one "
            "session with several threads, one process per core with one thread each, and "
            "OpenVINO's throughput streams; median of "
            f"{run['rounds']} rounds of {run['seconds']:g} s per layout in rotated order.", "",
            *table(["runtime", "layout", "images/s", "vs 1 process, 1 thread, batch 1"], body,
                   "llrr"), "",
            f"Most images per second: {THROUGHPUT_LABELS.get(best['runtime'], best['runtime'])}, "
            f"{best['layout']}.", "",
            source(run)]


# ----------------------------------------------------------------------------- pre/post
def overhead_section(results: Results) -> list[str]:
    run = results.newest("overhead")
    body = [[RUNTIME_LABELS.get(row["backend"], row["backend"]),
             (row["note"] or "").removeprefix("picked "), ms(row["model_median_ms"]),
             ms(row["e2e_median_ms"]), ms(row["overhead_ms"]), f"{row['e2e_over_model']:.2f}x"]
            for row in run["rows"] if not row["error"]]
    return ["### Exported models", "",
            f"One image ({run['image_wh'][0]}x{run['image_wh'][1]}) end to end through "
            "`Detector` against the model call alone, nanodet-plus-m at 416x416, "
            f"{run['threads']} thread, interleaved.", "",
            *table(["runtime", "picked", "model ms", "end to end ms", "pre + post ms",
                    "end to end / model"], body, "llrrrr"), "", source(run)]


def detector_section(results: Results) -> list[str]:
    run = results.newest("detector")
    body = [[row["variant"], f"{row['input'][0]}x{row['input'][1]}", f"{row['score_thr']:g}",
             str(row["detections"]), ms(row["forward_ms"]), ms(row["pre_ms"]),
             ms(row["post_ms"]), ms(row["end_to_end_ms"]), f"{row['parts_over_forward']:.2f}x"]
            for row in run["rows"]]
    return ["### PyTorch checkpoints", "",
            f"`Detector.from_file` on the {run['model']} weights, image {run['image']} "
            f"({run['image_wh'][0]}x{run['image_wh'][1]}), {run['threads']} thread, median "
            f"{'process CPU' if run['clock'] == 'cpu' else 'wall-clock'} time of {run['runs']} "
            "runs with the parts in alternation. *pre*: warp, normalisation, padding; *post*: "
            "decoding, score threshold, NMS, boxes mapped "
            "back to the image. The last column is the end-to-end cost relative to the forward "
            "pass, built from the parts.", "",
            *table(["path", "input", "score threshold", "detections", "forward ms", "pre ms",
                    "post ms", "end to end ms", "1 + (pre + post) / forward"], body,
                   "llrrrrrrr"), "", source(run)]


def limit_section(results: Results) -> list[str]:
    peak = results.newest("peak")
    profile = results.newest("profile")
    limits = ", ".join(f"{p} {value:.1f} ms" for p, value in peak["network_limit_ms_416"].items())
    rows = profile["rows"]
    gflop = peak["conv_gflop_416_by_category"]
    runs = {p: r for p, r in {"fp32": "openvino/f32", "bf16": "openvino/bf16",
                              "int8": "openvino/int8-nncf"}.items() if r in rows}
    categories = list(dict.fromkeys(category for name in runs.values()
                                    for category in rows[name]["categories"]))
    body = []
    for category in categories:
        flops = gflop.get(category)
        cells = []
        for precision, row in runs.items():
            value = rows[row]["categories"].get(category, {}).get("ms")
            if value is None or value < 0.005:
                cells += ["-", "-"]
                continue
            share = flops / (value / 1000) / peak["best_gflops_per_s"][precision] if flops else None
            cells += [f"{value:.2f}", f"{share:.0%}" if share is not None else "-"]
        if any(c != "-" for c in cells):
            body.append([category, f"{flops:.3f}" if flops else "-", *cells])
    body.append(["**network (profiled nodes)**", f"{sum(gflop.values()):.3f}",
                 *[c for r in runs.values() for c in (f"{rows[r]['total_ms']:.2f}", "")]])
    pointwise = gflop.get("1x1 conv", 0.0) / sum(gflop.values())
    shares = [gflop["1x1 conv"] / (rows[r]["categories"]["1x1 conv"]["ms"] / 1000)
              / peak["best_gflops_per_s"][p] for p, r in runs.items()]
    return ["## Where the time goes", "",
            "The fastest a network can run is its multiply-adds at the rate of a large matrix "
            "product. Measured on one core: " + ", ".join(
                f"{name} {value:.0f} GFLOP/s" for name, value in peak["gflops_per_s"].items())
            + f". For nanodet-plus-m at 416x416 ({peak['network_gflop_416']} GFLOP) that is a "
            f"limit of {limits}.", "",
            "Per operator category in OpenVINO: its FLOPs, its time, and the rate it reaches as "
            "a share of the matrix-product rate of its precision.", "",
            *table(["category", "GFLOP", *(f"{p} {col}" for p in runs
                                           for col in ("ms", "share of GEMM rate"))], body),
            "", f"The 1x1 convolutions hold {pointwise:.0%} of the FLOPs and run at "
            f"{min(shares):.0%}-{max(shares):.0%} of the matrix-product rate; the rest of the "
            "time goes to layers with "
            "few FLOPs (depthwise convolutions, concatenations and splits, layout changes, the "
            "head's output stage), which are bound by memory traffic and per-layer overhead, "
            "so bf16 and INT8 speed them up little.", "",
            *floor_lines(peak, rows, runs, gflop), "", source(peak, profile), "",
            *litert_lines(results.newest("litert"))]


def litert_lines(run: dict) -> list[str]:
    """INT8 on XNNPACK (LiteRT), the runtime with INT8 depthwise kernels, against OpenVINO."""
    body = [[row["name"], f"{row['median_ms']:.2f}", f"{row['over_openvino_int8']:.2f}x",
             f"{row['score_mean_abs_diff']:.4f}",
             f"{row['candidates']} of {row['candidates_fp32']}"] for row in run["rows"]]
    size = "x".join(str(v) for v in run["settings"]["input_size"])
    int8 = [row for row in run["rows"] if row["runtime"] == "litert" and "int8" in row["precision"]]
    fastest = min(row["over_openvino_int8"] for row in int8)
    step = next((row["output_int8_step"] for row in int8 if row.get("output_int8_step")), None)
    output_note = (" onnx2tf's full-integer file also quantises the one output tensor: class "
                   f"scores and box logits share one INT8 step of {step:.3f}, which is where "
                   "its scores above 0.05 go." if step else "")
    return ["### INT8 on another runtime: XNNPACK", "",
            "XNNPACK (through LiteRT) has INT8 depthwise kernels for x86, which OpenVINO does "
            "not use here. The demo model converted by onnx2tf (full integer, per-channel "
            f"weights, the same calibration images), {size}, {run['settings']['threads']} "
            "thread, model only, timed in alternation with the OpenVINO INT8 export; class "
            "scores on a calibration image against ONNX Runtime fp32 (mean absolute "
            "difference, and scores above 0.05 against fp32's):", "",
            *table(["runtime / precision", "median ms", "vs OpenVINO INT8 (bf16 hint)",
                    "score difference", "scores above 0.05"], body, "lrrrr"), "",
            f"XNNPACK's INT8 takes {fastest:.2f}x OpenVINO's INT8 time at best, so it does not "
            "lower the INT8 floor above." + output_note, "", source(run)]


def floor_lines(peak: dict, rows: dict, runs: dict[str, str], gflop: dict) -> list[str]:
    """Why a precision stays further than 1.5x from its limit: its floor, the 1x1
    convolutions at the full matrix-product rate plus every other layer as measured."""
    lines = ["How close each precision can get: the 1x1 convolutions at the full matrix-product "
             "rate plus every other layer at its measured time (its floor), against 1.5x the "
             "limit; and the limit at OpenVINO's own matrix-product rate, which these "
             "figures run on.", ""]
    body, reasons = [], []
    for precision, name in runs.items():
        row = rows[name]
        pointwise_ms = row["categories"]["1x1 conv"]["ms"]
        best_rate = peak["best_gflops_per_s"][precision]
        floor = row["total_ms"] - pointwise_ms + gflop["1x1 conv"] / best_rate * 1000
        limit = peak["network_limit_ms_416"][precision]
        own_rate = peak["gflops_per_s"].get(f"{precision} (OpenVINO)", best_rate)
        own_limit = peak["network_gflop_416"] / own_rate * 1000
        body.append([precision, f"{row['total_ms']:.2f}", f"{limit:.2f}",
                     f"{row['total_ms'] / limit:.2f}x", f"{floor:.2f}", f"{floor / limit:.2f}x",
                     f"{own_limit:.2f}", f"{row['total_ms'] / own_limit:.2f}x"])
        if row["total_ms"] / limit > 1.5 and row["total_ms"] / own_limit <= 1.5:
            reasons.append(
                f"{precision} is {row['total_ms'] / limit:.2f}x the limit set by the best "
                f"{precision} matrix product on this core ({best_rate:.0f} GFLOP/s) but "
                f"{row['total_ms'] / own_limit:.2f}x the limit at OpenVINO's own "
                f"({own_rate:.0f} GFLOP/s), and its 1x1 convolutions run at "
                f"{gflop['1x1 conv'] / pointwise_ms * 1000 / own_rate:.0%} of OpenVINO's rate: "
                "the gap beyond 1.5x is OpenVINO's matrix-product kernel, not the network.")
    lines += table(["precision", "measured ms", "limit ms", "measured / limit", "floor ms",
                    "floor / limit", "limit at OpenVINO's rate ms", "measured / that"], body)
    depthwise = {kernel for category in ("depthwise conv 3x3", "depthwise conv 5x5")
                 for kernel in rows[runs["int8"]]["exec_types"].get(category, {})} \
        if "int8" in runs else set()
    if depthwise and all("I8" not in kernel for kernel in depthwise):
        reasons.append("In the INT8 model every depthwise convolution runs in float ("
                       + ", ".join(f"`{k}`" for k in sorted(depthwise)) + "): OpenVINO runs "
                       "them in float even when NNCF quantises their inputs (so the export "
                       "feeds them their float inputs), and the floor counts them at float "
                       "speed.")
    return lines + (["", " ".join(reasons)] if reasons else [])


# ----------------------------------------------------------------------------- training
def train_section(results: Results) -> list[str]:
    run = results.newest("train")
    body = []
    for row in run["rows"]:
        official, bf16 = row["official_ms"], row["bf16_ms"]
        body.append([str(row["threads"]), ms(row["ours_ms"], 0), ms(official, 0),
                     f"{row['ours_ms'] / official:.2f}x" if official else "-", ms(bf16, 0),
                     f"{bf16 / official:.2f}x" if bf16 and official else "-",
                     ms(row["ema_ms"], 1)])
    lines = ["### Training step against the official implementation", "",
             f"One training step of {run['preset']} with the AGM, batch {run['batch']}, "
             f"{run['num_classes']} classes: forward, losses, backward, gradient clipping, "
             "AdamW step; one synthetic batch shared by both sides, median ms per step over "
             f"{run['rounds']} interleaved rounds of {run['steps']} steps. *bf16*: our step "
             "under bf16 autocast (`train.precision=bf16`, the default of `train.recipe: auto` "
             "on CPUs with native bf16). The EMA update is timed on its own.", "",
             *table(["threads", "ours fp32 ms", "official fp32 ms", "ours / official",
                     "ours bf16 ms", "bf16 / official", "EMA update ms"], body)]
    first = run["rows"][0]
    if first.get("first_loss_bf16") is not None:
        fp32, bf16 = first["first_loss"], first["first_loss_bf16"]
        lines += ["", f"Total loss of the first step from the same seeded weights: fp32 "
                  f"{fp32:.5f}, bf16 {bf16:.5f} (relative difference "
                  f"{abs(bf16 - fp32) / abs(fp32):.1e})."]
    return [*lines, "", source(run)]


def agm_cost_section(results: Results) -> list[str]:
    run = results.newest("agm-cost")
    body = [[row["form"], ms(row["median_ms"], 0), f"{row['ratio']:.2f}x"] for row in run["rows"]]
    return ["### What the AGM costs per step", "",
            "The Assign Guidance Module (AGM) is a second head that only guides label assignment "
            f"during training. One training step at {run['size']}x{run['size']}, batch "
            f"{run['batch']}, 1 thread{', bf16 autocast' if run['bf16'] else ''}, with each form "
            "of it, median over interleaved rounds:", "",
            *table(["AGM form", "step ms", "vs no AGM"], body), "", source(run)]


def loss_section(results: Results) -> list[str]:
    run = results.newest("loss")
    body = [[row["part"], ms(row["ms"], 1), f"{row['share_of_model_step']:.1%}"]
            for row in run["rows"]]
    return ["### Label assignment and losses", "",
            f"{run['model']} in train mode, batch {run['batch']}, {run['gts_per_image']} boxes "
            f"per image, {run['threads']} thread, median of {run['steps']} steps:", "",
            *table(["part", "ms per step", "share of the model's forward + backward"], body),
            "", source(run)]


def data_section(results: Results) -> list[str]:
    run = results.newest("data")
    body = []
    for row in run["rows"]:
        ours, official = row["ours_ms"], row["official_ms"]
        body.append([f"{row['size']}x{row['size']}", ms(ours), f"{1000 / ours:.0f}",
                     ms(official), f"{1000 / official:.0f}" if official else "-",
                     f"{ours / official:.2f}x" if official else "-"])
    return ["### Training data pipeline", "",
            "Per training image: JPEG decoding, random warp, colour jitter, normalisation, CHW "
            "tensor; one process with OpenCV and torch single-threaded, like one data-loader "
            f"worker; the {run['data']}. Process CPU time per image (other jobs on a shared "
            f"machine disturb it far less than wall time), median of {run['repeat']} "
            f"interleaved runs of {run['num']} images.", "",
            *table(["input", "ours ms/image", "ours images/s", "official ms/image",
                    "official images/s", "ours / official"], body), "", source(run)]


def eval_section(results: Results) -> list[str]:
    run = results.newest("eval")
    body = [[row["engine"], ms(row["wall_s"], 1), ms(row["cpu_s"], 1), f"{row['mAP']:.4f}",
             f"{row['AP_50']:.4f}"] for row in run["rows"]]
    lines = ["### COCO evaluation", "",
             "`nanodet val` and the trainer's validation score detections with faster-coco-eval; "
             "pycocotools gives the same statistics. A synthetic case shaped like COCO val2017: "
             f"{run['images']:,} images, {run['classes']} classes, "
             f"{run['ground_truth_boxes']:,} ground-truth boxes, {run['dets_per_image']} "
             f"detections per image ({run['detections']:,} in all); both engines score the same "
             "detections end to end.", "",
             *table(["engine", "wall s", "CPU s", "mAP", "AP50"], body)]
    rows = {row["engine"]: row for row in run["rows"]}
    if run.get("largest_stat_difference") is not None and len(rows) == 2:
        fast, slow = rows["faster_coco_eval"], rows["pycocotools"]
        lines += ["", f"Largest difference over the 12 COCO statistics: "
                  f"{run['largest_stat_difference']:.1e}. faster-coco-eval takes "
                  f"{fast['cpu_s'] / slow['cpu_s']:.2f}x the CPU time of pycocotools."]
    return [*lines, "", source(run)]


# ----------------------------------------------------------------------------- recipes
RECIPE_LABELS = {
    "auto": "`train.recipe: auto`",
    "official": "`train.recipe: official` (the official configuration)",
    "demo": "the demo's earlier fixed recipe",
    "auto-train320": "`auto`, training input 320x320",
}


def _recipe_label(name: str, overrides: list[str]) -> str:
    if name in RECIPE_LABELS:
        return RECIPE_LABELS[name]
    shown = [o for o in overrides if not o.startswith(("train.time_budget_s", "data.augment"))]
    return f"{name}: `{' '.join(shown)}`" if shown else name


def agm_form(overrides: list[str]) -> str:
    """The AGM form a recipe's overrides select, in words."""
    values = dict(o.split("=", 1) for o in overrides if "=" in o)
    if not any(key.startswith("model.aux_head.") for key in values):
        return "no AGM"
    light = values.get("model.aux_head.input_channel") == "96"
    form = "light AGM (96 channels, 2 convolutions)" if light else "official AGM"
    share = float(values.get("model.aux_head.guide_share", 1.0))
    if share < 1:
        form += f", guiding the first {share:.0%} of the epochs"
    return form


def _ap_after(points: list[list[float]], epoch: int) -> float | None:
    return points[epoch - 1][1] if 0 < epoch <= len(points) else None


def dataset_lines(runs: list[Result]) -> list[str]:
    """One bullet per dataset the runs trained on: what it is and its split sizes."""
    seen: dict[str, dict[str, Any]] = {}
    for run in runs:
        seen.update(run["datasets"])
    order = sorted(seen, key=lambda name: (name == "demo-shapes", name))
    lines = []
    for name in order:
        info = seen[name]
        splits = info.get("splits")
        sizes = (f" ({splits['train']['images']:,} train / {splits['val']['images']:,} val "
                 "images)" if splits else "")
        lines.append(f"- **{name}**: {info['description']}{sizes}")
    return lines


def recipes_section(results: Results, assets: dict[str, Path]) -> list[str]:
    runs = results.newest_date("recipe")
    body = []
    for run in runs:
        for row in run["results"]:
            recipe = run["recipes"][row["recipe"]]
            status = (f"{row['ap']:.3f} / {row['ap50']:.3f}" if row["status"] == "ok"
                      else f"none ({row['error']})")
            speed = row.get("images_per_s")
            body.append([row["dataset"], _recipe_label(row["recipe"], recipe["overrides"]),
                         f"{run['budget_s'] / 60:.3g}", str(row["epochs"]),
                         f"{row['train_seconds'] / 60:.1f}", ms(speed, 1), status])
    lines = ["## Training recipes: accuracy against training time", "",
             "Each recipe trains from scratch on the CPU for the same time budget "
             "(`train.time_budget_s`); the best weights are then scored at "
             f"{runs[0]['eval_size'][0]}x{runs[0]['eval_size'][1]} (COCO mAP / AP50 on the "
             "val split). The datasets (`benchmarks/recipe_datasets.py` builds them from images "
             "and handwriting that ship with scikit-image and scikit-learn; demo-shapes is what "
             "`nanodet demo` trains on):", "",
             *dataset_lines(runs), "",
             *table(["dataset", "recipe", "budget min", "epochs", "training min",
                     "training images/s", "mAP / AP50"], body, "llrrrrl"), "",
             "Training images per second fall when other jobs share the machine; the small "
             "print gives the load average where it was recorded.", ""]
    for run in runs:
        plot = run.data.get("plot")
        if plot and len(run["results"]) > 1 and (REPO / plot).is_file():
            assets[Path(plot).name] = REPO / plot
            lines += [f"![mAP against training time: {', '.join(run['datasets'])}]"
                      f"(assets/benchmarks/{Path(plot).name})", ""]
    lines += [source(*runs), ""]
    lines += agm_recipes(results, assets)
    lines += finetune_recipes(results, assets)
    return lines


def agm_recipes(results: Results, assets: dict[str, Path]) -> list[str]:
    runs = results.newest_date("agm-equal-compute")
    body = []
    for run in runs:
        for row in run["results"]:
            overrides = run["recipes"][row["recipe"]]["overrides"]
            body.append([row["dataset"], agm_form(overrides),
                         str(row["epochs"]), f"{row['train_seconds'] / 60:.1f}",
                         f"{row['ap']:.3f} / {row['ap50']:.3f}"])
    lines = ["### The AGM at equal compute", "",
             "With the AGM a step costs more (see *What the AGM costs per step*), so each form "
             "trains for as many epochs as fit in the time of the run without it; everything "
             "else as in the `auto` recipe on a CPU.", "",
             *table(["dataset", "AGM", "epochs", "training min", "mAP / AP50"], body,
                    "llrrl"), ""]
    for run in runs:
        plot = run.data.get("plot")
        if plot and (REPO / plot).is_file() and "digits" in ",".join(run["datasets"]):
            assets[Path(plot).name] = REPO / plot
            lines += [f"![mAP against training time with each AGM form]"
                      f"(assets/benchmarks/{Path(plot).name})", ""]
    return [*lines, source(*runs), ""]


def finetune_recipes(results: Results, assets: dict[str, Path]) -> list[str]:
    finetune = results.newest("finetune")
    scratch_runs = results.newest_date("agm-equal-compute")
    epochs = max(row["epochs"] for row in finetune["results"])
    dataset = finetune["results"][0]["dataset"]
    scratch = next((row for run in scratch_runs for row in run["results"]
                    if row["dataset"] == dataset and row["recipe"].startswith("no-agm")
                    and row["epochs"] == epochs), None)
    shown = [e for e in (1, 2, 4, 6, 8, epochs) if e <= epochs]
    rows = [("from scratch", scratch)] if scratch else []
    labels = {"ft-auto-10ep": "from trained weights, `auto` (halved learning rate, short "
              "warmup)", "ft-scratch-lr-10ep": "from trained weights, the from-scratch "
              "learning rate and warmup"}
    rows += [(labels.get(row["recipe"], row["recipe"]), row) for row in finetune["results"]]
    body = [[label] + [ms(_ap_after(row["points"], e), 3) for e in shown] for label, row in rows]
    plot = finetune.data.get("plot")
    lines = ["### Fine-tuning against training from scratch", "",
             f"{dataset}, {epochs} epochs each; fine-tuning starts from weights trained on "
             "another dataset with other classes (`nanodet train CONFIG --weights FILE`). val "
             "mAP of the EMA weights after each epoch:", "",
             *table(["start", *(f"epoch {e}" for e in shown)], body), ""]
    if plot and (REPO / plot).is_file():
        assets[Path(plot).name] = REPO / plot
        lines += [f"![mAP per epoch: fine-tuning and scratch](assets/benchmarks/"
                  f"{Path(plot).name})", ""]
    sources = [finetune] + [r for r in scratch_runs if scratch and scratch in r["results"]]
    return [*lines, source(*sources)]


# ----------------------------------------------------------------------------- memory
def memory_section(results: Results) -> list[str]:
    run = results.newest("memory")
    body = []
    for backend, row in run["predict"].items():
        body.append([f"`nanodet predict` a {row['frames']:,}-frame video, "
                     f"{'ONNX Runtime' if backend == 'onnx' else 'PyTorch'}",
                     ms(row["warm_mb"], 1), ms(row["end_mb"], 1), f"{row['growth_mb']:+.1f}",
                     ms(row["peak_mb"], 1), f"{row['seconds']:.0f}"])
    train = run.get("train")
    if train:
        body.append([f"`nanodet train`, {train['epochs']} epochs with validation after each",
                     ms(train["warm_mb"], 1), ms(train["end_mb"], 1),
                     f"{train['growth_mb']:+.1f}", ms(train["peak_mb"], 1),
                     f"{train['seconds']:.0f}"])
    return ["## Memory over long runs", "",
            "Resident memory (MiB, the process and its children) of commands as a user types "
            "them, sampled every 0.25 s: once the run is warm, at the end, the change between "
            "the two, and the peak.", "",
            *table(["run", "warm", "end", "change", "peak", "seconds"], body, "lrrrrr"), "",
            source(run)]


# ----------------------------------------------------------------------------- page
INTRO = """# Benchmarks

How fast NanoDet-Plus runs and trains on a CPU, what reduced precision costs in accuracy, and
which training recipe reaches which accuracy in a given time. Every figure on this page is read
from a results file in `benchmarks/results/` by `python benchmarks/report.py`, which writes this
page. Under each table: the results file, the machine, the date, the library versions, the load
average and the command that produced it. To measure your own machine, run that command from a
clone of the repository, then `python benchmarks/report.py`.

The machine of these runs is small and was shared with other jobs. Every comparison in a table
was timed in alternation in one process (round robin), so that load hits all its rows alike:
compare rows within a table rather than figures across tables.

## Which runtime should I use?

- **Usually nothing to choose.** `nanodet predict`, `nanodet val` and `Detector.from_file` run
  an exported ONNX or OpenVINO model in bf16 through OpenVINO when the CPU has native bf16
  (AVX512-BF16 or AMX), OpenVINO is installed and a load-time check of the scores passes, and
  in fp32 otherwise. A PyTorch checkpoint on the CPU runs with BatchNorm folded into the
  convolutions and channels-last memory. A log line says which path was taken.
- **Exact fp32 outputs:** `--precision fp32` (`precision="fp32"` in Python).
- **The lowest latency on an x86 CPU with VNNI:** an INT8 model quantised by NNCF for OpenVINO
  (`nanodet export` with `--format openvino --int8 --calib DIR`; it runs its float layers in
  bf16 where the CPU has it, after the same check). Add `--val-ap` (and a
  `--config` naming a validation split) to measure its accuracy against the model as trained
  before you deploy it.
- **The most images per second on several cores:** one process per core with one thread each,
  rather than one process with many threads.
- **The simplest deployment:** ONNX Runtime (the package's `onnx` extra): one dependency,
  exact fp32, dynamic shapes with `--dynamic`.
- **Android, ARM and C++ without Python:** ncnn or MNN (`--format ncnn`, `--format mnn`).
- **Training, debugging, GPUs:** the PyTorch checkpoint itself.

See [Export](guide/export.md) for the export commands and what each format writes."""


def render_page(results: Results) -> tuple[str, dict[str, Path]]:
    """The page's Markdown and the plots it shows (asset name -> source file)."""
    assets: dict[str, Path] = {}
    sections: list[list[str]] = [
        [INTRO],
        ["## Inference speed", "",
         "Latency of one image on one core. The tables compare runtimes, precisions and "
         "models; the default path is what the package picks without options."],
        peers_section(results),
        runtimes_section(results),
        inference_section(results),
        precision_section(results),
        throughput_section(results),
        ["## Pre- and post-processing", "",
         "What an application waits for is the end-to-end time: the image prepared for the "
         "network, the network, and its output decoded into boxes."],
        overhead_section(results),
        detector_section(results),
        limit_section(results),
        ["## Training speed", ""],
        train_section(results),
        agm_cost_section(results),
        loss_section(results),
        ["## Data pipeline and evaluation speed", ""],
        data_section(results),
        eval_section(results),
        recipes_section(results, assets),
        memory_section(results),
    ]
    text = "\n\n".join("\n".join(section).strip("\n") for section in sections) + "\n"
    return text, assets


# ----------------------------------------------------------------------------- README
def headline(results: Results) -> list[str]:
    """Measured headline bullets for the README (each figure from a results file)."""
    bullets = []
    peers = results.newest("peers")
    best = peers_best(peers)
    if NANODET in best:
        value, variant = best[NANODET]
        machine = peers["machine"]
        core = machine.get("microarchitecture") or machine["cpu"]
        line = (f"- **{value:.1f} ms per image** for NanoDet-Plus-m at 416x416 on one "
                f"{core} core with {variant}, model only")
        if "yolo26n" in best:
            line += (f": {best['yolo26n'][0] / value:.2f}x as fast as YOLO26n on its fastest "
                     "runtime")
        bullets.append(line + " ([benchmarks](docs/benchmarks.md#inference-speed))")
    runs = [(run, row) for run in results.newest_date("recipe") for row in run["results"]
            if row["recipe"] == "auto" and row["status"] == "ok"]
    if runs:  # the longest run of the auto recipe
        run, row = max(runs, key=lambda item: item[1]["train_seconds"])
        size = run["eval_size"]
        data = ("the demo data (`nanodet demo`)" if row["dataset"] == "demo-shapes"
                else f"the {row['dataset']} benchmark dataset")
        bullets.append(
            f"- **{row['ap']:.2f} mAP after {row['train_seconds'] / 60:.0f} minutes** of "
            f"training from scratch on {run['machine']['cores']} CPU cores with "
            f"`train.recipe: auto` on {data}, scored at {size[0]}x{size[1]} "
            "([benchmarks](docs/benchmarks.md#training-recipes-accuracy-against-training-time))")
    train = results.newest("train")
    first = train["rows"][0]
    if first.get("official_ms"):
        fp32 = first["ours_ms"] / first["official_ms"]
        if first.get("bf16_ms"):
            text = (f"**A training step in {first['bf16_ms'] / first['official_ms']:.2f}x the "
                    f"time** of the official implementation's with bf16 autocast ({fp32:.2f}x "
                    "in fp32)")
        else:
            text = f"**A training step in {fp32:.2f}x the time** of the official implementation's"
        bullets.append(f"- {text}, on the same CPU "
                       "([benchmarks](docs/benchmarks.md#training-speed))")
    inference = results.newest("inference")
    rows = [r for r in inference["rows"] if r["threads"] == 1 and "official" in r["medians_ms"]]
    if rows:
        ratios = [r["medians_ms"]["ours fused+NHWC"] / r["medians_ms"]["official"] for r in rows]
        bullets.append(f"- **A PyTorch forward pass in {min(ratios):.2f}-{max(ratios):.2f}x the "
                       "time** of the official model's (BatchNorm folded, channels-last) "
                       "([benchmarks](docs/benchmarks.md#inference-speed))")
    data = results.newest("data")
    rows = [r for r in data["rows"] if r["official_ms"]]
    if rows:
        ratio = statistics.median(r["ours_ms"] / r["official_ms"] for r in rows)
        bullets.append(f"- **Training images prepared in {ratio:.2f}x the CPU time** of the "
                       "official data pipeline "
                       "([benchmarks](docs/benchmarks.md#data-pipeline-and-evaluation-speed))")
    return bullets


def replace_block(text: str, block: list[str]) -> str | None:
    """``text`` with the lines between the headline markers replaced (None: no markers)."""
    start, end = text.find(HEADLINE_START), text.find(HEADLINE_END)
    if start < 0 or end < start:
        return None
    return (text[:start + len(HEADLINE_START)] + "\n" + "\n".join(block) + "\n"
            + text[end:])


# ----------------------------------------------------------------------------- main
def outputs(results: Results) -> dict[Path, Callable[[], bytes]]:
    """Every file the report writes, with its expected content."""
    page, assets = render_page(results)
    expected: dict[Path, Callable[[], bytes]] = {PAGE: lambda: page.encode()}
    for name, path in assets.items():
        expected[ASSETS / name] = path.read_bytes
    if README.is_file():
        updated = replace_block(README.read_text(), headline(results))
        if updated is not None:
            expected[README] = updated.encode
    return expected


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a generated file is out of date")
    args = parser.parse_args(argv)
    expected = outputs(Results())
    stale = [path for path, content in expected.items()
             if not path.is_file() or path.read_bytes() != content()]
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(REPO)}")
        return 1 if stale else 0
    ASSETS.mkdir(parents=True, exist_ok=True)
    for old in ASSETS.glob("*.png"):
        if old not in expected:
            old.unlink()
    for path in stale:
        path.write_bytes(expected[path]())
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

