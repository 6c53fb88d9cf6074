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


def test_the_start_check_refuses_pixel_labels_and_a_split_without_boxes(tmp_path: Path) -> None:
    import cv2
    import yaml

    for name in ("a", "b"):
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "labels").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / "images" / f"{name}.jpg"), np.zeros((48, 64, 3), np.uint8))
        (tmp_path / "labels" / f"{name}.txt").write_text("0 32 24 16 12\n")
    config_path = tmp_path / "cfg.yaml"
    config_path.write_text(yaml.safe_dump({
        "model": {"num_classes": 1}, "class_names": ["thing"],
        "data": {"train": {"format": "yolo", "img_path": "images"}, "workers": 0}}))
    config = load_config(config_path)
    with pytest.raises(DataError) as caught:
        TrainData.build(config, ONE_CPU_PROCESS, check=True)
    message = str(caught.value)
    assert f"{tmp_path / 'labels' / 'a.txt'}:line 1: 1 of 1 boxes have values above 1" in message
    assert "they look like pixels, not normalised 0-1 coordinates" in message
    assert "every box of the training split was dropped (pixel-units 2)" in message
    with pytest.raises(DataError, match=r"a\.txt:line 1: 1 of 1 boxes have values above 1"):
        TrainData.build(config, ONE_CPU_PROCESS, check=False)


def test_the_start_check_finds_a_truncated_image_without_decoding(
    tiny_dataset: tuple[Path, Path], tiny_config: Overrides, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanodet_plus.data import check

    images, ann = tiny_dataset
    cut = images / "003.png"
    cut.write_bytes(cut.read_bytes()[:-40])
    monkeypatch.setattr(check, "load_image", None)  # the start-up check decodes nothing
    config = load_config("nanodet-plus-m_320", tiny_config(images, ann))
    with pytest.raises(DataError, match=(
            rf"{cut}: truncated PNG \(it ends before its IEND chunk\); copy the file again")):
        TrainData.build(config, ONE_CPU_PROCESS, check=True)
    skipping = load_config("nanodet-plus-m_320",
                           [*tiny_config(images, ann), "data.skip_bad_images=true"])
    data = TrainData.build(skipping, ONE_CPU_PROCESS, check=True)
    # every process keeps the training list whole (the loader replaces the bad image)
    assert len(data.train_records) == 8 and len(data.val_records) == 7
    assert data.loader.dataset[(0, 3)]["img_info"]["file_name"] == "004.png"
