"""``nanodet val``: COCO mAP, P/R/F1, confusion matrix and figures of a model on a dataset split."""

from __future__ import annotations

import argparse
import logging

from nanodet_plus.cli.options import add_image_size, add_number, add_precision, input_file
from nanodet_plus.errors import UsageError

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "val",
        help="evaluate a model on a dataset split (COCO mAP, P/R/F1, confusion matrix)",
        description=(
            "Detect with the official evaluation settings (score > 0.05, NMS IoU 0.6, 100 "
            "detections per image), score with the COCO protocol, and write metrics.json, "
            "results.json (COCO format) and figures into a new run folder."
        ),
    )
    parser.add_argument("config", help="preset name or YAML config naming the dataset")
    parser.add_argument(
        "--weights", required=True,
        help="checkpoint (.pth/.ckpt), exported model file, or an official name, e.g. "
        "nanodet-plus-m_416",
    )
    parser.add_argument("--split", default="val", choices=("val", "train"), help="data split")
    add_number(parser, "--conf", type=float, default=0.35, low=0, high=1,
               help="score threshold of P/R/F1 and figures")
    add_number(parser, "--batch", type=int, default=8, low=1, help="images per forward pass")
    add_image_size(parser, "input size (default: config)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    add_precision(parser)
    parser.add_argument("--project", default="runs/val", help="parent folder of the run folder")
    parser.add_argument("--name", default="exp", help="run folder name (numbered if it exists)")
    parser.add_argument("--exist-ok", action="store_true",
                        help="reuse project/name instead of numbering")
    add_number(parser, "--max-images", type=int, low=1, help="evaluate only the first N images")
    add_number(parser, "--samples", type=int, default=4, low=0,
               help="side-by-side images to save")
    parser.add_argument("--no-plots", action="store_true", help="skip the figures")
    parser.add_argument(
        "--overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides, e.g. data.val.ann_path=val.json",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.data.datasets import load_record_set
    from nanodet_plus.metrics.evaluator import evaluate
    from nanodet_plus.metrics.report import format_report
    from nanodet_plus.models.official_weights import resolve_weights
    from nanodet_plus.runtime.detector import Detector
    from nanodet_plus.utils.paths import check_project_folder, increment_path

    check_project_folder(args.project)
    weights = input_file(resolve_weights(args.weights).path, "weights file")
    config = load_config(args.config, list(args.overrides))
    split = getattr(config.data, args.split)
    if split is None:
        raise UsageError(f"{args.config}: the config has no data.{args.split} dataset")
    record_set = load_record_set(split, config.class_names)
    class_names = list(config.class_names or record_set.class_names)
    records = record_set.records[: args.max_images] if args.max_images else record_set.records
    if not records:
        raise UsageError(f"{record_set.source}: the {args.split} split has no images")

    detector = Detector.from_file(weights, config=config, device=args.device,
                                  precision=args.precision)
    if detector.meta.num_classes != len(class_names):
        raise UsageError(
            f"{weights}: the model has {detector.meta.num_classes} classes but the dataset "
            f"has {len(class_names)} ({record_set.source})"
        )

    out_dir = increment_path(args.project, args.name, exist_ok=args.exist_ok)
    logger.info("evaluating %d images of %s", len(records), record_set.source)
    summary = evaluate(
        detector,
        records,
        class_names,
        out_dir,
        category_ids=record_set.category_ids,
        gt_json=split.ann_path if split.format == "coco" else None,
        input_size=tuple(args.imgsz) if args.imgsz else None,
        batch_size=args.batch,
        conf=args.conf,
        plots=not args.no_plots,
        num_samples=args.samples,
        progress=True,
    )
    print(format_report(summary))
    speed = summary["speed"]
    print(
        f"\n{len(records)} images, {summary['num_detections']} detections, "
        f"{speed['predict_ms_per_image']:.1f} ms/image predict, "
        f"{speed['total_ms_per_image']:.1f} ms/image with image reading"
    )
    print(f"results saved to {out_dir}")
    return 0
