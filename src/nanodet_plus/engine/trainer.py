"""The training loop: one process (CPU or one GPU) or ``torchrun`` DDP, resumable exactly.

Per optimizer step, in the official order (reference-spec §11): set the learning rate (warmup
override) -> forward + losses -> backward -> clip the total gradient norm -> AdamW step ->
zero the gradients -> EMA update. Validation runs on the EMA weights. Every file is written by
rank 0, atomically.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import gc
import logging
import math
import os
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nanodet_plus.config.loader import keys_set_by_user, load_config, save_config, to_dict
from nanodet_plus.config.schema import Config
from nanodet_plus.config.validation import validate
from nanodet_plus.data.datasets.base import RecordSet
from nanodet_plus.data.loader import TrainBatch
from nanodet_plus.engine.checkpoint import (
    load_checkpoint,
    save_checkpoint,
    save_weights,
    set_rng_state,
)
from nanodet_plus.engine.distributed import (
    DistContext,
    any_rank,
    broadcast_object,
    mean_over_ranks,
    setup_distributed,
    teardown_distributed,
    wait_for_all_ranks,
)
from nanodet_plus.engine.ema import ModelEMA
from nanodet_plus.engine.logger import (
    LOSS_TERMS,
    TensorBoardWriter,
    plot_history,
    write_metrics_csv,
)
from nanodet_plus.engine.optim import LRSchedule, build_optimizer
from nanodet_plus.errors import FileMissingError, TrainingError, UsageError
from nanodet_plus.models.detector import NanoDetPlus
from nanodet_plus.utils.files import atomic_copy
from nanodet_plus.utils.paths import increment_path

logger = logging.getLogger(__name__)

NO_POSITIVE_WARN_STEPS = 20
TB_LOG_EVERY = 10


@dataclass
class TrainResult:
    """Outcome of :func:`train`.

    ``best_path`` / ``last_path`` are deploy weight files (EMA weights, ``{"state_dict"}``,
    no aux modules) loadable with ``load_weights`` or the official code; ``best_path`` is the
    last weights when no validation ran. ``stop_reason``: completed, early_stop, interrupted.
    """

    best_metric: float | None
    run_dir: Path
    best_path: Path
    last_path: Path
    last_checkpoint: Path
    best_checkpoint: Path | None = None
    best_epoch: int | None = None
    epochs_completed: int = 0
    steps: int = 0
    stop_reason: str = "completed"
    history: list[dict[str, Any]] = field(default_factory=list)


def train(
    config: Config | str | Path | dict,
    overrides: list[str] | None = None,
    *,
    resume: str | Path | None = None,
    weights: str | Path | None = None,
    device: str | None = None,
    project: str | Path | None = None,
    name: str | None = None,
    check_data: bool = True,
    model: NanoDetPlus | None = None,
    train_set: RecordSet | None = None,
    val_set: RecordSet | None = None,
) -> TrainResult:
    """Train a detector from a config (preset name, YAML, dict or Config).

    ``resume`` is a ``last.ckpt`` (or ``auto``: the newest one under ``project``); training then
    continues exactly where it stopped, in the same run folder, with the checkpoint's config
    (``overrides`` still apply, e.g. ``train.epochs=400``). ``weights`` initialises the model
    from any weights file (official or ours, any class count). ``device`` overrides
    ``train.device``. Each new run gets a new folder ``project/name{,2,3...}``. API users may
    give the ``model`` to train (its own model config replaces the config's) and the
    ``train_set`` / ``val_set`` records instead of the config's dataset files.
    """
    trainer = Trainer(config, overrides, resume=resume, weights=weights, device=device,
                      project=project, name=name, check_data=check_data, model=model,
                      train_set=train_set, val_set=val_set)
    return trainer.fit()


def find_last_checkpoint(project: str | Path) -> Path:
    """The most recently written ``last.ckpt`` under ``project`` (for ``--resume auto``)."""
    candidates = sorted(Path(project).glob("*/last.ckpt"), key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise FileMissingError(f"--resume auto: no run with a last.ckpt under {project}")
    return candidates[-1]


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag that the loop checks after each optimizer step."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal_name is not None:  # a second signal: stop at once
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        logger.warning("%s received: saving a resumable checkpoint after this step",
                       self.signal_name)

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _TrainStep(nn.Module):
    """Forward + losses as one module call, so that DistributedDataParallel can wrap it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor, gt_boxes: list[torch.Tensor],
                gt_labels: list[torch.Tensor], epoch: int,
                guide: bool = True) -> dict[str, torch.Tensor]:
        return self.model.training_losses(images, gt_boxes, gt_labels, epoch=epoch,
                                          guide=guide)


