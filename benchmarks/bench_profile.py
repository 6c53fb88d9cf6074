"""Per-operator time breakdown of NanoDet-Plus in each CPU runtime, one row per runtime/precision.

Usage: python benchmarks/bench_profile.py [--weights W] [--config nanodet-plus-m_416] [--imgsz 416]
       [--runs 50] [--warmup 10] [--threads 1] [--rows torch/fp32,onnxruntime/int8,...]
       [--onnx-int8 NAME=PATH ...] [--calib DIR] [--image IMG] [--out-dir benchmarks/results]

Rows: torch eager (torch.profiler), ONNX Runtime fp32 and static-QDQ INT8 (session profiling
trace), OpenVINO f32 / bf16 (PERF_COUNT) and OpenVINO on the QDQ INT8 file. Each extra
``--onnx-int8 NAME=PATH`` file adds the rows ``onnxruntime/int8:NAME`` and ``openvino/int8:NAME``.
Every profiled node is mapped to a category through the exported ONNX graph (node names and Conv
``group``/``kernel_shape``). Per row: the median per-run node sum (network total), each
category (mean over the runs nearest that median, so that the categories add up on a loaded
machine), the top nodes with the kernel that ran them, the wall time of the call with and
without profiling, and the Detector's pre- and post-processing on a real image. The rows' calls
are interleaved round robin so that load changes on a shared machine hit them alike.
Writes ``profile-DATE.json`` into ``--out-dir`` and prints the tables.
"""

from __future__ import annotations

import argparse
import bisect
import datetime
import json
import re
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WEIGHTS = ROOT / "tests/assets/reference/nanodet-plus-m_320_weights.pth"
FIGURE = ("Per-operator profile of nanodet-plus-m at 416x416, batch 1, 1 thread, in each runtime "
          "and precision: ms and share of the network per operator category, the runtime's "
          "overhead outside the nodes, and the Detector's pre- and post-processing")
DEFAULT_IMAGE = ROOT / "tests/assets/official-samples/test_img.jpg"
DEFAULT_CALIB = ROOT / "tests/assets/official-samples"
DEFAULT_ROWS = ("torch/fp32", "onnxruntime/fp32", "onnxruntime/int8", "openvino/f32",
                "openvino/bf16", "openvino/int8", "openvino/int8-nncf")

DW3 = "depthwise conv 3x3"
DW5 = "depthwise conv 5x5"
PW = "1x1 conv"
DENSE = "dense conv kxk (k>1)"
POOL = "pooling"
SHUFFLE = "channel shuffle / concat / split / reshape / transpose"
RESIZE = "resize (upsample)"
ACT = "activations / add / mul (unfused)"
BN = "batch norm (unfused, torch eager)"
HEAD = "head output stage"
QDQ = "quantize/dequantize"
REORDER = "layout reorder (inserted by the runtime)"
OTHER = "other"
CATEGORIES = (DW3, DW5, PW, DENSE, POOL, SHUFFLE, RESIZE, ACT, BN, HEAD, QDQ, REORDER, OTHER)

# Op type names of ONNX, ONNX Runtime kernels, OpenVINO layers and aten ops, by category.
CONV_OPS = {"Conv", "FusedConv", "QLinearConv", "ConvInteger", "Convolution", "GroupConvolution",
            "conv2d", "convolution"}
QDQ_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "FakeQuantize"}
REORDER_OPS = {"ReorderInput", "ReorderOutput", "Reorder"}
OP_CATEGORY = {
    **dict.fromkeys(("MaxPool", "AveragePool", "GlobalAveragePool", "AvgPool", "QLinearMaxPool",
                     "QLinearAveragePool", "NhwcMaxPool", "max_pool2d", "avg_pool2d",
                     "adaptive_avg_pool2d"),
                    POOL),
    **dict.fromkeys(("Concat", "Split", "Slice", "Reshape", "Transpose", "Unsqueeze", "Squeeze",
                     "Flatten", "Gather", "VariadicSplit", "StridedSlice", "ShuffleChannels",
                     "Identity", "QLinearConcat", "cat", "stack", "chunk", "split",
                     "split_with_sizes", "view", "reshape", "flatten", "permute", "transpose",
                     "contiguous", "unsqueeze", "squeeze", "narrow", "slice", "select"), SHUFFLE),
    **dict.fromkeys(("Resize", "Upsample", "Interpolate", "upsample_bilinear2d",
                     "upsample_nearest2d"), RESIZE),
    **dict.fromkeys(("LeakyRelu", "Relu", "Sigmoid", "Add", "Mul", "Sub", "Div", "Clip",
                     "HardSigmoid", "HardSwish", "Eltwise", "Multiply", "Subtract", "Swish",
                     "QLinearLeakyRelu", "QLinearAdd", "QLinearMul", "QLinearSigmoid",
                     "leaky_relu", "leaky_relu_", "relu", "relu_", "sigmoid", "add", "add_",
                     "mul", "mul_", "hardswish", "silu"), ACT),
    **dict.fromkeys(("BatchNormalization", "batch_norm"), BN),
}


# --------------------------------------------------------------------------- categories


@dataclass(frozen=True)
class ConvInfo:
    """What the category of a convolution depends on."""

    group: int
    kernel: tuple[int, int]
    in_channels: int | None = None

    @property
    def depthwise(self) -> bool:
        if self.group <= 1:
            return False
        return self.in_channels is None or self.group == self.in_channels


