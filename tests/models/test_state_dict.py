"""State-dict layout and parameter counts against the official model (reference-spec §7)."""

from __future__ import annotations

import pytest
import torch

import nanodet_plus as nd
from nanodet_plus.models.detector import NanoDetPlus


def _substitute_15x(key: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The -m-1.5x shape of a -m key (reference-spec §7.3)."""
    widths = {116: 176, 232: 352, 464: 704, 58: 88}
    if key.startswith("backbone."):
        return tuple(widths.get(d, d) for d in shape)
    if key.startswith("aux_head."):
        return tuple(256 if d == 192 else d for d in shape)
    if key.startswith(("fpn.", "aux_fpn.")):
        mapped = {96: 128, 48: 64, 192: 256, 116: 176, 232: 352, 464: 704}
        return tuple(mapped.get(d, d) for d in shape)
    if key.startswith("head."):
        return tuple(128 if d == 96 else d for d in shape)
    return shape


def test_keys_shapes_and_order_equal_official(reference_listing):
    model = nd.build_model("nanodet-plus-m_416", num_classes=80)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert len(ours) == 887
    assert ours == reference_listing


def test_reference_weight_file_matches_layout(reference_state, reference_listing):
    assert [(k, tuple(v.shape)) for k, v in reference_state.items()] == reference_listing


def test_15x_shapes_follow_substitutions(reference_listing):
    model = nd.build_model("nanodet-plus-m-1.5x_320", num_classes=80)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    expected = [(k, _substitute_15x(k, s)) for k, s in reference_listing]
    assert ours == expected


@pytest.mark.parametrize(
    ("preset", "total", "inference"),
    [
        ("nanodet-plus-m_416", 4_330_904, 1_197_924),
        ("nanodet-plus-m-1.5x_416", 7_962_196, 2_477_792),
    ],
)
def test_parameter_counts(preset, total, inference):
    model = nd.build_model(preset, num_classes=80)
    assert sum(p.numel() for p in model.parameters()) == total
    deploy = model.inference_model()
    assert sum(p.numel() for p in deploy.parameters()) == inference


def test_without_aux_has_645_keys_in_order(reference_listing):
    model = nd.build_model("nanodet-plus-m_416", num_classes=80, aux=False)
    assert model.aux_fpn is None and model.aux_head is None
    keys = list(model.state_dict())
    assert keys == [k for k, _ in reference_listing[:645]]
    assert list(model.deploy_state_dict()) == keys


def test_deploy_state_dict_drops_aux_only():
    model = nd.build_model("nanodet-plus-m_320")
    deploy = model.deploy_state_dict()
    assert len(deploy) == 645
    assert not any(k.startswith(("aux_fpn.", "aux_head.")) for k in deploy)
    assert list(model.inference_model().state_dict()) == list(deploy)


def test_other_class_count_changes_only_class_layers():
    model = nd.build_model("nanodet-plus-m_320", num_classes=3)
    state = model.state_dict()
    assert state["head.gfl_cls.0.weight"].shape == (3 + 32, 96, 1, 1)
    assert state["aux_head.gfl_cls.weight"].shape == (3, 192, 3, 3)
    assert model.config.num_classes == 3 and model.num_classes == 3


def test_build_from_model_config_and_yaml(tmp_path):
    config = nd.load_config("nanodet-plus-m_320").model
    assert isinstance(nd.build_model(config), NanoDetPlus)
    path = tmp_path / "small.yaml"
    path.write_text("preset: nanodet-plus-m_320\nmodel:\n  num_classes: 5\n")
    assert nd.build_model(path).num_classes == 5
    assert nd.build_model(path, num_classes=7).num_classes == 7


def test_mismatched_neck_channels_error():
    with pytest.raises(ValueError, match="do not match the backbone"):
        NanoDetPlus(
            nd.load_config("nanodet-plus-m_320", overrides=["model.backbone.model_size=1.5x"]).model
        )


def test_official_initialisation():
    torch.manual_seed(0)
    model = nd.build_model("nanodet-plus-m_416")
    state = model.state_dict()
    for level in range(4):
        assert torch.all(state[f"head.gfl_cls.{level}.bias"] == -4.595)
        assert state[f"head.gfl_cls.{level}.weight"].std().item() == pytest.approx(0.01, rel=0.1)
    assert torch.all(state["aux_head.gfl_cls.bias"] == -4.595)
    assert torch.all(state["aux_head.gfl_reg.bias"] == 0)
    assert torch.equal(state["head.distribution_project.project"], torch.arange(8.0))
    assert torch.all(state["backbone.conv1.1.bias"] == 1e-4)
    pointwise = state["backbone.stage3.1.branch2.0.weight"]  # [116,116,1,1]
    assert pointwise.std().item() == pytest.approx(1 / 116, rel=0.05)
    reduce = state["fpn.reduce_layers.2.conv.weight"]  # kaiming fan_out: sqrt(2 / 96)
    assert reduce.std().item() == pytest.approx((2 / 96) ** 0.5, rel=0.05)
    assert all(float(state[f"aux_head.scales.{i}.scale"]) == 1.0 for i in range(4))
    for key, value in state.items():
        if key.startswith("fpn."):
            assert torch.equal(value, state["aux_" + key]), key


def test_criterion_is_not_part_of_the_state_dict():
    model = nd.build_model("nanodet-plus-m_320")
    assert model.criterion is model.criterion
    assert len(model.state_dict()) == 887
    assert "_criterion" not in dict(model.named_modules())