class Trainer:
    """State and loop of one training run; use :func:`train` unless you need the pieces."""

    def __init__(
        self,
        config: Config | str | Path | dict,
        overrides: list[str] | None = None,
        *,
        resume: str | Path | None = None,
        weights: str | Path | None = None,
        device: str | None = None,
        project: str | Path | None = None,
        name: str | None = None,
        check_data: bool = True,
        model: NanoDetPlus | None = None,
        train_set: RecordSet | None = None,
        val_set: RecordSet | None = None,
    ) -> None:
        self.checkpoint: dict | None = None
        self.user_keys: frozenset[str] = frozenset()  # for the auto recipe of a new run
        if resume is None:
            given = {"model"} if model is not None else set()  # a given model sets the section
            self.user_keys = keys_set_by_user(config, overrides) | given
        else:
            path = find_last_checkpoint(project or _config_field(config, "save_dir")) \
                if str(resume) == "auto" else Path(resume)
            self.checkpoint = load_checkpoint(path)
            self.resume_path = path
            config = self.checkpoint["config"]
            if weights is not None:
                logger.warning("--weights %s ignored: resuming restores the checkpoint's own "
                               "weights", weights)
        if device is not None:
            overrides = [*(overrides or []), f"train.device={device}"]
        self.config = load_config(config, overrides)
        if model is not None:
            self.config = _with_model_config(self.config, model)
        self.given_model = model
        self.given_sets = (train_set, val_set)
        self.weights = weights
        self.project = project
        self.name = name
        self.check_data = check_data
        self.dist: DistContext = setup_distributed(self.config.train.device)
        if not self.dist.is_main:
            logging.getLogger("nanodet_plus").setLevel(logging.WARNING)
        self.epoch = 0  # index of the epoch that runs next
        self.batch_in_epoch = 0  # batches of that epoch already done (resume mid-epoch)
        self.step = 0  # optimizer steps done
        self.best_metric: float | None = None
        self.best_epoch: int | None = None
        self.history: list[dict[str, Any]] = []
        self.zero_positive_run = 0
        self.warned_no_positive = False
        self.skipped_steps = 0
        self.partial_epoch: dict[str, Any] | None = None
        self.total_epochs = self.config.train.epochs  # shortened by train.time_budget_s
        self.seconds_before_resume = 0.0  # training time spent before this process resumed
        self.agm_stopped_epoch: int | None = None  # where model.aux_head.guide_share ended

    # ----------------------------------------------------------------- set-up
    def _seed(self) -> None:
        seed = self.config.train.seed
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def _setup(self) -> None:
        self._seed()
        self._setup_data()
        cfg = self.config
        model = self._build_model()
        model.to(self.dist.device)
        self.memory_format = (torch.channels_last if cfg.train.channels_last
                              else torch.contiguous_format)
        model.to(memory_format=self.memory_format)
        if cfg.train.sync_bn and self.dist.distributed:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model
        self.ema = ModelEMA(model, cfg.train.ema_decay, cfg.train.ema_ramp)
        self.optimizer = build_optimizer(model, cfg.train.optimizer)
        self.schedule = LRSchedule.from_config(cfg.train)
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.train.precision)
        if self.amp_dtype is torch.float16 and self.dist.device.type != "cuda":
            raise TrainingError("train.precision=fp16 needs a CUDA device; use bf16 or fp32")
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=self.amp_dtype is torch.float16 and self.dist.device.type == "cuda"
        )
        if self.checkpoint is not None:
            self._restore(self.checkpoint)
        self._wrap_step_module()
        self._setup_run_dir()

    def _wrap_step_module(self) -> None:
        """The module each step calls; DistributedDataParallel syncs the parameters that
        require gradients at the time it is built."""
        step_module: nn.Module = _TrainStep(self.model)
        if self.dist.distributed:
            device_ids = [self.dist.device.index] if self.dist.device.type == "cuda" else None
            step_module = nn.parallel.DistributedDataParallel(step_module, device_ids=device_ids)
        self.step_module = step_module

    def _setup_data(self) -> None:
        from nanodet_plus.engine.data import TrainData, read_record_sets

        train_set, val_set = self.given_sets
        if train_set is None:
            train_set, val_set = read_record_sets(self.config, self.dist, self.check_data)
        names = self.config.class_names or train_set.class_names
        self.config = config_with_classes(self.config, list(names))
        if self.config.train.recipe == "auto" and self.checkpoint is None:
            self._apply_auto_recipe(train_set.records)
        self.data = TrainData.build(self.config, self.dist, train_set=train_set, val_set=val_set)

    def _apply_auto_recipe(self, records: list) -> None:
        """Fit what the user did not set to the data, budget and machine; log the table."""
        from nanodet_plus.engine.recipe import apply_auto_recipe, format_recipe

        self.config, decided = apply_auto_recipe(self.config, records, self.user_keys,
                                                 self.dist.world_size,
                                                 from_weights=self.weights is not None)
        logger.info("train.recipe auto (train.recipe=official for the official values; any "
                    "key you set wins):\n%s", format_recipe(decided, self.config))

    def _build_model(self) -> NanoDetPlus:
        """The model given to the trainer or one built from the config, with ``weights``."""
        cfg = self.config
        if self.given_model is None:
            from nanodet_plus.models.factory import build_model

            model = build_model(cfg.model)
        else:
            model = self.given_model
            _check_model_classes(model, cfg.class_names or [])
        if self.weights is not None and self.checkpoint is None:
            from nanodet_plus.models.weights import load_weights

            logger.info("%s", load_weights(model, self.weights, strict=False).summary())
        return model

    def _setup_run_dir(self) -> None:
        cfg = self.config
        run_dir: Path | None = None
        if self.dist.is_main:
            if self.checkpoint is not None:
                run_dir = self.resume_path.parent
            else:
                run_dir = increment_path(self.project or cfg.save_dir, self.name or cfg.name)
                save_config(cfg, run_dir / "config.yaml")
        self.run_dir = Path(str(broadcast_object(str(run_dir), self.dist)))
        self.tensorboard = TensorBoardWriter(self.run_dir if self.dist.is_main else None)

    def _restore(self, checkpoint: dict) -> None:
        saved_world = checkpoint.get("world_size")
        if saved_world is not None and int(saved_world) != self.dist.world_size:
            raise TrainingError(
                f"{self.resume_path} was written by a run of {saved_world} process(es) and this "
                f"one has {self.dist.world_size}: the batch of a step and the order of the "
                f"samples would change. Resume with --nproc {saved_world} (or torchrun with "
                f"{saved_world} processes in all)"
            )
        self.model.load_state_dict(checkpoint["model"])
        self.ema.load_state_dict(checkpoint["ema"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        if checkpoint.get("scaler"):
            self.scaler.load_state_dict(checkpoint["scaler"])
        self.epoch = int(checkpoint["epoch"])
        self.batch_in_epoch = int(checkpoint.get("batch_in_epoch", 0))
        self.step = int(checkpoint["step"])
        self.best_metric = checkpoint.get("best_metric")
        self.best_epoch = checkpoint.get("best_epoch")
        self.history = list(checkpoint.get("history", []))
        self.partial_epoch = checkpoint.get("partial_epoch")
        saved_total = checkpoint.get("total_epochs")
        if self.config.train.time_budget_s > 0 and saved_total is not None:
            # the count fitted to the budget so far; a train.epochs override still caps it
            self._set_total_epochs(min(int(saved_total), self.config.train.epochs))
        self.seconds_before_resume = float(checkpoint.get("train_seconds", 0.0))
        self.agm_stopped_epoch = checkpoint.get("agm_stopped_epoch")
        if self.agm_stopped_epoch is not None:
            self._freeze_agm()
        logger.info("resuming %s at epoch %d (batch %d), step %d", self.resume_path,
                    self.epoch + 1, self.batch_in_epoch, self.step)
        if self.epoch >= self.total_epochs and self.dist.is_main:
            logger.warning(
                "%s: the run already finished its last epoch (%d); nothing to resume. To train "
                "longer, start a new run from its weights: nanodet train CONFIG --weights %s",
                self.resume_path, self.total_epochs, self.resume_path.parent / "model_best.pth")

    # ------------------------------------------------------------------ loop
    def fit(self) -> TrainResult:
        """Run the remaining epochs; returns where the results are."""
        try:
            self._setup()
            if self.checkpoint is not None and self.dist.is_main:
                set_rng_state(self.checkpoint["rng"])
            with _StopRequest() as stop:
                stop_reason = self._run_epochs(stop)
            result = self._finish(stop_reason)
            wait_for_all_ranks(self.dist)
            return result
        finally:
            tensorboard = getattr(self, "tensorboard", None)
            if tensorboard is not None:
                tensorboard.close()
            if self.dist.distributed:
                # DDP holds the process group: release it while the interpreter is alive
                self.step_module = None
                gc.collect()
            teardown_distributed(self.dist)

    def _run_epochs(self, stop: _StopRequest) -> str:
        cfg = self.config.train
        self.run_start = time.perf_counter()
        self.run_start_epoch = self.epoch
        while self.epoch < self.total_epochs:
            self._end_guidance_when_due()
            if not self._train_epoch(stop):
                return "interrupted"
            self._fit_time_budget()
            metrics = self._maybe_validate()
            self._end_epoch(metrics)
            self.epoch += 1
            self.batch_in_epoch = 0
            self._save_epoch_checkpoints(metrics)
            if any_rank([stop.signal_name is not None], self.dist)[0]:
                self._log_resume_hint(stop.signal_name or "signal")
                return "interrupted"
            if self._patience_exhausted():
                logger.info("early stopping: no mAP improvement for %d epochs (best %.4f at "
                            "epoch %d)", cfg.patience, self.best_metric or 0.0,
                            (self.best_epoch or 0) + 1)
                return "early_stop"
        return "completed"

    def _train_epoch(self, stop: _StopRequest) -> bool:
        """One epoch (or its rest after a resume); False when a stop signal ended it early."""
        epoch, accumulate = self.epoch, self.config.train.accumulate
        self.model.train()
        batches = self.data.batches(epoch, self.batch_in_epoch)
        total_batches = self.batch_in_epoch + len(batches)
        meter = EpochMeter.resume(self.partial_epoch)
        self.partial_epoch = None
        progress = self._progress(batches, epoch, total_batches)
        lr = self.optimizer.param_groups[0]["lr"]
        micro = 0  # micro-batches accumulated towards the next optimizer step
        for batch in progress:
            last_batch = self.batch_in_epoch + 1 == total_batches
            if micro == 0:
                lr = self.schedule.apply(self.optimizer, epoch, self.step)
            syncing = micro + 1 == accumulate or last_batch
            values = self._train_step(batch, epoch, syncing)
            self.batch_in_epoch += 1
            if values is None:  # non-finite loss or gradient, skipped: start accumulating anew
                micro = 0
                continue
            micro = 0 if syncing else micro + 1
            meter.add(values, batch["img"].shape[0] * self.dist.world_size)
            self._log_step(progress, values, lr, meter, syncing)
            if micro == 0 and not last_batch and any_rank([stop.signal_name is not None],
                                                          self.dist)[0]:
                self.partial_epoch = meter.state()
                _close(progress)
                self._save_interrupt_checkpoint(stop.signal_name or "signal")
                return False
        _close(progress)
        self.epoch_stats = meter.summary(lr, self.dist)
        return True

    def _end_guidance_when_due(self) -> None:
        """Stop the AGM for good once ``model.aux_head.guide_share`` of the epochs are done."""
        aux = self.config.model.aux_head
        if self.model.aux_head is None or aux is None or self.agm_stopped_epoch is not None:
            return
        if self.epoch < math.ceil(aux.guide_share * self.total_epochs):
            return
        self.agm_stopped_epoch = self.epoch
        logger.info("epoch %d: the AGM stops (model.aux_head.guide_share %g of %d epochs); the "
                    "assigner reads the head's own predictions from now on", self.epoch + 1,
                    aux.guide_share, self.total_epochs)
        self._freeze_agm()
        self._wrap_step_module()

    def _freeze_agm(self) -> None:
        for module in (self.model.aux_fpn, self.model.aux_head):
            if module is not None:
                module.requires_grad_(False)

    def _train_step(self, batch: TrainBatch, epoch: int, syncing: bool) -> dict[str, float] | None:
        """Forward, backward and (when ``syncing``) the optimizer step of one micro-batch.

        Returns the logged values (losses, ``num_pos``), or None when a non-finite loss or
        gradient made the step be skipped (``train.nan_policy=skip``).
        """
        device = self.dist.device
        images = batch["img"].to(device, non_blocking=True).contiguous(
            memory_format=self.memory_format)
        gt_boxes = [boxes.to(device) for boxes in batch["gt_bboxes"]]
        gt_labels = [labels.to(device) for labels in batch["gt_labels"]]
        no_sync = getattr(self.step_module, "no_sync", None)
        sync_context = no_sync() if (no_sync is not None and not syncing) \
            else contextlib.nullcontext()
        with sync_context:
            with self._autocast():
                losses = self.step_module(images, gt_boxes, gt_labels, epoch,
                                          self.agm_stopped_epoch is None)
            loss = losses["loss"]
            (bad_loss,) = any_rank([not bool(torch.isfinite(loss.detach()))], self.dist)
            if bad_loss:
                self._non_finite(losses, "loss")
                self.optimizer.zero_grad(set_to_none=True)
                return None
            self.scaler.scale(loss / self.config.train.accumulate).backward()
        if syncing and not self._optimizer_step():
            return None
        scalars = {k: v.detach().float() for k, v in losses.items() if v.numel() == 1}
        return dict(zip(scalars, torch.stack(list(scalars.values())).tolist()))

    def _log_step(self, progress: Any, values: dict[str, float], lr: float,
                  meter: EpochMeter, syncing: bool) -> None:
        """Progress bar, TensorBoard and the no-positives watch after one micro-batch."""
        self._track_positives(values)
        if not self.dist.is_main:
            return
        if hasattr(progress, "set_postfix"):
            progress.set_postfix(_postfix(values, lr, meter.images_per_s()), refresh=False)
        if syncing and self.step % TB_LOG_EVERY == 0:
            self.tensorboard.scalars({**values, "lr": lr}, self.step, "train")

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.dist.device.type, dtype=self.amp_dtype)

    def _optimizer_step(self) -> bool:
        """Clip, step, zero, EMA; False when the gradient norm was not finite and skipped."""
        clip = self.config.train.grad_clip
        self.scaler.unscale_(self.optimizer)
        if clip and clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            if not self.scaler.is_enabled() and not bool(torch.isfinite(norm)):
                self._non_finite({"grad_norm": norm}, "grad_norm")
                self.optimizer.zero_grad(set_to_none=True)
                return False
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.ema.update(self.model, self.step)
        return True

    def _non_finite(self, losses: dict[str, torch.Tensor], fallback: str) -> None:
        """Stop (default) or skip the step after a NaN/inf loss, naming the term."""
        terms = [k for k in (*LOSS_TERMS, "grad_norm") if k in losses and k != "loss"
                 and not bool(torch.isfinite(losses[k].detach()).all())]
        term = terms[0] if terms else fallback
        value = float(losses[term].detach()) if term in losses else float("nan")
        where = f"epoch {self.epoch + 1}, step {self.step}, batch {self.batch_in_epoch}"
        if self.config.train.nan_policy == "skip":
            self.skipped_steps += 1
            logger.warning("non-finite %s = %s at %s: step skipped (%d so far)", term, value,
                           where, self.skipped_steps)
            return
        raise TrainingError(
            f"non-finite {term} = {value} at {where}; training stopped without saving "
            "(the last good checkpoint is kept). Lower train.optimizer.lr, check the labels, "
            "or set train.nan_policy=skip"
        )

    def _track_positives(self, values: dict[str, float]) -> None:
        if "num_pos" not in values:
            return
        self.zero_positive_run = self.zero_positive_run + 1 if values["num_pos"] <= 0 else 0
        if self.zero_positive_run >= NO_POSITIVE_WARN_STEPS and not self.warned_no_positive:
            self.warned_no_positive = True
            logger.warning(
                "%d batches in a row without a single positive sample: the boxes probably do "
                "not reach the network. Likely causes: labels outside the image or in the "
                "wrong format (xywh vs xyxy, normalised vs pixels), a wrong class mapping, "
                "or objects too small for the strides %s at input %s",
                self.zero_positive_run, tuple(self.config.model.head.strides),
                tuple(self.config.data.input_size),
            )

    def _progress(self, loader: Any, epoch: int, total: int) -> Any:
        cfg = self.config.train
        if not (self.dist.is_main and cfg.progress):
            return loader
        from tqdm import tqdm

        return tqdm(loader, total=total, initial=self.batch_in_epoch, leave=False,
                    desc=f"epoch {epoch + 1}/{self.total_epochs}", dynamic_ncols=True, unit="batch")

    # ------------------------------------------------------------ validation
    def _validation_due(self) -> bool:
        cfg = self.config.train
        if not self.data.has_val:
            return False
        done = self.epoch + 1
        return done == self.total_epochs or (cfg.val_interval > 0 and done % cfg.val_interval == 0)

    def _maybe_validate(self) -> dict[str, float] | None:
        if not self._validation_due():
            return None
        metrics = None
        if self.dist.is_main:
            metrics = self.data.evaluate(self.ema.module, self.config, self.dist.device)
        metrics = broadcast_object(metrics, self.dist)
        assert isinstance(metrics, dict)
        return metrics

    def _end_epoch(self, metrics: dict[str, float] | None) -> None:
        row: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.step, **self.epoch_stats}
        improved = False
        if metrics is not None:
            row.update({k: metrics.get(k) for k in ("mAP", "AP_50", "AP_75")})
            value = float(metrics.get("mAP", float("nan")))
            if math.isfinite(value) and (self.best_metric is None or value > self.best_metric):
                self.best_metric, self.best_epoch, improved = value, self.epoch, True
        self.improved = improved
        self.history.append(row)
        if not self.dist.is_main:
            return
        write_metrics_csv(self.history, self.run_dir / "metrics.csv")
        self.tensorboard.scalars({k: row[k] for k in LOSS_TERMS if k in row}, self.epoch + 1,
                                 "epoch")
        if metrics is not None:
            self.tensorboard.scalars(metrics, self.epoch + 1, "val")
        done = self.epoch + 1 - self.run_start_epoch
        per_epoch = (time.perf_counter() - self.run_start) / max(done, 1)
        eta = per_epoch * (self.total_epochs - self.epoch - 1)
        text = (f"epoch {self.epoch + 1}/{self.total_epochs}: "
                f"loss {row.get('loss', float('nan')):.4f}"
                f" lr {row['lr']:.3g} {row['images_per_s']:.1f} img/s")
        if metrics is not None:
            text += (f" | mAP {metrics.get('mAP', float('nan')):.4f} AP50 "
                     f"{metrics.get('AP_50', float('nan')):.4f}"
                     f" (best {self.best_metric or 0.0:.4f}){' *' if improved else ''}")
        logger.info("%s | ETA %s", text, _duration(eta))

    def _training_seconds(self) -> float:
        """Training time of the whole run so far, including time before a resume."""
        return self.seconds_before_resume + time.perf_counter() - self.run_start

    def _fit_time_budget(self) -> None:
        """Re-estimate the epoch count after an epoch so the run ends within the budget."""
        budget = self.config.train.time_budget_s
        if budget <= 0:
            return
        elapsed = self._training_seconds()
        total = epochs_within_budget(budget, elapsed, self.epoch + 1, self.config.train.epochs)
        total = int(broadcast_object(total, self.dist))  # every rank stops at the same epoch
        if total != self.total_epochs:
            logger.info("time budget %s: %d epochs instead of %d (%s per epoch so far)",
                        _duration(budget), total, self.total_epochs,
                        _duration(elapsed / (self.epoch + 1)))
            self._set_total_epochs(total)

    def _set_total_epochs(self, total: int) -> None:
        """The run's epoch count and the length of its cosine schedule, kept together."""
        self.total_epochs = total
        self.schedule.epochs = max(total, 1)

    def _patience_exhausted(self) -> bool:
        patience = self.config.train.patience
        if patience <= 0 or self.best_epoch is None:
            return False
        return self.epoch - 1 - self.best_epoch >= patience

    # ----------------------------------------------------------- checkpoints
    def _checkpoint_contents(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "step": self.step,
            "config": to_dict(self.config),
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "partial_epoch": self.partial_epoch,
            "total_epochs": self.total_epochs,
            "train_seconds": self._training_seconds(),
            "agm_stopped_epoch": self.agm_stopped_epoch,
            "world_size": self.dist.world_size,
        }

    @property
    def last_checkpoint(self) -> Path:
        return self.run_dir / "last.ckpt"

    def _save_epoch_checkpoints(self, metrics: dict[str, float] | None) -> None:
        if not self.dist.is_main:
            return
        save_checkpoint(self.last_checkpoint, **self._checkpoint_contents())
        if self.improved:
            atomic_copy(self.last_checkpoint, self.run_dir / "best.ckpt")
            save_weights(self.ema.state_dict(), self.run_dir / "model_best.pth",
                         to_dict(self.config))
        period = self.config.train.save_period
        if period > 0 and self.epoch % period == 0:
            atomic_copy(self.last_checkpoint, self.run_dir / f"epoch_{self.epoch}.ckpt")

    def _save_interrupt_checkpoint(self, reason: str) -> None:
        if self.dist.is_main:
            save_checkpoint(self.last_checkpoint, **self._checkpoint_contents())
        self._log_resume_hint(reason)

    def _log_resume_hint(self, reason: str) -> None:
        if self.dist.is_main:
            command = f"nanodet train --resume {self.last_checkpoint}"
            if os.environ.get("TORCHELASTIC_RUN_ID"):
                command = f"the same torchrun command with --resume {self.last_checkpoint}"
            elif self.dist.world_size > 1:
                command += f" --nproc {self.dist.world_size}"
            logger.warning("%s: saved %s (epoch %d, batch %d); continue with %s", reason,
                           self.last_checkpoint, self.epoch + 1, self.batch_in_epoch, command)

    def _finish(self, stop_reason: str) -> TrainResult:
        last_weights = self.run_dir / "model_last.pth"
        best_weights = self.run_dir / "model_best.pth"
        best_checkpoint = self.run_dir / "best.ckpt"
        if self.dist.is_main:
            save_weights(self.ema.state_dict(), last_weights, to_dict(self.config))
            if stop_reason != "interrupted" and self.config.train.plots:
                plot_history(self.history, self.run_dir / "plots")
        if self.best_metric is None:
            best_weights, best_checkpoint_or_none = last_weights, None
        else:
            best_checkpoint_or_none = best_checkpoint
        result = TrainResult(
            best_metric=self.best_metric, run_dir=self.run_dir, best_path=best_weights,
            last_path=last_weights, last_checkpoint=self.last_checkpoint,
            best_checkpoint=best_checkpoint_or_none, best_epoch=self.best_epoch,
            epochs_completed=self.epoch, steps=self.step, stop_reason=stop_reason,
            history=list(self.history),
        )
        if self.dist.is_main:
            metric = ("no validation" if self.best_metric is None else
                      f"best mAP {self.best_metric:.4f} at epoch {(self.best_epoch or 0) + 1}")
            logger.info("training %s after %d epochs (%d steps): %s; weights %s; run folder %s",
                        stop_reason.replace("_", " "), self.epoch, self.step, metric,
                        best_weights, self.run_dir)
        return result


