"""Weight loading: every checkpoint layout, EMA preference, mismatches and error messages."""

from __future__ import annotations

import logging
import urllib.error

import pytest
import torch
import torchvision

import nanodet_plus as nd
from nanodet_plus.errors import CheckpointError
from nanodet_plus.models import weights as weights_module
from nanodet_plus.models.weights import load_imagenet_backbone, load_weights


@pytest.fixture()
def model_m320():
    torch.manual_seed(0)
    return nd.build_model("nanodet-plus-m_320")


def _perturbed(state: dict[str, torch.Tensor], delta: float) -> dict[str, torch.Tensor]:
    return {k: v + delta if v.is_floating_point() else v.clone() for k, v in state.items()}


def _assert_state_equal(model, state):
    own = model.state_dict()
    for key, value in state.items():
        assert torch.equal(own[key], value), key


def test_official_weight_file(model_m320, reference_weights, reference_state):
    report = load_weights(model_m320, reference_weights)
    assert report.loaded == 887 and not report.used_ema and not report.kept_aux
    _assert_state_equal(model_m320, reference_state)


def test_lightning_checkpoint_prefers_ema(model_m320, reference_state, tmp_path, caplog):
    ema = _perturbed(reference_state, 0.5)
    ckpt = {
        "epoch": 3,
        "global_step": 100,
        "pytorch-lightning_version": "1.9.5",
        "state_dict": {
            **{f"model.{k}": v for k, v in reference_state.items()},
            **{f"avg_model.{k}": v for k, v in ema.items()},
        },
        "optimizer_states": [],
        "lr_schedulers": [],
    }
    path = tmp_path / "model_last.ckpt"
    torch.save(ckpt, path)
    with caplog.at_level(logging.INFO, logger="nanodet_plus.models.weights"):
        report = load_weights(model_m320, path)
    assert report.used_ema and report.layout == "lightning checkpoint"
    assert "EMA" in caplog.text
    _assert_state_equal(model_m320, ema)
    live = load_weights(model_m320, path, prefer_ema=False)
    assert not live.used_ema
    _assert_state_equal(model_m320, reference_state)


def test_module_prefix_and_bare_keys(model_m320, reference_state, tmp_path):
    path = tmp_path / "ddp.pth"
    torch.save({f"module.{k}": v for k, v in reference_state.items()}, path)
    assert load_weights(model_m320, path).loaded == 887
    _assert_state_equal(model_m320, reference_state)


def test_training_checkpoint_prefers_ema(model_m320, reference_state):
    ema = _perturbed(reference_state, -0.25)
    checkpoint = {"model": reference_state, "ema": ema, "config": {}, "epoch": 5}
    assert load_weights(model_m320, checkpoint).used_ema
    _assert_state_equal(model_m320, ema)
    assert not load_weights(model_m320, checkpoint, prefer_ema=False).used_ema
    _assert_state_equal(model_m320, reference_state)


def test_deploy_file_keeps_model_aux(model_m320, reference_state, tmp_path):
    aux_before = {k: v.clone() for k, v in model_m320.state_dict().items() if k.startswith("aux_")}
    deploy = {k: v for k, v in reference_state.items() if not k.startswith("aux_")}
    path = tmp_path / "deploy.pth"
    torch.save({"state_dict": deploy}, path)
    report = load_weights(model_m320, path)
    assert report.kept_aux and report.loaded == 645 and not report.missing
    _assert_state_equal(model_m320, deploy)
    _assert_state_equal(model_m320, aux_before)


def test_training_file_into_model_without_aux(reference_weights, reference_state):
    model = nd.build_model("nanodet-plus-m_320", aux=False)
    report = load_weights(model, reference_weights)
    assert report.dropped_aux and report.loaded == 645


def test_class_count_mismatch_strict_error(reference_weights):
    model = nd.build_model("nanodet-plus-m_320", num_classes=3)
    with pytest.raises(CheckpointError) as info:
        load_weights(model, reference_weights)
    message = str(info.value)
    assert str(reference_weights) in message and "shape conflicts" in message
    assert "head.gfl_cls.0.weight: file [112, 96, 1, 1] vs model [35, 96, 1, 1]" in message
    assert "strict=False" in message


def test_class_count_mismatch_non_strict_keeps_fresh_init(reference_weights, reference_state):
    torch.manual_seed(0)
    model = nd.build_model("nanodet-plus-m_320", num_classes=3)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_weights(model, reference_weights, strict=False)
    conflicting = {k for k, _, _ in report.shape_mismatch}
    assert conflicting == {
        *(f"head.gfl_cls.{i}.{p}" for i in range(4) for p in ("weight", "bias")),
        "aux_head.gfl_cls.weight",
        "aux_head.gfl_cls.bias",
    }
    assert report.reinitialised == [k for k, _, _ in report.shape_mismatch]
    own = model.state_dict()
    for key in conflicting:
        assert torch.equal(own[key], fresh[key]), key
    assert torch.equal(own["backbone.conv1.0.weight"], reference_state["backbone.conv1.0.weight"])
    assert "re-initialised" in report.summary()


def test_another_class_count_is_one_warning_line_not_one_per_tensor(reference_weights,
                                                                      caplog):
    model = nd.build_model("nanodet-plus-m_320", num_classes=3)
    with caplog.at_level(logging.INFO, logger="nanodet_plus.models.weights"):
        load_weights(model, reference_weights, strict=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        f"{reference_weights}: the class count differs, so 10 classifier output tensor(s) start "
        "fresh (head.gfl_cls.0.weight [112, 96, 1, 1] in the file, [35, 96, 1, 1] in the model; "
        "head.gfl_cls.0.bias [112] in the file, [35] in the model)"
    ]


