"""``nanodet demo`` runs each step once: a second run skips what is done, --force redoes it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from nanodet_plus.cli import demo


@pytest.fixture
def fake_steps(monkeypatch):
    """Replace the heavy steps by fakes that write what the real ones would and log calls."""
    calls: list[str] = []

    def generate(out_dir, train_images, seed):
        calls.append("data")
        Path(out_dir).mkdir(parents=True)
        (Path(out_dir) / "demo.yaml").write_text("preset: nanodet-plus-m_320\n")

    def train(nproc, config, overrides, project=None, name=None, resume=None):
        calls.append("resume" if resume else "train")
        assert nproc == 2 and (overrides == ["train.time_budget_s=560"] or resume)
        run_dir = Path(project) / name if project else Path(resume).parent
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "model_best.pth").write_bytes(b"w")
        (run_dir / "config.yaml").write_text("{}")
        return SimpleNamespace(stop_reason="completed", best_path=run_dir / "model_best.pth",
                               best_metric=0.5, epochs_completed=8, steps=600)

    def nanodet(argv):
        calls.append(argv[0])
        out = Path(argv[argv.index("--project") + 1]) if "--project" in argv else None
        if argv[0] == "val":
            (out / "val").mkdir(parents=True, exist_ok=True)
            (out / "val" / "metrics.json").write_text(
                json.dumps({"mAP": 0.5, "AP_50": 0.8, "AP_75": 0.5}))
        elif argv[0] == "export":
            Path(argv[argv.index("--output") + 1]).write_bytes(b"onnx")
        elif argv[0] == "predict":
            (out / "predict").mkdir(parents=True)
        return 0

    monkeypatch.setattr("nanodet_plus.data.demo.generate_demo_dataset", generate)
    monkeypatch.setattr("nanodet_plus.engine.launch.train_local_processes", train)
    monkeypatch.setattr("nanodet_plus.cli.main.main", nanodet)
    return calls


def _args(out: Path, force: bool = False):
    return SimpleNamespace(out=str(out), images=600, seed=0, force=force, overrides=[], nproc=2)


def test_second_run_skips_finished_steps(tmp_path: Path, fake_steps, capsys):
    out = tmp_path / "demo"
    assert demo.run(_args(out)) == 0
    assert fake_steps == ["data", "train", "val", "export", "predict"]
    summary = (out / "summary.md").read_text()
    assert "val mAP 0.500, AP50 0.800" in summary and "model.onnx" in summary
    fake_steps.clear()
    assert demo.run(_args(out)) == 0
    assert fake_steps == []
    assert demo.run(_args(out, force=True)) == 0
    assert fake_steps == ["data", "train", "val", "export", "predict"]


def test_interrupted_training_is_resumed(tmp_path: Path, fake_steps):
    out = tmp_path / "demo"
    (out / "data").mkdir(parents=True)
    (out / "data" / "demo.yaml").write_text("preset: nanodet-plus-m_320\n")
    (out / "train").mkdir()
    (out / "train" / "last.ckpt").write_bytes(b"ckpt")
    (out / ".nanodet-owner").write_text("nanodet demo\n")  # an earlier demo made the folder
    assert demo.run(_args(out)) == 0
    assert fake_steps[0] == "resume"


@pytest.mark.parametrize("nproc", [0, -1])
def test_nproc_below_one_is_refused(tmp_path: Path, fake_steps, nproc):
    from nanodet_plus.errors import UsageError

    args = _args(tmp_path / "demo")
    args.nproc = nproc
    with pytest.raises(UsageError, match=rf"--nproc must be at least 1, got {nproc}"):
        demo.run(args)
    assert "train" not in fake_steps


def test_the_demo_names_only_its_data_and_budget(tmp_path: Path, fake_steps, monkeypatch):
    """No recipe of its own: train.recipe auto decides the rest, as for a user's data."""
    seen = {}
    import nanodet_plus.engine.launch as launch

    fake_train = launch.train_local_processes

    def train(nproc, config, overrides, **kwargs):
        seen.update(config=config, overrides=overrides)
        return fake_train(nproc, config, overrides, **kwargs)

    monkeypatch.setattr("nanodet_plus.engine.launch.train_local_processes", train)
    assert demo.run(_args(tmp_path / "demo")) == 0
    assert seen["overrides"] == ["train.time_budget_s=560"]
    assert Path(seen["config"]).read_text() == "preset: nanodet-plus-m_320\n"