def _with_model_config(config: Config, model: NanoDetPlus) -> Config:
    """``config`` describing the model given to the trainer (its model section replaced)."""
    if config.class_names is not None:
        _check_model_classes(model, config.class_names)
    resolved = dataclasses.replace(config, model=copy.deepcopy(model.config))
    validate(resolved)
    return resolved


def _check_model_classes(model: NanoDetPlus, class_names: list[str]) -> None:
    if model.num_classes != len(class_names):
        raise UsageError(
            f"the model given has {model.num_classes} classes but the data has "
            f"{len(class_names)}: {', '.join(class_names)}"
        )


def config_with_classes(config: Config, class_names: list[str]) -> Config:
    """``config`` with the dataset's class names and count: a new, validated config (the
    given one is left as it is), or ``config`` itself when it already matches."""
    names = list(class_names)
    if config.class_names is not None and list(config.class_names) == names \
            and config.model.num_classes == len(names):
        return config
    if config.class_names is None:
        logger.info("class names from the dataset: %s", ", ".join(names))
    if config.model.num_classes != len(names):
        logger.info("model.num_classes %d -> %d to match the dataset's classes",
                    config.model.num_classes, len(names))
    model = dataclasses.replace(config.model, num_classes=len(names))
    resolved = dataclasses.replace(config, model=model, class_names=names)
    validate(resolved)
    return resolved


