"""The trainer's data set-up: each annotation file read once, every collated field delivered."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from nanodet_plus.config.loader import load_config
from nanodet_plus.data import datasets
from nanodet_plus.data.collate import collate_detection
from nanodet_plus.data.demo import generate_demo_dataset
from nanodet_plus.engine.data import TrainData
from nanodet_plus.engine.distributed import DistContext
from nanodet_plus.errors import DataError

ONE_CPU_PROCESS = DistContext(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
Overrides = Callable[..., list[str]]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8 + 4 image demo dataset in COCO, VOC and YOLO formats."""
    out = tmp_path_factory.mktemp("demo")
    generate_demo_dataset(out, train_images=8, val_images=4, seed=5, workers=1)
    return out


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Calls of the COCO, VOC and YOLO readers from now on, by annotation path."""
    reads: Counter[str] = Counter()

    def counted(reader: Callable) -> Callable:
        def read(img_path, ann_path, *args, **kwargs):
            reads[str(ann_path)] += 1
            return reader(img_path, ann_path, *args, **kwargs)

        return read

    for name in ("load_coco", "load_voc", "load_yolo"):
        monkeypatch.setattr(datasets, name, counted(getattr(datasets, name)))
    return reads


@pytest.mark.parametrize("check", [True, False], ids=["checked", "unchecked"])
@pytest.mark.parametrize("config_name", ["demo.yaml", "demo-voc.yaml", "demo-yolo.yaml"])
def test_each_annotation_file_is_read_once(
    demo_dir: Path, monkeypatch: pytest.MonkeyPatch, config_name: str, check: bool
) -> None:
    reads = _count_reads(monkeypatch)
    config = load_config(demo_dir / config_name, ["data.workers=0"])
    data = TrainData.build(config, ONE_CPU_PROCESS, check=check)
    assert reads == {str(config.data.train.ann_path): 1, str(config.data.val.ann_path): 1}
    assert len(data.train_records) == 8 and len(data.val_records) == 4
    assert data.loader.dataset.records == data.train_records


def test_the_trainer_gets_every_field_the_collate_made(
    tiny_dataset: tuple[Path, Path], tiny_config: Overrides
) -> None:
    config = load_config("nanodet-plus-m_320", tiny_config(*tiny_dataset))
    data = TrainData.build(config, ONE_CPU_PROCESS, check=False)
    batch = next(iter(data.batches(epoch=1)))
    indices = data.loader.sampler.indices()[: config.train.batch_size]
    collated = collate_detection([data.loader.dataset[(1, index)] for index in indices])
    assert set(batch) == set(collated)
    torch.testing.assert_close(batch["img"], collated["img"])
    assert batch["img_info"] == collated["img_info"]
    for key in ("gt_bboxes", "gt_labels", "gt_bboxes_ignore", "warp_matrix"):
        for delivered, made in zip(batch[key], collated[key], strict=True):
            np.testing.assert_array_equal(np.asarray(delivered), made)


def test_unreadable_annotations_stop_training_with_or_without_the_check(
    tmp_path: Path, tiny_dataset: tuple[Path, Path], tiny_config: Overrides
) -> None:
    images, _ = tiny_dataset
    config = load_config("nanodet-plus-m_320", tiny_config(images, tmp_path / "missing.json"))
    with pytest.raises(DataError, match="the dataset check found errors"):
        TrainData.build(config, ONE_CPU_PROCESS, check=True)
    with pytest.raises(DataError, match=r"missing\.json: annotation file not found"):
        TrainData.build(config, ONE_CPU_PROCESS, check=False)
