"""DetectionDataset samples, collation and data loaders (workers, ranks, epochs)."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import re
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from nanodet_plus.config.loader import load_config
from nanodet_plus.config.schema import DataConfig
from nanodet_plus.data.collate import collate_detection, stack_padded
from nanodet_plus.data.dataset import DetectionDataset, build_dataset
from nanodet_plus.data.datasets import load_coco, load_records
from nanodet_plus.data.loader import EpochSampler, build_train_loader, epoch_batches
from nanodet_plus.errors import DataError


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


def _order(sampler: EpochSampler) -> list[int]:
    return [index for _, index in sampler]


def test_epoch_sampler_ranks_partition_the_order():
    full = list(EpochSampler(10, seed=4))
    parts = [list(EpochSampler(10, rank=r, world_size=3, seed=4)) for r in range(3)]
    assert sorted(i for _, i in full) == list(range(10))
    assert {i for part in parts for _, i in part} == set(range(10))
    assert all(len(p) == 4 for p in parts)
    interleaved = [part[k][1] for k in range(4) for part in parts]
    assert interleaved == [i for _, i in full] + [full[0][1], full[1][1]]  # padded by wrapping
    sampler = EpochSampler(10, seed=4)
    sampler.set_epoch(1)
    assert [i for _, i in sampler] != [i for _, i in full]
    assert all(epoch == 1 for epoch, _ in sampler)


def test_ranks_get_disjoint_shares_that_cover_the_epoch():
    for epoch in range(3):
        shares = []
        for rank in range(4):
            sampler = EpochSampler(12, rank=rank, world_size=4, seed=9)
            sampler.set_epoch(epoch)
            shares.append(_order(sampler))
        assert all(len(share) == 3 for share in shares)
        assert sorted(i for share in shares for i in share) == list(range(12))


def test_order_changes_per_epoch_and_is_reproducible_from_seed_and_epoch():
    def order(seed: int, epoch: int) -> list[int]:
        sampler = EpochSampler(50, seed=seed)
        sampler.set_epoch(epoch)
        return _order(sampler)

    orders = [order(7, epoch) for epoch in range(4)]
    assert len({tuple(o) for o in orders}) == 4
    assert all(sorted(o) == list(range(50)) for o in orders)
    assert [order(7, epoch) for epoch in range(4)] == orders
    assert order(8, 0) != orders[0]
    assert _order(EpochSampler(5, shuffle=False)) == [0, 1, 2, 3, 4]


def test_skip_leaves_out_the_start_of_the_same_order():
    sampler = EpochSampler(20, rank=1, world_size=2, seed=3)
    sampler.set_epoch(5)
    full = _order(sampler)
    sampler.set_epoch(5, skip=4)
    assert _order(sampler) == full[4:] and len(sampler) == 6
    sampler.set_epoch(5, skip=99)
    assert _order(sampler) == [] and len(sampler) == 0
    with pytest.raises(ValueError, match="empty dataset"):
        EpochSampler(0)


def _ids(batches) -> list[list[int]]:
    return [batch["img_info"]["id"] for batch in batches]


def test_ranks_of_the_loader_split_the_epoch(demo_dir: Path):
    dataset = _train_dataset(demo_dir)
    per_rank = [_ids(epoch_batches(build_train_loader(dataset, 4, seed=2, rank=rank,
                                                      world_size=2), epoch=1))
                for rank in range(2)]
    ids = [i for batches in per_rank for batch in batches for i in batch]
    assert [len(batches) for batches in per_rank] == [3, 3]
    assert sorted(ids) == sorted(r.image_id for r in dataset.records)


def test_loader_keeps_full_batches_unless_a_share_is_smaller(demo_dir: Path, caplog):
    dataset = _train_dataset(demo_dir)
    assert len(build_train_loader(dataset, 5, seed=0)) == 4  # 24 images: the last 4 dropped
    with caplog.at_level(logging.WARNING):
        loader = build_train_loader(dataset, 16, seed=0, world_size=2)
    assert "only 12 training images per process for batch size 16" in caplog.text
    assert len(loader) == 1 and not loader.drop_last


def test_resume_mid_epoch_gives_the_same_batches(demo_dir: Path):
    loader = build_train_loader(_train_dataset(demo_dir), 4, seed=2)
    full = list(epoch_batches(loader, epoch=1))
    rest = epoch_batches(loader, epoch=1, skip_batches=2)
    assert len(rest) == len(full) - 2 == 4
    resumed = list(rest)
    assert _ids(resumed) == _ids(full[2:])
    for a, b in zip(resumed, full[2:]):
        torch.testing.assert_close(a["img"], b["img"])


def test_epoch_reaches_the_augmentation_seed(demo_dir: Path):
    dataset = _train_dataset(demo_dir)
    loader = build_train_loader(dataset, 4, seed=2)
    batch = next(iter(epoch_batches(loader, epoch=3)))
    indices = loader.sampler.indices()[:4]
    expected = collate_detection([dataset[(3, i)] for i in indices])
    torch.testing.assert_close(batch["img"], expected["img"])
    for got, want in zip(batch["warp_matrix"], expected["warp_matrix"]):
        np.testing.assert_array_equal(got, want)
    other_epoch = dataset[(0, indices[0])]["warp_matrix"]
    assert not np.array_equal(batch["warp_matrix"][0], other_epoch)


def test_batches_hold_box_and_label_tensors(demo_dir: Path):
    batch = next(iter(epoch_batches(build_train_loader(_train_dataset(demo_dir), 4, seed=0), 0)))
    assert set(batch) == {"img", "gt_bboxes", "gt_labels", "gt_bboxes_ignore", "warp_matrix",
                          "img_info"}
    for boxes, labels, ignore in zip(batch["gt_bboxes"], batch["gt_labels"],
                                     batch["gt_bboxes_ignore"]):
        assert boxes.dtype == torch.float32 and boxes.shape == (len(labels), 4)
        assert labels.dtype == torch.int64 and ignore.shape[1:] == (4,)


def test_workers_leave_stop_signals_to_the_main_process(demo_dir: Path):
    loader = build_train_loader(_train_dataset(demo_dir), 4, seed=0, workers=2)
    assert loader.persistent_workers and loader.num_workers == 2
    threads = torch.get_num_threads()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        loader.worker_init_fn(0)
        assert torch.get_num_threads() == 1
        assert all(signal.getsignal(sig) is signal.SIG_IGN for sig in handlers)
    finally:
        torch.set_num_threads(threads)
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert build_train_loader(_train_dataset(demo_dir), 4, seed=0).worker_init_fn is None


def _batches(loader, epochs=(0, 1)):
    out = []
    for epoch in epochs:
        out.extend(epoch_batches(loader, epoch))
    return out


@pytest.mark.slow
def test_two_workers_give_the_same_batches(demo_dir: Path):
    dataset = _train_dataset(demo_dir)
    serial = build_train_loader(dataset, 4, seed=2, workers=0)
    parallel = build_train_loader(dataset, 4, seed=2, workers=2)
    a, b = _batches(serial), _batches(parallel)
    assert len(a) == len(b) == 12
    for x, y in zip(a, b):
        torch.testing.assert_close(x["img"], y["img"])
        assert x["img_info"]["id"] == y["img_info"]["id"]
        for bx, by in zip(x["gt_bboxes"], y["gt_bboxes"]):
            np.testing.assert_array_equal(bx, by)
    assert a[0]["img_info"]["id"] != a[6]["img_info"]["id"]  # reshuffled next epoch


# ---- an image that fails to decode during training ----

def _with_bad_image(demo_dir: Path, tmp_path: Path, **data_overrides):
    """8 demo training records, the third pointing at a file that is not an image."""
    dataset = _train_dataset(demo_dir, **data_overrides)
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image\n")
    records = dataset.records[:8]
    records[2] = dataclasses.replace(records[2], path=str(bad))
    return DetectionDataset(records, dataset.data_config, train=True, seed=11), bad


def test_undecodable_image_in_a_worker_is_a_one_line_error_naming_it(demo_dir, tmp_path):
    dataset, bad = _with_bad_image(demo_dir, tmp_path)
    loader = build_train_loader(dataset, 4, seed=0, workers=1)
    with pytest.raises(DataError) as caught:
        _batches(loader, epochs=(0,))
    assert str(caught.value) == (
        f"{bad}: cannot decode image: not a known image format (it starts with b'not an i')")
    # the workers (which ignore SIGTERM) are gone: the process can exit
    assert multiprocessing.active_children() == []


def test_skip_bad_images_replaces_the_sample_and_warns_once(demo_dir, tmp_path, caplog):
    dataset, bad = _with_bad_image(demo_dir, tmp_path, skip_bad_images="true")
    with caplog.at_level(logging.WARNING, logger="nanodet_plus.data.dataset"):
        batches = _batches(build_train_loader(dataset, 4, seed=0, workers=0))
        replaced = dataset[(5, 2)]
    assert len(batches) == 4
    ids = [i for batch in batches for i in batch["img_info"]["id"]]
    assert dataset.records[2].image_id not in ids
    assert replaced["img_info"]["id"] == dataset.records[3].image_id  # the next one, every run
    warnings = [r.getMessage() for r in caplog.records if str(bad) in r.getMessage()]
    assert warnings == [f"{bad}: cannot decode image: not a known image format (it starts "
                        "with b'not an i'); skipped (data.skip_bad_images): the next image "
                        "takes its place"]


def test_image_of_another_size_than_its_record_is_an_error(demo_dir):
    dataset = _train_dataset(demo_dir)
    record = dataset.records[0]
    dataset.records[0] = dataclasses.replace(record, width=record.height + 1)
    with pytest.raises(DataError, match=(
            rf"^{re.escape(record.path)}: the image loads as \d+x\d+ \(width x height, EXIF "
            r"orientation applied\) but its annotation says \d+x\d+; run `nanodet data check`$")):
        dataset[(0, 0)]