class EpochMeter:
    """Running sums of one epoch's logged values; its state survives a mid-epoch resume."""

    def __init__(self, sums: dict[str, float] | None = None, counted: int = 0, images: int = 0,
                 seconds: float = 0.0) -> None:
        self.sums = dict(sums or {})
        self.counted = counted
        self.images = images
        self.start = time.perf_counter() - seconds

    @classmethod
    def resume(cls, state: dict[str, Any] | None) -> EpochMeter:
        """A meter that goes on from :meth:`state` (None: a new epoch)."""
        state = state or {}
        return cls(state.get("sums"), int(state.get("counted", 0)), int(state.get("images", 0)),
                   float(state.get("seconds", 0.0)))

    def add(self, values: dict[str, float], images: int) -> None:
        for key, value in values.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.counted += 1
        self.images += images

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def images_per_s(self) -> float:
        return self.images / max(self.elapsed(), 1e-9)

    def state(self) -> dict[str, Any]:
        """What a checkpoint stores to resume the epoch's statistics."""
        return {"sums": self.sums, "counted": self.counted, "images": self.images,
                "seconds": self.elapsed()}

    def summary(self, lr: float, dist: DistContext) -> dict[str, float]:
        """Mean of each value over the epoch and the ranks, with lr, time and throughput."""
        elapsed = self.elapsed()
        means = {key: value / max(self.counted, 1) for key, value in self.sums.items()}
        stats = mean_over_ranks(means, dist)
        stats.update(lr=lr, epoch_time_s=elapsed, images_per_s=self.images / max(elapsed, 1e-9))
        return stats


def _close(progress: Any) -> None:
    if hasattr(progress, "close"):
        progress.close()


def epochs_within_budget(budget_s: float, elapsed_s: float, epochs_done: int,
                         max_epochs: int) -> int:
    """Epochs that fit in ``budget_s`` at the mean pace so far: never fewer than those done,
    never more than ``max_epochs``."""
    if elapsed_s <= 0:
        return max_epochs
    fitting = math.floor(budget_s * epochs_done / elapsed_s)
    return max(epochs_done, min(max_epochs, fitting))


def _postfix(values: dict[str, float], lr: float, images_per_s: float) -> dict[str, str]:
    shown = {"loss": values.get("loss")}
    for key, label in (("loss_qfl", "qfl"), ("loss_bbox", "box"), ("loss_dfl", "dfl")):
        shown[label] = values.get(key)
    text = {k: f"{v:.3f}" for k, v in shown.items() if v is not None}
    text.update(lr=f"{lr:.2e}", img_s=f"{images_per_s:.1f}")
    return text


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _config_field(config: Any, name: str) -> Any:
    if isinstance(config, Config):
        return getattr(config, name)
    return getattr(load_config(config), name)
