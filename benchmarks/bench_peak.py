"""The CPU's measured compute limit per precision: one large matrix product per precision on
one thread (fp32 and bf16 through PyTorch/oneDNN and OpenVINO, INT8 through OpenVINO's u8 x s8
path), and what it means for a network of nanodet-plus-m_416's size (1.52 GFLOP).

The limit of the network is its FLOPs at this rate: no convolution runs faster than a large
GEMM, so a model within 1.5x of it is close to what the hardware allows.

Usage: python benchmarks/bench_peak.py [--size 1024] [--runs 20]
Writes ``benchmarks/results/peak-DATE.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Run, add_out_argument  # beside this script

FIGURE = ("The CPU's compute limit per precision: the best rate of a large matrix product on one "
          "thread (GFLOP/s), and the latency it would give nanodet-plus-m_416's convolutions "
          "(their FLOPs at that rate)")

NETWORK_GFLOP_416 = 1.524  # nanodet-plus-m at 416x416, 2 x multiply-adds (convolutions)


def rate(run: Callable[[], object], flops: float, runs: int) -> float:
    """GFLOP/s (or GOP/s) of ``run``: its fastest of ``runs`` after a warm-up (a limit, so
    the best run, not the typical one)."""
    for _ in range(3):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return flops / min(times) / 1e9


def openvino_matmul(size: int, precision: str, int8: bool = False) -> Callable[[], object]:
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    data = ops.parameter([size, size], ov.Type.f32)
    if int8:
        low, high = ops.constant(np.float32(-4)), ops.constant(np.float32(4))
        data_in = ops.fake_quantize(data, low, high, low, high, 256)
        weights = ops.multiply(
            ops.convert(ops.constant(rng.integers(-127, 127, (size, size)).astype(np.int8)),
                        ov.Type.f32), ops.constant(np.float32(0.01)))
    else:
        data_in = data
        weights = ops.constant(rng.standard_normal((size, size)).astype(np.float32))
    model = ov.Model([ops.matmul(data_in, weights, False, False)], [data])
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": 1,
                                                      "INFERENCE_PRECISION_HINT": precision})
    request = compiled.create_infer_request()
    batch = rng.standard_normal((size, size)).astype(np.float32)
    return lambda: request.infer([batch])


CATEGORY_OF_CONV = {"1x1": "1x1 conv", "dw3": "depthwise conv 3x3", "dw5": "depthwise conv 5x5",
                    "dense": "dense conv kxk (k>1)", "head": "head output stage"}


def conv_gflop_by_category(weights: Path, config: str, size: tuple[int, int]) -> dict[str, float]:
    """GFLOP (2 x multiply-adds) of the exported network's convolutions, by the categories of
    ``bench_profile.py``, from the ONNX graph's shapes."""
    import tempfile

    import onnx
    from onnx import shape_inference

    from nanodet_plus.export.exporter import ExportOptions, export_model

    with tempfile.TemporaryDirectory() as tmp:
        path = export_model(weights, ExportOptions(format="onnx", config=config,
                                                   input_size=size,
                                                   output=Path(tmp) / "m.onnx")).path
        model = shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*model.graph.value_info, *model.graph.output]}
    weights_dims = {init.name: list(init.dims) for init in model.graph.initializer}
    totals: dict[str, float] = {}
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        out_c, in_c, k_h, k_w = weights_dims[node.input[1]]
        _, _, height, width = shapes[node.output[0]]
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        if node.name.startswith("/head/gfl_cls"):
            key = "head"
        elif group > 1:
            key = "dw3" if k_h == 3 else "dw5"
        else:
            key = "1x1" if k_h == 1 else "dense"
        category = CATEGORY_OF_CONV[key]
        gflop = 2.0 * out_c * in_c * k_h * k_w * height * width / 1e9
        totals[category] = totals.get(category, 0.0) + gflop
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=20)
    add_out_argument(parser, "peak")
    parser.add_argument("--weights", default=str(Path(__file__).resolve().parents[1]
                        / "tests/assets/reference/nanodet-plus-m_320_weights.pth"),
                        help="weights whose export gives the FLOPs per category")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)
    import torch

    torch.set_num_threads(1)
    size = args.size
    flops = 2.0 * size**3
    left, right = torch.randn(size, size), torch.randn(size, size)
    left16, right16 = left.bfloat16(), right.bfloat16()
    rates = {
        "fp32 (PyTorch)": rate(lambda: left @ right, flops, args.runs),
        "bf16 (PyTorch)": rate(lambda: left16 @ right16, flops, args.runs),
    }
    try:
        rates["fp32 (OpenVINO)"] = rate(openvino_matmul(size, "f32"), flops, args.runs)
        rates["bf16 (OpenVINO)"] = rate(openvino_matmul(size, "bf16"), flops, args.runs)
        rates["int8 (OpenVINO)"] = rate(openvino_matmul(size, "f32", int8=True), flops,
                                        args.runs)
    except ImportError:
        pass
    best = {precision: max(v for k, v in rates.items() if k.startswith(precision))
            for precision in ("fp32", "bf16", "int8") if any(k.startswith(precision)
                                                              for k in rates)}
    report = {
        "matrix_size": size, "threads": 1, "gflops_per_s": rates, "best_gflops_per_s": best,
        "network_gflop_416": NETWORK_GFLOP_416,
        "network_limit_ms_416": {p: NETWORK_GFLOP_416 / r * 1000 for p, r in best.items()},
        "conv_gflop_416_by_category": conv_gflop_by_category(
            Path(args.weights), "nanodet-plus-m_416", (416, 416)),
    }
    run.save(args.out, "peak", FIGURE, report, runtimes=("openvino",))
    for name, value in rates.items():
        print(f"{name:18s} {value:7.1f} GFLOP/s")
    for precision, ms in report["network_limit_ms_416"].items():
        print(f"nanodet-plus-m_416 limit at {precision}: {ms:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
