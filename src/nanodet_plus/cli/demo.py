"""``nanodet demo``: the main job on the built-in data, end to end, offline.

Steps: generate the synthetic demo dataset -> train NanoDet-Plus-m from scratch -> evaluate
the best weights (COCO mAP) -> export them to ONNX (verified) -> detect on val images through
the ONNX model with the same ``Detector`` -> write ``summary.md``. A step whose result exists
is not redone (``--force`` redoes everything); an interrupted training run is resumed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import time
from pathlib import Path

logger = logging.getLogger(__name__)

# A ten-minute CPU recipe for 600 images (docs/training.md has the measurements): training
# stops after DEMO_TRAIN_SECONDS, with as many epochs as the machine manages in that time (at
# most DEMO_MAX_EPOCHS; the cosine schedule is fitted to the count after each epoch); 256x256
# training input (more epochs in the budget), a short warmup and a higher learning rate for
# batch 8, milder scale/stretch augmentation than the official recipe (a short run learns
# faster from objects near their real size), no Assign Guidance Module (its 3x3 towers cost
# about 4x the rest of a step on CPU) and the article's distance cost in the assigner.
# Evaluation and export use 320x320, which scores higher than the training size.
DEMO_BATCH = 8  # images per optimizer step, split between the training processes
DEMO_EVAL_SIZE = 320
DEMO_TRAIN_SECONDS = 560  # the rest of the job (data, evaluation, export) takes 15-35 s
DEMO_MAX_EPOCHS = 50
DEMO_TRAIN_OVERRIDES = [
    "data.input_size=[256,256]",
    f"train.epochs={DEMO_MAX_EPOCHS}",
    f"train.time_budget_s={DEMO_TRAIN_SECONDS}",
    "train.optimizer.lr=0.006",
    "train.warmup_steps=30",
    "train.val_interval=4",
    "model.aux_head=null",
    "model.assigner.distance_cost=true",
    "data.augment.scale=[0.8,1.2]",
    "data.augment.stretch=[[0.9,1.1],[0.9,1.1]]",
]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="generate the demo data, train, evaluate, export to ONNX and predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="runs/demo", help="folder of every result (runs/demo)")
    parser.add_argument("--images", type=int, default=600, help="training images to generate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")
    parser.add_argument("--force", action="store_true", help="redo every step")
    parser.add_argument("--nproc", type=int, default=None,
                        help="training processes (default: 2 on a multi-core CPU, else 1); "
                        "the batch of 8 is split between them")
    parser.add_argument("overrides", nargs="*", help="training config overrides, key=value")
    parser.set_defaults(func=run)


def _step(name: str, done: Path, force: bool) -> bool:
    """True when the step must run; logs a skip otherwise."""
    if done.exists() and not force:
        logger.info("demo: %s already done (%s); --force redoes it", name, done)
        return False
    logger.info("demo: %s", name)
    return True


def default_nproc() -> int:
    """Training processes for the demo: 2 on a multi-core CPU (1.4x the images per second of
    one 2-thread process on the 2-core reference machine), else 1 (one GPU or one core)."""
    import torch

    if torch.cuda.is_available() or (os.cpu_count() or 1) < 2:
        return 1
    return 2


def _precision_override() -> list[str]:
    """bf16 autocast on a CPU with bf16 instructions: 1.13x the images per second of fp32 in
    the demo, so more epochs fit the budget (docs/training.md); fp32 everywhere else."""
    import torch

    from nanodet_plus.utils.hardware import cpu_has_native_bf16

    if torch.cuda.is_available() or not cpu_has_native_bf16():
        return []
    logger.info("demo: this CPU has bf16 instructions: training with bf16 autocast "
                "(train.precision=fp32 switches it off)")
    return ["train.precision=bf16"]


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
        shutil.rmtree(run_dir)
    start = time.perf_counter()
    if last.exists():
        logger.info("demo: resuming the interrupted training run in %s", run_dir)
        result = train_local_processes(nproc, config=None, overrides=overrides, resume=last)
    else:
        # Several CPU processes load their own batches: worker processes would only compete
        # with them for the cores.
        recipe = [*DEMO_TRAIN_OVERRIDES, f"train.batch_size={DEMO_BATCH // nproc}",
                  f"data.workers={0 if nproc > 1 else 2}", *_precision_override()]
        result = train_local_processes(nproc, config=config_path, overrides=[*recipe, *overrides],
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

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = out / "data"
    config_path = data_dir / "demo.yaml"
    if _step("generating the demo dataset", config_path, args.force):
        from nanodet_plus.data.demo import generate_demo_dataset

        if data_dir.exists():
            shutil.rmtree(data_dir)
        generate_demo_dataset(data_dir, train_images=args.images, seed=args.seed)

    nproc = default_nproc() if args.nproc is None else args.nproc
    if nproc < 1 or DEMO_BATCH % nproc:
        from nanodet_plus.errors import UsageError

        choices = ", ".join(str(n) for n in range(1, DEMO_BATCH + 1) if DEMO_BATCH % n == 0)
        raise UsageError(f"--nproc {nproc}: the demo batch of {DEMO_BATCH} images is split "
                         f"between the processes, so --nproc must be one of {choices}")
    weights = _train(out, config_path, list(args.overrides), args.force, nproc)

    metrics_path = out / "val" / "metrics.json"
    if _step("evaluating the best weights", metrics_path, args.force):
        code = nanodet(["val", str(out / "train" / "config.yaml"), "--weights", str(weights),
                        "--imgsz", str(DEMO_EVAL_SIZE), str(DEMO_EVAL_SIZE),
                        "--project", str(out), "--name", "val", "--exist-ok"])
        if code:
            return code

    onnx_path = out / "model.onnx"
    if _step("exporting to ONNX", onnx_path, args.force):
        code = nanodet(["export", str(weights), "--config", str(out / "train" / "config.yaml"),
                        "--format", "onnx", "--imgsz", str(DEMO_EVAL_SIZE), str(DEMO_EVAL_SIZE),
                        "--output", str(onnx_path)])
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


def _write_summary(out: Path, metrics_path: Path, onnx_path: Path, predictions: Path) -> str:
    metrics = json.loads(metrics_path.read_text())
    coco = metrics.get("metrics", metrics)
    train_info = json.loads((out / "train" / "done.json").read_text())
    lines = [
        "# nanodet demo summary",
        "",
        f"- training: {train_info['epochs']} epochs, {train_info['steps']} steps, "
        f"{train_info['seconds']:.0f} s; weights {out / 'train' / 'model_best.pth'}",
        f"- val mAP {coco['mAP']:.3f}, AP50 {coco['AP_50']:.3f}, AP75 {coco['AP_75']:.3f} at "
        f"{DEMO_EVAL_SIZE}x{DEMO_EVAL_SIZE} (metrics: {metrics_path})",
        f"- ONNX model: {onnx_path}",
        f"- annotated val images (ONNX Runtime): {predictions}",
    ]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text
