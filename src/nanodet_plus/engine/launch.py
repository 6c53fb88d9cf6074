"""Data-parallel training on one machine without ``torchrun``: N local processes.

On a CPU, one training process uses its threads poorly (the small depthwise and 1x1
convolutions of NanoDet-Plus scale badly across intra-op threads), while N processes with
cores/N threads each, averaging gradients over gloo, keep every core busy: on a 2-core machine
two 1-thread processes train about 1.4x as many images per second as one 2-thread process
(docs/reference/defaults.md). ``train.batch_size`` is per process, as under ``torchrun``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
from typing import Any

import torch
import torch.multiprocessing as mp

from nanodet_plus.engine.trainer import TrainResult, train
from nanodet_plus.errors import NanoDetError, TrainingError

logger = logging.getLogger(__name__)


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def threads_per_process(nproc: int) -> int:
    """Intra-op threads for each of ``nproc`` processes sharing this machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(nproc, 1))


def _worker(local_rank: int, nproc: int, port: int, threads: int, verbose: bool,
            results: Any, train_kwargs: dict[str, Any]) -> None:
    # Own process group: a terminal Ctrl-C reaches only the parent, which forwards it once.
    os.setpgrp()
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(nproc),
                      RANK=str(local_rank), LOCAL_RANK=str(local_rank),
                      OMP_NUM_THREADS=str(threads))
    torch.set_num_threads(threads)
    from nanodet_plus.utils.logging import setup_logging

    setup_logging(verbose)
    try:
        result = train(**train_kwargs)
    except (NanoDetError, FileNotFoundError, ValueError) as exc:
        # A user error: its message goes to the parent, no traceback.
        results.put(("error", local_rank, str(exc)))
        sys.exit(1)
    if local_rank == 0:
        results.put(("ok", local_rank, result))


def train_local_processes(nproc: int, *, verbose: bool = False, **train_kwargs: Any
                          ) -> TrainResult:
    """Run :func:`train` in ``nproc`` local data-parallel processes; rank 0's result.

    ``train_kwargs`` are those of :func:`train`. A process that fails stops the others and
    raises :class:`TrainingError` with its error; SIGINT/SIGTERM are passed on to every process
    so that rank 0 writes its resumable checkpoint first.
    """
    if nproc < 2:
        return train(**train_kwargs)
    if os.environ.get("WORLD_SIZE", "1") != "1":
        raise TrainingError("--nproc starts its own processes; under torchrun leave it out")
    threads = threads_per_process(nproc)
    port = free_port()
    logger.info("training in %d local processes, %d thread(s) each (gloo on CPU); "
                "train.batch_size is per process", nproc, threads)
    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    processes = mp.start_processes(
        _worker, args=(nproc, port, threads, verbose, results, train_kwargs),
        nprocs=nproc, join=False, start_method="spawn",
    )

    def forward_signal(signum: int, frame: Any) -> None:
        for pid in processes.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    previous = {sig: signal.signal(sig, forward_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    failure: str | None = None
    try:
        while not processes.join():
            pass
    except mp.ProcessRaisedException as exc:
        lines = str(exc).strip().splitlines()
        failure = lines[-1] if lines else str(exc)
    except mp.ProcessExitedException as exc:
        failure = str(exc)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    outcomes = []
    while not results.empty():
        outcomes.append(results.get())
    errors = [(rank, message) for kind, rank, message in outcomes if kind == "error"]
    if errors:
        rank, message = min(errors)
        raise TrainingError(f"training process {rank}: {message}")
    if failure is not None:
        raise TrainingError(f"a training process failed: {failure}")
    for kind, _, result in outcomes:
        if kind == "ok":
            return result
    raise TrainingError("the training processes ended without a result from rank 0")
