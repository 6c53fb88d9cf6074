"""Cost of label assignment and the loss next to the model's training forward and backward.

nanodet-plus-m_320 in train mode on CPU, synthetic images with random GT boxes; median wall
time of each part per training step.

    .venv/bin/python benchmarks/bench_loss.py [--batch 8] [--gts 8] [--steps 5] [--threads 1]

Writes ``benchmarks/results/loss-DATE.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _bench import Run, add_out_argument  # beside this script

from nanodet_plus.assigners import DynamicSoftLabelAssigner, build_targets
from nanodet_plus.models.factory import build_model
from nanodet_plus.ops.boxes import distance2bbox, integral
from nanodet_plus.ops.priors import center_priors

FIGURE = ("Label assignment (DSLA) and the loss against the model's training forward and "
          "backward, nanodet-plus-m_320 in train mode on synthetic images with random boxes: "
          "median ms per training step and share of the model step")


def median_seconds(step: Callable[[], object], repeats: int) -> float:
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def random_gts(batch: int, count: int, size: int, num_classes: int):
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(batch, count, 2, generator=generator) * size * 0.7
    sizes = 8 + torch.rand(batch, count, 2, generator=generator) * size * 0.3
    boxes = list(torch.cat([corners, corners + sizes], dim=-1))
    labels = list(torch.randint(0, num_classes, (batch, count), generator=generator))
    return boxes, labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--gts", type=int, default=8, help="GT boxes per image")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    add_out_argument(parser, "loss")
    args = parser.parse_args(argv)
    run = Run(__file__, argv)
    torch.set_num_threads(args.threads)
    size = 320
    model = build_model("nanodet-plus-m_320").train()
    images = torch.randn(args.batch, 3, size, size)
    gt_boxes, gt_labels = random_gts(args.batch, args.gts, size, model.num_classes)
    project = model.head.distribution_project.project
    head_out, aux_out = model.forward_train(images)
    head_out, aux_out = head_out.detach(), aux_out.detach()
    priors = center_priors((size, size), model.strides)
    aux_logits = aux_out[..., : model.num_classes]
    aux_boxes = distance2bbox(
        priors[:, :2], integral(aux_out[..., model.num_classes :], project) * priors[:, 2, None]
    )
    assigner = DynamicSoftLabelAssigner()

    def assign_batch() -> None:
        result = assigner.assign(aux_logits, priors, aux_boxes, gt_boxes, gt_labels)
        build_targets(result, priors, gt_boxes, gt_labels, model.num_classes, model.reg_max)

    def assign_per_image() -> None:
        for i in range(args.batch):
            assigner.assign(
                aux_logits[i : i + 1], priors, aux_boxes[i : i + 1], gt_boxes[i : i + 1],
                gt_labels[i : i + 1],
            )

    def criterion_only() -> None:
        head, aux = head_out.clone().requires_grad_(), aux_out.clone().requires_grad_()
        losses = model.criterion(head, aux, (size, size), gt_boxes, gt_labels, project=project)
        losses["loss"].backward()

    def model_step() -> None:
        model.zero_grad(set_to_none=True)
        head, aux = model.forward_train(images)
        (head.sum() + aux.sum()).backward()

    rows = [
        ("DSLA assignment + targets, whole batch", median_seconds(assign_batch, args.steps)),
        ("DSLA assignment, one image at a time", median_seconds(assign_per_image, args.steps)),
        ("criterion forward + backward (incl. assignment)",
         median_seconds(criterion_only, args.steps)),
        ("model forward_train + backward (no loss)", median_seconds(model_step, args.steps)),
    ]
    model_time = rows[-1][1]
    for name, seconds in rows:
        print(f"{name}: {seconds * 1000:.1f} ms ({seconds / model_time:.1%} of the model step)")
    run.save(args.out, "loss", FIGURE,
             {"model": "nanodet-plus-m_320", "input": [size, size], "batch": args.batch,
              "gts_per_image": args.gts, "threads": args.threads, "steps": args.steps,
              "rows": [{"part": name, "ms": seconds * 1000, "share_of_model_step":
                        seconds / model_time} for name, seconds in rows]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