def conv_category(conv: ConvInfo | None) -> str:
    if conv is None:
        return OTHER
    kh, kw = conv.kernel
    if conv.depthwise:
        return f"depthwise conv {kh}x{kw}"
    if conv.group > 1:
        return OTHER
    return PW if (kh, kw) == (1, 1) else DENSE


def in_head_output(name: str) -> bool:
    """Nodes under /head/ that are not the cls_convs towers (gfl_cls, sigmoid, concat...)."""
    return (name == "/head" or name.startswith("/head/")) and not name.startswith(
        "/head/cls_convs")


def categorise(op_type: str, name: str, conv: ConvInfo | None = None,
               inserted: bool = False) -> str:
    """The category of one profiled node from its (ONNX-like) op type and graph name.

    ``inserted``: the runtime added the node (no ONNX counterpart), e.g. layout transposes.
    """
    if op_type in QDQ_OPS:
        return QDQ
    if in_head_output(name):
        return HEAD
    if op_type in REORDER_OPS or (inserted and op_type == "Transpose"):
        return REORDER
    if op_type in CONV_OPS:
        return conv_category(conv)
    return OP_CATEGORY.get(op_type, OTHER)


# --------------------------------------------------------------------------- ONNX graph index


class GraphIndex:
    """Node names, producers and Conv attributes of an ONNX file, to name runtime nodes."""

    STRIP = (r"_kernel_time$", r"_token_\d+$", r"_nchwc$", r"/WithoutBiases$",
             r"/[A-Za-z]+Fusion$", r"_fused$")

    def __init__(self, path: Path) -> None:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        graph = model.graph
        self.nodes = {node.name: node for node in graph.node}
        self.producer = {out: node for node in graph.node for out in node.output}
        self.shapes = {init.name: tuple(init.dims) for init in graph.initializer}
        self.names_by_length = sorted(self.nodes, key=len, reverse=True)

    def resolve(self, name: str) -> Any:
        """The ONNX node a runtime node name stands for, or None."""
        candidate = name
        for _ in range(4):
            if candidate in self.nodes:
                return self.nodes[candidate]
            if candidate in self.producer:
                return self.producer[candidate]
            stripped = candidate
            for pattern in self.STRIP:
                stripped = re.sub(pattern, "", stripped)
            if stripped == candidate:
                break
            candidate = stripped
        for known in self.names_by_length:
            if candidate.startswith(known + "/"):
                return self.nodes[known]
        return None

    def conv_upstream(self, node: Any) -> Any:
        """``node`` if it is a Conv, else the Conv feeding it within two steps (a fused
        conv + activation named after the activation's output, as ONNX Runtime does)."""
        for _ in range(3):
            if node is None or node.op_type == "Conv":
                return node
            node = self.producer.get(node.input[0]) if node.input else None
            if node is not None and node.op_type == "DequantizeLinear":
                node = self.producer.get(node.input[0])
        return None

    def conv_info(self, node: Any) -> ConvInfo | None:
        """Group, kernel and input channels of a Conv node (weights may sit behind a DQ)."""
        if node is None or node.op_type != "Conv":
            return None
        attrs = {a.name: a for a in node.attribute}
        group = int(attrs["group"].i) if "group" in attrs else 1
        weight = self.shapes.get(node.input[1])
        if weight is None and node.input[1] in self.producer:
            feeder = self.producer[node.input[1]]
            weight = self.shapes.get(feeder.input[0]) if feeder.input else None
        if "kernel_shape" in attrs:
            kernel = tuple(int(k) for k in attrs["kernel_shape"].ints)
        elif weight is not None and len(weight) == 4:
            kernel = (int(weight[2]), int(weight[3]))
        else:
            return None
        in_channels = int(weight[1]) * group if weight is not None and len(weight) == 4 else None
        return ConvInfo(group, (kernel[0], kernel[1]), in_channels)

    def classify(self, name: str, op_type: str) -> tuple[str, str]:
        """(category, ONNX-like op type) of a runtime node called ``name`` of kind ``op_type``."""
        node = self.resolve(name)
        if op_type in CONV_OPS:
            conv_node = self.conv_upstream(node)
            display = conv_node.name if conv_node is not None else name
            return categorise(op_type, display, self.conv_info(conv_node)), op_type
        if node is None:
            return categorise(op_type, name, inserted=True), op_type
        onnx_type = node.op_type if op_type in ("Subgraph", "Eltwise") else op_type
        return categorise(onnx_type, node.name), onnx_type


# --------------------------------------------------------------------------- results of a row


@dataclass
class NodeInfo:
    """One profiled node: display name, op type, the kernel that ran it, its category."""

    name: str
    op_type: str
    exec_type: str
    category: str


@dataclass
class RowResult:
    """Raw per-run node times (ms) of one row plus its timings outside the profiler."""

    row: str
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    runs: list[dict[str, float]] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class RowSpec:
    """What to profile: ``runtime`` on ``model`` (mapped through ``graph``) at ``precision``."""

    name: str
    runtime: str
    precision: str
    model: Path | None = None
    graph: Path | None = None


