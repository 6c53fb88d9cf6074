"""Official NanoDet-Plus YAML configs translate into our schema; ignored keys are named."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from nanodet_plus.cli.main import main
from nanodet_plus.config.loader import ConfigError, load_config

OFFICIAL_STYLE = """
save_dir: work/plus_320
model:
  weight_averager: {name: ExpMovingAverager, decay: 0.999}
  arch:
    name: NanoDetPlus
    detach_epoch: 5
    backbone: {name: ShuffleNetV2, model_size: 1.5x, out_stages: [2, 3, 4],
               activation: LeakyReLU, pretrain: false}
    fpn: {name: GhostPAN, in_channels: [176, 352, 704], out_channels: 128, kernel_size: 5,
          num_extra_level: 1, use_depthwise: true, activation: LeakyReLU}
    head:
      name: NanoDetPlusHead
      num_classes: 3
      input_channel: 128
      feat_channels: 128
      stacked_convs: 2
      kernel_size: 5
      strides: [8, 16, 32, 64]
      activation: LeakyReLU
      reg_max: 7
      norm_cfg: {type: BN}
      loss:
        loss_qfl: {name: QualityFocalLoss, use_sigmoid: true, beta: 2.0, loss_weight: 1.5}
        loss_dfl: {name: DistributionFocalLoss, loss_weight: 0.5}
        loss_bbox: {name: GIoULoss, loss_weight: 3.0}
    aux_head: {name: SimpleConvHead, num_classes: 3, input_channel: 256, feat_channels: 256,
               stacked_convs: 4, strides: [8, 16, 32, 64], activation: LeakyReLU, reg_max: 7}
class_names: &names [cat, dog, bird]
data:
  train:
    name: XMLDataset
    class_names: *names
    img_path: images
    ann_path: xml
    input_size: [320, 256]
    keep_ratio: true
    multi_scale: [0.8, 1.2]
    pipeline:
      perspective: 0.0
      scale: [0.5, 1.5]
      stretch: [[1, 1], [1, 1]]
      rotation: 0
      shear: 0
      translate: 0.1
      flip: 0.5
      brightness: 0.3
      contrast: [0.8, 1.2]
      saturation: [0.8, 1.2]
      normalize: [[1, 2, 3], [4, 5, 6]]
  val:
    name: XMLDataset
    class_names: *names
    img_path: val_images
    ann_path: val_xml
    input_size: [320, 256]
    keep_ratio: true
    pipeline:
      normalize: [[1, 2, 3], [4, 5, 6]]
device: {gpu_ids: [0, 1], workers_per_gpu: 3, batchsize_per_gpu: 16, precision: 16}
schedule:
  optimizer: {name: AdamW, lr: 0.002, weight_decay: 0.01, no_norm_decay: true}
  warmup: {name: linear, steps: 300, ratio: 0.001}
  total_epochs: 50
  lr_schedule: {name: CosineAnnealingLR, T_max: 50, eta_min: 0.0001}
  val_intervals: 5
grad_clip: 20
evaluator: {name: CocoDetectionEvaluator, save_key: mAP}
log: {interval: 10}
"""


def _write(tmp_path: Path, text: str = OFFICIAL_STYLE) -> Path:
    path = tmp_path / "official.yml"
    path.write_text(text)
    return path


def test_official_config_translates_every_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(logging.getLogger("nanodet_plus"), "propagate", True)
    with caplog.at_level(logging.WARNING, logger="nanodet_plus"):
        config = load_config(_write(tmp_path))
    model = config.model
    assert (model.num_classes, model.detach_epoch) == (3, 5)
    assert model.backbone.model_size == "1.5x" and model.backbone.pretrained is None
    assert model.neck.in_channels == (176, 352, 704) and model.neck.out_channels == 128
    assert model.head.input_channel == 128 and model.head.norm == "BN"
    assert model.aux_head is not None and model.aux_head.input_channel == 256
    assert (model.loss.qfl_weight, model.loss.dfl_weight, model.loss.giou_weight) == (1.5, 0.5, 3.0)
    data = config.data
    assert data.input_size == (320, 256) and data.keep_ratio is True
    assert data.mean == (1.0, 2.0, 3.0) and data.std == (4.0, 5.0, 6.0)
    assert data.train is not None and data.train.format == "voc"
    assert data.train.img_path == str(tmp_path / "images")
    assert data.val is not None and data.val.ann_path == str(tmp_path / "val_xml")
    assert data.augment.scale == (0.5, 1.5) and data.augment.brightness == 0.3
    assert data.workers == 3
    train = config.train
    assert (train.batch_size, train.precision, train.epochs, train.val_interval) == (
        16, "fp16", 50, 5)
    assert (train.optimizer.lr, train.optimizer.weight_decay) == (0.002, 0.01)
    assert train.optimizer.no_norm_decay is True
    assert (train.warmup_steps, train.warmup_ratio, train.eta_min) == (300, 0.001, 0.0001)
    assert (train.grad_clip, train.ema_decay) == (20.0, 0.999)
    assert config.class_names == ["cat", "dog", "bird"]
    assert (config.save_dir, config.name) == ("work", "plus_320")
    warning = " ".join(r.getMessage() for r in caplog.records)
    for ignored in ("device.gpu_ids", "log.interval", "data.train.multi_scale"):
        assert ignored in warning


def test_official_default_backbone_pretrain_means_imagenet(tmp_path: Path) -> None:
    text = OFFICIAL_STYLE.replace("activation: LeakyReLU, pretrain: false", "activation: LeakyReLU")
    assert load_config(_write(tmp_path, text)).model.backbone.pretrained == "imagenet"


def test_unsupported_official_values_are_errors(tmp_path: Path) -> None:
    text = OFFICIAL_STYLE.replace("name: AdamW", "name: SGD")
    with pytest.raises(ConfigError, match=r"schedule\.optimizer\.name 'SGD'"):
        load_config(_write(tmp_path, text))
    text = OFFICIAL_STYLE.replace("aux_head: {name: SimpleConvHead, num_classes: 3",
                                  "aux_head: {name: SimpleConvHead, num_classes: 4")
    with pytest.raises(ConfigError, match=r"aux_head\.num_classes 4 differs"):
        load_config(_write(tmp_path, text))


def test_config_convert_cli_writes_a_loadable_config(tmp_path: Path) -> None:
    out = tmp_path / "ours.yaml"
    assert main(["config", "convert", str(_write(tmp_path)), str(out)]) == 0
    written = yaml.safe_load(out.read_text())
    assert written["train"]["batch_size"] == 16 and "schedule" not in written
    assert load_config(out).model.neck.out_channels == 128


def test_config_show_prints_the_resolved_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "nanodet-plus-m_320", "train.epochs=5"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["train"]["epochs"] == 5 and shown["data"]["input_size"] == [320, 320]