def test_weights_of_another_architecture_are_refused_even_non_strict(tmp_path, caplog):
    """1.5x weights for a 1.0x model would leave 82 % of it fresh: an error naming both sizes,
    not 730 warning lines, and the model is left untouched."""
    big = tmp_path / "m15.pth"
    torch.save({"state_dict": nd.build_model("nanodet-plus-m-1.5x_320").state_dict()}, big)
    torch.manual_seed(0)
    model = nd.build_model("nanodet-plus-m_320")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with caplog.at_level(logging.INFO, logger="nanodet_plus.models.weights"), \
            pytest.raises(CheckpointError) as info:
        load_weights(model, big, strict=False)
    assert str(info.value) == (
        f"{big} holds a ShuffleNetV2 1.5x, Ghost-PAN 128 model but the config asks for "
        "ShuffleNetV2 1.0x, Ghost-PAN 96: 720 of 877 tensors would start from scratch; use a "
        "config of the file's architecture, or weights of this one")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    _assert_state_equal(model, before)


def test_missing_and_unexpected_keys_strict(model_m320, reference_state):
    state = dict(reference_state)
    del state["head.gfl_cls.3.bias"]
    state["head.extra.weight"] = torch.zeros(1)
    expected = r"1 missing keys \(head.gfl_cls.3.bias\).*1 unexpected"
    with pytest.raises(CheckpointError, match=expected):
        load_weights(model_m320, {"state_dict": state})
    report = load_weights(model_m320, {"state_dict": state}, strict=False)
    assert report.missing == ["head.gfl_cls.3.bias"] and report.unexpected == ["head.extra.weight"]


def test_bad_files_give_one_line_errors(model_m320, tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match=r"weights file not found: .*nope.pth"):
        load_weights(model_m320, missing)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError,
                       match=r"junk.pth: not a readable PyTorch checkpoint") as info:
        load_weights(model_m320, junk)
    assert "\n" not in str(info.value)
    other = tmp_path / "resnet.pth"
    torch.save({"layer1.weight": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match=r"resnet.pth: not a NanoDet-Plus state dict"):
        load_weights(model_m320, other)
    listed = tmp_path / "list.pth"
    torch.save([1, 2], listed)
    with pytest.raises(CheckpointError, match=r"list.pth: not a checkpoint"):
        load_weights(model_m320, listed)


@pytest.fixture(scope="module")
def torchvision_shufflenet_file(tmp_path_factory):
    torch.manual_seed(3)
    state = torchvision.models.shufflenet_v2_x1_0(weights=None).state_dict()
    path = tmp_path_factory.mktemp("imagenet") / "shufflenetv2_x1.pth"
    torch.save(state, path)
    return path, state


def test_imagenet_backbone_from_local_file(model_m320, torchvision_shufflenet_file):
    path, state = torchvision_shufflenet_file
    count = load_imagenet_backbone(model_m320, path)
    backbone_keys = [k for k in state if not k.startswith(("conv5.", "fc."))]
    assert count == len(backbone_keys) == 330
    own = model_m320.backbone.state_dict()
    for key in backbone_keys:
        assert torch.equal(own[key], state[key]), key


def test_build_model_with_pretrained_path(torchvision_shufflenet_file):
    path, state = torchvision_shufflenet_file
    model = nd.build_model("nanodet-plus-m_320", pretrained=str(path))
    loaded = model.backbone.stage3[0].branch1[0].weight
    assert torch.equal(loaded, state["stage3.0.branch1.0.weight"])


def test_imagenet_wrong_size_is_clear_error(torchvision_shufflenet_file):
    path, _ = torchvision_shufflenet_file
    model = nd.build_model("nanodet-plus-m-1.5x_320")
    with pytest.raises(CheckpointError, match=r"not ShuffleNetV2 1.5x weights"):
        load_imagenet_backbone(model, path)


def test_imagenet_offline_message(model_m320, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(CheckpointError) as info:
        load_imagenet_backbone(model_m320, "imagenet")
    message = str(info.value)
    expected = tmp_path / "hub" / "checkpoints" / "shufflenetv2_x1-5666bf0f80.pth"
    assert str(expected) in message and "shufflenetv2_x1-5666bf0f80.pth" in message
    assert weights_module.imagenet_cache_path("1.0x") == expected


def test_imagenet_from_hub_cache(model_m320, monkeypatch, tmp_path, torchvision_shufflenet_file):
    path, state = torchvision_shufflenet_file
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    cached = weights_module.imagenet_cache_path("1.0x")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(path.read_bytes())
    assert load_imagenet_backbone(model_m320, "imagenet") == 330
    assert torch.equal(model_m320.backbone.conv1[0].weight, state["conv1.0.weight"])


def test_infer_model_config_from_shapes():
    from nanodet_plus.models.weights import infer_model_config

    model = nd.build_model("nanodet-plus-m-1.5x_320", num_classes=5, aux=False)
    config = infer_model_config(model.state_dict())
    assert config.num_classes == 5 and config.aux_head is None
    assert config.backbone.model_size == "1.5x" and config.neck.out_channels == 128
    rebuilt = nd.build_model(config)
    assert load_weights(rebuilt, model.state_dict()).loaded == 645
    with pytest.raises(CheckpointError, match="not a NanoDet-Plus state dict"):
        infer_model_config({"backbone.x": torch.zeros(1)}, "x.pth")
