"""Backbone, neck and head behaviour pinned by the official tests (reference-spec §17.2)."""

from __future__ import annotations

import pytest
import torch

from nanodet_plus.layers import ConvModule, DepthwiseConvModule, GhostBlocks, GhostModule
from nanodet_plus.models.backbones.shufflenetv2 import ShuffleNetV2, channel_shuffle
from nanodet_plus.models.heads.nanodet_plus_head import NanoDetPlusHead
from nanodet_plus.models.heads.simple_conv_head import SimpleConvHead
from nanodet_plus.models.necks.ghost_pan import GhostPAN


@pytest.mark.parametrize(
    ("size", "last_conv", "expected"),
    [
        ("0.5x", False, [(48, 8, 8), (96, 4, 4), (192, 2, 2)]),
        ("1.0x", True, [(116, 8, 8), (232, 4, 4), (1024, 2, 2)]),
        ("1.5x", False, [(176, 8, 8), (352, 4, 4), (704, 2, 2)]),
        ("2.0x", False, [(244, 8, 8), (488, 4, 4), (976, 2, 2)]),
    ],
)
def test_shufflenet_sizes_on_64x64(size, last_conv, expected):
    backbone = ShuffleNetV2(size, (2, 3, 4), with_last_conv=last_conv, activation="LeakyReLU")
    with torch.no_grad():
        outputs = backbone(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape[1:]) for o in outputs] == expected
    assert [c for c, _, _ in expected] == list(backbone.out_channels)
    if last_conv:
        assert "stage4.conv5.0.weight" in backbone.state_dict()


def test_shufflenet_bad_arguments():
    with pytest.raises(ValueError, match=r"3.0x"):
        ShuffleNetV2("3.0x")
    with pytest.raises(ValueError, match=r"out_stages"):
        ShuffleNetV2("1.0x", (1, 2))


def test_shufflenet_odd_input_sizes_round_up():
    outputs = ShuffleNetV2("0.5x")(torch.rand(1, 3, 100, 70))
    assert [tuple(o.shape[2:]) for o in outputs] == [(13, 9), (7, 5), (4, 3)]


def test_channel_shuffle_interleaves_halves():
    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_ghost_pan_five_outputs_and_argument_checks():
    pan = GhostPAN([2, 4, 8, 16], 8, num_extra_level=1)
    inputs = [torch.rand(1, c, 64 // 2**i, 64 // 2**i) for i, c in enumerate([2, 4, 8, 16])]
    outputs = pan(inputs)
    assert [tuple(o.shape[1:]) for o in outputs] == [(8, 64 // 2**i, 64 // 2**i) for i in range(5)]
    variant = GhostPAN([2, 4, 8, 16], 8, use_depthwise=True, expand=2, use_res=True,
                       num_extra_level=1)
    assert len(variant(inputs)) == 5
    with pytest.raises(ValueError, match=r"num_extra_level"):
        GhostPAN([2, 4], 8, num_extra_level=-1)
    with pytest.raises(ValueError, match=r"num_blocks"):
        GhostPAN([2, 4], 8, num_blocks=0)


def test_ghost_pan_extra_level_uses_reduced_top_input():
    torch.manual_seed(0)
    pan = GhostPAN([8, 16, 32], 16, use_depthwise=True, num_extra_level=1).eval()
    inputs = [torch.rand(1, c, 32 // 2**i, 32 // 2**i) for i, c in enumerate([8, 16, 32])]
    with torch.no_grad():
        outputs = pan(inputs)
        reduced_top = pan.reduce_layers[2](inputs[2])
        extra = pan.extra_lvl_in_conv[0](reduced_top) + pan.extra_lvl_out_conv[0](outputs[2])
    torch.testing.assert_close(outputs[3], extra)


def test_ghost_module_and_blocks_shapes():
    assert GhostModule(8, 6)(torch.rand(1, 8, 5, 5)).shape == (1, 6, 5, 5)
    assert GhostModule(8, 5)(torch.rand(1, 8, 5, 5)).shape == (1, 5, 5, 5)
    blocks = GhostBlocks(16, 8, num_blocks=2)
    assert blocks(torch.rand(2, 16, 6, 6)).shape == (2, 8, 6, 6)


def test_conv_modules_key_names_and_activation_slope():
    conv = ConvModule(4, 8, 3, padding=1, norm="BN", activation="LeakyReLU")
    assert list(conv.state_dict())[:2] == ["conv.weight", "bn.weight"]
    assert conv.act.negative_slope == 0.1
    gn = ConvModule(32, 32, 3, padding=1, norm="GN", activation="LeakyReLU")
    assert [k for k in gn.state_dict()] == ["conv.weight", "gn.weight", "gn.bias"]
    assert "conv.bias" in ConvModule(4, 8, 1, norm=None).state_dict()
    dw = DepthwiseConvModule(4, 8, 5, padding=2, activation="LeakyReLU")
    assert [k.split(".")[0] for k in dw.state_dict()][:3] == ["depthwise", "pointwise", "dwnorm"]


@pytest.mark.parametrize("reg_max", [8, 5])
def test_nanodet_plus_head_output_shape(reg_max):
    head = NanoDetPlusHead(80, 96, 96, 2, 5, (8, 16, 32), reg_max=reg_max)
    feats = [torch.rand(1, 96, 320 // s, 320 // s) for s in (8, 16, 32)]
    out = head(feats)
    assert out.shape == (1, sum((320 // s) ** 2 for s in (8, 16, 32)), 80 + 4 * (reg_max + 1))
    assert next(iter(head.state_dict())) == "distribution_project.project"


def test_head_point_order_is_level_major_row_major():
    head = NanoDetPlusHead(2, 4, 4, 0, 5, (8, 16), reg_max=1).eval()
    torch.nn.init.zeros_(head.gfl_cls[0].bias)
    feats = [torch.zeros(1, 4, 2, 3), torch.zeros(1, 4, 1, 2)]
    feats[0][0, 0, 1, 2] = 1.0
    with torch.no_grad():
        head.gfl_cls[0].weight.zero_()
        head.gfl_cls[0].weight[0, 0] = 1.0
        out = head(feats)
    assert out.shape == (1, 8, 10)
    assert out[0, :, 0].argmax().item() == 1 * 3 + 2


def test_simple_conv_head_output_shape():
    head = SimpleConvHead(80, 64, 64, 2, (8, 16, 32), reg_max=8)
    feats = [torch.rand(1, 64, 320 // s, 320 // s) for s in (8, 16, 32)]
    assert head(feats).shape == (1, 2100, 80 + 36)
