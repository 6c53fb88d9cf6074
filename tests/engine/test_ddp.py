"""Two-process gloo DDP on CPU: gradients equal one process on the global batch; no hang.

BatchNorm layers are put in eval mode for the gradient comparison: per-rank batch statistics
differ from global-batch statistics by design (SyncBatchNorm needs GPUs), and this test is
about the loss normalisers and gradient averaging. One rank's half of the batch holds only
negative images, which must neither hang the collectives nor change the result.
"""

from __future__ import annotations

import gc
import os
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

TIMEOUT_S = 240
WORLD = 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tiny_model() -> torch.nn.Module:
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.models.factory import build_model

    config = load_config("nanodet-plus-m_320", [
        "model.num_classes=3", "model.backbone.model_size=0.5x",
        "model.neck.in_channels=[48,96,192]", "model.neck.out_channels=32",
        "model.head.input_channel=32", "model.head.feat_channels=32",
        "model.aux_head.input_channel=64", "model.aux_head.feat_channels=64",
        "model.aux_head.stacked_convs=2",
    ])
    torch.manual_seed(0)
    model = build_model(config.model)
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    return model


def _global_batch() -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(4, 3, 128, 128, generator=generator)
    boxes = [torch.tensor([[10.0, 12.0, 60.0, 70.0], [70.0, 20.0, 120.0, 90.0]]),
             torch.tensor([[30.0, 30.0, 100.0, 110.0]]),
             torch.zeros((0, 4)), torch.zeros((0, 4))]
    labels = [torch.tensor([0, 2]), torch.tensor([1]),
              torch.zeros((0,), dtype=torch.int64), torch.zeros((0,), dtype=torch.int64)]
    return images, boxes, labels


def _gradients(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad.detach().clone() for name, p in model.named_parameters()
            if p.grad is not None}


def _worker(rank: int, port: int, out_dir: str, train_args: tuple) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD, timeout=timedelta(seconds=120))
    try:
        from nanodet_plus.engine.trainer import _TrainStep

        images, boxes, labels = _global_batch()
        share = slice(2 * rank, 2 * rank + 2)  # rank 1 gets the two negative images
        results = {}
        for epoch in (0, 10):
            model = _tiny_model()
            ddp = torch.nn.parallel.DistributedDataParallel(_TrainStep(model))
            losses = ddp(images[share], boxes[share], labels[share], epoch)
            losses["loss"].backward()
            results[epoch] = _gradients(model)
            del ddp, losses
        if rank == 0:
            torch.save(results, Path(out_dir) / "ddp_grads.pt")
        from nanodet_plus.engine.trainer import train

        config, overrides, project = train_args
        result = train(config, overrides, project=project, name="ddp")
        if rank == 0:
            torch.save({"steps": result.steps, "run_dir": str(result.run_dir),
                        "best_metric": result.best_metric}, Path(out_dir) / "ddp_train.pt")
        dist.barrier()  # leave together: gloo can abort a rank whose peer has gone
    finally:
        gc.collect()  # DDP wrappers hold the group; free them while the interpreter is alive
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_gradients_equal_single_process_and_training_runs(
    tmp_path: Path, tiny_dataset: tuple[Path, Path], tiny_config: Callable[..., list[str]]
) -> None:
    overrides = [*tiny_config(*tiny_dataset, epochs=1), "train.batch_size=2"]
    context = mp.start_processes(
        _worker, args=(_free_port(), str(tmp_path), ("nanodet-plus-m_320", overrides, tmp_path)),
        nprocs=WORLD, join=False, start_method="spawn",
    )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f"DDP workers did not finish within {TIMEOUT_S} s (hang?)")
    finally:
        for process in context.processes:
            if process.is_alive():
                os.kill(process.pid, 9)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        images, boxes, labels = _global_batch()
        ddp_grads = torch.load(tmp_path / "ddp_grads.pt", weights_only=True)
        for epoch in (0, 10):
            model = _tiny_model()
            model.training_losses(images, boxes, labels, epoch=epoch)["loss"].backward()
            expected = _gradients(model)
            assert expected.keys() == ddp_grads[epoch].keys()
            for name, grad in expected.items():
                torch.testing.assert_close(ddp_grads[epoch][name], grad, rtol=1e-4, atol=1e-7,
                                           msg=f"epoch {epoch}: gradient of {name} differs")
    finally:
        torch.set_num_threads(threads)

    trained = torch.load(tmp_path / "ddp_train.pt", weights_only=True)
    assert trained["steps"] == 2  # 8 images, 2 ranks, batch 2 per rank
    run_dir = Path(trained["run_dir"])
    assert (run_dir / "last.ckpt").is_file() and (run_dir / "metrics.csv").is_file()
    assert trained["best_metric"] is not None
