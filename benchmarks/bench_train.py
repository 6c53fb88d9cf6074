"""Training-step time on CPU: ours against the official NanoDet-Plus code, same batch.

    .venv/bin/python benchmarks/bench_train.py [--preset nanodet-plus-m_320] [--batch 8]
        [--threads 1 2] [--rounds 5] [--steps 3] [--bf16] [--out FILE]

One step = forward (with the AGM) + losses + backward + gradient clipping (35) + AdamW step +
zero grad, in train mode on one synthetic batch (seeded images and 2-6 boxes per image) that
both sides share. The EMA update, which the trainer adds after each step, is timed separately.
The official model runs in a subprocess of the official environment (``--official-venv``,
default /tmp/nanodet-official-venv: a virtualenv with the official code installed) when it
exists.
Rounds are interleaved (official, ours, official, ...) so machine load hits both alike; the
results report medians per step. Writes ``benchmarks/results/train-DATE.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Run, add_out_argument  # beside this script

FIGURE = ("Training step on the CPU (forward with the AGM + losses + backward + gradient "
          "clipping + AdamW step + zero grad, one synthetic batch both sides share), median ms "
          "per step over interleaved rounds: ours in fp32 and under bf16 autocast against the "
          "official code's step; the EMA update timed on its own")

OFFICIAL_WORKER = textwrap.dedent(
    """
    import json, sys, time
    import torch
    from nanodet.util import cfg, load_config
    from nanodet.model.arch import build_model

    request = json.loads(sys.stdin.readline())
    load_config(cfg, request["config"])
    cfg.defrost()
    cfg.model.arch.backbone.pretrain = False
    cfg.model.arch.head.num_classes = request["num_classes"]
    cfg.model.arch.aux_head.num_classes = request["num_classes"]
    torch.manual_seed(0)
    model = build_model(cfg.model).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    batch = torch.load(request["batch"], weights_only=True)
    meta = {"img": batch["img"], "gt_bboxes": [b.numpy() for b in batch["gt_bboxes"]],
            "gt_labels": [l.numpy() for l in batch["gt_labels"]], "gt_bboxes_ignore": None}
    print("READY", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        torch.set_num_threads(request["threads"])
        times = []
        for _ in range(request["steps"]):
            start = time.perf_counter()
            _, loss, _ = model.forward_train(meta)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 35)
            optimizer.step()
            optimizer.zero_grad()
            times.append(time.perf_counter() - start)
        print("TIMES " + json.dumps(times), flush=True)
    """
)


def make_batch(batch: int, size: tuple[int, int], num_classes: int, seed: int = 0) -> dict:
    """Seeded images and 2-6 xyxy boxes per image inside a ``size`` (width, height) input."""
    generator = torch.Generator().manual_seed(seed)
    width, height = size
    images = torch.randn(batch, 3, height, width, generator=generator)
    boxes, labels = [], []
    for _ in range(batch):
        count = int(torch.randint(2, 7, (1,), generator=generator))
        wh = torch.rand(count, 2, generator=generator) * 0.5 + 0.08
        centre = torch.rand(count, 2, generator=generator)
        scale = torch.tensor([width, height], dtype=torch.float32)
        x1y1 = ((centre - wh / 2).clamp(0, 1)) * scale
        x2y2 = ((centre + wh / 2).clamp(0, 1)) * scale
        boxes.append(torch.cat([x1y1, x2y2], dim=1))
        labels.append(torch.randint(0, num_classes, (count,), generator=generator))
    return {"img": images, "gt_bboxes": boxes, "gt_labels": labels}


class OfficialWorker:
    """The official NanoDet training step, timed in a subprocess of the official environment."""

    def __init__(self, venv: Path, src: Path, preset: str, batch_path: Path,
                 num_classes: int) -> None:
        self.script = Path(tempfile.mkstemp(suffix="_official_train.py")[1])
        self.script.write_text(OFFICIAL_WORKER)
        self.process = subprocess.Popen(
            [str(venv / "bin" / "python"), str(self.script)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=str(src),
        )
        self._send({"config": str(src / "config" / f"{preset}.yml"), "batch": str(batch_path),
                    "num_classes": num_classes})
        self._read("READY")

    def _send(self, request: dict) -> None:
        assert self.process.stdin
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def _read(self, tag: str) -> str:
        assert self.process.stdout
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError("the official worker exited; run it by hand to see why")
            if line.startswith(tag):
                return line[len(tag):].strip()

    def time(self, threads: int, steps: int) -> list[float]:
        self._send({"threads": threads, "steps": steps})
        return json.loads(self._read("TIMES "))

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=60)
        self.script.unlink(missing_ok=True)


class OursStep:
    """Our model, AdamW and EMA, stepping on the shared batch exactly as the trainer does
    (including its memory format, ``train.channels_last``)."""

    def __init__(self, preset: str, batch: dict, num_classes: int,
                 precision: str = "fp32") -> None:
        from nanodet_plus.config.loader import load_config
        from nanodet_plus.engine.ema import ModelEMA
        from nanodet_plus.engine.optim import build_optimizer
        from nanodet_plus.models.factory import build_model

        config = load_config(preset, [f"model.num_classes={num_classes}"])
        torch.manual_seed(0)
        memory_format = (torch.channels_last if config.train.channels_last
                         else torch.contiguous_format)
        self.model = build_model(config.model).train().to(memory_format=memory_format)
        self.optimizer = build_optimizer(self.model, config.train.optimizer)
        self.ema = ModelEMA(self.model, config.train.ema_decay)
        self.batch = dict(batch, img=batch["img"].contiguous(memory_format=memory_format))
        self.updates = 0
        self.bf16 = precision == "bf16"
        self.first_loss: float | None = None  # of the first step, from the seeded weights

    def time(self, steps: int) -> list[float]:
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                losses = self.model.training_losses(self.batch["img"], self.batch["gt_bboxes"],
                                                    self.batch["gt_labels"], epoch=0)
            if self.first_loss is None:
                self.first_loss = float(losses["loss"].detach())
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 35.0)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            times.append(time.perf_counter() - start)
        return times

    def time_ema(self, steps: int) -> list[float]:
        times = []
        for _ in range(steps):
            self.updates += 1
            start = time.perf_counter()
            self.ema.update(self.model, self.updates)
            times.append(time.perf_counter() - start)
        return times


def run(args: argparse.Namespace) -> list[dict]:
    from nanodet_plus.config.loader import load_config

    size = tuple(load_config(args.preset).data.input_size)
    batch = make_batch(args.batch, size, args.num_classes)
    batch_path = Path(tempfile.mkstemp(suffix="_train_batch.pt")[1])
    torch.save(batch, batch_path)
    official = None
    venv = Path(args.official_venv)
    if (venv / "bin" / "python").exists() and not args.no_official:
        try:
            official = OfficialWorker(venv, Path(args.official_src), args.preset, batch_path,
                                      args.num_classes)
        except RuntimeError as exc:
            print(f"official worker unavailable: {exc}", file=sys.stderr)
    ours = OursStep(args.preset, batch, args.num_classes)
    ours_bf16 = OursStep(args.preset, batch, args.num_classes, "bf16") if args.bf16 else None
    rows = []
    try:
        for threads in args.threads:
            torch.set_num_threads(threads)
            ours.time(1)  # warm-up at this thread count
            if ours_bf16 is not None:
                ours_bf16.time(1)
            if official is not None:
                official.time(threads, 1)
            ours_times, official_times, ema_times, bf16_times = [], [], [], []
            for _ in range(args.rounds):
                if official is not None:
                    official_times += official.time(threads, args.steps)
                ours_times += ours.time(args.steps)
                ema_times += ours.time_ema(args.steps)
                if ours_bf16 is not None:
                    bf16_times += ours_bf16.time(args.steps)
            row = {"threads": threads, "ours_ms": 1000 * statistics.median(ours_times),
                   "ema_ms": 1000 * statistics.median(ema_times),
                   "official_ms": 1000 * statistics.median(official_times)
                   if official_times else None,
                   "bf16_ms": 1000 * statistics.median(bf16_times) if bf16_times else None,
                   "first_loss": ours.first_loss,
                   "first_loss_bf16": ours_bf16.first_loss if ours_bf16 else None,
                   "steps": len(ours_times)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        if official is not None:
            official.close()
        batch_path.unlink(missing_ok=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="nanodet-plus-m_320")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--num-classes", type=int, default=80)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--official-venv", default="/tmp/nanodet-official-venv")
    parser.add_argument("--official-src", default="/tmp/nanodet-src")
    parser.add_argument("--no-official", action="store_true")
    parser.add_argument("--bf16", action="store_true",
                        help="also time our step under bf16 autocast (CPUs with AVX512-BF16/AMX)")
    add_out_argument(parser, "train")
    args = parser.parse_args(argv)
    run_record = Run(__file__, argv)
    rows = run(args)
    run_record.save(args.out, "train", FIGURE,
                    {"preset": args.preset, "batch": args.batch, "num_classes": args.num_classes,
                     "rounds": args.rounds, "steps": args.steps, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
