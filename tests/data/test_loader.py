"""DetectionDataset samples, collation and data loaders (workers, ranks, epochs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nanodet_plus.config.loader import load_config
from nanodet_plus.config.schema import DataConfig
from nanodet_plus.data.collate import collate_detection, stack_padded
from nanodet_plus.data.dataset import DetectionDataset
from nanodet_plus.data.datasets import build_dataset, load_coco, load_records
from nanodet_plus.data.loader import EpochSampler, build_dataloader, set_epoch


def test_stack_padded_official_shapes():
    images = [torch.ones(3, 300, 300), torch.ones(3, 288, 180), torch.ones(3, 169, 256)]
    batch = stack_padded(images)
    assert batch.shape == (3, 3, 320, 320)
    assert batch[1, :, :288, :180].eq(1).all() and batch[1, :, 288:].eq(0).all()
    assert batch[1, :, :, 180:].eq(0).all()
    with pytest.raises(ValueError, match="different channel counts"):
        stack_padded([torch.ones(3, 8, 8), torch.ones(1, 8, 8)])


def test_dummy_coco_sample_shapes(samples_dir: Path):
    records = load_coco(samples_dir, samples_dir / "dummy_coco.json").records
    keep = DetectionDataset(records, DataConfig(input_size=(320, 320), keep_ratio=True), False)
    stretch = DetectionDataset(records, DataConfig(input_size=(320, 320)), train=False)
    assert keep[0]["img"].shape == (3, 320, 285)
    sample = stretch[0]
    assert sample["img"].shape == (3, 320, 320) and sample["img"].dtype == torch.float32
    assert sample["gt_bboxes"].dtype == np.float32 and sample["gt_labels"].dtype == np.int64
    np.testing.assert_allclose(sample["gt_bboxes"], [[0, 0, 320 * 20 / 360, 320 * 20 / 404]] * 2,
                               rtol=1e-5)
    assert sample["img_info"] == {"file_name": "test_img.jpg", "id": 0, "height": 404,
                                  "width": 360}
    assert stretch[2]["gt_bboxes"].shape == (0, 4)
    batch = collate_detection([stretch[0], keep[1]])
    assert batch["img"].shape == (2, 3, 320, 320)
    assert batch["img_info"]["id"] == [0, 1] and len(batch["gt_bboxes"]) == 2


def _train_dataset(demo_dir: Path, **data_overrides) -> DetectionDataset:
    config = load_config(demo_dir / "demo.yaml",
                         [f"data.{k}={v}" for k, v in data_overrides.items()])
    return build_dataset(config.data.train, config.class_names, config.data, train=True, seed=11)


def test_dataset_seeding_by_epoch_and_index(demo_dir: Path):
    dataset = _train_dataset(demo_dir)
    first = dataset[(0, 3)]
    again = dataset[(0, 3)]
    dataset.set_epoch(0)
    plain = dataset[3]
    torch.testing.assert_close(first["img"], again["img"])
    torch.testing.assert_close(first["img"], plain["img"])
    np.testing.assert_array_equal(first["warp_matrix"], plain["warp_matrix"])
    later = dataset[(1, 3)]
    assert not np.array_equal(first["warp_matrix"], later["warp_matrix"])


def test_validation_dataset_is_deterministic(demo_dir: Path):
    config = load_config(demo_dir / "demo.yaml")
    records = load_records(config.data.val, config.class_names)
    dataset = DetectionDataset(records, config.data, train=False)
    sample = dataset[0]
    assert sample["img"].shape == (3, 320, 320)
    record = records[0]
    np.testing.assert_allclose(
        sample["warp_matrix"], np.diag([320 / record.width, 320 / record.height, 1]))
    np.testing.assert_allclose(sample["gt_bboxes"][:, 2],
                               record.boxes[:, 2] * 320 / record.width, rtol=1e-5)


def test_mosaic_sample(demo_dir: Path):
    dataset = _train_dataset(demo_dir, **{"augment.mosaic": 1.0})
    sample = dataset[(0, 0)]
    assert sample["img"].shape == (3, 320, 320)
    boxes = sample["gt_bboxes"]
    assert len(boxes) == len(sample["gt_labels"]) and (boxes <= 320).all()


def test_epoch_sampler_ranks_partition_the_order():
    full = list(EpochSampler(10, shuffle=True, seed=4))
    parts = [list(EpochSampler(10, True, 4, num_replicas=3, rank=r)) for r in range(3)]
    assert sorted(i for _, i in full) == list(range(10))
    assert {i for part in parts for _, i in part} == set(range(10))
    assert all(len(p) == 4 for p in parts)
    sampler = EpochSampler(10, shuffle=True, seed=4)
    sampler.set_epoch(1)
    assert [i for _, i in sampler] != [i for _, i in full]
    assert all(epoch == 1 for epoch, _ in sampler)


def _batches(loader, epochs=(0, 1)):
    out = []
    for epoch in epochs:
        set_epoch(loader, epoch)
        out.extend(loader)
    return out


@pytest.mark.slow
def test_two_workers_give_the_same_batches(demo_dir: Path):
    dataset = _train_dataset(demo_dir)
    serial = build_dataloader(dataset, batch_size=4, shuffle=True, workers=0, seed=2)
    parallel = build_dataloader(dataset, batch_size=4, shuffle=True, workers=2, seed=2)
    a, b = _batches(serial), _batches(parallel)
    assert len(a) == len(b) == 12
    for x, y in zip(a, b):
        torch.testing.assert_close(x["img"], y["img"])
        assert x["img_info"]["id"] == y["img_info"]["id"]
        for bx, by in zip(x["gt_bboxes"], y["gt_bboxes"]):
            np.testing.assert_array_equal(bx, by)
    assert a[0]["img_info"]["id"] != a[6]["img_info"]["id"]  # reshuffled next epoch
