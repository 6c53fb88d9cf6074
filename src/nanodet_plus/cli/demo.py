"""``nanodet demo``: the main job on the built-in data, end to end, offline.

Steps: generate the synthetic demo dataset -> train NanoDet-Plus-m from scratch -> evaluate
the best weights (COCO mAP) -> export them to ONNX (verified) -> detect on val images through
the ONNX model with the same ``Detector`` -> write ``summary.md``. A step whose result exists
is not redone (``--force`` redoes everything); an interrupted training run is resumed.
``--out`` must be new, empty or a folder an earlier ``nanodet demo`` made: the demo replaces
only what it wrote itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

logger = logging.getLogger(__name__)

OWNER = "nanodet demo"

# The demo names only its data and a training-time budget: `train.recipe: auto` (the default,
# engine/recipe.py) fits the rest to the data and the machine, as for a user's own dataset.
# The rest of the job (data, evaluation, export) takes 15-35 s.
DEMO_TRAIN_SECONDS = 560


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from nanodet_plus.cli.options import MAX_SEED, add_number

    parser = subparsers.add_parser(
        "demo",
        help="generate the demo data, train, evaluate, export to ONNX and predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="runs/demo", help="folder of every result (runs/demo)")
    add_number(parser, "--images", type=int, default=600, low=1,
               help="training images to generate")
    add_number(parser, "--seed", type=int, default=0, low=0, high=MAX_SEED,
               help="seed of the generated data")
    parser.add_argument("--force", action="store_true", help="redo every step")
    add_number(parser, "--nproc", type=int, default=None, low=1,
               help="training processes (default: 2 on a multi-core CPU, else 1)")
    parser.add_argument("overrides", nargs="*", help="training config overrides, key=value")
    parser.set_defaults(func=run)


def _step(name: str, done: Path, force: bool) -> bool:
    """True when the step must run; logs a skip otherwise."""
    if done.exists() and not force:
        logger.info("demo: %s already done (%s); --force redoes it", name, done)
        return False
    logger.info("demo: %s", name)
    return True


def _train(out: Path, config_path: Path, overrides: list[str], force: bool,
           nproc: int = 1) -> Path:
    from nanodet_plus.engine.launch import train_local_processes
    from nanodet_plus.utils.files import atomic_write_text

    run_dir = out / "train"
    weights = run_dir / "model_best.pth"
    if not _step("training", run_dir / "done.json", force):
        return weights
    last = run_dir / "last.ckpt"
    if run_dir.exists() and (force or not last.exists()):
        shutil.rmtree(run_dir)  # inside the demo's own --out folder (checked by _claim)
    start = time.perf_counter()
    if last.exists():
        logger.info("demo: resuming the interrupted training run in %s", run_dir)
        result = train_local_processes(nproc, config=None, overrides=overrides, resume=last)
    else:
        budget = [f"train.time_budget_s={DEMO_TRAIN_SECONDS}"]
        result = train_local_processes(nproc, config=config_path, overrides=[*budget, *overrides],
                                       project=out, name="train")
    if result.stop_reason == "interrupted":
        raise KeyboardInterrupt
    if result.best_path != weights:
        shutil.copyfile(result.best_path, weights)
    atomic_write_text(run_dir / "done.json", json.dumps({
        "best_mAP": result.best_metric, "epochs": result.epochs_completed,
        "steps": result.steps, "seconds": round(time.perf_counter() - start, 1),
    }, indent=2))
    return weights


def run(args: argparse.Namespace) -> int:
    from nanodet_plus.cli.main import main as nanodet
    from nanodet_plus.engine.recipe import auto_process_count
    from nanodet_plus.errors import UsageError

    nproc = auto_process_count("auto") if args.nproc is None else args.nproc
    if nproc < 1:
        raise UsageError(f"--nproc must be at least 1, got {nproc}")
    _check_overrides(list(args.overrides))
    out = _claim(Path(args.out))
    data_dir = out / "data"
    config_path = data_dir / "demo.yaml"
    if _step("generating the demo dataset", config_path, args.force):
        from nanodet_plus.data.demo import generate_demo_dataset

        if data_dir.exists():
            shutil.rmtree(data_dir)  # inside the demo's own folder
        generate_demo_dataset(data_dir, train_images=args.images, seed=args.seed)

    weights = _train(out, config_path, list(args.overrides), args.force, nproc)

    metrics_path = out / "val" / "metrics.json"
    if _step("evaluating the best weights", metrics_path, args.force):
        code = nanodet(["val", str(out / "train" / "config.yaml"), "--weights", str(weights),
                        "--project", str(out), "--name", "val", "--exist-ok"])
        if code:
            return code

    onnx_path = out / "model.onnx"
    if _step("exporting to ONNX", onnx_path, args.force):
        code = nanodet(["export", str(weights), "--config", str(out / "train" / "config.yaml"),
                        "--format", "onnx", "--output", str(onnx_path), "--force"])
        if code:
            return code

    predictions = out / "predict"
    if _step("detecting on val images with the ONNX model", predictions, args.force):
        if predictions.exists():
            shutil.rmtree(predictions)
        code = nanodet(["predict", str(data_dir / "images" / "val"), "--weights",
                        str(onnx_path), "--project", str(out), "--name", "predict"])
        if code:
            return code

    summary = _write_summary(out, metrics_path, onnx_path, predictions)
    print(summary)
    return 0


def _check_overrides(overrides: list[str]) -> None:
    """Refuse a misspelt or invalid override before anything is generated or written."""
    from nanodet_plus.config.loader import load_config
    from nanodet_plus.data.demo import CLASS_NAMES

    load_config({"preset": "nanodet-plus-m_320", "model": {"num_classes": len(CLASS_NAMES)},
                 "class_names": list(CLASS_NAMES)}, overrides)


def _claim(out: Path) -> Path:
    """``out``, created and marked as the demo's; a non-empty folder an earlier demo did not
    make is refused, so that nothing of the user's is ever replaced."""
    from nanodet_plus.errors import UsageError
    from nanodet_plus.utils.files import OWNER_MARK, make_owned_folder

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; choose a folder")
    mark = out / OWNER_MARK
    owned = mark.is_file() and mark.read_text().strip() == OWNER
    if out.is_dir() and any(out.iterdir()) and not owned:
        raise UsageError(f"--out {out} is not empty and was not made by nanodet demo; choose "
                         "a new or empty folder (nothing was changed)")
    return make_owned_folder(out, OWNER)


def _write_summary(out: Path, metrics_path: Path, onnx_path: Path, predictions: Path) -> str:
    metrics = json.loads(metrics_path.read_text())
    coco = metrics.get("metrics", metrics)
    train_info = json.loads((out / "train" / "done.json").read_text())
    from nanodet_plus.config.loader import load_config

    width, height = load_config(out / "train" / "config.yaml").data.input_size
    lines = [
        "# nanodet demo summary",
        "",
        f"- training: {train_info['epochs']} epochs, {train_info['steps']} steps, "
        f"{train_info['seconds']:.0f} s; weights {out / 'train' / 'model_best.pth'}",
        f"- val mAP {coco['mAP']:.3f}, AP50 {coco['AP_50']:.3f}, AP75 {coco['AP_75']:.3f} at "
        f"{width}x{height} (metrics: {metrics_path})",
        f"- ONNX model: {onnx_path}",
        f"- annotated val images (the ONNX model as nanodet predict runs it): {predictions}",
    ]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text
