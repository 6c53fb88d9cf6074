"""Training checkpoints and deploy weight files, written atomically and loadable weights-only.

A training checkpoint (``last.ckpt``, ``best.ckpt``) holds everything needed to continue a run
exactly: model, EMA, optimizer, schedule, grad scaler, counters, RNG states and the config.
A deploy weight file holds ``{"state_dict": ...}`` without the training-only aux modules, the
layout of the official released weights (reference-spec §15.1).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nanodet_plus import __version__
from nanodet_plus.errors import CheckpointError, FileMissingError
from nanodet_plus.models.weights import read_checkpoint
from nanodet_plus.utils.files import atomic_write

CHECKPOINT_VERSION = 1
AUX_PREFIXES = ("aux_fpn.", "aux_head.")


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically, so a crash never leaves a torn checkpoint."""
    with atomic_write(path, "wb") as stream:
        torch.save(obj, stream)
    return Path(path)


def rng_state() -> dict:
    """Python, NumPy, torch (and CUDA) generator states as weights-only-loadable values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore generator states saved by :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state((
        numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
        numpy_state["has_gauss"], numpy_state["cached_gaussian"],
    ))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def assert_finite(state_dict: dict, what: str) -> None:
    """Refuse to store weights that contain NaN or infinity."""
    for key, value in state_dict.items():
        if torch.is_tensor(value) and value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(f"{what}: '{key}' contains NaN or inf; not saving")


def save_checkpoint(path: str | Path, **contents: Any) -> Path:
    """Write a training checkpoint atomically; weights with NaN/inf are refused.

    Expected keys: model, ema, optimizer, scheduler, scaler, epoch, step, config, best_metric
    (others are stored as given). RNG states and the format version are added.
    """
    for key in ("model", "ema"):
        if contents.get(key) is not None:
            assert_finite(contents[key], f"{path} [{key}]")
    checkpoint = {"version": CHECKPOINT_VERSION, "package_version": __version__,
                  "rng": rng_state(), **contents}
    return atomic_save(checkpoint, path)


def load_checkpoint(path: str | Path) -> dict:
    """Read a training checkpoint written by :func:`save_checkpoint` (weights-only, on CPU,
    with the one-line errors of :func:`~nanodet_plus.models.weights.read_checkpoint`)."""
    path = Path(path)
    if not path.is_file():
        raise FileMissingError(f"{path}: checkpoint not found")
    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint, dict) or "model" not in checkpoint or "epoch" not in checkpoint:
        raise CheckpointError(
            f"{path}: not a nanodet-plus training checkpoint (use --weights for weight files)"
        )
    return checkpoint


def deploy_state_dict(state_dict: dict) -> dict:
    """The inference weights of a state dict: aux_fpn / aux_head entries removed."""
    return {k: v for k, v in state_dict.items() if not k.startswith(AUX_PREFIXES)}


def save_weights(state_dict: dict, path: str | Path, config: dict | None = None) -> Path:
    """Write a deploy weight file ``{"state_dict": ...}`` without aux modules, atomically.

    ``config`` (the run's resolved config as plain data) is stored beside the weights, so that
    ``export``, ``predict`` and ``val`` find the input size and class names the model was
    trained with; readers of the official layout use ``state_dict`` only.
    """
    weights = {k: v.detach().cpu().clone() for k, v in deploy_state_dict(state_dict).items()}
    assert_finite(weights, str(path))
    contents: dict[str, Any] = {"state_dict": weights}
    if config is not None:
        contents["config"] = config
    return atomic_save(contents, path)