# A row's profiler: set up, yield; then one call per resumption, yield after each;
# finally return the RowResult. Rows are resumed round robin so that load changes on a
# shared machine hit them alike.
Profiler = Generator[None, None, RowResult]


def median(values: Iterable[float]) -> float:
    values = list(values)
    return float(np.median(values)) if values else float("nan")


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return (time.perf_counter() - start) * 1000, result


# --------------------------------------------------------------------------- torch eager


def _annotation(name: str) -> bool:
    return name.startswith(("run::", "module::"))


def _torch_top_ops(events: Iterable[Any]) -> dict[int, list[tuple[Any, str]]]:
    """Per run index: the outermost op events in start order, with the innermost module label.

    An op is outermost when no other op encloses it below its ``run::i`` range."""
    runs: dict[int, list[tuple[Any, str]]] = defaultdict(list)
    for event in events:
        if _annotation(event.name):
            continue
        label, parent = "", event.cpu_parent
        while parent is not None and not parent.name.startswith("run::"):
            if not parent.name.startswith("module::"):
                break
            label = label or parent.name[len("module::"):]
            parent = parent.cpu_parent
        if parent is not None and parent.name.startswith("run::"):
            runs[int(parent.name[len("run::"):])].append((event, label))
    for ops in runs.values():
        ops.sort(key=lambda item: item[0].time_range.start)
    return runs


def _heaviest_kernel(event: Any) -> str:
    """The descendant op with the most self time: the kernel that did the work."""
    best, stack = event, [event]
    while stack:
        current = stack.pop()
        if current.self_cpu_time_total > best.self_cpu_time_total:
            best = current
        stack.extend(current.cpu_children)
    return best.name


