"""Two gloo ranks: reduce_mean averages, and the loss normalisers agree when one rank has no GT.

Also checks the point of averaging: the mean of the two ranks' gradients equals the gradient of
one process on the whole batch.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from nanodet_plus.config.schema import ModelConfig
from nanodet_plus.losses import criterion as criterion_module
from nanodet_plus.losses.criterion import NanoDetPlusCriterion
from nanodet_plus.ops.priors import num_points
from nanodet_plus.utils.distributed import reduce_mean

WORLD_SIZE = 2
INPUT_HW = (64, 96)
NUM_CLASSES = 3


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rank_batch(rank: int) -> tuple[torch.Tensor, torch.Tensor, list, list]:
    """Rank 0 has two images with GTs; rank 1 has two images without any."""
    generator = torch.Generator().manual_seed(rank)
    points = num_points(INPUT_HW, (8, 16, 32, 64))
    head = torch.randn(2, points, NUM_CLASSES + 32, generator=generator)
    aux = torch.randn(2, points, NUM_CLASSES + 32, generator=generator)
    if rank == 0:
        boxes = [
            torch.tensor([[4.0, 6.0, 50.0, 40.0], [30.0, 20.0, 90.0, 60.0]]),
            torch.tensor([[10.0, 10.0, 70.0, 50.0]]),
        ]
        labels = [torch.tensor([0, 2]), torch.tensor([1])]
    else:
        boxes = [torch.zeros(0, 4), torch.zeros(0, 4)]
        labels = [torch.zeros(0, dtype=torch.int64)] * 2
    return head, aux, boxes, labels


def losses_and_grads(head, aux, boxes, labels) -> tuple[dict, torch.Tensor, torch.Tensor]:
    head, aux = head.clone().requires_grad_(), aux.clone().requires_grad_()
    losses = NanoDetPlusCriterion(ModelConfig(num_classes=NUM_CLASSES))(
        head, aux, INPUT_HW, boxes, labels
    )
    losses["loss"].backward()
    return {k: v.item() for k, v in losses.items()}, head.grad, aux.grad


def worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE,
        timeout=timedelta(seconds=60),
    )
    try:
        averaged_float = reduce_mean(torch.tensor([1.0 + 2.0 * rank, 10.0]))
        averaged_int = reduce_mean(torch.tensor(3 * rank))
        normalisers: list[float] = []

        def recording_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
            result = reduce_mean(tensor)
            normalisers.append(float(result))
            return result

        criterion_module.reduce_mean = recording_reduce_mean
        losses, head_grad, aux_grad = losses_and_grads(*rank_batch(rank))
        torch.save(
            {
                "float": averaged_float, "int": averaged_int, "normalisers": normalisers,
                "losses": losses, "head_grad": head_grad, "aux_grad": aux_grad,
            },
            Path(out_dir) / f"rank{rank}.pt",
        )
        dist.barrier()  # leave together: gloo can abort a rank whose peer has gone
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_ranks_average_normalisers(tmp_path: Path) -> None:
    mp.spawn(worker, args=(free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD_SIZE)]

    for result in ranks:
        torch.testing.assert_close(result["float"], torch.tensor([2.0, 10.0]))
        assert float(result["int"]) == 1.5
    # Same collectives, same order, same values on both ranks, although rank 1 has no positive.
    assert len(ranks[0]["normalisers"]) == len(ranks[1]["normalisers"]) == 3
    assert ranks[0]["normalisers"] == ranks[1]["normalisers"]
    assert ranks[1]["losses"]["loss_bbox"] == 0.0 and ranks[1]["losses"]["aux_loss_dfl"] == 0.0

    # Rank-averaged normalisers make the averaged gradients equal the one-process gradients.
    batches = [rank_batch(rank) for rank in range(WORLD_SIZE)]
    whole = [torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])]
    boxes = [box for b in batches for box in b[2]]
    labels = [label for b in batches for label in b[3]]
    _, head_grad, aux_grad = losses_and_grads(*whole, boxes, labels)
    ddp_head = torch.cat([r["head_grad"] for r in ranks]) / WORLD_SIZE
    ddp_aux = torch.cat([r["aux_grad"] for r in ranks]) / WORLD_SIZE
    torch.testing.assert_close(ddp_head, head_grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ddp_aux, aux_grad, rtol=1e-5, atol=1e-7)
