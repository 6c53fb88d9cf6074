"""``nanodet train``: train on one CPU/GPU, or on several GPUs/nodes under ``torchrun``."""

from __future__ import annotations

import argparse
from pathlib import Path

EPILOG = """examples:
  nanodet train my_data.yaml train.epochs=50 train.batch_size=32   (preset: + data splits)
  nanodet train official/nanodet-plus-m_416.yml                (official configs work too)
  nanodet train my.yaml --weights nanodet-plus-m_416           (fine-tune, any class count)
  nanodet train --resume auto                                  (newest runs/train/*/last.ckpt)
  nanodet train my.yaml --nproc 2                               (2 processes on a CPU)
  torchrun --nproc_per_node 4 -m nanodet_plus train my.yaml    (DDP)
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from nanodet_plus.cli.options import add_number

    parser = subparsers.add_parser(
        "train", help="train a detector", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train NanoDet-Plus. CONFIG is a preset name, our YAML or an official "
                    "NanoDet-Plus YAML; key=value pairs override it.",
    )
    parser.add_argument("config", nargs="?", help="preset name or YAML file (not needed with "
                        "--resume)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. train.epochs=50")
    parser.add_argument("--resume", metavar="PATH|auto",
                        help="continue exactly from a last.ckpt (auto: the newest under "
                        "--project)")
    parser.add_argument("--weights", metavar="PATH|NAME",
                        help="initial weights: a file (official or ours; other class counts "
                        "allowed) or an official name, e.g. nanodet-plus-m_416 (downloaded "
                        "once into $NANODET_WEIGHTS_DIR, default ~/.cache/nanodet_plus/weights)")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (default: train.device)")
    parser.add_argument("--project", help="parent folder of run folders (default: save_dir, "
                        "runs/train)")
    parser.add_argument("--name", help="run folder name; exp, exp2, ... (default: name, exp)")
    parser.add_argument("--no-data-check", action="store_true",
                        help="skip the dataset check at start (image files are then only "
                        "opened when first used; annotation errors still stop)")
    add_number(parser, "--nproc", type=int, default=None, metavar="N", low=1,
               help="data-parallel processes on this machine (gloo on CPU), each with "
                        "cores/N threads; faster than one process on multi-core CPUs. "
                        "train.batch_size is per process (default: 2 on a multi-core CPU "
                        "with train.recipe auto, else 1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nanodet_plus.engine.trainer import train
    from nanodet_plus.errors import UsageError

    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and args.resume:
        config, overrides = None, [config, *overrides]
    if config is None and not args.resume:
        raise UsageError("give a CONFIG (preset name or YAML file), or --resume PATH|auto")
    if config is not None and args.resume:
        raise UsageError("--resume continues with the checkpoint's config; give only key=value "
                         "overrides (e.g. train.epochs=400), not a CONFIG")
    if args.project is not None:
        from nanodet_plus.utils.paths import check_project_folder

        check_project_folder(args.project)
    if args.weights is not None and not args.resume:
        args.weights = _check_weights(args.weights)
    if args.nproc is None:
        args.nproc = _default_nproc(args, config, overrides)
    if args.nproc < 1:
        raise UsageError(f"--nproc must be at least 1, got {args.nproc}")
    kwargs = dict(config=config, overrides=overrides, resume=args.resume, weights=args.weights,
                  device=args.device, project=args.project, name=args.name,
                  check_data=not args.no_data_check)
    if args.nproc > 1:
        from nanodet_plus.engine.launch import train_local_processes

        result = train_local_processes(args.nproc, verbose=getattr(args, "verbose", False),
                                       **kwargs)
    else:
        result = train(**kwargs)
    if result.stop_reason == "interrupted":
        nproc = f" --nproc {args.nproc}" if args.nproc > 1 else ""
        print(f"interrupted; resume with: nanodet train --resume {result.last_checkpoint}{nproc}")
        return 130
    best = "n/a" if result.best_metric is None else f"{result.best_metric:.4f}"
    print(f"best mAP {best}; weights {result.best_path}; run {result.run_dir}")
    return 0


def _default_nproc(args: argparse.Namespace, config: str | None, overrides: list[str]) -> int:
    """The automatic process count for the run's recipe (for a resumed run, its stored one)."""
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.engine.recipe import auto_process_count

    source: object = config
    if args.resume is not None:
        from nanodet_plus.engine.trainer import find_last_checkpoint

        path = Path(args.resume)
        if str(path) == "auto":
            path = find_last_checkpoint(args.project or load_config().save_dir)
        saved = _saved_world_size(path)
        if saved is not None:
            return saved
        # The run folder's config.yaml is the checkpoint's config; no need to load the weights.
        source = path.parent / "config.yaml"
        if not source.is_file():
            return 1
    return auto_process_count(load_config(source, overrides).train.recipe)


def _saved_world_size(checkpoint: Path) -> int | None:
    """The process count of the run that wrote ``checkpoint`` (memory-mapped: the weights
    are not read), or None for an unreadable file or one that does not say."""
    import torch

    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # the trainer reports an unreadable checkpoint with its own message
        return None
    world_size = saved.get("world_size") if isinstance(saved, dict) else None
    return int(world_size) if isinstance(world_size, int) and world_size >= 1 else None


def _check_weights(value: str) -> str:
    """Resolve ``--weights`` (an official name becomes its local copy, downloaded once) and
    read it before any process starts or data is read, so that a file that is not NanoDet-Plus
    weights (a config, an image, another model) is one line at once; returns the file."""
    from nanodet_plus.models.official_weights import resolve_weights
    from nanodet_plus.models.weights import extract_state_dict, read_checkpoint

    path = resolve_weights(value).path
    extract_state_dict(read_checkpoint(path), source=str(path))
    return str(path)
