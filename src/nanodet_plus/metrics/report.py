"""Plain-text tables of an evaluation summary (the dict ``evaluate`` returns)."""

from __future__ import annotations

from collections.abc import Sequence

from nanodet_plus.metrics.coco_eval import STAT_NAMES


def _percent(value: float | None) -> str:
    """Six-wide percentage, or n/a for COCO's undefined values (None or -1)."""
    if value is None or value < 0:
        return "   n/a"
    return f"{100 * value:6.2f}"


def stats_table(summary: dict) -> str:
    """The 12 COCO statistics, one per line, in percent."""
    names = [name for name in STAT_NAMES if name in summary]
    width = max(len(name) for name in names)
    lines = [f"{'metric':<{width}}  {'value':>6}"]
    lines += [f"{name:<{width}}  {_percent(summary[name])}" for name in names]
    return "\n".join(lines)


def per_class_table(per_class: Sequence[dict]) -> str:
    """Per-class ground-truth count, AP50 and AP (0.50:0.95) in percent."""
    width = max([len("class"), *(len(row["name"]) for row in per_class)])
    lines = [f"{'class':<{width}}  {'gt':>6}  {'AP50':>6}  {'AP':>6}"]
    for row in per_class:
        lines.append(
            f"{row['name']:<{width}}  {row['num_gt']:>6}  "
            f"{_percent(row['AP_50'])}  {_percent(row['AP'])}"
        )
    return "\n".join(lines)


def prf_table(prf: dict) -> str:
    """Per-class and overall counts and precision / recall / F1 at one score threshold."""
    rows = prf["per_class"]
    width = max([len("class"), *(len(row["name"]) for row in rows)])
    lines = [f"{'class':<{width}}  {'gt':>6}  {'tp':>6}  {'fp':>6}  {'P':>6}  {'R':>6}  {'F1':>6}"]
    for row in [*rows, {"name": "all", **_totals(prf)}]:
        lines.append(
            f"{row['name']:<{width}}  {row['num_gt']:>6}  {row['tp']:>6}  {row['fp']:>6}  "
            f"{_percent(row['precision'])}  {_percent(row['recall'])}  {_percent(row['f1'])}"
        )
    return "\n".join(lines)


def _totals(prf: dict) -> dict:
    rows = prf["per_class"]
    return {
        "num_gt": sum(row["num_gt"] for row in rows),
        "tp": sum(row["tp"] for row in rows),
        "fp": sum(row["fp"] for row in rows),
        "precision": prf["precision"],
        "recall": prf["recall"],
        "f1": prf["f1"],
    }


def format_report(summary: dict) -> str:
    """COCO stats, per-class AP and P/R/F1 tables of one evaluation, separated by blank lines."""
    parts = [stats_table(summary), per_class_table(summary["per_class"])]
    if "prf" in summary:
        prf = summary["prf"]
        parts.append(
            f"precision / recall / F1 at score >= {prf['conf']:g}, IoU {prf['iou']:g}\n"
            + prf_table(prf)
        )
    return "\n\n".join(parts)