def _torch_conv_info(event: Any) -> ConvInfo | None:
    shapes = event.input_shapes
    if len(shapes) < 2 or len(shapes[0]) != 4 or len(shapes[1]) != 4:
        return None
    concrete = getattr(event, "concrete_inputs", None) or []
    group = concrete[6] if len(concrete) > 6 and isinstance(concrete[6], int) else None
    in_channels, per_group = int(shapes[0][1]), int(shapes[1][1])
    group = group or max(1, in_channels // max(1, per_group))
    return ConvInfo(group, (int(shapes[1][2]), int(shapes[1][3])), in_channels)


def _torch_module_labels(model: Any, run_once: Callable[[], Any]) -> list[tuple[str, str]]:
    """(op name, module path as /a/b/c) of each outermost op of one run, from a run with
    every module wrapped in a ``module::`` range (the timed runs go without them)."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    stack: list[Any] = []

    def enter(label: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            scope = record_function(f"module::{label}")
            scope.__enter__()
            stack.append(scope)

        return hook

    def leave(*_: Any) -> None:
        stack.pop().__exit__(None, None, None)

    handles = []
    for name, module in model.named_modules():
        if name:
            label = "/" + name.replace(".", "/")
            handles.append(module.register_forward_pre_hook(enter(label)))
            handles.append(module.register_forward_hook(leave))
    try:
        with (profile(activities=[ProfilerActivity.CPU]) as prof, torch.inference_mode(),
              record_function("run::0")):
            run_once()
    finally:
        for handle in handles:
            handle.remove()
    return [(event.name, label) for event, label in _torch_top_ops(prof.events())[0]]


def profile_torch(spec: RowSpec, ctx: Context) -> Profiler:
    """torch.profiler over the calls of the eager model (BatchNorm not folded, as the
    TorchBackend runs it); outermost aten ops are the nodes, classified from their shapes.
    The profiler stays on while the other rows run (it records torch ops only)."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    backend = ctx.torch_backend()
    images = torch.from_numpy(ctx.batch)
    labels = _torch_module_labels(backend.model, lambda: backend.infer_tensor(images))
    result = RowResult(spec.name)
    walls = []
    yield
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for index in range(ctx.calls):
            with record_function(f"run::{index}"):
                walls.append(timed(lambda: backend.infer_tensor(images))[0])
            yield
    per_run = _torch_top_ops(prof.events())
    for index in range(ctx.warmup, ctx.calls):
        ops = per_run[index]
        if [event.name for event, _ in ops] != [name for name, _ in labels]:
            raise RuntimeError("torch ops differ between runs; cannot name them")
        times = {}
        for position, (event, _) in enumerate(ops):
            key = f"{position:04d}"
            times[key] = event.cpu_time_total / 1000
            if key not in result.nodes:
                result.nodes[key] = _torch_node(event, labels[position][1])
        result.runs.append(times)
    result.wall_ms = walls[ctx.warmup:]
    result.notes.append("torch eager as TorchBackend runs it (BatchNorm unfused, NCHW); node "
                        "time = inclusive CPU time of each outermost aten op; the profiler "
                        "adds per-op overhead")
    return result


def _torch_node(event: Any, label: str) -> NodeInfo:
    op = event.name.split("::", 1)[-1]
    conv = _torch_conv_info(event) if op in CONV_OPS else None
    category = categorise(op if op in OP_CATEGORY or op in CONV_OPS else "?", label, conv)
    shapes = "x".join(str(list(s)) for s in event.input_shapes[:2] if s)
    return NodeInfo(f"{label or '(top)'} {op} {shapes}", op, _heaviest_kernel(event), category)


# --------------------------------------------------------------------------- ONNX Runtime


def profile_onnxruntime(spec: RowSpec, ctx: Context) -> Profiler:
    """Session profiling trace: one ``model_run`` per call, ``*_kernel_time`` Node events in
    it (``dur`` in us); warm-up calls are in the trace and skipped."""
    import onnxruntime as ort

    graph = ctx.graph(spec.graph)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = ctx.threads
    options.inter_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(ctx.work / f"ort-{re.sub(r'[^A-Za-z0-9]+', '-', spec.name)}")
    session = ort.InferenceSession(str(spec.model), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: ctx.batch}
    walls = []
    yield
    for _ in range(ctx.calls):
        walls.append(timed(lambda: session.run(None, feed))[0])
        yield
    trace = json.loads(Path(session.end_profiling()).read_text())
    calls = sorted((e for e in trace if e.get("cat") == "Session" and e["name"] == "model_run"),
                   key=lambda e: e["ts"])
    if len(calls) != len(walls):
        raise RuntimeError(f"trace holds {len(calls)} runs, expected {len(walls)}")
    starts = [call["ts"] for call in calls]
    result = RowResult(spec.name, runs=[{} for _ in calls], wall_ms=walls[ctx.warmup:])
    for event in trace:
        if event.get("cat") != "Node" or not event["name"].endswith("_kernel_time"):
            continue
        index = bisect.bisect_right(starts, event["ts"]) - 1
        if index < 0:
            continue
        name = event["name"][: -len("_kernel_time")]
        result.runs[index][name] = result.runs[index].get(name, 0.0) + event["dur"] / 1000
        if name not in result.nodes:
            result.nodes[name] = _ort_node(name, event["args"], graph)
    result.runs = result.runs[ctx.warmup:]
    result.notes.append("graph optimisation level ORT_ENABLE_ALL (NCHWc layout on AVX-512); "
                        "node time = kernel_time events of the profiling trace")
    return result


def _ort_node(name: str, args: dict[str, Any], graph: GraphIndex) -> NodeInfo:
    op = args.get("op_name", "?")
    category, _ = graph.classify(name, op)
    inputs = args.get("input_type_shape") or [{}]
    dtype = next(iter(inputs[0]), "?")
    return NodeInfo(name, op, f"{op}/{dtype}", category)


# --------------------------------------------------------------------------- OpenVINO


def profile_openvino(spec: RowSpec, ctx: Context) -> Profiler:
    """PERF_COUNT: after each call the request's profiling info holds that call's per-node
    real time; nodes are named through the runtime model's ``originalLayersNames``."""
    import openvino as ov

    core = ov.Core()
    properties = {"PERF_COUNT": True, "INFERENCE_NUM_THREADS": ctx.threads,
                  "INFERENCE_PRECISION_HINT": spec.precision
                  if not spec.precision.startswith("int8") else "f32"}
    compiled = core.compile_model(core.read_model(str(spec.model)), "CPU", properties)
    layers = _ov_runtime_layers(compiled)
    graph = ctx.graph(spec.graph)
    request = compiled.create_infer_request()
    result = RowResult(spec.name)
    yield
    for index in range(ctx.calls):
        wall, _ = timed(lambda: request.infer([ctx.batch]))
        if index >= ctx.warmup:
            result.wall_ms.append(wall)
            result.runs.append(_ov_times(request.get_profiling_info(), layers, graph, result))
        yield
    from nanodet_plus.runtime.openvino_backend import precision_name

    hint = precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
    pinning = compiled.get_property("ENABLE_CPU_PINNING")
    result.extra["effective_precision_hint"] = hint
    result.extra["cpu_pinning"] = bool(pinning)
    result.notes.append(f"compiled with {properties}; effective precision hint {hint}; "
                        f"ENABLE_CPU_PINNING {pinning} (the inference thread stays on one core, "
                        "so a busy core on a shared machine slows this row)")
    return result


def _ov_times(infos: Iterable[Any], layers: dict[str, dict[str, str]], graph: GraphIndex,
              result: RowResult) -> dict[str, float]:
    """ms per executed node of the last call; new nodes are classified into ``result``."""
    times = {}
    for info in infos:
        if not str(info.status).endswith("EXECUTED"):
            continue
        times[info.node_name] = info.real_time.total_seconds() * 1000
        if info.node_name not in result.nodes:
            result.nodes[info.node_name] = _ov_node(info, layers.get(info.node_name, {}), graph)
    return times


def _ov_runtime_layers(compiled: Any) -> dict[str, dict[str, str]]:
    layers = {}
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layers[op.get_friendly_name()] = {
            key: info[key].astype(str) for key in
            ("layerType", "primitiveType", "originalLayersNames", "runtimePrecision")
            if key in info
        }
    return layers


def _ov_node(info: Any, layer: dict[str, str], graph: GraphIndex) -> NodeInfo:
    """Convolutions by their own name; fused subgraphs (snippets) by their first original
    layer that is not a (de)quantisation; LPT dequantisation pieces as quantize/dequantize."""
    name, op = info.node_name, info.node_type
    originals = [n for n in layer.get("originalLayersNames", "").split(",") if n]
    if op in CONV_OPS or op in REORDER_OPS or not originals:
        category, _ = graph.classify(name, op)
    else:
        category = _ov_fused_category(name, op, originals, graph)
    precision = layer.get("runtimePrecision", "")
    return NodeInfo(name, op, f"{info.exec_type} ({precision})" if precision else
                    info.exec_type, category)


def _ov_fused_category(name: str, op: str, originals: list[str], graph: GraphIndex) -> str:
    quantised = False
    for original in originals:
        node = graph.nodes.get(original)
        if node is None and re.search("quantiz", original, re.IGNORECASE):
            quantised = True
            continue
        node = node or graph.resolve(original)
        if node is None:
            continue
        if node.op_type in QDQ_OPS:
            quantised = True
            continue
        return categorise(node.op_type, node.name, graph.conv_info(node))
    if quantised:
        return QDQ
    return categorise(op, name)


# --------------------------------------------------------------------------- context


class Context:
    """Settings, exported files (made on first use), the input batch and the graph indexes."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        import torch

        from nanodet_plus.data.preprocess import read_image

        torch.set_num_threads(args.threads)  # the post-processing (NMS) runs torch ops too
        self.args = args
        self.work = work
        self.runs, self.warmup, self.threads = args.runs, args.warmup, args.threads
        self.calls = args.warmup + args.runs
        self.input_size = (args.imgsz, args.imgsz)
        self.image = read_image(args.image)
        self._exports: dict[tuple[str, bool], Path] = {}
        self.export_notes: list[str] = []
        self._graphs: dict[Path, GraphIndex] = {}
        self._torch: Any = None
        self.batch = self._prepared_batch()

    def _prepared_batch(self) -> np.ndarray:
        from nanodet_plus.data.preprocess import preprocess
        from nanodet_plus.models.loading import load_model
        from nanodet_plus.runtime.torch_backend import meta_from_model

        loaded = load_model(self.args.weights, self.args.config)
        loaded.config.data.input_size = self.input_size
        meta = meta_from_model(loaded.model, loaded.config)
        prepared = preprocess([self.image], self.input_size, keep_ratio=meta.keep_ratio,
                              mean=meta.mean, std=meta.std, min_wh=self.input_size)
        return np.ascontiguousarray(prepared.images, dtype=np.float32)

    def export(self, fmt: str, int8: bool = False) -> Path:
        from nanodet_plus.export.exporter import SUFFIXES, ExportOptions, export_model

        key = (fmt, int8)
        if key not in self._exports:
            extra = {"int8": True, "calib": str(self.args.calib)} if int8 else {}
            name = f"model{'.int8' if int8 else ''}{SUFFIXES[fmt]}"
            options = ExportOptions(format=fmt, config=self.args.config,
                                    input_size=self.input_size, output=self.work / name,
                                    force=True, **extra)
            exported = export_model(self.args.weights, options)
            for note in exported.notes:
                print(f"  export {name}: {note}")
                self.export_notes.append(f"{name}: {note}")
            self._exports[key] = exported.path
        return self._exports[key]

    def graph(self, path: Path | None) -> GraphIndex:
        path = path or self.export("onnx")
        if path not in self._graphs:
            self._graphs[path] = GraphIndex(path)
        return self._graphs[path]

    def torch_backend(self) -> Any:
        if self._torch is None:
            from nanodet_plus.models.loading import load_model
            from nanodet_plus.runtime.torch_backend import TorchBackend

            loaded = load_model(self.args.weights, self.args.config)
            loaded.config.data.input_size = self.input_size
            self._torch = TorchBackend(loaded.model, config=loaded.config)
        return self._torch

    def backend(self, spec: RowSpec) -> Any:
        """The package's own backend for the row (for the unprofiled and Detector timings)."""
        if spec.runtime == "torch":
            return self.torch_backend()
        from nanodet_plus.runtime.registry import load_backend

        fmt = "onnx" if spec.runtime == "onnxruntime" else "openvino"
        precision = spec.precision if spec.precision in ("f32", "bf16") else "f32"
        return load_backend(spec.model, fmt, threads=self.threads, precision=precision)


PROFILERS: dict[str, Callable[[RowSpec, Context], Profiler]] = {
    "torch": profile_torch,
    "onnxruntime": profile_onnxruntime,
    "openvino": profile_openvino,
}


def resolve_spec(spec: RowSpec, ctx: Context) -> RowSpec:
    """Fill in the model and graph files of a default row (exporting them on first use)."""
    if spec.runtime == "torch" or spec.model is not None:
        return spec
    if spec.precision == "int8":
        path = ctx.export("onnx", int8=True)
        return RowSpec(spec.name, spec.runtime, spec.precision, path, path)
    if spec.precision == "int8-nncf":  # nanodet export --format openvino --int8
        return RowSpec(spec.name, spec.runtime, spec.precision,
                       ctx.export("openvino", int8=True), ctx.export("onnx"))
    if spec.runtime == "onnxruntime":
        path = ctx.export("onnx")
        return RowSpec(spec.name, spec.runtime, spec.precision, path, path)
    return RowSpec(spec.name, spec.runtime, spec.precision, ctx.export("openvino"),
                   ctx.export("onnx"))


def row_specs(args: argparse.Namespace) -> list[RowSpec]:
    names = args.rows.split(",") if args.rows else list(DEFAULT_ROWS)
    specs = []
    for name in names:
        runtime, _, precision = name.partition("/")
        if runtime not in PROFILERS or not precision:
            raise SystemExit(f"unknown row {name!r}; rows are {', '.join(DEFAULT_ROWS)}")
        specs.append(RowSpec(name, runtime, precision))
    for item in args.onnx_int8:
        label, _, path = item.partition("=")
        if not path or not Path(path).is_file():
            raise SystemExit(f"--onnx-int8 {item!r}: expected NAME=PATH of an existing file")
        for runtime, precision in (("onnxruntime", "int8"), ("openvino", "int8")):
            specs.append(RowSpec(f"{runtime}/{precision}:{label}", runtime, precision,
                                 Path(path), Path(path)))
    return specs


# --------------------------------------------------------------------------- outside the net


def attempt(name: str, function: Callable[[], Any], errors: dict[str, str]) -> Any:
    """``function()``, or None with the error recorded under ``name`` (one runtime failing
    must not lose the other rows)."""
    try:
        return function()
    except Exception as exc:
        errors[name] = f"{type(exc).__name__}: {exc}"
        return None


def round_robin(steps: dict[str, Callable[[], Any]], count: int,
                errors: dict[str, str]) -> None:
    """Call every step ``count`` times, rotating the order each round; a step that raises is
    dropped with its error recorded in ``errors``."""
    steps = dict(steps)
    for index in range(count):
        order = list(steps)
        shift = index % max(1, len(order))
        for name in order[shift:] + order[:shift]:
            attempt(name, steps[name], errors)
            if name in errors:
                del steps[name]


def start_profiler(spec: RowSpec, ctx: Context) -> Profiler:
    profiler = PROFILERS[spec.runtime](spec, ctx)
    next(profiler)
    return profiler


def profile_rows(specs: list[RowSpec], ctx: Context,
                 errors: dict[str, str]) -> dict[str, RowResult]:
    """Set every row's profiler up, run their calls interleaved, collect the RowResults."""
    profilers: dict[str, Profiler] = {}
    for spec in specs:
        print(f"setting up {spec.name} ({spec.model.name if spec.model else 'eager'})",
              flush=True)
        profiler = attempt(spec.name, partial(start_profiler, spec, ctx), errors)
        if profiler is not None:
            profilers[spec.name] = profiler
    print(f"profiling {len(profilers)} rows, {ctx.calls} calls each, interleaved", flush=True)
    round_robin({name: gen.__next__ for name, gen in profilers.items()}, ctx.calls, errors)
    results = {}
    for name, profiler in profilers.items():
        if name in errors:
            continue
        try:
            next(profiler)
            errors[name] = "profiler did not finish"
        except StopIteration as stop:
            results[name] = stop.value
        except Exception as exc:  # a trace that cannot be read loses this row only
            errors[name] = f"{type(exc).__name__}: {exc}"
    return results


def time_unprofiled(specs: list[RowSpec], ctx: Context,
                    errors: dict[str, str]) -> dict[str, tuple[Any, list[float]]]:
    """Each row's package backend and its model-only call times without profiling
    (interleaved round robin, after ``warmup`` calls)."""
    backends: dict[str, Any] = {}
    for spec in specs:
        backend = attempt(spec.name, partial(ctx.backend, spec), errors)
        if backend is not None:
            backends[spec.name] = backend
    times: dict[str, list[float]] = {name: [] for name in backends}

    def call(name: str, record: bool) -> None:
        elapsed, _ = timed(partial(backends[name].infer, ctx.batch))
        if record:
            times[name].append(elapsed)

    round_robin({name: partial(call, name, False) for name in backends}, ctx.warmup, errors)
    round_robin({name: partial(call, name, True) for name in backends if name not in errors},
                ctx.runs, errors)
    return {name: (backends[name], times[name]) for name in backends if name not in errors}


def time_pre_post(backend: Any, ctx: Context) -> dict[str, Any]:
    """The Detector's pre-processing and post-processing (decode + NMS) on the real image,
    median ms, with the detections kept at the Detector's default threshold."""
    from nanodet_plus.postprocess import postprocess
    from nanodet_plus.runtime.detector import Detector

    detector = Detector(backend)
    pre = [timed(lambda: detector.prepare([ctx.image])) for _ in range(ctx.runs)]
    prepared = pre[-1][1]
    infer_tensor = getattr(backend, "infer_tensor", None)
    raw = infer_tensor(prepared.images) if infer_tensor else backend.infer(prepared.images)

    def post() -> Any:
        return postprocess(raw, detector.meta, prepared.input_hw, prepared.warp_matrices,
                           prepared.orig_sizes, score_thr=detector.score_thr,
                           iou_thr=detector.iou_thr, max_det=detector.max_det,
                           class_names=detector.class_names)

    posts = [timed(post) for _ in range(ctx.runs)]
    return {
        "preprocess_ms": median(t for t, _ in pre),
        "postprocess_ms": median(t for t, _ in posts),
        "detections": len(posts[-1][1][0]),
        "score_thr": detector.score_thr,
    }


# --------------------------------------------------------------------------- summaries


def central_runs(totals: list[float]) -> list[int]:
    """Indexes of the runs whose network total is nearest the median: a fifth of them, at
    least three (load bursts on a shared machine make the run times skewed or bimodal)."""
    middle = median(totals)
    count = min(len(totals), max(3, len(totals) // 5))
    return sorted(range(len(totals)), key=lambda i: abs(totals[i] - middle))[:count]


def summarise(result: RowResult, top: int = 10) -> dict[str, Any]:
    """Network total (median per-run node sum), categories, top nodes, kernels by category.

    Category and node figures are means over the central runs (those nearest the median
    total), so that on a loaded machine they still add up to one total (their sum), close to
    the median; each category's plain median over all runs is kept as ``median_ms``."""
    per_run_cat = [defaultdict(float) for _ in result.runs]
    for run, sums in zip(result.runs, per_run_cat):
        for key, ms in run.items():
            sums[result.nodes[key].category] += ms
    totals = [sum(run.values()) for run in result.runs]
    central = central_runs(totals)

    def central_mean(values: list[float]) -> float:
        return float(np.mean([values[i] for i in central]))

    present = [c for c in CATEGORIES if any(c in s for s in per_run_cat)]
    present += sorted({c for s in per_run_cat for c in s} - set(present))
    counts = defaultdict(int)
    for info in result.nodes.values():
        counts[info.category] += 1
    summed = central_mean(totals)
    categories = {}
    for category in present:
        values = [s.get(category, 0.0) for s in per_run_cat]
        ms = central_mean(values)
        categories[category] = {"ms": ms, "share": ms / summed, "median_ms": median(values),
                                "nodes": counts[category]}
    node_ms = {key: central_mean([run.get(key, 0.0) for run in result.runs])
               for key in result.nodes}
    ranked = sorted(node_ms, key=node_ms.get, reverse=True)[:top]
    return {
        "total_ms": median(totals),
        "total_p10_ms": float(np.percentile(totals, 10)),
        "total_p90_ms": float(np.percentile(totals, 90)),
        "categories_sum_ms": sum(c["ms"] for c in categories.values()),
        "wall_profiled_ms": median(result.wall_ms),
        "outside_nodes_ms": median(w - t for w, t in zip(result.wall_ms, totals)),
        "runs": len(result.runs),
        "central_runs": len(central),
        "profiled_nodes": len(result.nodes),
        "categories": categories,
        "top_nodes": [{"name": result.nodes[k].name, "op_type": result.nodes[k].op_type,
                       "exec_type": result.nodes[k].exec_type,
                       "category": result.nodes[k].category, "ms": node_ms[k],
                       "share": node_ms[k] / summed} for k in ranked],
        "exec_types": exec_types_by_category(result, node_ms),
        **result.extra,
        "notes": result.notes,
    }


def exec_types_by_category(result: RowResult, node_ms: dict[str, float]) -> dict[str, Any]:
    """Per category: which kernels (exec types) ran how many nodes in how many ms."""
    table: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for key, info in result.nodes.items():
        entry = table[info.category].setdefault(info.exec_type, {"count": 0, "ms": 0.0})
        entry["count"] += 1
        entry["ms"] += node_ms[key]
    return {cat: dict(sorted(v.items(), key=lambda kv: -kv[1]["ms"])) for cat, v in table.items()}


# --------------------------------------------------------------------------- markdown


def _cell(ms: float | None, share: float | None = None) -> str:
    if ms is None or ms != ms:
        return "-"
    return f"{ms:.2f} ({100 * share:.0f}%)" if share is not None else f"{ms:.2f}"


def markdown_report(report: dict[str, Any]) -> str:
    from nanodet_plus.benchmark.results import describe_machine

    rows = report["rows"]
    names = list(rows)
    settings = report["settings"]
    lines = [
        f"# Per-operator profile, {settings['model']} at {settings['input_size']}, batch 1, "
        f"{settings['threads']} thread(s)",
        "",
        f"{report['date']} on {describe_machine(report['machine'])}. "
        f"Command: `{report['command']}`.",
        "Network total = median per-run sum of the profiled nodes (p10-p90 in brackets). "
        "Categories: ms (share) as the mean over the runs whose network total is nearest the "
        "median (a fifth of the runs), so that they add up on a loaded machine; wall = "
        "perf_counter around the call; pre/post-processing: median.",
        *[f"Export note: {note}" for note in report.get("export_notes", [])],
        "",
        "| category | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    seen = {c for r in rows.values() for c in r.get("categories", {})}
    present = [c for c in CATEGORIES if c in seen] + sorted(seen - set(CATEGORIES))
    for category in present:
        cells = [_cell(rows[n]["categories"][category]["ms"],
                       rows[n]["categories"][category]["share"])
                 if category in rows[n].get("categories", {}) else "-" for n in names]
        lines.append(f"| {category} | " + " | ".join(cells) + " |")
    lines.append("| **sum of categories** | " + " | ".join(
        _cell(rows[n].get("categories_sum_ms")) for n in names) + " |")
    lines.append("| **network total (profiled nodes)** | " + " | ".join(
        f"{_cell(rows[n]['total_ms'])} ({rows[n]['total_p10_ms']:.1f}-"
        f"{rows[n]['total_p90_ms']:.1f})" if "total_ms" in rows[n] else "-"
        for n in names) + " |")
    for label, key in (("wall per call, profiled", "wall_profiled_ms"),
                       ("wall per call, unprofiled", "wall_unprofiled_ms"),
                       ("wall - nodes (runtime overhead)", "outside_nodes_ms"),
                       ("Detector pre-processing", "preprocess_ms"),
                       ("Detector post-processing (decode + NMS)", "postprocess_ms")):
        lines.append(f"| {label} | " + " | ".join(_cell(rows[n].get(key)) for n in names) + " |")
    for name in names:
        lines += _row_details(name, rows[name])
    return "\n".join(lines) + "\n"


def _row_details(name: str, row: dict[str, Any]) -> list[str]:
    if "error" in row:
        return ["", f"## {name}", "", f"failed: {row['error']}"]
    lines = ["", f"## {name}", "", "Top nodes:", "", "| node | op | exec type | category | ms |",
             "|---|---|---|---|---|"]
    for node in row["top_nodes"]:
        lines.append(f"| `{node['name']}` | {node['op_type']} | {node['exec_type']} | "
                     f"{node['category']} | {node['ms']:.3f} |")
    lines += ["", "Kernels by category (nodes, ms):", ""]
    for category, kernels in row["exec_types"].items():
        parts = [f"{kernel} x{entry['count']} {entry['ms']:.2f}"
                 for kernel, entry in kernels.items()]
        lines.append(f"- {category}: " + "; ".join(parts))
    return lines + [""] + [f"Note: {note}" for note in row["notes"]]


# --------------------------------------------------------------------------- main


def profile_all(specs: list[RowSpec], ctx: Context) -> dict[str, dict[str, Any]]:
    """Summaries of every row (or ``{"error": ...}``), in the order of ``specs``."""
    errors: dict[str, str] = {}
    resolved = [r for r in (attempt(s.name, partial(resolve_spec, s, ctx), errors)
                            for s in specs) if r is not None]
    results = profile_rows(resolved, ctx, errors)
    print("timing without profiling, then pre-/post-processing", flush=True)
    plain = time_unprofiled([s for s in resolved if s.name in results], ctx, errors)
    rows = {}
    for spec in specs:
        if spec.name in errors or spec.name not in plain:
            message = errors.get(spec.name, "no unprofiled timing")
            print(f"  {spec.name} failed: {message}", file=sys.stderr)
            rows[spec.name] = {"error": message}
            continue
        backend, times = plain[spec.name]
        summary = summarise(results[spec.name])
        summary["wall_unprofiled_ms"] = median(times)
        summary.update(time_pre_post(backend, ctx))
        model = next(s.model for s in resolved if s.name == spec.name)
        summary["model_file"] = model.name if model else None
        summary["runtime"], summary["precision"] = spec.runtime, spec.precision
        rows[spec.name] = summary
    return rows


def check(report: dict[str, Any], tolerance: float = 0.05) -> list[str]:
    """Warnings: categories not adding up to the total, or much time in "other"."""
    warnings = []
    for name, row in report["rows"].items():
        if "error" in row:
            continue
        total, summed = row["total_ms"], row["categories_sum_ms"]
        if abs(summed - total) > tolerance * total:
            warnings.append(f"{name}: categories sum {summed:.2f} ms vs total {total:.2f} ms")
        other = row["categories"].get(OTHER, {}).get("share", 0.0)
        if other > 0.02:
            warnings.append(f"{name}: {100 * other:.1f}% of the time is in 'other'")
    return warnings


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--config", default="nanodet-plus-m_416")
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", help=f"comma-separated subset of {','.join(DEFAULT_ROWS)}")
    parser.add_argument("--onnx-int8", action="append", default=[], metavar="NAME=PATH",
                        help="another INT8 ONNX file, profiled with ONNX Runtime and OpenVINO")
    parser.add_argument("--calib", type=Path, default=DEFAULT_CALIB,
                        help="calibration images of the package's INT8 export")
    parser.add_argument("--image", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks/results")
    parser.add_argument("--work-dir", type=Path, help="keep exports and traces here")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> int:
    from nanodet_plus.benchmark.results import load_average, write_results

    args = parse_args(argv)
    load_before = load_average()
    specs = row_specs(args)
    date = datetime.date.today().isoformat()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as temp:
        work = args.work_dir or Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        ctx = Context(args, work)
        from nanodet_plus.benchmark.latency import timing_only_int8_exports

        with timing_only_int8_exports():  # INT8 rows time the graph; accuracy: bench_precision
            rows = profile_all(specs, ctx)
    data = {
        "settings": {"model": "nanodet-plus-m", "config": args.config,
                     "weights": _relative(args.weights), "input_size": f"{args.imgsz}x{args.imgsz}",
                     "batch": 1, "threads": args.threads, "runs": args.runs,
                     "warmup": args.warmup, "image": _relative(args.image),
                     "calib": _relative(args.calib)},
        "categories": list(CATEGORIES),
        "export_notes": ctx.export_notes,
        "rows": rows,
    }
    data["warnings"] = check(data)
    command = shlex.join(["python", "benchmarks/bench_profile.py",
                          *(sys.argv[1:] if argv is None else argv)])
    json_path = write_results(args.out_dir / f"profile-{date}.json", "bench_profile", FIGURE,
                              data, command=command, load_before=load_before,
                              runtimes=("onnxruntime", "openvino", "onnx", "numpy", "opencv"))
    print(markdown_report(json.loads(json_path.read_text())))
    for warning in data["warnings"]:
        print(f"WARNING: {warning}", file=sys.stderr)
    print(f"wrote {json_path}")
    return 0


def _relative(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


if __name__ == "__main__":
    sys.exit(run())
