"""AP against wall-clock of training recipes on the offline benchmark datasets (issue 13).

Each dataset of ``recipe_datasets.py`` (generated on first use under ``--data-dir``) is trained
with each recipe for the same time budget, one ``nanodet train`` subprocess at a time, on the
CPU. The trainer validates its EMA weights after every epoch (``train.val_interval=1``, the
same for every recipe, at the run's own input size), which gives AP against wall-clock (seconds
since the training command started, as the epoch lines reach the log); the best weights are
then scored by ``nanodet val --imgsz 320 320`` (AP and AP50 of the table).

    .venv/bin/python benchmarks/bench_recipe.py [--budget-s 510] [--recipes auto,official,demo]
        [--datasets digits-on-textures,words-on-photos] [--data-dir runs/bench_recipe/data]
        [--runs-dir runs/bench_recipe/runs] [--out benchmarks/results/recipe-DATE.json]
        [--add-recipe "NAME: key=value ... [nproc=N] [weights=PATH]"]

Writes the JSON results and a PNG figure beside them and prints a Markdown table. A recipe
whose training fails (e.g. an unknown key) is recorded with its error and the rest go on.
Needs ``pip install -e '.[bench]'`` (scikit-image, scikit-learn) for the datasets.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import recipe_datasets  # noqa: E402  (beside this script)
from _bench import Run  # noqa: E402

from nanodet_plus.benchmark.results import write_results as write_record  # noqa: E402

FIGURE = ("COCO mAP against wall-clock of training recipes on the CPU, each trained for the same "
          "time budget: the mAP of the EMA weights after each validation (seconds since the "
          "training command started) and the best weights' mAP / AP50 at the evaluation size")

# The demo's hand-typed recipe as DEMO_TRAIN_OVERRIDES in src/nanodet_plus/cli/demo.py had it
# at commit a7b1ded, before train.recipe existed, frozen here as the baseline (the official
# recipe's values under these keys; batch 8 as 4 per process in 2 processes; bf16 where the
# CPU has it; evaluated at 320). Its time budget is replaced by the benchmark's.
FROZEN_DEMO_OVERRIDES = (
    "data.input_size=[256,256]",
    "train.epochs=50",
    "train.optimizer.lr=0.006",
    "train.warmup_steps=30",
    "train.val_interval=4",
    "model.aux_head=null",
    "model.assigner.distance_cost=true",
    "data.augment.scale=[0.8,1.2]",
    "data.augment.stretch=[[0.9,1.1],[0.9,1.1]]",
)
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
DEMO_DATASET = "demo-shapes"
EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+): .*\| mAP ([0-9.]+) AP50 ([0-9.]+)")
RUN_LINE = re.compile(r"; run (\S.*)$")


@dataclass(frozen=True)
class Recipe:
    """A training recipe: config overrides (``{budget}`` is the time budget in seconds), the
    number of training processes (None: nanodet's own choice) and whether it adds bf16 on a
    CPU with bf16 instructions."""

    overrides: tuple[str, ...]
    nproc: int | None = None
    bf16_if_native: bool = False
    weights: str | None = None  # --weights: start from a trained detector


RECIPES: dict[str, Recipe] = {
    "auto": Recipe(("train.recipe=auto", "train.time_budget_s={budget}")),
    "official": Recipe(("train.recipe=official", "train.time_budget_s={budget}")),
    "demo": Recipe(("train.recipe=official", *FROZEN_DEMO_OVERRIDES,
                    "train.time_budget_s={budget}", "train.batch_size=4", "data.workers=0"),
                   nproc=2, bf16_if_native=True),
    # --device cuda: the official recipe with fp16 autocast (the GPU baseline)
    "official-amp": Recipe(("train.recipe=official", "train.time_budget_s={budget}",
                            "train.precision=fp16")),
}
CPU_RECIPES = ("auto", "official", "demo")
GPU_RECIPES = ("auto", "official-amp")


@dataclass
class RunResult:
    """One dataset x recipe: final AP / AP50 at the evaluation size, and the AP curve."""

    dataset: str
    recipe: str
    status: str = "ok"
    error: str | None = None
    ap: float | None = None
    ap50: float | None = None
    epochs: int = 0
    seconds: float = 0.0  # wall-clock of the training command
    train_seconds: float = 0.0  # sum of the trainer's epoch times (validation excluded)
    points: list[list[float]] = field(default_factory=list)  # [seconds, AP] per validation
    images_per_s: float | None = None  # median over the epochs
    command: list[str] = field(default_factory=list)
    run_dir: str | None = None


# ------------------------------------------------------------------------------- machine
def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


# ------------------------------------------------------------------------------- recipes
def parse_recipe(text: str) -> tuple[str, Recipe]:
    """``"NAME: key=value key=value [nproc=N] [weights=PATH]"`` as a recipe (``{budget}`` is
    substituted)."""
    name, _, rest = text.partition(":")
    if not name.strip() or not rest.strip():
        raise argparse.ArgumentTypeError(f"--add-recipe '{text}': want 'NAME: key=value ...'")
    overrides, nproc, weights = [], None, None
    for token in rest.split():
        if token.startswith("nproc="):
            nproc = int(token.partition("=")[2])
        elif token.startswith("weights="):
            weights = str(Path(token.partition("=")[2]).resolve())
        else:
            overrides.append(token)
    return name.strip(), Recipe(tuple(overrides), nproc, weights=weights)


def train_command(recipe: Recipe, config: Path, budget: float, project: Path, name: str,
                  harness: list[str], device: str = "cpu") -> list[str]:
    """The ``nanodet train`` command of one run: recipe overrides, then the harness's."""
    overrides = [o.replace("{budget}", f"{budget:g}") for o in recipe.overrides]
    if recipe.bf16_if_native and device == "cpu" and cpu_flags() & set(BF16_FLAGS):
        overrides.append("train.precision=bf16")
    command = [sys.executable, "-m", "nanodet_plus", "train", str(config), *overrides,
               *harness, "--project", str(project), "--name", name, "--device", device]
    if recipe.nproc is not None:
        command += ["--nproc", str(recipe.nproc)]
    if recipe.weights is not None:
        command += ["--weights", recipe.weights]
    return command


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# ------------------------------------------------------------------------------- running
def run_logged(command: list[str], log_path: Path, timeout: float,
               echo: str = "") -> tuple[int, dict[int, float], list[str], bool]:
    """Run ``command`` with its output in ``log_path``; return its exit code, the seconds (from
    its start) at which each validated epoch's line arrived, its last output lines, and
    whether it was stopped (its whole process group) after ``timeout`` seconds."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    start = time.monotonic()
    epoch_seconds: dict[int, float] = {}
    tail: list[str] = []
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, cwd=REPO, env=env, start_new_session=True)
        stopped = threading.Event()
        timer = threading.Timer(timeout, _stop_group, args=(process, stopped))
        timer.start()
        try:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                tail = [*tail[-19:], line.rstrip()]
                match = EPOCH_LINE.search(line)
                if match:
                    epoch_seconds[int(match.group(1))] = round(time.monotonic() - start, 1)
                    if echo:
                        print(f"  {echo} {time.monotonic() - start:6.0f} s  "
                              f"{line.strip()[-110:]}", flush=True)
            code = process.wait()
        finally:
            timer.cancel()
    return code, epoch_seconds, tail, stopped.is_set()


def _stop_group(process: subprocess.Popen, stopped: threading.Event) -> None:
    """SIGTERM to the run's process group (the trainer saves and stops), SIGKILL 60 s later."""
    stopped.set()
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
            process.wait(timeout=wait)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def read_history(metrics_csv: Path) -> list[dict]:
    """The trainer's per-epoch rows (engine/logger.py CSV_COLUMNS) as numbers where set."""
    if not metrics_csv.exists():
        return []
    with metrics_csv.open() as stream:
        return [{k: float(v) if v not in ("", None) else None for k, v in row.items()}
                for row in csv.DictReader(stream)]


def ap_points(history: list[dict], epoch_seconds: dict[int, float]) -> list[list[float]]:
    """[seconds, AP] per validated epoch: the log's arrival time of that epoch, else the sum
    of the epoch times so far (which leaves out validation and start-up)."""
    points, elapsed = [], 0.0
    for row in history:
        elapsed += row.get("epoch_time_s") or 0.0
        if row.get("mAP") is None:
            continue
        epoch = int(row["epoch"])
        points.append([epoch_seconds.get(epoch, round(elapsed, 1)), round(row["mAP"], 4)])
    return points


def evaluate(run_dir: Path, eval_size: tuple[int, int], timeout: float,
             device: str = "cpu") -> dict:
    """AP and AP50 of the run's best weights by ``nanodet val`` at ``eval_size``."""
    out = run_dir.parent
    name = f"{run_dir.name}-val"
    command = [sys.executable, "-m", "nanodet_plus", "val", str(run_dir / "config.yaml"),
               "--weights", str(run_dir / "model_best.pth"), "--imgsz", *map(str, eval_size),
               "--project", str(out), "--name", name, "--exist-ok", "--no-plots",
               "--device", device]
    code, _, tail, _ = run_logged(command, out / f"{name}.log", timeout)
    metrics_path = out / name / "metrics.json"
    if code or not metrics_path.exists():
        return {"error": f"nanodet val failed ({code}): {_last_error(tail)}"}
    metrics = json.loads(metrics_path.read_text())
    metrics = metrics.get("metrics", metrics)
    return {"ap": round(metrics["mAP"], 4), "ap50": round(metrics["AP_50"], 4)}


def _last_error(tail: list[str]) -> str:
    """The most telling of a failed command's last lines (an error line if there is one)."""
    lines = [line for line in tail if line.strip()]
    for line in reversed(lines):
        if "error" in line.lower() or "unknown" in line.lower():
            return line.strip()[-300:]
    return lines[-1].strip()[-300:] if lines else "no output"


def run_one(dataset: str, config: Path, recipe_name: str, recipe: Recipe,
            args: argparse.Namespace) -> RunResult:
    """Train one recipe on one dataset for the budget, then score its best weights."""
    project = Path(args.runs_dir) / dataset
    run_dir = project / recipe_name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    project.mkdir(parents=True, exist_ok=True)
    harness = [f"train.val_interval={args.val_interval}", "train.progress=false"]
    command = train_command(recipe, config, args.budget_s, project, recipe_name, harness,
                            args.device)
    result = RunResult(dataset, recipe_name, command=command[2:])
    start = time.monotonic()
    limit = args.max_wall_s or args.budget_s * 1.5 + 600
    code, epoch_seconds, tail, stopped = run_logged(command, project / f"{recipe_name}.log",
                                                    limit, f"{dataset}/{recipe_name}")
    result.seconds = round(time.monotonic() - start, 1)
    found = [m.group(1) for m in map(RUN_LINE.search, tail) if m]
    run_dir = Path(found[-1]) if found else run_dir
    result.run_dir = str(run_dir)
    history = read_history(run_dir / "metrics.csv")
    result.epochs = len(history)
    result.train_seconds = round(sum(r.get("epoch_time_s") or 0.0 for r in history), 1)
    result.points = ap_points(history, epoch_seconds)
    speeds = sorted(r["images_per_s"] for r in history if r.get("images_per_s"))
    result.images_per_s = round(speeds[len(speeds) // 2], 1) if speeds else None
    if stopped:
        result.status, result.error = "stopped", f"stopped at the {limit:g} s wall-clock limit"
    elif code:
        result.status, result.error = "failed", f"nanodet train exited {code}: {_last_error(tail)}"
    if code and not (stopped and (run_dir / "model_best.pth").exists()):
        return result
    scores = evaluate(run_dir, tuple(args.eval_size), 900, args.device)
    result.ap, result.ap50 = scores.get("ap"), scores.get("ap50")
    if "error" in scores and result.status == "ok":
        result.status, result.error = "eval-failed", scores["error"]
    return result


def prepare_dataset(name: str, data_dir: Path, seed: int) -> tuple[Path, dict]:
    """The config of a benchmark dataset and its description, generated on first use."""
    if name != DEMO_DATASET:
        config = recipe_datasets.ensure(name, data_dir, seed)
        return config, json.loads((config.parent / "dataset.json").read_text())
    from nanodet_plus.data.demo import generate_demo_dataset

    out_dir = data_dir / name / f"seed{seed}"
    config = out_dir / "demo.yaml"
    if not config.exists():
        config = generate_demo_dataset(out_dir, seed=seed)
    return config, {"name": name, "seed": seed, "description": "the demo's synthetic shapes "
                    "(nanodet_plus.data.demo, 600 train / 150 val), what nanodet demo trains on"}


# ------------------------------------------------------------------------------ reporting
def ap_by(points: list[list[float]], seconds: float) -> float | None:
    """The last AP measured at or before ``seconds`` (None before the first validation)."""
    measured = [ap for t, ap in points if t <= seconds]
    return measured[-1] if measured else None


def markdown_table(results: list[RunResult], budget: float, eval_size: list[int]) -> str:
    """One row per dataset x recipe: final scores, then the AP curve at three times."""
    quarter, half = budget / 4, budget / 2
    lines = [f"| dataset | recipe | AP@{eval_size[0]} | AP50 | epochs | img/s | wall s | "
             f"AP by {quarter:.0f} s | AP by {half:.0f} s | AP by {budget:.0f} s | status |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    for r in results:
        status = r.status if r.error is None else f"{r.status}: {r.error[:120]}"
        lines.append(f"| {r.dataset} | {r.recipe} | {cell(r.ap)} | {cell(r.ap50)} | "
                     f"{r.epochs} | {r.images_per_s or '-'} | {r.seconds:.0f} | "
                     f"{cell(ap_by(r.points, quarter))} | "
                     f"{cell(ap_by(r.points, half))} | {cell(ap_by(r.points, budget))} | "
                     f"{status.replace('|', '/')} |")
    return "\n".join(lines)


def plot(results: list[RunResult], path: Path, budget: float) -> Path | None:
    """AP against wall-clock, one panel per dataset and one line per recipe (PNG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    datasets = list(dict.fromkeys(r.dataset for r in results))
    figure, axes = plt.subplots(1, len(datasets), figsize=(5.5 * len(datasets), 4),
                                squeeze=False)
    for axis, dataset in zip(axes[0], datasets):
        for r in (r for r in results if r.dataset == dataset and r.points):
            axis.plot([p[0] for p in r.points], [p[1] for p in r.points], marker=".",
                      label=f"{r.recipe} (final {r.ap:.3f})" if r.ap is not None else r.recipe)
        axis.axvline(budget, color="grey", linestyle=":", linewidth=1)
        axis.set_title(dataset)
        axis.set_xlabel("seconds since the training command started")
        axis.set_ylabel("val mAP (EMA weights, run's input size)")
        axis.grid(alpha=0.3)
        if axis.get_lines()[:-1]:  # the budget line has no label
            axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def write_results(path: Path, run: Run, args: argparse.Namespace, recipes: dict[str, Recipe],
                  datasets: dict[str, dict], results: list[RunResult]) -> None:
    """The results file of the benchmark so far (rewritten after every run) and its plot."""
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_path = plot(results, path.with_suffix(".png"), args.budget_s) if results else None
    write_record(path, run.benchmark, FIGURE, {
        "budget_s": args.budget_s,
        "eval_size": list(args.eval_size),
        "harness_overrides": [f"train.val_interval={args.val_interval}", "train.progress=false",
                              f"--device {args.device}"],
        "plot": str(plot_path.relative_to(REPO)) if plot_path and plot_path.is_relative_to(REPO)
        else (str(plot_path) if plot_path else None),
        "recipes": {name: {"overrides": list(r.overrides), "nproc": r.nproc,
                           "bf16_if_native": r.bf16_if_native} for name, r in recipes.items()},
        "datasets": datasets,
        "results": [vars(r) for r in results],
    }, command=run.command, load_before=run.load_before)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget-s", type=float, default=510.0,
                        help="training seconds per run (train.time_budget_s), 510 = 8.5 min")
    parser.add_argument("--recipes", default=None, help="comma-separated names (default: "
                        f"{','.join(CPU_RECIPES)} on the CPU, {','.join(GPU_RECIPES)} on CUDA)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where to train; cuda without a CUDA device skips the benchmark")
    parser.add_argument("--add-recipe", type=parse_recipe, action="append", default=[],
                        metavar="'NAME: key=value ... [nproc=N] [weights=PATH]'",
                        help="one more recipe ({budget} is the budget); repeatable")
    parser.add_argument("--datasets", default=",".join(recipe_datasets.DATASETS),
                        help=f"comma-separated names, of {', '.join(recipe_datasets.DATASETS)} "
                        f"and {DEMO_DATASET} (the demo's own shapes)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated datasets")
    parser.add_argument("--data-dir", default=str(REPO / "runs" / "bench_recipe" / "data"))
    parser.add_argument("--runs-dir", default=str(REPO / "runs" / "bench_recipe" / "runs"))
    parser.add_argument("--eval-size", type=int, nargs=2, default=[320, 320], metavar=("W", "H"))
    parser.add_argument("--max-wall-s", type=float, default=None,
                        help="stop a training command after this many seconds (default: "
                        "1.5 x budget + 600; the trainer checks its budget only between "
                        "epochs); a stopped run is scored from its best weights so far")
    parser.add_argument("--val-interval", type=int, default=1,
                        help="train.val_interval of every run (1: an AP point per epoch)")
    parser.add_argument("--out", default=None,
                        help="results JSON (default benchmarks/results/recipe-DATE.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run = Run(__file__, argv)
    if args.device == "cuda" and not cuda_available():
        print("bench_recipe: --device cuda but no CUDA device here: skipped")
        return 0
    recipes = {**RECIPES, **dict(args.add_recipe)}
    default = CPU_RECIPES if args.device == "cpu" else GPU_RECIPES
    listed = default if args.recipes is None else args.recipes.split(",")
    names = [n for n in listed if n] + [n for n, _ in args.add_recipe]
    unknown = [n for n in names if n not in recipes]
    if unknown:
        raise SystemExit(f"unknown recipe(s) {unknown}; known: {', '.join(recipes)}")
    chosen = {name: recipes[name] for name in names}
    out = Path(args.out or REPO / "benchmarks" / "results" /
               f"recipe-{datetime.date.today().isoformat()}.json")
    datasets, results = {}, []
    for dataset in args.datasets.split(","):
        start = time.monotonic()
        config, datasets[dataset] = prepare_dataset(dataset, Path(args.data_dir), args.seed)
        print(f"{dataset}: {config} ({time.monotonic() - start:.0f} s)", flush=True)
        for name, recipe in chosen.items():
            print(f"{dataset} / {name}: training for {args.budget_s:g} s", flush=True)
            results.append(run_one(dataset, config, name, recipe, args))
            write_results(out, run, args, chosen, datasets, results)
    print()
    print(markdown_table(results, args.budget_s, args.eval_size))
    print(f"\nresults: {out}")
    return 0 if all(r.status == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
