"""What a finished run leaves for the next commands: weight files that name their own config,
and a clear word when a finished run is resumed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from nanodet_plus.engine.trainer import train
from nanodet_plus.models.loading import load_model

Dataset = tuple[Path, Path]
Overrides = Callable[..., list[str]]


@pytest.fixture()
def finished_run(tiny_dataset: Dataset, tiny_config: Overrides, tmp_path: Path):
    overrides = [*tiny_config(*tiny_dataset, epochs=1), "data.input_size=[160,96]"]
    return train("nanodet-plus-m_320", overrides, project=tmp_path, name="exp")


def test_weight_files_carry_the_run_config(finished_run) -> None:
    for path in (finished_run.best_path, finished_run.last_path):
        stored = torch.load(path, weights_only=True)
        assert stored["config"]["data"]["input_size"] == [160, 96]
        assert stored["config"]["class_names"] == ["square", "disc"]
        # export / predict / val without --config: the run's input size and class names
        loaded = load_model(path)
        assert loaded.config_origin == "checkpoint"
        assert tuple(loaded.config.data.input_size) == (160, 96)
        assert loaded.config.class_names == ["square", "disc"]


def test_resuming_a_finished_run_says_there_is_nothing_to_resume(
    finished_run, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="nanodet_plus"):
        again = train(None, ["train.time_budget_s=600"], resume=finished_run.last_checkpoint)
    assert again.steps == finished_run.steps
    expected = (f"{finished_run.last_checkpoint}: the run already finished its last epoch (1); "
                "nothing to resume. To train longer, start a new run from its weights: "
                f"nanodet train CONFIG --weights {finished_run.run_dir / 'model_best.pth'}")
    assert expected in caplog.text


def test_resuming_with_another_process_count_is_refused(finished_run) -> None:
    """A checkpoint records its process count: another count would change every step's batch
    and the sample order, so resume says which count to use."""
    from nanodet_plus.cli.train import _saved_world_size
    from nanodet_plus.errors import TrainingError

    checkpoint = torch.load(finished_run.last_checkpoint, weights_only=True)
    assert checkpoint["world_size"] == 1
    checkpoint["world_size"] = 2
    torch.save(checkpoint, finished_run.last_checkpoint)
    assert _saved_world_size(finished_run.last_checkpoint) == 2  # --nproc's default on resume
    with pytest.raises(TrainingError) as error:
        train(None, [], resume=finished_run.last_checkpoint)
    assert str(error.value) == (
        f"{finished_run.last_checkpoint} was written by a run of 2 process(es) and this one has "
        "1: the batch of a step and the order of the samples would change. Resume with "
        "--nproc 2 (or torchrun with 2 processes in all)")
