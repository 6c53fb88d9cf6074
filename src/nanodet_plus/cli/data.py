"""``nanodet data check|demo|preview``: inspect, generate and visualise datasets."""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path


def add_parser(subparsers) -> None:
    from nanodet_plus.cli.options import MAX_SEED, add_number

    parser = subparsers.add_parser("data", help="check, generate or preview datasets")
    commands = parser.add_subparsers(dest="data_command", metavar="ACTION")

    check = commands.add_parser("check", help="count images/boxes and report dataset problems")
    check.add_argument("config", help="config YAML (or preset) naming data.train / data.val")
    check.add_argument("--split", choices=("train", "val", "all"), default="all")
    check.add_argument("--decode", action="store_true",
                       help="fully decode every image (slower; catches corrupt pixel data)")
    add_number(check, "--max-issues", type=int, default=8, low=0, help="issues listed per level")
    check.set_defaults(func=run_check)

    demo = commands.add_parser("demo", help="generate the synthetic shapes dataset")
    demo.add_argument("out_dir", help="output folder (new or empty)")
    demo.add_argument("--force", action="store_true",
                      help="write into a folder that is not empty (same-named files replaced)")
    add_number(demo, "--images", type=int, default=600, low=1,
               help="training images (default 600)")
    add_number(demo, "--val-images", type=int, default=None, low=1,
               help="validation images (default a quarter of --images)")
    add_number(demo, "--seed", type=int, default=0, low=0, high=MAX_SEED)
    add_number(demo, "--workers", type=int, default=None, low=1,
               help="processes (default: up to 4)")
    demo.add_argument("--easy", action="store_true",
                      help="larger objects (>= 20 px), no distractors, little clutter or noise")
    demo.set_defaults(func=run_demo)

    preview = commands.add_parser("preview", help="write augmented samples with boxes drawn")
    preview.add_argument("config", help="config YAML (or preset)")
    preview.add_argument("overrides", nargs="*",
                         help="config overrides as for nanodet train, e.g. train.time_budget_s=600")
    preview.add_argument("--out", required=True, help="output folder (new or empty)")
    preview.add_argument("--force", action="store_true",
                         help="write into a folder that is not empty (same-named files replaced)")
    add_number(preview, "--num", type=int, default=16, low=1, help="samples to write (16)")
    preview.add_argument("--split", choices=("train", "val"), default="train")
    add_number(preview, "--seed", type=int, default=None, low=0, high=MAX_SEED,
               help="default: train.seed")
    add_number(preview, "--epoch", type=int, default=0, low=0,
               help="epoch index the augmentation draws are seeded with (0)")
    preview.set_defaults(func=run_preview)

    parser.set_defaults(func=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def run_check(args: argparse.Namespace) -> int:
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.data.check import check_data

    config = load_config(args.config)
    splits = ("train", "val") if args.split == "all" else (args.split,)
    report = check_data(config, splits, check_images=True, decode=args.decode)
    print(report.format(max_issues=args.max_issues))
    return 0 if report.ok else 1


def run_demo(args: argparse.Namespace) -> int:
    from nanodet_plus.data.demo import EASY_STYLE, generate_demo_dataset
    from nanodet_plus.utils.files import refuse_to_replace

    refuse_to_replace(args.out_dir, allowed=args.force, kind="folder")
    val_images = args.val_images if args.val_images is not None else max(1, args.images // 4)
    start = time.perf_counter()
    config_path = generate_demo_dataset(args.out_dir, args.images, val_images, args.seed,
                                        args.workers, EASY_STYLE if args.easy else None)
    print(f"wrote {args.images} train + {val_images} val images to {args.out_dir} "
          f"in {time.perf_counter() - start:.1f} s; config: {config_path}")
    return 0


def run_preview(args: argparse.Namespace) -> int:
    from nanodet_plus.config.loader import keys_set_by_user, load_config
    from nanodet_plus.data.dataset import DetectionDataset
    from nanodet_plus.data.datasets import load_record_set
    from nanodet_plus.data.preview import write_previews
    from nanodet_plus.errors import UsageError
    from nanodet_plus.utils.files import refuse_to_replace

    refuse_to_replace(args.out, allowed=args.force, kind="folder")
    config = load_config(args.config, args.overrides)
    dataset_config = getattr(config.data, args.split)
    if dataset_config is None:
        raise UsageError(f"the config has no data.{args.split} split")
    record_set = load_record_set(dataset_config, config.class_names)
    user_keys = keys_set_by_user(args.config, args.overrides)
    config, recipe = _as_training_sees_it(config, user_keys, args.split, record_set)
    data_config = config.data
    if args.split == "train" and data_config.train_input_size is not None:
        data_config = dataclasses.replace(data_config, input_size=data_config.train_input_size)
    seed = config.train.seed if args.seed is None else args.seed
    dataset = DetectionDataset(record_set.records, data_config, train=args.split == "train",
                               seed=seed)
    paths = write_previews(dataset, args.out, args.num, record_set.class_names, args.epoch)
    width, height = data_config.input_size
    how = "as nanodet train samples it" if args.split == "train" else \
        "as validation reads it (no augmentation)"
    print(f"wrote {len(paths)} previews to {Path(args.out)}: the {args.split} split at "
          f"{width}x{height}, {how}{recipe}")
    return 0


def _as_training_sees_it(config, user_keys: frozenset[str], split: str,
                         record_set) -> tuple[object, str]:
    """``config`` with the values ``train.recipe: auto`` would pick for a new run (input sizes,
    augmentation), and a note saying so; the config unchanged for the official recipe."""
    if config.train.recipe != "auto" or config.data.train is None:
        return config, ""
    from nanodet_plus.data.datasets import load_record_set
    from nanodet_plus.engine.recipe import apply_auto_recipe, auto_process_count

    train_set = record_set if split == "train" else load_record_set(config.data.train,
                                                                   config.class_names)
    config, _ = apply_auto_recipe(config, train_set.records, user_keys,
                                  auto_process_count("auto"))
    return config, "; values of train.recipe auto applied"
