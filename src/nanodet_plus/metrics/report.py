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


def _hidden_note(hidden: int, what: str) -> list[str]:
    noun = "class" if hidden == 1 else "classes"
    return [f"({hidden} {noun} {what} not shown)"] if hidden else []


def per_class_table(per_class: Sequence[dict], show_all: bool = False) -> str:
    """Per-class ground-truth count, AP50 and AP (0.50:0.95) in percent.

    Classes without ground truth (AP undefined) are left out unless ``show_all``.
    """
    shown = [row for row in per_class if show_all or row["num_gt"] > 0]
    width = max([len("class"), *(len(row["name"]) for row in shown)])
    lines = [f"{'class':<{width}}  {'gt':>6}  {'AP50':>6}  {'AP':>6}"]
    for row in shown:
        lines.append(
            f"{row['name']:<{width}}  {row['num_gt']:>6}  "
            f"{_percent(row['AP_50'])}  {_percent(row['AP'])}"
        )
    return "\n".join(lines + _hidden_note(len(per_class) - len(shown), "without ground truth"))


def prf_table(prf: dict, show_all: bool = False) -> str:
    """Per-class and overall counts and precision / recall / F1 at one score threshold.

    Classes with neither ground truth nor detections are left out unless ``show_all``.
    """
    rows = [row for row in prf["per_class"] if show_all or row["num_gt"] or row["tp"] or row["fp"]]
    width = max([len("class"), *(len(row["name"]) for row in rows)])
    lines = [f"{'class':<{width}}  {'gt':>6}  {'tp':>6}  {'fp':>6}  {'P':>6}  {'R':>6}  {'F1':>6}"]
    for row in [*rows, {"name": "all", **_totals(prf)}]:
        lines.append(
            f"{row['name']:<{width}}  {row['num_gt']:>6}  {row['tp']:>6}  {row['fp']:>6}  "
            f"{_percent(row['precision'])}  {_percent(row['recall'])}  {_percent(row['f1'])}"
        )
    hidden = len(prf["per_class"]) - len(rows)
    return "\n".join(lines + _hidden_note(hidden, "without ground truth or detections"))


def _totals(prf: dict) -> dict:
    """Counts summed over every class, with the overall (micro) P/R/F1."""
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
