"""Cost of the Assign Guidance Module forms on a CPU training step, against no AGM (issue 13).

    .venv/bin/python benchmarks/bench_agm.py [--rounds 9] [--batch 4] [--size 256]
        [--out benchmarks/results/agm-cost-DATE.json]

One step as the CPU recipe trains it: forward with the AGM form, losses (both heads, one
assignment), backward, gradient clipping, AdamW step and EMA update, on one synthetic batch
(seeded images, 3 boxes each) in channels-last memory, bf16 autocast where the CPU has native
bf16, one thread (the auto recipe's two processes use one thread each). The forms are timed in
interleaved rounds so machine load hits them alike; the step-time ratio to "none" is the median
over rounds. These ratios set the epoch counts of the equal-compute AGM comparison in
docs/reference/defaults.md (a form that costs 1.5x trains 1/1.5 of the epochs in the same time).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Run, add_out_argument  # noqa: E402  (beside this script)
from bench_recipe import cpu_flags  # noqa: E402

FIGURE = ("Cost of each form of the Assign Guidance Module on a CPU training step (forward, "
          "losses, backward, clipping, AdamW, EMA; one thread, bf16 autocast where native): "
          "median ms per step over interleaved rounds and the ratio to no AGM")

LIGHT = ("model.aux_head.input_channel=96", "model.aux_head.feat_channels=96",
         "model.aux_head.stacked_convs=2", "model.aux_head.own_fpn=false")
FORMS: dict[str, tuple[str, ...]] = {
    "none": ("model.aux_head=null",),
    "official": (),
    "official, no own neck": ("model.aux_head.input_channel=96",
                              "model.aux_head.own_fpn=false"),
    "light (96 ch, 2 convs, no own neck)": LIGHT,
    "light, depthwise": (*LIGHT, "model.aux_head.conv_type=DWConv"),
}


def build_step(overrides: tuple[str, ...], batch: int, size: int, bf16: bool):
    """A closure running one full training step of the form given by ``overrides``."""
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.engine.ema import ModelEMA
    from nanodet_plus.engine.optim import build_optimizer
    from nanodet_plus.models.factory import build_model

    config = load_config("nanodet-plus-m_320", ["model.num_classes=10", *overrides])
    torch.manual_seed(0)
    model = build_model(config.model).train().to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, config.train.optimizer)
    ema = ModelEMA(model)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, size, size, generator=generator).contiguous(
        memory_format=torch.channels_last)
    corners = torch.rand(batch, 3, 2, generator=generator) * (size * 0.6)
    sides = 16 + torch.rand(batch, 3, 2, generator=generator) * (size * 0.3)
    boxes = [torch.cat([c, c + s], dim=1) for c, s in zip(corners, sides)]
    labels = [torch.randint(0, 10, (3,), generator=generator) for _ in range(batch)]
    steps = [0]

    def step() -> float:
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model.training_losses(images, boxes, labels, epoch=0)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema.update(model, steps[0])
        steps[0] += 1
        return time.perf_counter() - start

    return step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--batch", type=int, default=4, help="images per process and step")
    parser.add_argument("--size", type=int, default=256, help="training input side")
    add_out_argument(parser, "agm-cost")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)
    torch.set_num_threads(1)
    bf16 = bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
    steps = {name: build_step(overrides, args.batch, args.size, bf16)
             for name, overrides in FORMS.items()}
    for step in steps.values():  # warm-up: allocator, oneDNN kernels
        step()
    times: dict[str, list[float]] = {name: [] for name in FORMS}
    for _ in range(args.rounds):
        for name, step in steps.items():
            times[name].append(step())
    base = statistics.median(times["none"])
    rows = [{"form": name, "overrides": list(FORMS[name]),
             "median_ms": round(statistics.median(t) * 1000, 1),
             "ratio": round(statistics.median(t) / base, 2)} for name, t in times.items()]
    print("| AGM form | step ms | x no AGM |\n|---|---|---|")
    for row in rows:
        print(f"| {row['form']} | {row['median_ms']:.0f} | {row['ratio']:.2f} |")
    run.save(args.out, "agm-cost", FIGURE,
             {"batch": args.batch, "size": args.size, "bf16": bf16, "threads": 1,
              "rounds": args.rounds, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
