"""Training records: per-epoch CSV, TensorBoard events and PNG plots, written by rank 0 only."""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

from nanodet_plus.utils.files import atomic_write

logger = logging.getLogger(__name__)

LOSS_TERMS = ("loss", "loss_qfl", "loss_bbox", "loss_dfl",
              "aux_loss_qfl", "aux_loss_bbox", "aux_loss_dfl")
CSV_COLUMNS = ("epoch", "step", "lr", *LOSS_TERMS, "num_pos", "mAP", "AP_50", "AP_75",
               "epoch_time_s", "images_per_s")


def write_metrics_csv(history: list[dict[str, Any]], path: str | Path) -> Path:
    """One row per epoch, written atomically; metrics not measured that epoch stay empty."""
    with atomic_write(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in history:
            writer.writerow({key: _cell(row.get(key)) for key in CSV_COLUMNS})
    return Path(path)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def plot_history(history: list[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """PNG plots of the losses, learning rate and mAP per epoch (matplotlib, Agg backend)."""
    if not history:
        return []
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        logger.warning("matplotlib is not installed; no plots (pip install 'nanodet-plus[train]')")
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    epochs = [row["epoch"] for row in history]
    written = []

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for term in LOSS_TERMS:
        values = [row.get(term) for row in history]
        if any(_finite(v) for v in values):
            target = axes[0] if term == "loss" else axes[1]
            target.plot(epochs, values, label=term, marker="." if len(epochs) < 30 else None)
    for axis, title in zip(axes, ("total loss", "loss terms")):
        axis.set_xlabel("epoch")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    written.append(_save(figure, out_dir / "losses.png", plt))

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(epochs, [row.get("lr") for row in history], marker=".")
    axis.set_xlabel("epoch")
    axis.set_title("learning rate (end of epoch)")
    axis.grid(alpha=0.3)
    written.append(_save(figure, out_dir / "lr.png", plt))

    measured = [(row["epoch"], row["mAP"], row.get("AP_50")) for row in history
                if _finite(row.get("mAP"))]
    if measured:
        figure, axis = plt.subplots(figsize=(6, 4))
        axis.plot([m[0] for m in measured], [m[1] for m in measured], marker="o", label="mAP")
        if all(_finite(m[2]) for m in measured):
            axis.plot([m[0] for m in measured], [m[2] for m in measured], marker="s",
                      label="AP_50")
        axis.set_xlabel("epoch")
        axis.set_title("validation (EMA weights)")
        axis.grid(alpha=0.3)
        axis.legend()
        written.append(_save(figure, out_dir / "map.png", plt))
    return written


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _save(figure: Any, path: Path, plt: Any) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


class TensorBoardWriter:
    """``SummaryWriter`` when tensorboard is installed, otherwise a silent stand-in."""

    def __init__(self, log_dir: str | Path | None) -> None:
        self.writer = None
        if log_dir is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            logger.warning("tensorboard is not installed; no event files (pip install tensorboard)")
            return
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def scalars(self, values: dict[str, float], step: int, prefix: str) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            if _finite(value):
                self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
